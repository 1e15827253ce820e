"""Catalog GitRepository propagation: copy management catalog sources into the workspaces and projects they select.

Pure domain logic over a `Tree`; the app layer reads the tree from git and commits the planned one.
"""

from gitops_engine.propagate.config import PropagateConfig, parse_config
from gitops_engine.propagate.plan import CopyItem, CopyStatus, PropagationPlan, plan_propagation

__all__ = ["CopyItem", "CopyStatus", "PropagateConfig", "PropagationPlan", "parse_config", "plan_propagation"]
