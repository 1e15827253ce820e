"""Policy: every rule decides what is proposed; a bad policy file names file:line and the fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gitops_engine.core.errors import InputError
from gitops_engine.updates.policy import KubernetesReleases, Policy, Settings, judge, parse_policy
from gitops_engine.updates.proposals import Plan, propose
from gitops_engine.updates.scan import scan_tree
from gitops_engine.updates.uses import INLINE_RELEASES, LISTED_RELEASES, STABLE_RELEASES
from gitops_engine.updates.versions import parse_version
from tests.updates.support import NOW, synthetic_index

URL = "https://charts.example.invalid"
REPO = f"""apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {{name: charts, namespace: flux-system}}
spec: {{url: {URL}}}
""".encode()


def release(chart: str, version: str) -> bytes:
    return f"""apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {{name: {chart}, namespace: apps}}
spec:
  chart:
    spec:
      chart: {chart}
      version: {version}
      sourceRef: {{kind: HelmRepository, name: charts, namespace: flux-system}}
""".encode()


def days_ago(n: int) -> datetime:
    return NOW - timedelta(days=n)


VERSIONS = {
    "1.0.0": days_ago(400),
    "1.0.1": days_ago(300),
    "1.1.0": days_ago(200),
    "1.2.0": days_ago(100),
    "1.2.1": days_ago(1),
    "2.0.0": days_ago(50),
    "2.1.0-beta.1": days_ago(10),
}


def run(policy_text: str | None, version: str = "1.0.0", now: datetime = NOW, chart: str = "app") -> Plan:
    files = {"clusters/c/repo.yaml": REPO, f"clusters/c/{chart}.yaml": release(chart, version)}
    policy = Policy() if policy_text is None else parse_policy(policy_text.encode(), "currency.yaml")
    return propose(scan_tree(files), {URL: synthetic_index(URL, chart, VERSIONS)}, policy, now)


def targets(plan: Plan) -> list[str]:
    return [p.target.text for p in plan.proposals]


def test_defaults_propose_newest_in_major_and_newest_major_without_prereleases() -> None:
    assert targets(run(None)) == ["1.2.1", "2.0.0"]


def test_update_types() -> None:
    assert targets(run("defaults: {update_types: [patch]}")) == ["1.0.1"]
    assert targets(run("defaults: {update_types: [patch, minor]}")) == ["1.2.1"]
    plan = run("rules: [{apps: [app], update_types: [major]}]")
    assert targets(plan) == ["2.0.0"]


def test_allow_and_ignore_ranges() -> None:
    assert targets(run("rules: [{apps: [app], allow: '<1.2'}]")) == ["1.1.0"]
    assert targets(run("rules: [{apps: ['a*'], ignore: ['1.2.x', '>=2']}]")) == ["1.1.0"]


def test_prereleases_only_when_already_on_one() -> None:
    assert "2.1.0-beta.1" not in targets(run(None, "1.0.0"))
    assert targets(run(None, "2.1.0-beta.0")) == ["2.1.0-beta.1"]
    assert targets(run("defaults: {prereleases: always}")) == ["1.2.1", "2.1.0-beta.1"]
    assert targets(run("defaults: {prereleases: never}", "2.1.0-beta.0")) == []


def test_a_prerelease_moves_to_its_release_not_to_the_next_versions_prerelease() -> None:
    # on 2.0.0-rc.1 with 2.0.0 out: 2.0.0, not 2.1.0-beta.1 (Renovate agrees: the peer's podinfo case)
    assert targets(run(None, "2.0.0-rc.1")) == ["2.0.0"]
    plan = run(None, "2.0.0")
    assert targets(plan) == []


def test_minimum_release_age_uses_index_created() -> None:
    plan = run("defaults: {minimum_release_age: 3d, update_types: [patch, minor]}")
    assert targets(plan) == ["1.2.0"]
    plan = run("defaults: {minimum_release_age: 60d}", "1.2.0")
    assert targets(plan) == []
    assert plan.skips[0].reason == "newest 2.0.0 not proposed: released 50.0 days ago, policy waits 60 days"


def test_a_release_dated_after_now_waits_for_its_date_and_says_so() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    current, candidate = parse_version("1.0.0"), parse_version("1.0.1")
    assert current is not None and candidate is not None

    ahead = judge(current, candidate, datetime(2026, 12, 2, 12, 5, tzinfo=UTC), Settings(), now)
    assert (ahead.allowed, ahead.reason) == (False, "dated 2026-12-02T12:05+00:00, later than now")
    assert judge(current, candidate, datetime(2026, 12, 2, 11, 55, tzinfo=UTC), Settings(), now).allowed


def test_groups_share_one_branch_per_major() -> None:
    plan = run("groups: [{name: platform, apps: [app, other]}]")
    assert {p.branch_key for p in plan.proposals} == {"platform"}


def test_schedule_windows_defer_and_keep_branches() -> None:
    saturday_night = datetime(2026, 11, 21, 23, 30, tzinfo=NOW.tzinfo)  # a Saturday
    policy = "defaults: {schedule: ['sat 22:00-02:00']}"
    assert targets(run(policy, now=saturday_night)) == ["1.2.1", "2.0.0"]
    assert targets(run(policy, now=saturday_night + timedelta(hours=2))) == ["1.2.1", "2.0.0"]  # Sunday 01:30
    plan = run(policy, now=saturday_night + timedelta(hours=4))
    assert targets(plan) == [] and plan.deferred == {"app-1", "app-2"}
    assert "schedule" in plan.skips[0].reason


def test_disabled_app() -> None:
    plan = run("rules: [{apps: [app], enabled: false}]")
    assert targets(plan) == [] and plan.skips[0].reason == "disabled by policy"


def test_later_rules_win_and_windows_are_configurable() -> None:
    policy = parse_policy(
        b"rules:\n- {apps: ['*'], update_types: [patch]}\n- {apps: [app], update_types: [minor]}\n"
        b"windows: {minor_days: 7, major_days: 14}\n",
        "p.yaml",
    )
    assert policy.for_app("app").update_types == {"minor"}
    assert policy.for_app("zzz").update_types == {"patch"}
    assert (policy.minor_window_days, policy.major_window_days) == (7, 14)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "defaults:\n  update_types: [huge]\n",
            "currency.yaml:2: defaults.update_types[0]: 'huge' is not one of patch",
        ),
        ("rules:\n- apps: [a]\n  allow: '>=banana'\n", "currency.yaml:3: rules[0].allow: not a version constraint"),
        ("rules:\n- update_types: [patch]\n", "currency.yaml:2: rules[0]: missing required key 'apps'"),
        (
            "defaults:\n  minimum_release_age: soon\n",
            "currency.yaml:2: defaults.minimum_release_age: 'soon' must look like 3d",
        ),
        ("defaults:\n  schedule: [someday]\n", "currency.yaml:2: defaults.schedule: window 'someday' must look like"),
        ("rulez: []\n", "currency.yaml:1: rulez: unknown key; did you mean 'rules'?"),
        ("defaults: [\n", "currency.yaml:2: invalid YAML: "),
        ("windows: {minor_days: soon}\n", "currency.yaml:1: windows.minor_days: must be a whole number of days"),
        (
            "kubernetes:\n  releases: https://dl.k8s.io/release\n  list: https://example.com/k8s.txt\n",
            "currency.yaml:1: kubernetes: give exactly one of releases (stable files), list (a URL) or versions",
        ),
        (
            "kubernetes:\n  list: ftp://example.com/k8s.txt\n",
            "currency.yaml:2: kubernetes.list: 'ftp://example.com/k8s",
        ),
        (
            'kubernetes:\n  versions: ["1.31.4", "1.30 yesterday"]\n',
            "currency.yaml:2: kubernetes.versions[1]: '1.30 yesterday' is not a version (optionally followed by",
        ),
        ("kubernetes:\n  stable: https://dl.k8s.io/release\n", "currency.yaml:2: kubernetes.stable: unknown key"),
    ],
)
def test_bad_policy_names_file_line_key_and_fix(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_policy(text.encode(), "currency.yaml")
    assert caught.value.lines[0].startswith(message)


def test_a_kubernetes_list_over_the_limit_is_refused_not_cut() -> None:
    listed = ", ".join(f'"1.{minor}.{patch}"' for minor in range(20, 40) for patch in range(51))
    with pytest.raises(InputError) as caught:
        parse_policy(f"kubernetes:\n  versions: [{listed}]\n".encode(), "currency.yaml")
    assert caught.value.lines == (
        "currency.yaml:2: kubernetes.versions: 1020 versions; at most 1000 (keep the newest)",
    )


def test_every_mistake_of_a_policy_is_reported_at_once() -> None:
    text = "defaults:\n  prereleases: sometimes\nrules:\n- apps: [a]\n  enabled: perhaps\ngroups:\n- name: g\n"
    with pytest.raises(InputError) as caught:
        parse_policy(text.encode(), "currency.yaml")
    assert caught.value.lines == (
        "currency.yaml:2: defaults.prereleases: 'sometimes' is not one of auto, never, always",
        "currency.yaml:5: rules[0].enabled: must be true or false, not a string",
        "currency.yaml:7: groups[0]: missing required key 'apps'",
    )


def held(plan: Plan) -> list[tuple[str, str]]:
    return [(h.version, h.reason) for h in plan.held]


def test_what_the_policy_holds_back_is_recorded_with_its_reason() -> None:
    # a minor is proposed while the newer major is held back: both are known
    plan = run("defaults: {update_types: [patch, minor]}")
    assert targets(plan) == ["1.2.1"]
    assert held(plan) == [("2.0.0", "major updates are not allowed")]
    assert held(run("rules: [{apps: ['a*'], ignore: ['>=2']}]")) == [("2.0.0", "ignored by >=2")]
    assert held(run("defaults: {minimum_release_age: 60d}", "1.2.0")) == [
        ("2.0.0", "released 50.0 days ago, policy waits 60 days")
    ]
    assert held(run("rules: [{apps: [app], enabled: false}]")) == [("", "disabled by policy")]


def test_nothing_is_held_back_when_the_newest_is_proposed_or_only_an_older_version_is_excluded() -> None:
    assert held(run(None)) == []
    # 1.2.x ignored, 2.0.0 proposed: the ignored versions are older than what is proposed
    plan = run("rules: [{apps: [app], ignore: ['1.2.x']}]")
    assert targets(plan) == ["1.1.0", "2.0.0"] and held(plan) == []


def test_a_schedule_holds_back_the_newest_target() -> None:
    sunday_noon = datetime(2026, 11, 22, 12, 0, tzinfo=NOW.tzinfo)
    plan = run("defaults: {schedule: ['sat 22:00-02:00']}", now=sunday_noon)
    assert held(plan) == [("2.0.0", "outside the policy's schedule windows; existing branches are kept")]


def test_the_kubernetes_release_source_defaults_to_the_files_kubernetes_publishes() -> None:
    assert parse_policy(b"defaults: {}\n", "currency.yaml").kubernetes == KubernetesReleases(
        "https://dl.k8s.io/release", STABLE_RELEASES
    )
    listed = parse_policy(b"kubernetes:\n  list: https://example.com/k8s.txt/\n", "p.yaml").kubernetes
    assert listed == KubernetesReleases("https://example.com/k8s.txt", LISTED_RELEASES)
    inline = parse_policy(b'kubernetes:\n  versions: ["1.31.4 2026-10-01", "v1.30.8"]\n', "p.yaml").kubernetes
    assert inline == KubernetesReleases("p.yaml#kubernetes.versions", INLINE_RELEASES, ("1.31.4 2026-10-01", "v1.30.8"))
