"""Git objects through pygit2: trees written straight into the object database, refs moved by CAS.

No working tree and no index are involved. Tree objects are hashed here before they are written, so a
no-change run writes nothing and only looks up object ids it already knows.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import struct
import tempfile
import time
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pygit2

from gitops_engine.adapters import lock
from gitops_engine.core.errors import ConflictError, InputError, LockedError, RefLockError, SecretLeakError
from gitops_engine.model.tree import Tree

Repository = pygit2.Repository

_OBJ_TREE = 2
_OBJ_BLOB = 3
_PACK_THRESHOLD = 64
_LIST_THRESHOLD = 256
_SMALL_OBJECT = 4096
_PARALLEL_DEFLATE = 512
_TREE_FILEMODE = 0o040000
_FILE_FILEMODE = 0o100644
_TEMPORARY = "tmp_gitops-engine_"
_STALE_TEMPORARY = 3600  # seconds: far longer than writing any pack takes
# a ref lock file this old was left by a git process that died: writers hold one for microseconds
_STALE_LOCK = 600
# an flock taken while a stale ref lock file is removed, so that two runs never both judge one stale and the second
# delete the lock a live writer took in between (not the reconcile lock: a pass holds that for its whole length)
_REF_LOCK_SWEEP = "gitops-engine.ref-lock-sweep"
_SWEEP_WAIT = 30.0  # seconds; a sweep takes a stat and an unlink
# a live writer holds a ref lock for microseconds (git itself waits up to 100 ms); 1.55 s in all
_LOCK_WAITS = (0.05, 0.1, 0.2, 0.4, 0.8)

PlaintextGuard = Callable[[Mapping[str, bytes]], list[str]]


@dataclass(frozen=True)
class Signature:
    """Author or committer of a commit; `time` is seconds since the epoch."""

    name: str
    email: str
    time: int
    offset_minutes: int = 0

    def to_pygit2(self) -> pygit2.Signature:
        """The libgit2 form."""
        return pygit2.Signature(self.name, self.email, self.time, self.offset_minutes)


@dataclass(frozen=True)
class BranchHead:
    """Where a branch points: its commit and that commit's tree (both None for an unborn branch)."""

    commit: str | None
    tree: str | None


def open_repository(path: Path, create: bool = True) -> pygit2.Repository:
    """Open the repository at `path` (bare or not); create a bare one when missing and `create`."""
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: is a file, not a git repository (give a repository directory or a new path)")
    if path.exists():
        try:
            return pygit2.Repository(str(path), pygit2.enums.RepositoryOpenFlag.NO_SEARCH)
        except pygit2.GitError as exc:
            if any(path.iterdir()):
                raise InputError(f"{path}: exists but is not a git repository (choose an empty or new path)") from exc
    if not create:
        raise InputError(f"{path}: no git repository there")
    _create_bare(path)
    return open_repository(path, create=False)


