"""The `sops:` metadata block, read in any layout and written in a chosen release's layout.

Files we write use the layout of **sops 3.10.2** (`version: 3.10.2`): struct field order, empty key lists
omitted — `age` (each entry `recipient`, then `enc`), `lastmodified`, `mac`, the selection rule,
`mac_only_encrypted` (only when true), `version`. A file another release wrote keeps that release's layout,
told by its `version`, whenever it is written again (re-wrapped, rotated): the ≤3.9 layout (empty `kms: []`,
`gcp_kms: []`, `azure_kv: []`, `hc_vault: []`, `pgp: []` always written) and the 3.13+ one, in which every key of
the block is sorted, the keys of each entry too (`age: - enc: … recipient: …`, `encrypted_regex`,
`lastmodified`, `mac`, `mac_only_encrypted`, `pgp`, `unencrypted_suffix`, `version`).

Key sources other than age (PGP, KMS, Vault, Azure Key Vault) cannot be wrapped here, but a file may hold them
next to its age stanzas: they are read as they are and written back unchanged, in the same struct order, so
that re-wrapping the age stanzas never takes a key holder's access away.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from gitops_engine.secrets.agekeys import AgeStanza
from gitops_engine.secrets.errors import NotSopsError, UnsupportedKeyError
from gitops_engine.secrets.selection import RULE_KEYS, Selection, read_selection
from gitops_engine.secrets.values import Branch, Comment, Item, Node, from_plain, to_plain

WRITER_VERSION = "3.10.2"
# key sources written before `age` in the struct order, and the one written after `mac`
_CARRIED_BEFORE_AGE = ("kms", "gcp_kms", "hckms", "azure_kv", "hc_vault")
_CARRIED_AFTER_MAC = ("pgp",)
CARRIED_KEY_TYPES = (*_CARRIED_BEFORE_AGE, *_CARRIED_AFTER_MAC)
# the field of each carried entry that names its key, for messages
_KEY_NAME_FIELDS = {
    "kms": "arn", "gcp_kms": "resource_id", "hckms": "key_id", "azure_kv": "vault_url", "hc_vault": "vault_address",
    "pgp": "fp",
}  # fmt: skip


class Layout(StrEnum):
    """How a sops release orders and fills the metadata block."""

    V3_9 = "3.9"
    V3_10 = "3.10"
    V3_13 = "3.13"

    @classmethod
    def of_version(cls, version: str) -> Layout:
        """The layout a given `sops.version` used."""
        parts = version.split(".")
        try:
            major, minor = int(parts[0]), int(parts[1])
        except (IndexError, ValueError):
            return cls.V3_10
        if (major, minor) < (3, 10):
            return cls.V3_9
        return cls.V3_10 if (major, minor) < (3, 13) else cls.V3_13


@dataclass(frozen=True)
class Metadata:
    """What the `sops` key holds for an age-only file."""

    age: tuple[AgeStanza, ...]
    lastmodified: str
    mac: str
    selection: Selection
    version: str = WRITER_VERSION
    # non-empty key sources we cannot wrap for, as read: (key type, list of entries)
    carried: tuple[tuple[str, Node], ...] = ()

    @property
    def layout(self) -> Layout:
        """The layout this file's writer used."""
        return Layout.of_version(self.version)

    def with_keys(self, age: tuple[AgeStanza, ...]) -> Metadata:
        """The same metadata with other age stanzas (carried key sources kept)."""
        return replace(self, age=age)

    @property
    def carried_keys(self) -> tuple[str, ...]:
        """The carried key holders, one `type name, name` line per key type, e.g. `pgp 35C1A64C…`."""
        return tuple(describe_carried(kind, entries) for kind, entries in self.carried)


def describe_carried(kind: str, entries: Node) -> str:
    """One line naming the holders of a carried key source, e.g. `pgp 35C1A64CD7FC…, 0A2B…`."""
    field = _KEY_NAME_FIELDS.get(kind, "enc")
    names = [
        str(e.get(field) or "?") if isinstance(e, Branch) else "?"
        for e in (entries if isinstance(entries, tuple) else ())
    ]
    return f"{kind} {', '.join(names)}"


