"""Encrypted files whose age recipients differ from what `.sops.yaml` asks for, and re-wrapping them.

A file is judged from its metadata alone, so no key is needed to find the stale ones; re-wrapping is
`sopsfile.updatekeys` (same data key, values untouched) and needs an identity that opens the file. Only age
recipients are compared, as only age keys can be wrapped here; PGP, KMS and Vault keys a file holds are carried.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from gitops_engine.core.errors import GitopsError, InputError
from gitops_engine.model.finding import Finding, Severity
from gitops_engine.secrets.creation_rules import SopsConfig, parse_config
from gitops_engine.secrets.sopsfile import read_metadata, updatekeys
from gitops_engine.secrets.stores import Format

CONFIG_PATH = ".sops.yaml"
STALE_RULE = "sops-recipients-stale"
_LOCATED = re.compile(r"^[^:]*:(\d+): (.*)$", re.DOTALL)

# where each store keeps its metadata: the top-level `sops` key, `sops_*` dotenv keys, the INI section
_METADATA_LINE = {
    Format.YAML: re.compile(r"^sops:", re.MULTILINE),
    Format.JSON: re.compile(r'^\s*"sops":', re.MULTILINE),
    Format.BINARY: re.compile(r'^\s*"sops":', re.MULTILINE),
    Format.DOTENV: re.compile(r"^sops_", re.MULTILINE),
    Format.INI: re.compile(r"^\[sops\]", re.MULTILINE),
}


@dataclass(frozen=True)
class RecipientDrift:
    """An encrypted file wrapped for other age recipients than its creation rule names."""

    path: str
    line: int  # the line of the file's sops metadata
    rule: str  # the `.sops.yaml` line of the rule, e.g. `.sops.yaml:4`
    added: tuple[str, ...]  # named by the rule, missing from the file
    removed: tuple[str, ...]  # in the file, no longer named by the rule
    carried: tuple[str, ...]  # keys other than age (PGP, KMS, Vault), kept as they are

    @property
    def change(self) -> str:
        """`+age1new… -age1old…`, with the carried keys named."""
        parts = [f"+{r}" for r in self.added] + [f"-{r}" for r in self.removed]
        parts += [f"(carried: {c})" for c in self.carried]
        return " ".join(parts)


@dataclass(frozen=True)
class Rewrap:
    """Re-wrapped files, every file that needed it, and why some could not be re-wrapped."""

    files: Mapping[str, bytes]
    drifts: tuple[RecipientDrift, ...]
    failures: Mapping[str, str]  # path → reason, starting with the path


def covered(config: SopsConfig, path: str, recipients: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The age recipients `path` must be wrapped for: `recipients` when given, else its creation rule's."""
    if path == CONFIG_PATH:
        return ()
    rule = config.rule_for(path)
    if rule is None:
        return ()
    return recipients or rule.age


def drift_of(path: str, data: bytes, config: SopsConfig, recipients: tuple[str, ...] = ()) -> RecipientDrift | None:
    """How the file's age recipients differ from the rule's (or `recipients`); None when they match, when no
    rule with age recipients covers it, or when it is not a sops file we can read (other checks report that)."""
    wanted = covered(config, path, recipients)
    if not wanted:
        return None
    fmt = Format.for_path(path)
    try:
        meta = read_metadata(data, fmt, path)
    except GitopsError:
        return None
    if meta is None:
        return None
    present = tuple(s.recipient for s in meta.age)
    added = tuple(r for r in wanted if r not in present)
    removed = tuple(r for r in present if r not in wanted)
    if not added and not removed:
        return None
    rule = config.rule_for(path)
    where = f"{config.source}:{rule.line if rule else 1}" if not recipients else "--age"
    return RecipientDrift(path, _metadata_line(data, fmt), where, added, removed, meta.carried_keys)


def find_drift(
    files: Mapping[str, bytes], config: SopsConfig, recipients: tuple[str, ...] = ()
) -> tuple[RecipientDrift, ...]:
    """Every file of `files` whose recipients differ, by path."""
    found = (drift_of(path, files[path], config, recipients) for path in sorted(files))
    return tuple(d for d in found if d is not None)


def rewrap(
    files: Mapping[str, bytes],
    config: SopsConfig,
    identities: Callable[[], Iterable[str]],
    recipients: tuple[str, ...] = (),
) -> Rewrap:
    """Re-wrap every drifted file of `files` for its rule's recipients (or `recipients`) with updatekeys.

    `identities` is called only when some file needs re-wrapping (finding keys may run a user's key command).
    A file none of them opens, or that fails its checks, is left as it is and listed with the reason.
    """
    drifts = find_drift(files, config, recipients)
    keys = list(identities()) if drifts else []
    rewrapped: dict[str, bytes] = {}
    failures: dict[str, str] = {}
    for drift in drifts:
        wanted = covered(config, drift.path, recipients)
        try:
            rewrapped[drift.path] = updatekeys(files[drift.path], Format.for_path(drift.path), keys, wanted, drift.path)
        except GitopsError as exc:
            failures[drift.path] = str(exc)
    return Rewrap(rewrapped, drifts, failures)


def drift_findings(files: Mapping[str, bytes]) -> set[Finding]:
    """A warning per encrypted file whose recipients differ from the root `.sops.yaml`, at its sops metadata.

    A warning, not an error: the file still decrypts wherever it did, so nothing breaks on deploy. But a key
    that was added cannot open it yet, and a key that was removed still can, which the message says.
    """
    raw = files.get(CONFIG_PATH)
    if raw is None:
        return set()
    try:
        config = parse_config(raw, CONFIG_PATH)
    except InputError as exc:
        located = _LOCATED.match(exc.lines[0])
        line, message = (int(located.group(1)), located.group(2)) if located else (1, exc.lines[0])
        return {Finding(CONFIG_PATH, line, "sops-config", message, "fix the creation rules")}
    return {_finding(d) for d in find_drift(files, config)}


def _finding(drift: RecipientDrift) -> Finding:
    parts = []
    if drift.added:
        parts.append(f"not wrapped for {', '.join(drift.added)}, which cannot decrypt it yet")
    if drift.removed:
        parts.append(
            f"still wrapped for {', '.join(drift.removed)}, which {drift.rule} no longer names: "
            f"{'that key' if len(drift.removed) == 1 else 'those keys'} can still decrypt it"
        )
    hint = "re-wrap it with `gitops-engine seed` or `gitops-engine secrets updatekeys --repo .` (same data key)"
    if drift.removed:
        hint += (
            "; a removed key has held the data key, so if it is no longer trusted also run `gitops-engine secrets "
            "rotate` and change the values (git history keeps the old file)"
        )
    message = f"encrypted for other age recipients than {drift.rule} names: {'; '.join(parts)}"
    return Finding(drift.path, drift.line, STALE_RULE, message, hint, Severity.WARNING)


def _metadata_line(data: bytes, fmt: Format) -> int:
    text = data.decode(errors="replace")
    matches = list(_METADATA_LINE[fmt].finditer(text))
    if not matches:
        return 1
    # JSON puts `sops` last, after any nested key of the same name; the other stores have one
    match = matches[-1] if fmt in (Format.JSON, Format.BINARY) else matches[0]
    return text.count("\n", 0, match.start()) + 1
