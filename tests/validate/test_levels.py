"""Results that must not depend on the order builds finish in, or on work shared between identical objects."""

from __future__ import annotations

from pathlib import Path

from gitops_engine.app.validate import validate_repository
from tests.validate.fixtures import BASE, REPOSITORY, line_of, write_tree

# The apps Kustomization substitutes from a ConfigMap that a sibling Kustomization (same level) applies,
# so its build has to wait for the whole level before it can be substituted.
SIBLING_VARS_KS = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: vars
  namespace: flux-system
spec:
  interval: 10m
  path: ./vars
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
"""


def test_substitute_from_a_sibling_kustomization(tmp_path: Path) -> None:
    files = {
        **{k: v for k, v in BASE.items() if k != "clusters/dev/vars.yaml"},
        "clusters/dev/vars-ks.yaml": SIBLING_VARS_KS,
        "vars/cluster-vars.yaml": BASE["clusters/dev/vars.yaml"].replace("example.com", "sibling.example"),
    }
    write_tree(tmp_path / "repo", files)
    report, _ = validate_repository(str(tmp_path / "repo"), cache_dir=tmp_path / "cache")
    assert report.findings == ()
    (cluster,) = report.discovery.clusters
    release = next(o for o in cluster.objects if o.id.kind == "HelmRelease")
    assert release.body["spec"]["values"]["ingress"]["hosts"][0]["host"] == "podinfo.dev.sibling.example"
    # objects keep the order of their Kustomizations, whatever order the builds finished in
    producers = [o.producer.name for o in cluster.objects if o.producer is not None]
    assert producers == sorted(producers, key=["flux-system", "apps", "vars"].index)


def test_identical_bodies_each_get_their_own_finding(tmp_path: Path) -> None:
    # the same misspelt HelmRepository in two namespaces: validated once, reported for both objects
    broken = REPOSITORY.replace("  interval: 1h\n", "  interval: 1h\n  intervall: 2h\n")
    second = BASE["clusters/dev/apps.yaml"].replace("name: apps", "name: apps-b").replace("podinfo", "podinfo-b")
    files = {
        **BASE,
        "apps/repository.yaml": broken,
        "clusters/dev/apps-b.yaml": second.replace("./apps", "./apps-b"),
        "apps-b/kustomization.yaml": "resources:\n  - repository.yaml\n",
        "apps-b/repository.yaml": "# the copy\n" + broken,
    }
    write_tree(tmp_path / "repo", files)
    report, _ = validate_repository(str(tmp_path / "repo"), cache_dir=tmp_path / "cache")
    assert [(f.rule, f.file, f.line, f.message.split(":")[0]) for f in report.findings] == [
        (
            "schema-unknown-field",
            "apps-b/repository.yaml",
            line_of(files["apps-b/repository.yaml"], "intervall"),
            "HelmRepository/podinfo-b/podinfo",
        ),
        (
            "schema-unknown-field",
            "apps/repository.yaml",
            line_of(broken, "intervall"),
            "HelmRepository/podinfo/podinfo",
        ),
    ]
