"""Checks of the platform spec that need the catalog: apps and versions exist, scopes fit, dependencies are met."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from gitops_engine.model.catalog import Catalog
from gitops_engine.render.placement import Placement, missing_dependencies
from gitops_engine.spec.loader import LoadedSpec
from gitops_engine.spec.reader import SpecReader


def check_spec_against_catalog(
    loaded: LoadedSpec, catalog: Catalog, placements: Mapping[str, list[Placement]]
) -> list[str]:
    """Every problem as `file:line: key.path: message`; empty when the spec can be rendered.

    `placements` are place_apps(platform, catalog) (apps the catalog lacks are simply not placed).
    """
    r = SpecReader(loaded.document, loaded.filename)
    r.errors.clear()  # duplicate keys were already reported by the spec loader
    platform = loaded.platform
    for index, deployment in enumerate(platform.apps):
        path = ("apps", index)
        versions = catalog.versions(deployment.app)
        if not versions:
            guess = difflib.get_close_matches(deployment.app, list(catalog.apps), n=1)
            hint = f"did you mean {guess[0]!r}?" if guess else "add it to a catalog directory (catalog.paths)"
            r.error((*path, "app"), f"unknown app {deployment.app!r}; {hint}")
            continue
        app = catalog.get(deployment.app, deployment.version)
        if app is None:
            known = ", ".join(v.version for v in versions)
            r.error((*path, "version"), f"{deployment.app} has no version {deployment.version!r} (catalog has {known})")
            continue
        if deployment.scope not in app.scope:
            allowed = " or ".join(app.scope)
            r.error(path, f"{deployment.app} can be enabled in a {allowed}, not in a {deployment.scope}")
    if not r.errors:
        for index, message in missing_dependencies(platform, placements):
            r.error(("apps", index, "app"), message)
    return r.lines()
