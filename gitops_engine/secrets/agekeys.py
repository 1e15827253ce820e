"""Age recipients and identities: each recipient gets its own ASCII-armored age file holding the data key."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyrage

from gitops_engine.core.errors import InputError
from gitops_engine.core.shown import shown
from gitops_engine.secrets.errors import CiphertextDamagedError, NoMatchingKeyError, UnsupportedKeyError

_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----"
_END = "-----END AGE ENCRYPTED FILE-----"


@dataclass(frozen=True)
class AgeStanza:
    """One `sops.age` entry: the recipient and the armored age file for it."""

    recipient: str
    enc: str


def armor(binary: bytes) -> str:
    """age's ASCII armor: base64 in 64-column lines between BEGIN/END lines, final newline."""
    text = base64.b64encode(binary).decode()
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return "\n".join([_BEGIN, *lines, _END]) + "\n"


def dearmor(text: str) -> bytes:
    """The binary age file inside an armored one."""
    body = text.strip()
    if not body.startswith(_BEGIN) or not body.endswith(_END):
        raise ValueError("not an armored age file")
    return base64.b64decode("".join(body[len(_BEGIN) : -len(_END)].split()))


def parse_recipient(text: str) -> pyrage.x25519.Recipient | pyrage.ssh.Recipient:
    """A recipient string as pyrage's object; raises InputError naming the bad string."""
    value = text.strip()
    try:
        if value.startswith("age1pq1"):
            raise UnsupportedKeyError(f"{value[:16]}…: post-quantum age recipients are not supported; use an age1 key")
        if value.startswith(("ssh-ed25519 ", "ssh-rsa ")):
            return pyrage.ssh.Recipient.from_str(value)
        return pyrage.x25519.Recipient.from_str(value)
    except pyrage.RecipientError as exc:
        raise InputError(
            f"{value!r}: not an age recipient (expected age1…; run `gitops-engine secrets keygen`)"
        ) from exc


def recipient_of(identity: str) -> str:
    """The public recipient of an age X25519 identity (`AGE-SECRET-KEY-…`)."""
    return str(pyrage.x25519.Identity.from_str(identity.strip()).to_public())


def generate_identity() -> tuple[str, str]:
    """A new (identity, recipient) pair."""
    identity = pyrage.x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def wrap_key(data_key: bytes, recipients: Sequence[str]) -> tuple[AgeStanza, ...]:
    """The data key encrypted to each recipient separately (sops writes one age file per recipient)."""
    unique = list(dict.fromkeys(r.strip() for r in recipients if r.strip()))
    if not unique:
        raise InputError("no age recipients given (pass --age age1… or add a creation rule to .sops.yaml)")
    return tuple(AgeStanza(r, armor(pyrage.encrypt(data_key, [parse_recipient(r)]))) for r in unique)


def parse_identities(text: str) -> list[str]:
    """Identity lines of an age key file: `#` and blank lines ignored."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


# the Bech32 prefix of X25519 identities; other kinds (post-quantum, plugins) are not loaded
IDENTITY_PREFIX = "AGE-SECRET-KEY-"  # every age X25519 identity starts so (bech32 HRP "age-secret-key-", upper case)


def _load_identities(identities: Iterable[str]) -> list[pyrage.x25519.Identity]:
    loaded = []
    for text in identities:
        if text.startswith(IDENTITY_PREFIX):
            try:
                loaded.append(pyrage.x25519.Identity.from_str(text))
            except pyrage.IdentityError:
                continue
    return loaded


def unwrap_key(stanzas: Sequence[AgeStanza], identities: Iterable[str]) -> bytes:
    """The data key from the first stanza one of `identities` opens (sops tries age keys in file order); the
    errors leave naming the file to the caller."""
    keys = _load_identities(identities)
    if not stanzas:
        raise UnsupportedKeyError("the file has no age stanzas (PGP, KMS and Vault keys are not supported)")
    if keys:
        for stanza in stanzas:
            try:
                data_key = pyrage.decrypt(dearmor(stanza.enc), keys)
            except (pyrage.DecryptError, ValueError):
                continue
            if len(data_key) == 32:
                return bytes(data_key)
    if all(s.recipient.startswith("age1pq1") for s in stanzas):
        raise UnsupportedKeyError("encrypted only to post-quantum age recipients, which are not supported")
    ours = {str(key.to_public()) for key in keys}
    damaged = next((s.recipient for s in stanzas if s.recipient in ours), None)
    if damaged is not None:
        raise CiphertextDamagedError(
            f"the age stanza for {damaged} does not open with that recipient's identity: it was changed or "
            "damaged (restore the file from git)",
            ("sops", "age"),
        )
    # the file's own text: escaped, as it may hold anything
    wanted = ", ".join(shown(s.recipient, 80) for s in stanzas)
    raise NoMatchingKeyError(
        f"no age identity opens this file (it is encrypted for {wanted}); "
        f"{len(keys)} identit{'y' if len(keys) == 1 else 'ies'} tried — pass --age-key FILE (or set "
        "SOPS_AGE_KEY_FILE) naming the matching key"
    )
