"""Index parsing: yaml_rs agrees with PyYAML on the real corpora, odd entries are handled, the parse cache is exact."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
import yaml_rs

from gitops_engine.adapters.chartindex import cached_index, index_from_bytes, parse_index, store_index
from gitops_engine.core.errors import PermanentRemoteError
from gitops_engine.core.hashing import sha256_hex
from tests.conftest import DATA

INDEXES = sorted((DATA / "helm-indexes").glob("*-index.yaml"))


@pytest.mark.parametrize("path", INDEXES, ids=lambda p: p.name)
def test_yaml_rs_reads_the_corpora_exactly_as_pyyaml(path: Path) -> None:
    data = path.read_bytes()

    assert yaml_rs.loads(data.decode(), parse_datetime=False) == yaml.load(data, Loader=yaml.CSafeLoader)


def test_odd_entries_are_skipped_or_kept_as_text() -> None:
    data = b"""apiVersion: v1
entries:
  odd:
  - name: odd
    version: "1.10"
    created: not a date
    urls: https://not-a-list.example
  - name: odd
    description: no version at all
  - just a string
  - name: odd
    version: 2.0.0
    appVersion: 7
    sources: [https://a.example, null]
  not-a-list: {version: 1.0.0}
"""
    index = parse_index(data, "https://charts.example")

    first, second = index.releases("odd")
    assert (first.version, first.created, first.urls) == ("1.10", None, ())
    assert (second.version, second.app_version, second.sources) == ("2.0.0", "7", ("https://a.example",))
    assert index.releases("not-a-list") == ()


@pytest.mark.parametrize("anchor", ["", "x: &a 1\n"], ids=["yaml_rs", "pyyaml"])
def test_created_is_always_zone_aware_whichever_parser_reads_the_index(anchor: str) -> None:
    # an anchor sends the index to PyYAML, which types timestamps itself; without a zone a time is UTC (what Helm
    # writes), so ages can be taken against the bot's aware clock instead of failing with a TypeError
    data = f"""apiVersion: v1
{anchor}entries:
  a:
  - version: 1.3.0
    created: 2024-05-01T10:00:00.123456789Z
  - version: 1.2.0
    created: 2024-05-01T10:00:00+02:00
  - version: 1.1.0
    created: 2024-05-01T10:00:00
  - version: 1.0.0
    created: 2024-05-01
""".encode()
    created = [release.created for release in parse_index(data, "u").releases("a")]

    assert created == [
        datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC),
        datetime(2024, 5, 1, 8, 0, tzinfo=UTC),
        datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
        datetime(2024, 5, 1, 0, 0, tzinfo=UTC),
    ]
    assert all(moment is not None and moment.tzinfo is not None for moment in created)


def test_duplicate_keys_keep_the_last_value_like_pyyaml() -> None:
    data = b"apiVersion: v1\nentries:\n  a:\n  - version: 1.0.0\n    version: 1.0.1\n"

    assert parse_index(data, "u").releases("a")[0].version == "1.0.1"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe not text", "https://r.example: index.yaml is not UTF-8 text"),
        (b"entries: [\n", "https://r.example: index.yaml is not valid YAML: "),
        (b"apiVersion: v1\n", "https://r.example: the response is not a Helm repository index (no `entries` mapping)"),
        (b"entries: {}\n---\nentries: {}\n", "https://r.example: the response is not a Helm repository index"),
        (
            b"entries:\n  a: &a [{version: 1.0.0}, {version: 1.0.1}]\n"
            + b"".join(
                b"  a%d: &a%d [%s]\n" % (i, i, b", ".join([b"*a" if i == 1 else b"*a%d" % (i - 1)] * 9))
                for i in range(1, 10)
            ),
            "https://r.example: index.yaml is not valid YAML: line 7: aliases repeat more than 250,000",
        ),
        (
            b"entries:\n  a: " + b"[" * 300 + b"]" * 300,
            "https://r.example: index.yaml is not valid YAML: line 2: nested",
        ),
    ],
)
def test_unreadable_indexes_name_the_repository(data: bytes, message: str) -> None:
    with pytest.raises(PermanentRemoteError) as caught:
        parse_index(data, "https://r.example")

    assert str(caught.value).startswith(message)


def test_parse_cache_round_trips_every_release(tmp_path: Path) -> None:
    data = (DATA / "helm-indexes" / "ingress-nginx-index.yaml").read_bytes()
    parsed, was_parsed = index_from_bytes(data, "https://kubernetes.github.io/ingress-nginx", tmp_path)

    cached, was_parsed_again = index_from_bytes(data, "https://mirror.example/ingress-nginx", tmp_path)

    assert (was_parsed, was_parsed_again) == (True, False)
    assert cached.source_url == "https://mirror.example/ingress-nginx"
    assert dict(cached.charts) == dict(parsed.charts)
    # 177 entries, 4.12.0-beta.0 among them nine times: duplicates survive the round trip too
    assert len(cached.releases("ingress-nginx")) == 177
    assert cached.releases("ingress-nginx")[0].created is not None
    assert cached.releases("no-such-chart") == ()
    assert len(list(tmp_path.rglob("*.json"))) == 1


def test_unreadable_cache_entries_are_ignored_and_rewritten(tmp_path: Path) -> None:
    data = b"apiVersion: v1\nentries:\n  a:\n  - version: 1.0.0\n    created: 2026-01-02T03:04:05Z\n"
    digest = sha256_hex(data)
    store_index(tmp_path, digest, parse_index(data, "u"))
    (entry,) = tmp_path.rglob(f"{digest}.json")
    entry.write_bytes(b'{"charts": {"a": 1}}')

    assert cached_index(tmp_path, digest, "u") is None
    index, was_parsed = index_from_bytes(data, "u", tmp_path)

    assert was_parsed
    assert index.releases("a")[0].created == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert cached_index(tmp_path, digest, "u") == index


def test_without_a_cache_directory_every_call_parses() -> None:
    data = b"apiVersion: v1\nentries: {}\n"

    assert index_from_bytes(data, "u", None)[1]
    assert index_from_bytes(data, "u", None)[1]
