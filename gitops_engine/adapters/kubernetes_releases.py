"""Kubernetes release lookups: the `stable-1.N.txt` files Kubernetes publishes, or a list a platform team curates.

Below a stable-files URL (Kubernetes' own is https://dl.k8s.io/release), `stable.txt` names the newest release
and `stable-1.N.txt` the newest patch of minor 1.N, each as one line (`v1.31.4`). The lookup reads `stable.txt`
and then the file of every minor from the oldest one a cluster runs up to the newest (at most
updates.kubernetes.MAX_MINORS of them). A curated list is one text file: a version per line, optionally followed
by its release date. Every GET goes through the same transport, limits and deadlines as the chart lookups.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus

from gitops_engine.adapters.httpget import redact
from gitops_engine.adapters.oci import Transport
from gitops_engine.core.errors import PermanentRemoteError
from gitops_engine.core.shown import shown
from gitops_engine.model.charts import ChartIndex
from gitops_engine.updates.kubernetes import MAX_MINORS
from gitops_engine.updates.releases import list_index, stable_index
from gitops_engine.updates.uses import STABLE_RELEASES
from gitops_engine.updates.versions import Version, parse_version

# a stable file holds one version; anything much longer is not one
_MAX_STABLE_BYTES = 256


def fetch_releases(transport: Transport, url: str, kind: str, minors: Sequence[str]) -> ChartIndex:
    """What the release source at `url` offers; `minors` (`1.29`, …) are the minors the clusters run."""
    base = url.rstrip("/")
    if kind != STABLE_RELEASES:
        text = _text(transport, base)
        try:
            return list_index(url, text)
        except ValueError as exc:
            raise PermanentRemoteError(f"{redact(base)}: {exc}") from exc
    newest = _stable(transport, f"{base}/stable.txt")
    oldest = min((int(m.split(".")[1]) for m in minors if _is_minor(m, newest.major)), default=newest.minor)
    oldest = max(oldest, newest.minor - MAX_MINORS + 1, 0)
    published = [newest.text]
    for minor in range(oldest, newest.minor):
        published.append(_stable(transport, f"{base}/stable-{newest.major}.{minor}.txt").text)
    return stable_index(url, published)


def _is_minor(text: str, major: int) -> bool:
    parts = text.split(".")
    return len(parts) == 2 and parts[0] == str(major) and parts[1].isdigit()


def _stable(transport: Transport, url: str) -> Version:
    text = _text(transport, url)
    version = parse_version(text.strip()) if len(text) <= _MAX_STABLE_BYTES else None
    if version is None:
        raise PermanentRemoteError(f"GET {redact(url)}: {shown(text.strip(), 64)!r} is not a Kubernetes version")
    return version


def _text(transport: Transport, url: str) -> str:
    response = transport.get(url)
    where = redact(url)
    if response.status_code == HTTPStatus.NOT_FOUND:
        raise PermanentRemoteError(f"GET {where}: HTTP 404 (check the Kubernetes release source's URL)", 404)
    if response.status_code != HTTPStatus.OK:
        raise PermanentRemoteError(f"GET {where}: unexpected HTTP {response.status_code}", response.status_code)
    try:
        return response.content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PermanentRemoteError(f"GET {where}: the answer is not UTF-8 text") from exc
