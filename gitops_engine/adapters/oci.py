"""Chart versions in an OCI registry, read through the distribution API's tag list, and chart archives pulled.

`oci://host/path/chart` names one repository; its tags are the chart's versions. Registries that want a token
answer 401 with a `WWW-Authenticate: Bearer realm=…,service=…,scope=…` challenge; the token is fetched from the
realm (anonymously, or with the source's basic credentials) and reused for every page of the tag list.
A chart is pulled the way Helm stores it: the manifest of a tag names one layer of the Helm chart media type,
whose blob is the chart archive; its bytes must hash to the digest the manifest gives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, Protocol
from urllib.parse import urlencode, urljoin, urlsplit

from gitops_engine.core.errors import PermanentRemoteError
from gitops_engine.core.hashing import sha256_hex
from gitops_engine.core.shown import shown
from gitops_engine.model.charts import ChartIndex, ChartRelease

BasicPair = tuple[str, str]  # (username, password) as sent in a Basic header

# A registry that keeps answering "next" must not keep a run busy for ever.
_MAX_PAGES = 200
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_NEXT_LINK = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?')
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
_MANIFEST_TYPES = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Response:
    """A finished GET: the status, the headers (names lower-cased) and the body, already un-gzipped."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        """The body read as JSON; raises ValueError when it is not JSON."""
        return json.loads(self.content)


class Transport(Protocol):
    """GET with the caller's retry policy; raises a RemoteError when retries are exhausted."""

    def get(self, url: str, *, headers: Mapping[str, str] | None = None, auth: BasicPair | None = None) -> Response:
        """Send one GET (retried on 429/5xx/connection errors) and return the final response."""
        ...


@dataclass(frozen=True)
class OciRepository:
    """Where an `oci://` URL points: the registry's base URL and the repository name in it."""

    base_url: str
    name: str

    @property
    def chart(self) -> str:
        """The chart name: the last path segment of the repository."""
        return self.name.rsplit("/", 1)[-1]


def parse_oci_url(url: str, insecure: bool = False) -> OciRepository:
    """Split `oci://host[:port]/path/chart`; `insecure` selects plain HTTP (Flux `spec.insecure`)."""
    parts = urlsplit(url)
    name = parts.path.strip("/")
    if parts.scheme != "oci" or not parts.hostname or not name:
        raise PermanentRemoteError(f"{url}: not an OCI chart URL (expected oci://<registry>/<path>/<chart>)")
    scheme = "http" if insecure else "https"
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    return OciRepository(base_url=f"{scheme}://{host}", name=name)


def fetch_oci_index(
    transport: Transport,
    url: str,
    *,
    insecure: bool = False,
    auth: BasicPair | None = None,
    page_size: int = 1000,
) -> ChartIndex:
    """Every tag of the repository at `url` as a release of its chart (`created` is not known here)."""
    repo = parse_oci_url(url, insecure)
    session = _Session(transport, repo, auth)
    tags: list[str] = []
    next_url: str | None = f"{repo.base_url}/v2/{repo.name}/tags/list?n={page_size}"
    pages = 0
    while next_url is not None:
        pages += 1
        if pages > _MAX_PAGES:
            raise PermanentRemoteError(f"{url}: the tag list did not end after {_MAX_PAGES} pages")
        response = session.get(next_url)
        tags.extend(_tags_of(response, url))
        link = _NEXT_LINK.search(response.headers.get("link", ""))
        next_url = urljoin(next_url, link.group(1)) if link else None
    # OCI tags cannot contain "+", so Helm pushes build metadata as "_"; turn it back into the chart version.
    releases = tuple(ChartRelease(name=repo.chart, version=tag.replace("_", "+")) for tag in tags)
    return ChartIndex(source_url=url, charts=MappingProxyType({repo.chart: releases}))


