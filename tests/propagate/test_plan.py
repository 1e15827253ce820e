"""Propagation planned over repository trees in the seeded layout; every case asserts the exact catalog files."""

from __future__ import annotations

from typing import Any

import pytest

from gitops_engine.core.errors import InputError
from gitops_engine.core.yamlio import emit_documents, load
from gitops_engine.model.tree import Tree
from gitops_engine.propagate import CopyStatus, plan_propagation
from tests.propagate.fleet import (
    FROM,
    GITEA,
    PROJECT_DEFAULT,
    WS_DEFAULT,
    catalog_files,
    copy_of,
    fleet,
    index,
    kustomization,
    source,
    workspace,
)

BOTH = {WS_DEFAULT: "true", PROJECT_DEFAULT: "true"}
WORKSPACES = {**workspace("w1", {"tier": "prod"}, projects=("p1",)), **workspace("w2", {"tier": "dev"})}
W1, W1P1, W2 = "workspaces/w1/catalogs", "workspaces/w1/projects/p1/catalogs", "workspaces/w2/catalogs"


def _statuses(tree: Tree) -> dict[str, str]:
    return {item.path: item.status.value for item in plan_propagation(tree).items}


@pytest.mark.parametrize(
    ("labels", "workspace_copies", "project_copies"),
    [
        pytest.param({WS_DEFAULT: "true"}, True, False, id="workspace-only"),
        pytest.param({PROJECT_DEFAULT: "true"}, False, True, id="project-only"),
        pytest.param(BOTH, True, True, id="both"),
        pytest.param({}, False, False, id="neither"),
        pytest.param({WS_DEFAULT: "false", PROJECT_DEFAULT: "false"}, False, False, id="label-false"),
    ],
)
def test_label_matrix(labels: dict[str, str], workspace_copies: bool, project_copies: bool) -> None:
    doc = source("dkp-catalog", labels)
    plan = plan_propagation(fleet({"dkp-catalog": doc}, WORKSPACES))
    expected: dict[str, Any] = {f"{W1}/kustomization.yaml": index([]), f"{W2}/kustomization.yaml": index([])}
    if workspace_copies:
        expected[f"{W1}/dkp-catalog.yaml"] = copy_of(doc, "w1-ns")
        expected[f"{W2}/dkp-catalog.yaml"] = copy_of(doc, "w2-ns")
        expected[f"{W1}/kustomization.yaml"] = expected[f"{W2}/kustomization.yaml"] = index(["dkp-catalog.yaml"])
    if project_copies:
        expected[f"{W1P1}/dkp-catalog.yaml"] = copy_of(doc, "w1-p1")
        expected[f"{W1P1}/kustomization.yaml"] = index(["dkp-catalog.yaml"])
    assert catalog_files(plan.after) == expected
    project_index = load(plan.after["workspaces/w1/projects/p1/kustomization.yaml"])[0]["resources"]
    assert project_index == (["namespace.yaml", "catalogs/"] if project_copies else ["namespace.yaml"])
    assert {item.status for item in plan.items} <= {CopyStatus.ADDED}
    assert plan.count(CopyStatus.ADDED) == 2 * workspace_copies + project_copies
    assert plan_propagation(plan.after).change.empty


def test_copy_file_bytes_are_exact() -> None:
    plan = plan_propagation(fleet({"dkp": source("dkp", {WS_DEFAULT: "true"}, tag="v2.17.0")}, workspace("w1")))
    # built through the shared emitter, so this pins our header, key order and values, not its quoting style
    expected_doc = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {
            "name": "dkp",
            "namespace": "w1-ns",
            "labels": {
                "kommander.d2iq.io/gitapps-gitrepository-type": "catalog",
                "kommander.d2iq.io/workspace-default-catalog-repository": "true",
            },
            "annotations": {"gitops-engine.io/propagated-from": "kommander/dkp"},
        },
        "spec": {"interval": "1h", "url": f"{GITEA}/kommander/dkp.git", "ref": {"tag": "v2.17.0"}},
    }
    header = (
        "Propagated by gitops-engine from kommander/dkp (common/catalog-repositories/dkp.yaml).\n"
        "Edit the source; edits here are undone."
    )
    data = plan.after[f"{W1}/dkp.yaml"]
    assert data == emit_documents([expected_doc], header=header)
    assert data.startswith(
        b"# Propagated by gitops-engine from kommander/dkp (common/catalog-repositories/dkp.yaml).\n"
    )


def _applied(sources: dict[str, dict[str, Any]], workspaces: dict[str, bytes], **extra: bytes) -> Tree:
    return plan_propagation(fleet(sources, workspaces, extra)).after


