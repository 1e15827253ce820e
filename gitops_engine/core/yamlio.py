"""YAML in and out: the one place the engine parses or writes YAML (sops files build their own typing and layout
on `compose`).

Reading, with PyYAML's YAML 1.1 meaning throughout:
- `load`: the data of every document. yaml_rs parses many times faster than PyYAML's C loader (which builds every
  value in Python), so a text is read with it whenever it cannot disagree with PyYAML: no anchors, tags or merge
  keys, and every plain token that could resolve to a non-string read the same by both (learnt once per distinct
  token). Everything else, and every error, goes through PyYAML's C loader.
- `load_located`: the data plus the line of every key path and the keys written twice, for `file:line` errors.
- `compose`: nodes with scalars as written (no implicit typing), for byte-exact edits and the sops reader.
Writing: `emit` (one document) and `emit_documents` (a stream with a header comment), see below.

Every read is bounded, because repositories, specs and sops files come from whoever can commit. PyYAML itself
shares an aliased node rather than copying it; the cost is in whatever walks the result, which meets the node
once per alias. So before anyone walks it, a text must be at most MAX_BYTES long, nested at most MAX_DEPTH
levels (the deepest Kubernetes objects we know, Cluster API's CRDs, reach 31), and repeat at most
MAX_ALIAS_EXPANSION nodes and scalar characters through aliases (a 1 KiB block of defaults may be reused about
two hundred times; a "billion laughs" file is refused after reading it once). A text over a limit is a YamlError
naming the line, like a syntax error.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar, NamedTuple

import yaml
import yaml_rs

from gitops_engine.core.shown import shown

MAX_BYTES = 32 * 1024 * 1024
MAX_DEPTH = 100
MAX_ALIAS_EXPANSION = 250_000

Node = yaml.Node
MappingNode = yaml.MappingNode
SequenceNode = yaml.SequenceNode
ScalarNode = yaml.ScalarNode
PathKey = tuple[str | int, ...]

_SAFE_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# yaml_rs replays aliases as copies; texts with anchors never reach it, this only bounds a miss of that test
_RS_LIMITS = yaml_rs.AliasLimits(max_total_replayed_events=2 * MAX_ALIAS_EXPANSION)


_TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep (flatten it)"
_TOO_REPETITIVE = (
    f"aliases repeat more than {MAX_ALIAS_EXPANSION:,} nodes and characters (write the values out instead)"
)


class YamlError(ValueError):
    """A text that is not YAML, or is over a limit; `line` is 1-based."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(problem)
        self.line = line
        self.problem = problem


@lru_cache(maxsize=65536)
def _implicit_tag(value: str, implicit: tuple[bool, bool]) -> str:
    # a pure function of the text for the safe loader (no path resolvers), and fleets repeat their scalars
    tag: str = _SAFE_RESOLVER.resolve(yaml.ScalarNode, value, implicit)  # type: ignore[no-untyped-call]
    return tag


