"""The Helm backend: Helm v4's Go SDK through the optional `helm-python-sdk` package (`gitops-engine[helm]`).

The only module that imports `helm_python`. Charts are loaded from archive bytes once per digest and kept for
the run (a loaded chart is immutable and safe to share between threads); ctypes releases the GIL during each
native call, so renders on worker threads run in parallel. Helm validates the values against the chart's
`values.schema.json` as part of every render.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Mapping
from typing import Any

from gitops_engine.core.errors import InputError
from gitops_engine.core.shown import one_line
from gitops_engine.helm.render import ChartArchive, RenderedChart, RenderError, RenderRequest

INSTALL_HINT = (
    "--render-helm needs the optional Helm backend: pip install 'gitops-engine[helm]' "
    "(or: pip install helm-python-sdk, about 75 MB, Helm's Go SDK)"
)


def installed() -> bool:
    """True when the backend can be imported; asked without importing it (it loads a 75 MB library)."""
    try:
        return importlib.util.find_spec("helm_python") is not None
    except (ImportError, ValueError):
        return False


def helm_sdk() -> Any:
    """The `helm_python` module; an input error naming the install command when it is not installed."""
    try:
        return importlib.import_module("helm_python")
    except ImportError as exc:
        # a partial install (the package without its native library) fails the same way: say what to install
        raise InputError(f"{INSTALL_HINT} ({exc})") from None


class HelmSdkRenderer:
    """ChartRenderer over helm-python-sdk; loaded charts are kept by digest for the life of the renderer."""

    def __init__(self) -> None:
        self._helm = helm_sdk()
        self._charts: dict[str, Any] = {}
        self._lock = threading.Lock()

    def render(self, chart: ChartArchive, request: RenderRequest) -> RenderedChart:
        """Render `chart` for `request` (see ChartRenderer)."""
        loaded = self._loaded(chart)
        try:
            templates: Mapping[str, str] = loaded.render(
                dict(request.values), name=request.release_name, namespace=request.namespace
            )
            crds = {item["filename"]: item["data"] for item in loaded.crds}
        except self._helm.HelmError as exc:
            raise RenderError(_message(exc)) from None
        return RenderedChart(templates, crds)

    def close(self) -> None:
        """Free every loaded chart."""
        with self._lock:
            charts, self._charts = self._charts, {}
        for loaded in charts.values():
            loaded.close()

    def _loaded(self, chart: ChartArchive) -> Any:
        with self._lock:
            loaded = self._charts.get(chart.digest)
        if loaded is not None:
            return loaded
        try:
            loaded = self._helm.Chart.load_archive(chart.data)
        except self._helm.HelmError as exc:
            raise RenderError(f"the chart archive does not load: {_message(exc)}") from None
        with self._lock:
            kept = self._charts.setdefault(chart.digest, loaded)
        if kept is not loaded:
            loaded.close()  # another thread loaded the same chart first
        return kept


def package_chart(directory: str, destination: str, version: str | None = None) -> str:
    """Package the chart folder `directory` into `destination` (Helm's `package`); returns the archive's path."""
    helm = helm_sdk()
    try:
        return str(helm.package(directory, destination=destination, version=version))
    except helm.HelmError as exc:
        raise RenderError(f"{directory}: cannot package the chart: {_message(exc)}") from None


def _message(exc: Exception) -> str:
    return one_line(str(exc), 600)
