"""SOPS files as bytes in, bytes out: encrypt, decrypt (MAC always verified), updatekeys, rotate.

New files are laid out as sops 3.10.2 writes them; a file written again keeps its own release's layout (see
`metadata`). Nothing here logs or prints; a
failure raises before any plaintext is returned.
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag

from gitops_engine.core.errors import InputError
from gitops_engine.core.yamlio import MappingNode, Node, ScalarNode, YamlError, compose
from gitops_engine.secrets.aes import IvSource, decrypt_value, encrypt_value, fresh_iv
from gitops_engine.secrets.agekeys import AgeStanza, unwrap_key, wrap_key
from gitops_engine.secrets.errors import (
    CiphertextDamagedError,
    MacMismatchError,
    NotSopsError,
    SopsError,
    UnsupportedKeyError,
)
from gitops_engine.secrets.metadata import WRITER_VERSION, Metadata, flatten, metadata_from, metadata_node
from gitops_engine.secrets.selection import SECRET_REGEX, Selection
from gitops_engine.secrets.stores import (
    Format,
    RawMeta,
    emit_dotenv,
    emit_json,
    read_binary,
    read_dotenv,
    read_ini,
    read_json,
)
from gitops_engine.secrets.values import Branch, to_plain
from gitops_engine.secrets.walk import decrypt_documents, encrypt_documents
from gitops_engine.secrets.yaml_emit import emit_documents
from gitops_engine.secrets.yaml_read import read_documents

_INDENTED = re.compile(r"^( +)[^ #\n-]", re.MULTILINE)


@dataclass(frozen=True)
class Opened:
    """A decrypted, MAC-verified file: plaintext documents, the data key, metadata and the IVs that were used."""

    documents: tuple[Branch, ...]
    data_key: bytes
    metadata: Metadata
    ivs: dict[tuple[bytes, str], bytes]
    indent: int


def now_rfc3339(moment: datetime | None = None) -> str:
    """sops `lastmodified`: UTC, seconds precision."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def detect_indent(text: str, default: int = 4) -> int:
    """The indentation step of a YAML file (its first indented key)."""
    match = _INDENTED.search(text)
    return len(match.group(1)) if match else default


def parse_plain(data: bytes, fmt: Format, where: str) -> tuple[Branch, ...]:
    """Plaintext file bytes as documents (a plaintext with a `sops` key is refused: it is already encrypted)."""
    docs, meta = _read(data, fmt, where)
    if meta is not None:
        raise NotSopsError(f"{where}: already sops-encrypted (decrypt it first, or use updatekeys/rotate)")
    return docs


def _read(data: bytes, fmt: Format, where: str) -> tuple[tuple[Branch, ...], RawMeta | None]:
    if fmt is Format.BINARY:
        text = data.decode(errors="replace")
        if text.lstrip().startswith("{") and '"sops"' in text:
            doc, meta = read_json(text, where)
            return (doc,), meta
        return (read_binary(data, where),), None
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        raise NotSopsError(f"{where}: not UTF-8 text ({fmt} store)") from exc
    if fmt is Format.JSON:
        doc, meta = read_json(text, where)
        return (doc,), meta
    if fmt is Format.DOTENV:
        doc, meta = read_dotenv(text, where)
        return (doc,), meta
    if fmt is Format.INI:
        doc, meta = read_ini(text, where)
        return (doc,), meta
    docs = read_documents(text, where)
    raw = docs[0].get("sops") if docs else None
    plain = to_plain(raw) if isinstance(raw, Branch) else None
    return tuple(d.without("sops") for d in docs), plain if isinstance(plain, dict) else None


def render(docs: Sequence[Branch], meta: Metadata | None, fmt: Format, indent: int = 4) -> bytes:
    """Documents (with `meta` appended when given) in the store's format."""
    if fmt is Format.DOTENV:
        return emit_dotenv(docs[0], flatten(meta) if meta else ()).encode()
    if fmt is Format.INI:
        raise NotSopsError("writing INI files is not supported (use YAML, JSON, dotenv or binary)")
    if fmt is Format.JSON or (fmt is Format.BINARY and meta is not None):
        doc = docs[0]
        if meta is not None:
            doc = Branch((*doc.items, ("sops", metadata_node(meta))))
        return emit_json(doc).encode()
    if fmt is Format.BINARY:
        data = docs[0].get("data")
        return data.encode() if isinstance(data, str) else b""
    with_meta = [Branch((*d.items, ("sops", metadata_node(meta)))) for d in docs] if meta else list(docs)
    return emit_documents(with_meta, indent).encode()


