"""Seed 004's currency rules: compound versions follow their base technology (update type, branch, window),
windows per app or group, and apps whose minors count as majors. Expected values are worked out by hand from
the release dates below (NOW = 2026-11-22)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gitops_engine.core.errors import InputError
from gitops_engine.updates.branches import branch_key, is_bot_branch, plan_branches
from gitops_engine.updates.policy import Policy, parse_policy
from gitops_engine.updates.proposals import Plan, propose
from gitops_engine.updates.report import Row, Status, build_report
from gitops_engine.updates.scan import scan_tree
from gitops_engine.updates.versions import UpdateType, Version, parse_version, release_line, update_type
from tests.updates.support import NOW, synthetic_index
from tests.updates.test_policy import REPO, URL, release


def _v(text: str) -> Version:
    parsed = parse_version(text)
    assert parsed is not None
    return parsed


# an integration chart `<integration>-<base technology>`, on 1.3.0-2.5.0 (base 2.5.0)
COMPOUND = {
    "1.3.0-2.5.0": 200,
    "1.3.1-2.5.1": 150,  # base patch
    "1.3.2-2.6.0": 103,  # base minor, 103 days ago: past the 30-day minor window
    "1.4.0-3.8.0": 10,  # base major (2 -> 3), though the integration part only moved a minor
}


def _plan(chart: str, version: str, versions: dict[str, int], policy: Policy | None = None) -> Plan:
    files = {"clusters/c/repo.yaml": REPO, f"clusters/c/{chart}.yaml": release(chart, version)}
    index = synthetic_index(URL, chart, {v: NOW - timedelta(days=d) for v, d in versions.items()})
    return propose(scan_tree(files), {URL: index}, policy or Policy(), NOW)


def _row(chart: str, version: str, versions: dict[str, int], policy: Policy | None = None) -> Row:
    files = {"clusters/c/repo.yaml": REPO, f"clusters/c/{chart}.yaml": release(chart, version)}
    index = synthetic_index(URL, chart, {v: NOW - timedelta(days=d) for v, d in versions.items()})
    (row,) = build_report(scan_tree(files), {URL: index}, policy or Policy(), NOW)
    return row


def test_a_compound_version_steps_by_its_base_technology() -> None:
    assert update_type(_v("1.3.0-2.5.0"), _v("1.4.0-3.8.0")) is UpdateType.MAJOR
    assert update_type(_v("1.3.0-2.5.0"), _v("1.3.2-2.6.0")) is UpdateType.MINOR
    assert update_type(_v("1.3.0-2.5.0"), _v("1.3.1-2.5.1")) is UpdateType.PATCH
    # the integration part decides only when the base did not move
    assert update_type(_v("1.3.0-2.5.0"), _v("1.4.0-2.5.0")) is UpdateType.MINOR
    assert release_line(_v("1.4.0-3.8.0")) == "3"
    assert release_line(_v("1.3.2-2.6.0")) == "2"


def test_a_compound_update_gets_one_branch_per_base_major_with_the_base_step() -> None:
    plan = _plan("app", "1.3.0-2.5.0", COMPOUND)
    moves = [(p.target.text, p.update.value, p.line) for p in plan.proposals]
    assert moves == [("1.3.2-2.6.0", "minor", "2"), ("1.4.0-3.8.0", "major", "3")]
    names = [b.name for b in plan_branches(plan.proposals, NOW)]
    assert names == ["gitops-engine/app-2", "gitops-engine/app-3"]
    # a policy without majors holds the base-tech major back, though its integration part is a minor
    strict = _plan("app", "1.3.0-2.5.0", COMPOUND, parse_policy(b"defaults: {update_types: [patch, minor]}\n", "p"))
    assert [p.target.text for p in strict.proposals] == ["1.3.2-2.6.0"]
    assert [(h.version, h.reason) for h in strict.held] == [("1.4.0-3.8.0", "major updates are not allowed")]


def test_a_base_technology_minor_103_days_old_is_overdue() -> None:
    row = _row("app", "1.3.0-2.5.0", COMPOUND)
    assert (row.newest_patch, row.newest_minor, row.newest_major) == ("1.3.1-2.5.1", "1.3.2-2.6.0", "1.4.0-3.8.0")
    assert row.status is Status.OVERDUE and row.days_behind == 150
    # only the base major, 10 days old, is newer: due within the 60-day major window
    on_latest_minor = _row("app", "1.3.2-2.6.0", COMPOUND)
    assert (on_latest_minor.newest_major, on_latest_minor.status, on_latest_minor.days_behind) == (
        "1.4.0-3.8.0",
        Status.DUE,
        10,
    )


WINDOWS = b"""\
groups:
  - name: monitoring
    apps: [grafana, loki]
