"""YAML timestamps are typed the way go-yaml types them; an impossible zone offset leaves a string."""

from __future__ import annotations

from gitops_engine.secrets.values import parse_timestamp


def test_valid_offsets_become_rfc3339() -> None:
    stamp = parse_timestamp("2001-12-14 21:59:43 -05")
    assert stamp is not None and stamp.text == "2001-12-14T21:59:43-05:00"


def test_offset_of_a_day_or_more_is_not_a_timestamp() -> None:
    assert parse_timestamp("2001-12-14 21:59:43 -99") is None
    assert parse_timestamp("2001-12-14 21:59:43 +24:00") is None
