"""Stored secrets: salted, slow hashes for people's passwords, keyed fast
digests for machine-made tokens.

Passwords (agents, supervisors): ``pbkdf2_sha256$<iterations>$<salt>$<hash>``
(base64), slow on purpose against guessing; always verified off the event
loop (:mod:`acd.adapters.security.auth`).

Tokens (the admin API token, identity-token secrets): high-entropy and
machine-made, so guessing is not the threat and a slow KDF only hands
attackers a CPU lever. ``hmac_sha256$<salt>$<hmac>``: HMAC-SHA256 keyed by
the salt, compared in constant time, a few microseconds on the loop.
``acd hash-password --token`` makes one. A PBKDF2 hash still works for a
token (older configs) but costs the pool what a password does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_SCHEME = "pbkdf2_sha256"
_TOKEN_SCHEME = "hmac_sha256"
ITERATIONS = 200_000
MAX_ITERATIONS = 2_000_000  # a config that asks for more would stall logins for seconds
MIN_TOKEN_CHARS = 16

_b64 = base64.b64encode


def hash_password(password: str, iterations: int = ITERATIONS) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{_SCHEME}${iterations}${_b64(salt).decode()}${_b64(digest).decode()}"


def hash_token(token: str) -> str:
    salt = secrets.token_bytes(16)
    mac = hmac.new(salt, token.encode(), hashlib.sha256).digest()
    return f"{_TOKEN_SCHEME}${_b64(salt).decode()}${_b64(mac).decode()}"


def _b64_ok(*parts: str) -> bool:
    try:
        for p in parts:
            base64.b64decode(p, validate=True)
    except ValueError:
        return False
    return True


def is_password_hash(value: str) -> bool:
    parts = value.split("$")
    if len(parts) != 4 or parts[0] != _SCHEME or not parts[1].isascii() or not parts[1].isdigit():
        return False
    return 1 <= int(parts[1]) <= MAX_ITERATIONS and _b64_ok(parts[2], parts[3])


def is_token_hash(value: str) -> bool:
    parts = value.split("$")
    return len(parts) == 3 and parts[0] == _TOKEN_SCHEME and _b64_ok(parts[1], parts[2])


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check; False for a malformed stored value. Slow (PBKDF2):
    call it off the event loop."""
    if not is_password_hash(stored):
        return False
    _, iterations, salt, digest = stored.split("$")
    got = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    return hmac.compare_digest(got, base64.b64decode(digest))


def verify_token(token: str, stored: str) -> bool:
    """Constant-time check of a token against ``hash_token``'s form. O(len(token))."""
    if not is_token_hash(stored):
        return False
    _, salt, mac = stored.split("$")
    got = hmac.new(base64.b64decode(salt), token.encode(), hashlib.sha256).digest()
    return hmac.compare_digest(got, base64.b64decode(mac))
