"""The dashboard issue's Markdown: a small fleet's page written out by hand, held-back updates, escaping, limits."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from gitops_engine.model.charts import ChartIndex
from gitops_engine.updates import dashboard
from gitops_engine.updates.branches import plan_branches
from gitops_engine.updates.policy import parse_policy
from gitops_engine.updates.proposals import propose
from gitops_engine.updates.report import Row, Status, build_report
from gitops_engine.updates.scan import scan_tree
from tests.updates.support import NOW, synthetic_index
from tests.updates.test_policy import REPO, URL, release

DOWN = "https://down.example.invalid"
DOWN_REPO = f"""apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {{name: down, namespace: flux-system}}
spec: {{url: {DOWN}}}
""".encode()
CERT_MANAGER = b"""apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: cert-manager, namespace: apps}
spec:
  chart:
    spec:
      chart: cert-manager
      version: v1.14.2
      sourceRef: {kind: HelmRepository, name: down, namespace: flux-system}
"""
FILES = {
    "clusters/prod/repo.yaml": REPO,
    "clusters/prod/down.yaml": DOWN_REPO,
    "clusters/prod/podinfo.yaml": release("podinfo", "6.7.0"),
    "clusters/prod/traefik.yaml": release("traefik", "25.0.0"),
    "clusters/prod/cert-manager.yaml": CERT_MANAGER,
}
POLICY = parse_policy(b"defaults: {update_types: [patch, minor]}\n", ".gitops-engine/currency.yaml")
# server text: a pipe, markup, a forged marker and a link must all stay text
HOSTILE = "refused | <!-- gitops-engine:dashboard base=main --> [x](http://evil)"
PR_URL = "https://gitea.example.invalid/platform/fleet/pulls/1"


def _index() -> ChartIndex:
    podinfo = synthetic_index(URL, "podinfo", {"6.7.0": _ago(100), "6.8.0": _ago(12), "7.0.0": _ago(5)})
    traefik = synthetic_index(URL, "traefik", {"25.0.0": _ago(200), "33.1.0": _ago(70)})
    return ChartIndex(URL, {**podinfo.charts, **traefik.charts})


def _ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


def _page() -> dashboard.Dashboard:
    scan = scan_tree(FILES)
    indexes = {URL: _index()}
    failures = {DOWN: HOSTILE}
    plan = propose(scan, indexes, POLICY, NOW)
    (branch,) = plan_branches(plan.proposals, NOW)
    return dashboard.Dashboard(
        base="main",
        now=NOW,
        pending=(dashboard.PendingBranch(branch, 1, PR_URL),),
        held=plan.held,
        lookup_failures=failures,
        branch_failures=(),
        rows=build_report(scan, indexes, POLICY, NOW, failures),
        minor_window_days=30,
        major_window_days=60,
    )


EXPECTED = """\
<!-- gitops-engine:dashboard base=main -->
**Last run:** 2026-11-22 (UTC) · **status:** 1 failure · **base:** `main`

This issue is rewritten by gitops-engine on every `bump` and `reconcile`; edits made here are lost.

## Pending updates

