"""The in-cluster reconciler: a CronJob on the management cluster running `gitops-engine reconcile` on schedule.

The pod reads nothing but what it is given: the fleet's age identity (the `sops-age` Secret Flux decrypts with),
the git credentials Secret (git.secretName) and the Gitea token Secret, each mounted read-only, and, for many
fleet repositories, the list of them in a ConfigMap. With `reconciler.repositories` the Job is an Indexed Job of
`shards` completions: each index reconciles its share of the list (`reconcile --shard $(JOB_COMPLETION_INDEX)/N`),
so Kubernetes, not the engine, runs the shards in parallel and retries them. The container runs as the image's
unprivileged user with a read-only root filesystem; $HOME (with the caches) and /tmp are emptyDirs.
"""

from __future__ import annotations

import posixpath
from typing import Any

from gitops_engine.model.platform import Platform, Reconciler
from gitops_engine.render import objects as o

NAME = "gitops-engine-reconciler"
USER_ID = 65532
HOME = "/home/gitops-engine"
SECRETS_DIR = "/var/run/secrets/gitops-engine"
AGE_KEY_FILE = f"{SECRETS_DIR}/sops-age/{o.SOPS_SECRET_KEY}"
GIT_DIR = f"{SECRETS_DIR}/git"
TOKEN_FILE = f"{SECRETS_DIR}/gitea/token"
REPOSITORIES_DIR = "/etc/gitops-engine/repositories"
REPOSITORIES_FILE = "repositories.txt"
# a pass holding the lock longer than the CLI's stuck threshold (2 h) is hung: Kubernetes ends it
DEADLINE_SECONDS = 2 * 3600
READ_ONLY = 0o440  # owner root, group the pod's fsGroup: readable by the reconciler's user only
# git asks this helper for https credentials; it reads the mounted Secret's files, so no value is ever in the
# pod spec, an environment variable or an argument
_HELPER = (
    f'!f() {{ test "$1" = get || exit 0; printf "username=%s\\npassword=%s\\n" '
    f'"$(cat {GIT_DIR}/username)" "$(cat {GIT_DIR}/password)"; }}; f'
)


def runs_in_cluster(platform: Platform) -> bool:
    """True when the spec asks for the reconciler as a CronJob (its folder is then part of the management
    cluster's kustomization)."""
    return platform.reconciler is not None and platform.reconciler.runner == "cronjob"


def reconciler_documents(platform: Platform) -> dict[str, list[Any]]:
    """Path → documents of the reconciler's folder on the management cluster (nothing when not asked for)."""
    reconciler = platform.reconciler
    if reconciler is None or not runs_in_cluster(platform):
        return {}
    manager = next(c for c in platform.clusters if c.role == "management")
    base = f"clusters/{manager.name}/reconciler"
    files: dict[str, list[Any]] = {f"{base}/cronjob.yaml": [cron_job(platform, reconciler)]}
    if reconciler.repositories:
        listing = "".join(f"{url}\n" for url in reconciler.repositories)
        files[f"{base}/repositories.yaml"] = [
            o.config_map(f"{NAME}-repositories", o.FLUX_NAMESPACE, {REPOSITORIES_FILE: listing}, _labels())
        ]
    resources = sorted(posixpath.basename(path) for path in files)
    files[f"{base}/kustomization.yaml"] = [o.kustomization_file(resources)]
    return files


def cron_job(platform: Platform, reconciler: Reconciler) -> dict[str, Any]:
    """The batch/v1 CronJob; an Indexed Job template when the spec lists repositories to shard."""
    job: dict[str, Any] = {
        "backoffLimit": 0,  # a failed pass is retried by the next schedule, not at once
        "activeDeadlineSeconds": DEADLINE_SECONDS,
    }
    if reconciler.repositories:
        job = {
            "completionMode": "Indexed",
            "completions": reconciler.shards,
            "parallelism": reconciler.shards,
            # one shard failing neither retries at once nor stops the others
            "backoffLimitPerIndex": 0,
            "maxFailedIndexes": reconciler.shards,
            "activeDeadlineSeconds": DEADLINE_SECONDS,
        }
    job["template"] = {"metadata": {"labels": _labels()}, "spec": _pod(platform, reconciler)}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": o.meta(NAME, o.FLUX_NAMESPACE, _labels()),
        "spec": {
            "schedule": reconciler.schedule,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"metadata": {"labels": _labels()}, "spec": job},
        },
    }


