"""The `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` value format (sops `aes/cipher.go`)."""

from __future__ import annotations

import os
import re
from binascii import a2b_base64, b2a_base64
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gitops_engine.secrets.values import Comment, Scalar, from_bytes, to_bytes, type_name

_ENC = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")
_TAG_LEN = 16
_IV_LEN = 32

# Chooses the IV for (plaintext, aad); sops reuses a cached IV for unchanged values, fresh ones otherwise.
IvSource = Callable[[bytes, str], bytes]
# A data key, or the cipher built from it once: a walk over a file reuses one cipher for every value.
Key = bytes | AESGCM


def fresh_iv(_plaintext: bytes, _aad: str) -> bytes:
    """32 random bytes: the nonce length sops uses."""
    return os.urandom(_IV_LEN)


def is_encrypted(value: object) -> bool:
    """True for a string in sops's encrypted-value format."""
    return isinstance(value, str) and value.startswith("ENC[AES256_GCM,")


def cipher(key: Key) -> AESGCM:
    """The AES-256-GCM cipher for a data key."""
    return key if isinstance(key, AESGCM) else AESGCM(key)


def encrypt_value(key: Key, value: Scalar | Comment, aad: str, iv_source: IvSource = fresh_iv) -> str:
    """Encrypt one leaf; empty strings and empty comments stay `""` as in sops."""
    plaintext = to_bytes(value)
    if not plaintext and isinstance(value, str | Comment):
        return ""
    iv = iv_source(plaintext, aad)
    sealed = cipher(key).encrypt(iv, plaintext, aad.encode())
    data, tag = sealed[:-_TAG_LEN], sealed[-_TAG_LEN:]
    return f"ENC[AES256_GCM,data:{_b64(data)},iv:{_b64(iv)},tag:{_b64(tag)},type:{type_name(value)}]"


class _Parts:
    __slots__ = ("data", "iv", "kind", "tag")

    def __init__(self, data: bytes, iv: bytes, tag: bytes, kind: str) -> None:
        self.data, self.iv, self.tag, self.kind = data, iv, tag, kind


def _parse(value: str) -> _Parts:
    match = _ENC.match(value)
    if not match:
        raise ValueError("not a sops encrypted value")
    data, iv, tag, kind = match.groups()
    return _Parts(a2b_base64(data), a2b_base64(iv), a2b_base64(tag), kind)


def decrypt_raw(key: Key, value: str, aad: str) -> tuple[bytes, bytes, str]:
    """(plaintext bytes, iv, type) of one encrypted value; raises InvalidTag or ValueError."""
    parts = _parse(value)
    plaintext = cipher(key).decrypt(parts.iv, parts.data + parts.tag, aad.encode())
    return plaintext, parts.iv, parts.kind


def authenticates(key: Key, value: str, aad: str) -> bool:
    """True when `value` decrypts under `aad` (used to tell a moved value from a damaged one)."""
    try:
        decrypt_raw(key, value, aad)
    except (InvalidTag, ValueError):
        return False
    return True


def decrypt_value(key: Key, value: str, aad: str) -> tuple[Scalar | Comment, bytes]:
    """The typed plaintext of one value and the IV it used."""
    plaintext, iv, kind = decrypt_raw(key, value, aad)
    return from_bytes(kind, plaintext), iv


def _b64(raw: bytes) -> str:
    return b2a_base64(raw, newline=False).decode()
