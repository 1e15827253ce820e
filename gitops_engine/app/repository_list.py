"""The fleet repositories one reconciler serves: a list file, split into shards (one per Indexed Job index).

A list is one repository URL (or path) a line; blank lines and `#` comments are skipped. Shard I of N takes the
repositories at positions I, I+N, I+2N, … of the list, so every repository belongs to exactly one shard and the
shards differ in size by at most one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitops_engine.adapters import fs
from gitops_engine.adapters.targets import Target, parse_target
from gitops_engine.core.errors import InputError
from gitops_engine.spec.reconciler import MAX_REPOSITORIES, MAX_SHARDS

MAX_LIST_BYTES = 1 << 20


@dataclass(frozen=True)
class Shard:
    """Shard `index` (0-based) of `count`."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True)
class Listed:
    """One repository of the list: where it is written and what it names."""

    origin: str
    target: Target


def parse_shard(text: str, origin: str = "--shard") -> Shard:
    """`I/N` with 0 <= I < N <= MAX_SHARDS."""
    index, slash, count = text.strip().partition("/")
    if not (slash and index.isdigit() and count.isdigit()):
        raise InputError(f"{origin} {text!r}: write INDEX/COUNT, e.g. 0/3 (the index is 0-based)")
    shard = Shard(int(index), int(count))
    if not 1 <= shard.count <= MAX_SHARDS or shard.index >= shard.count:
        raise InputError(f"{origin} {text!r}: the count is 1 to {MAX_SHARDS} and the index below it (0-based)")
    return shard


def parse_repository_list(data: bytes, filename: str) -> list[Listed]:
    """The repositories of a list file, each checked as `--repo` would be (errors name file:line)."""
    if len(data) > MAX_LIST_BYTES:
        raise InputError(f"{filename}:1: {len(data)} bytes; a repository list is at most {MAX_LIST_BYTES}")
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        raise InputError(f"{filename}:1: not UTF-8 text") from exc
    listed: list[Listed] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        origin = f"{filename}:{number}"
        if any(c.isspace() for c in entry):
            problems.append(f"{origin}: one repository a line (found {entry.split()[1]!r} after the first)")
        elif entry in seen:
            problems.append(f"{origin}: listed already on line {seen[entry]}")
        else:
            try:
                listed.append(Listed(origin, parse_target(entry, origin)))
            except InputError as exc:
                problems.extend(exc.lines)
            seen[entry] = number
    if len(listed) > MAX_REPOSITORIES:
        problems.append(f"{filename}:1: {len(listed)} repositories; at most {MAX_REPOSITORIES} (split the list)")
    if problems:
        raise InputError(problems)
    if not listed:
        raise InputError(f"{filename}:1: the list names no repository")
    return listed


def read_repository_list(path: Path) -> list[Listed]:
    """The list in the file at `path`."""
    return parse_repository_list(fs.read_bytes(path, "repository list"), str(path))


def shard_of(listed: list[Listed], shard: Shard) -> list[Listed]:
    """The repositories shard `shard` reconciles."""
    return listed[shard.index :: shard.count]