def _labels() -> dict[str, str]:
    return {"app.kubernetes.io/name": NAME, o.MANAGED_LABEL: o.MANAGER}


def _pod(platform: Platform, reconciler: Reconciler) -> dict[str, Any]:
    mounts, volumes = _volumes(platform, reconciler)
    container = {
        "name": "reconcile",
        "image": reconciler.image,
        "imagePullPolicy": "IfNotPresent",
        "args": _args(platform, reconciler),
        "env": _env(platform),
        "resources": {kind: dict(values) for kind, values in reconciler.resources.items()},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    return {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,  # the reconciler talks to git and Gitea, never to Kubernetes
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": USER_ID,
            "runAsGroup": USER_ID,
            "fsGroup": USER_ID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
    }


def _args(platform: Platform, reconciler: Reconciler) -> list[str]:
    args = ["reconcile"]
    if reconciler.repositories:
        args += ["--repositories", f"{REPOSITORIES_DIR}/{REPOSITORIES_FILE}"]
        args += ["--shard", f"$(JOB_COMPLETION_INDEX)/{reconciler.shards}"]
    else:
        args += ["--repo", reconciler.repository]
    args += ["--branch", platform.git.branch, "--age-key", AGE_KEY_FILE]
    if reconciler.gitea_token_secret:
        args += ["--gitea-token-file", TOKEN_FILE]
    return args


def _env(platform: Platform) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": HOME},
        {"name": "XDG_CACHE_HOME", "value": f"{HOME}/.cache"},
        {"name": "TMPDIR", "value": "/tmp"},
    ]
    if platform.reconciler is not None and platform.reconciler.repositories:
        # the downward API names the index explicitly, so $(JOB_COMPLETION_INDEX) in args always expands
        annotation = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        env.append({"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {"fieldPath": annotation}}})
    keys = set(platform.git.credentials)
    if {"username", "password"} <= keys:
        env += [
            {"name": "GIT_CONFIG_COUNT", "value": "1"},
            {"name": "GIT_CONFIG_KEY_0", "value": "credential.helper"},
            {"name": "GIT_CONFIG_VALUE_0", "value": _HELPER},
        ]
    if "identity" in keys:
        ssh = f"ssh -i {GIT_DIR}/identity -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes"
        ssh += f" -o UserKnownHostsFile={GIT_DIR}/known_hosts"
        env.append({"name": "GIT_SSH_COMMAND", "value": ssh})
    return env


def _volumes(platform: Platform, reconciler: Reconciler) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    mounts: list[dict[str, Any]] = [
        {"name": "home", "mountPath": HOME},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "sops-age", "mountPath": posixpath.dirname(AGE_KEY_FILE), "readOnly": True},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "home", "emptyDir": {"sizeLimit": "2Gi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
        _secret_volume("sops-age", o.SOPS_SECRET, [o.SOPS_SECRET_KEY]),
    ]
    if platform.git.secret_name and platform.git.credentials:
        mounts.append({"name": "git-credentials", "mountPath": GIT_DIR, "readOnly": True})
        volumes.append(_secret_volume("git-credentials", platform.git.secret_name, sorted(platform.git.credentials)))
    if reconciler.gitea_token_secret:
        mounts.append({"name": "gitea-token", "mountPath": posixpath.dirname(TOKEN_FILE), "readOnly": True})
        volumes.append(_secret_volume("gitea-token", reconciler.gitea_token_secret, ["token"]))
    if reconciler.repositories:
        mounts.append({"name": "repositories", "mountPath": REPOSITORIES_DIR, "readOnly": True})
        volumes.append({"name": "repositories", "configMap": {"name": f"{NAME}-repositories"}})
    return mounts, volumes


def _secret_volume(name: str, secret: str, keys: list[str]) -> dict[str, Any]:
    items = [{"key": key, "path": key} for key in keys]
    return {"name": name, "secret": {"secretName": secret, "defaultMode": READ_ONLY, "items": items}}
