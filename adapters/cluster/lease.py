"""Who owns the routing: a lease in Redis with a fencing token.

Several daemons share one configuration and one Redis journal (``[journal]
store = "redis"``, ``[cluster] enabled = true``). One of them, the owner,
holds ``<key>:lease`` (``SET NX PX``, renewed every third of ``lease_ms``);
the others wait as standbys and take over when it lapses: they replay the
stream (snapshot and tail) and serve. Every acquisition increments
``<key>:fence``; the owner's journal appends run in a Lua script that
refuses them (``FENCED``) unless the fence is still its own, so a paused or
partitioned owner that lost its lease cannot add a record after its
successor began: it steps down (the process exits, to come back as a
standby). Redis's own availability is Redis's (Sentinel: docs/cluster.md).

Sans-I/O logic lives in the scripts; this module runs them with redis-py's
synchronous client (a loopback round trip, like the journal's own writes).
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from typing import cast

import redis

log = logging.getLogger("acd.cluster")

# KEYS: lease, fence. ARGV: node, ttl ms. The fence token, or -1 (another node owns it).
_ACQUIRE = """
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('GET', KEYS[2]) or '0')
end
if owner then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('INCR', KEYS[2])
"""
# KEYS: lease, fence. ARGV: node, ttl ms, token. 1: still ours (extended), 0: lost.
# A lease that lapsed while nobody took it (Redis was away longer than the
# lease) is taken back: the fence unchanged proves no other owner began.
_RENEW = """
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return 0 end
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if owner then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
# KEYS: stream, fence. ARGV: token, then framed records. The id of the last one added.
APPEND = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('FENCED the journal belongs to a newer owner')
end
local last = ''
for i = 2, #ARGV do
  last = redis.call('XADD', KEYS[1], '*', 'r', ARGV[i])
end
return last
"""


@dataclass(frozen=True, slots=True)
class Owner:
    """Where the owner serves, as it advertised itself once listening."""

    node: str
    http: str  # base URL: "http://10.0.0.1:8080"
    agi: str | None  # "host:port" of its FastAGI server, None when off


class Lease:
    def __init__(self, url: str, key: str, node: str, ttl_ms: int) -> None:
        # In a thread, never the loop; a Redis that does not answer is an
        # error within a third of the lease (the owner keeps routing).
        wait = ttl_ms / 3000
        self.r = redis.Redis.from_url(url, socket_connect_timeout=wait, socket_timeout=wait)
        self.lease_key = f"{key}:lease"
        self.fence_key = f"{key}:fence"
        self.owner_key = f"{key}:owner"
        self.secret_key = f"{key}:peer-secret"
        self.node = node
        self.ttl_ms = ttl_ms
        self.token = 0  # the fence while we own it

    def try_acquire(self) -> int:
        """The fence token if we own the lease now, else 0."""
        got = int(cast(int, self.r.eval(_ACQUIRE, 2, self.lease_key, self.fence_key, self.node, self.ttl_ms)))
        self.token = max(got, 0)
        return self.token

    def renew(self) -> bool:
        """Extend our lease; False when it is no longer ours (lapsed, taken)."""
        args = (self.node, self.ttl_ms, self.token)
        return bool(self.r.eval(_RENEW, 2, self.lease_key, self.fence_key, *args))

    def owner(self) -> str | None:
        got = self.r.get(self.lease_key)
        return got.decode() if isinstance(got, bytes) else None

    def advertise(self, http: str, agi: str | None) -> None:
        """Say where the owner serves: the other nodes forward there."""
        doc = {"node": self.node, "http": http, "agi": agi, "fence": self.token}
        self.r.set(self.owner_key, json.dumps(doc))

    def whereabouts(self) -> Owner | None:
        """The owner's address, if the node that advertised it holds the
        lease under the fence it advertised with (else: none yet, stale)."""
        holder, fence, doc = self.r.mget(self.lease_key, self.fence_key, self.owner_key)
        if not isinstance(doc, bytes) or not isinstance(holder, bytes) or not isinstance(fence, bytes):
            return None
        d = json.loads(doc)
        if d["node"] != holder.decode() or str(d["fence"]) != fence.decode():
            return None
        return Owner(d["node"], d["http"], d["agi"])

    def peer_secret(self) -> str:
        """The secret by which nodes trust one another's forwarded requests
        (the client's address they carry): made once, kept in Redis, which
        every node already trusts with the whole journal."""
        self.r.set(self.secret_key, secrets.token_urlsafe(32), nx=True)
        got = self.r.get(self.secret_key)
        assert isinstance(got, bytes)
        return got.decode()

    def release(self) -> None:
        """A clean stop hands over at once (no waiting for the lease to lapse)."""
        if self.renew():
            self.r.delete(self.lease_key)

    def close(self) -> None:
        self.r.close()
