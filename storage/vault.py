"""Secrets at rest: field encryption with a rotating key ring, keyed lookup
indexes, and password hashing.

Ciphertexts are ``<key id>.<base64(nonce + AES-GCM ciphertext)>`` so a rotated
ring still reads old rows; the purpose of a field is bound as associated data
so a ciphertext cannot be moved from one kind of field to another.
"""

import asyncio
import base64
import hashlib
import hmac
import os
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CARD_PURPOSE = "card"

_hasher = PasswordHasher()  # argon2id, 64 MiB, t=3, p=4 (RFC 9106 / OWASP)


class VaultError(Exception):
    """A key is missing or wrong; never carries plaintext."""


@dataclass(frozen=True)
class VaultKey:
    id: str
    secret: bytes = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> "VaultKey":
        """Read ``<id>:<urlsafe base64 of 32 bytes>``."""
        key_id, sep, encoded = text.strip().partition(":")
        if not sep or not key_id or "." in key_id:
            raise VaultError("a vault key must look like '<id>:<base64 key>'")
        try:
            secret = base64.urlsafe_b64decode(encoded)
        except ValueError as error:
            raise VaultError(f"vault key {key_id!r} is not base64") from error
        if len(secret) != 32:
            raise VaultError(f"vault key {key_id!r} must be 32 bytes")
        return cls(key_id, secret)

    @classmethod
    def generate(cls, key_id: str) -> "VaultKey":
        return cls(key_id, os.urandom(32))

    def export(self) -> str:
        return f"{self.id}:{base64.urlsafe_b64encode(self.secret).decode()}"


class Vault:
    def __init__(self, keys: list[VaultKey], index_key: bytes) -> None:
        if not keys:
            raise VaultError("the vault needs at least one encryption key")
        if len(index_key) < 32:
            raise VaultError("the vault index key must be at least 32 bytes")
        self._newest = keys[0]
        self._keys = {key.id: key for key in keys}
        self._index_key = index_key

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    @property
    def newest_key_id(self) -> str:
        return self._newest.id

    def encrypt(self, plaintext: str, purpose: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self._newest.secret).encrypt(nonce, plaintext.encode(), purpose.encode())
        return f"{self._newest.id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, purpose: str) -> str:
        key_id, _, encoded = token.partition(".")
        key = self._keys.get(key_id)
        if key is None:
            raise VaultError(f"no vault key {key_id!r} to read this field")
        raw = base64.urlsafe_b64decode(encoded)
        try:
            return AESGCM(key.secret).decrypt(raw[:12], raw[12:], purpose.encode()).decode()
        except InvalidTag as error:
            raise VaultError(f"vault key {key_id!r} does not open this field") from error

    def needs_rotation(self, token: str) -> bool:
        return not token.startswith(f"{self._newest.id}.")

    def rotate(self, token: str, purpose: str) -> str:
        return self.encrypt(self.decrypt(token, purpose), purpose)

    def index(self, value: str, purpose: str) -> str:
        """Keyed lookup hash: equal values match, but without the key nothing can be guessed."""
        message = f"{purpose}\x00{value}".encode()
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for ``purpose`` alone (e.g. signing a web session), derived
        from the index key, so no new secret has to be configured."""
        return hmac.new(self._index_key, f"derive\x00{purpose}".encode(), hashlib.sha256).digest()

    async def hash_password(self, password: str) -> str:
        """argon2id off the event loop, so other members are not held up while one is hashed."""
        return await asyncio.to_thread(_hasher.hash, password)

    async def verify_password(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(_verify, password_hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