class _TypedComposer(yaml.CSafeLoader):
    """The C composer with the tag of each plain scalar's text memoised: the C composer asks PyYAML's Python
    resolver once per scalar, its slowest step."""

    def resolve(self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str:
        """The tag of a node, as PyYAML's resolver gives it."""
        if kind is yaml.ScalarNode and implicit[0]:
            return _implicit_tag(value, implicit)
        tag: str = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        return tag


class _RawComposer(yaml.CSafeLoader):
    """The C composer without implicit tag resolution: only explicit tags (`!!binary`) reach the node."""

    def resolve(self, kind: object, value: object, implicit: object) -> str:
        """One constant tag."""
        return ""


def compose(text: str | bytes) -> list[Node]:
    """Every document's root node in order (an empty document is an empty plain scalar), scalars as written."""
    return _compose(text, _RawComposer)


def load(text: str | bytes, *, yaml12_types: bool = False) -> list[Any]:
    """The data of every non-empty document, as PyYAML's safe loader reads it.

    `yaml12_types=True` lets yaml_rs type plain scalars by YAML 1.2's core schema instead (`on` stays a string,
    `0777` is a number), for callers that read values as text: Helm indexes, which PyYAML takes seconds to load.
    """
    fast = _load_with_yaml_rs(text, yaml12_types)
    if fast is not None:
        return fast
    constructor = _Constructor()
    documents = [constructor.document(node) for node in _compose(text, _TypedComposer)]
    return [doc for doc in documents if doc is not None]


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


def load_located(text: str | bytes) -> list[LocatedDocument]:
    """Every non-empty document with the line of each key path; raises YamlError naming the line."""
    documents: list[LocatedDocument] = []
    for node in _compose(text, _TypedComposer):
        builder = _Builder()
        data = builder.build(node, ())
        if data is not None:
            documents.append(LocatedDocument(data, builder.lines, node.start_mark.line + 1, tuple(builder.duplicates)))
    return documents


def entry(node: Node | None, key: str) -> Node | None:
    """The value of `key` in a mapping node (the last one written, as `load` reads it), or None."""
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in reversed(node.value) if isinstance(k, yaml.ScalarNode) and k.value == key), None)


def dig(node: Node | None, keys: Sequence[str]) -> Node | None:
    """The node at the mapping path `keys` below `node`, or None."""
    for key in keys:
        node = entry(node, key)
    return node


class Scalar(NamedTuple):
    """A scalar as written: its value, byte range (quotes included), 1-based line and quote style.

    A named tuple rather than a dataclass: a fleet scan makes one per editable field.
    """

    value: str
    start: int
    end: int
    line: int
    style: str


class ByteOffsets:
    """Character index (PyYAML's marks) → byte offset; the identity for ASCII files, which most manifests are."""

    def __init__(self, data: bytes) -> None:
        self._ascii = data.isascii()
        self._text = "" if self._ascii else data.decode("utf-8")

    def of(self, index: int) -> int:
        """The byte offset of character `index`."""
        if self._ascii:
            return index
        return len(self._text[:index].encode("utf-8"))

    def scalar(self, node: ScalarNode) -> Scalar:
        """The scalar `node` with its byte range."""
        start, end = self.of(node.start_mark.index), self.of(node.end_mark.index)
        return Scalar(node.value, start, end, node.start_mark.line + 1, node.style or "")


def scalar_at(data: bytes, doc: int, keys: Sequence[str]) -> Scalar | None:
    """The scalar at the mapping path `keys` of document `doc` (None when there is none)."""
    roots = compose(data)
    node = dig(roots[doc], keys) if doc < len(roots) else None
    return ByteOffsets(data).scalar(node) if isinstance(node, ScalarNode) else None


# Plain scalars that YAML would read as something other than the same string need quotes.
_PLAIN_SAFE = re.compile(r"^[A-Za-z0-9_.${}:=<>~^*|/ -]+$")


def respelled(raw: str, style: str, value: str) -> str:
    """`value` written in the place of the scalar `raw` (quote `style`), keeping its quoting; ValueError when it
    cannot be kept (a block scalar, a quote inside the value)."""
    if style in ("'", '"'):
        if raw[0] != style or raw[-1] != style or any(ch in value for ch in "'\"\\"):
            raise ValueError(f"cannot re-quote {raw!r} safely")
        return f"{style}{value}{style}"
    if style:
        raise ValueError(f"block scalars are not edited ({raw!r})")
    if _PLAIN_SAFE.match(value) and _reads_as_same_string(value):
        return value
    # a plain scalar that would change type (1.10 → float) or meaning gets the quotes it needs
    return f'"{value}"'


def _reads_as_same_string(value: str) -> bool:
    try:
        return load(f"k: {value}\n") == [{"k": value}]
    except YamlError:
        return False


