"""`kustomize build` of repository folders: in parallel, and cached by the content of what a build reads.

A build reads only the tree under check: before kustomize runs, every path the kustomizations of its closure
name is checked to stay inside the tree (flux.kustomize_refs); a build that would read anything else (an
absolute path, `../` beyond the root, a remote address) is refused and never run, so nothing outside the tree
reaches its output or the cache. Within the tree any file may be read, as Flux allows.

Files are written into a private temp dir as builds need them (a build's closure, just before it runs, in
its worker thread), so a fully cached run writes nothing and a cold one writes while kustomize runs. Every
kustomization there gets `buildMetadata: [originAnnotations]` so each built object names the file it came
from, and a folder without a kustomization gets the one Flux would generate (every manifest below it,
stopping at folders that have their own). A build's cache key hashes the git blob ids of its closure: the
folder, plus every file or folder its kustomizations reference, transitively. Re-validating an unchanged
closure costs a file read instead of a process.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pygit2

from gitops_engine.adapters.build_id import code_digest
from gitops_engine.adapters.command import Command, run, which
from gitops_engine.core.errors import ToolError
from gitops_engine.core.yamlio import MAX_BYTES, YamlError, compose, emit, emit_documents, load
from gitops_engine.flux.kustomize_refs import Refusal, check_kustomization, references, resolve_reference
from gitops_engine.flux.tree import FolderTree, is_kustomization_file
from gitops_engine.model.tree import Tree
from gitops_engine.validate.build import BuildOutput, BuiltObject

_ORIGIN = "config.kubernetes.io/origin"
_KLOG_HEADER = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [\w.-]+:\d+\] ", re.MULTILINE)


@dataclass
class BuildStats:
    """How many builds ran kustomize and how many came from the cache."""

    built: int = 0
    cached: int = 0


def kustomize_command() -> tuple[str, ...]:
    """The build command: the `kustomize` binary, else `kubectl kustomize`."""
    binary = which(["kustomize"])
    if binary:
        return (binary, "build")
    kubectl = which(["kubectl"])
    if kubectl:
        return (kubectl, "kustomize")
    raise ToolError("neither `kustomize` nor `kubectl` is on PATH; install one of them to validate builds")


@cache
def kustomize_version(command: tuple[str, ...]) -> str:
    """What the build command says its version is (kubectl prints the kustomize it embeds); asked once per run."""
    argv = (command[0], "version") if command[1] == "build" else (command[0], "version", "--client")
    try:
        done = run(Command(argv, timeout=30.0, ok_codes=(0, 1)))
    except ToolError as exc:
        return f"unknown: {exc}"
    return (done.stdout + done.stderr).decode(errors="replace").strip()


# A build lives for a fraction of a second and allocates a few megabytes: Go's collector mostly runs for nothing.
# Off, with a soft memory limit at which it runs after all, builds take less CPU (scripts/bench_validate.py);
# a GOGC or GOMEMLIMIT the user set is left alone.
_GO_RUNTIME = {"GOGC": "off", "GOMEMLIMIT": "256MiB"}


def go_runtime_env() -> dict[str, str]:
    """Environment for kustomize: the collector settings above unless the user chose their own."""
    if "GOGC" in os.environ or "GOMEMLIMIT" in os.environ:
        return {}
    return dict(_GO_RUNTIME)


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/gitops-engine/kustomize (or ~/.cache/...)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitops-engine" / "kustomize"


@contextmanager
def kustomize_builder(
    files: Mapping[str, bytes], cache_dir: Path | None = None, workers: int | None = None
) -> Iterator[KustomizeBuilder]:
    """A builder over `files`, written on demand into a temp dir that is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="gitops-engine-build-") as tmp:
        yield KustomizeBuilder(files, Path(tmp), cache_dir, workers)


