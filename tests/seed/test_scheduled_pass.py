"""`reconcile` as the CronJob runs it: without the secret values at hand, with the fleet's key mounted, and over a
sharded list of repositories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops_engine.adapters import git
from gitops_engine.app.repository_list import Listed, Shard, parse_repository_list, shard_of
from gitops_engine.app.seed import SPEC_PATH
from gitops_engine.core.errors import InputError
from tests.seed.helpers import FIXED_RECIPIENT, example_spec_text, run_cli

HUMAN = git.Signature("human", "human@example.invalid", 1_800_000_000)
CREDENTIALS = "clusters/host-cluster/secrets/kommander-flux-fleet-credentials.sops.yaml"
SPEC_WITH_CREDENTIALS = (
    example_spec_text()
    .replace("  - {app: gitea, workspace: management}\n", "")
    .replace(
        "  interval: 1m\n",
        "  interval: 1m\n  secretName: fleet-credentials\n"
        "  credentials:\n    username: {env: FLEET_USER_FOR_TEST}\n    password: {env: FLEET_PASSWORD_FOR_TEST}\n",
        1,
    )
)


def commit(repo_path: Path, files: dict[str, bytes], branch: str = "main") -> str:
    repo = git.open_repository(repo_path)
    parent = git.head_of(repo, branch)
    tree = dict(git.read_tree(repo, parent.tree)) if parent.tree else {}
    tree.update(files)
    made = git.create_commit(repo, git.write_tree(repo, tree), [parent.commit] if parent.commit else [], "edit", HUMAN)
    git.move_branch(repo, branch, made, parent.commit, "test")
    return made


def files_of(repo_path: Path) -> dict[str, bytes]:
    repo = git.open_repository(repo_path, create=False)
    return dict(git.read_tree(repo, git.head_of(repo, "main").tree))


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private config and cache; chart lookups fail at once (a proxy that refuses), so only the seed step counts."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def seed_step(output: str) -> dict[str, str]:
    steps = {s["name"]: s for s in json.loads(output)["steps"]}
    return {"status": steps["seed"]["status"], "detail": steps["seed"]["detail"]}


def test_a_scheduled_pass_keeps_the_encrypted_secrets_whose_values_it_cannot_read(
    offline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = offline / "fleet.git"
    commit(fleet, {SPEC_PATH: SPEC_WITH_CREDENTIALS.encode()})
    key = offline / "fleet.agekey"
    assert run_cli("secrets", "keygen", str(key)).code == 0
    monkeypatch.setenv("FLEET_USER_FOR_TEST", "fleet-bot")
    monkeypatch.setenv("FLEET_PASSWORD_FOR_TEST", "password-only-the-desk-has")
    at_the_desk = run_cli("seed", "--repo", str(fleet), "--ref", "main", "--age-key", str(key))
    assert at_the_desk.code == 0, at_the_desk.err
    encrypted = files_of(fleet)[CREDENTIALS]
    monkeypatch.delenv("FLEET_USER_FOR_TEST")
    monkeypatch.delenv("FLEET_PASSWORD_FOR_TEST")
    text = SPEC_WITH_CREDENTIALS.replace("retention: 30d", "retention: 45d")
    commit(fleet, {SPEC_PATH: text.encode()})

    scheduled = run_cli("reconcile", "--repo", str(fleet), "--age-key", str(key), "--json")
    at_the_desk_again = run_cli("seed", "--repo", str(fleet), "--ref", "main", "--age-key", str(key))

    assert seed_step(scheduled.out)["status"] == "ok", scheduled.out
    assert seed_step(scheduled.out)["detail"].startswith("committed ")
    after = files_of(fleet)
    assert after[CREDENTIALS] == encrypted
    overrides = "clusters/host-cluster/apps/management/kube-prometheus-stack-overrides.yaml"
    assert b"retention: 45d" in after[overrides]
    # a seed run by hand still insists on the values
    assert at_the_desk_again.code == 2
    assert "environment variable FLEET_USER_FOR_TEST is not set" in at_the_desk_again.err


def test_a_scheduled_pass_whose_mounted_key_is_missing_fails_its_seed_step_and_makes_no_key(offline: Path) -> None:
    fleet = offline / "fleet.git"
    commit(fleet, {SPEC_PATH: example_spec_text().encode()})
    missing = offline / "secrets" / "sops-age" / "age.agekey"

    scheduled = run_cli("reconcile", "--repo", str(fleet), "--age-key", str(missing), "--json")

    step = seed_step(scheduled.out)
    assert scheduled.code == 1
    assert step == {
        "status": "failed",
        "detail": f"--age-key {missing}: no such file (mount the fleet's key there, e.g. the sops-age Secret)",
    }
    assert not missing.exists() and not (offline / "config" / "gitops-engine").exists()
    assert set(files_of(fleet)) == {SPEC_PATH}


def test_each_shard_takes_every_nth_repository_of_the_list(offline: Path) -> None:
    names = ["a", "b", "c", "d", "e"]
    for name in names:
        commit(offline / f"{name}.git", {"README.md": f"fleet {name}\n".encode()})
    listing = offline / "repositories.txt"
    listing.write_text("# fleets\n" + "".join(f"{offline / n}.git\n\n" for n in names))

    shards = [run_cli("reconcile", "--repositories", str(listing), "--shard", f"{i}/2", "--json") for i in (0, 1)]

    reconciled = [[Path(r["repository"]).stem for r in json.loads(s.out)["repositories"]] for s in shards]
    assert reconciled == [["a", "c", "e"], ["b", "d"]]
    assert [s.code for s in shards] == [0, 0]
    text = run_cli("reconcile", "--repositories", str(listing), "--shard", "1/2")
    assert text.out.splitlines()[0] == f"== {offline / 'b.git'}"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--shard", "2/2"), "error: --shard '2/2': the count is 1 to 1000 and the index below it (0-based)\n"),
        (("--shard", "1-2"), "error: --shard '1-2': write INDEX/COUNT, e.g. 0/3 (the index is 0-based)\n"),
        (("--repo", "x.git"), "error: --repo and --repositories: give one of them\n"),
    ],
)
def test_a_wrong_shard_is_bad_input(args: tuple[str, ...], expected: str, offline: Path) -> None:
    listing = offline / "repositories.txt"
    listing.write_text("https://git.example.com/a.git\n")

    result = run_cli("reconcile", "--repositories", str(listing), *args)

    assert (result.code, result.err) == (2, expected)


def test_a_shard_needs_a_list(offline: Path) -> None:
    result = run_cli("reconcile", "--shard", "0/2")
    assert (result.code, result.err) == (2, "error: --shard splits a --repositories list; give the list too\n")


def test_a_repository_list_names_every_bad_line() -> None:
    data = b"https://git.example.com/a.git\n\nhttps://u:p@git.example.com/b.git\nhttps://git.example.com/a.git\nx y\n"

    with pytest.raises(InputError) as raised:
        parse_repository_list(data, "list.txt")

    assert [line.split(": ", 1)[0] for line in raised.value.lines] == ["list.txt:3", "list.txt:4", "list.txt:5"]
    assert raised.value.lines[1] == "list.txt:4: listed already on line 1"
    assert raised.value.lines[2] == "list.txt:5: one repository a line (found 'y' after the first)"


def test_shards_cover_the_list_once_and_differ_in_size_by_at_most_one() -> None:
    listed = parse_repository_list(b"".join(f"https://git.example.com/{n}.git\n".encode() for n in range(7)), "l")

    shards = [shard_of(listed, Shard(i, 3)) for i in range(3)]

    def names(items: list[Listed]) -> list[str]:
        return [i.origin for i in items]

    assert [names(s) for s in shards] == [["l:1", "l:4", "l:7"], ["l:2", "l:5"], ["l:3", "l:6"]]


def test_the_fixed_recipient_spares_the_key(offline: Path) -> None:
    fleet = offline / "fleet.git"
    text = example_spec_text().replace("  - {app: gitea, workspace: management}\n", "")
    commit(fleet, {SPEC_PATH: (text + f"\nage:\n  recipients:\n    - {FIXED_RECIPIENT}\n").encode()})

    scheduled = run_cli("reconcile", "--repo", str(fleet), "--json")

    assert seed_step(scheduled.out)["status"] == "ok", scheduled.out
