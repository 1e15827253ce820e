"""The container image as a user gets it: built by scripts/build-image, pushed to a registry, run from there.

`podman run` cannot start containers on these machines (crun cannot set rlimits or cgroups here), so the image is
run the way a runtime would, without one: the pushed manifest and config are read back from a loopback Debian
docker-registry, the layer is unpacked, and the config's entrypoint runs in a chroot of it as the config's user
(or the one `--user` names), with the config's environment, in its working directory — a host folder bind-mounted
there, as `-v` would. The CronJob seed renders is started the same way with its pod's settings, as a kubelet would
start it (see run_pod), against the test Gitea.

Building needs root (mmdebstrap, chroot, mount), so the module is skipped for other users; as root a missing tool
fails the test. The base root filesystem is cached in .cache/image/ (see scripts/build-image), so only the first
run on a machine builds it; the module runs once per session on one xdist worker."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import pytest
import yaml

import gitops_engine
from gitops_engine.adapters import git
from tests.conftest import DATA, ROOT
from tests.forge.gitea_server import GiteaServer
from tests.forge.openapi import OpenApiContract
from tests.lookups.registry import registry
from tests.lookups.servers import Route, serving
from tests.seed.helpers import run_cli

pytestmark = [
    pytest.mark.xdist_group("container-image"),
    pytest.mark.skipif(os.geteuid() != 0, reason="building and chrooting into the image needs root"),
    # a cold build (mmdebstrap of the base) takes minutes; later runs reuse .cache/image/
    pytest.mark.timeout(1800),
]

ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
USER_ID = 65532
# the owner of the folder a user mounts, who runs the image as themselves (README: --user "$(id -u):$(id -g)")
HOST_USER_ID = 1000


@dataclass(frozen=True)
class Pushed:
    """The image as read back from the registry: its manifest, its config and its unpacked root filesystem."""

    manifest: dict[str, Any]
    config: dict[str, Any]
    root: Path

    def run(
        self, *args: str, work: Path, user: str | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`podman run --rm [--user USER] [-e K=V…] -v WORK:<workdir> IMAGE ARGS`: the entrypoint with `args`, as the
        config's user (or `user`), with the config's environment (and `env` over it), in its working directory, at
        which `work` is bind-mounted."""
        settings = self.config["config"]
        environment = dict(item.split("=", 1) for item in settings["Env"]) | dict(env or {})
        mount_point = self.root / settings["WorkingDir"].lstrip("/")
        with bind_mounted(work, mount_point):
            return subprocess.run(
                ["chroot", f"--userspec={user or settings['User']}", str(self.root), "/usr/bin/env", "-i",
                 *(f"{k}={v}" for k, v in environment.items()),
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
    """A host folder of an ordinary user (uid 1000), to mount at the image's working directory."""
    folder = tmp_path / "work"
    folder.mkdir()
    os.chown(folder, HOST_USER_ID, HOST_USER_ID)
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


def test_the_image_run_as_the_folders_owner_seeds_and_validates_a_fleet_and_keeps_the_key_there(
    pushed: Pushed, work: Path
) -> None:
    # the README's command: podman run --rm --userns=keep-id --user "$(id -u):$(id -g)" -e HOME=/work -v "$PWD:/work"
    def as_owner(*args: str) -> subprocess.CompletedProcess[str]:
        return pushed.run(*args, work=work, user=f"{HOST_USER_ID}:{HOST_USER_ID}", env={"HOME": "/work"})

    steps = [
        as_owner("init"),
        as_owner("seed", "-c", "platform.yaml"),
        as_owner("validate", "--repo", "fleet.git", "--ref", "main"),  # kustomize through the image's kubectl
    ]

    for step in steps:
        assert step.returncode == 0, step.stdout + step.stderr
    assert "committed" in steps[1].stdout and "to main in fleet.git" in steps[1].stdout
    assert "0 error(s)" in steps[2].stdout and "4 cluster(s)" in steps[2].stdout
    fleet = work / "fleet.git"
    assert fleet.stat().st_uid == HOST_USER_ID, "the seed wrote as the folder's owner"
    subject = subprocess.run(
        ["git", "--git-dir", str(fleet), "log", "-1", "--format=%s"], capture_output=True, text=True, check=True
    )
    assert subject.stdout == "gitops-engine seed\n"
    # the age identity outlives the container: it is in the mounted folder, where the seed's message says
    key = work / ".config" / "gitops-engine" / "age" / "example.agekey"
    assert key.stat().st_mode & 0o777 == 0o600 and key.stat().st_uid == HOST_USER_ID
    assert "--from-file=age.agekey=/work/.config/gitops-engine/age/example.agekey" in steps[1].stdout


# The in-cluster reconciler of a small fleet on the test Gitea: the CronJob seed renders, started from the image
# the way the kubelet starts its pod (see run_pod).
FLEET_SPEC = """\
apiVersion: gitops-engine.io/v1alpha1
kind: Platform
metadata:
  name: incluster
git:
  url: {url}
  secretName: fleet-credentials
  credentials:
    username: {{env: FLEET_USERNAME}}
    password: {{env: FLEET_PASSWORD}}
workspaces:
  - {{name: platform, namespace: kommander-workspace}}
clusters:
  - {{name: host-cluster, role: management, workspace: platform}}
apps:
  - {{app: cert-manager, workspace: platform}}
reconciler:
  schedule: "*/30 * * * *"
  image: registry.example.com/platform/gitops-engine:0.1.0
"""
# many fleet repositories: index 1 of the Indexed Job takes the second line of the list only
SHARDED = "  repositories: [{other}, {url}]\n  shards: 2\n"
# what the chart mirror serves: a newer cert-manager than the catalog's
MIRROR_INDEX = b"""apiVersion: v1
entries:
  cert-manager:
  - {name: cert-manager, version: v1.17.0, created: "2026-10-02T12:00:00Z", urls: [cert-manager-v1.17.0.tgz]}
  - {name: cert-manager, version: v1.16.2, created: "2026-09-01T12:00:00Z", urls: [cert-manager-v1.16.2.tgz]}
  flux2:
  - {name: flux2, version: 2.14.1, created: "2026-09-03T12:00:00Z", urls: [flux2-2.14.1.tgz]}
"""
# a second person's age key, added to the spec by the operator: the pass re-wraps the Secrets for it
TEAMMATE = "age1hn8g387aljkqkg5dg2zt2sganzrnevxl49tmcu4k3z5ffrdq8qvqn2knsl"
CRONJOB = "clusters/host-cluster/reconciler/cronjob.yaml"
CREDENTIALS = "clusters/host-cluster/secrets/kommander-flux-fleet-credentials.sops.yaml"
OPERATOR = git.Signature("operator", "operator@example.invalid", 1_800_000_000)
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"


def inside(root: Path, path: str) -> Path:
    """Where `path` of the image is on the host: symlinks are followed within `root` (Debian's /var/run is a link
    to /run, which must not lead to the host's /run)."""
    resolved = PurePosixPath("/")
    pending = list(PurePosixPath(path).parts[1:])
    for _ in range(100):
        if not pending:
            return root / resolved.relative_to("/")
        part = pending.pop(0)
        candidate = resolved.parent if part == ".." else resolved / part
        host = root / candidate.relative_to("/")
        if host.is_symlink():
            target = PurePosixPath(host.readlink())
            pending = list(target.parts[1:] if target.is_absolute() else target.parts) + pending
            resolved = PurePosixPath("/") if target.is_absolute() else resolved
        else:
            resolved = candidate
    raise AssertionError(f"{path}: too many symlinks in the image")


def pod_environment(
    image_env: Sequence[str], container: Mapping[str, Any], annotations: Mapping[str, str]
) -> dict[str, str]:
    """The image's environment with the container's on top (the container wins, as in Kubernetes); a fieldRef
    reads the pod's annotations."""
    env = dict(item.split("=", 1) for item in image_env)
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        path = item["valueFrom"]["fieldRef"]["fieldPath"]
        found = re.fullmatch(r"metadata\.annotations\['([^']+)'\]", path)
        assert found is not None, f"{item['name']}: only literal values and annotations here"
        env[item["name"]] = annotations[found[1]]
    return env


def expanded(arg: str, env: Mapping[str, str]) -> str:
    """`$(NAME)` replaced by the container's variable, as the kubelet does for args."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m[1], m[0]), arg)


def volume_files(volume: Mapping[str, Any], objects: Mapping[str, Mapping[str, bytes]]) -> tuple[dict[str, bytes], int]:
    """The files a Secret or ConfigMap volume shows (path → bytes) and their mode; `objects` by object name."""
    source = volume.get("secret") or volume["configMap"]
    data = objects[source.get("secretName") or source["name"]]
    items = source.get("items") or [{"key": key, "path": key} for key in data]
    return {item["path"]: data[item["key"]] for item in items}, source.get("defaultMode", 0o644)


def run_pod(
    image: Pushed,
    pod: Mapping[str, Any],
    objects: Mapping[str, Mapping[str, bytes]],
    scratch: Path,
    annotations: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Start the pod's one container from the image as the kubelet would, without a runtime: the root filesystem
    read-only when the container asks for it, an emptyDir as a fresh tmpfs, a Secret or ConfigMap volume as its
    files (mode defaultMode, group fsGroup) mounted read-only, the pod's user and groups, the container's
    environment over the image's, the image's entrypoint and working directory.

    `objects` holds the content of each Secret and ConfigMap the pod mounts, by name."""
    (container,) = pod["containers"]
    security = pod["securityContext"]
    settings = image.config["config"]
    view = scratch / "rootfs"
    view.mkdir(parents=True)
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    for mount in mounts.values():  # a runtime makes the mount points in the container's writable layer
        inside(image.root, mount["mountPath"]).mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        stack.enter_context(bind_mounted(image.root, view))
        if container["securityContext"]["readOnlyRootFilesystem"]:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True, timeout=30)
        for volume in pod["volumes"]:
            target = inside(view, mounts[volume["name"]]["mountPath"])
            if "emptyDir" in volume:
                tmpfs = ["mount", "-t", "tmpfs", "-o", "mode=0777", volume["name"], str(target)]
                subprocess.run(tmpfs, check=True, timeout=30)
                stack.callback(subprocess.run, ["umount", str(target)], check=True, timeout=30)
                continue
            folder = scratch / "volumes" / volume["name"]
            folder.mkdir(parents=True)
            files, mode = volume_files(volume, objects)
            for name, data in files.items():
                (folder / name).write_bytes(data)
                os.chown(folder / name, 0, security["fsGroup"])
                (folder / name).chmod(mode)
            stack.enter_context(bind_mounted(folder, target))
            subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True, timeout=30)
        env = pod_environment(settings["Env"], container, annotations or {})
        command = [*settings["Entrypoint"], *(expanded(arg, env) for arg in container["args"])]
        return subprocess.run(
            ["chroot", f"--userspec={security['runAsUser']}:{security['runAsGroup']}",
             f"--groups={security['fsGroup']}", str(view), "/usr/bin/env", "-i",
             *(f"{k}={v}" for k, v in env.items()), "/usr/bin/env", "-C", settings["WorkingDir"], *command],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip


def tree_of(bare: Path, ref: str = "main") -> dict[str, bytes]:
    repo = git.open_repository(bare, create=False)
    return dict(git.read_tree(repo, git.head_of(repo, ref).tree))


def operator_commit(bare: Path, edit: Mapping[str, bytes]) -> None:
    """Commit `edit` (path → bytes) on main, as an operator's merged pull request would."""
    repo = git.open_repository(bare, create=False)
    head = git.head_of(repo, "main")
    tree = dict(git.read_tree(repo, head.tree)) | dict(edit)
    made = git.create_commit(repo, git.write_tree(repo, tree), [head.commit or ""], "operator", OPERATOR)
    git.move_branch(repo, "main", made, head.commit, "test")


def age_recipients(sops_file: bytes) -> list[str]:
    return sorted(entry["recipient"] for entry in yaml.safe_load(sops_file)["sops"]["age"])


@pytest.mark.parametrize("indexed", [False, True], ids=["cronjob", "indexed-job-index-1-of-2"])
def test_the_seeded_cronjob_runs_a_pass_from_the_image_with_a_read_only_root_and_its_mounted_secrets(
    indexed: bool, pushed: Pushed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gitea = GiteaServer(tmp_path / "gitea", OpenApiContract(DATA / "gitea-openapi" / "swagger.v1.json"))
    password = secrets.token_hex(16)
    gitea.add_user("fleet-bot", secrets.token_hex(20), password=password)
    bare = gitea.add_plain_repo("platform", "fleet")
    gitea.add_plain_repo("platform", "other")
    url, other = f"{gitea.url}/platform/fleet.git", f"{gitea.url}/platform/other.git"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("FLEET_USERNAME", "fleet-bot")
    monkeypatch.setenv("FLEET_PASSWORD", password)
    spec = tmp_path / "platform.yaml"
    spec.write_text(FLEET_SPEC.format(url=url) + (SHARDED.format(url=url, other=other) if indexed else ""))
    assert run_cli("seed", "-c", str(spec), "--repo", str(bare)).code == 0
    seeded = tree_of(bare)
    key = (tmp_path / "config" / "gitops-engine" / "age" / "incluster.agekey").read_bytes()
    recipient = key.decode().split("# public key: ")[1].split()[0]
    (cron_job,) = [doc for doc in yaml.safe_load_all(seeded[CRONJOB]) if doc]
    job = cron_job["spec"]["jobTemplate"]["spec"]
    objects: dict[str, Mapping[str, bytes]] = {
        "sops-age": {"age.agekey": key},
        "fleet-credentials": {"username": b"fleet-bot", "password": password.encode()},
    }
    if indexed:
        (listing,) = [d for d in yaml.safe_load_all(seeded["clusters/host-cluster/reconciler/repositories.yaml"]) if d]
        objects[listing["metadata"]["name"]] = {k: v.encode() for k, v in listing["data"].items()}

    with serving() as mirror:
        mirror.routes["/index.yaml"] = Route(body=MIRROR_INDEX)
        # the operator commits the spec, now with a teammate's age key, and points the charts at the mirror
        recipients = f"age:\n  recipients: [{recipient}, {TEAMMATE}]\n"
        edit = {".gitops-engine/platform.yaml": spec.read_bytes() + recipients.encode()}
        for path, data in seeded.items():
            if path.startswith("common/helm-repositories/"):
                edit[path] = re.sub(rb"\$\{helmMirrorURL:=[^}]*\}", mirror.url.encode(), data)
        operator_commit(bare, edit)
        gitea.start()
        try:
            index = {INDEX_ANNOTATION: "1"} if indexed else {}
            ran = run_pod(pushed, job["template"]["spec"], objects, tmp_path / "pod", index)
        finally:
            gitea.stop()

    assert ran.returncode == 0, ran.stdout + ran.stderr
    # index 1 of 2 takes the list's second line alone; the CronJob's one pass names no repository
    assert ran.stdout.startswith(f"== {url}\nseed: " if indexed else "seed: ")
    assert "seed: ok — committed " in ran.stdout
    assert "bump: gitops-engine/cert-manager-1: created " in ran.stdout
    assert "bump: ok — 1 proposals, 1 branches, 0 failed" in ran.stdout
    after = tree_of(bare)
    # the re-seed opened the Secret with the mounted key and re-wrapped it for both recipients; its values, which
    # the pod cannot read, stayed as they were
    assert age_recipients(after[CREDENTIALS]) == sorted([recipient, TEAMMATE])
    assert yaml.safe_load(after[CREDENTIALS])["data"] == yaml.safe_load(seeded[CREDENTIALS])["data"]
    proposal = tree_of(bare, "gitops-engine/cert-manager-1")
    releases = [
        data for path, data in proposal.items() if re.fullmatch(r"applications/cert-manager/.+/helmrelease\.yaml", path)
    ]
    assert len(releases) == 1 and b"      version: v1.17.0\n" in releases[0]
    # git authenticated every request with the username and password the credentials Secret holds
    assert {login for login, _, _ in gitea.git_requests} == {"fleet-bot"}
    assert any(request.startswith("git-receive-pack") for _, _, request in gitea.git_requests)
    assert password not in ran.stdout + ran.stderr