class KustomizeBuilder:
    """Builds folders of one tree; call it with a batch of repository-relative folders."""

    def __init__(self, files: Mapping[str, bytes], workdir: Path, cache_dir: Path | None, workers: int | None) -> None:
        self.files = files
        self.workdir = workdir
        self.cache_dir = cache_dir
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.command = kustomize_command()
        # a build's output is kustomize's and ours (the annotations and generated kustomizations written for it)
        self._salt = f"{' '.join(self.command)}\0{kustomize_version(self.command)}\0{code_digest()}\0"
        self.stats = BuildStats()
        self._view = FolderTree(files)
        self._refusals: dict[str, list[Refusal]] = {}
        self._unbounded: dict[str, str | None] = {}
        self._generated: dict[str, bytes] = {}
        self._memory: dict[str, BuildOutput] = {}
        self._written: set[str] = set()
        self._write_lock = threading.Lock()

    def __call__(self, paths: Sequence[str]) -> Iterator[BuildOutput]:
        """Build every folder in `paths` in parallel, yielding each result as soon as it is known."""
        pool = ThreadPoolExecutor(max_workers=self.workers)
        futures: dict[Future[tuple[BuildOutput, bytes]], str] = {}
        try:
            for path in dict.fromkeys(paths):
                self._ensure_kustomization(path)
                closure = self.closure(path)
                refused = [str(r) for file in closure if is_kustomization_file(file) for r in self.refusals(file)]
                refused += [problem for file in closure if (problem := self._expands_without_bound(file))]
                if refused:
                    yield BuildOutput(path, error="refused to build: " + "; ".join(refused), files=closure)
                    continue
                key = self._key(path, closure)
                cached = self._memory.get(key) or self._read_cache(path, key, closure)
                if cached is None:
                    # submitted at once, so kustomize runs while the rest of the batch is still being keyed
                    futures[pool.submit(self._build, path, closure)] = key
                else:
                    self.stats.cached += 1
                    yield cached
            for future in as_completed(futures):
                output, stdout = future.result()
                self.stats.built += 1
                if output.error is None:
                    self._memory[futures[future]] = output
                    self._write_cache(futures[future], stdout)
                yield output
        finally:
            # a caller that stops early (or fails) must not wait for builds nobody will read
            pool.shutdown(wait=True, cancel_futures=True)

    def closure(self, path: str) -> tuple[str, ...]:
        """Every repository file a build of `path` may read, sorted."""
        files: set[str] = set()
        todo, seen = [path], set()
        while todo:
            directory = todo.pop()
            if directory in seen:
                continue
            seen.add(directory)
            for file in self._view.files_below(directory):
                files.add(file)
                if is_kustomization_file(file):
                    for ref in self._references(file):
                        if ref in self.files:
                            files.add(ref)
                        elif self._view.is_folder(ref):
                            todo.append(ref)
        return tuple(sorted(files))

    def refusals(self, kustomization: str) -> list[Refusal]:
        """Why a build reading `kustomization` must not run (see the module doc); remembered per file."""
        if kustomization not in self._refusals:
            docs = self._view.documents(kustomization)
            found = [r for doc in docs for r in check_kustomization(kustomization, doc, self._view)]
            self._refusals[kustomization] = found
        return self._refusals[kustomization]

    def _expands_without_bound(self, path: str) -> str | None:
        """Why kustomize must not read `path`: YAML whose aliases it would expand for minutes (it has no limit of
        its own), or a text over core.yamlio's size limit (which it reads for as long), refused at its line as
        core.yamlio refuses it; None for any other file. Remembered per file."""
        if path not in self._unbounded:
            data = self.files[path]
            problem = None
            # without an anchor there is no alias to expand; an oversized text is refused before it is parsed
            if path.endswith((".yaml", ".yml")) and (b"&" in data or len(data) > MAX_BYTES):
                try:
                    compose(data)
                except YamlError as exc:
                    problem = f"{path}:{exc.line}: {exc.problem}"
            self._unbounded[path] = problem
        return self._unbounded[path]

    def _references(self, kustomization: str) -> Iterator[str]:
        folder = posixpath.dirname(kustomization)
        for doc in self._view.documents(kustomization):
            if isinstance(doc, dict):
                for ref in references(doc):
                    resolved = resolve_reference(folder, ref)
                    if resolved is not None:
                        yield resolved

    def _ensure_kustomization(self, path: str) -> None:
        if self._view.kustomization_in(path) is not None or path in self._generated:
            return
        resources = sorted(self._view.generated_resources(path))
        data = emit_documents(
            [
                {
                    "apiVersion": "kustomize.config.k8s.io/v1beta1",
                    "kind": "Kustomization",
                    "buildMetadata": ["originAnnotations"],
                    "resources": resources,
                }
            ]
        )
        self._generated[path] = data

    def _key(self, path: str, closure: Sequence[str]) -> str:
        digest = hashlib.sha256()
        digest.update(f"{self._salt}{path}\0".encode())
        digest.update(self._generated.get(path, b""))
        for file in closure:
            digest.update(f"{file}\0{pygit2.hash(self.files[file])}\n".encode())
        return digest.hexdigest()

    def _write_closure(self, path: str, closure: Sequence[str]) -> None:
        """Put on disk what a build of `path` reads (each file once per run, whichever build needs it first)."""
        # one lock for all writers: a build must not start while another thread is still writing its inputs
        with self._write_lock:
            for file in closure:
                if file not in self._written:
                    self._written.add(file)
                    _write(self.workdir / file, self._disk_bytes(file))
            generated = posixpath.join(path, "kustomization.yaml")
            if path in self._generated and generated not in self._written:
                self._written.add(generated)
                _write(self.workdir / generated, self._generated[path])

    def _disk_bytes(self, file: str) -> bytes:
        data = self.files[file]
        return _with_origin_annotations(data) if is_kustomization_file(file) else data

    def _build(self, path: str, closure: tuple[str, ...]) -> tuple[BuildOutput, bytes]:
        self._write_closure(path, closure)
        (self.workdir / path).mkdir(parents=True, exist_ok=True)
        # Flux's own setting: any file of the tree may be read; `refusals` has already kept the build inside it
        argv = (*self.command, "--load-restrictor", "LoadRestrictionsNone", str(self.workdir / path))
        try:
            done = run(Command(argv, cwd=self.workdir, env=go_runtime_env(), timeout=120.0, ok_codes=(0, 1)))
        except ToolError as exc:
            return BuildOutput(path, error=str(exc), files=closure), b""
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").replace(str(self.workdir) + "/", "")
            # kubectl prefixes its errors with klog's time and pid: noise to a reader, and never the same twice
            message = _KLOG_HEADER.sub("", message)
            return BuildOutput(path, error=message or "kustomize failed", files=closure), b""
        return _parse_output(path, done.stdout, closure), done.stdout

    def _cache_file(self, key: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / key[:2] / f"{key}.yaml"

    def _read_cache(self, path: str, key: str, closure: tuple[str, ...]) -> BuildOutput | None:
        cache_file = self._cache_file(key)
        if cache_file is None or not cache_file.is_file():
            return None
        output = _parse_output(path, cache_file.read_bytes(), closure)
        self._memory[key] = output
        return output

    def _write_cache(self, key: str, stdout: bytes) -> None:
        cache_file = self._cache_file(key)
        if cache_file is None:
            return
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        partial = cache_file.with_suffix(f".{os.getpid()}.tmp")
        # build output can hold Secret manifests: readable by the owner only
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(stdout)
        partial.replace(cache_file)


def read_directory(root: Path) -> Tree:
    """Every regular file below `root` (skipping .git) as a Tree."""
    files: dict[str, bytes] = {}
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in filenames:
            full = Path(directory) / name
            if full.is_file() and not full.is_symlink():
                files[full.relative_to(root).as_posix()] = full.read_bytes()
    return Tree(files)


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def _with_origin_annotations(data: bytes) -> bytes:
    try:
        docs = load(data)
    except YamlError:
        return data
    if len(docs) != 1 or not isinstance(docs[0], dict):
        return data
    doc = dict(docs[0])
    metadata = [m for m in doc.get("buildMetadata") or [] if isinstance(m, str)]
    doc["buildMetadata"] = sorted({*metadata, "originAnnotations"})
    return emit(doc).encode()


def _parse_output(path: str, stdout: bytes, closure: tuple[str, ...]) -> BuildOutput:
    try:
        docs = load(stdout)
    except YamlError as exc:
        # kustomize passes on what it read: a value nested deeper or a number longer than core.yamlio reads
        return BuildOutput(path, error=f"its output cannot be read: line {exc.line}: {exc.problem}", files=closure)
    objects = tuple(_strip_origin(path, doc) for doc in docs if isinstance(doc, dict) and doc.get("kind"))
    return BuildOutput(path, objects, None, closure)


def _strip_origin(path: str, doc: dict[str, Any]) -> BuiltObject:
    metadata = dict(doc.get("metadata") or {})
    annotations = dict(metadata.get("annotations") or {})
    origin_text = annotations.pop(_ORIGIN, None)
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    body = {**doc, "metadata": metadata}
    return BuiltObject(body, _origin_file(path, origin_text))


def _origin_file(path: str, origin_text: str | None) -> str | None:
    if not origin_text:
        return None
    try:
        origin = load(origin_text)
    except YamlError:
        return None
    info = origin[0] if origin and isinstance(origin[0], dict) else {}
    relative = info.get("path") or info.get("configuredIn")
    if not isinstance(relative, str) or "://" in relative or info.get("repo"):
        return None
    resolved = posixpath.normpath(posixpath.join(path, relative))
    return None if resolved.startswith("..") else resolved
