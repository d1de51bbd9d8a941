"""Salted password and token hashes (stdlib PBKDF2-SHA256).

Stored form: ``pbkdf2_sha256$<iterations>$<salt, base64>$<hash, base64>``.
Operators put only this form in config files (``acd hash-password``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_SCHEME = "pbkdf2_sha256"
ITERATIONS = 200_000


def hash_password(password: str, iterations: int = ITERATIONS) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    b64 = base64.b64encode
    return f"{_SCHEME}${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def is_password_hash(value: str) -> bool:
    parts = value.split("$")
    if len(parts) != 4 or parts[0] != _SCHEME or not parts[1].isdigit():
        return False
    try:
        base64.b64decode(parts[2], validate=True)
        base64.b64decode(parts[3], validate=True)
    except ValueError:
        return False
    return True


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check; False for a malformed stored value."""
    if not is_password_hash(stored):
        return False
    _, iterations, salt, digest = stored.split("$")
    got = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    return hmac.compare_digest(got, base64.b64decode(digest))