def metadata_from(raw: Mapping[str, object]) -> Metadata:
    """Metadata from a plain mapping (YAML/JSON `sops` value or unflattened dotenv/INI keys); what is wrong with it
    raises with its key path, for the caller to name the file and line."""
    if not isinstance(raw.get("mac"), str) or not isinstance(raw.get("lastmodified"), str):
        raise NotSopsError("`sops` metadata lacks mac/lastmodified (not a file sops encrypted)", ("sops",))
    entries = raw.get("age") or []
    if not isinstance(entries, list):
        raise NotSopsError("`sops.age` must be a list", ("sops", "age"))
    stanzas = tuple(
        AgeStanza(str(e.get("recipient", "")), str(e.get("enc", ""))) for e in entries if isinstance(e, dict)
    )
    if raw.get("key_groups"):
        raise UnsupportedKeyError("uses several key groups (Shamir secret sharing), which is not supported")
    carried = tuple((kind, from_plain(raw[kind])) for kind in CARRIED_KEY_TYPES if raw.get(kind))
    for kind, value in carried:
        if not isinstance(value, tuple) or not all(isinstance(e, Branch) for e in value):
            raise NotSopsError(f"`sops.{kind}` must be a list of key entries", ("sops", kind))
    selection, problem = read_selection(raw)
    if problem is not None:
        rule = next((key for key in RULE_KEYS if raw.get(key) not in (None, "")), "")
        raise NotSopsError(problem, ("sops", rule))
    return Metadata(
        age=stanzas,
        lastmodified=str(raw["lastmodified"]),
        mac=str(raw["mac"]),
        selection=selection,
        version=str(raw.get("version", WRITER_VERSION)),
        carried=carried,
    )


def metadata_node(meta: Metadata) -> Branch:
    """The `sops` value as a tree, ordered as `meta.version`'s release writes it."""
    old = meta.layout is Layout.V3_9
    empty: tuple[Node, ...] = ()
    carried = dict(meta.carried)
    items: list[Item] = []

    def key_source(kind: str) -> None:
        # ≤3.9 writes every key list of its struct, empty or not; later releases only the non-empty ones
        if kind in carried or (old and kind != "hckms"):
            items.append((kind, carried.get(kind, empty)))

    for kind in _CARRIED_BEFORE_AGE:
        key_source(kind)
    if meta.age or old:
        items.append(("age", tuple(Branch((("recipient", s.recipient), ("enc", s.enc))) for s in meta.age)))
    items += [("lastmodified", meta.lastmodified), ("mac", meta.mac)]
    for kind in _CARRIED_AFTER_MAC:
        key_source(kind)
    selection = meta.selection
    if selection.kind in RULE_KEYS and selection.value:
        items.append((selection.kind, selection.value))
    if selection.mac_only_encrypted:
        items.append(("mac_only_encrypted", True))
    items.append(("version", meta.version))
    block = Branch(tuple(items))
    # 3.13+ turns the block into a Go map and back, which sorts every key at every level
    return _sorted_branch(block) if meta.layout is Layout.V3_13 else block


def _sorted_branch(branch: Branch) -> Branch:
    pairs: list[tuple[str, Node]] = sorted(((key, _sorted(value)) for key, value in branch.pairs()), key=_first)
    return Branch(tuple(pairs))


def _sorted(node: Node) -> Node:
    if isinstance(node, Branch):
        return _sorted_branch(node)
    if isinstance(node, tuple):
        return tuple(_sorted(element) for element in node if not isinstance(element, Comment))
    return node


def _first(pair: tuple[str, Node]) -> str:
    return pair[0]


def flatten(meta: Metadata) -> list[tuple[str, str]]:
    """Metadata as sops flattens it for dotenv/INI: `age__list_0__map_enc` style keys, sorted."""
    flat: dict[str, str] = {}

    def put(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                put(f"{prefix}__map_{key}" if prefix else key, inner)
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                put(f"{prefix}__list_{index}", inner)
        elif isinstance(value, bool):
            flat[prefix] = "true" if value else "false"
        else:
            flat[prefix] = str(value)

    plain = to_plain(metadata_node(meta))
    assert isinstance(plain, dict)
    for key, value in plain.items():
        put(key, value)
    return sorted(flat.items())


def unflatten(flat: Mapping[str, str]) -> dict[str, object]:
    """Undo `flatten` (the dotenv/INI reader side)."""
    root: dict[str, object] = {}
    for key, value in flat.items():
        parts = key.split("__")
        container_key: str | int = parts[0]
        parent: dict[str, object] | list[object] = root
        for part in parts[1:]:
            kind, _, name = part.partition("_")
            child_key: str | int = int(name) if kind == "list" else name
            current = _child(parent, container_key, list if kind == "list" else dict)
            parent, container_key = current, child_key
        _assign(parent, container_key, value)
    return root


def _child(parent: dict[str, object] | list[object], key: str | int, kind: type) -> dict[str, object] | list[object]:
    if isinstance(parent, dict):
        assert isinstance(key, str)
        existing = parent.get(key)
        if not isinstance(existing, kind):
            existing = kind()
            parent[key] = existing
    else:
        assert isinstance(key, int)
        while len(parent) <= key:
            parent.append(kind())
        existing = parent[key]
    assert isinstance(existing, dict | list)
    return existing


def _assign(parent: dict[str, object] | list[object], key: str | int, value: str) -> None:
    if isinstance(parent, dict):
        parent[str(key)] = value
    else:
        assert isinstance(key, int)
        while len(parent) <= key:
            parent.append(None)
        parent[key] = value
