"""ArtifactGenerator (Flux 2.7 source-watcher v2.0): the ExternalArtifacts it composes, rebuilt offline.

A generator names sources by alias and, per artifact, a list of copy operations `@alias/pattern -> @artifact/dir`.
When every source of an artifact is this repository, the copy rules are plain data: they are applied here to
the repository's files, giving the artifact's file tree and, for each of its files, the repository file it came
from. The rules follow source-watcher's builder exactly where it differs from intuition:

- a pattern is a glob when it holds `* ? [ ]`; globs are Go's `io/fs.Glob`, one path segment per `*`, and `**`
  is NOT recursive (it is `*`); a matched folder is copied whole;
- a literal folder lands under its own name (`@s/cfg -> @artifact/d` gives `d/cfg/...`; the source root `@s/`
  gives the whole tree at `d/`); a glob ending in `/**` strips its literal prefix (`@s/cfg/** -> d/` gives
  `d/<child>`); any other glob keeps the full source path of each match;
- a literal file goes to `to` itself unless `to` ends in `/` (or is a folder already);
- `exclude` patterns (doublestar, `**` recursive) are matched against the path relative to the source root, and
  while recursing into a copied folder against the path relative to that folder (v2.0.x);
- `Merge` deep-merges YAML into an existing file matched directly (maps merge, lists and scalars replace);
- zero matches, or every match excluded, is an error; the archive drops the default source-ignore set.

A GitRepository source is read as source-controller would: the repository's files minus the same default
ignore set (a `.sourceignore` file is not applied). A source that is not this repository (OCI, Bucket, another
Git repository) cannot be rebuilt: its artifacts are marked incomplete and their consumers are not checked.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from gitops_engine.core.yamlio import LocatedDocument, PathKey, YamlError, emit, load, load_located
from gitops_engine.flux.kinds import ARTIFACT_GENERATOR, SOURCE_EXTENSIONS_GROUP, group_of
from gitops_engine.flux.kustomization import Ref

_META = re.compile(r"[*?\[\]]")
_FROM = re.compile(r"^@([a-z0-9]([a-z0-9_-]*[a-z0-9])?)/(.*)$")
_TO = "@artifact/"
# source-controller's default ignore set (fluxcd/pkg sourceignore): folders, exact names and suffixes
_IGNORED_FOLDERS = frozenset({".git", ".github", ".circleci"})
_IGNORED_NAMES = frozenset(
    {
        ".gitignore", ".gitmodules", ".gitattributes", ".travis.yml", ".gitlab-ci.yml", "appveyor.yml",
        ".drone.yml", "cloudbuild.yaml", "codeship-services.yml", "codeship-steps.yml", ".goreleaser.yml",
        ".sops.yaml", ".flux.yaml",
    }
)  # fmt: skip
_IGNORED_SUFFIXES = (".jpg", ".jpeg", ".gif", ".png", ".wmv", ".flv", ".tar.gz", ".zip")


@dataclass(frozen=True)
class Problem:
    """Why a generator's artifact cannot be built as written, at file:line."""

    file: str
    line: int
    message: str