def replace_scalars(data: bytes, edits: Sequence[tuple[Scalar, str]]) -> bytes:
    """`data` with each scalar's bytes replaced by its new value, spelled as respelled() spells it; nothing else
    changes (the last edit first, so earlier offsets stay valid)."""
    result = data
    for scalar, value in sorted(set(edits), key=lambda e: e[0].start, reverse=True):
        raw = result[scalar.start : scalar.end].decode("utf-8")
        result = result[: scalar.start] + respelled(raw, scalar.style, value).encode("utf-8") + result[scalar.end :]
    return result


def _compose(text: str | bytes, composer: type[yaml.CSafeLoader]) -> list[Node]:
    if len(text) > MAX_BYTES:
        raise YamlError(1, f"the text is {len(text):,} bytes; at most {MAX_BYTES:,} are read (split it)")
    loader = composer(text)
    nodes: list[Node] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            assert node is not None  # check_node said there is one
            nodes.append(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = str(exc.problem or exc.context or "invalid YAML")
        if problem == "exceeded maximum nesting depth":  # libyaml's own stop, at 1,000 levels
            problem = _TOO_DEEP
        raise YamlError(mark.line + 1 if mark else 1, problem) from exc
    except yaml.reader.ReaderError as exc:
        raise _unreadable_character(text, exc) from exc
    except yaml.YAMLError as exc:
        raise YamlError(1, str(exc)) from exc
    finally:
        loader.dispose()
    if _may_exceed_limits(text):
        if ("&" in text) if isinstance(text, str) else (b"&" in text):
            _check_limits(nodes)
        else:
            _check_depth(nodes)  # no anchor: no alias, so a tree
    return nodes


def _unreadable_character(text: str | bytes, exc: yaml.reader.ReaderError) -> YamlError:
    """A byte that is not UTF-8, or a control character YAML does not allow, at its line (libyaml counts the
    position in bytes of the UTF-8 text)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    line = data.count(b"\n", 0, exc.position) + 1
    if "UTF-8" in exc.reason:
        return YamlError(line, f"not UTF-8 text: {exc.reason} (save the file as UTF-8)")
    return YamlError(
        line,
        f"control character U+{exc.character:04X} is not allowed (remove it, or write it escaped in double quotes)",
    )


_COLLECTION_TAGS = frozenset(f"tag:yaml.org,2002:{kind}" for kind in ("map", "seq", "set", "omap", "pairs"))
_WHAT = {
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:timestamp": "a date",
}


def _tag_text(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


class _Constructor(yaml.constructor.SafeConstructor):
    """PyYAML's safe constructor, with every value it cannot build a YamlError at the value's line: an unknown tag,
    a date that does not exist, a number of more digits than Python converts."""

    # PyYAML's resolver tags a plain `=` as !!value, which its safe constructor cannot build: it is text
    yaml_constructors: ClassVar[dict[Any, Any]] = {
        **yaml.constructor.SafeConstructor.yaml_constructors,
        "tag:yaml.org,2002:value": yaml.constructor.SafeConstructor.construct_yaml_str,
    }

    def document(self, node: Node) -> Any:
        """The data of one document."""
        try:
            return self.construct_document(node)
        except yaml.MarkedYAMLError as exc:  # a tag's value of the wrong shape (`!!omap` on a scalar)
            mark = exc.problem_mark or exc.context_mark
            raise YamlError(mark.line + 1 if mark else _line(node), str(exc.problem or exc.context)) from exc

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        """The value of `node`."""
        if node.tag not in self.yaml_constructors:  # `!!python/object` and the like: never built
            raise YamlError(_line(node), f"unknown tag {_tag_text(node.tag)} (remove it)")
        try:
            value = super().construct_object(node, deep)
        except YamlError:
            raise
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise YamlError(mark.line + 1 if mark else _line(node), str(exc.problem or exc.context)) from exc
        except (ValueError, OverflowError) as exc:
            what = _WHAT.get(node.tag, _tag_text(node.tag))
            reason = _TOO_MANY_DIGITS if "digits" in str(exc) else str(exc)
            raise _unreadable_value(node, what, reason) from exc
        # an integer written in hexadecimal or octal is not held to Python's digit limit, but no one could print it
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _DIGIT_LIMIT:
            raise _unreadable_value(node, "a number", _TOO_MANY_DIGITS)
        return value


# Python converts at most this many digits between text and int
_TOO_MANY_DIGITS = "it has more than 4,300 digits"
_DIGIT_LIMIT = 10**4300


def _unreadable_value(node: Node, what: str, reason: str) -> YamlError:
    value = shown(str(node.value), 40)
    return YamlError(_line(node), f"{value} cannot be read as {what}: {reason} (quote it to keep it text)")


# A text whose layout alone proves it within MAX_DEPTH, and with no anchor (so no alias), needs no walk. A block
# collection inside another is indented further, or opens on its parent's line after `- `, `? ` or `: ` (an
# indentless sequence keeps its key's column, but its items do not), so block nesting is at most twice the longest
# run of spaces and those indicators that starts a line; flow nesting at most the number of `[` and `{`.
_PREFIX = r"^(?:[ \t]|[-?:](?=[ \t]))"
_LONG_PREFIX = re.compile(rf"{_PREFIX}{{25}}", re.MULTILINE)  # under 25: at most 50 block levels
_FLOW_OPENERS = MAX_DEPTH - 50  # and the rest flow levels
# yaml_rs recurses on the machine stack and crashes the process some thousands of levels down; texts that could
# nest that deep go to PyYAML, whose parser stops at 1,000 levels
_VERY_LONG_PREFIX = re.compile(rf"{_PREFIX}{{500}}", re.MULTILINE)


def _provably_shallow(text: str) -> bool:
    return text.count("[") + text.count("{") <= _FLOW_OPENERS and _LONG_PREFIX.search(text) is None


_LONG_PREFIX_BYTES = re.compile(_LONG_PREFIX.pattern.encode(), re.MULTILINE)


def _may_exceed_limits(text: str | bytes) -> bool:
    if isinstance(text, str):
        return "&" in text or not _provably_shallow(text)
    # read as bytes, without decoding: a NUL means UTF-16 or UTF-32, whose layout the byte patterns cannot see
    return (
        b"&" in text
        or b"\0" in text
        or text.count(b"[") + text.count(b"{") > _FLOW_OPENERS
        or _LONG_PREFIX_BYTES.search(text) is not None
    )


def _check_depth(roots: list[Node]) -> None:
    """Refuse nesting deeper than MAX_DEPTH in a tree (nodes without aliases): one look at each collection."""
    stack = [(root, 1) for root in roots if not isinstance(root, ScalarNode)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise YamlError(_line(node), _TOO_DEEP)
        stack.extend((child, depth + 1) for child in _children(node) if not isinstance(child, ScalarNode))


def _check_limits(roots: list[Node]) -> None:
    """Refuse recursive aliases, nesting deeper than MAX_DEPTH and more than MAX_ALIAS_EXPANSION repeated.

    One pass over the distinct nodes (an aliased node is visited once and its expanded size reused), so the
    check itself costs the same for a bomb as for a plain file.
    """
    sizes: dict[int, int] = {}
    heights: dict[int, int] = {}
    repeated = 0
    for root in roots:
        open_nodes: set[int] = set()
        stack: list[tuple[Node, Node | None, bool]] = [(root, None, False)]
        while stack:
            node, parent, children_done = stack.pop()
            key = id(node)
            if children_done:
                open_nodes.discard(key)
                children = _children(node)
                height = max((heights[id(child)] for child in children), default=0) + (not isinstance(node, ScalarNode))
                if height > MAX_DEPTH:
                    raise YamlError(_line(node), _TOO_DEEP)
                heights[key] = height
                weight = 1 + (len(node.value) if isinstance(node, yaml.ScalarNode) else 0)
                sizes[key] = min(weight + sum(sizes[id(child)] for child in children), MAX_ALIAS_EXPANSION + 1)
                continue
            if key in sizes:  # met again: an alias, which repeats all of the node
                repeated += sizes[key]
                if repeated > MAX_ALIAS_EXPANSION:
                    raise YamlError(_line(parent or node), _TOO_REPETITIVE)
                continue
            if key in open_nodes:
                raise YamlError(_line(parent or node), "an alias refers to a node that contains it (write it out)")
            open_nodes.add(key)
            stack.append((node, parent, True))
            stack.extend((child, node, False) for child in reversed(_children(node)))


def _children(node: Node) -> list[Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _line(node: Node) -> int:
    # nodes made by hand (the token check in _learn) have no mark
    return int(node.start_mark.line) + 1 if node.start_mark is not None else 1


# Tokens that might not be strings: starting like a number, or a YAML 1.1 bool/null word. Bounded by what may
# surround a plain scalar, so quoted text ("0777") is not a token. Over-matching only costs time.
_TOKEN = re.compile(r"(?<![^\s\[{,])([-+]?[.0-9][0-9A-Za-z_.:+-]*(?<!:)|[yYnNoO~][A-Za-z]{0,2})(?![^\s,\]}:]|:\S)")
# A tag (`!!binary`, `!custom`) or an anchor starts a node only after one of these (or at the very start)
_MAY_PRECEDE_NODE = frozenset(" \t\r\n[{,:-")
_DOCUMENT_START = re.compile(r"^---(?=[ \t\r\n]|\Z)", re.MULTILINE)
_CONTENT_LINE = re.compile(r"^[ \t]*[^ \t\r\n#]", re.MULTILINE)
# what each token means to both parsers, learnt once per process (fleets repeat their tokens)
_AGREEMENT: dict[str, bool] = {}


# The characters YAML does not allow in a stream (PyYAML's reader list): C0 controls but tab and line breaks, DEL,
# C1 controls but NEL, surrogates and the two non-characters
_NOT_ALLOWED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
_ALLOWED_ASCII = bytes([0x09, 0x0A, 0x0D, *range(0x20, 0x7F)])


def _has_control_character(source: str) -> bool:
    if source.isascii():  # most texts: deleting the allowed bytes is some ten times faster than the regex
        return bool(source.encode("ascii").translate(None, _ALLOWED_ASCII))
    return _NOT_ALLOWED.search(source) is not None


def _has_tag_or_anchor(source: str) -> bool:
    """True unless every `!`/`&` that looks like a node start is text (inside a quoted or block scalar, a
    comment): Helm indexes quote Markdown such as `[!NOTE]` over several lines, which alone sent grafana's 4 MB
    index to PyYAML (5 s instead of 0.3 s). Past a few dozen look-alikes the answer is yes: over-matching only
    costs time."""
    count = 0
    for char in "!&":
        at = source.find(char)
        while at >= 0:
            if at == 0 or source[at - 1] in _MAY_PRECEDE_NODE:
                count += 1
                if count > _MAX_LOOKALIKES or _starts_node(source, at):
                    return True
            at = source.find(char, at + 1)
    return False


_MAX_LOOKALIKES = 64
_SCANNER = yaml.CSafeLoader
_MAX_CONTEXT_LINES = 200
_MAX_CONTEXT_CHARS = 64 * 1024


def _starts_node(source: str, pos: int) -> bool:
    """Whether PyYAML's scanner reads the `!`/`&` at `pos` as a tag or an anchor. It scans from the nearest less
    indented line above (where a scalar holding `pos` began: continuation lines are indented deeper) to the end of
    pos's line; when that context is out of bounds or does not decide, the answer is yes."""
    line_start = source.rfind("\n", 0, pos) + 1
    indent = _indent(source, line_start)
    start = line_start
    for _ in range(_MAX_CONTEXT_LINES):
        if start == 0 or pos - start > _MAX_CONTEXT_CHARS:
            break
        start = source.rfind("\n", 0, start - 1) + 1
        if _indent(source, start) < indent:
            break
    else:
        return True
    if pos - start > _MAX_CONTEXT_CHARS:
        return True
    end = source.find("\n", pos)
    context = source[start : end if end >= 0 else len(source)]
    offset = pos - start
    try:
        for token in yaml.scan(context, Loader=_SCANNER):
            if token.start_mark.index >= offset:
                return token.start_mark.index == offset and isinstance(token, (yaml.TagToken, yaml.AnchorToken))
    except yaml.YAMLError as exc:
        # a quoted scalar begun before pos and still open at the end of its line holds it
        mark = getattr(exc, "context_mark", None)
        return not (mark is not None and mark.index < offset and "quoted scalar" in str(exc))
    return False


def _indent(source: str, line_start: int) -> int:
    end = line_start
    while end < len(source) and source[end] == " ":
        end += 1
    return end - line_start


def _uses_what_yaml_rs_lacks(source: str) -> bool:
    """Merge keys, tags, anchors, directives, document ends, a byte order mark (yaml_rs keeps it in the first key)
    or a character YAML does not allow (yaml_rs reads them, or stops at a NUL; PyYAML refuses them at their line);
    substring tests first, the regexes are slower."""
    return (
        "<<" in source
        or _has_control_character(source)
        or source.startswith("\ufeff")
        or (("!" in source or "&" in source) and _has_tag_or_anchor(source))
        or source.startswith(("%", "..."))
        or "\n%" in source
        or "\n..." in source
    )


def _load_with_yaml_rs(text: str | bytes, yaml12_types: bool) -> list[Any] | None:
    """The documents as yaml_rs reads them, or None when PyYAML must read the text (or word its error)."""
    if len(text) > MAX_BYTES:
        return None
    try:
        source = text.decode("utf-8") if isinstance(text, bytes) else text
    except UnicodeDecodeError:
        return None  # PyYAML also reads UTF-16, and says why it cannot read the rest
    shallow = _provably_shallow(source)
    if (
        _uses_what_yaml_rs_lacks(source)
        or (not shallow and _VERY_LONG_PREFIX.search(source))
        or not (yaml12_types or _tokens_agree(set(_TOKEN.findall(source))))
    ):
        return None
    try:
        loaded = yaml_rs.loads(
            source,
            parse_datetime=False,
            duplicate_key_policy=yaml_rs.DuplicateKeyPolicy.LastWins,
            alias_limits=_RS_LIMITS,
        )
    except (yaml_rs.YAMLDecodeError, ValueError):
        return None
    documents: list[Any] = [loaded]
    if source.startswith("---") or "\n---" in source:
        # yaml_rs answers one document as itself and several as a list
        starts = [match.start() for match in _DOCUMENT_START.finditer(source)]
        count = len(starts) + (_CONTENT_LINE.search(source, 0, starts[0] if starts else len(source)) is not None)
        if count > 1:
            if not isinstance(loaded, list) or len(loaded) != count:
                return None
            documents = loaded
    if not shallow and any(_depth(doc) > MAX_DEPTH for doc in documents):
        return None  # PyYAML reads it again and names the line
    return [doc for doc in documents if doc is not None]


def _depth(root: Any) -> int:
    deepest = 0
    stack = [(root, 1)]
    while stack:
        value, depth = stack.pop()
        kind = type(value)
        if kind is dict or kind is list:
            deepest = max(deepest, depth)
            items = value.values() if kind is dict else value
            stack.extend((item, depth + 1) for item in items if type(item) is dict or type(item) is list)
    return deepest


def _tokens_agree(tokens: set[str]) -> bool:
    """True when both parsers read every token as the same value of the same type."""
    unknown = [token for token in tokens if token not in _AGREEMENT]
    if unknown:
        _learn(unknown)
    return all(_AGREEMENT[token] for token in tokens)


def _learn(tokens: list[str]) -> None:
    """Read the new tokens with yaml_rs in one list and with PyYAML's resolver and constructor one by one."""
    try:
        theirs = yaml_rs.loads("".join(f"- {token}\n" for token in tokens), parse_datetime=False)
    except (yaml_rs.YAMLDecodeError, ValueError):
        theirs = None
    if not isinstance(theirs, list) or len(theirs) != len(tokens):
        _AGREEMENT.update((token, False) for token in tokens)  # one odd token spoils the list: PyYAML reads it
        return
    constructor = _Constructor()
    for token, their in zip(tokens, theirs, strict=True):
        try:
            ours = constructor.construct_object(yaml.ScalarNode(_implicit_tag(token, (True, False)), token))
        except (yaml.YAMLError, ValueError):
            _AGREEMENT[token] = False
            continue
        _AGREEMENT[token] = type(ours) is type(their) and (ours == their or ours != ours)


class _Builder:
    def __init__(self) -> None:
        self.lines: dict[PathKey, int] = {}
        self.duplicates: list[tuple[PathKey, int]] = []
        self._scalars = _Constructor()

    def build(self, node: Node, path: PathKey) -> Any:
        if not isinstance(node, yaml.ScalarNode) and node.tag not in _COLLECTION_TAGS:
            raise YamlError(_line(node), f"unknown tag {_tag_text(node.tag)} (remove it)")
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in _merged_pairs(node):
                key = self.build(key_node, path)
                if isinstance(key, dict | list):
                    raise YamlError(_line(key_node), "a mapping or a list is used as a key (write a plain key)")
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


def _merged_pairs(node: MappingNode) -> Iterator[tuple[Node, Node]]:
    """Mapping pairs with `<<` merge keys expanded (explicit keys win, as YAML 1.1 says)."""
    explicit = [(k, v) for k, v in node.value if k.tag != _MERGE_TAG]
    merged: list[tuple[Node, Node]] = []
    for key_node, value_node in node.value:
        if key_node.tag != _MERGE_TAG:
            continue
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for source in sources:
            if isinstance(source, yaml.MappingNode):
                merged.extend(_merged_pairs(source))
    explicit_keys = {k.value for k, _ in explicit if isinstance(k, yaml.ScalarNode)}
    yield from ((k, v) for k, v in merged if not (isinstance(k, yaml.ScalarNode) and k.value in explicit_keys))
    yield from explicit


# Writing. PyYAML's representer is pure Python and slow on large fleets; rendered objects only use plain
# data (dicts, lists, str, int, float, bool, None), so they are written directly in PyYAML's block style. Strings
# are written plain when YAML would read them back as the same string, as literal blocks when they span lines, and
# double-quoted (JSON escapes, which YAML accepts) otherwise.
_PLAIN = re.compile(r"^[^\s\-?:,\[\]{}#&*!|>'\"%@`][^\t\n\r\x85\u2028\u2029]*\Z")
# Characters YAML may not carry raw (PyYAML's reader refuses them) or would read as line breaks.
_NEEDS_ESCAPE = re.compile("[^\x09\x0a\x0d\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_PATH_LIKE = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./-]*\Z")
_BLOCK_SAFE = re.compile(r"^[^\t\r\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u0085\u2028\u2029]*\Z")


@lru_cache(maxsize=65536)
def scalar_text(value: str) -> str:
    """How `value` is written as a single-line scalar (plain when unambiguous, else double-quoted)."""
    if "/" in value and _PATH_LIKE.match(value):
        return value  # most strings in a fleet are paths and URLs; see the resolver note below
    if (
        _PLAIN.match(value)
        and not value.endswith((" ", ":"))
        and ": " not in value
        and " #" not in value
        # no YAML 1.1 implicit type (bool, null, int, float, timestamp, merge, value) contains a "/", so paths
        # and URLs skip the resolver, the slowest part of this function
        and ("/" in value or _SAFE_RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == "tag:yaml.org,2002:str")  # type: ignore[no-untyped-call]
    ):
        return value
    return _NEEDS_ESCAPE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False))


