"""Versions and Helm constraints: SemVer 2 order, betas, compound versions, Masterminds ranges, range rewrites."""

from __future__ import annotations

import pytest

from gitops_engine.updates.versions import (
    RangeStrategy,
    UpdateType,
    Version,
    is_constraint,
    parse_constraint,
    parse_version,
    rewrite_range,
    update_type,
)


def v(text: str) -> Version:
    parsed = parse_version(text)
    assert parsed is not None, text
    return parsed


def test_beta_ordering_follows_semver() -> None:
    texts = ["1.3.0", "1.3.0-beta.10", "1.3.0-beta.2", "1.3.0-rc.1", "1.3.0-beta.1", "1.2.9", "1.3.0-alpha"]
    assert [x.text for x in sorted(map(v, texts))] == [
        "1.2.9",
        "1.3.0-alpha",
        "1.3.0-beta.1",
        "1.3.0-beta.2",
        "1.3.0-beta.10",
        "1.3.0-rc.1",
        "1.3.0",
    ]
    assert v("1.3.0-beta.2").is_prerelease and not v("1.3.0").is_prerelease


def test_compound_versions_compare_part_by_part() -> None:
    texts = ["1.3.0-2.6.0", "1.4.0-2.5.0", "1.3.0-2.5.0", "1.3.0-10.0.0"]
    assert [x.text for x in sorted(map(v, texts))] == ["1.3.0-2.5.0", "1.3.0-2.6.0", "1.3.0-10.0.0", "1.4.0-2.5.0"]
    assert not v("1.3.0-2.5.0").is_prerelease
    assert v("1.3.0-2.5.0-beta.1").is_prerelease
    assert update_type(v("1.3.0-2.5.0"), v("1.3.0-2.6.0")) is UpdateType.MINOR
    assert update_type(v("1.3.0-2.5.0"), v("1.3.0-3.0.0")) is UpdateType.MAJOR
    assert update_type(v("1.3.0-2.5.0"), v("2.0.0-2.5.0")) is UpdateType.MAJOR


def test_v_prefix_is_kept_as_written_and_ignored_in_order() -> None:
    assert v("v1.16.2") == v("1.16.2") and v("v1.16.2").text == "v1.16.2"
    assert v("v1.14.2") < v("v1.16.2")
    assert parse_version("${x}") is None and parse_version("latest") is None


@pytest.mark.parametrize(
    ("constraint", "yes", "no"),
    [
        (">=55.0.0 <60.0.0", ["55.0.0", "59.2.1"], ["60.0.0", "54.9.9"]),
        (">=1.0.0, <2.0.0 || >=3", ["1.5.0", "3.1.0"], ["2.1.0"]),
        ("~1.2.3", ["1.2.3", "1.2.9"], ["1.3.0", "1.2.2"]),
        ("~1", ["1.0.0", "1.9.0"], ["2.0.0"]),
        ("^1.2.3", ["1.2.3", "1.9.0"], ["2.0.0"]),
        ("^0.2.3", ["0.2.5"], ["0.3.0"]),
        ("^0.0.3", ["0.0.3"], ["0.0.4"]),
        ("1.2.x", ["1.2.0", "1.2.7"], ["1.3.0"]),
        ("*", ["0.0.1", "9.9.9"], ["1.0.0-beta.1"]),
        (">1.2", ["1.3.0"], ["1.2.9"]),
        ("<=1.2", ["1.2.9"], ["1.3.0"]),
        ("1.2 - 1.4.5", ["1.2.0", "1.4.5"], ["1.4.6"]),
        ("!=1.2.3", ["1.2.4"], ["1.2.3"]),
        (">=2.0.0-beta.1", ["2.0.0-beta.2", "2.1.0"], []),
    ],
)
def test_masterminds_constraints(constraint: str, yes: list[str], no: list[str]) -> None:
    parsed = parse_constraint(constraint)
    assert all(parsed.matches(v(x)) for x in yes)
    assert not any(parsed.matches(v(x)) for x in no)


def test_prerelease_only_matches_terms_that_name_one() -> None:
    assert not parse_constraint(">=1.0.0").matches(v("2.0.0-beta.1"))
    assert parse_constraint(">=2.0.0-beta.1").matches(v("2.0.0-beta.3"))


@pytest.mark.parametrize("text", ["../x", "xenial", "latest", "1.0.x.y"])
def test_text_that_only_contains_a_range_character_is_not_a_range(text: str) -> None:
    assert is_constraint(text) is False


@pytest.mark.parametrize("text", ["1.2.x", ">=1.0.0 <2.0.0", "^1.2", "*", "~1.2.3"])
def test_ranges_flux_accepts_are_ranges(text: str) -> None:
    assert is_constraint(text) is True


def test_bad_constraint_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a version constraint"):
        parse_constraint(">=banana")


HUGE = "1" + "0" * 5000


@pytest.mark.parametrize("text", [f"{HUGE}.0.0", f"1.{HUGE}.0", f"1.0.0-rc.{HUGE}", f"1.0.0-{HUGE}.0.0"])
def test_a_version_with_a_5000_digit_part_is_not_a_version(text: str) -> None:
    assert parse_version(text) is None
    assert is_constraint(text) is False


def test_a_constraint_with_a_5000_digit_part_is_refused_with_a_short_message() -> None:
    with pytest.raises(ValueError, match="not a version constraint") as caught:
        parse_constraint(f">={HUGE}.0.0")
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    ("written", "target", "strategy", "expected"),
    [
        (">=55.0.0 <60.0.0", "66.2.1", RangeStrategy.WIDEN, ">=55.0.0 <67.0.0"),
        (">=55.0.0 <60.0.0", "66.2.1", RangeStrategy.REPLACE, ">=66.2.1 <67.0.0"),
        (">=1.2 <2", "2.1.0", RangeStrategy.WIDEN, ">=1.2 <3"),
        ("^1.2.0", "2.1.0", RangeStrategy.WIDEN, "^1.2.0 || ^2.1.0"),
        ("^1.2.0", "2.1.0", RangeStrategy.REPLACE, "^2.1.0"),
        ("~1.2", "1.4.0", RangeStrategy.REPLACE, "~1.4"),
        ("1.2.x", "1.4.0", RangeStrategy.REPLACE, "1.4.x"),
        ("<=1.2.0", "1.4.0", RangeStrategy.WIDEN, "<=1.4.0"),
    ],
)
def test_ranges_keep_their_style(written: str, target: str, strategy: RangeStrategy, expected: str) -> None:
    rewritten = rewrite_range(parse_constraint(written), v(target), strategy)
    assert rewritten == expected
    assert parse_constraint(expected).matches(v(target))
