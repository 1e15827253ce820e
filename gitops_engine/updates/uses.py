"""What a scan finds and what an edit changes, as plain values: chart uses, their sources and sites, edits.

Kept apart from the scanner and the editor (which need the YAML parsers) so that a run served from the scan
cache, and the proposal logic, load none of the parsing code.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from gitops_engine.core.yamlio import Scalar
from gitops_engine.model.credentials import Credentials

# Kubernetes release sources (policy.KubernetesReleases): Kubernetes' stable files, a curated list at a URL, a list
# written in the policy
STABLE_RELEASES = "kubernetes-stable"
LISTED_RELEASES = "kubernetes-list"
INLINE_RELEASES = "kubernetes-inline"
RELEASE_KINDS = frozenset({STABLE_RELEASES, LISTED_RELEASES, INLINE_RELEASES})

__all__ = ["CatalogFolder", "ChartSource", "ChartUse", "Edit", "Scalar", "ScanResult", "SecretRef", "Site"]


@dataclass(frozen=True)
class SecretRef:
    """The Secret a chart source authenticates with (Flux `spec.secretRef`, in the source's namespace): `name` as
    `namespace/name (cluster c)`, and where the scan found it (`path` empty: the cluster does not define it)."""

    name: str
    path: str = ""
    doc: int = 0


@dataclass(frozen=True)
class ChartSource:
    """A chart repository to look up: Helm HTTP (`<url>/index.yaml`) or one OCI repository (`oci://…/<chart>`).

    `secret` is the Secret it authenticates with; `auth` the credentials read from it just before a lookup, never
    part of a scan (nor of its cache) and never compared or shown.
    """

    url: str
    kind: str
    charts: tuple[str, ...] = ()
    insecure: bool = False
    secret: SecretRef | None = None
    auth: Credentials | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Site:
    """The scalar that holds a version: byte range in the file and the part of its value that is the version."""

    path: str
    doc: int
    keys: tuple[str, ...]
    scalar: Scalar
    version_text: str

    def value_with(self, version: str) -> str:
        """The scalar's new value when its version part becomes `version` (`${v:=1.2.3}` keeps its variable)."""
        value = self.scalar.value
        if value == self.version_text:
            return version
        index = value.rfind(self.version_text)
        return value[:index] + version + value[index + len(self.version_text) :]


@dataclass(frozen=True)
class CatalogFolder:
    """A Kommander-style version folder `applications/<app>/<version>/`: a bump moves the whole folder."""

    root: str
    app: str
    version: str


@dataclass(frozen=True)
class ChartUse:
    """One pinned chart: who pins it, in which clusters, from which source; `skip` says why it cannot be bumped."""

    app: str
    chart: str
    holder: str
    path: str
    line: int
    clusters: tuple[str, ...]
    site: Site | None
    source: ChartSource | None
    source_ref: str
    is_range: bool = False
    catalog: CatalogFolder | None = None
    skip: str = ""


@dataclass(frozen=True)
class ScanResult:
    """What a scan found: chart uses (bumpable or skipped; a managed cluster's Kubernetes version is one too),
    files that could not be read, the Kubernetes version of each cluster that names one, as sorted (cluster,
    version) pairs, and the management cluster's name (empty when the repository does not say)."""

    uses: tuple[ChartUse, ...]
    problems: tuple[str, ...] = ()
    kubernetes: tuple[tuple[str, str], ...] = ()
    management: str = ""

    def sources(self) -> tuple[ChartSource, ...]:
        """Each source once, with every chart asked of it: what the lookup fetches. A repository several
        clusters authenticate to is read with one of their Secrets (any one opens it): a found one, the first.
        A Kubernetes release source is asked for the minors its clusters run (`1.29`); a list written in the
        policy itself is not looked up."""
        charts: dict[tuple[str, str, bool], set[str]] = defaultdict(set)
        secrets: dict[tuple[str, str, bool], SecretRef] = {}
        for use in self.uses:
            source = use.source
            if source is None or use.skip or source.kind == INLINE_RELEASES:
                continue
            key = (source.url, source.kind, source.insecure)
            charts[key].add(_minor(use) if source.kind in RELEASE_KINDS else use.chart)
            known = secrets.get(key)
            if source.secret is not None and (known is None or _preferred(source.secret) < _preferred(known)):
                secrets[key] = source.secret
        return tuple(
            ChartSource(url, kind, tuple(sorted(names)), insecure, secrets.get((url, kind, insecure)))
            for (url, kind, insecure), names in sorted(charts.items())
        )


def _minor(use: ChartUse) -> str:
    """`1.29` of a Kubernetes use's `v1.29.4` (what a stable-file source is asked for)."""
    parts = (use.site.version_text if use.site is not None else "").removeprefix("v").split(".")
    return ".".join(parts[:2])


def _preferred(secret: SecretRef) -> tuple[bool, str, int, str]:
    return (not secret.path, secret.path, secret.doc, secret.name)


@dataclass(frozen=True)
class Edit:
    """Set the scalar at `site` to `value`; with `folder`, also move that catalog folder to `folder_version`; with
    `kubernetes`, the scalar is that cluster's Kubernetes version (its variables and record follow it)."""

    site: Site
    value: str
    folder: CatalogFolder | None = None
    folder_version: str | None = None
    kubernetes: str | None = None