def seal(
    docs: Sequence[Branch],
    data_key: bytes,
    stanzas: tuple[AgeStanza, ...],
    selection: Selection,
    lastmodified: str,
    version: str = WRITER_VERSION,
    iv_source: IvSource = fresh_iv,
) -> tuple[tuple[Branch, ...], Metadata]:
    """Encrypt documents under `data_key` and build their metadata (MAC bound to `lastmodified`)."""
    encrypted, mac = encrypt_documents(docs, data_key, selection, iv_source)
    sealed_mac = encrypt_value(data_key, mac, lastmodified, iv_source)
    return encrypted, Metadata(stanzas, lastmodified, sealed_mac, selection, version)


def encrypt(
    plaintext: bytes,
    fmt: Format,
    recipients: Sequence[str],
    selection: Selection | None = None,
    *,
    indent: int = 4,
    lastmodified: str | None = None,
    where: str = "<input>",
) -> bytes:
    """Encrypt a plaintext file for `recipients` with a new data key."""
    docs = parse_plain(plaintext, fmt, where)
    data_key = os.urandom(32)
    encrypted, meta = seal(
        docs, data_key, wrap_key(data_key, recipients), selection or Selection(), lastmodified or now_rfc3339()
    )
    return render(encrypted, meta, fmt, indent)


def encrypt_yaml(
    plaintext: bytes,
    recipients: Sequence[str],
    encrypted_regex: str = SECRET_REGEX,
    *,
    indent: int = 2,
    lastmodified: str | None = None,
    where: str = "<input>",
) -> bytes:
    """Encrypt a (multi-document) YAML file the way the seed stores Secrets: only `data`/`stringData` by default."""
    return encrypt(
        plaintext, Format.YAML, recipients, Selection("encrypted_regex", encrypted_regex),
        indent=indent, lastmodified=lastmodified, where=where,
    )  # fmt: skip


def read_metadata(data: bytes, fmt: Format, where: str = "<input>") -> Metadata | None:
    """A file's `sops` metadata, read without a key (nothing is decrypted); None when it has none."""
    _, raw = _read(data, fmt, where)
    try:
        return None if raw is None else metadata_from(raw)
    except (SopsError, NotSopsError) as exc:
        raise _named(exc, data, fmt, where) from None


def open_encrypted(data: bytes, fmt: Format, identities: Iterable[str], where: str = "<input>") -> Opened:
    """Decrypt and verify a sops file; any failure raises a SopsError subclass and returns nothing."""
    docs, raw = _read(data, fmt, where)
    if raw is None:
        raise NotSopsError(f"{where}:1: no `sops` metadata (the file is not encrypted; run `secrets encrypt`)")
    try:
        return _opened(docs, raw, identities, data, fmt)
    except (SopsError, NotSopsError) as exc:
        raise _named(exc, data, fmt, where) from None


def _opened(docs: tuple[Branch, ...], raw: RawMeta, identities: Iterable[str], data: bytes, fmt: Format) -> Opened:
    meta = metadata_from(raw)
    if not meta.age and meta.carried:
        names = "; ".join(meta.carried_keys)
        raise UnsupportedKeyError(f"encrypted only for keys other than age ({names}); only age is supported")
    data_key = unwrap_key(meta.age, identities)
    result = decrypt_documents(docs, data_key, meta.selection)
    try:
        stored, iv = decrypt_value(data_key, meta.mac, meta.lastmodified)
    except (InvalidTag, ValueError):
        raise CiphertextDamagedError(
            "sops.mac fails authentication (mac or lastmodified was changed; restore the file from git)",
            ("sops", "mac"),
        ) from None
    if not isinstance(stored, str) or not hmac.compare_digest(stored.upper(), result.mac):
        raise MacMismatchError(
            "MAC mismatch: a value was added, removed or changed outside sops "
            "(restore the file from git, or re-encrypt it from its plaintext)",
            ("sops", "mac"),
        )
    result.ivs[(stored.encode(), meta.lastmodified)] = iv
    indent = detect_indent(data.decode(errors="replace")) if fmt is Format.YAML else 4
    return Opened(result.documents, data_key, meta, result.ivs, indent)


def _named(exc: SopsError | NotSopsError, data: bytes, fmt: Format, where: str) -> SopsError | NotSopsError:
    """`exc` with the file named, and the line of the key path it is at when it has one."""
    line = f":{_line_of(data, fmt, exc.path)}" if exc.path else ""
    return type(exc)(f"{where}{line}: {exc}", exc.path)


def _line_of(data: bytes, fmt: Format, path: tuple[str, ...]) -> int:
    """The line the file writes `path` (or its nearest ancestor) on; 1 where the store says no more (INI, binary).
    Read again only for a message, so a file that opens is parsed once."""
    if fmt is Format.DOTENV:
        # sops flattens its metadata into `sops_<key>…` names
        prefix = "sops_" + "__map_".join(path[1:]) if path[0] == "sops" else f"{path[0]}="
        lines = data.decode(errors="replace").split("\n")
        return next((number for number, text in enumerate(lines, 1) if text.startswith(prefix)), 1)
    if fmt is not Format.YAML and fmt is not Format.JSON:
        return 1
    try:
        roots = compose(data)  # scalars as written: a value the typed reader would refuse still has its line
    except YamlError:
        return 1
    for root in roots:
        node, line = root, 0
        for key in path:
            found = _entry(node, key)
            if found is None:
                break
            line, node = found
        if line:
            return line
    return 1