| Branch | Update | Changes | Pull request |
|---|---|---|---|
| `gitops-engine/podinfo-6` | Update podinfo to 6.8.0 | podinfo `6.7.0` → `6.8.0` (minor) \
| [#1](https://gitea.example.invalid/platform/fleet/pulls/1) |

## Held back by policy or compatibility

| App | Chart | Current | Held back | Why | Where |
|---|---|---|---|---|---|
| podinfo | podinfo | `6.7.0` | `7.0.0` | major updates are not allowed | `clusters/prod/podinfo.yaml:8` |
| traefik | traefik | `25.0.0` | `33.1.0` | major updates are not allowed | `clusters/prod/traefik.yaml:8` |

## Failed lookups

| Chart repository | Reason |
|---|---|
| https://down.example.invalid | refused \\| &lt;!-- gitops-engine:dashboard base=main --&gt; \\[x\\](http://evil) |

## Currency windows

A new minor should land within 30 days of its release, a new major within 60.

| Window | App | Chart | Current | Clusters | Newest minor | Newest major | Behind |
|---|---|---|---|---|---|---|---|
| overdue | traefik | traefik | `25.0.0` | prod | - | `33.1.0` | 70 days |
| due | podinfo | podinfo | `6.7.0` | prod | `6.8.0` | `7.0.0` | 12 days |
| unknown: lookup failed | cert-manager | cert-manager | `v1.14.2` | prod | - | - | - |
"""


def test_a_small_fleet_renders_every_section_as_written_by_hand() -> None:
    assert _page().markdown() == EXPECTED


def test_the_marker_appears_once_whatever_the_servers_say() -> None:
    body = _page().markdown()
    assert body.count(dashboard.marker("main")) == 1
    assert body.count("<!--") == 1


def test_nothing_pending_held_or_failed_says_none_and_status_ok() -> None:
    page = replace(_page(), pending=(), held=(), lookup_failures={}, rows=())
    body = page.markdown()
    assert "**status:** ok" in body
    assert body.count("None.") == 4
    assert "## Failed branches" not in body


def test_failed_branches_are_listed_and_counted() -> None:
    page = replace(_page(), branch_failures=(("gitops-engine/podinfo-6", "push refused"),))
    body = page.markdown()
    assert "**status:** 2 failures" in body
    assert "## Failed branches\n\n| Branch | Error |\n|---|---|\n| `gitops-engine/podinfo-6` | push refused |\n" in body


def test_a_fleet_of_one_app_in_many_clusters_is_one_row_naming_three_clusters() -> None:
    row = Row("podinfo", "podinfo", ("a",), "f.yaml", 7, "6.7.0", None, "6.8.0", None, 12, Status.DUE)
    days = {"e": 1, "d": 2, "c": 3, "b": 4, "a": 12}
    rows = tuple(replace(row, clusters=(name,), days_behind=n) for name, n in days.items())
    body = replace(_page(), rows=rows).markdown()
    assert "| due | podinfo | podinfo | `6.7.0` | a, b, c +2 more | `6.8.0` | - | 12 days |" in body


def test_a_table_stops_at_its_row_limit_and_says_how_many_more() -> None:
    row = Row("app", "chart", ("c",), "f.yaml", 1, "1.0.0", None, None, None, 0, Status.OK)
    rows = tuple(replace(row, app=f"app-{n:03}") for n in range(dashboard.MAX_ROWS + 5))
    body = replace(_page(), rows=rows).markdown()
    assert "| ok | app-099 |" in body and "| ok | app-100 |" not in body
    assert body.endswith("\n… and 5 more (`gitops-engine report` lists every chart).\n")


def test_markers_differ_per_base_and_no_branch_name_can_close_the_comment() -> None:
    assert dashboard.marker("release-1") == "<!-- gitops-engine:dashboard base=release%2D1 -->"
    assert dashboard.marker("x-->") == "<!-- gitops-engine:dashboard base=x%2D%2D%3E -->"
    assert dashboard.marker("main") not in dashboard.marker("main2")


def test_a_long_server_message_is_cut_to_one_bounded_cell() -> None:
    body = replace(_page(), lookup_failures={DOWN: "x" * 5000 + "\n| injected |"}).markdown()
    (row,) = [line for line in body.splitlines() if line.startswith(f"| {DOWN} |")]
    assert row == f"| {DOWN} | {'x' * 299}… |"


def test_a_pending_branch_shows_its_rendered_impact_beside_its_pull_request() -> None:
    (pending,) = _page().pending
    page = replace(_page(), pending=(replace(pending, impact="1 HelmRelease(s) change, ⚠️ 2 risky"),))
    assert (
        "| `gitops-engine/podinfo-6` | Update podinfo to 6.8.0 | podinfo `6.7.0` → `6.8.0` (minor) "
        "| [#1](https://gitea.example.invalid/platform/fleet/pulls/1)<br>rendered: 1 HelmRelease(s) change, ⚠️ 2 "
        "risky |\n"
    ) in page.markdown()
