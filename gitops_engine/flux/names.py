"""Kubernetes object names: what the API server accepts as metadata.name for a kind."""

from __future__ import annotations

import re

# RFC 1123 subdomain: the rule for most kinds and for every custom resource
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# RFC 1123 label (Namespace) and RFC 1035 label (Service: it becomes a DNS name and must start with a letter)
_LABEL_1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
# RBAC names are path segments: anything but '/' and '%', and not '.' or '..' (system:... names are valid)
_PATH_SEGMENT_KINDS = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})


def name_problem(kind: str, name: str) -> str | None:
    """Why `name` cannot be the metadata.name of a `kind` object (None when it can)."""
    if kind in _PATH_SEGMENT_KINDS:
        bad = name in (".", "..") or "/" in name or "%" in name
        return "may not be '.' or '..' or hold '/' or '%'" if bad else None
    if kind == "Namespace":
        if len(name) <= 63 and _LABEL_1123.fullmatch(name):
            return None
        return "must be a DNS label: at most 63 lowercase letters, digits and '-', alphanumeric at both ends"
    if kind == "Service":
        if len(name) <= 63 and _LABEL_1035.fullmatch(name):
            return None
        return "must be a DNS-1035 label: at most 63 lowercase letters, digits and '-', starting with a letter"
    if len(name) <= 253 and _SUBDOMAIN.fullmatch(name):
        return None
    return "must be a DNS subdomain: at most 253 lowercase letters, digits, '-' and '.', alphanumeric at both ends"