def _block(value: str, indent: str) -> str | None:
    """A literal block for a multi-line string, or None when one would not read back identically."""
    if _NEEDS_ESCAPE.search(value) or not _BLOCK_SAFE.match(value) or value[:1] in (" ", "\n"):
        return None
    lines = value.split("\n")
    if any(line != line.rstrip(" ") for line in lines):
        return None
    body = value.rstrip("\n")
    trailing = len(value) - len(body)
    chomp = "-" if trailing == 0 else ("" if trailing == 1 else "+")
    if chomp == "+":
        return None
    return f"|{chomp}\n" + "".join(f"{indent}{line}\n" if line else "\n" for line in body.split("\n"))


def _scalar(value: Any) -> str:
    if type(value) is str:
        return scalar_text(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        mantissa, e, exponent = repr(value).partition("e")
        # YAML 1.1 reads a float only with a dot in the mantissa (1e-09 would be a string)
        return (mantissa if "." in mantissa else mantissa + ".0") + (f"e{exponent}" if e else "")
    if isinstance(value, str):
        return scalar_text(value)
    raise TypeError(f"cannot emit {type(value).__name__} as YAML")


def _is_map(value: Any) -> bool:
    # exact type first: nearly every value is a plain dict, and an abstract isinstance check is far slower
    return type(value) is dict or (type(value) not in _PLAIN_TYPES and isinstance(value, Mapping))


def _is_seq(value: Any) -> bool:
    return type(value) is list or type(value) is tuple


_PLAIN_TYPES = frozenset({str, int, float, bool, type(None), list, tuple})


def _inline(value: Any, indent: int) -> str | None:
    """The text after `key:` or `-` for a value that fits on the line (with a leading space), else None."""
    kind = type(value)
    if kind is str:
        if "\n" not in value:
            return " " + scalar_text(value)
        block = _block(value, " " * (indent + 2))
        return " " + (block if block is not None else scalar_text(value))
    if _is_map(value) or _is_seq(value):
        return None if value else (" {}" if _is_map(value) else " []")
    return " " + _scalar(value)


def _emit_map(value: Mapping[Any, Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for key, item in value.items():
        head = f"{pad}{scalar_text(key) if type(key) is str else _scalar(key)}:"
        text = _inline(item, indent)
        if text is not None:
            out.append(head + text + ("" if text.endswith("\n") else "\n"))
        elif _is_map(item):
            out.append(head + "\n")
            _emit_map(item, indent + 2, out)
        else:
            out.append(head + "\n")
            _emit_seq(item, indent, out)  # PyYAML's indentless sequence under a key


def _emit_seq(value: Any, indent: int, out: list[str]) -> None:
    pad = " " * indent
    for item in value:
        text = _inline(item, indent)
        if text is not None:
            out.append(f"{pad}-{text}" + ("" if text.endswith("\n") else "\n"))
            continue
        # "- first: line" with the rest of the nested block aligned two columns in
        nested: list[str] = []
        if _is_map(item):
            _emit_map(item, indent + 2, nested)
        else:
            _emit_seq(item, indent + 2, nested)
        nested[0] = f"{pad}- {nested[0][indent + 2 :]}"
        out.extend(nested)


def emit(doc: Any) -> str:
    """One document in block style: keys in insertion order, indentless sequences under keys (PyYAML's layout)."""
    out: list[str] = []
    if _is_map(doc) and doc:
        _emit_map(doc, 0, out)
    elif _is_seq(doc) and doc:
        _emit_seq(doc, 0, out)
    else:
        text = _inline(doc, 0) or ""
        out.append(text[1:] + ("" if text.endswith("\n") else "\n"))
    return "".join(out)


def emit_documents(docs: Sequence[Any], header: str | None = None) -> bytes:
    """Several documents separated by `---`, preceded by an optional `# header` comment block."""
    parts: list[str] = []
    if header:
        parts.extend(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    for index, doc in enumerate(docs):
        if index or header:
            parts.append("---\n")
        parts.append(emit(doc))
    return "".join(parts).encode()