@dataclass(frozen=True)
class Artifact:
    """One ExternalArtifact a generator produces: its files (artifact-relative path -> bytes) and, for each, the
    repository file it was copied from. `complete` is False when a source is not this repository."""

    namespace: str
    name: str
    file: str
    line: int
    complete: bool
    files: Mapping[str, bytes] = field(default_factory=dict)
    origins: Mapping[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> Ref:
        """This artifact as a source reference."""
        return Ref("ExternalArtifact", self.namespace, self.name)


@dataclass(frozen=True)
class Artifacts:
    """Every artifact the tree's generators produce, by (namespace, name), and the problems met building them."""

    by_key: Mapping[tuple[str, str], Artifact]
    problems: tuple[Problem, ...] = ()

    def get(self, ref: Ref) -> Artifact | None:
        """The artifact an `ExternalArtifact` reference names, if a generator produces it."""
        return self.by_key.get((ref.namespace, ref.name))


def is_generator(doc: Any) -> bool:
    """True for a source.extensions.fluxcd.io ArtifactGenerator document."""
    return (
        isinstance(doc, Mapping)
        and doc.get("kind") == ARTIFACT_GENERATOR
        and group_of(str(doc.get("apiVersion") or "")) == SOURCE_EXTENSIONS_GROUP
    )


def artifact_names(doc: Mapping[str, Any]) -> list[str]:
    """The names of the ExternalArtifacts an ArtifactGenerator document produces, in its own namespace."""
    return [str(item.get("name") or "") for item in _list(_map(doc.get("spec")).get("artifacts"))]


def build_artifacts(files: Mapping[str, bytes], folder_of: Callable[[Ref], str | None]) -> Artifacts:
    """Rebuild the artifacts of every ArtifactGenerator written in `files`; `folder_of` says which repository
    folder a source stands for (None: not this repository)."""
    by_key: dict[tuple[str, str], Artifact] = {}
    problems: list[Problem] = []
    for path in sorted(files):
        if not path.endswith((".yaml", ".yml")) or ARTIFACT_GENERATOR.encode() not in files[path]:
            continue
        try:
            docs = load_located(files[path])
        except YamlError:
            continue  # the file checks report it
        for doc in docs:
            if is_generator(doc.data):
                _Generator(path, doc, files, folder_of, problems).build(by_key)
    return Artifacts(by_key, tuple(problems))


class _Generator:
    def __init__(
        self,
        path: str,
        doc: LocatedDocument,
        files: Mapping[str, bytes],
        folder_of: Callable[[Ref], str | None],
        problems: list[Problem],
    ) -> None:
        self.path = path
        self.doc = doc
        self.files = files
        self.folder_of = folder_of
        self.problems = problems
        meta = _map(doc.data.get("metadata"))
        self.namespace = str(meta.get("namespace") or "")
        self.name = str(meta.get("name") or "")
        self.sources: dict[str, _Source] = {}

    def problem(self, key: PathKey, message: str) -> None:
        self.problems.append(Problem(self.path, self.doc.line_of(key), f"ArtifactGenerator {self.name}: {message}"))

    def build(self, into: dict[tuple[str, str], Artifact]) -> None:
        spec = _map(self.doc.data.get("spec"))
        sources: dict[str, str | None] = {}
        for i, item in enumerate(_list(spec.get("sources"))):
            alias = str(item.get("alias") or "")
            if alias in sources:
                self.problem(("spec", "sources", i, "alias"), f"alias {alias!r} is declared twice")
                continue
            ref = Ref(str(item.get("kind") or ""), str(item.get("namespace") or self.namespace), str(item.get("name")))
            sources[alias] = self.folder_of(ref)
        for i, item in enumerate(_list(spec.get("artifacts"))):
            name = str(item.get("name") or "")
            if (self.namespace, name) in into:
                self.problem(("spec", "artifacts", i, "name"), f"artifact {name!r} is produced twice")
                continue
            alias = str(item.get("revision") or "").removeprefix("@")
            if alias and alias not in sources:
                self.problem(
                    ("spec", "artifacts", i, "revision"), f"revision names alias @{alias}, which is not declared"
                )
            into[(self.namespace, name)] = self._artifact(i, name, item, sources)

    def _artifact(self, index: int, name: str, item: Mapping[str, Any], sources: Mapping[str, str | None]) -> Artifact:
        line = self.doc.line_of(("spec", "artifacts", index))
        staged: dict[str, bytes] = {}
        origins: dict[str, str] = {}
        complete = True
        for position, op in enumerate(_list(item.get("copy"))):
            key: PathKey = ("spec", "artifacts", index, "copy", position)
            source = _FROM.match(str(op.get("from") or ""))
            target = str(op.get("to") or "")
            if source is None or not target.startswith(_TO):
                self.problem(key, "copy needs from: @<alias>/<pattern> and to: @artifact/<path>")
                continue
            alias, pattern = source.group(1), source.group(3)
            if alias not in sources:
                self.problem((*key, "from"), f"@{alias} is not one of the generator's source aliases")
                continue
            folder = sources[alias]
            if folder is None:
                complete = False  # another repository or an OCI/Bucket source: its files are not here
                continue
            copy = _Copy(self._source(folder), staged, origins)
            error = copy.run(pattern, target.removeprefix(_TO), tuple(str(e) for e in op.get("exclude") or ()),
                             str(op.get("strategy") or "Overwrite"))  # fmt: skip
            if error:
                self.problem((*key, "from"), f"{op.get('from')}: {error}")
        kept = {p: d for p, d in staged.items() if not _ignored(p)}
        return Artifact(self.namespace, name, self.path, line, complete, kept, {p: origins[p] for p in kept})

    def _source(self, folder: str) -> _Source:
        if folder not in self.sources:
            prefix = f"{folder}/" if folder else ""
            tree = {p[len(prefix) :]: d for p, d in self.files.items() if p.startswith(prefix) and not _ignored(p)}
            self.sources[folder] = _Source(folder, tree)
        return self.sources[folder]


class _Source:
    """A source's files (source-relative paths) and, per folder, the names directly in it."""

    def __init__(self, base: str, tree: Mapping[str, bytes]) -> None:
        self.base = base
        self.tree = tree
        self.children: dict[str, set[str]] = {"": set()}
        for path in tree:
            parts = path.split("/")
            for depth in range(len(parts)):
                self.children.setdefault("/".join(parts[:depth]), set()).add(parts[depth])

    def is_folder(self, path: str) -> bool:
        return path in self.children


class _Copy:
    """One copy operation from a source into the staging tree (source-relative paths, '/'-separated)."""

    def __init__(self, source: _Source, staged: dict[str, bytes], origins: dict[str, str]) -> None:
        self.source = source
        self.tree = source.tree
        self.staged = staged
        self.origins = origins
        self.base = source.base

    def run(self, pattern: str, to: str, exclude: tuple[str, ...], strategy: str) -> str | None:
        if not _META.search(pattern):
            return self._literal(pattern.strip("/"), to, exclude, strategy)
        matches = self._glob(pattern.rstrip("/"))
        if not matches:
            return "no files match pattern"
        prefix = pattern[:-3] if pattern.endswith("/**") and not _META.search(pattern[:-3]) else None
        copied = 0
        for match in matches:
            if any(_doublestar(e)(match) for e in exclude):
                continue
            copied += 1
            dest = posixpath.join(to, posixpath.relpath(match, prefix) if prefix is not None else match)
            if match in self.tree:
                self._file(match, _clean(dest), strategy)
            else:
                self._folder(match, _clean(dest), exclude)
        return None if copied else "every file the pattern matches is excluded"

    def _literal(self, path: str, to: str, exclude: tuple[str, ...], strategy: str) -> str | None:
        if path in self.tree:
            if any(_doublestar(e)(path) for e in exclude):
                return "the file is excluded"
            into_folder = to == "" or to.endswith("/") or _clean(to) in self._staged_folders()
            dest = posixpath.join(to, posixpath.basename(path)) if into_folder else to
            self._file(path, _clean(dest), strategy)
            return None
        if self.source.is_folder(path):
            self._folder(path, _clean(posixpath.join(to, posixpath.basename(path) if path else "")), exclude)
            return None
        return f"{path or '.'} does not exist in the source"

    def _folder(self, folder: str, dest: str, exclude: tuple[str, ...]) -> None:
        prefix = f"{folder}/" if folder else ""
        for path in sorted(p for p in self.tree if p.startswith(prefix)):
            inner = path[len(prefix) :]
            if not any(_doublestar(e)(inner) for e in exclude):
                self._put(path, _clean(posixpath.join(dest, inner)), self.tree[path])

    def _file(self, path: str, dest: str, strategy: str) -> None:
        data = self.tree[path]
        if strategy == "Merge" and dest in self.staged:
            data = _merged(self.staged[dest], data)
        self._put(path, dest, data)

    def _put(self, path: str, dest: str, data: bytes) -> None:
        self.staged[dest] = data
        self.origins[dest] = f"{self.base}/{path}" if self.base else path

    def _staged_folders(self) -> set[str]:
        return {folder for path in self.staged for folder in _ancestors(posixpath.dirname(path))}

    def _glob(self, pattern: str) -> list[str]:
        """Go's fs.Glob over the source: files and folders matching `pattern`, one segment per level, each
        folder's entries in sorted order."""
        found = [""]
        for segment in pattern.split("/"):
            matches: list[str] = []
            for parent in found:
                names = self.source.children.get(parent, set())
                if not _META.search(segment):
                    if segment in names:
                        matches.append(posixpath.join(parent, segment))
                    continue
                matcher = _segment(segment)
                matches.extend(posixpath.join(parent, name) for name in sorted(names) if matcher(name))
            found = matches
        return found


def _merged(existing: bytes, incoming: bytes) -> bytes:
    """Helm-values style merge of two YAML files (every document of each side merged into one map first)."""
    try:
        merged = _deep_merge(_one_map(existing), _one_map(incoming))
    except YamlError:
        return incoming
    return emit(_sorted(merged)).encode()


def _one_map(data: bytes) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for doc in load(data):
        if isinstance(doc, Mapping):
            result = _deep_merge(result, dict(doc))
    return result


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = _deep_merge(result[key], value)
        else:
            result[key] = value
    return result


def _sorted(value: Any) -> Any:
    # the builder re-serialises through JSON, whose maps come out with sorted keys
    if isinstance(value, Mapping):
        return {k: _sorted(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _ignored(path: str) -> bool:
    parts = path.split("/")
    name = parts[-1]
    return bool(_IGNORED_FOLDERS.intersection(parts[:-1])) or name in _IGNORED_NAMES or name.endswith(_IGNORED_SUFFIXES)


@cache
def _segment(pattern: str) -> Callable[[str], bool]:
    """Go path.Match for one segment: `*` any run, `?` one character, `[...]` a class, `\\` escapes."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                return lambda _: False  # a malformed class matches nothing (Go: ErrBadPattern)
            body = pattern[i + 1 : end]
            negate = body.startswith("^")
            out.append("[" + ("^" if negate else "") + body[1 if negate else 0 :].replace("\\", "\\\\") + "]")
            i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    compiled = re.compile("".join(out) + r"\Z")
    return lambda name: compiled.match(name) is not None


@cache
def _doublestar(pattern: str) -> Callable[[str], bool]:
    """doublestar matching for `exclude`: `**` spans folders, `*` and `?` stay within one."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        char = pattern[i]
        out.append("[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char))
        i += 1
    compiled = re.compile("".join(out) + r"\Z")
    return lambda path: compiled.match(path) is not None


def _clean(path: str) -> str:
    normal = posixpath.normpath(path) if path else ""
    return "" if normal == "." else normal.lstrip("/")


def _ancestors(folder: str) -> Iterator[str]:
    while folder:
        yield folder
        folder = posixpath.dirname(folder)


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []
