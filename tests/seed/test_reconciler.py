"""The reconciler in the cluster: the CronJob (and Indexed Job) seed renders, checked against Kubernetes' schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gitops_engine.adapters import git
from gitops_engine.app.seed import SeedRequest, plan_seed, seed
from gitops_engine.render.phases import phase_of
from tests.seed.helpers import FIXED_RECIPIENT, example_spec_text, run_cli, write_example

CRONJOB = "clusters/host-cluster/reconciler/cronjob.yaml"
REPOSITORIES = "clusters/host-cluster/reconciler/repositories.yaml"
VALIDATE = ".gitea/workflows/validate.yaml"
CURRENCY = ".gitea/workflows/currency.yaml"
KEY_FILE = "/var/run/secrets/gitops-engine/sops-age/age.agekey"
# the oldest Kubernetes the rendered objects are meant for (backoffLimitPerIndex is beta, on by default, from 1.29)
OLDEST_KUBERNETES = "1.29"
SHARDED = """\
  repositories:
    - https://git.example.com/platform/fleet-eu.git
    - https://git.example.com/platform/fleet-us.git
    - ssh://git@git.example.com/platform/fleet-ap.git
  shards: 2
  gitea:
    tokenSecret: reconciler-token
    token: {env: RECONCILER_TOKEN_FOR_TEST}
"""
CREDENTIALS = """\
  secretName: fleet-credentials
  credentials:
    username: {env: FLEET_USER_FOR_TEST}
    password: {env: FLEET_PASSWORD_FOR_TEST}