def test_workspace_added() -> None:
    doc = source("dkp", BOTH)
    before = _applied({"dkp": doc}, WORKSPACES)
    grown = before.merged(workspace("w3", projects=("p9",)))
    plan = plan_propagation(grown)
    assert plan.change.added == (
        "workspaces/w3/catalogs/dkp.yaml",
        "workspaces/w3/projects/p9/catalogs/dkp.yaml",
        "workspaces/w3/projects/p9/catalogs/kustomization.yaml",
    )
    assert plan.change.changed == (
        "workspaces/w3/catalogs/kustomization.yaml",
        "workspaces/w3/projects/p9/kustomization.yaml",
    )
    assert catalog_files(plan.after.under("workspaces/w3")) == {
        "workspaces/w3/catalogs/dkp.yaml": copy_of(doc, "w3-ns"),
        "workspaces/w3/catalogs/kustomization.yaml": index(["dkp.yaml"]),
        "workspaces/w3/projects/p9/catalogs/dkp.yaml": copy_of(doc, "w3-p9"),
        "workspaces/w3/projects/p9/catalogs/kustomization.yaml": index(["dkp.yaml"]),
    }
    assert _statuses(grown)[f"{W1}/dkp.yaml"] == "unchanged"


def test_workspace_removed_takes_its_copies_along() -> None:
    before = _applied({"dkp": source("dkp", BOTH)}, WORKSPACES)
    # the seed drops the files it owns; the catalogs/ folder is propagation's to clear
    shrunk = before.without({"workspaces/w1/namespace.yaml", "workspaces/w1/kustomization.yaml"})
    plan = plan_propagation(shrunk)
    assert sorted(p for p in plan.after if p.startswith("workspaces/w1/")) == [
        "workspaces/w1/projects/p1/kustomization.yaml",
        "workspaces/w1/projects/p1/namespace.yaml",
    ]
    assert catalog_files(plan.after) == {
        f"{W2}/dkp.yaml": copy_of(source("dkp", BOTH), "w2-ns"),
        f"{W2}/kustomization.yaml": index(["dkp.yaml"]),
    }
    removed = {i.path: i.reason for i in plan.items if i.status is CopyStatus.REMOVED}
    assert removed == {
        f"{W1}/dkp.yaml": "its workspace or project is gone",
        f"{W1P1}/dkp.yaml": "its workspace or project is gone",
    }


def test_source_renamed() -> None:
    before = _applied({"old-name": source("old-name", {WS_DEFAULT: "true"})}, WORKSPACES)
    renamed = source("new-name", {WS_DEFAULT: "true"})
    tree = before.without({"common/catalog-repositories/old-name.yaml"}).merged(
        {"common/catalog-repositories/new-name.yaml": emit_documents([renamed])}
    )
    plan = plan_propagation(tree)
    assert catalog_files(plan.after) == {
        f"{W1}/new-name.yaml": copy_of(renamed, "w1-ns"),
        f"{W2}/new-name.yaml": copy_of(renamed, "w2-ns"),
        f"{W1}/kustomization.yaml": index(["new-name.yaml"]),
        f"{W2}/kustomization.yaml": index(["new-name.yaml"]),
    }
    assert _statuses(tree) == {
        f"{W1}/new-name.yaml": "added",
        f"{W2}/new-name.yaml": "added",
        f"{W1}/old-name.yaml": "removed",
        f"{W2}/old-name.yaml": "removed",
    }


def test_source_deleted() -> None:
    before = _applied({"dkp": source("dkp", BOTH), "keep": source("keep", {WS_DEFAULT: "true"})}, WORKSPACES)
    tree = before.without({"common/catalog-repositories/dkp.yaml"})
    plan = plan_propagation(tree)
    assert catalog_files(plan.after) == {
        f"{W1}/keep.yaml": copy_of(source("keep", {WS_DEFAULT: "true"}), "w1-ns"),
        f"{W2}/keep.yaml": copy_of(source("keep", {WS_DEFAULT: "true"}), "w2-ns"),
        f"{W1}/kustomization.yaml": index(["keep.yaml"]),
        f"{W2}/kustomization.yaml": index(["keep.yaml"]),
        f"{W1P1}/kustomization.yaml": index([]),
    }
    reasons = {i.reason for i in plan.items if i.status is CopyStatus.REMOVED}
    assert reasons == {"source kommander/dkp is gone"}
    assert plan.count(CopyStatus.REMOVED) == 3


def test_url_hosts_are_mapped_for_attached_clusters() -> None:
    config = b"urlHosts:\n  gitea-http.kommander.svc.cluster.local:3000: git.fleet.example.com\n"
    doc = source("dkp", {WS_DEFAULT: "true"})
    other = source("upstream", {WS_DEFAULT: "true"}, url="https://github.com/mesosphere/dkp-catalog-applications")
    plan = plan_propagation(
        fleet({"dkp": doc, "upstream": other}, workspace("w1"), {".gitops-engine/propagate.yaml": config})
    )
    assert catalog_files(plan.after) == {
        f"{W1}/dkp.yaml": copy_of(doc, "w1-ns", url="https://git.fleet.example.com/kommander/dkp.git"),
        f"{W1}/upstream.yaml": copy_of(other, "w1-ns"),
        f"{W1}/kustomization.yaml": index(["dkp.yaml", "upstream.yaml"]),
    }
    assert plan.after["common/catalog-repositories/dkp.yaml"] == plan.before["common/catalog-repositories/dkp.yaml"]


