"""A repository tree as a value: POSIX path → file bytes."""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# an empty, "." or ".." component anywhere (which also catches "", a leading or trailing "/" and "//")
_UNCLEAN = re.compile(r"(?:^|/)\.{0,2}(?:/|\Z)")


def _check_path(path: str) -> None:
    if _UNCLEAN.search(path):
        raise ValueError(f"not a clean relative POSIX path: {path!r}")


@dataclass(frozen=True)
class Tree(Mapping[str, bytes]):
    """An immutable mapping of repository-relative POSIX paths to file contents."""

    files: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        files = self.files
        for path in files:
            _check_path(path)
        object.__setattr__(self, "files", MappingProxyType({path: files[path] for path in sorted(files)}))

    @classmethod
    def of(cls, files: Mapping[str, bytes]) -> Tree:
        """Build a tree from any mapping."""
        return cls(files=files)

    def __getitem__(self, path: str) -> bytes:
        return self.files[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def __hash__(self) -> int:
        return hash(tuple(self.files.items()))

    def merged(self, other: Mapping[str, bytes]) -> Tree:
        """A new tree with `other`'s files added or replacing ours."""
        return Tree({**self.files, **other})

    def without(self, paths: set[str] | frozenset[str]) -> Tree:
        """A new tree without the given paths."""
        return Tree({p: b for p, b in self.files.items() if p not in paths})

    def under(self, prefix: str) -> Tree:
        """The files below directory `prefix`, paths kept as they are."""
        base = prefix.rstrip("/") + "/"
        return Tree({p: b for p, b in self.files.items() if p.startswith(base)})


@dataclass(frozen=True)
class TreeChange:
    """What turning one tree into another does, path by path."""

    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]

    @property
    def empty(self) -> bool:
        """True when the trees are identical."""
        return not (self.added or self.changed or self.removed)


def compare_trees(old: Mapping[str, Hashable], new: Mapping[str, Hashable]) -> TreeChange:
    """Paths added, changed and removed going from `old` to `new` (contents or blob ids), each sorted."""
    added = sorted(p for p in new if p not in old)
    removed = sorted(p for p in old if p not in new)
    changed = sorted(p for p in new if p in old and old[p] != new[p])
    return TreeChange(tuple(added), tuple(changed), tuple(removed))