def _create_bare(path: Path) -> None:
    """A bare repository made beside `path` and renamed into place: no other process ever sees half of one, and
    when two create it at once the loser's rename fails and it opens the winner's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_scratch(path)
    scratch = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new"))
    try:
        pygit2.init_repository(str(scratch), bare=True, initial_head="main")
        with contextlib.suppress(OSError):  # someone else's repository is there now (or it is not empty)
            scratch.rename(path)  # replaces an empty directory, never a full one
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _remove_stale_scratch(path: Path) -> None:
    """Scratch repositories a killed creation left beside `path`, once old enough that no creator still works in
    them (one that is initialising would fail if its folder vanished)."""
    limit = time.time() - _STALE_TEMPORARY
    for leftover in path.parent.glob(f".{path.name}.*.new"):
        with contextlib.suppress(OSError):  # gone already: another run cleaned it
            if leftover.stat().st_mtime < limit:
                shutil.rmtree(leftover)


def head_of(repo: pygit2.Repository, branch: str) -> BranchHead:
    """The current commit and tree of `branch`."""
    ref = repo.references.get(_ref_name(branch))
    if ref is None:
        return BranchHead(None, None)
    commit = repo.revparse_single(str(ref.target)).peel(pygit2.Commit)
    return BranchHead(str(commit.id), str(commit.tree_id))


def resolve(repo: pygit2.Repository, revision: str) -> BranchHead:
    """The commit and tree `revision` (a branch, tag, commit id or expression) names; both None when none."""
    try:
        commit, _ = repo.resolve_refish(revision)
    except (KeyError, pygit2.InvalidSpecError, pygit2.GitError, ValueError):
        return BranchHead(None, None)
    return BranchHead(str(commit.id), str(commit.tree_id))


def read_tree(repo: pygit2.Repository, tree_id: str | None, *, links: bool = True) -> Tree:
    """Every blob below `tree_id` as a Tree (an empty Tree for None); symbolic links (their target path as the
    content) are left out when not `links`, so a check reading the tree can never be led through one."""
    if tree_id is None:
        return Tree()
    files: dict[str, bytes] = {}
    root = repo[tree_id]
    assert isinstance(root, pygit2.Tree)
    odb = repo.odb
    for path, blob_id in _walk(repo, root, "", links):
        files[path] = odb.read(blob_id)[1]  # straight from the database: no Blob object per file
    return Tree(files)


def list_blobs(repo: pygit2.Repository, tree_id: str | None) -> dict[str, str]:
    """Path → blob id for every file below `tree_id`, without reading contents."""
    if tree_id is None:
        return {}
    root = repo[tree_id]
    assert isinstance(root, pygit2.Tree)
    return {path: str(oid) for path, oid in _walk(repo, root, "")}


def list_blobs_at(repo: pygit2.Repository, tree_id: str, paths: Iterable[str]) -> dict[str, str]:
    """Path → blob id for those of `paths` that are files of the tree (the others are left out)."""
    root = repo[tree_id]
    assert isinstance(root, pygit2.Tree)
    found: dict[str, str] = {}
    for path in paths:
        try:
            entry = root[path]
        except KeyError:
            continue
        if entry.type_str == "blob":
            found[path] = str(entry.id)
    return found


def _walk(
    repo: pygit2.Repository, tree: pygit2.Tree, prefix: str, links: bool = True
) -> Iterator[tuple[str, pygit2.Oid]]:
    for entry in tree:
        path = f"{prefix}{entry.name}"
        if entry.type_str == "tree":
            sub = repo[entry.id]
            assert isinstance(sub, pygit2.Tree)
            yield from _walk(repo, sub, path + "/", links)
        elif entry.type_str == "blob" and (links or entry.filemode != pygit2.enums.FileMode.LINK):
            yield path, entry.id


def _plaintext_violations(files: Mapping[str, bytes]) -> list[str]:
    """The secrets guard, imported on first use: read-only runs (a bot's dry run) skip loading the SOPS code."""
    from gitops_engine.secrets.guard import plaintext_violations

    return plaintext_violations(files)


def write_tree(
    repo: pygit2.Repository,
    files: Mapping[str, bytes],
    guard: PlaintextGuard | None = _plaintext_violations,
    existing: Mapping[str, str] | None = None,
) -> str:
    """Write `files` as blobs and trees (only the objects missing) and return the root tree id.

    `existing` adds files already in the database by blob id (kept as they are, never re-read).
    `guard` runs before any object is written; if it names files, nothing is written. It is on by default so no
    commit path can store a plaintext Secret; only fixtures that need one on purpose pass `guard=None`.
    """
    _refuse_plaintext(guard, files)
    has = _existence_check(repo.odb, len(files))
    missing: dict[bytes, tuple[int, bytes]] = {}
    blob_ids = _blob_ids(files, has, missing)
    for path, blob_id in (existing or {}).items():
        blob_ids.setdefault(path, bytes.fromhex(blob_id))
    root = _tree_objects(has, _nest(blob_ids), missing)
    _store(repo, missing)
    return root.hex()


def write_tree_changes(
    repo: pygit2.Repository,
    base_tree: str,
    changes: Mapping[str, bytes],
    guard: PlaintextGuard | None = _plaintext_violations,
    *,
    kept: Mapping[str, str] | None = None,
    removed: Collection[str] = (),
) -> str:
    """The id of `base_tree` with the files in `changes` added or replaced, the paths in `kept` set to blobs the
    database has, and `removed` taken out; only the trees on their paths are rebuilt, so a few edits to a tree of
    ten thousand files cost a few tree objects. Untouched entries keep their modes; a replaced file keeps its
    mode too, and directories left empty disappear. `guard` runs first, as in write_tree; objects the database
    already has are not written again (a rerun with the same edits writes nothing)."""
    _refuse_plaintext(guard, changes)
    has = _existence_check(repo.odb, len(changes) * 4)
    missing: dict[bytes, tuple[int, bytes]] = {}
    blob_ids: dict[str, bytes | None] = dict(_blob_ids(changes, has, missing))
    for path, blob_id in (kept or {}).items():
        blob_ids.setdefault(path, bytes.fromhex(blob_id))
    for path in removed:
        if path not in changes:
            blob_ids[path] = None
    root = repo[base_tree]
    assert isinstance(root, pygit2.Tree)
    tree_id = _rebuilt(repo, root, _nest(blob_ids), "", has, missing)
    assert tree_id is not None  # the root is rebuilt even when empty
    _store(repo, missing)
    return tree_id.hex()


def _refuse_plaintext(guard: PlaintextGuard | None, files: Mapping[str, bytes]) -> None:
    problems = guard(files) if guard is not None else []
    if problems:
        raise SecretLeakError("refusing to commit plaintext secrets:\n" + "\n".join(problems))


def _blob_ids(
    files: Mapping[str, bytes], has: Callable[[bytes], bool], missing: dict[bytes, tuple[int, bytes]]
) -> dict[str, bytes]:
    """Path → raw blob id, adding the blobs the database lacks to `missing`.

    Renders share one bytes object between every path with the same contents, so each object is hashed once.
    """
    hashed: dict[int, bytes] = {}
    blob_ids: dict[str, bytes] = {}
    for path, data in files.items():
        raw = hashed.get(id(data))
        if raw is None:
            raw = hashed[id(data)] = pygit2.hash(data).raw
            if raw not in missing and not has(raw):
                missing[raw] = (_OBJ_BLOB, data)
        blob_ids[path] = raw
    return blob_ids


def _rebuilt(
    repo: pygit2.Repository,
    tree: pygit2.Tree | None,
    node: Mapping[str, object],
    prefix: str,
    has: Callable[[bytes], bool],
    missing: dict[bytes, tuple[int, bytes]],
) -> bytes | None:
    """Id of `tree` (None: a new directory) with `node`'s files and directories put in (None: removed),
    rebuilding below; None when nothing is left in it."""
    entries: dict[str, tuple[int, bytes]] = {}
    if tree is not None:
        entries = {str(e.name): (int(e.filemode), e.id.raw) for e in tree}
    for name, value in node.items():
        mode, raw = entries.get(name, (None, None))
        if isinstance(value, dict):
            if mode is not None and mode != _TREE_FILEMODE:
                raise InputError(f"{prefix}{name}: a file and a directory share the name {name!r}")
            sub = repo[pygit2.Oid(raw=raw)] if raw is not None else None
            assert sub is None or isinstance(sub, pygit2.Tree)
            rebuilt = _rebuilt(repo, sub, value, f"{prefix}{name}/", has, missing)
            if rebuilt is None:
                entries.pop(name, None)
            else:
                entries[name] = (_TREE_FILEMODE, rebuilt)
        elif value is None:
            if mode != _TREE_FILEMODE:
                entries.pop(name, None)
        else:
            if mode == _TREE_FILEMODE:
                raise InputError(f"{prefix}{name}: a file and a directory share the name {name!r}")
            assert isinstance(value, bytes)
            entries[name] = (mode or _FILE_FILEMODE, value)
    if not entries and prefix:
        return None
    return _tree_object(entries, has, missing)


def _existence_check(odb: pygit2.Odb, candidates: int) -> Callable[[bytes], bool]:
    """How to ask whether an object exists: libgit2 rescans the pack directory on every miss, so for many
    candidates one listing of the database (milliseconds for tens of thousands of objects) is far cheaper."""
    if candidates < _LIST_THRESHOLD:
        return lambda raw: pygit2.Oid(raw=raw) in odb
    known = {oid.raw for oid in odb}
    return known.__contains__


def _tree_objects(
    has: Callable[[bytes], bool], node: Mapping[str, object], missing: dict[bytes, tuple[int, bytes]]
) -> bytes:
    """Id of the tree for `node`, adding every tree object the database lacks to `missing`."""
    entries: dict[str, tuple[int, bytes]] = {}
    for name, value in node.items():
        if isinstance(value, dict):
            entries[name] = (_TREE_FILEMODE, _tree_objects(has, value, missing))
        else:
            assert isinstance(value, bytes)
            entries[name] = (_FILE_FILEMODE, value)
    return _tree_object(entries, has, missing)


def _tree_object(
    entries: Mapping[str, tuple[int, bytes]], has: Callable[[bytes], bool], missing: dict[bytes, tuple[int, bytes]]
) -> bytes:
    """Id of the tree holding `entries` (name → (mode, raw id)), added to `missing` when the database lacks it."""
    # git sorts tree entries as if directory names ended in '/' (UTF-8 keeps code point order)
    ordered = sorted(entries, key=lambda name: name + "/" if entries[name][0] == _TREE_FILEMODE else name)
    body = b"".join(_entry_head(name, entries[name][0]) + entries[name][1] for name in ordered)
    raw_id = hashlib.sha1(b"tree %d\0" % len(body) + body, usedforsecurity=False).digest()
    if raw_id not in missing and not has(raw_id):
        missing[raw_id] = (_OBJ_TREE, body)
    return raw_id


@lru_cache(maxsize=4096)
def _entry_head(name: str, mode: int) -> bytes:
    """`<mode> <name>` and a NUL: a fleet repeats a few dozen names thousands of times, so each is encoded once."""
    return f"{mode:o} {name}".encode() + b"\0"


def _store(repo: pygit2.Repository, objects: Mapping[bytes, tuple[int, bytes]]) -> None:
    """Many objects go into one pack (one file instead of thousands); a few are written loose."""
    if len(objects) < _PACK_THRESHOLD:
        for kind, data in objects.values():
            repo.odb.write(pygit2.enums.ObjectType(kind), data)
        return
    pack_dir = Path(repo.path) / "objects" / "pack"
    pack_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(pack_dir)
    _remove_stale_scratch(Path(repo.path))
    pack, index = _pack_bytes(objects)
    name = f"pack-{pack[-20:].hex()}"
    # libgit2 rescans the pack directory when a lookup misses, so the new pack is found without reopening
    for suffix, data in ((".pack", pack), (".idx", index)):  # the index last: it makes the pack visible
        fd, temporary = tempfile.mkstemp(dir=pack_dir, prefix=_TEMPORARY)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        Path(temporary).chmod(0o444)
        Path(temporary).replace(pack_dir / f"{name}{suffix}")


def _remove_stale_temporaries(pack_dir: Path) -> None:
    """Pack files a crashed run left half-written. Their names start with `tmp_`, which `git gc` also prunes (after
    two weeks); ours are removed here once they are old enough that no live run can still be writing them.
    `tmp-pack-` is what earlier versions named them."""
    limit = time.time() - _STALE_TEMPORARY
    for leftover in (*pack_dir.glob(f"{_TEMPORARY}*"), *pack_dir.glob("tmp-pack-*")):
        with contextlib.suppress(OSError):  # gone already: another run cleaned it
            if leftover.stat().st_mtime < limit:
                leftover.unlink()


def _pack_bytes(objects: Mapping[bytes, tuple[int, bytes]]) -> tuple[bytes, bytes]:
    """A version-2 pack of undeltified objects, and its version-2 index."""
    parts = [b"PACK", struct.pack(">II", 2, len(objects))]
    offset = 12
    located: list[tuple[bytes, int, int]] = []
    deflated = _deflate_all([data for _, data in objects.values()])
    for (raw_id, (kind, data)), packed in zip(objects.items(), deflated, strict=True):
        size = len(data)
        header = bytearray([(kind << 4) | (size & 0x0F)])
        size >>= 4
        while size:
            header[-1] |= 0x80
            header.append(size & 0x7F)
            size >>= 7
        entry = bytes(header) + packed
        located.append((raw_id, zlib.crc32(entry), offset))
        parts.append(entry)
        offset += len(entry)
    if offset >= 2**31:
        raise ValueError("pack too large for 32-bit offsets")
    body = b"".join(parts)
    pack = body + hashlib.sha1(body, usedforsecurity=False).digest()
    located.sort()
    fanout = [0] * 256
    for raw_id, _, _ in located:
        fanout[raw_id[0]] += 1
    for i in range(1, 256):
        fanout[i] += fanout[i - 1]
    index = b"".join(
        [
            b"\377tOc",
            struct.pack(">I", 2),
            struct.pack(">256I", *fanout),
            b"".join(raw_id for raw_id, _, _ in located),
            b"".join(struct.pack(">I", crc) for _, crc, _ in located),
            b"".join(struct.pack(">I", off) for _, _, off in located),
            pack[-20:],
        ]
    )
    return pack, index + hashlib.sha1(index, usedforsecurity=False).digest()


def _deflate_all(datas: list[bytes]) -> list[bytes]:
    """Each object deflated; a big batch in two threads (zlib lets go of the GIL while it compresses)."""
    if len(datas) < _PARALLEL_DEFLATE:
        return [_deflate(data) for data in datas]
    half = len(datas) // 2
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(lambda: [_deflate(data) for data in datas[:half]])
        second = [_deflate(data) for data in datas[half:]]
        return first.result() + second


def _deflate(data: bytes) -> bytes:
    """zlib at git's loose-object level (1). zlib.compress sets up a 256 KiB state per call, which cost more than
    compressing the typical 1 KiB manifest; a 4 KiB window (any zlib reader accepts it) loses nothing on files
    that small and is several times faster over a fleet's thousands of objects."""
    if len(data) > _SMALL_OBJECT:
        return zlib.compress(data, 1)
    deflate = zlib.compressobj(1, zlib.DEFLATED, 12, 5)
    return deflate.compress(data) + deflate.flush()


def _nest(blob_ids: Mapping[str, bytes | None]) -> dict[str, object]:
    root: dict[str, object] = {}
    # paths arrive grouped by directory (trees are sorted), so the last directory node is usually reused
    last_dir, last_node = "", root
    for path, raw in blob_ids.items():
        directory, _, name = path.rpartition("/")
        if directory != last_dir or not directory:
            last_dir, last_node = directory, root
            for part in directory.split("/") if directory else ():
                child = last_node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise InputError(f"{path}: a file and a directory share the name {part!r}")
                last_node = child
        if name in last_node:
            raise InputError(f"{path}: a file and a directory share the name {name!r}")
        last_node[name] = raw
    return root


def create_commit(
    repo: pygit2.Repository,
    tree_id: str,
    parents: list[str],
    message: str,
    author: Signature,
    committer: Signature | None = None,
) -> str:
    """Write a commit object without touching any ref."""
    oid = repo.create_commit(
        None,
        author.to_pygit2(),
        (committer or author).to_pygit2(),
        message,
        pygit2.Oid(hex=tree_id),
        [pygit2.Oid(hex=p) for p in parents],
    )
    return str(oid)


def move_branch(repo: pygit2.Repository, branch: str, new_commit: str, expected: str | None, reason: str) -> None:
    """Point `branch` at `new_commit` only if it still points at `expected` (None: must not exist).

    A branch that already points at `new_commit` counts as moved: an identical run got there first.
    """
    name = _ref_name(branch)

    def write() -> None:
        if expected is None:
            repo.references.create(name, pygit2.Oid(hex=new_commit), force=False)
            return
        ref = repo.references.get(name)
        found = None if ref is None else str(ref.target)
        if found == new_commit:
            return
        if ref is None or found != expected:
            raise _moved(branch, expected, found)
        # libgit2 re-checks the old value under the ref lock: a compare-and-swap
        ref.set_target(pygit2.Oid(hex=new_commit), reason)

    _write_ref(repo, name, new_commit, write, lambda found: _moved(branch, expected, found))


def delete_branch(repo: pygit2.Repository, branch: str, expected: str) -> None:
    """Delete `branch` only if it still points at `expected`."""
    name = _ref_name(branch)
    for retry in (True, False):
        ref = repo.references.get(name)
        if ref is None or str(ref.target) != expected:
            raise _moved(branch, expected, None if ref is None else str(ref.target))
        try:
            # libgit2 deletes against the target it read, under the ref lock: a compare-and-delete
            ref.delete()
            return
        except (pygit2.GitError, OSError) as exc:
            if retry and _remove_stale_lock(repo, name):
                continue
            current = repo.references.get(name)
            found = None if current is None else str(current.target)
            raise _locked(repo, name) or _moved(branch, expected, found) from exc


def set_ref(repo: pygit2.Repository, ref: str, target: str) -> None:
    """Point `ref` at `target` whatever it pointed at (refs only the engine writes, such as kept renders)."""
    _write_ref(repo, ref, target, lambda: repo.references.create(ref, pygit2.Oid(hex=target), force=True), None)


def _write_ref(
    repo: pygit2.Repository,
    name: str,
    target: str,
    write: Callable[[], object],
    moved: Callable[[str | None], ConflictError] | None,
) -> None:
    """Run `write`, which points ref `name` at `target`. A ref found at `target` when it fails counts as written
    (an identical run got there first); while another process holds the ref's lock it is tried again for a
    moment, as git does, and a lock file a dead process left is removed; any other failure is `moved(what the ref
    holds)` (or raised as it is, without `moved`)."""
    waits = iter(_LOCK_WAITS)
    swept = False
    while True:
        try:
            write()
            return
        except (pygit2.GitError, OSError) as exc:  # AlreadyExistsError is a GitError; a held lock file an OSError
            current = repo.references.get(name)
            found = None if current is None else str(current.target)
            if found == target:
                return
            locked = _locked(repo, name)
            if locked is None:
                if moved is None:
                    raise
                raise moved(found) from exc
            if not swept and _remove_stale_lock(repo, name):
                swept = True
                continue
            wait = next(waits, None)
            if wait is None:
                raise locked from exc
            time.sleep(wait)


def branch_heads(repo: pygit2.Repository, prefix: str = "") -> dict[str, str]:
    """Branch → commit for every local branch starting with `prefix`."""
    heads: dict[str, str] = {}
    for name in branch_names(repo, prefix):
        ref = repo.references.get(_ref_name(name))
        if ref is not None:
            heads[name] = str(ref.resolve().target)
    return heads


def has_commit(repo: pygit2.Repository, commit: str) -> bool:
    """True when the database holds this commit."""
    try:
        found = repo.get(commit)
    except ValueError:
        return False
    return found is not None and found.type_str == "commit"


def changed_paths(repo: pygit2.Repository, old_tree: str, new_tree: str) -> set[str]:
    """The paths whose blob differs between two trees (added, removed or changed), from the trees alone."""
    old, new = repo[old_tree], repo[new_tree]
    assert isinstance(old, pygit2.Tree) and isinstance(new, pygit2.Tree)
    diff = old.diff_to_tree(new)
    paths: set[str] = set()
    for delta in diff.deltas:
        paths.update(p for p in (delta.old_file.path, delta.new_file.path) if p)
    return paths


def has_blob(repo: pygit2.Repository, blob_id: str) -> bool:
    """True when the database holds an object with this id (blobs are looked up by content)."""
    try:
        return pygit2.Oid(hex=blob_id) in repo.odb
    except ValueError:
        return False


def commit_tree(repo: pygit2.Repository, commit: str) -> str:
    """The tree id of `commit`."""
    return str(repo.revparse_single(commit).peel(pygit2.Commit).tree_id)


def _moved(branch: str, expected: str | None, found: str | None) -> ConflictError:
    return ConflictError(
        f"branch {branch!r} moved while we worked (expected {expected or 'no branch'}, found {found or 'none'}); "
        "nothing was changed — run the command again to build on the new head"
    )


def _ref_locks(repo: pygit2.Repository, ref_name: str) -> tuple[Path, Path]:
    """The git lock files that keep `ref_name` from being written: its own and the packed-refs file's."""
    return Path(repo.path) / f"{ref_name}.lock", Path(repo.path) / "packed-refs.lock"


def _remove_stale_lock(repo: pygit2.Repository, ref_name: str) -> bool:
    """Remove the lock files of `ref_name` older than _STALE_LOCK (git writes no holder into one, so its age is all
    there is to judge by); True when one was removed. Stat and removal happen under the sweep flock: no other
    run can remove the stale file and a live writer lock the ref again in between."""
    removed = False
    try:
        with lock.exclusive(Path(repo.path) / _REF_LOCK_SWEEP, f"stale ref locks of {repo.path}", wait=_SWEEP_WAIT):
            for path in _ref_locks(repo, ref_name):
                with contextlib.suppress(OSError):  # gone: its writer finished
                    if time.time() - path.stat().st_mtime > _STALE_LOCK:
                        path.unlink()
                        removed = True
    except LockedError:
        pass  # another run has been sweeping for long: leave the lock files to be named in the error
    return removed


def _locked(repo: pygit2.Repository, ref_name: str) -> RefLockError | None:
    """Why a ref could not be written when a git lock file is in the way, with the fix; None when none is."""
    for path in _ref_locks(repo, ref_name):
        try:
            age = time.time() - path.stat().st_mtime
        except OSError:
            continue
        return RefLockError(
            f"{ref_name} is locked by {path} ({age:.0f} s old: a git process is writing the branch, or one that "
            f"crashed left it); nothing was changed. Run again: a lock file over {_STALE_LOCK // 60} minutes old "
            "is removed, or delete it now if no git command is running on this repository"
        )
    return None


def _ref_name(branch: str) -> str:
    return branch if branch.startswith("refs/") else f"refs/heads/{branch}"


def commit_time(repo: pygit2.Repository, commit: str) -> int:
    """Seconds since the epoch at which `commit` was committed."""
    return int(repo.revparse_single(commit).peel(pygit2.Commit).commit_time)


def branch_names(repo: pygit2.Repository, prefix: str = "") -> list[str]:
    """Local branch names starting with `prefix`, sorted."""
    return sorted(name for name in repo.branches.local if name.startswith(prefix))


def read_file(repo: pygit2.Repository, tree_id: str | None, path: str) -> bytes | None:
    """One file of a tree (None when the tree or the path does not exist)."""
    if tree_id is None:
        return None
    tree = repo[tree_id]
    assert isinstance(tree, pygit2.Tree)
    try:
        entry = tree[path]
    except KeyError:
        return None
    return repo[entry.id].read_raw() if entry.type_str == "blob" else None


def read_blobs(repo: pygit2.Repository, blob_ids: Mapping[str, str]) -> dict[str, bytes]:
    """Contents of the given blobs, keyed like the input."""
    odb = repo.odb
    return {key: odb.read(blob_id)[1] for key, blob_id in blob_ids.items()}
