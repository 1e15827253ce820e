"""A git smart-HTTP remote for the crash and concurrency suites: the test Gitea's git side, the chart mirror, and
clients (worlds) whose git credential helper knows the server's password."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path

from gitops_engine.secrets.agekeys import generate_identity
from tests.conftest import DATA
from tests.crash.fleet import World, mirror_index, new_world
from tests.forge.gitea_server import GiteaServer
from tests.forge.openapi import OpenApiContract
from tests.lookups.servers import Route, serving


@dataclass(frozen=True)
class Remote:
    """A plain repository on the test server: its URL and the bare repository behind it."""

    url: str
    bare: Path


class Fleet:
    """The server, the mirror, and fresh repositories on the server copied from a given state."""

    def __init__(self, gitea: GiteaServer, mirror_url: str, root: Path) -> None:
        self.gitea = gitea
        self.mirror = mirror_url
        self.root = root
        self._names = count()
        self.key = generate_identity()  # every client holds the same age key, so every seed renders the same

    def remote(self, start: Path | None = None) -> Remote:
        """A new repository on the server, holding a copy of `start` (a bare repository) when given."""
        name = f"fleet-{next(self._names)}"
        bare = self.gitea.add_plain_repo("plain", name)
        if start is not None:
            shutil.rmtree(bare)
            shutil.copytree(start, bare, symlinks=True)
        return Remote(f"{self.gitea.url}/plain/{name}.git", bare)

    def world(self, name: str, spec: str) -> World:
        """A client with a new HOME whose git credential helper knows alice's password for the server."""
        world = new_world(self.root / name, spec, self.key)
        host = self.gitea.url.removeprefix("http://")
        credentials = world.home / "git-credentials"
        credentials.write_text(f"http://alice:alice-password@{host}\n")
        credentials.chmod(0o600)
        (world.home / ".gitconfig").write_text(f"[credential]\n\thelper = store --file={credentials}\n")
        return world


@contextmanager
def serving_fleet(root: Path) -> Iterator[Fleet]:
    """The test Gitea (user alice) and the chart mirror, both on 127.0.0.1, for as long as the block runs."""
    gitea = GiteaServer(root / "gitea", OpenApiContract(DATA / "gitea-openapi" / "swagger.v1.json"))
    gitea.add_user("alice", "alice-token", password="alice-password")
    gitea.start()
    try:
        with serving() as mirror:
            mirror.routes["/charts/index.yaml"] = Route(body=mirror_index())
            yield Fleet(gitea, f"{mirror.url}/charts", root)
    finally:
        gitea.stop()
    assert gitea.violations == []
