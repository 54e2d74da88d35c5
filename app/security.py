"""API keys: random tokens shown once; only their SHA-256 is stored.

A fast hash is enough (no bcrypt) because keys are 256-bit random tokens, not guessable passwords.
"""

import hashlib
import secrets

KEY_PREFIX = "atl_"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
