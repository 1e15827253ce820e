"""Line-level 3-way merge through `git merge-file` on temporary files (git's own merge machinery)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from gitops_engine.adapters import command
from gitops_engine.reseed.decide import LineMerge

# git merge-file exits with the number of conflicts (capped at 127) and with a negative status on errors
_CONFLICT_CODES = tuple(range(128))


@dataclass(frozen=True)
class MergeInput:
    """One file to merge; `path` and `base_path` only label the conflict markers."""

    path: str
    base: bytes
    ours: bytes
    theirs: bytes
    base_path: str | None = None


def merge_lines(job: MergeInput) -> LineMerge:
    """Merge `theirs` into `ours` relative to `base`; conflicts come back as diff3 markers in the content."""
    base_label = f"base (last seed: {job.base_path})" if job.base_path else "base (last seed)"
    with tempfile.TemporaryDirectory(prefix="gitops-engine-merge-") as tmp:
        names = []
        for name, data in (("ours", job.ours), ("base", job.base), ("theirs", job.theirs)):
            target = Path(tmp) / name
            target.write_bytes(data)
            names.append(str(target))
        labels = (f"ours (repository: {job.path})", base_label, "theirs (new render)")
        flags = [arg for label in labels for arg in ("-L", label)]
        argv = ("git", "merge-file", "-p", "--diff3", *flags, *names)
        done = command.run(command.Command(argv, ok_codes=_CONFLICT_CODES, timeout=60))
    return LineMerge(done.stdout, done.returncode)


def merge_all(jobs: Sequence[MergeInput]) -> list[LineMerge]:
    """Merge many files, several processes at a time (each merge waits on a `git` process)."""
    if len(jobs) < 2:
        return [merge_lines(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=min(len(jobs), 2 * (os.cpu_count() or 1))) as pool:
        return list(pool.map(merge_lines, jobs))
