"""ArtifactGenerator copy rules, as source-watcher v2.0 applies them (expected trees written by hand)."""

from __future__ import annotations

from collections.abc import Mapping

from gitops_engine.core.yamlio import load
from gitops_engine.flux.artifacts import Artifact, artifact_names, build_artifacts
from gitops_engine.flux.kustomization import Ref

SOURCE = {
    "cfg/a.yaml": b"a: 1\n",
    "cfg/b.yml": b"b: 2\n",
    "cfg/README.md": b"read me\n",
    "cfg/sub/c.yaml": b"c: 3\n",
    "cfg/sub/deep/d.yaml": b"d: 4\n",
    "cfg/logo.png": b"\x89PNG",
    "cfg/.sops.yaml": b"creation_rules: []\n",
    "values.yaml": b"replicas: 1\nimage:\n  tag: a\n  pull: Always\nlist: [1, 2]\n",
    "prod-values.yaml": b"image:\n  tag: b\nlist: [3]\n",
}


def _generator(copies: str) -> bytes:
    return (
        "apiVersion: source.extensions.fluxcd.io/v1beta1\nkind: ArtifactGenerator\nmetadata:\n  name: gen\n"
        "  namespace: flux-system\nspec:\n  sources:\n    - alias: src\n      kind: GitRepository\n"
        "      name: flux-system\n  artifacts:\n    - name: out\n      copy:\n" + copies
    ).encode()


def _build(copies: str) -> tuple[Artifact, list[str]]:
    files: Mapping[str, bytes] = {**SOURCE, "clusters/gen.yaml": _generator(copies)}
    built = build_artifacts(
        files, lambda ref: "" if ref == Ref("GitRepository", "flux-system", "flux-system") else None
    )
    return built.by_key[("flux-system", "out")], [p.message for p in built.problems]


def _copy(source: str, to: str, extra: str = "") -> str:
    return f'        - from: "{source}"\n          to: "{to}"\n{extra}'


def test_a_literal_folder_lands_under_its_own_name() -> None:
    artifact, problems = _build(_copy("@src/cfg", "@artifact/d"))
    assert problems == []
    # README.md is copied (no exclude); the default ignore set drops the picture and .sops.yaml
    assert sorted(artifact.files) == ["d/cfg/README.md", "d/cfg/a.yaml", "d/cfg/b.yml", "d/cfg/sub/c.yaml",
                                      "d/cfg/sub/deep/d.yaml"]  # fmt: skip
    assert artifact.origins["d/cfg/sub/c.yaml"] == "cfg/sub/c.yaml"


def test_a_glob_ending_in_double_star_strips_its_prefix_and_is_one_level() -> None:
    artifact, _ = _build(_copy("@src/cfg/**", "@artifact/"))
    # each child of cfg lands at the root; sub/ is a matched folder, copied whole
    assert sorted(artifact.files) == ["README.md", "a.yaml", "b.yml", "sub/c.yaml", "sub/deep/d.yaml"]


def test_double_star_is_not_recursive_and_other_globs_keep_the_source_path() -> None:
    artifact, _ = _build(_copy("@src/cfg/**/*.yaml", "@artifact/x/"))
    # `**` is `*`: exactly one folder level below cfg, and the full source path is kept under x/
    assert sorted(artifact.files) == ["x/cfg/sub/c.yaml"]
    artifact, _ = _build(_copy("@src/cfg/*.y?ml", "@artifact/"))
    assert sorted(artifact.files) == ["cfg/a.yaml"]


def test_a_literal_file_goes_to_the_target_unless_it_ends_in_a_slash() -> None:
    renamed, _ = _build(_copy("@src/values.yaml", "@artifact/chart/values-default.yaml"))
    assert sorted(renamed.files) == ["chart/values-default.yaml"]
    into, _ = _build(_copy("@src/values.yaml", "@artifact/chart/"))
    assert sorted(into.files) == ["chart/values.yaml"]


def test_exclude_is_doublestar_relative_to_the_source_root_and_to_each_copied_folder() -> None:
    artifact, _ = _build(_copy("@src/cfg/**", "@artifact/", '          exclude: ["**/*.md", "deep/**"]\n'))
    assert sorted(artifact.files) == ["a.yaml", "b.yml", "sub/c.yaml"]


def test_merge_deep_merges_yaml_maps_and_replaces_lists() -> None:
    copies = _copy("@src/values.yaml", "@artifact/values.yaml") + _copy(
        "@src/prod-values.yaml", "@artifact/values.yaml", "          strategy: Merge\n"
    )
    artifact, _ = _build(copies)
    assert artifact.files["values.yaml"] == b"image:\n  pull: Always\n  tag: b\nlist:\n- 3\nreplicas: 1\n"


def test_no_match_and_unknown_alias_are_problems() -> None:
    _, problems = _build(_copy("@src/missing/**", "@artifact/") + _copy("@other/cfg", "@artifact/"))
    assert problems == [
        "ArtifactGenerator gen: @src/missing/**: no files match pattern",
        "ArtifactGenerator gen: @other is not one of the generator's source aliases",
    ]


def test_an_artifact_from_another_repository_is_incomplete() -> None:
    files = {**SOURCE, "gen.yaml": _generator(_copy("@src/cfg", "@artifact/"))}
    built = build_artifacts(files, lambda ref: None)
    assert built.by_key[("flux-system", "out")].complete is False
    assert built.by_key[("flux-system", "out")].files == {}


def test_a_revision_naming_an_alias_the_generator_does_not_declare_is_a_problem() -> None:
    files = {**SOURCE, "clusters/gen.yaml": _generator(_copy("@src/values.yaml", "@artifact/")).replace(
        b"    - name: out\n", b"    - name: out\n      revision: \"@sorce\"\n"
    )}  # fmt: skip
    built = build_artifacts(files, lambda ref: "")
    assert [(p.file, p.line, p.message) for p in built.problems] == [
        ("clusters/gen.yaml", 13, "ArtifactGenerator gen: revision names alias @sorce, which is not declared")
    ]
    assert artifact_names(load(files["clusters/gen.yaml"])[0]) == ["out"]
