"""Target parsing: URLs and paths by kind, the gitea block, and token sources that never hold the token."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_engine.adapters.targets import (
    GiteaTarget,
    LocalTarget,
    RemoteTarget,
    SecretSource,
    gitea_repository,
    gitea_target,
    parse_target,
)
from gitops_engine.cli.main import main
from gitops_engine.core.errors import InputError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("fleet.git", LocalTarget(Path("fleet.git"))),
        ("/srv/git/fleet.git", LocalTarget(Path("/srv/git/fleet.git"))),
        ("./a:b/fleet.git", LocalTarget(Path("a:b/fleet.git"))),
        ("file:///srv/git/fleet%20x.git", LocalTarget(Path("/srv/git/fleet x.git"))),
        ("https://git.example.com/platform/fleet.git", RemoteTarget("https://git.example.com/platform/fleet.git")),
        (
            "ssh://git@git.example.com:2222/platform/fleet.git",
            RemoteTarget("ssh://git@git.example.com:2222/platform/fleet.git"),
        ),
        ("git@github.com:platform/fleet.git", RemoteTarget("git@github.com:platform/fleet.git")),
        ("gitea.local:platform/fleet.git", RemoteTarget("gitea.local:platform/fleet.git")),
    ],
)
def test_parse_target(value: str, expected: object) -> None:
    assert parse_target(value) == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("", "is empty"),
        ("https://alice:hunter2@git.example.com/fleet.git", "carries credentials"),
        ("ftp://git.example.com/fleet.git", "unsupported URL scheme"),
        ("https:///fleet.git", "has no host"),
    ],
)
def test_bad_targets_name_the_origin_and_the_fix(value: str, words: str) -> None:
    with pytest.raises(InputError, match=words) as caught:
        parse_target(value, "platform.yaml:4")
    assert str(caught.value).startswith("platform.yaml:4: ")
    assert "hunter2" not in str(caught.value)


def test_gitea_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("abc123\n", encoding="utf-8")
    block = {
        "url": "https://gitea.example.com/",
        "owner": "platform",
        "repository": "fleet.git",
        "tokenFile": str(token_file),
        "admin": {
            "tokenEnv": "ADMIN_TOKEN",
            "user": {"username": "kommander", "email": "k@example.com", "passwordEnv": "KOMMANDER_PASSWORD"},
        },
    }
    target = gitea_target(block, "platform.yaml:9")
    assert isinstance(target, GiteaTarget)
    assert target.clone_url == "https://gitea.example.com/platform/fleet.git"
    assert target.token.read() == "abc123"
    assert "abc123" not in repr(target)
    assert target.create_user is not None and target.create_user.username == "kommander"
    monkeypatch.delenv("ADMIN_TOKEN", raising=False)
    assert target.admin_token is not None
    with pytest.raises(InputError, match=r"platform.yaml:9: environment variable ADMIN_TOKEN is not set"):
        target.admin_token.read()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"token": "abc"}, "must not hold the secret itself"),
        ({"tokenEnv": "T", "tokenFile": "/t"}, "exactly one of tokenEnv and tokenFile"),
        ({"tokenEnv": None}, "exactly one of tokenEnv and tokenFile"),
        ({"owner": ""}, "gitea.owner is required"),
        ({"url": "gitea.example.com"}, "must be http"),
        ({"url": "https://u:p@gitea.example.com"}, "must not carry credentials"),
        ({"branch": "main"}, "unknown key gitea.branch"),
    ],
)
def test_gitea_block_errors(change: dict[str, object], words: str) -> None:
    base: dict[str, object] = {"url": "https://g.example.com", "owner": "o", "repository": "r", "tokenEnv": "T"}
    # a None value removes the key
    block = {k: v for k, v in {**base, **change}.items() if v is not None}
    with pytest.raises(InputError, match=words) as caught:
        gitea_target(block, "platform.yaml:3")
    assert str(caught.value).startswith("platform.yaml:3: ")


def test_token_file_problems(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    base = {"url": "https://g.example.com", "owner": "o", "repository": "r"}
    with pytest.raises(InputError, match="is empty"):
        gitea_target({**base, "tokenFile": str(empty)}, "p.yaml:1").token.read()
    with pytest.raises(InputError, match="cannot read"):
        gitea_target({**base, "tokenFile": str(tmp_path / "missing")}, "p.yaml:1").token.read()


@pytest.mark.parametrize(
    ("url", "server", "owner", "repository"),
    [
        ("https://git.example.com/platform/fleet.git", "https://git.example.com", "platform", "fleet"),
        ("http://127.0.0.1:3000/platform/fleet", "http://127.0.0.1:3000", "platform", "fleet"),
        ("https://example.com/gitea/platform/fleet/", "https://example.com/gitea", "platform", "fleet"),
    ],
)
def test_a_gitea_repository_named_by_its_url(url: str, server: str, owner: str, repository: str) -> None:
    token = SecretSource("--gitea-token-env", env="GITEA_TOKEN")
    assert gitea_repository(url, token) == GiteaTarget(server, owner, repository, token)


def test_gitea_options_on_the_command_line_refuse_bad_input_with_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITEA_TOKEN", "not-used")
    cases = [
        (["bump", "--repo", "fleet.git", "--gitea-token-env", "GITEA_TOKEN"], "is not a Gitea repository URL"),
        (
            ["reconcile", "--repo", "https://alice:pw@git.example.com/p/f", "--gitea-token-env", "GITEA_TOKEN"],
            "carries credentials",
        ),
        (["bump", "--repo", "https://h/p/f", "--gitea-token-env", "A", "--gitea-token-file", "t"], "give one of them"),
    ]
    for argv, words in cases:
        assert main(argv) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith("error: --") and words in line and "pw" not in line
