"""Reading YAML into sops trees: go-yaml typing of plain scalars, comments kept as items where sops keeps them.

PyYAML (C composer) gives structure, scalar styles and marks; comments are recovered from the text. A comment
on its own line belongs to the innermost open map or list whose items start at or left of the comment's column
(in practice its indentation decides its container) and is placed before the next item; a comment at the end
of a line goes before the item on that line, as sops ≤3.12 does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gitops_engine.core.errors import InputError
from gitops_engine.core.yamlio import MappingNode, ScalarNode, SequenceNode, YamlError, compose
from gitops_engine.core.yamlio import Node as YamlNode
from gitops_engine.secrets.values import Branch, Comment, Item, Node, Scalar, resolve_plain

_DOC_SEPARATOR = re.compile(r"^---(?:[ \t].*)?$")
_COMMENT_LINE = re.compile(r"^([ \t]*)#(.*)$")
_TRAILING = re.compile(r"^[ \t]*:?[ \t]+#(.*)$")
_UNSET = 1 << 30


@dataclass
class _Container:
    open_line: int
    end_line: int
    column: int
    depth: int
    entries: list[tuple[int, object]] = field(default_factory=list)
    is_map: bool = True


class _Reader:
    def __init__(self, lines: list[str], where: str, offset: int) -> None:
        self.lines = lines
        self.where = where
        self.offset = offset
        self.containers: list[_Container] = []
        self.spans: list[tuple[int, int, int]] = []
        self.used_lines: set[int] = set()

    def build(self, node: YamlNode, open_line: int, depth: int) -> object:
        if isinstance(node, MappingNode):
            return self.mapping(node, open_line, depth)
        if isinstance(node, SequenceNode):
            return self.sequence(node, open_line, depth)
        assert isinstance(node, ScalarNode)
        if node.end_mark.line > node.start_mark.line:
            self.spans.append((node.start_mark.line, node.end_mark.line, node.end_mark.column))
        return scalar_of(node)

    def _container(self, node: YamlNode, open_line: int, depth: int, column: int, is_map: bool) -> _Container:
        end = _UNSET if depth == 0 else node.end_mark.line
        box = _Container(open_line, end, column, depth, is_map=is_map)
        if not getattr(node, "flow_style", False):
            self.containers.append(box)
        return box

    def mapping(self, node: MappingNode, open_line: int, depth: int) -> _Container:
        first = node.value[0][0].start_mark.column if node.value else node.start_mark.column
        box = self._container(node, open_line, depth, first, True)
        seen: set[str] = set()
        for key_node, value_node in node.value:
            line = key_node.start_mark.line
            key = _key_of(key_node, seen, self.where, self.offset)
            value = self.build(value_node, line, depth + 1)
            comment_line = value_node.end_mark.line if isinstance(value_node, ScalarNode) else key_node.end_mark.line
            column = value_node.end_mark.column if isinstance(value_node, ScalarNode) else key_node.end_mark.column
            self._trailing(box, comment_line, column, line)
            box.entries.append((line, (key, value)))
        return box

    def sequence(self, node: SequenceNode, open_line: int, depth: int) -> _Container:
        column = node.start_mark.column
        box = self._container(node, open_line, depth, column, False)
        for element in node.value:
            line = element.start_mark.line
            value = self.build(element, line, depth + 1)
            if isinstance(element, ScalarNode):
                self._trailing(box, element.end_mark.line, element.end_mark.column, line)
            box.entries.append((line, value))
        return box

    def _trailing(self, box: _Container, line: int, column: int, item_line: int) -> None:
        if line >= len(self.lines) or line in self.used_lines:
            return
        match = _TRAILING.match(self.lines[line][column:])
        if match:
            self.used_lines.add(line)
            box.entries.append((item_line, Comment(match.group(1))))

    def place_comments(self) -> None:
        for number, text in enumerate(self.lines):
            match = _COMMENT_LINE.match(text)
            if not match or number in self.used_lines or self._inside_scalar(number, len(match.group(1))):
                continue
            column = len(match.group(1))
            open_boxes = [c for c in self.containers if c.open_line < number <= c.end_line and c.column <= column]
            if not open_boxes:
                continue
            box = max(open_boxes, key=lambda c: (c.column, c.depth))
            box.entries.append((number, Comment(match.group(2))))

    def _inside_scalar(self, line: int, column: int) -> bool:
        return any(s < line < e or (line == e and column < end_col) for s, e, end_col in self.spans)


def _key_of(node: YamlNode, seen: set[str], where: str, offset: int) -> str:
    """A map key, refusing complex and duplicate keys as sops does."""
    if not isinstance(node, ScalarNode):
        raise _fail(
            where, offset, node.start_mark.line, "map keys must be plain strings (sops cannot encrypt complex keys)"
        )
    key: str = node.value
    if key in seen:
        raise _fail(
            where, offset, node.start_mark.line, f"duplicate key {key!r} (remove one; sops refuses duplicate keys)"
        )
    seen.add(key)
    return key


def _fail(where: str, offset: int, line: int, message: str) -> InputError:
    return InputError(f"{where}:{line + 1 + offset}: {message}")


def _tree(node: YamlNode, where: str, offset: int) -> Node:
    """The tree of a document without comments: node order is line order, so no placement pass is needed."""
    if isinstance(node, ScalarNode):
        return scalar_of(node)
    if isinstance(node, MappingNode):
        seen: set[str] = set()
        return Branch(tuple((_key_of(k, seen, where, offset), _tree(v, where, offset)) for k, v in node.value))
    return tuple(_tree(element, where, offset) for element in node.value)


def _freeze(value: object) -> Node:
    if not isinstance(value, _Container):
        return value  # type: ignore[return-value]
    # a stable sort keeps a line comment ahead of the item on its line
    ordered = [entry for _, entry in sorted(value.entries, key=lambda e: e[0])]
    if value.is_map:
        items: list[Item] = []
        for entry in ordered:
            if isinstance(entry, Comment):
                items.append(entry)
            else:
                assert isinstance(entry, tuple)
                items.append((str(entry[0]), _freeze(entry[1])))
        return Branch(tuple(items))
    return tuple(e if isinstance(e, Comment) else _freeze(e) for e in ordered)


def _chunks(text: str) -> list[tuple[int, list[str]]]:
    """Documents as (first line index, lines); a chunk without content joins the next one."""
    lines = text.split("\n")
    if not text.startswith("---") and "\n---" not in text:
        return [(0, lines)]
    chunks: list[tuple[int, list[str]]] = []
    start, current = 0, list[str]()
    for index, line in enumerate(lines):
        if _DOC_SEPARATOR.match(line) and any(_has_content(x) for x in current):
            chunks.append((start, current))
            start, current = index, [""]
        elif _DOC_SEPARATOR.match(line):
            current.append("")
        else:
            current.append(line)
    if any(_has_content(x) for x in current):
        chunks.append((start, current))
    return chunks


def _has_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#") and stripped != "..."


def read_documents(text: str, where: str) -> tuple[Branch, ...]:
    """Every document of a YAML stream as a sops tree; bad YAML is an InputError naming file:line."""
    docs: list[Branch] = []
    for offset, lines in _chunks(text):
        try:
            nodes = compose("\n".join(lines))
        except YamlError as exc:
            raise _fail(where, offset, exc.line - 1, f"invalid YAML: {exc.problem}") from exc
        if not nodes or _is_empty(nodes[0]):
            docs.append(Branch())
            continue
        node = nodes[0]
        if not isinstance(node, MappingNode):
            raise _fail(where, offset, node.start_mark.line, "the top level of a sops YAML document must be a map")
        if not any("#" in line for line in lines):
            tree = _tree(node, where, offset)
        else:
            reader = _Reader(lines, where, offset)
            root = reader.mapping(node, -1, 0)
            reader.place_comments()
            tree = _freeze(root)
        assert isinstance(tree, Branch)
        docs.append(tree)
    return tuple(docs)


def scalar_of(node: ScalarNode) -> Scalar:
    """A composed scalar node typed as sops types it."""
    return resolve_plain(node.value) if node.style == "" else node.value


def _is_empty(node: YamlNode) -> bool:
    """An empty document (a `---` line with nothing after it), which sops reads as an empty map."""
    return isinstance(node, ScalarNode) and node.style == "" and node.value == "" and not node.tag