"""


def rendered(tmp_path: Path, text: str) -> dict[str, bytes]:
    spec = write_example(tmp_path, text + f"\nage:\n  recipients:\n    - {FIXED_RECIPIENT}\n")
    return dict(plan_seed(SeedRequest(spec)).new_files)


def documents(data: bytes) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(data) if doc is not None]


def schema_errors(obj: dict[str, Any]) -> list[str]:
    errors = []
    for version in (OLDEST_KUBERNETES, kubernetes_validate.latest_version()):
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{version}: {exc.message} at {list(exc.path)}")
    return errors


def sharded_spec() -> str:
    text = example_spec_text().replace("  interval: 1m\n", "  interval: 1m\n" + CREDENTIALS, 1)
    return text.replace('    limits: {cpu: "1", memory: 1Gi}\n', '    limits: {cpu: "1", memory: 1Gi}\n' + SHARDED)


def test_the_example_spec_renders_a_cronjob_valid_against_the_kubernetes_schemas(tmp_path: Path) -> None:
    files = rendered(tmp_path, example_spec_text())

    (job,) = documents(files[CRONJOB])

    assert schema_errors(job) == []
    assert (job["kind"], job["metadata"]["namespace"]) == ("CronJob", "kommander-flux")
    assert job["spec"]["schedule"] == "*/30 * * * *"
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 65532
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["image"] == "registry.example.com/platform/gitops-engine:0.1.0"
    assert container["args"] == [
        "reconcile", "--repo", "https://git.example.com/platform/fleet.git", "--branch", "main", "--age-key", KEY_FILE,
    ]  # fmt: skip
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["/home/gitops-engine"] == "home" and "emptyDir" in volumes["home"]
    assert mounts["/tmp"] == "tmp" and "emptyDir" in volumes["tmp"]
    assert volumes[mounts["/var/run/secrets/gitops-engine/sops-age"]]["secret"]["secretName"] == "sops-age"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["HOME"] == "/home/gitops-engine" and env["XDG_CACHE_HOME"] == "/home/gitops-engine/.cache"
    management = documents(files["clusters/host-cluster/kustomization.yaml"])[0]["resources"]
    assert "reconciler" in management
    for workload in ("team-a-prod", "team-a-dev"):
        assert "reconciler" not in documents(files[f"clusters/{workload}/kustomization.yaml"])[0]["resources"]
    assert phase_of(CRONJOB).key == "reconciler"


def test_listed_repositories_make_an_indexed_job_with_one_shard_per_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILER_TOKEN_FOR_TEST", "gitea-token-value-for-test")
    monkeypatch.setenv("FLEET_USER_FOR_TEST", "fleet-bot")
    monkeypatch.setenv("FLEET_PASSWORD_FOR_TEST", "fleet-password-for-test")
    files = rendered(tmp_path, sharded_spec())

    (job,) = documents(files[CRONJOB])
    (listing,) = documents(files[REPOSITORIES])

    assert schema_errors(job) == [] and schema_errors(listing) == []
    spec = job["spec"]["jobTemplate"]["spec"]
    # the Job the CronJob creates each time (and `kubectl create job --from=cronjob/…` creates at once)
    indexed_job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "reconcile-now"}, "spec": spec}
    assert schema_errors(indexed_job) == []
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 2, 2)
    (container,) = spec["template"]["spec"]["containers"]
    assert container["args"] == [
        "reconcile", "--repositories", "/etc/gitops-engine/repositories/repositories.txt",
        "--shard", "$(JOB_COMPLETION_INDEX)/2", "--branch", "main", "--age-key", KEY_FILE,
        "--gitea-token-file", "/var/run/secrets/gitops-engine/gitea/token",
    ]  # fmt: skip
    env = {e["name"]: e for e in container["env"]}
    index = env["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert index == "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    # git asks the helper, which reads the mounted Secret: no credential in the pod spec
    assert env["GIT_CONFIG_KEY_0"]["value"] == "credential.helper"
    assert "/var/run/secrets/gitops-engine/git/password" in env["GIT_CONFIG_VALUE_0"]["value"]
    volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
    assert volumes["git-credentials"]["secret"]["secretName"] == "fleet-credentials"
    assert volumes["gitea-token"]["secret"]["secretName"] == "reconciler-token"
    assert volumes["repositories"]["configMap"]["name"] == listing["metadata"]["name"]
    assert listing["data"]["repositories.txt"] == (
        "https://git.example.com/platform/fleet-eu.git\n"
        "https://git.example.com/platform/fleet-us.git\n"
        "ssh://git@git.example.com/platform/fleet-ap.git\n"
    )
    token = files["clusters/host-cluster/secrets/kommander-flux-reconciler-token.sops.yaml"]
    assert b"ENC[AES256_GCM," in token and b"gitea-token-value-for-test" not in token
    every_file = b"".join(files.values())
    assert b"fleet-password-for-test" not in every_file and b"gitea-token-value-for-test" not in every_file


def test_the_seeded_reconciler_builds_and_validates_with_the_management_cluster(tmp_path: Path) -> None:
    write_example(tmp_path)
    seed(SeedRequest(tmp_path / "platform.yaml"))

    result = run_cli("validate", "--repo", str(tmp_path / "fleet.git"), "--ref", "main")

    assert result.code == 0, result.out
    assert "0 error(s)" in result.out


def test_a_workflow_runner_schedules_the_currency_workflow_instead_of_a_cronjob(tmp_path: Path) -> None:
    text = example_spec_text().replace(
        "  # runner: workflow              # the repository's", "  runner: workflow                # the repository's"
    )
    files = rendered(tmp_path, text)

    assert not [p for p in files if "/reconciler/" in p]
    assert "reconciler" not in documents(files["clusters/host-cluster/kustomization.yaml"])[0]["resources"]
    workflow = yaml.safe_load(files[".gitea/workflows/currency.yaml"])
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1)
    assert workflow[True] == {"workflow_dispatch": {}, "schedule": [{"cron": "*/30 * * * *"}]}


def test_without_a_workflow_runner_the_currency_workflow_runs_only_by_hand(tmp_path: Path) -> None:
    files = rendered(tmp_path, example_spec_text())

    workflow = yaml.safe_load(files[".gitea/workflows/currency.yaml"])
    validate = yaml.safe_load(files[".gitea/workflows/validate.yaml"])

    assert workflow[True] == {"workflow_dispatch": {}}
    run = " ".join(step.get("run", "") for step in workflow["jobs"]["reconcile"]["steps"])
    assert "gitops-engine reconcile --repo" in run and "--age-key" in run
    assert validate[True] == {"pull_request": {"branches": ["main"]}}


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            '  schedule: "*/30 * * *"\n',
            "reconciler.schedule: '*/30 * * *' has 4 fields; write five: minute hour day-of-month month day-of-week",
        ),
        ('  schedule: "0 24 * * *"\n', "reconciler.schedule: '0 24 * * *': '24' is out of range for the hour (0-23)"),
        (
            "  resources: {limits: {memory: lots}}\n",
            "reconciler.resources.limits.memory: 'lots' is not a Kubernetes quantity (e.g. 100m, 0.5, 256Mi, 1Gi)",
        ),
        (
            "  shards: 3\n",
            "reconciler.shards: shards split reconciler.repositories; list the fleet repositories there",
        ),
        ("  runer: workflow\n", "reconciler.runer: unknown key; did you mean 'runner'?"),
        (
            "  repositories: [https://git.example.com/a.git, /srv/b.git]\n",
            "reconciler.repositories[1]: '/srv/b.git' is not a git URL the reconciler can clone "
            "(https://, http://, ssh://)",
        ),
    ],
)
def test_a_wrong_reconciler_section_is_one_error_line_naming_file_and_line(
    section: str, expected: str, tmp_path: Path
) -> None:
    text = f"reconciler:\n  image: registry.example.com/gitops-engine:0.1.0\n{section}"
    if "schedule" not in section:
        text = text.replace("reconciler:\n", 'reconciler:\n  schedule: "@hourly"\n')
    before, after = example_spec_text().split("# The reconciler:")[0], example_spec_text().split("\napps:")[1]
    spec = before + text + "\napps:" + after
    write_example(tmp_path, spec)
    line = spec.splitlines().index(section.splitlines()[0]) + 1

    result = run_cli("plan", "-c", str(tmp_path / "platform.yaml"))

    assert result.code == 2
    assert result.err == f"error: {tmp_path / 'platform.yaml'}:{line}: {expected}\n"


def test_seeded_workflows_keep_hand_edits_through_a_re_seed(tmp_path: Path) -> None:
    spec = write_example(tmp_path, example_spec_text() + f"\nage:\n  recipients:\n    - {FIXED_RECIPIENT}\n")
    assert seed(SeedRequest(spec)).commit is not None
    fleet = tmp_path / "fleet.git"
    repo = git.open_repository(fleet, create=False)
    head = git.head_of(repo, "main")
    tree = dict(git.read_tree(repo, head.tree))
    validate_edit = tree[VALIDATE].replace(b'python-version: "3.11"', b'python-version: "3.12"')
    currency_edit = tree[CURRENCY].replace(
        b"GITOPS_ENGINE_PACKAGE: gitops-engine\n", b"GITOPS_ENGINE_PACKAGE: gitops-engine==0.1.0\n"
    )
    assert validate_edit != tree[VALIDATE] and currency_edit != tree[CURRENCY]
    tree.update({VALIDATE: validate_edit, CURRENCY: currency_edit})
    human = git.Signature("human", "human@example.invalid", 1_800_000_000)
    edited = git.create_commit(repo, git.write_tree(repo, tree), [head.commit or ""], "pin the engine", human)
    git.move_branch(repo, "main", edited, head.commit, "test")
    spec.write_text(
        spec.read_text().replace("  # runner: workflow              #", "  runner: workflow                #")
    )

    plan = plan_seed(SeedRequest(spec))
    result = seed(SeedRequest(spec))

    statuses = {d.path: d.status.value for phase in plan.phases for d in phase.files}
    assert statuses[VALIDATE] == "kept" and statuses[CURRENCY] == "merged"
    assert result.commit is not None
    after = git.read_tree(repo, git.head_of(repo, "main").tree)
    assert after[VALIDATE] == validate_edit
    assert b"GITOPS_ENGINE_PACKAGE: gitops-engine==0.1.0\n" in after[CURRENCY]
    assert b'    - cron: "*/30 * * * *"\n' in after[CURRENCY]
    assert CRONJOB not in after
