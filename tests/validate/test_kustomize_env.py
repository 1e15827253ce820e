"""kustomize runs with Go's collector off below a soft memory limit, unless the user set their own."""

from __future__ import annotations

import pytest

from gitops_engine.adapters.kustomize import go_runtime_env, kustomize_builder


def test_collector_settings_for_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOGC", raising=False)
    monkeypatch.delenv("GOMEMLIMIT", raising=False)
    assert go_runtime_env() == {"GOGC": "off", "GOMEMLIMIT": "256MiB"}
    monkeypatch.setenv("GOMEMLIMIT", "1GiB")
    assert go_runtime_env() == {}
    monkeypatch.delenv("GOMEMLIMIT")
    monkeypatch.setenv("GOGC", "50")
    assert go_runtime_env() == {}


def test_a_build_with_those_settings_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOGC", raising=False)
    monkeypatch.delenv("GOMEMLIMIT", raising=False)
    files = {
        "app/kustomization.yaml": b"resources: [cm.yaml]\nnamespace: demo\n",
        "app/cm.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n",
    }
    with kustomize_builder(files) as build:
        (output,) = list(build(["app"]))
    assert output.error is None
    (built,) = output.objects
    assert built.body["kind"] == "ConfigMap" and built.body["metadata"] == {"name": "settings", "namespace": "demo"}
    assert built.origin == "app/cm.yaml"
