"""Private chart sources: the bot authenticates with the Secret a HelmRepository or OCIRepository names in
`spec.secretRef`, kept SOPS-encrypted in the repository and opened with the identities sops would find.

Real parts: a password-protected Helm repository on 127.0.0.1 and Debian's docker-registry with an htpasswd file
(basic auth), the SOPS files written by our encryptor for a fresh age key. The password never shows up in a log
record, a cache file or the run's result.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gitops_engine.adapters.helmrepo import LookupOptions
from gitops_engine.adapters.targets import LocalTarget
from gitops_engine.app.bump import AdapterLookup, BumpResult, bump_target
from gitops_engine.cli.main import main
from gitops_engine.secrets import sopsfile
from gitops_engine.secrets.agekeys import generate_identity
from tests.lookups.registry import htpasswd_file, push_chart, registry
from tests.lookups.servers import RepoServer, Route, serving
from tests.updates.support import NOW, commit_tree

USER, PASSWORD = "robot", "p4ss-w0rd-only-the-test-knows"
SECRET_PATH = "clusters/prod/secrets/charts-auth.sops.yaml"


def _secret(name: str, string_data: dict[str, str], kind: str = "Opaque") -> bytes:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "flux-system"},
        "type": kind,
        "stringData": string_data,
    }
    return yaml.safe_dump(body, sort_keys=False).encode()


def _release(spec_chart: str) -> bytes:
    return f"""apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {{name: app, namespace: apps}}
spec:
  interval: 10m
{spec_chart}""".encode()


HELM_RELEASE = _release("""  chart:
    spec:
      chart: app
      version: 1.0.0
      sourceRef: {kind: HelmRepository, name: charts, namespace: flux-system}
""")
OCI_RELEASE = _release("""  chartRef: {kind: OCIRepository, name: app, namespace: flux-system}
""")


@pytest.fixture
def age_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A fresh age identity as sops finds it (SOPS_AGE_KEY_FILE); no other key of this machine is seen."""
    identity, recipient = generate_identity()
    key_file = tmp_path / "keys.txt"
    key_file.write_text(identity + "\n")
    for name in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key_file))
    yield recipient, key_file


def _bump(tmp_path: Path, files: dict[str, bytes]) -> BumpResult:
    repo = tmp_path / "fleet.git"
    commit_tree(repo, files)
    lookup = AdapterLookup(LookupOptions(cache_dir=tmp_path / "cache" / "charts"))
    return bump_target(LocalTarget(repo), lookup, now=NOW, dry_run=True, cache_dir=tmp_path / "cache" / "scans")


def _no_trace_of_the_password(tmp_path: Path, result: BumpResult, caplog: pytest.LogCaptureFixture) -> None:
    assert PASSWORD not in caplog.text and PASSWORD not in repr(result)
    cached = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert cached, "the run cached nothing, so the caches were not looked at"
    assert not [p for p in cached if PASSWORD.encode() in p.read_bytes()]


@pytest.fixture
def private_helm() -> Iterator[RepoServer]:
    """A Helm repository that answers only `robot` with the right password."""
    with serving() as server:
        index = {
            "apiVersion": "v1",
            "entries": {"app": [{"name": "app", "version": v} for v in ("1.0.0", "1.1.0")]},
        }
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        server.routes["/index.yaml"] = Route(body=yaml.safe_dump(index).encode(), authorization=f"Basic {token}")
        yield server


def _helm_tree(server: RepoServer, recipient: str) -> dict[str, bytes]:
    repository = f"""apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {{name: charts, namespace: flux-system}}
spec:
  url: {server.url}
  secretRef: {{name: charts-auth}}
""".encode()
    secret = sopsfile.encrypt_yaml(_secret("charts-auth", {"username": USER, "password": PASSWORD}), [recipient])
    return {"clusters/prod/repo.yaml": repository, SECRET_PATH: secret, "clusters/prod/app.yaml": HELM_RELEASE}


