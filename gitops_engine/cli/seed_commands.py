"""Commands of the seed engine: init, plan, seed."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import click

from gitops_engine.adapters.targets import Target
from gitops_engine.app.plan_comment import comment_plan
from gitops_engine.app.seed import SeedPlan, SeedRequest, SeedResult, plan_seed, seed
from gitops_engine.cli.targets import forge_options, resolve_target, verify_option
from gitops_engine.core.errors import InputError
from gitops_engine.secrets.recipients import RecipientDrift

_spec_option = click.option(
    "-c", "--config", "spec_path", type=click.Path(path_type=Path), default=Path("platform.yaml"), show_default=True,
    help="Platform spec.",
)  # fmt: skip
_repo_option = click.option("--repo", "repository", help="Repository path or URL (overrides git.repository).")
_branch_option = click.option("--branch", help="Branch to seed (overrides git.branch; default main).")
_json_option = click.option("--json", "as_json", is_flag=True, help="Print a machine-readable result.")
_restore_option = click.option("--restore", is_flag=True, help="Bring back managed files a human deleted.")
_ref_option = click.option(
    "--ref",
    "spec_ref",
    help="Read the spec from the --repo repository at this branch or revision (.gitops-engine/platform.yaml).",
)
_create_option = click.option(
    "--create", is_flag=True, help="Create the --repo repository when it does not exist (a mistyped path is refused)."
)


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str], None]]:
    """The current step on one line of a terminal, cleared at the end; silent otherwise (cron, CI, pipes)."""
    if not enabled or not sys.stderr.isatty():
        yield lambda _step: None
        return
    try:
        yield lambda step: click.echo(f"\r\x1b[K{step}…", err=True, nl=False)
    finally:
        click.echo("\r\x1b[K", err=True, nl=False)


@click.command()
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("platform.yaml"), show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(output: Path, force: bool) -> None:
    """Write an example platform spec (3 clusters, 2 workspaces, 1 project)."""
    if output.exists() and not force:
        raise InputError(f"{output}: already exists; pass --force to overwrite it or -o to write elsewhere")
    example = resources.files("gitops_engine").joinpath("data/example-platform.yaml").read_bytes()
    output.write_bytes(example)
    click.echo(f"wrote {output}; next: gitops-engine plan -c {output}")


@click.command()
@_spec_option
@_repo_option
@_branch_option
@forge_options
@_ref_option
@_restore_option
@_create_option
@_json_option
@click.option("--markdown", is_flag=True, help="Print the plan as Markdown, fit for a pull request comment.")
@click.option(
    "--comment",
    is_flag=True,
    help="Post the Markdown plan on the Gitea pull request from --ref into --branch (one comment, kept current).",
)
def plan(
    spec_path: Path,
    repository: str | None,
    gitea_token_env: str | None,
    gitea_token_file: Path | None,
    branch: str | None,
    spec_ref: str | None,
    restore: bool,
    create: bool,
    as_json: bool,
    markdown: bool,
    comment: bool,
) -> None:
    """Show the installer phases in order and, per file, added / replaced / kept / merged / conflict / ...

    With --repo R --ref REF the spec is read from REF of the repository (.gitops-engine/platform.yaml) and the
    plan shows what merging REF into the seeded branch would do.
    """
    target = _target(repository, gitea_token_env, gitea_token_file)
    request = SeedRequest(
        spec_path, repository, branch, restore=restore, create=create, spec_ref=spec_ref, target=target
    )
    with _progress(not (as_json or markdown)) as step:
        result = plan_seed(request, step)
    if markdown or comment:
        text = plan_markdown(result, spec_ref)
        click.echo(text, nl=False)
        if comment:
            if target is None or spec_ref is None:
                raise InputError("--comment needs --repo, --ref and --gitea-token-env/--gitea-token-file")
            posted = comment_plan(target, spec_ref, result.branch, text)
            click.echo(f"plan comment {posted.action} on pull request #{posted.number} {posted.url}".rstrip(), err=True)
        return
    _print_plan(result, as_json)


@click.command(name="seed")
@_spec_option
@_repo_option
@_branch_option
@click.option("--dry-run", is_flag=True, help="Only show the plan; write nothing.")
@click.option(
    "--commit-time", type=int, help="Commit time (seconds since the epoch); default: $SOURCE_DATE_EPOCH, else now."
)
@click.option("--author", default="gitops-engine <gitops-engine@localhost>", show_default=True)
@forge_options
@_ref_option
@_restore_option
@_create_option
@verify_option
@click.option(
    "--age-key",
    type=click.Path(path_type=Path),
    help="age identity file (default: ~/.config/gitops-engine/age/<platform>.agekey).",
)
@_json_option
def seed_command(
    spec_path: Path,
    repository: str | None,
    gitea_token_env: str | None,
    gitea_token_file: Path | None,
    branch: str | None,
    dry_run: bool,
    commit_time: int | None,
    author: str,
    spec_ref: str | None,
    restore: bool,
    create: bool,
    no_verify: bool,
    age_key: Path | None,
    as_json: bool,
) -> int:
    """Render the platform and commit it, keeping or merging hand edits (one commit; none when nothing changed).

    When hand edits and the new render change the same lines, the merge with conflict markers is written to
    the branch gitops-engine/reseed-conflicts, the seeded branch is left as it was, and the exit code is 1.
    """
    name, _, email = author.partition("<")
    who = (name.strip(), email.rstrip(">").strip())
    request = SeedRequest(
        spec_path,
        repository,
        branch,
        commit_time,
        who,
        restore=restore,
        age_key_file=age_key,
        create=create,
        spec_ref=spec_ref,
        target=_target(repository, gitea_token_env, gitea_token_file),
        verify=not no_verify,
    )
    with _progress(not as_json) as step:
        if dry_run:
            _print_plan(plan_seed(request, step), as_json)
            return 0
        result = seed(request, step)
    return _print_result(result, as_json)


def _plan_dict(p: SeedPlan) -> dict[str, Any]:
    return {
        "repository": p.repository,
        "branch": p.branch,
        "baseCommit": p.base_commit,
        "changed": not p.empty,
        "conflicts": list(p.conflicts),
        "phases": [
            {
                "number": ph.phase.number,
                "key": ph.phase.key,
                "title": ph.phase.title,
                "added": list(ph.added),
                "changed": list(ph.changed),
                "removed": list(ph.removed),
                "files": [
                    {"path": d.path, "status": d.status.value, "movedFrom": d.moved_from, "note": d.note}
                    for d in ph.files
                ],
            }
            for ph in p.phases
        ],
        "versionNotes": list(p.version_notes),
        "pendingSecrets": [
            {"path": s.path, "name": s.name, "namespace": s.namespace, "purpose": s.purpose} for s in p.pending_secrets
        ],
        "recipients": {
            "rewrapped": [_drift_dict(d) for d in p.recipients.rewrapped],
            "failed": [{**_drift_dict(d), "reason": why} for d, why in p.recipients.failed],
        },
    }


def _drift_dict(d: RecipientDrift) -> dict[str, Any]:
    return {"path": d.path, "added": list(d.added), "removed": list(d.removed), "carried": list(d.carried)}


def _print_recipients(p: SeedPlan) -> None:
    """The files whose recipients differ from `.sops.yaml`, one line each."""
    if p.recipients.lines():
        click.echo("encrypted files wrapped for other recipients than .sops.yaml names:")
        for line in p.recipients.lines():
            click.echo(f"     - {line}")


def _print_plan(p: SeedPlan, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(_plan_dict(p), indent=2))
        return
    click.echo(f"plan for {p.repository} (branch {p.branch}):")
    for ph in p.phases:
        counts = f"+{len(ph.added)} ~{len(ph.changed)} -{len(ph.removed)}"
        click.echo(f"{ph.phase.number:3d}. {ph.phase.title:<70} {counts}")
        for d in ph.files:
            extra = f" (from {d.moved_from})" if d.moved_from else ""
            extra += f" — {d.note}" if d.note else ""
            click.echo(f"       {d.status.value:<15} {d.path}{extra}")
    if p.pending_secrets:
        click.echo("pending secrets (rendered only once they can be encrypted):")
        for s in p.pending_secrets:
            click.echo(f"     - {s.path} ({s.namespace}/{s.name}: {s.purpose})")
    _print_recipients(p)
    for note in p.version_notes:
        click.echo(f"version: {note}")
    click.echo("no changes" if p.empty else "")


def _target(repository: str | None, token_env: str | None, token_file: Path | None) -> Target | None:
    """A Gitea target when a token option names one; else None (the seed reads --repo or the spec itself)."""
    if repository is None or not (token_env or token_file):
        if token_env or token_file:
            raise InputError("--gitea-token-env/--gitea-token-file name the token for the --repo Gitea repository")
        return None
    return resolve_target(repository, token_env, token_file)


def plan_markdown(p: SeedPlan, spec_ref: str | None) -> str:
    """The plan as a pull request comment: a table of phases, hand edits, conflicts, files (collapsed)."""
    source = f"merging `{spec_ref}` into `{p.branch}`" if spec_ref else f"seeding `{p.branch}`"
    lines = [f"### gitops-engine plan: {source}", ""]
    keys = ["", "Encrypted files wrapped for other recipients than `.sops.yaml` names:"] if p.recipients.lines() else []
    keys += [f"- {line}" for line in p.recipients.lines()]
    if p.empty:
        return "\n".join([*lines, "No file changes.", *keys, ""]) + "\n"
    lines += ["| Phase | Added | Changed | Removed |", "|---|---:|---:|---:|"]
    for ph in p.phases:
        if ph.added or ph.changed or ph.removed:
            lines.append(
                f"| {ph.phase.number}. {ph.phase.title} | {len(ph.added)} | {len(ph.changed)} | {len(ph.removed)} |"
            )
    lines += ["", f"**{p.changed_files} file(s)** change."]
    hand = [d for ph in p.phases for d in ph.files if d.status.value not in ("added", "replaced", "removed")]
    if p.conflicts:
        lines += ["", f":warning: **{len(p.conflicts)} conflict(s)**: hand edits and the new render change the same"]
        lines += ["lines; merging this would put the merge with markers on `gitops-engine/reseed-conflicts`:"]
        lines += [f"- `{path}`" for path in p.conflicts]
    if hand:
        lines += ["", "Hand edits:"] + [f"- {d.status.value}: `{d.path}`" for d in hand]
    if p.version_notes:
        lines += ["", "Versions:"] + [f"- {note}" for note in p.version_notes]
    if p.pending_secrets:
        lines += ["", "Pending secrets (not committed):"]
        lines += [f"- `{s.namespace}/{s.name}` ({s.purpose}): {s.reason}" for s in p.pending_secrets]
    lines += keys
    lines += ["", "<details><summary>Files</summary>", ""]
    for ph in p.phases:
        for kind, paths in (("added", ph.added), ("changed", ph.changed), ("removed", ph.removed)):
            lines += [f"- {kind} `{path}`" for path in paths]
    lines += ["", "</details>", ""]
    return "\n".join(lines) + "\n"


def _print_result(r: SeedResult, as_json: bool) -> int:
    pr = r.pull_request
    if as_json:
        extra = {"commit": r.commit, "ref": r.ref, "pullRequest": pr.url if pr else None}
        click.echo(json.dumps({**_plan_dict(r.plan), **extra}, indent=2))
        return 1 if r.plan.recipients.failed else 0
    if r.commit is None:
        state = "has nothing else to change" if r.plan.recipients.failed else "is up to date"
        click.echo(f"{r.plan.repository}: branch {r.plan.branch} {state}; no commit made")
        _print_recipients(r.plan)
        return 1 if r.plan.recipients.failed else 0
    where = f"pull request #{pr.number} {pr.url}".strip() if pr else r.ref
    click.echo(f"committed {r.commit[:12]} to {where} in {r.plan.repository} ({r.plan.changed_files} files changed)")
    for ph in r.plan.phases:
        if ph.added or ph.changed or ph.removed:
            click.echo(
                f"  {ph.phase.number:2d}. {ph.phase.title}: +{len(ph.added)} ~{len(ph.changed)} -{len(ph.removed)}"
            )
    if Path(r.plan.repository).is_dir():
        repo = r.plan.repository
        click.echo(f"look at it: git --git-dir={repo} log --stat -1   |   git clone {repo} fleet")
    _print_key(r.plan)
    if r.plan.pending_secrets:
        click.echo(f"{len(r.plan.pending_secrets)} secrets pending (not committed):")
        for s in r.plan.pending_secrets:
            click.echo(f"  - {s.namespace}/{s.name} ({s.purpose}): {s.reason}")
    _print_recipients(r.plan)
    # the rest is committed; files no available identity opens are listed above and make the run a failure
    return 1 if r.plan.recipients.failed else 0


def _print_key(plan: SeedPlan) -> None:
    key = plan.age_key
    if key is None or key.key_file is None or not key.generated:
        return
    click.echo(f"generated the age identity {key.key_file} (mode 0600, outside the repository; keep it safe)")
    click.echo(f"  recipient: {key.recipients[0]}")
    click.echo("  load it on every cluster as Flux's decryption key:")
    click.echo(f"  kubectl -n kommander-flux create secret generic sops-age --from-file=age.agekey={key.key_file}")


COMMANDS: list[click.Command] = [init, plan, seed_command]
