"""Secrets audit: seed, bump, propagate and re-seed a fleet on the test Gitea, then look for planted values in
everything the runs left or showed.

Planted (fresh random values each run): the git credentials Flux clones with (from the environment), a Secret
value read from a file, the Gitea token, and the age identity the first seed generates. Searched, as plaintext
and as base64 at every alignment: every object of the Gitea repository and of the local object stores under
the cache (every ref, reachable or not), the pull requests and issues on the server, every line the runs
printed, the argv of every `git`, `kubectl` and `kustomize` child (wrapper scripts first on PATH log their argv
and environment, then exec the real program) and of every process git itself starts (git's trace2 events),
every git config file, and every file under the cache. The Gitea token may reach a git child in one place only:
the environment variable the credential helper reads (the variable it was given in is withheld from children).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.crash.fleet import mirror_index, point_helm_repositories_at
from tests.forge.gitea_server import GiteaServer
from tests.lookups.servers import Route, serving

# the variable transport._git hands the credential helper; the only place a child may hold the token
HELPER_PASSWORD = "GITOPS_ENGINE_GIT_PASSWORD"
WRAPPED = ("git", "kubectl", "kustomize")
SPEC = """apiVersion: gitops-engine.io/v1alpha1
kind: Platform
metadata: {{name: audit}}
git:
  branch: main
  url: https://git.example.invalid/platform/fleet.git
  secretName: fleet-git-auth
  credentials:
    username: {{env: AUDIT_GIT_USERNAME}}
    password: {{env: AUDIT_GIT_PASSWORD}}
  gitea: {{url: {gitea}, owner: platform, repository: fleet, tokenEnv: AUDIT_GITEA_TOKEN}}
ingress: {{issuer: selfsigned, domain: example.invalid}}
catalog:
  repositories:
    - name: partner-catalog
      url: https://git.example.invalid/partner-catalog.git
      ref: {{branch: main}}
      labels:
        kommander.d2iq.io/gitapps-gitrepository-type: catalog
        kommander.d2iq.io/workspace-default-catalog-repository: "true"
workspaces:
  - {{name: management, namespace: kommander-workspace}}
  - {{name: team-a, namespace: team-a}}
clusters:
  - {{name: host, role: management, workspace: management, labels: {{env: prod}}}}
  - {{name: a1, role: workload, workspace: team-a, labels: {{env: prod}}}}
  - {{name: a2, role: workload, workspace: team-a, labels: {{env: dev}}}}
apps:
  - {{app: cert-manager, workspace: management}}
  - {{app: cert-manager, workspace: team-a}}
  - {{app: traefik, workspace: team-a}}
  - app: kube-prometheus-stack
    workspace: team-a
    values: {{prometheus: {{prometheusSpec: {{retention: {retention}}}}}}}
secrets:
  - name: db-credentials
    workspace: team-a
    data:
      password: {{file: db-password.txt}}
