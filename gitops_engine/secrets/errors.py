"""Errors of the SOPS implementation: each failure mode its own class so callers and tests can tell them apart."""

from __future__ import annotations

from gitops_engine.core.errors import GitopsError, InputError


class SopsError(GitopsError):
    """A sops file could not be decrypted or verified; nothing was returned. `path` is the key path the failure
    is at (empty when it concerns the whole file, such as a missing key), for the message's line."""

    def __init__(self, message: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


class DamagedFileError(SopsError):
    """The file was changed outside sops (a value, its type, the MAC, an age stanza): the input is bad, as a spec
    with a mistake is, so the exit code is the input error's; restoring it from git is the fix."""

    exit_code = 2


class NoMatchingKeyError(SopsError):
    """None of the available age identities opens any of the file's age stanzas."""


class CiphertextDamagedError(DamagedFileError):
    """A value fails AES-GCM authentication under its own path and every other path of the file."""


class ValueMovedError(DamagedFileError):
    """A value authenticates under another key's path: values were swapped or moved between keys."""


class PlaintextLeafError(DamagedFileError):
    """A value the file's rule says is encrypted is plaintext: it was added after encryption."""


class MacMismatchError(DamagedFileError):
    """The values decrypt but their MAC differs: a value was dropped, added or changed outside sops."""


class UnsupportedKeyError(SopsError):
    """The file or identity uses a key type this implementation does not handle (PGP, KMS, post-quantum age)."""


class NotSopsError(InputError):
    """The input has no usable `sops` metadata; `path` as for SopsError."""

    def __init__(self, message: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.path = path