def _entry(node: Node, key: str) -> tuple[int, Node] | None:
    """The line of `key` in a mapping node, and its value; None when `node` has no such key."""
    if isinstance(node, MappingNode):
        for key_node, value in node.value:
            if isinstance(key_node, ScalarNode) and key_node.value == key:
                return key_node.start_mark.line + 1, value
    return None


def decrypt(data: bytes, fmt: Format, identities: Iterable[str], where: str = "<input>") -> bytes:
    """The plaintext file (same store, `sops` metadata removed)."""
    opened = open_encrypted(data, fmt, identities, where)
    return render(opened.documents, None, fmt, opened.indent)


def cached_ivs(ivs: dict[tuple[bytes, str], bytes]) -> IvSource:
    """An IV source that reuses the IV an unchanged (plaintext, AAD) pair had, as sops does."""

    def source(plaintext: bytes, aad: str) -> bytes:
        return ivs.get((plaintext, aad)) or fresh_iv(plaintext, aad)

    return source


def reencrypt(opened: Opened, fmt: Format, metadata: Metadata | None = None) -> bytes:
    """Write an opened file again with its data key and cached IVs (byte-identical when nothing changed)."""
    meta = metadata or opened.metadata
    docs, sealed = seal(
        opened.documents, opened.data_key, meta.age, meta.selection, meta.lastmodified, meta.version,
        cached_ivs(opened.ivs),
    )  # fmt: skip
    return render(docs, replace(sealed, carried=meta.carried), fmt, opened.indent)


def updatekeys(
    data: bytes, fmt: Format, identities: Iterable[str], recipients: Sequence[str], where: str = "<input>"
) -> bytes:
    """The same file with the data key wrapped for exactly `recipients` as age stanzas.

    As `sops updatekeys` does, only the key stanzas change: values, IVs, `lastmodified`, the MAC (which covers
    the values, not the recipients) and `version` stay as they were. Stanzas of recipients that stay are kept as
    they are and where they are, new ones follow; key sources we cannot wrap for (PGP, KMS, Vault) are carried:
    the data key does not change, so they still open the file.
    """
    opened = open_encrypted(data, fmt, identities, where)
    wanted = list(dict.fromkeys(r.strip() for r in recipients if r.strip()))
    if not wanted:
        raise NotSopsError(f"{where}: updatekeys would leave no recipients (give at least one age recipient)")
    kept = tuple(s for s in opened.metadata.age if s.recipient in wanted)
    new = [r for r in wanted if r not in {s.recipient for s in kept}]
    fresh = wrap_key(opened.data_key, new) if new else ()
    return reencrypt(opened, fmt, opened.metadata.with_keys(kept + fresh))


def rotate(
    data: bytes,
    fmt: Format,
    identities: Iterable[str],
    recipients: Sequence[str] | None = None,
    *,
    lastmodified: str | None = None,
    where: str = "<input>",
) -> bytes:
    """The same plaintext under a new data key (every value re-encrypted with fresh IVs).

    A new data key cannot be wrapped for PGP, KMS or Vault keys here, so a file that has them is refused rather
    than rotated without them: their holders would silently lose access.
    """
    opened = open_encrypted(data, fmt, identities, where)
    if opened.metadata.carried:
        names = "; ".join(opened.metadata.carried_keys)
        raise InputError(
            f"{where}: rotating would drop its keys other than age ({names}), which cannot be wrapped here "
            "(rotate it with sops, or delete those entries from its sops block first to drop them on purpose)"
        )
    targets = list(recipients) if recipients else [s.recipient for s in opened.metadata.age]
    data_key = os.urandom(32)
    docs, meta = seal(
        opened.documents,
        data_key,
        wrap_key(data_key, targets),
        opened.metadata.selection,
        lastmodified or now_rfc3339(),
        # the file keeps the release (and so the layout of its sops block) it was written with
        opened.metadata.version,
    )
    return render(docs, meta, fmt, opened.indent)


def same_plaintext(encrypted: bytes, plaintext: bytes, identities: Iterable[str], fmt: Format = Format.YAML) -> bool:
    """True when `encrypted` decrypts (MAC verified) to the same trees as `plaintext` (comments included)."""
    opened = open_encrypted(encrypted, fmt, identities)
    return opened.documents == parse_plain(plaintext, fmt, "<plaintext>")
