"""Frozen values shared by every layer: the rendered tree, findings, the platform and catalog models."""