windows: {minor_days: 30, major_days: 60}
rules:
  - groups: [monitoring]
    windows: {minor_days: 7}
  - apps: [app]
    windows: {major_days: 90}
"""


def test_windows_are_set_per_group_and_per_app() -> None:
    policy = parse_policy(WINDOWS, ".gitops-engine/currency.yaml")
    minor_10_days = {"1.2.0": 200, "1.3.0": 10}
    major_70_days = {"1.2.0": 200, "2.0.0": 70}
    # grafana is in the group whose minor window is 7 days: a 10-day-old minor is overdue (30 days: due)
    assert _row("grafana", "1.2.0", minor_10_days, policy).status is Status.OVERDUE
    assert _row("other", "1.2.0", minor_10_days, policy).status is Status.DUE
    # app waits 90 days for a major: a 70-day-old major is due (60 days: overdue); its minor window stays 30
    assert _row("app", "1.2.0", major_70_days, policy).status is Status.DUE
    assert _row("other", "1.2.0", major_70_days, policy).status is Status.OVERDUE
    assert (policy.for_app("loki").minor_window_days, policy.for_app("loki").major_window_days) == (7, 60)
    assert (policy.for_app("app").minor_window_days, policy.for_app("app").major_window_days) == (30, 90)


KAFKA = {"3.6.0": 300, "3.6.1": 200, "3.7.0": 100, "3.8.0": 40}


def test_an_app_whose_minors_count_as_majors_gets_a_branch_and_window_per_minor() -> None:
    policy = parse_policy(b"rules:\n  - apps: [kafka]\n    minor_is_major: true\n", "p")
    plan = _plan("kafka", "3.6.0", KAFKA, policy)
    assert [(p.target.text, p.update.value, p.line) for p in plan.proposals] == [
        ("3.6.1", "patch", "3.6"),
        ("3.8.0", "major", "3.8"),
    ]
    names = [b.name for b in plan_branches(plan.proposals, NOW)]
    assert names == ["gitops-engine/kafka-3.6", "gitops-engine/kafka-3.8"]
    assert is_bot_branch("gitops-engine/kafka-3.8") and branch_key("gitops-engine/kafka-3.8") == "kafka"
    row = _row("kafka", "3.6.1", KAFKA, policy)
    # 3.7.0 (100 days) is a major now: past the 60-day major window
    assert (row.newest_minor, row.newest_major, row.status) == (None, "3.8.0", Status.OVERDUE)
    on_3_7 = _row("kafka", "3.7.0", KAFKA, policy)
    assert (on_3_7.newest_major, on_3_7.status) == ("3.8.0", Status.DUE)  # 40 days < 60 (a minor: overdue)
    assert _row("kafka", "3.7.0", KAFKA).status is Status.OVERDUE
    no_majors = parse_policy(
        b"defaults: {update_types: [patch, minor]}\nrules:\n  - apps: [kafka]\n    minor_is_major: true\n", "p"
    )
    held = _plan("kafka", "3.6.1", KAFKA, no_majors)
    assert [p.target.text for p in held.proposals] == []
    assert [(h.version, h.reason) for h in held.held] == [("3.8.0", "major updates are not allowed")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules:\n- windows: {minor_days: 7}\n", "p.yaml:2: rules[0]: missing required key 'apps' (or 'groups')"),
        (
            "groups: [{name: g, apps: [a]}]\nrules:\n- groups: [h]\n  minor_is_major: true\n",
            "p.yaml:3: rules[0].groups[0]: no group 'h' in `groups` (groups: g)",
        ),
        ("rules:\n- apps: [a]\n  windows: {minor_days: -1}\n", "p.yaml:3: rules[0].windows.minor_days: must be a"),
        ("rules:\n- apps: [a]\n  minor_is_major: sometimes\n", "p.yaml:3: rules[0].minor_is_major: must be true or"),
        ("defaults:\n  windows: {minor_days: 7}\n", "p.yaml:2: defaults.windows: unknown key"),
    ],
)
def test_a_bad_window_or_selector_names_its_line(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_policy(text.encode(), "p.yaml")
    assert caught.value.lines[0].startswith(message)
