"""The Kommander installer flow as phases, and which phase each rendered path belongs to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Phase:
    """One step of the installer flow, in order."""

    number: int
    key: str
    title: str


PHASES: tuple[Phase, ...] = (
    Phase(1, "base-namespaces", "Base namespaces (kommander, kommander-flux) and priority classes"),
    Phase(2, "flux", "Flux, self-managed in kommander-flux"),
    Phase(3, "root-ca", "Root CA: self-signed and kommander-ca cert-manager issuers"),
    Phase(4, "chartmuseum", "ChartMuseum (air-gapped chart mirror)"),
    Phase(5, "helm-repositories", "Helm repositories, overridable by ${helmMirrorURL}"),
    Phase(6, "ingress-certificate", "Ingress certificate / ACME issuer"),
    Phase(7, "gitea", "Gitea, the in-cluster Git server"),
    Phase(8, "application-definitions", "Application definitions (applications/<app>/<version>/)"),
    Phase(9, "bootstrap-structure", "Bootstrap repository structure and the apps-kommander Kustomization"),
    Phase(10, "age", "age: .sops.yaml with the recipients"),
    Phase(11, "flux-configuration", "Flux configuration: kommander-vars and the management GitRepository"),
    Phase(12, "gatekeeper", "Gatekeeper"),
    Phase(13, "app-management", "App management: workspaces, projects and their namespaces"),
    Phase(14, "cluster-api", "Managed clusters: ClusterClasses, Clusters, health checks and their Flux delivery"),
    Phase(15, "core-apps", "Core app deployments"),
    Phase(16, "optional-apps", "Optional app deployments"),
    Phase(17, "catalog-repositories", "Catalog repository loader"),
    Phase(18, "reconciler", "Reconciler: the scheduled CronJob and the repository's workflows"),
    Phase(19, "provenance", "Provenance (.gitops-engine/state.yaml)"),
)
_BY_KEY = {p.key: p for p in PHASES}

# Apps the installer deploys before any optional app; everything else enabled in the spec is optional.
CORE_APPS = frozenset({"cert-manager", "traefik", "kube-prometheus-stack"})
_APP_PHASE = {"chartmuseum": "chartmuseum", "gitea": "gitea", "gatekeeper": "gatekeeper"}

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(cluster-api/|clusters/[^/]+/cluster-api/)"), "cluster-api"),
    (re.compile(r"^common/base/"), "base-namespaces"),
    (re.compile(r"^clusters/[^/]+/flux-system/flux\.yaml$"), "flux"),
    (re.compile(r"^(common/pki/(kustomization|root-ca)\.yaml|clusters/[^/]+/pki\.yaml)$"), "root-ca"),
    (re.compile(r"^common/helm-repositories/"), "helm-repositories"),
    (re.compile(r"^common/pki/"), "ingress-certificate"),
    (re.compile(r"^\.sops\.yaml$"), "age"),
    (re.compile(r"^clusters/[^/]+/(flux-system/|kommander-vars\.yaml$|secrets/)"), "flux-configuration"),
    (
        re.compile(r"^clusters/[^/]+/(kustomization\.yaml|apps\.yaml|apps/(.+/)?kustomization\.yaml)$"),
        "bootstrap-structure",
    ),
    (re.compile(r"^workspaces/"), "app-management"),
    (re.compile(r"^common/catalog-repositories/"), "catalog-repositories"),
    (re.compile(r"^(clusters/[^/]+/reconciler/|\.gitea/workflows/)"), "reconciler"),
    (re.compile(r"^\.gitops-engine/"), "provenance"),
)
_APP_PATH = re.compile(
    r"^(?:applications/(?P<def>[^/]+)/|clusters/[^/]+/apps/(?:[^/]+/)+(?P<dep>[^/]+?)(?:-overrides)?\.yaml$)"
)


# The rules as one alternation: every rule is anchored at the start, so the first alternative that matches is
# the first rule that matches, found in one pass instead of one search per rule.
_ANY_RULE = re.compile("|".join(f"(?P<rule{i}>{pattern.pattern})" for i, (pattern, _) in enumerate(_RULES)))
_RULE_KEYS = {f"rule{i}": key for i, (_, key) in enumerate(_RULES)}


@lru_cache(maxsize=1 << 16)
def phase_of(path: str) -> Phase:
    """The installer phase that writes `path` (memoised: plans ask for every path of big trees repeatedly)."""
    parts = path.split("/")
    if len(parts) >= 5 and parts[0] == "clusters" and parts[2] == "apps" and parts[-1].endswith(".yaml"):
        # most files of a fleet: clusters/<c>/apps/<folder>/…/<file>.yaml, decided without the regexes below
        if parts[-1] == "kustomization.yaml":
            return _BY_KEY["bootstrap-structure"]
        stem = parts[-1][: -len(".yaml")]
        return _deployment_phase(stem.removesuffix("-overrides") or stem)
    rule = _ANY_RULE.match(path)
    if rule is not None and rule.lastgroup is not None:
        return _BY_KEY[_RULE_KEYS[rule.lastgroup]]
    match = _APP_PATH.match(path)
    if match:
        app = match.group("def") or match.group("dep") or ""
        if app in _APP_PHASE:
            return _BY_KEY[_APP_PHASE[app]]
        if match.group("def"):
            return _BY_KEY["application-definitions"]
        return _deployment_phase(app)
    return _BY_KEY["bootstrap-structure"]


def _deployment_phase(app: str) -> Phase:
    return _BY_KEY[_APP_PHASE.get(app) or ("core-apps" if app in CORE_APPS else "optional-apps")]
