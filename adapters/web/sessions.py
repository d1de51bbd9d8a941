"""Browser logins: a session cookie for agents and supervisors.

``POST /v1/session`` with ``{"role": "agent" | "supervisor", "user",
"password"}`` checks the password (PBKDF2 in the guard's bounded pool,
failures limited per address, as everywhere) and sets the cookie
``acd_session``: random, HttpOnly (page scripts never see it),
SameSite=Strict (no other site's page sends it), Secure when the server
speaks TLS, Path=/. The answer carries the session's CSRF token, which a
page sends back as ``X-CSRF-Token`` on every request that changes
something (a cookie alone never authorises a change). ``GET /v1/session``
says who is logged in (and the token again, after a reload of the page);
``DELETE /v1/session`` logs out.

The sockets take the cookie at the upgrade (their ``Origin`` is checked
too): nothing long-lived ever goes in a URL. Sessions are kept in memory by
the SHA-256 of their id, at most ``MAX_SESSIONS`` (the oldest goes), each
until ``[desktop] session_hours`` pass without a request. With a journal
they survive a restart (``web`` records: the digest, never the id), so the
pages reconnect by themselves after an upgrade.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from acd.adapters.daemon.config_file import SupervisorAccount
from acd.adapters.security.auth import AuthGuard, client_address
from acd.adapters.web import frames
from acd.adapters.web.bodies import json_body
from acd.adapters.web.frames import Unauthorized
from acd.errors import InvalidRequest
from acd.journal import Journal

COOKIE = "acd_session"
CSRF_HEADER = "X-CSRF-Token"
MAX_SESSIONS = 10_000
ROLES = ("agent", "supervisor")


class CsrfRefused(InvalidRequest):
    code = "csrf-refused"


class Forbidden(InvalidRequest):
    code = "forbidden"


@dataclass(slots=True)
class Session:
    user: str
    role: str  # "agent", "supervisor" or "admin"
    csrf: str
    queues: tuple[str, ...] = ()  # a supervisor's queues; () = all
    last_used: float = field(default=0.0)


SESSION: web.RequestKey[Session] = web.RequestKey(
    "session", Session
)  # a supervisor's, set by the auth middleware


def scope(request: web.Request) -> frozenset[str] | None:
    """The queues this request may see and act on: None for all (the admin
    token, or a supervisor not limited to some queues)."""
    s = request.get(SESSION)
    return frozenset(s.queues) if s is not None and s.queues else None


def check_queue(request: web.Request, queue: str) -> None:
    allowed = scope(request)
    if allowed is not None and queue not in allowed:
        raise Forbidden(f"queue {queue!r} is not one of yours")


def agent_in_scope(allowed: frozenset[str] | None, agent_queues: Iterable[str]) -> bool:
    return allowed is None or any(q in allowed for q in agent_queues)


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class Sessions:
    def __init__(
        self,
        guard: AuthGuard,
        agents: Callable[[], Mapping[str, str]],
        supervisors: Callable[[], Mapping[str, SupervisorAccount]],
        lifetime_s: Callable[[], float],
        tls: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.guard = guard
        self.agents = agents  # agent id -> password hash (the live config's)
        self.supervisors = supervisors
        self.lifetime_s = lifetime_s
        self.tls = tls
        self.clock = clock
        self._by_digest: OrderedDict[str, Session] = OrderedDict()  # least recently used first
        self.journal: Journal | None = None  # logins and logouts go on record

    def __len__(self) -> int:
        return len(self._by_digest)

    def of(self, request: web.Request) -> Session | None:
        """The live session whose cookie ``request`` carries (None: none).
        O(1)."""
        sid = request.cookies.get(COOKIE)
        if not sid or len(sid) > 100:
            return None
        d = _digest(sid)
        s = self._by_digest.get(d)
        if s is None:
            return None
        now = self.clock()
        if now - s.last_used > self.lifetime_s() or not self._still_allowed(s):
            del self._by_digest[d]
            return None
        s.last_used = now
        self._by_digest.move_to_end(d)
        return s

    def require_csrf(self, request: web.Request, s: Session) -> None:
        """A change asked with the cookie must carry the session's CSRF token."""
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), s.csrf.encode()):
            raise CsrfRefused(
                f"{CSRF_HEADER} missing or wrong: a change needs the token GET /v1/session gives"
            )

    # ----------------------------------------------------------- endpoints

    async def login(self, request: web.Request) -> web.Response:
        body = await json_body(request, required=True)
        role = frames.text(body, "role", 20)
        user = frames.text(body, "user", 100)
        password = frames.text(body, "password", 1000)
        if role not in ROLES:
            raise InvalidRequest(f"role must be one of {', '.join(ROLES)}")
        address = client_address(request.remote)
        queues: tuple[str, ...] = ()
        if role == "agent":
            stored = self.agents().get(user)
        else:
            account = self.supervisors().get(user)
            stored = account.password_hash if account is not None else None
            if account is not None:
                role, queues = account.role, account.queues
        if not await self.guard.verify(address, f"{role}-login", password, stored):
            raise Unauthorized("unknown user or wrong password")
        sid = secrets.token_urlsafe(32)
        s = Session(user, role, secrets.token_urlsafe(24), queues, self.clock())
        self._by_digest[_digest(sid)] = s
        if self.journal is not None:
            self.journal.append(
                {"k": "web", "d": _digest(sid), "u": user, "r": role, "c": s.csrf, "q": list(queues)}
            )
        self._bound()
        r = web.json_response(self._describe(s))
        r.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", secure=self.tls, path="/")
        return r

    async def current(self, request: web.Request) -> web.Response:
        s = self.of(request)
        if s is None:
            raise Unauthorized("not logged in")
        return web.json_response(self._describe(s))

    async def logout(self, request: web.Request) -> web.Response:
        s = self.of(request)
        if s is not None:
            self.require_csrf(request, s)
            sid = request.cookies.get(COOKIE, "")
            self._by_digest.pop(_digest(sid), None)
            if self.journal is not None:
                self.journal.append({"k": "web", "d": _digest(sid), "gone": True})
        r = web.json_response({"logged_out": True})
        r.del_cookie(COOKIE, path="/")
        return r

    def _still_allowed(self, s: Session) -> bool:
        """The live configuration still has the account (a reload or a
        restart may have removed it): a supervisor's role and queues are
        its account's as they are now. O(1)."""
        if s.role == "agent":
            return s.user in self.agents()
        account = self.supervisors().get(s.user)
        if account is None:
            return False
        s.role, s.queues = account.role, account.queues
        return True

    def replay(self, records: list[dict[str, object]]) -> None:
        """After a restart: the sessions the journal holds (logins minus
        logouts), each as if just used. O(records)."""
        for rec in records:
            d = str(rec["d"])
            if rec.get("gone"):
                self._by_digest.pop(d, None)
            else:
                queues = rec.get("q") or []
                assert isinstance(queues, list)
                self._by_digest[d] = Session(
                    str(rec["u"]), str(rec["r"]), str(rec["c"]), tuple(str(q) for q in queues), self.clock()
                )
        self._bound()

    def _bound(self) -> None:
        """At most MAX_SESSIONS: the least recently used go first. O(1) amortised."""
        while len(self._by_digest) > MAX_SESSIONS:
            self._by_digest.popitem(last=False)

    @staticmethod
    def _describe(s: Session) -> dict[str, object]:
        return {"user": s.user, "role": s.role, "queues": list(s.queues), "csrf": s.csrf}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/session", self.login)
        app.router.add_get("/v1/session", self.current)
        app.router.add_delete("/v1/session", self.logout)
