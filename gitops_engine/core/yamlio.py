"""YAML text in and out: stable output for rendered files, and loading that remembers line numbers.

Rendered files are written by yamlemit (fast, deterministic for a given input order).
Loading for validation keeps a map from each key path to its source line, so every error can name
`file:line`; duplicate keys are reported rather than silently overwritten.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml

from gitops_engine.core.yamlemit import emit

_SAFE_RESOLVER = yaml.resolver.Resolver()


@lru_cache(maxsize=65536)
def _implicit_tag(value: str, implicit: tuple[bool, bool]) -> str:
    # a pure function of the text for the safe loader (no path resolvers), and fleets repeat their scalars
    tag: str = _SAFE_RESOLVER.resolve(yaml.ScalarNode, value, implicit)  # type: ignore[no-untyped-call]
    return tag


class _Loader(yaml.CSafeLoader):
    """The C loader (required: it is what makes reads fast enough for big fleets) with the tag of each plain
    scalar's text memoised: the C composer asks PyYAML's Python resolver once per scalar, its slowest step."""

    def resolve(self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str:
        """The tag of a node, as PyYAML's resolver gives it."""
        if kind is yaml.ScalarNode and implicit[0]:
            return _implicit_tag(value, implicit)
        tag: str = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        return tag


PathKey = tuple[str | int, ...]
_STR_TAG = "tag:yaml.org,2002:str"


def dump(doc: Any) -> str:
    """One YAML document as text, keys in insertion order, block style (see yamlemit)."""
    return emit(doc)


def dump_documents(docs: Sequence[Any], header: str | None = None) -> bytes:
    """Several documents separated by `---`, preceded by an optional `# header` comment block."""
    parts: list[str] = []
    if header:
        parts.extend(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    for index, doc in enumerate(docs):
        if index or header:
            parts.append("---\n")
        parts.append(dump(doc))
    return "".join(parts).encode()


class RawComposer(_Loader):
    """The C composer without implicit tag resolution, for callers that read scalars as written (the bot) or
    type them themselves (sops): PyYAML's regex resolver was most of their compose time."""

    def resolve(self, kind: object, value: object, implicit: object) -> str:
        """One constant tag: only explicit tags (`!!binary`) reach the node."""
        return ""


def load_fast(text: str | bytes) -> list[Any]:
    """All documents of a stream with the C loader, no line tracking (the fast read path)."""
    return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]


@dataclass(frozen=True)
class LocatedDocument:
    """A parsed YAML document with the source line of every key path (1-based)."""

    data: Any
    lines: Mapping[PathKey, int]
    start_line: int
    duplicate_keys: tuple[tuple[PathKey, int], ...] = field(default=())

    def line_of(self, path: PathKey) -> int:
        """Line of `path`, or of its nearest ancestor that was seen, or the document start."""
        probe = tuple(path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.start_line


class YamlSyntaxError(ValueError):
    """Raised with the 1-based line of the problem."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(problem)
        self.line = line
        self.problem = problem


def load_located(text: str | bytes) -> list[LocatedDocument]:
    """Parse every document keeping key lines; raises YamlSyntaxError naming the line."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlSyntaxError(line, str(exc.problem or exc.context or "invalid YAML")) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(1, str(exc)) from exc
    documents: list[LocatedDocument] = []
    for node in nodes:
        builder = _Builder()
        data = builder.build(node, ())
        if data is None:
            continue
        documents.append(
            LocatedDocument(
                data=data,
                lines=builder.lines,
                start_line=node.start_mark.line + 1,
                duplicate_keys=tuple(builder.duplicates),
            )
        )
    return documents


class _Builder:
    def __init__(self) -> None:
        self.lines: dict[PathKey, int] = {}
        self.duplicates: list[tuple[PathKey, int]] = []
        self._scalars = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in _merged_pairs(node):
                key = self.build(key_node, path)
                key_path = (*path, key if isinstance(key, str | int) else str(key))
                line = key_node.start_mark.line + 1
                if key in result:
                    self.duplicates.append((key_path, line))
                self.lines[key_path] = line
                result[key] = self.build(value_node, key_path)
            return result
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.lines[(*path, index)] = item.start_mark.line + 1
                items.append(self.build(item, (*path, index)))
            return items
        if node.tag == _STR_TAG:
            return node.value  # most scalars; the constructor's generic dispatch is the slow part of a load
        return self._scalars.construct_object(node, deep=True)


def _merged_pairs(node: yaml.MappingNode) -> Iterator[tuple[yaml.Node, yaml.Node]]:
    """Mapping pairs with `<<` merge keys expanded (explicit keys win, as YAML 1.1 says)."""
    explicit = [(k, v) for k, v in node.value if k.tag != "tag:yaml.org,2002:merge"]
    merged: list[tuple[yaml.Node, yaml.Node]] = []
    for key_node, value_node in node.value:
        if key_node.tag != "tag:yaml.org,2002:merge":
            continue
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for source in sources:
            if isinstance(source, yaml.MappingNode):
                merged.extend(_merged_pairs(source))
    explicit_keys = {k.value for k, _ in explicit if isinstance(k, yaml.ScalarNode)}
    yield from ((k, v) for k, v in merged if not (isinstance(k, yaml.ScalarNode) and k.value in explicit_keys))
    yield from explicit
