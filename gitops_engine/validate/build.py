"""What discovery asks of a kustomize builder, and what it gets back (the adapter implements it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BuiltObject:
    """One object `kustomize build` printed, and the repository file it came from (None if generated)."""

    body: Mapping[str, Any]
    origin: str | None


@dataclass(frozen=True)
class BuildOutput:
    """The result of building one repository directory: its objects or kustomize's error."""

    path: str
    objects: tuple[BuiltObject, ...] = ()
    error: str | None = None
    files: tuple[str, ...] = ()


# Builds a batch of repository-relative directories ('' is the root) and yields each result as soon as it is
# ready, in no particular order, so discovery can check one build's objects while kustomize runs the next.
Builder = Callable[[Sequence[str]], Iterator[BuildOutput]]
