"""A small fleet repository for the rendering tests: one cluster, a HelmRepository (or OCI) source, releases of
the `demo` chart with values from ConfigMaps, a SOPS-encrypted Secret and postBuild substitution."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gitops_engine.secrets.sopsfile import encrypt_yaml

SYNC = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: flux-system, namespace: flux-system}
spec:
  interval: 10m
  path: ./clusters/prod
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec:
  interval: 10m
  path: ./apps
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system}
  postBuild:
    substitute: {REGION: eu-west-1}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system, namespace: flux-system}
spec: {interval: 1m, url: "https://git.example.invalid/fleet.git", ref: {branch: main}}
"""

VALUES = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: demo-base, namespace: apps}
data:
  values.yaml: |
    replicas: 2
    size: 5
    image: {tag: "2.0"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: demo-late, namespace: apps}
data:
  values.yaml: |
    replicas: 4
"""

# two keys out of alphabetical order: kustomize sorts them, and the SOPS MAC holds only for the order written
SECRET = """\
apiVersion: v1
kind: Secret
metadata: {name: demo-secret, namespace: apps}
stringData:
  user: admin
  password: s3cret-plain
"""

RELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: demo, namespace: apps}
spec:
  interval: 5m
  targetNamespace: web
  chart:
    spec:
      chart: demo
      version: VERSION
      sourceRef: {kind: HelmRepository, name: charts}
  valuesFrom:
    - {kind: ConfigMap, name: demo-base}
    - {kind: Secret, name: demo-secret, valuesKey: password, targetPath: password}
    - {kind: ConfigMap, name: demo-missing, optional: true}
    - {kind: ConfigMap, name: demo-late}
  values:
    global: {region: "${REGION}"}
    sub: {note: inline}
"""

BROKEN = """\
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: broken, namespace: apps}
spec:
  interval: 5m
  chart:
    spec:
      chart: demo
      version: VERSION
      sourceRef: {kind: HelmRepository, name: charts}
  values:
    size: big
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: zero, namespace: apps}
spec:
  interval: 5m
  chart:
    spec:
      chart: demo
      version: VERSION
      sourceRef: {kind: HelmRepository, name: charts}
  values:
    replicas: 0
"""


def repository(url: str, oci: bool = False) -> str:
    """The HelmRepository `charts` pointing at `url` (an OCI registry path when `oci`)."""
    kind = "\n  type: oci" if oci else ""
    return (
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\n"
        f"metadata: {{name: charts, namespace: apps}}\nspec:\n  interval: 1h\n  url: {url}{kind}\n"
    )


def write_fleet(
    root: Path, chart_url: str, recipient: str, *, version: str = "1.0.0", oci: bool = False, broken: bool = False
) -> Path:
    """The fleet in `root` as a git repository with one commit; returns `root`."""
    files = {
        "clusters/prod/kustomization.yaml": "resources: [sync.yaml]\n",
        "clusters/prod/sync.yaml": SYNC,
        "apps/kustomization.yaml": "resources: [repository.yaml, values.yaml, secret.sops.yaml, release.yaml]\n",
        "apps/repository.yaml": repository(chart_url, oci),
        "apps/values.yaml": VALUES,
        "apps/release.yaml": RELEASE.replace("VERSION", version) + (BROKEN.replace("VERSION", version) * broken),
    }
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    (root / "apps/secret.sops.yaml").write_bytes(encrypt_yaml(SECRET.encode(), [recipient]))
    commit(root, "fleet")
    return root


def commit(root: Path, message: str) -> str:
    """Commit everything in `root` (initialising the repository on first use); returns the commit id."""
    if not (root / ".git").exists():
        subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    env = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), *env, "commit", "-qm", message], check=True)
    done = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    return done.stdout.strip()