def test_workspace_selector_narrows_the_workspaces_and_their_projects() -> None:
    config = b"sources:\n  kommander/dkp:\n    workspaceSelector:\n      matchLabels: {tier: prod}\n"
    doc = source("dkp", BOTH)
    plan = plan_propagation(fleet({"dkp": doc}, WORKSPACES, {".gitops-engine/propagate.yaml": config}))
    assert catalog_files(plan.after) == {
        f"{W1}/dkp.yaml": copy_of(doc, "w1-ns"),
        f"{W1P1}/dkp.yaml": copy_of(doc, "w1-p1"),
        f"{W1}/kustomization.yaml": index(["dkp.yaml"]),
        f"{W1P1}/kustomization.yaml": index(["dkp.yaml"]),
        f"{W2}/kustomization.yaml": index([]),
    }


HAND_META: dict[str, Any] = {
    "name": "team-apps",
    "namespace": "w1-ns",
    "labels": {"kommander.d2iq.io/gitapps-gitrepository-type": "catalog"},
}
HAND_MADE: dict[str, Any] = {
    "apiVersion": "source.toolkit.fluxcd.io/v1",
    "kind": "GitRepository",
    "metadata": HAND_META,
    "spec": {"interval": "10m", "url": "https://git.example.com/team/apps", "ref": {"branch": "main"}},
}


def test_hand_made_catalogs_are_left_alone() -> None:
    shadow = {**HAND_MADE, "metadata": {**HAND_META, "name": "dkp", "namespace": "w2-ns"}}
    hand_files = {
        f"{W1}/team-apps.yaml": b"# ours, by hand\n" + emit_documents([HAND_MADE]),
        f"{W1}/kustomization.yaml": kustomization(["team-apps.yaml"]),
        f"{W2}/dkp.yaml": emit_documents([shadow]),
        f"{W2}/kustomization.yaml": kustomization(["dkp.yaml"]),
    }
    tree = fleet({"dkp": source("dkp", {WS_DEFAULT: "true"})}, {**WORKSPACES, **hand_files})
    plan = plan_propagation(tree)
    assert plan.after[f"{W1}/team-apps.yaml"] == hand_files[f"{W1}/team-apps.yaml"]
    assert plan.after[f"{W2}/dkp.yaml"] == hand_files[f"{W2}/dkp.yaml"]
    assert catalog_files(plan.after) == {
        f"{W1}/team-apps.yaml": HAND_MADE,
        f"{W1}/dkp.yaml": copy_of(source("dkp", {WS_DEFAULT: "true"}), "w1-ns"),
        f"{W1}/kustomization.yaml": index(["team-apps.yaml", "dkp.yaml"]),
        f"{W2}/dkp.yaml": shadow,
        f"{W2}/kustomization.yaml": index(["dkp.yaml"]),
    }
    blocked = [i for i in plan.items if i.status is CopyStatus.BLOCKED]
    assert [(i.path, i.reason.split(" ")[0]) for i in blocked] == [(f"{W2}/dkp.yaml", f"{W2}/dkp.yaml")]
    # a source that stops selecting never takes the hand-made files with it
    gone = plan_propagation(plan.after.without({"common/catalog-repositories/dkp.yaml"}))
    assert gone.after[f"{W1}/team-apps.yaml"] == hand_files[f"{W1}/team-apps.yaml"]
    assert gone.after[f"{W2}/dkp.yaml"] == hand_files[f"{W2}/dkp.yaml"]
    assert load(gone.after[f"{W1}/kustomization.yaml"])[0]["resources"] == ["team-apps.yaml"]


@pytest.mark.parametrize("annotations", [5, True, "text", ["a"]])
def test_a_hand_made_catalog_whose_annotations_are_no_mapping_is_left_alone(annotations: object) -> None:
    odd = {**HAND_MADE, "metadata": {**HAND_META, "annotations": annotations}}
    hand_files = {
        f"{W1}/team-apps.yaml": emit_documents([odd]),
        f"{W1}/kustomization.yaml": kustomization(["team-apps.yaml"]),
    }
    tree = fleet({"dkp": source("dkp", {WS_DEFAULT: "true"})}, {**WORKSPACES, **hand_files})

    plan = plan_propagation(tree)

    assert plan.after[f"{W1}/team-apps.yaml"] == hand_files[f"{W1}/team-apps.yaml"]
    assert load(plan.after[f"{W1}/kustomization.yaml"])[0]["resources"] == ["team-apps.yaml", "dkp.yaml"]


