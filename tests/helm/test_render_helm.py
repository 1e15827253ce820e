"""validate and diff --render-helm on loopback chart sources: a Helm repository (tests/lookups/servers.py) and
Debian's docker-registry as an OCI registry. Charts are built and packaged with the Helm SDK in the tests; the
expected objects and values are written by hand from the chart's templates and helm-controller's rules."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_engine.adapters.helmrepo import LookupOptions
from gitops_engine.adapters.kustomize import kustomize_builder
from gitops_engine.app.helm import HelmOptions, HelmRendering
from gitops_engine.app.validate import load_tree
from gitops_engine.cli.main import main
from gitops_engine.secrets.agekeys import generate_identity
from gitops_engine.secrets.sopsfile import encrypt_yaml
from gitops_engine.validate.discovery import discover
from gitops_engine.validate.helmrendered import RenderedRelease
from tests.helm.charts import index_yaml, packaged
from tests.helm.fleet import SECRET, commit, write_fleet
from tests.helm.tools import WITHOUT_HELM
from tests.lookups.registry import HELM_CHART, HELM_CONFIG, OCI_MANIFEST, _upload, htpasswd_file, registry
from tests.lookups.servers import RepoServer, Route, serving


@pytest.fixture
def age(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A fresh age identity as SOPS_AGE_KEY (and a private cache); returns its recipient."""
    identity, recipient = generate_identity()
    monkeypatch.setenv("SOPS_AGE_KEY", identity)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return recipient


@pytest.fixture
def charts(tmp_path: Path) -> dict[str, bytes]:
    return {version: packaged(tmp_path / "charts", version) for version in ("1.0.0", "2.0.0")}


@pytest.fixture
def helm_repo(charts: dict[str, bytes]) -> Iterator[RepoServer]:
    with serving() as server:
        server.routes["/index.yaml"] = Route(body=index_yaml(server.url, charts))
        for version, data in charts.items():
            server.routes[f"/demo-{version}.tgz"] = Route(body=data)
        yield server


def _rendered(repo: Path, offline: bool, cache: Path) -> dict[str, RenderedRelease]:
    tree = load_tree(str(repo), None)
    with kustomize_builder(tree, cache / "kustomize") as builder:
        discovery = discover(tree, builder)
    rendering = HelmRendering(HelmOptions(LookupOptions(cache_dir=cache), offline=offline))
    try:
        releases = rendering.render(rendering.jobs(discovery.clusters, tree))
    finally:
        rendering.close()
    return {str(r.job.release.id): r for r in releases}


def _objects(release: RenderedRelease) -> dict[str, tuple[str, Any]]:
    return {str(item.object.id): (item.template, item.object.body) for item in release.objects}


def test_values_come_from_value_objects_in_order_with_target_path_optional_sops_and_substitution(
    tmp_path: Path, age: str, helm_repo: RepoServer
) -> None:
    repo = write_fleet(tmp_path / "fleet", helm_repo.url, age)
    release = _rendered(repo, offline=False, cache=tmp_path / "c")["HelmRelease/apps/demo"]
    assert not release.failure and not release.unavailable
    objects = _objects(release)
    # targetNamespace web: release web-demo in namespace web
    template, values_map = objects["ConfigMap/web/web-demo-values"]
    assert template == "demo/templates/configmap.yaml"
    values = json.loads(values_map["data"]["values.json"])
    # demo-base then demo-late (4 beats 2), the SOPS Secret at targetPath password, chart defaults under it all
    assert {k: values[k] for k in ("replicas", "size", "image", "global")} == {
        "replicas": 4,
        "size": 5,
        "image": {"repository": "nginx", "tag": "2.0"},
        "global": {"region": "eu-west-1"},
    }
    assert objects["Secret/web/web-demo-auth"][1]["data"] == {"password": base64.b64encode(b"s3cret-plain").decode()}
    # the subchart: inline values over its defaults, the global copied down after postBuild substitution
    assert objects["ConfigMap/web/web-demo-sub"][1]["data"] == {"note": "inline", "region": "eu-west-1"}
    assert objects["Deployment/web/web-demo"][1]["spec"]["replicas"] == 4
    # the chart's crds/ folder is applied (install.crds defaults to Create); NOTES.txt is not an object
    assert objects["CustomResourceDefinition/widgets.example.com"][0] == "demo/crds/widgets.yaml"
    assert not any(template.endswith("NOTES.txt") for template, _ in objects.values())
    labels = objects["Deployment/web/web-demo"][1]["metadata"]["labels"]
    assert labels["helm.toolkit.fluxcd.io/name"] == "demo" and labels["helm.toolkit.fluxcd.io/namespace"] == "apps"


