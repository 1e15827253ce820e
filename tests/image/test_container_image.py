"""The container image as a user gets it: built by scripts/build-image, pushed to a registry, run from there.

`podman run` cannot start containers on these machines (crun cannot set rlimits or cgroups here), so the image is
run the way a runtime would, without one: the pushed manifest and config are read back from a loopback Debian
docker-registry, the layer is unpacked, and the config's entrypoint runs in a chroot of it as the config's user,
with the config's environment, in its working directory — a host folder bind-mounted there, as `-v` would.

Building needs root (mmdebstrap, chroot, mount), so the module is skipped for other users; as root a missing tool
fails the test. The base root filesystem is cached in .cache/image/ (see scripts/build-image), so only the first
run on a machine builds it; the module runs once per session on one xdist worker.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import gitops_engine
from tests.conftest import ROOT
from tests.lookups.registry import registry

pytestmark = [
    pytest.mark.xdist_group("container-image"),
    pytest.mark.skipif(os.geteuid() != 0, reason="building and chrooting into the image needs root"),
    # a cold build (mmdebstrap of the base) takes minutes; later runs reuse .cache/image/
    pytest.mark.timeout(1800),
]

ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
USER_ID = 65532


@dataclass(frozen=True)
class Pushed:
    """The image as read back from the registry: its manifest, its config and its unpacked root filesystem."""

    manifest: dict[str, Any]
    config: dict[str, Any]
    root: Path

    def run(self, *args: str, work: Path) -> subprocess.CompletedProcess[str]:
        """The image's entrypoint with `args`, as its user, environment and working directory say; `work` is
        bind-mounted at the working directory."""
        settings = self.config["config"]
        user = settings["User"]
        mount_point = self.root / settings["WorkingDir"].lstrip("/")
        with bind_mounted(work, mount_point):
            return subprocess.run(
                ["chroot", f"--userspec={user}", str(self.root), "/usr/bin/env", "-i", *settings["Env"],
                 "/usr/bin/env", "-C", settings["WorkingDir"], *settings["Entrypoint"], *args],
                capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip


@contextmanager
def bind_mounted(source: Path, target: Path) -> Iterator[None]:
    subprocess.run(["mount", "--bind", str(source), str(target)], check=True, timeout=30)
    try:
        yield
    finally:
        subprocess.run(["umount", str(target)], check=True, timeout=30)


def require_tools(tools: Sequence[str]) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"the image test needs {', '.join(missing)}: apt-get install {' '.join(missing)} "
                    "(bash scripts/test installs them when it runs as root)")  # fmt: skip


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushed]:
    require_tools(["mmdebstrap", "podman", "skopeo", "chroot", "mount"])
    work = tmp_path_factory.mktemp("image")
    tag = f"localhost/gitops-engine-test:{uuid.uuid4().hex[:12]}"
    try:
        built = subprocess.run(
            ["bash", "scripts/build-image", "--tag", tag],
            cwd=ROOT, capture_output=True, text=True, timeout=1700, check=False,
        )  # fmt: skip
        assert built.returncode == 0, f"scripts/build-image failed:\n{built.stdout}\n{built.stderr}"
        with registry(work) as base:
            copied = subprocess.run(
                ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"containers-storage:{tag}",
                 f"docker://{base.removeprefix('http://')}/gitops-engine:test"],
                capture_output=True, text=True, timeout=600, check=False,
            )  # fmt: skip
            assert copied.returncode == 0, f"skopeo copy failed:\n{copied.stderr}"
            yield read_back(base, "gitops-engine", "test", work / "root")
    finally:
        subprocess.run(["podman", "rmi", "--force", tag], capture_output=True, timeout=120, check=False)


def read_back(base: str, name: str, reference: str, root: Path) -> Pushed:
    """Manifest, config and the unpacked layers of `name:reference`, each blob checked against its digest."""
    with httpx.Client(base_url=base, timeout=120) as client:
        answer = client.get(f"/v2/{name}/manifests/{reference}", headers={"Accept": ACCEPT})
        assert answer.status_code == 200, answer.text
        manifest = answer.json()
        config = json.loads(blob(client, name, manifest["config"]["digest"], root.parent / "config.json"))
        root.mkdir()
        for index, layer in enumerate(manifest["layers"]):
            archive = root.parent / f"layer-{index}.tar.gz"
            blob(client, name, layer["digest"], archive)
            subprocess.run(["tar", "--numeric-owner", "-xpzf", str(archive), "-C", str(root)], check=True, timeout=300)
            archive.unlink()
    return Pushed(manifest, config, root)


def blob(client: httpx.Client, name: str, digest: str, target: Path) -> bytes:
    """Download a blob to `target` and return its bytes when small (configs); the digest must match."""
    hasher = hashlib.sha256()
    with client.stream("GET", f"/v2/{name}/blobs/{digest}") as answer, target.open("wb") as out:
        assert answer.status_code == 200, f"blob {digest}: {answer.status_code}"
        for chunk in answer.iter_bytes(1 << 20):
            hasher.update(chunk)
            out.write(chunk)
    assert f"sha256:{hasher.hexdigest()}" == digest
    return target.read_bytes() if target.stat().st_size < 1 << 20 else b""


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A host folder the image's user owns, to mount at the image's working directory."""
    folder = tmp_path / "work"
    folder.mkdir()
    os.chown(folder, USER_ID, USER_ID)
    return folder


def test_the_pushed_image_runs_the_engine_as_an_unprivileged_user(pushed: Pushed, work: Path) -> None:
    settings = pushed.config["config"]
    assert settings["Entrypoint"] == ["/opt/gitops-engine/bin/gitops-engine"]
    assert settings["User"] == f"{USER_ID}:{USER_ID}"
    assert settings["WorkingDir"] == "/work"
    assert "HOME=/home/gitops-engine" in settings["Env"]
    assert settings["Labels"]["org.opencontainers.image.version"] == gitops_engine.__version__
    assert len(pushed.manifest["layers"]) == 1

    version = pushed.run("--version", work=work)

    assert version.returncode == 0, version.stderr
    assert version.stdout == f"gitops-engine, version {gitops_engine.__version__}\n"


def test_the_image_seeds_and_validates_a_fleet_in_a_mounted_folder(pushed: Pushed, work: Path) -> None:

    steps = [
        pushed.run("init", work=work),
        pushed.run("seed", "-c", "platform.yaml", work=work),
        # validate runs kustomize through the image's kubectl
        pushed.run("validate", "--repo", "fleet.git", "--ref", "main", work=work),
    ]

    for step in steps:
        assert step.returncode == 0, step.stdout + step.stderr
    assert "committed" in steps[1].stdout and "to main in fleet.git" in steps[1].stdout
    assert "0 error(s)" in steps[2].stdout and "3 cluster(s)" in steps[2].stdout
    fleet = work / "fleet.git"
    assert fleet.stat().st_uid == USER_ID, "the seed wrote as the image's user"
    subject = subprocess.run(
        ["git", "--git-dir", str(fleet), "log", "-1", "--format=%s"], capture_output=True, text=True, check=True
    )
    assert subject.stdout == "gitops-engine seed\n"
    key = pushed.root / "home" / "gitops-engine" / ".config" / "gitops-engine" / "age" / "example.agekey"
    assert key.stat().st_mode & 0o777 == 0o600 and key.stat().st_uid == USER_ID
