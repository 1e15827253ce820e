"""`.gitops-engine/propagate.yaml`: URL host mapping for attached clusters and per-source workspace selectors.

Schema (every key optional; an absent file means no rewriting and no extra selection):

    urlHosts:                     # host[:port] seen in the management repo → host[:port] attached clusters reach
      gitea-http.kommander.svc.cluster.local:3000: git.fleet.example.com
    sources:
      kommander/team-catalog:     # <namespace>/<name> of a catalog source
        workspaceSelector:        # only workspaces (and their projects) whose namespace labels match
          matchLabels: {tier: prod}
          matchExpressions: [{key: region, operator: In, values: [eu]}]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gitops_engine.core.yamlio import PathKey
from gitops_engine.model.selector import LabelSelector
from gitops_engine.spec.reader import SpecReader, read_config

_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")
_SOURCE_KEY = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class PropagateConfig:
    """Validated propagation settings."""

    url_hosts: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    workspace_selectors: Mapping[str, LabelSelector] = field(default_factory=lambda: MappingProxyType({}))


def parse_config(text: bytes | None, path: str) -> PropagateConfig:
    """Validate the config file's text (None: the file is absent); every mistake at once as an InputError."""
    reader = read_config(text, path) if text is not None else None
    if reader is None:
        return PropagateConfig()
    top = reader.mapping((), reader.doc.data, ("urlHosts", "sources"))
    hosts = _url_hosts(reader, top.get("urlHosts"))
    selectors = _sources(reader, top.get("sources"))
    reader.raise_errors()
    return PropagateConfig(MappingProxyType(hosts), MappingProxyType(selectors))


def _url_hosts(reader: SpecReader, raw: Any) -> dict[str, str]:
    hosts: dict[str, str] = {}
    for key, value in reader.string_map(("urlHosts",), raw).items():
        if not _HOST.match(key) or not _HOST.match(value):
            reader.error(("urlHosts", key), f"{value!r} is not a host[:port] for {key!r} (e.g. a.svc:3000: b.io)")
            continue
        hosts[key.lower()] = value
    return hosts


def _sources(reader: SpecReader, raw: Any) -> dict[str, LabelSelector]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        reader.error(("sources",), "must be a mapping keyed by <namespace>/<name>")
        return {}
    selectors: dict[str, LabelSelector] = {}
    for key, entry in raw.items():
        where: PathKey = ("sources", str(key))
        if not isinstance(key, str) or not _SOURCE_KEY.match(key):
            reader.error(where, f"{key!r} is not <namespace>/<name> (e.g. kommander/team-catalog)")
            continue
        body = reader.mapping(where, entry, ("workspaceSelector",), ("workspaceSelector",))
        if "workspaceSelector" in body:
            selectors[key] = reader.selector((*where, "workspaceSelector"), body["workspaceSelector"])
    return selectors
