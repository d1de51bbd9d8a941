"""Identity tokens: how a customer's own website vouches for its logged-in user.

A visitor typing an e-mail into a chat form proves nothing. The site's
backend, which knows who is logged in, signs a JWT (HS256, RFC 7519) with
the secret it shares with the ACD (``[webchat] identity_secret``) and its
page passes it in ``start`` as ``identity_token``, as Zendesk's and
Intercom's web widgets do. Claims:

* ``exp`` (required) and ``iat`` (optional): Unix seconds; a token past
  ``exp`` or issued more than ``identity_max_age_s`` ago is refused;
* ``sub`` or ``external_id``: the site's user id (identifier ``user``);
* ``email``, ``phone``, ``crm``, ``unionid`` ...: identifiers;
* ``name`` and other short strings: descriptions (profile attributes).

Only the ``HS256`` algorithm is accepted (never ``none``), the signature is
compared in constant time, and the token is bounded in size.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from typing import Any

from acd.errors import InvalidRequest

MAX_TOKEN = 4096
_RESERVED = frozenset({"exp", "iat", "nbf", "iss", "aud", "jti", "sub", "external_id"})
MAX_FIELDS = 20


class BadIdentityToken(InvalidRequest):
    code = "bad-identity-token"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _seconds(v: Any) -> float | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    return float(v) if ok else None


def sign(claims: dict[str, Any], secret: str) -> str:
    """An HS256 JWT of ``claims`` (what a site's backend does; tests and the demo use it)."""
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(mac)}"


def verify(token: str, secret: str, now: float, max_age_s: float) -> dict[str, str]:
    """The identity the token vouches for, or BadIdentityToken. O(len(token))."""
    if len(token) > MAX_TOKEN or token.count(".") != 2:
        raise BadIdentityToken("identity_token: not a JWT (header.payload.signature)")
    head, body, sig = token.split(".")
    try:
        header = json.loads(_unb64(head))
        mac = _unb64(sig)
    except (ValueError, UnicodeDecodeError):
        raise BadIdentityToken("identity_token: not a JWT") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise BadIdentityToken("identity_token: only HS256 is accepted")
    want = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(mac, want):
        raise BadIdentityToken("identity_token: bad signature")
    try:
        claims = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError):
        raise BadIdentityToken("identity_token: the payload is not JSON") from None
    if not isinstance(claims, dict):
        raise BadIdentityToken("identity_token: the payload is not an object")
    exp, iat = _seconds(claims.get("exp")), _seconds(claims.get("iat", now))
    if exp is None or iat is None:
        raise BadIdentityToken("identity_token: exp (and iat) must be Unix seconds")
    if exp <= now or iat < now - max_age_s or iat > now + 60:
        raise BadIdentityToken("identity_token: expired or not yet valid")
    identity: dict[str, str] = {}
    user = claims.get("sub", claims.get("external_id"))
    if isinstance(user, (str, int)) and not isinstance(user, bool):
        identity["user"] = str(user)
    for k, v in claims.items():
        if k not in _RESERVED and isinstance(v, str) and len(k) <= 100 and len(v) <= 500:
            identity[k] = v
    if len(identity) > MAX_FIELDS:
        raise BadIdentityToken(f"identity_token: at most {MAX_FIELDS} fields")
    return identity