def test_without_an_identity_a_sops_values_secret_leaves_the_release_unrendered(
    tmp_path: Path, age: str, helm_repo: RepoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = write_fleet(tmp_path / "fleet", helm_repo.url, age)
    monkeypatch.setenv("SOPS_AGE_KEY", generate_identity()[0])  # someone else's key
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-config"))
    release = _rendered(repo, offline=False, cache=tmp_path / "c")["HelmRelease/apps/demo"]
    assert "SOPS-encrypted" in release.unavailable and not release.objects


def test_validate_render_helm_checks_rendered_objects_and_a_second_run_fetches_nothing(
    tmp_path: Path, age: str, helm_repo: RepoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = write_fleet(tmp_path / "fleet", helm_repo.url, age, broken=True)
    assert main(["validate", "--repo", str(repo), "--render-helm", "--online", "--json"]) == 1
    findings = json.loads(capsys.readouterr().out)
    by_rule = {(f["rule"], f["file"], f["line"]): f["message"] for f in findings}
    # `broken` starts at line 21 of apps/release.yaml: its Widget breaks the CRD the chart ships
    widget = by_rule[("schema-type", "apps/release.yaml", 21)]
    assert "HelmRelease/apps/broken renders demo/templates/widget.yaml" in widget and "spec.size" in widget
    # `zero` fails the chart's values.schema.json, reported at its spec.chart line (39)
    render = by_rule[("helm-render-failed", "apps/release.yaml", 39)]
    assert "HelmRelease/apps/zero" in render and "minimum" in render
    assert not any("HelmRelease/apps/demo" in message for message in by_rule.values())
    assert len(helm_repo.requests_for("/demo-1.0.0.tgz")) == 1  # one download for three releases
    assert main(["validate", "--repo", str(repo), "--render-helm", "--online"]) == 1
    # the archive and the renders came from the cache (--online still checks the version in the index)
    assert len(helm_repo.requests_for("/demo-1.0.0.tgz")) == 1
    # offline with the cache: the same findings, and no request at all
    seen = len(helm_repo.seen)
    capsys.readouterr()
    assert main(["validate", "--repo", str(repo), "--render-helm", "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == findings
    assert len(helm_repo.seen) == seen


def test_offline_without_the_chart_lists_the_release_as_not_rendered_and_is_not_an_error(
    tmp_path: Path, age: str, helm_repo: RepoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = write_fleet(tmp_path / "fleet", helm_repo.url, age)
    assert main(["validate", "--repo", str(repo), "--render-helm"]) == 0
    captured = capsys.readouterr()
    assert "HelmRelease/apps/demo (cluster clusters/prod) not rendered" in captured.err
    assert "not in the chart cache (offline)" in captured.err
    assert helm_repo.seen == []


def test_a_chart_whose_bytes_do_not_match_the_index_digest_is_not_used(
    tmp_path: Path, age: str, charts: dict[str, bytes]
) -> None:
    with serving() as server:
        server.routes["/index.yaml"] = Route(body=index_yaml(server.url, charts, {"1.0.0": "0" * 64}))
        server.routes["/demo-1.0.0.tgz"] = Route(body=charts["1.0.0"])
        repo = write_fleet(tmp_path / "fleet", server.url, age)
        release = _rendered(repo, offline=False, cache=tmp_path / "c")["HelmRelease/apps/demo"]
    assert "the index says sha256:000" in release.unavailable and not release.objects


def _push_chart(base: str, name: str, version: str, archive: bytes, basic: tuple[str, str] | None = None) -> None:
    import httpx

    config = json.dumps({"apiVersion": "v2", "name": "demo", "version": version}).encode()
    with httpx.Client(base_url=base, timeout=10, auth=basic) as client:
        descriptors = [
            _upload(client, name, blob, media) for blob, media in ((config, HELM_CONFIG), (archive, HELM_CHART))
        ]
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptors[0], "layers": descriptors[1:]}
        answer = client.put(
            f"/v2/{name}/manifests/{version}", content=json.dumps(manifest), headers={"Content-Type": OCI_MANIFEST}
        )
        assert answer.status_code == 201, answer.text


def test_charts_from_an_oci_registry_render_the_same_objects(
    tmp_path: Path, age: str, charts: dict[str, bytes]
) -> None:
    (tmp_path / "registry").mkdir()
    with registry(tmp_path / "registry") as base:
        _push_chart(base, "charts/demo", "1.0.0", charts["1.0.0"])
        oci_url = base.replace("http://", "oci://") + "/charts"
        repo = write_fleet(tmp_path / "fleet", oci_url, age, oci=True)
        (repo / "apps/repository.yaml").write_text((repo / "apps/repository.yaml").read_text() + "  insecure: true\n")
        commit(repo, "plain HTTP registry")
        release = _rendered(repo, offline=False, cache=tmp_path / "c")["HelmRelease/apps/demo"]
    assert not release.unavailable and not release.failure
    objects = _objects(release)
    assert objects["ConfigMap/web/web-demo-sub"][1]["data"] == {"note": "inline", "region": "eu-west-1"}
    # the registry is gone: a second run is served from the chart cache
    again = _rendered(repo, offline=True, cache=tmp_path / "c")["HelmRelease/apps/demo"]
    assert _objects(again) == objects


def test_a_chart_from_a_registry_that_wants_a_password_renders_with_the_docker_config_secret_flux_reads(
    tmp_path: Path, age: str, charts: dict[str, bytes]
) -> None:
    user, password = "robot", "only-this-test-knows-it"
    (tmp_path / "registry").mkdir()
    with registry(tmp_path / "registry", htpasswd=htpasswd_file(tmp_path / "registry", user, password)) as base:
        _push_chart(base, "charts/demo", "1.0.0", charts["1.0.0"], basic=(user, password))
        host = base.removeprefix("http://")
        repo = write_fleet(tmp_path / "fleet", f"oci://{host}/charts", age, oci=True)
        repository = repo / "apps/repository.yaml"
        repository.write_text(repository.read_text() + "  insecure: true\n  secretRef: {name: registry-auth}\n")
        # what `flux create secret oci` writes: a kubernetes.io/dockerconfigjson Secret
        config = json.dumps({"auths": {host: {"username": user, "password": password}}})
        secret = (
            "apiVersion: v1\nkind: Secret\nmetadata: {name: registry-auth, namespace: apps}\n"
            f"type: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{config}'\n"
        )
        (repo / "apps/auth.sops.yaml").write_bytes(encrypt_yaml(secret.encode(), [age]))
        kustomization = repo / "apps/kustomization.yaml"
        kustomization.write_text(kustomization.read_text().replace("release.yaml]", "release.yaml, auth.sops.yaml]"))
        commit(repo, "a registry that wants a password")
        release = _rendered(repo, offline=False, cache=tmp_path / "c")["HelmRelease/apps/demo"]
    assert not release.unavailable and not release.failure
    assert _objects(release)["ConfigMap/web/web-demo-sub"][1]["data"] == {"note": "inline", "region": "eu-west-1"}
    cached = [p for p in (tmp_path / "c").rglob("*") if p.is_file()]
    assert cached and not [p for p in cached if password.encode() in p.read_bytes()]


def test_diff_render_helm_summarises_first_masks_secrets_and_flags_risks(
    tmp_path: Path, age: str, helm_repo: RepoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = write_fleet(tmp_path / "fleet", helm_repo.url, age)
    base = _head(repo)
    release = repo / "apps/release.yaml"
    release.write_text(release.read_text().replace("version: 1.0.0", "version: 2.0.0"))
    changed = SECRET.replace("s3cret-plain", "n3w-plain")
    (repo / "apps/secret.sops.yaml").write_bytes(encrypt_yaml(changed.encode(), [age]))
    head = commit(repo, "demo 2.0.0")
    assert main(["diff", base, head, "--repo", str(repo), "--render-helm", "--online"]) == 1
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith("1 HelmRelease(s) render differently:") and "risky change(s)" in first
    assert "risk: Deployment/web/web-demo: spec.selector changes" in out
    assert "risk: CRD widgets.example.com changed" in out
    # a "-" appears in no ciphertext, recipient or digest the diff may show: only a leak could print these
    assert "s3cret-plain" not in out and "n3w-plain" not in out and "**masked, changed**" in out


def _head(repo: Path) -> str:
    done = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_without_the_helm_extra_render_helm_says_how_to_install_it_and_the_rest_works(tmp_path: Path) -> None:
    repo = tmp_path / "fleet"
    (repo / "apps").mkdir(parents=True)
    (repo / "apps/cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: b}\n")
    first = commit(repo, "one object")
    (repo / "apps/cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: c}\n")
    second = commit(repo, "moved")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": _path()}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", WITHOUT_HELM, *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

    for asked in (["validate", "--repo", str(repo)], ["diff", first, second, "--repo", str(repo)]):
        without = run(*asked, "--render-helm")
        assert without.returncode == 2, without.stderr
        assert without.stdout == "" and "Traceback" not in without.stderr
        assert "--render-helm needs the optional Helm backend: pip install 'gitops-engine[helm]'" in without.stderr
    assert run("validate", "--repo", str(repo)).returncode == 0
    moved = run("diff", first, second, "--repo", str(repo))
    assert moved.returncode == 1 and "added: ConfigMap/c/a" in moved.stdout, moved.stdout + moved.stderr


def _path() -> str:
    import os

    return os.environ.get("PATH", "/usr/bin:/bin")


def test_a_rendering_discovers_the_age_identities_once_however_many_trees_it_prepares(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a bump's impact prepares the base and every branch head: a SOPS_AGE_KEY_CMD (a vault call) runs once
    identity, _ = generate_identity()
    calls = tmp_path / "calls"
    monkeypatch.delenv("SOPS_AGE_KEY", raising=False)
    monkeypatch.delenv("SOPS_AGE_KEY_FILE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("SOPS_AGE_KEY_CMD", f"echo called >> {calls}; echo {identity}")
    rendering = HelmRendering(HelmOptions(LookupOptions(cache_dir=tmp_path / "cache")))

    for _ in range(3):
        assert rendering.jobs([], {}) == []

    assert calls.read_text() == "called\n"
