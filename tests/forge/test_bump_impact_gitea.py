"""A bump pull request on the test Gitea shows what the chart update does to the rendered objects.

The chart (built and packaged with the Helm SDK in tests/helm/charts.py) goes from 1.0.0 to 2.0.0, which changes
the Deployment's selector and the Widget CRD: both must be flagged in the pull request body.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gitops_engine.adapters import git
from gitops_engine.adapters.helmrepo import LookupOptions
from gitops_engine.adapters.targets import gitea_target
from gitops_engine.app.bump import Action, AdapterLookup, bump_target
from gitops_engine.app.helm import HelmOptions
from gitops_engine.app.report import run_report
from gitops_engine.cli.currency_commands import bump_json
from gitops_engine.model.tree import Tree
from gitops_engine.secrets.agekeys import generate_identity
from tests.forge.gitea_server import GiteaServer
from tests.forge.support import publish_tree as publish
from tests.helm.charts import index_yaml, packaged
from tests.helm.fleet import write_fleet
from tests.helm.tools import builds, recording_kustomize
from tests.lookups.servers import Route, serving
from tests.updates.support import NOW, files_under


def test_a_bump_pull_request_shows_the_rendered_impact_with_a_selector_and_a_crd_change_flagged(
    gitea: GiteaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tokens: dict[str, str]
) -> None:
    identity, recipient = generate_identity()
    monkeypatch.setenv("SOPS_AGE_KEY", identity)
    monkeypatch.setenv("TEST_GITEA_TOKEN", tokens["alice"])
    target = gitea_target(
        {"url": gitea.url, "owner": "platform", "repository": "fleet", "tokenEnv": "TEST_GITEA_TOKEN"}, "test"
    )
    charts = {version: packaged(tmp_path / "charts", version) for version in ("1.0.0", "2.0.0")}
    with serving() as server:
        server.routes["/index.yaml"] = Route(body=index_yaml(server.url, charts))
        for version, data in charts.items():
            server.routes[f"/demo-{version}.tgz"] = Route(body=data)
        fleet = write_fleet(tmp_path / "fleet", server.url, recipient)
        files = Tree({p: d for p, d in files_under(fleet).items() if not p.startswith(".git/")})
        publish(
            target, "main", lambda _base: files, "fleet", author=git.Signature("h", "h@example.invalid", 1_800_000_000)
        )
        lookups = LookupOptions(cache_dir=tmp_path / "lookups")
        impact = HelmOptions(lookups, offline=False)

        planned = bump_target(
            target, AdapterLookup(lookups), now=NOW, cache_dir=tmp_path / "scans", dry_run=True, impact=impact
        )
        result = bump_target(target, AdapterLookup(lookups), now=NOW, cache_dir=tmp_path / "scans", impact=impact)
        report = run_report(target, AdapterLookup(lookups), now=NOW, cache_dir=tmp_path / "scans")

    (branch,) = result.branches
    assert branch.name == "gitops-engine/demo-2" and result.outcomes[0].action is Action.CREATED
    (pull,) = gitea.pulls_of("platform", "fleet")
    body = pull.body
    assert "| demo | prod | `1.0.0` → `2.0.0` | major |" in body  # the bot's table is still there, first
    impact_at = body.index("### Rendered impact")
    assert body.index("| demo |") < impact_at
    assert "| clusters/prod | HelmRelease/apps/demo | 0 | 0 |" in body
    assert "Deployment/web/web-demo: spec.selector changes" in body
    assert "CRD widgets.example.com changed" in body
    assert "<details><summary>Rendered diff of HelmRelease/apps/demo (clusters/prod)</summary>" in body
    assert "s3cret-plain" not in body
    # the dry run's JSON carries the same counts
    rows: Any = json.loads(json.dumps(bump_json(planned)))["branches"]
    (release,) = rows[0]["impact"]["releases"]
    assert release["helmRelease"] == "HelmRelease/apps/demo" and release["removed"] == 0
    assert any("spec.selector" in risk for risk in release["risks"])
    # the dashboard and the HTML report lead to the pull request that shows it
    (issue,) = gitea.issues_of("platform", "fleet")
    opened = result.outcomes[0].pull_request
    assert opened is not None and opened.number == pull.number
    assert f"| [#{pull.number}]({opened.url})<br>rendered: 1 HelmRelease(s) change, ⚠️ 2 risky |" in issue.body
    (row,) = report.rows
    assert (row.file, row.pull_number) == ("apps/release.yaml", pull.number)
    assert f'<a href="{row.pull_url}">#{pull.number}</a>' in report.html()


def test_a_bump_says_in_its_pull_request_why_rendering_was_not_possible_and_the_next_pass_asks_nothing(
    gitea: GiteaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tokens: dict[str, str]
) -> None:
    identity, recipient = generate_identity()
    monkeypatch.setenv("SOPS_AGE_KEY", identity)
    monkeypatch.setenv("TEST_GITEA_TOKEN", tokens["alice"])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path, log = recording_kustomize(tmp_path / "bin")
    monkeypatch.setenv("PATH", path)
    target = gitea_target(
        {"url": gitea.url, "owner": "platform", "repository": "fleet", "tokenEnv": "TEST_GITEA_TOKEN"}, "test"
    )
    charts = {version: packaged(tmp_path / "charts", version) for version in ("1.0.0", "2.0.0")}
    with serving() as server:
        # the index lists the archives, the server does not have them
        server.routes["/index.yaml"] = Route(body=index_yaml(server.url, charts))
        fleet = write_fleet(tmp_path / "fleet", server.url, recipient)
        files = Tree({p: d for p, d in files_under(fleet).items() if not p.startswith(".git/")})
        publish(
            target, "main", lambda _base: files, "fleet", author=git.Signature("h", "h@example.invalid", 1_800_000_000)
        )
        lookups = LookupOptions(cache_dir=tmp_path / "lookups", attempts=1)
        passes = [
            bump_target(
                target,
                AdapterLookup(lookups),
                now=NOW,
                cache_dir=tmp_path / "scans",
                impact=HelmOptions(lookups, offline=False),
            )
            for _ in range(2)
        ]
        archive_requests = len(server.requests_for("/demo-2.0.0.tgz"))
    # rendering trouble never stops the bump; the second pass finds the branch as the first left it
    assert [p.outcomes[0].action for p in passes] == [Action.CREATED, Action.UNCHANGED]
    (pull,) = gitea.pulls_of("platform", "fleet")
    assert pull.body.endswith(
        "### Rendered impact\n\nRendering was not possible: no chart it moves to could be fetched: "
        f"GET {server.url}/demo-2.0.0.tgz: HTTP 404\n"
    )
    assert archive_requests == 1  # the second pass remembered the failure
    assert builds(log) == []  # nothing to render with: no kustomize build either