def test_hand_edited_copy_is_restored_and_the_edit_reported() -> None:
    doc = source("dkp", {WS_DEFAULT: "true"}, tag="v2.17.0")
    applied = _applied({"dkp": doc}, WORKSPACES)
    edited_doc = copy_of(doc, "w1-ns")
    edited_doc["spec"]["ref"] = {"tag": "v9.9.9"}
    edited_doc["spec"]["suspend"] = True
    edited = applied.merged({f"{W1}/dkp.yaml": emit_documents([edited_doc])})
    plan = plan_propagation(edited)
    assert plan.after[f"{W1}/dkp.yaml"] == applied[f"{W1}/dkp.yaml"]
    assert plan.change.changed == (f"{W1}/dkp.yaml",)
    (item,) = [i for i in plan.items if i.status is CopyStatus.UPDATED]
    assert item.changes == ('spec.ref.tag: "v9.9.9" → "v2.17.0"', "spec.suspend: true → (absent)")
    assert "spec.ref.tag" in str(item)


def test_copy_annotation_names_the_source() -> None:
    after = _applied({"dkp": source("dkp", {WS_DEFAULT: "true"})}, workspace("w1"))
    assert load(after[f"{W1}/dkp.yaml"])[0]["metadata"]["annotations"] == {FROM: "kommander/dkp"}


@pytest.mark.parametrize(
    ("path", "text", "message"),
    [
        (
            ".gitops-engine/propagate.yaml",
            b"sources:\n  kommander/dkp:\n    workspaceSelector:\n"
            b"      matchExpressions:\n      - {key: a, operator: Has}\n",
            ".gitops-engine/propagate.yaml:5: sources.kommander/dkp.workspaceSelector.matchExpressions[0].operator: "
            "'Has' is not one of In, NotIn, Exists, DoesNotExist",
        ),
        (
            ".gitops-engine/propagate.yaml",
            b"urlhosts: {}\n",
            ".gitops-engine/propagate.yaml:1: urlhosts: unknown key; did you mean 'urlHosts'?",
        ),
        (
            ".gitops-engine/propagate.yaml",
            b"urlHosts:\n  a.svc: 'not a host/'\n",
            ".gitops-engine/propagate.yaml:2: urlHosts.a.svc: 'not a host/' is not a host[:port] for 'a.svc' (e.g. ",
        ),
        (
            "common/catalog-repositories/bad.yaml",
            b"apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: bad\n  labels:\n"
            b"    kommander.d2iq.io/gitapps-gitrepository-type: catalog\n"
            b"    kommander.d2iq.io/workspace-default-catalog-repository: true\nspec:\n  url: https://x/y\n",
            "common/catalog-repositories/bad.yaml:7: label kommander.d2iq.io/workspace-default-catalog-repository"
            ' must be a string (fix: quote it, e.g. "true")',
        ),
    ],
)
def test_bad_input_names_file_and_line(path: str, text: bytes, message: str) -> None:
    tree = fleet({"dkp": source("dkp", {WS_DEFAULT: "true"})}, WORKSPACES, {path: text})
    with pytest.raises(InputError) as caught:
        plan_propagation(tree)
    assert caught.value.lines[0].startswith(message)


def test_two_sources_with_one_name_are_refused() -> None:
    twin = source("dkp", {WS_DEFAULT: "true"})
    twin["metadata"]["namespace"] = "other"
    tree = fleet({"dkp": source("dkp", {WS_DEFAULT: "true"}), "twin": twin}, WORKSPACES)
    with pytest.raises(
        InputError, match=r"twin\.yaml:1: catalog source other/dkp clashes with kommander/dkp at .*dkp\.yaml:1"
    ):
        plan_propagation(tree)


def test_a_catalogs_folder_kustomization_yml_is_edited_not_joined_by_a_second_kustomization_file() -> None:
    """kustomize reads `kustomization.yml` as well, and refuses a folder with two kustomization files; before,
    propagation wrote a `kustomization.yaml` beside a hand-named `kustomization.yml`."""
    files = dict(workspace("w2", {"tier": "dev"}))
    files["workspaces/w2/catalogs/kustomization.yml"] = files.pop("workspaces/w2/catalogs/kustomization.yaml")
    doc = source("dkp-catalog", {WS_DEFAULT: "true"})
    plan = plan_propagation(fleet({"dkp-catalog": doc}, files))
    assert catalog_files(plan.after) == {
        f"{W2}/kustomization.yml": index(["dkp-catalog.yaml"]),
        f"{W2}/dkp-catalog.yaml": copy_of(doc, "w2-ns"),
    }