"""


@dataclass
class Audit:
    """The planted values, where the runs live, and everything they printed."""

    root: Path
    planted: dict[str, str]
    env: dict[str, str]
    printed: list[str] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def argv_log(self) -> Path:
        return self.root / "argv"

    @property
    def trace(self) -> Path:
        return self.root / "trace2"

    def run(self, *args: str) -> str:
        """Run the CLI; it must exit 0. Keeps what it printed."""
        done = subprocess.run(
            [sys.executable, "-m", "gitops_engine.cli.main", *args],
            cwd=self.root, env=self.env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        self.printed += [done.stdout, done.stderr]
        assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout


@pytest.fixture
def audit(tmp_path: Path, gitea: GiteaServer, tokens: dict[str, str]) -> Audit:
    planted = {
        "git password": secrets.token_urlsafe(24),
        "file secret": secrets.token_urlsafe(24),
        "gitea token": tokens["alice"],
    }
    (tmp_path / "db-password.txt").write_text(planted["file secret"])
    home = tmp_path / "home"
    home.mkdir()
    argv_log, trace = tmp_path / "argv", tmp_path / "trace2"
    argv_log.mkdir()
    trace.mkdir()
    wrappers = tmp_path / "bin"
    wrappers.mkdir()
    for name in WRAPPED:
        real = shutil.which(name)
        if real is None:
            continue
        script = wrappers / name
        script.write_text(
            "#!/bin/sh\n"
            f'log="{argv_log}/{name}.$$.$(date +%s%N)"\n'
            'printf "%s\\0" "$@" >"$log.argv"\n'
            'env -0 >"$log.env"\n'
            f'exec "{real}" "$@"\n'
        )
        script.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k in ("LANG", "LC_ALL", "TMPDIR")}
    env |= {
        "PATH": f"{wrappers}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
        "GIT_TRACE2_EVENT": str(trace),
        "PYTHONPATH": str(ROOT),
        "AUDIT_GIT_USERNAME": "flux",
        "AUDIT_GIT_PASSWORD": planted["git password"],
        "AUDIT_GITEA_TOKEN": planted["gitea token"],
        "NO_PROXY": "127.0.0.1",
    }
    return Audit(tmp_path, planted, env)


def forms(value: str) -> list[bytes]:
    """`value` as bytes and as the part of its base64 that stays the same wherever it starts in a longer text."""
    raw = value.encode()
    found = [raw]
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        first = 1 if offset else 0  # the first group mixes in the bytes before the value
        last = (offset + len(raw)) // 3  # groups after this one mix in what follows
        found.append(encoded[4 * first : 4 * last])
    return found


def leaks(planted: dict[str, str], data: bytes, where: str) -> list[str]:
    """One line per planted value found in `data`."""
    return [f"{name} in {where}" for name, value in planted.items() for form in forms(value) if form and form in data]


def all_objects(repository: Path) -> Iterator[bytes]:
    """The content of every object of a repository, reachable or not."""
    done = subprocess.run(
        ["git", "--git-dir", str(repository), "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    data, start = done.stdout, 0
    while start < len(data):
        header_end = data.index(b"\n", start)
        size = int(data[start:header_end].split()[2])
        yield data[header_end + 1 : header_end + 1 + size]
        start = header_end + 1 + size + 1


def files_under(root: Path) -> Iterable[Path]:
    return (p for p in sorted(root.rglob("*")) if p.is_file())


def test_no_planted_secret_reaches_an_object_a_log_line_an_argument_a_git_config_or_a_cache_file(
    audit: Audit, gitea: GiteaServer
) -> None:
    spec = audit.root / "platform.yaml"
    spec.write_text(SPEC.format(gitea=gitea.url, retention="30d"))
    url = f"{gitea.url}/platform/fleet.git"
    bare = gitea.bare_path("platform", "fleet")
    forge = ("--repo", url, "--gitea-token-env", "AUDIT_GITEA_TOKEN")
    with serving() as mirror:
        mirror.routes["/charts/index.yaml"] = Route(body=mirror_index())
        assert "committed" in audit.run("seed", "-c", "platform.yaml")
        key_file = audit.home / ".config" / "gitops-engine" / "age" / "audit.agekey"
        audit.planted["age identity"] = next(
            line for line in key_file.read_text().splitlines() if line.startswith("AGE-SECRET-KEY-")
        )
        point_helm_repositories_at(bare, f"{mirror.url}/charts")
        assert "created" in audit.run("bump", *forge)
        assert "committed" in audit.run("propagate", *forge)
        spec.write_text(SPEC.format(gitea=gitea.url, retention="45d"))
        assert "pull request" in audit.run("seed", "-c", "platform.yaml")
        audit.run("reconcile", *forge)

    found: list[str] = []
    # every object of the repository on the server and of every local object store
    stores = sorted((audit.home / ".cache" / "gitops-engine" / "remotes").glob("*.git"))
    assert stores, "the remote runs left no object store"
    objects = 0
    for repository in (bare, *stores):
        for content in all_objects(repository):
            objects += 1
            found += leaks(audit.planted, content, f"an object of {repository}")
    # what the server shows: pull requests and issues
    texts = [json.dumps([p.title, p.body, p.comments]) for p in gitea.pulls_of("platform", "fleet")]
    texts += [json.dumps([i.title, i.body, i.comments]) for i in gitea.issues_of("platform", "fleet")]
    assert any("gitops-engine" in t for t in texts), "no pull request or issue was opened"
    for text in texts:
        found += leaks(audit.planted, text.encode(), "a pull request or issue on the server")
    # every line printed
    lines = "\n".join(audit.printed).splitlines()
    for line in lines:
        found += leaks(audit.planted, line.encode(), f"printed line {line[:80]!r}")
    # the argv of every wrapped child, and where its environment holds the token
    calls = sorted(audit.argv_log.glob("*.argv"))
    assert {c.name.split(".")[0] for c in calls} >= {"git", "kubectl"}, "the wrappers saw no git or kubectl"
    for call in calls:
        found += leaks(audit.planted, call.read_bytes(), f"argv of {call.name}")
        environment = dict(
            entry.partition("=")[::2] for entry in call.with_suffix(".env").read_text().split("\0") if entry
        )
        holders = {variable for variable, text in environment.items() if audit.planted["gitea token"] in text}
        allowed = {HELPER_PASSWORD} if call.name.startswith("git.") else set()
        assert holders <= allowed, f"{call.name}: the Gitea token in the environment variables {holders}"
        if HELPER_PASSWORD in environment:
            helpers = [environment[f"GIT_CONFIG_VALUE_{n}"] for n in range(int(environment["GIT_CONFIG_COUNT"]))]
            assert helpers[-1].startswith("!f()") and f"${HELPER_PASSWORD}" in helpers[-1], helpers
    # the argv of every process git started (remote helpers, the credential helper)
    events = [json.loads(line) for path in files_under(audit.trace) for line in path.read_text().splitlines()]
    argvs = [event["argv"] for event in events if "argv" in event]
    assert any(a[:2] == ["git-remote-http", url] or "remote-http" in a[0] for a in argvs), "no remote helper seen"
    for argv in argvs:
        found += leaks(audit.planted, "\0".join(argv).encode(), f"trace2 argv {argv[:3]}")
    # git config files and every cache file
    configs = [audit.home / ".gitconfig", bare / "config", *(store / "config" for store in stores)]
    cache_files = list(files_under(audit.home / ".cache"))
    for path in [c for c in configs if c.exists()] + cache_files:
        found += leaks(audit.planted, path.read_bytes(), str(path.relative_to(audit.root.parent)))

    assert found == []
    print(
        f"audit: {len(audit.planted)} planted values; {objects} objects, {len(texts)} PR/issue texts, "
        f"{len(lines)} printed lines, {len(calls)} wrapped child argv, {len(argvs)} git trace2 argv, "
        f"{len(configs)} git configs, {len(cache_files)} cache files checked"
    )
