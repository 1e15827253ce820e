"""The label, annotation and path names propagation reads and writes (Kommander's, and our own marker)."""

from __future__ import annotations

CATALOG_TYPE_LABEL = "kommander.d2iq.io/gitapps-gitrepository-type"
WORKSPACE_DEFAULT_LABEL = "kommander.d2iq.io/workspace-default-catalog-repository"
PROJECT_DEFAULT_LABEL = "kommander.d2iq.io/project-default-catalog-repository"
WORKSPACE_NAME_LABEL = "workspaces.kommander.mesosphere.io/workspace-name"
MANAGED_BY_KIND_LABEL = "kommander.d2iq.io/managed-by-kind"

# Only objects carrying this annotation are ours to update or delete; everything else is the engineer's.
PROPAGATED_FROM = "gitops-engine.io/propagated-from"

# Kommander's catalog loader writes sources here; a source without a namespace is read as living here too.
MANAGEMENT_NAMESPACE = "kommander"

WORKSPACES_DIR = "workspaces"
CATALOGS_DIR = "catalogs"
CONFIG_PATH = ".gitops-engine/propagate.yaml"
