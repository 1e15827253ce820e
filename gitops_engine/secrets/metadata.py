"""The `sops:` metadata block, read in any layout and written in a chosen release's layout.

Files we write use the layout of **sops 3.10.2** (`version: 3.10.2`): struct field order, empty key lists
omitted — `age` (each entry `recipient`, then `enc`), `lastmodified`, `mac`, the selection rule,
`mac_only_encrypted` (only when true), `version`. The ≤3.9 layout (empty `kms: []`, `gcp_kms: []`,
`azure_kv: []`, `hc_vault: []`, `pgp: []` always written) is kept for re-emitting files those releases wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from gitops_engine.secrets.agekeys import AgeStanza
from gitops_engine.secrets.errors import NotSopsError, UnsupportedKeyError
from gitops_engine.secrets.selection import RULE_KEYS, Selection, selection_from
from gitops_engine.secrets.values import Branch, Item, Node, to_plain

WRITER_VERSION = "3.10.2"
_OTHER_KEY_TYPES = ("kms", "gcp_kms", "azure_kv", "hc_vault", "pgp", "hckms", "key_groups")


class Layout(StrEnum):
    """How a sops release orders and fills the metadata block."""

    V3_9 = "3.9"
    V3_10 = "3.10"

    @classmethod
    def of_version(cls, version: str) -> Layout:
        """The layout a given `sops.version` used."""
        parts = version.split(".")
        try:
            major, minor = int(parts[0]), int(parts[1])
        except (IndexError, ValueError):
            return cls.V3_10
        return cls.V3_9 if (major, minor) < (3, 10) else cls.V3_10


@dataclass(frozen=True)
class Metadata:
    """What the `sops` key holds for an age-only file."""

    age: tuple[AgeStanza, ...]
    lastmodified: str
    mac: str
    selection: Selection
    version: str = WRITER_VERSION

    @property
    def layout(self) -> Layout:
        """The layout this file's writer used."""
        return Layout.of_version(self.version)

    def with_keys(self, age: tuple[AgeStanza, ...]) -> Metadata:
        """The same metadata with other age stanzas."""
        return replace(self, age=age)


def metadata_from(raw: Mapping[str, object], where: str) -> Metadata:
    """Metadata from a plain mapping (YAML/JSON `sops` value or unflattened dotenv/INI keys)."""
    if not isinstance(raw.get("mac"), str) or not isinstance(raw.get("lastmodified"), str):
        raise NotSopsError(f"{where}: `sops` metadata lacks mac/lastmodified (not a file sops encrypted)")
    entries = raw.get("age") or []
    if not isinstance(entries, list):
        raise NotSopsError(f"{where}: `sops.age` must be a list")
    stanzas = tuple(
        AgeStanza(str(e.get("recipient", "")), str(e.get("enc", ""))) for e in entries if isinstance(e, dict)
    )
    if not stanzas and any(raw.get(k) for k in _OTHER_KEY_TYPES):
        raise UnsupportedKeyError(f"{where}: encrypted only with PGP/KMS/Vault keys; only age is supported")
    return Metadata(
        age=stanzas,
        lastmodified=str(raw["lastmodified"]),
        mac=str(raw["mac"]),
        selection=selection_from(raw, where),
        version=str(raw.get("version", WRITER_VERSION)),
    )


def metadata_node(meta: Metadata) -> Branch:
    """The `sops` value as a tree, ordered as `meta.version`'s release writes it."""
    old = meta.layout is Layout.V3_9
    empty: tuple[Node, ...] = ()
    items: list[Item] = []
    if old:
        items += [("kms", empty), ("gcp_kms", empty), ("azure_kv", empty), ("hc_vault", empty)]
    if meta.age or old:
        items.append(("age", tuple(Branch((("recipient", s.recipient), ("enc", s.enc))) for s in meta.age)))
    items += [("lastmodified", meta.lastmodified), ("mac", meta.mac)]
    if old:
        items.append(("pgp", empty))
    selection = meta.selection
    if selection.kind in RULE_KEYS and selection.value:
        items.append((selection.kind, selection.value))
    if selection.mac_only_encrypted:
        items.append(("mac_only_encrypted", True))
    items.append(("version", meta.version))
    return Branch(tuple(items))


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
