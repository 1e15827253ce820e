"""A dry run's printed answer, kept under a key that names every input of it.

A scheduled bot mostly asks an unchanged question: the same base tree, the same policy, chart repositories that
published nothing new. The answer is then the last one, found after one conditional GET per chart repository
instead of a scan, a decision per release and the formatting. The key holds the engine version, the base tree id,
the branch, the policy's bytes, the output format and each chart repository's content digest. Policies whose
decisions move with the clock alone (schedule windows, a minimum release age) are never memoised, and neither is
a run in which a lookup failed.

Only what a hit needs is imported here: git, the lookups, the two caches and the policy reader.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gitops_engine import __version__
from gitops_engine.adapters import fs, git, runcache, scancache
from gitops_engine.adapters import helmrepo as lookups
from gitops_engine.core.errors import GitopsError
from gitops_engine.core.hashing import sha256_hex
from gitops_engine.currency.policy import POLICY_PATH, parse_policy
from gitops_engine.currency.uses import ChartSource
from gitops_engine.model.charts import ChartIndex


@dataclass(frozen=True)
class DryRunQuestion:
    """Everything but the chart repositories that a dry run's output depends on."""

    tree: str
    branch: str
    policy: bytes | None
    output: str


def question(repo_path: Path, branch: str, policy_file: Path | None, output: str) -> DryRunQuestion | None:
    """The question a dry run of `branch` asks, or None when its answer must not be memoised (or the run itself
    is going to report a problem: no such repository or branch, an unreadable or invalid policy)."""
    try:
        repo = git.open_repository(repo_path, create=False)
        head = git.head_of(repo, branch)
        if head.tree is None:
            return None
        policy = (
            fs.read_bytes(policy_file, "currency policy")
            if policy_file
            else git.read_file(repo, head.tree, POLICY_PATH)
        )
        if policy is not None and parse_policy(policy, str(policy_file or POLICY_PATH)).time_dependent:
            return None
    except GitopsError:
        return None
    return DryRunQuestion(head.tree, branch, policy, output)


def recall(asked: DryRunQuestion, cache_dir: Path, options: lookups.LookupOptions | None = None) -> bytes | None:
    """The stored answer, when the tree was scanned before and no chart repository changed since."""
    sources = scancache.load_sources(cache_dir, asked.tree)
    if sources is None:
        return None
    digests = lookups.revalidate(_lookup_sources(sources), options)
    if digests is None:
        return None
    return runcache.load_output(cache_dir, _key(asked, digests))


def remember(
    asked: DryRunQuestion,
    cache_dir: Path,
    sources: Sequence[ChartSource],
    indexes: Mapping[str, ChartIndex],
    answer: bytes,
    options: lookups.LookupOptions | None = None,
) -> None:
    """Store `answer` under the digests of the indexes the run used (`indexes`, by source URL)."""
    digests: dict[str, str] = {}
    for source, wanted in zip(sources, _lookup_sources(sources), strict=True):
        index = indexes.get(source.url)
        digest = None if index is None else lookups.used_digest(wanted, index, options)
        if digest is None:
            return
        digests[source.url] = digest
    runcache.store_output(cache_dir, _key(asked, digests), answer)


def _lookup_sources(sources: Sequence[ChartSource]) -> list[lookups.ChartSource]:
    return [lookups.ChartSource(s.url, insecure=s.insecure) for s in sources]


def _key(asked: DryRunQuestion, digests: Mapping[str, str]) -> str:
    parts = {
        "engine": __version__,
        "tree": asked.tree,
        "branch": asked.branch,
        "policy": None if asked.policy is None else sha256_hex(asked.policy),
        "output": asked.output,
        "indexes": sorted(digests.items()),
    }
    return sha256_hex(json.dumps(parts).encode())
