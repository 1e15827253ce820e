"""Each HelmRelease a cluster applies, made ready to render: its chart's location and its final values.

Pure: it reads the objects discovery rendered, which already carry the Flux Kustomization's postBuild
substitution, so the HelmRelease and the ConfigMaps and Secrets its `valuesFrom` names are seen as the cluster
gets them. A release that cannot be prepared is a ReleaseJob with either a finding (helm-controller would fail
it too: a missing values object, bad values YAML) or an `unavailable` reason (this repository alone cannot say:
a chart in another Git repository, a SOPS Secret without an identity).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitops_engine.flux.kinds import HELM_GROUP, SOURCE_GROUP
from gitops_engine.flux.kustomization import clean_path
from gitops_engine.helm.credentials import CredentialsError, secret_values, source_credentials
from gitops_engine.helm.release import ChartRef, ReleaseSpec, ReleaseSpecError, ValuesRef, release_spec
from gitops_engine.helm.sources import ChartLocation
from gitops_engine.helm.values import ValuesError, compose_values
from gitops_engine.model.credentials import Credentials
from gitops_engine.model.finding import Finding
from gitops_engine.validate.discovery import Cluster
from gitops_engine.validate.objects import ObjectId, RenderedObject

# A SOPS-encrypted Secret as rendered → the same Secret decrypted, or None when no identity opens it.
Decrypt = Callable[[RenderedObject], Mapping[str, Any] | None]


class _UnavailableError(Exception):
    """This repository alone cannot say what the release renders; the message says why."""


@dataclass(frozen=True)
class ReleaseJob:
    """One HelmRelease of one cluster and what rendering it needs (or why it cannot be rendered)."""

    cluster: str
    release: RenderedObject
    spec: ReleaseSpec | None = None
    location: ChartLocation | None = None
    values: Mapping[str, Any] | None = None
    finding: Finding | None = None
    unavailable: str = ""

    @property
    def ready(self) -> bool:
        """True when the chart location and the values are known."""
        return self.location is not None and self.values is not None and self.spec is not None


def release_jobs(
    clusters: Iterable[Cluster],
    files: Mapping[str, bytes],
    sources: Mapping[str, str] | None = None,
    decrypt: Decrypt | None = None,
) -> list[ReleaseJob]:
    """A job per HelmRelease per cluster, in cluster and object order."""
    jobs: list[ReleaseJob] = []
    folders = dict(sources or {})
    for cluster in clusters:
        pool = {obj.id: obj for obj in cluster.objects}
        for obj in cluster.objects:
            if obj.id.group == HELM_GROUP and obj.id.kind == "HelmRelease":
                jobs.append(_job(cluster, obj, pool, files, folders, decrypt))
    return jobs


def _job(
    cluster: Cluster,
    release: RenderedObject,
    pool: Mapping[ObjectId, RenderedObject],
    files: Mapping[str, bytes],
    sources: Mapping[str, str],
    decrypt: Decrypt | None,
) -> ReleaseJob:
    try:
        spec = release_spec(release.body)
    except ReleaseSpecError as exc:
        return ReleaseJob(cluster.name, release, finding=_finding(release, exc.path, "helm-release-invalid", str(exc)))
    if spec.chart is None:
        return ReleaseJob(cluster.name, release, spec, unavailable="it names no chart (spec.chart or spec.chartRef)")
    try:
        location = _location(spec.chart, cluster, pool, files, sources, decrypt)
        values = compose_values(spec.values_from, spec.values, _fetcher(spec.namespace, pool, decrypt))
    except _UnavailableError as exc:
        return ReleaseJob(cluster.name, release, spec, unavailable=str(exc))
    except ValuesError as exc:
        where = ("spec", "valuesFrom", exc.position) if exc.position is not None else ("spec", "values")
        finding = _finding(release, where, "helm-values", f"{release.id}: {exc}")
        return ReleaseJob(cluster.name, release, spec, finding=finding)
    return ReleaseJob(cluster.name, release, spec, location, values)


def _finding(release: RenderedObject, path: tuple[str | int, ...], rule: str, message: str) -> Finding:
    hints = {
        "helm-release-invalid": "fix the HelmRelease spec (see the Flux HelmRelease v2 API)",
        "helm-values": "fix or add the values object, or mark the valuesFrom entry optional: true",
    }
    return Finding(release.file, release.line_of(path), rule, message, hints[rule])


def _location(
    chart: ChartRef,
    cluster: Cluster,
    pool: Mapping[ObjectId, RenderedObject],
    files: Mapping[str, bytes],
    sources: Mapping[str, str],
    decrypt: Decrypt | None,
) -> ChartLocation:
    if chart.source_kind == "HelmChart":
        helm_chart = _source(pool, "HelmChart", chart)
        template = _map(helm_chart.body.get("spec"))
        ref = _map(template.get("sourceRef"))
        chart = ChartRef(
            str(ref.get("kind") or "HelmRepository"),
            str(ref.get("name") or ""),
            helm_chart.id.namespace,
            str(template.get("chart") or ""),
            str(template.get("version") or "*"),
        )
    if chart.source_kind == "HelmRepository":
        return _from_helm_repository(chart, _source(pool, "HelmRepository", chart), pool, decrypt)
    if chart.source_kind == "OCIRepository":
        return _from_oci_repository(_source(pool, "OCIRepository", chart), pool, decrypt)
    if chart.source_kind == "GitRepository":
        return _from_folder(chart, cluster, files, sources)
    raise _UnavailableError(
        f"charts from a {chart.source_kind} are not rendered (only this repository's files are read)"
    )


def _source(pool: Mapping[ObjectId, RenderedObject], kind: str, chart: ChartRef) -> RenderedObject:
    found = pool.get(ObjectId(SOURCE_GROUP, kind, chart.source_namespace, chart.source_name))
    if found is None:
        raise _UnavailableError(
            f"its {kind} {chart.source_namespace}/{chart.source_name} is not applied by this cluster"
        )
    return found


def _from_helm_repository(
    chart: ChartRef, repository: RenderedObject, pool: Mapping[ObjectId, RenderedObject], decrypt: Decrypt | None
) -> ChartLocation:
    spec = _map(repository.body.get("spec"))
    url = str(spec.get("url") or "").rstrip("/")
    auth = _credentials(spec, repository.id.namespace, pool, decrypt)
    insecure = spec.get("insecure") is True
    if url.startswith("oci://") or spec.get("type") == "oci":
        return ChartLocation("oci", f"{url}/{chart.chart}", chart.chart, chart.version, auth, insecure)
    return ChartLocation("helm", url, chart.chart, chart.version, auth)


def _from_oci_repository(
    repository: RenderedObject, pool: Mapping[ObjectId, RenderedObject], decrypt: Decrypt | None
) -> ChartLocation:
    spec = _map(repository.body.get("spec"))
    url = str(spec.get("url") or "").rstrip("/")
    ref = _map(spec.get("ref"))
    if ref.get("semver"):
        raise _UnavailableError(f"OCIRepository {repository.id.name} selects a semver range; pin a tag or digest")
    reference = str(ref.get("digest") or ref.get("tag") or "latest")
    auth = _credentials(spec, repository.id.namespace, pool, decrypt)
    return ChartLocation("oci", url, url.rsplit("/", 1)[-1], reference, auth, spec.get("insecure") is True)


def _from_folder(
    chart: ChartRef, cluster: Cluster, files: Mapping[str, bytes], sources: Mapping[str, str]
) -> ChartLocation:
    root = cluster.root.source
    if chart.source_name in sources:
        base = clean_path(sources[chart.source_name])
    elif root is None or (root.kind == "GitRepository" and root.name == chart.source_name):
        base = ""
    else:
        raise _UnavailableError(
            f"its chart is in GitRepository {chart.source_name}, not this repository "
            f"(pass --source {chart.source_name}=DIR when it is a folder of it)"
        )
    folder = clean_path(posixpath.join(base, chart.chart))
    prefix = f"{folder}/" if folder else ""
    chart_files = {path[len(prefix) :]: data for path, data in files.items() if path.startswith(prefix)}
    if "Chart.yaml" not in chart_files:
        raise _UnavailableError(f"./{folder} has no Chart.yaml")
    return ChartLocation("folder", folder, posixpath.basename(folder), files=chart_files)


def _credentials(
    spec: Mapping[str, Any], namespace: str, pool: Mapping[ObjectId, RenderedObject], decrypt: Decrypt | None
) -> Credentials | None:
    name = _map(spec.get("secretRef")).get("name")
    if not name:
        return None
    secret = pool.get(ObjectId("", "Secret", namespace, str(name)))
    if secret is None:
        raise _UnavailableError(f"its repository's credentials Secret {namespace}/{name} is not in this repository")
    try:
        return source_credentials(_secret_data(secret, decrypt), str(spec.get("url") or ""))
    except CredentialsError as exc:
        raise _UnavailableError(f"Secret {namespace}/{name}: {exc}") from None


def _fetcher(
    namespace: str, pool: Mapping[ObjectId, RenderedObject], decrypt: Decrypt | None
) -> Callable[[ValuesRef], str | None]:
    def fetch(ref: ValuesRef) -> str | None:
        # always the HelmRelease's namespace, never targetNamespace
        obj = pool.get(ObjectId("", ref.kind, namespace, ref.name))
        if obj is None:
            return None
        data = _secret_data(obj, decrypt) if ref.kind == "Secret" else _config_data(obj.body)
        return data.get(ref.values_key)

    return fetch


def _config_data(body: Mapping[str, Any]) -> dict[str, str]:
    # binaryData is not read by helm-controller
    return {str(k): "" if v is None else str(v) for k, v in _map(body.get("data")).items()}


def _secret_data(secret: RenderedObject, decrypt: Decrypt | None) -> dict[str, str]:
    body = secret.body
    if "sops" in body:
        opened = decrypt(secret) if decrypt is not None else None
        if opened is None:
            raise _UnavailableError(f"Secret {secret.id.name} is SOPS-encrypted and no age identity here opens it")
        body = opened
    try:
        # the API server folds stringData into data; so does a repository read
        return secret_values(body)
    except CredentialsError as exc:
        raise _UnavailableError(f"Secret {secret.id.name}: {exc}") from None


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
