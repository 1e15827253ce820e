"""The plaintext guard of the commit path: no `kind: Secret` and no creation-rule file without valid sops metadata,
and no private key (an age identity, a PEM or PGP private key block) in any file at all.

It runs on every commit of trees with ~10k files, so it only parses files a cheap byte search says could be
Secrets, and files the root `.sops.yaml` names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from gitops_engine.core.errors import InputError
from gitops_engine.core.yamlio import MappingNode, Node, ScalarNode, SequenceNode, YamlError, compose, entry
from gitops_engine.secrets.agekeys import IDENTITY_PREFIX
from gitops_engine.secrets.creation_rules import SopsConfig, parse_config
from gitops_engine.secrets.stores import Format

# an age X25519 identity is the prefix and 59 bech32 characters; sops-encrypted files never hold one in clear
_AGE_IDENTITY = re.compile(re.escape(IDENTITY_PREFIX.encode()) + rb"1[02-9AC-HJ-NP-Z]{58}")
_PRIVATE_BLOCK = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_SECRET_KIND = re.compile(rb"^kind:[ \t]*[\"']?Secret[\"']?[ \t]*(#.*)?$", re.MULTILINE)
_YAML_SUFFIXES = (".yaml", ".yml")
_MARKERS = {
    Format.YAML: re.compile(rb"^sops:\s*$(?:.|\n)*?^[ \t]+mac:[ \t]*\"?ENC\[", re.MULTILINE),
    Format.JSON: re.compile(rb'"mac":\s*"ENC\['),
    Format.BINARY: re.compile(rb'"mac":\s*"ENC\['),
    Format.DOTENV: re.compile(rb"^sops_mac=ENC\[", re.MULTILINE),
    Format.INI: re.compile(rb"^mac\s*=\s*ENC\[", re.MULTILINE),
}


def plaintext_violations(files: Mapping[str, bytes]) -> list[str]:
    """`path:line: message (fix)` for each plaintext Secret document and each unencrypted creation-rule file."""
    problems: list[str] = []
    config = _root_config(files, problems)
    for path in sorted(files):
        data = files[path]
        problems.extend(_private_keys(path, data))
        # the substring test is a memchr-speed prefilter for the line regex, which most files would fail anyway
        if path.endswith(_YAML_SUFFIXES) and b"Secret" in data and _SECRET_KIND.search(data):
            problems.extend(_secret_documents(path, data))
        elif config is not None and path != ".sops.yaml" and config.rule_for(path) is not None:
            fmt = Format.for_path(path)
            if not _MARKERS[fmt].search(data):
                problems.append(
                    f"{path}:1: matches a creation rule in .sops.yaml but is not sops-encrypted "
                    f"(fix: gitops-engine secrets encrypt {path})"
                )
    return problems


def _private_keys(path: str, data: bytes) -> list[str]:
    """A private key in any file, whatever its name or format: it must never reach a git object."""
    found: list[str] = []
    # substring tests first: a memchr-speed pass that almost every file fails
    if b"SECRET-KEY-1" in data:
        found += [_key_line(path, data, m.start(), "an age private key") for m in _AGE_IDENTITY.finditer(data)]
    if b"PRIVATE KEY" in data:
        found += [_key_line(path, data, m.start(), "a private key block") for m in _PRIVATE_BLOCK.finditer(data)]
    return found


def _key_line(path: str, data: bytes, offset: int, what: str) -> str:
    line = data.count(b"\n", 0, offset) + 1
    return f"{path}:{line}: holds {what}; private keys never go into the repository (fix: remove it from the file)"


def _root_config(files: Mapping[str, bytes], problems: list[str]) -> SopsConfig | None:
    raw = files.get(".sops.yaml")
    if raw is None:
        return None
    try:
        return parse_config(raw)
    except InputError as exc:
        problems.extend(exc.lines)
        return None


def _secret_documents(path: str, data: bytes) -> list[str]:
    try:
        nodes = compose(data)
    except YamlError:
        return [f"{path}:1: looks like a Secret but is not valid YAML (fix the YAML, then encrypt it)"]
    problems: list[str] = []
    for node in nodes:
        if not isinstance(node, MappingNode) or _scalar(node, "kind") != "Secret":
            continue
        line = node.start_mark.line + 1
        if _is_sops_file(node):
            problems.extend(
                f"{path}:{leaf.start_mark.line + 1}: Secret {_name(node)!r} has a plaintext value next to sops "
                f"metadata (fix: decrypt and re-encrypt {path})"
                for leaf in _plain_leaves(node)
            )
            continue
        problems.append(
            f"{path}:{line}: Secret {_name(node)!r} has no sops metadata: its values would be committed in plaintext "
            f"(fix: gitops-engine secrets encrypt {path})"
        )
    return problems


def _plain_leaves(node: MappingNode) -> list[ScalarNode]:
    found: list[ScalarNode] = []

    def visit(value: Node) -> None:
        if isinstance(value, ScalarNode):
            if value.value and not value.value.startswith("ENC[AES256_GCM,"):
                found.append(value)
        elif isinstance(value, MappingNode):
            for _, inner in value.value:
                visit(inner)
        elif isinstance(value, SequenceNode):
            for inner in value.value:
                visit(inner)

    for key in ("data", "stringData"):
        child = entry(node, key)
        if child is not None:
            visit(child)
    return found


def _is_sops_file(node: Node) -> bool:
    if not isinstance(node, MappingNode):
        return False
    sops = entry(node, "sops")
    return isinstance(sops, MappingNode) and str(_scalar(sops, "mac") or "").startswith("ENC[AES256_GCM,")


def _scalar(node: MappingNode, key: str) -> str | None:
    value = entry(node, key)
    return value.value if isinstance(value, ScalarNode) else None


def _name(node: MappingNode) -> str:
    metadata = entry(node, "metadata")
    return (_scalar(metadata, "name") if isinstance(metadata, MappingNode) else None) or "(unnamed)"