def fetch_oci_chart(
    transport: Transport, url: str, reference: str, *, insecure: bool = False, auth: BasicPair | None = None
) -> tuple[bytes, str]:
    """The chart archive tagged `reference` (a chart version, or `sha256:…`) in the repository at `url`, and
    its digest (`sha256:<hex>`), checked against the manifest."""
    repo = parse_oci_url(url, insecure)
    session = _Session(transport, repo, auth)
    ref = reference if _DIGEST.match(reference) else reference.replace("+", "_")
    where = f"{url}:{reference}"
    answer = session.get(f"{repo.base_url}/v2/{repo.name}/manifests/{ref}", {"Accept": _MANIFEST_TYPES})
    if answer.status_code == HTTPStatus.NOT_FOUND:
        raise PermanentRemoteError(f"{where}: no such tag in the registry (HTTP 404)", answer.status_code)
    if answer.status_code != HTTPStatus.OK:
        raise PermanentRemoteError(f"{where}: the registry answered HTTP {answer.status_code} for the manifest")
    try:
        manifest = answer.json()
    except ValueError as exc:
        raise PermanentRemoteError(f"{where}: the manifest is not JSON") from exc
    layers = manifest.get("layers") if isinstance(manifest, dict) else None
    chart_layers = [
        layer
        for layer in (layers if isinstance(layers, list) else [])
        if isinstance(layer, dict) and layer.get("mediaType") == HELM_CHART_LAYER
    ]
    digest = chart_layers[0].get("digest") if len(chart_layers) == 1 else None
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise PermanentRemoteError(f"{where}: the manifest has no single Helm chart layer ({HELM_CHART_LAYER})")
    blob = session.get(f"{repo.base_url}/v2/{repo.name}/blobs/{digest}")
    if blob.status_code != HTTPStatus.OK:
        raise PermanentRemoteError(f"{where}: the registry answered HTTP {blob.status_code} for the chart layer")
    actual = f"sha256:{sha256_hex(blob.content)}"
    if actual != digest:
        raise PermanentRemoteError(f"{where}: the chart layer hashes to {actual}, not the manifest's {digest}")
    return blob.content, digest


class _Session:
    """Requests against one repository, answering the registry's auth challenge once and reusing the result."""

    def __init__(self, transport: Transport, repo: OciRepository, auth: BasicPair | None) -> None:
        self._transport = transport
        self._repo = repo
        self._auth = auth
        self._headers: dict[str, str] = {}
        self._basic: BasicPair | None = None

    def get(self, url: str, extra: Mapping[str, str] | None = None) -> Response:
        response = self._transport.get(url, headers={**self._headers, **(extra or {})}, auth=self._basic)
        if response.status_code == HTTPStatus.UNAUTHORIZED and not self._headers and self._basic is None:
            self._answer(response.headers.get("www-authenticate", ""))
            response = self._transport.get(url, headers={**self._headers, **(extra or {})}, auth=self._basic)
        return response

    def _answer(self, challenge: str) -> None:
        scheme, _, rest = challenge.partition(" ")
        params = dict(_CHALLENGE_PARAM.findall(rest))
        where = f"oci://{urlsplit(self._repo.base_url).netloc}/{self._repo.name}"
        if scheme.lower() == "basic":
            if self._auth is None:
                raise PermanentRemoteError(f"{where}: the registry requires credentials (HTTP basic)", 401)
            self._basic = self._auth
            return
        realm = params.get("realm")
        if scheme.lower() != "bearer" or not realm:
            unusable = shown(challenge or "none")
            raise PermanentRemoteError(f"{where}: HTTP 401 without a usable challenge ({unusable})", 401)
        query = {"scope": params.get("scope", f"repository:{self._repo.name}:pull")}
        if "service" in params:
            query["service"] = params["service"]
        token_url = f"{realm}{'&' if '?' in realm else '?'}{urlencode(query)}"
        service = f"the token service {shown(realm)}"
        answer = self._transport.get(token_url, auth=self._auth)
        if answer.status_code != HTTPStatus.OK:
            raise PermanentRemoteError(
                f"{where}: {service} refused a pull token (HTTP {answer.status_code})",
                answer.status_code,
            )
        try:
            body = answer.json()
        except ValueError as exc:
            raise PermanentRemoteError(f"{where}: {service} did not answer JSON") from exc
        token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise PermanentRemoteError(f"{where}: {service} answered without a token")
        self._headers = {"Authorization": f"Bearer {token}"}


def _tags_of(response: Response, url: str) -> list[str]:
    status = response.status_code
    if status == HTTPStatus.NOT_FOUND:
        raise PermanentRemoteError(f"{url}: no such repository in the registry (HTTP 404)", status)
    if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
        raise PermanentRemoteError(f"{url}: the registry refused access to the tag list (HTTP {status})", status)
    if status != HTTPStatus.OK:
        raise PermanentRemoteError(f"{url}: the registry answered HTTP {status} for the tag list", status)
    try:
        body = response.json()
    except ValueError as exc:
        raise PermanentRemoteError(f"{url}: the tag list is not JSON") from exc
    tags = body.get("tags") if isinstance(body, dict) else None
    # The distribution API answers `"tags": null` for a repository whose tags were all deleted.
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise PermanentRemoteError(f"{url}: the tag list has no list of string `tags`")
    return tags
