"""Authentication that an anonymous client cannot turn into a CPU lever.

* Token hashes (``hmac_sha256$``) are checked on the loop in microseconds.
* Password hashes (PBKDF2) run in a small dedicated thread pool; at most
  ``backlog`` checks wait for it, and one more is refused at once with
  ``busy`` (503) instead of queueing without bound. hashlib releases the
  GIL while it hashes, so routing keeps its core meanwhile.
* Every failure spends a token of the client address's bucket; an address
  whose bucket is empty is refused before any work (``rate-limited``: 429
  with ``Retry-After`` on REST, close code 4029 on a WebSocket), and the
  refusal is held back a second (a tarpit, bounded): a flood of wrong
  tokens costs the attacker's connections, not the event loop. Failures
  are logged with the address and the kind of credential, never the secret,
  and counted per kind for ``/metrics``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from acd.adapters.security.limits import RateLimit
from acd.adapters.security.passwords import is_token_hash, verify_password, verify_token
from acd.errors import AcdError, InvalidRequest

log = logging.getLogger("acd.auth")

RATE_LIMITED_CLOSE = 4029  # WebSocket close code: too many failed attempts from this address
TARPIT_S = 1.0  # how long a refusal of a limited address is held before it is answered
MAX_TARPIT = 1000  # refusals held at once


class RateLimited(InvalidRequest):
    code = "rate-limited"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Busy(AcdError):
    code = "busy"


class Verifier:
    """Secrets against stored hashes: fast digests on the loop, PBKDF2 in a bounded pool."""

    def __init__(self, workers: int = 2, backlog: int = 32) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="acd-kdf")
        self.backlog = backlog
        self._waiting = 0

    async def verify(self, secret: str, stored: str) -> bool:
        if is_token_hash(stored):
            return verify_token(secret, stored)
        if self._waiting >= self.backlog:
            raise Busy("too many password checks in progress: try again shortly")
        self._waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._pool, verify_password, secret, stored
            )
        finally:
            self._waiting -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class AuthGuard:
    """Failed-attempt limits per client address, shared by every credential kind."""

    def __init__(
        self,
        failures_per_minute: float,
        burst: int,
        verifier: Verifier,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = RateLimit(failures_per_minute, burst)
        self.verifier = verifier
        self.clock = clock
        self.failures: Counter[str] = Counter()  # per credential kind
        self.refused = 0  # attempts refused by the limit, before any check
        self._held = 0  # refusals being held back now (the tarpit)

    def check(self, address: str, kind: str) -> None:
        """Raise RateLimited if this address failed too often lately. O(1)."""
        wait = self.limit.retry_after(address, self.clock())
        if wait > 0:
            self.refused += 1
            raise RateLimited(
                f"too many failed authentications from this address: retry in {math.ceil(wait)} s", wait
            )

    async def tarpit(self) -> None:
        """Hold a refusal back for TARPIT_S before it is answered: a client
        retrying as fast as it can then costs one request per second per
        connection, not a core. At most MAX_TARPIT are held at once (each is
        a sleeping task); beyond, refusals are answered at once."""
        if self._held >= MAX_TARPIT:
            return
        self._held += 1
        try:
            await asyncio.sleep(TARPIT_S)
        finally:
            self._held -= 1

    def failed(self, address: str, kind: str) -> None:
        self.limit.take(address, self.clock())
        self.failures[kind] += 1
        log.warning("authentication failed: %s from %s", kind, address)

    async def verify(self, address: str, kind: str, secret: str, stored: str | None) -> bool:
        """check, then verify (``stored`` None: a miss at the same cost), then count a failure."""
        self.check(address, kind)
        ok = await self.verifier.verify(secret, stored or _DUMMY_HASH) and stored is not None
        if not ok:
            self.failed(address, kind)
        return ok


# Verified against when the account is unknown, so a miss costs as much as a hit.
_DUMMY_HASH = "pbkdf2_sha256$200000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def client_address(remote: str | None) -> str:
    return remote or "unknown"
