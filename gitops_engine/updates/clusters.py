"""What the bot knows about each cluster from the repository: the Kubernetes version it runs, and which cluster
is the management cluster.

The engine writes a cluster's version (spec `clusters[].kubernetesVersion`) into the cluster's `kommander-vars`
ConfigMap, `clusters/<name>/kommander-vars.yaml`, key `kubernetesVersion`: the variables that cluster's Flux
Kustomizations substitute from. That file is read here directly; a cluster without one, or without the key, has
no known version and its charts are not gated.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from gitops_engine.core.yamlio import YamlError, load
from gitops_engine.updates.versions import parse_version

VARS_CONFIGMAP = "kommander-vars"
VERSION_KEY = "kubernetesVersion"
ROLE_KEY = "clusterRole"
VARS_FILE = re.compile(rf"^clusters/([^/]+)/{VARS_CONFIGMAP}\.yaml$")


def vars_file(cluster: str) -> str:
    """Where a cluster's `kommander-vars` ConfigMap lives in a repository the engine seeded."""
    return f"clusters/{cluster}/{VARS_CONFIGMAP}.yaml"


def kubernetes_versions(files: Mapping[str, bytes], clusters: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """(cluster, Kubernetes version) for each of `clusters` whose `kommander-vars` names one, sorted; a value
    that is no version (a hand edit: the spec checks what it writes) gates nothing."""
    found: dict[str, str] = {}
    for cluster in set(clusters):
        data = files.get(vars_file(cluster))
        if data is None or VERSION_KEY.encode() not in data:
            continue
        version = _version_in(data)
        if version and parse_version(version) is not None:
            found[cluster] = version
    return tuple(sorted(found.items()))


def management_cluster(files: Mapping[str, bytes]) -> str:
    """The cluster whose `kommander-vars` says `clusterRole: management` (the first, by name; empty when none
    does): the cluster that creates the managed ones, whose version they never pass."""
    for path in sorted(files):
        found = VARS_FILE.match(path)
        if found is not None and ROLE_KEY.encode() in files[path] and _value_in(files[path], ROLE_KEY) == "management":
            return found.group(1)
    return ""


def _version_in(data: bytes) -> str | None:
    return _value_in(data, VERSION_KEY)


def _value_in(data: bytes, key: str) -> str | None:
    try:
        docs = load(data)
    except (YamlError, UnicodeDecodeError):
        return None  # not read here: validate reports a broken file
    for doc in docs:
        if not isinstance(doc, dict) or doc.get("kind") != "ConfigMap":
            continue
        metadata, values = doc.get("metadata"), doc.get("data")
        if isinstance(metadata, dict) and metadata.get("name") == VARS_CONFIGMAP and isinstance(values, dict):
            value = values.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None
