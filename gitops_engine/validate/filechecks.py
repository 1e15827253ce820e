"""Checks on every YAML file as written, reached by a Kustomization or not: syntax, secrets, catalog folders."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from typing import Any

from gitops_engine.core.yamlio import LocatedDocument
from gitops_engine.model.finding import Finding
from gitops_engine.spec.reader import render_path
from gitops_engine.validate.locate import SourceIndex
from gitops_engine.validate.sops import is_sops_document, sops_problems

_VERSION_DIR = re.compile(r"^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$")


def check_files(index: SourceIndex, only: Collection[str] | None = None) -> list[Finding]:
    """Findings for every YAML file of `index` (Helm chart templates are skipped: they are Go templates), or only
    for the files in `only`."""
    findings: list[Finding] = []
    for path in index.yaml_paths if only is None else sorted(p for p in index.yaml_paths if p in only):
        error = index.syntax_error(path)
        if error is not None:
            findings.append(Finding(path, error.line, "yaml-syntax", f"invalid YAML: {error.problem}", "fix the YAML"))
            continue
        for doc in index.documents(path):
            findings.extend(_document_findings(path, doc))
    for path in index.kustomization_paths:
        if only is None or path in only:
            findings.extend(_refusal_findings(index, path))
    return findings


def _refusal_findings(index: SourceIndex, path: str) -> Iterator[Finding]:
    """Reads a kustomization names outside the tree: the builds reading it are refused, never run."""
    documents = index.documents(path)
    for refusal in index.refusals(path):
        # kustomize reads a kustomization as one document
        line = documents[0].line_of(refusal.key) if documents else 1
        yield Finding(
            path,
            line,
            refusal.rule,
            f"{render_path(refusal.key)}: {refusal.value!r} {refusal.reason}",
            "name only files and folders of this repository",
        )


def _document_findings(path: str, doc: LocatedDocument) -> Iterator[Finding]:
    for key_path, line in doc.duplicate_keys:
        key = ".".join(str(p) for p in key_path)
        yield Finding(
            path, line, "yaml-duplicate-key", f"key {key} appears twice; the last one silently wins", "keep one of them"
        )
    data = doc.data
    if not isinstance(data, dict):
        return
    if is_sops_document(data):
        for where, message, hint in sops_problems(doc):
            yield Finding(path, doc.line_of(where), "sops-metadata", message, hint)
    elif data.get("kind") == "Secret" and data.get("apiVersion") == "v1":
        name = (data.get("metadata") or {}).get("name", "?")
        for field in ("data", "stringData"):
            if isinstance(data.get(field), dict) and data[field]:
                yield Finding(
                    path,
                    doc.line_of((field,)),
                    "secret-plaintext",
                    f"Secret {name} has plaintext {field}; its values would be readable by anyone with the repository",
                    "encrypt it with sops/age (only data and stringData are encrypted) or keep it out of git",
                )
    yield from _catalog_version(path, doc)


def _catalog_version(path: str, doc: LocatedDocument) -> Iterator[Finding]:
    """In an `<app>/<version>/` folder, the chart version must be the folder's version."""
    parts = path.split("/")[:-1]
    folder = next((p for i, p in enumerate(parts) if i >= 1 and _VERSION_DIR.match(p)), None)
    if folder is None:
        return
    data: dict[str, Any] = doc.data
    kind = data.get("kind")
    spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    where: tuple[str, ...]
    if kind == "HelmRelease":
        chart_spec = (spec.get("chart") or {}).get("spec") or {}
        version, where = chart_spec.get("version"), ("spec", "chart", "spec", "version")
    elif kind == "OCIRepository":
        version, where = (spec.get("ref") or {}).get("tag"), ("spec", "ref", "tag")
    else:
        return
    if not isinstance(version, str | int | float) or "${" in str(version) or not _VERSION_DIR.match(str(version)):
        return
    if not _same_version(folder, str(version)):
        yield Finding(
            path,
            doc.line_of(where),
            "catalog-version-mismatch",
            f"{kind} pins chart version {version} inside the folder for version {folder}",
            f"rename the folder to {version} or pin {folder}",
        )


def _same_version(folder: str, chart: str) -> bool:
    folder, chart = folder.lstrip("v"), chart.lstrip("v")
    # compound catalog versions are <integration>-<chart>
    return folder == chart or folder.endswith(f"-{chart}") or folder.startswith(f"{chart}-")
