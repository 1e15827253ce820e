"""Host mapping of Git URLs and label selector matching."""

from __future__ import annotations

import pytest

from gitops_engine.model.selector import LabelSelector, Requirement
from gitops_engine.propagate.urls import rewrite_url

HOSTS = {
    "gitea-http.kommander.svc.cluster.local:3000": "git.fleet.example.com",
    "gitea.internal": "gitea.example.com:8443",
    "git.lan": "git.example.com",
}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://gitea-http.kommander.svc.cluster.local:3000/kommander/a.git",
            "https://git.fleet.example.com/kommander/a.git",
        ),
        ("https://GITEA-HTTP.kommander.svc.cluster.local:3000/x", "https://git.fleet.example.com/x"),
        ("https://gitea-http.kommander.svc.cluster.local/x", "https://gitea-http.kommander.svc.cluster.local/x"),
        ("http://gitea.internal:3000/o/r", "http://gitea.example.com:8443/o/r"),
        ("ssh://git@git.lan:2222/o/r.git", "ssh://git@git.example.com:2222/o/r.git"),
        ("git@git.lan:o/r.git", "git@git.example.com:o/r.git"),
        (
            "https://github.com/mesosphere/dkp-catalog-applications",
            "https://github.com/mesosphere/dkp-catalog-applications",
        ),
        ("https://git.lan.evil.example/o/r", "https://git.lan.evil.example/o/r"),
    ],
)
def test_rewrite_url(url: str, expected: str) -> None:
    assert rewrite_url(url, HOSTS) == expected


def test_selector_semantics() -> None:
    selector = LabelSelector(
        {"tier": "prod"},
        (
            Requirement("region", "In", ("eu", "us")),
            Requirement("legacy", "NotIn", ("true",)),
            Requirement("owner", "Exists"),
            Requirement("frozen", "DoesNotExist"),
        ),
    )
    assert selector.matches({"tier": "prod", "region": "eu", "owner": "a"})
    assert not selector.matches({"tier": "prod", "region": "ap", "owner": "a"})
    assert not selector.matches({"tier": "prod", "region": "eu", "owner": "a", "legacy": "true"})
    assert not selector.matches({"tier": "prod", "region": "eu"})
    assert not selector.matches({"tier": "prod", "region": "eu", "owner": "a", "frozen": ""})
    assert not selector.matches({"tier": "dev", "region": "eu", "owner": "a"})
    assert LabelSelector().matches({})