def test_a_helm_repository_is_read_with_the_credentials_of_its_sops_encrypted_secret(
    tmp_path: Path, age_key: tuple[str, Path], private_helm: RepoServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    files = _helm_tree(private_helm, age_key[0])
    assert PASSWORD.encode() not in files[SECRET_PATH]
    result = _bump(tmp_path, files)
    assert result.lookup_failures == {}
    assert [(p.use.chart, p.target.text) for p in result.plan.proposals] == [("app", "1.1.0")]
    (seen,) = private_helm.requests_for("/index.yaml")
    assert seen.status == 200
    _no_trace_of_the_password(tmp_path, result, caplog)


def test_a_secret_no_identity_opens_is_a_lookup_failure_and_no_anonymous_request_is_made(
    tmp_path: Path, age_key: tuple[str, Path], private_helm: RepoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _helm_tree(private_helm, generate_identity()[1])  # encrypted for someone else
    result = _bump(tmp_path, files)
    (message,) = result.lookup_failures.values()
    assert message.startswith(
        f"{private_helm.url}: no credentials from Secret flux-system/charts-auth (cluster prod): "
        f"{SECRET_PATH}: no age identity opens this file"
    )
    assert private_helm.requests_for("/index.yaml") == []
    assert [s.reason for s in result.plan.skips] == [
        f"no index for {private_helm.url} (lookup failed or was not asked)"
    ]


def test_a_secret_ref_the_cluster_does_not_define_is_named(
    tmp_path: Path, age_key: tuple[str, Path], private_helm: RepoServer
) -> None:
    files = _helm_tree(private_helm, age_key[0])
    del files[SECRET_PATH]
    result = _bump(tmp_path, files)
    assert result.lookup_failures == {
        private_helm.url: f"{private_helm.url}: no credentials from Secret flux-system/charts-auth (cluster prod): "
        "the cluster does not define this Secret in the repository (add it, SOPS-encrypted)"
    }


def test_an_oci_repository_on_a_basic_auth_registry_is_read_with_its_docker_config_secret(
    tmp_path: Path, age_key: tuple[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    directory = tmp_path / "registry"
    directory.mkdir()
    with registry(directory, htpasswd=htpasswd_file(directory, USER, PASSWORD)) as base:
        for version in ("1.0.0", "1.1.0", "1.2.0"):
            push_chart(base, "charts/app", version, basic=(USER, PASSWORD))
        host = base.removeprefix("http://")
        oci = f"""apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {{name: app, namespace: flux-system}}
spec:
  url: oci://{host}/charts/app
  insecure: true
  ref: {{tag: 1.0.0}}
  secretRef: {{name: registry-auth}}
""".encode()
        # what `flux create secret oci` writes: a kubernetes.io/dockerconfigjson Secret
        auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        config = json.dumps({"auths": {host: {"username": USER, "password": PASSWORD, "auth": auth}}})
        secret = _secret("registry-auth", {".dockerconfigjson": config}, "kubernetes.io/dockerconfigjson")
        files = {
            "clusters/prod/oci.yaml": oci,
            "clusters/prod/secrets/registry-auth.sops.yaml": sopsfile.encrypt_yaml(secret, [age_key[0]]),
            "clusters/prod/release.yaml": OCI_RELEASE,
        }
        result = _bump(tmp_path, files)
        assert result.lookup_failures == {}
        assert [(p.use.holder, p.target.text) for p in result.plan.proposals] == [
            ("OCIRepository flux-system/app", "1.2.0")
        ]
        # without the Secret the same registry refuses the tag list
        anonymous = _bump(
            tmp_path / "anonymous", {**files, "clusters/prod/oci.yaml": oci.replace(b"  secretRef", b"  x")}
        )
        (refused,) = anonymous.lookup_failures.values()
        assert "requires credentials" in refused
    _no_trace_of_the_password(tmp_path, result, caplog)


@pytest.mark.parametrize("command", ["bump", "report", "reconcile"])
def test_the_age_key_option_opens_the_secret_where_no_identity_is_discovered(
    command: str,
    tmp_path: Path,
    age_key: tuple[str, Path],
    private_helm: RepoServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the key is where the reconciler's pod mounts it, not where any discovery looks
    mounted = tmp_path / "sops-age" / "age.agekey"
    mounted.parent.mkdir()
    age_key[1].rename(mounted)
    monkeypatch.delenv("SOPS_AGE_KEY_FILE")
    repo = tmp_path / "fleet.git"
    commit_tree(repo, _helm_tree(private_helm, age_key[0]))
    argv = {"bump": ["--dry-run"], "report": [], "reconcile": ["--json"]}[command]

    without = main([command, "--repo", str(repo), *argv])
    assert private_helm.requests_for("/index.yaml") == []
    capsys.readouterr()
    code = main([command, "--repo", str(repo), *argv, "--age-key", str(mounted)])
    out = " ".join(capsys.readouterr().out.split())

    assert (without, code) == (1, 0)
    (seen,) = private_helm.requests_for("/index.yaml")
    assert seen.status == 200
    expected = {
        "bump": "app 1.0.0 -> 1.1.0 (minor)",
        "report": "due app prod 1.0.0 - 1.1.0 - 0d clusters/prod/app.yaml:9",
        "reconcile": '"name": "bump", "status": "ok", "detail": "1 proposals, 1 branches, 0 failed"',
    }
    assert expected[command] in out
    assert PASSWORD not in out
