"""Flux semantics every domain shares: kinds and API groups, kustomization files and the generated-kustomization
rule, what a kustomization may read, sync roots, source resolution, ArtifactGenerator copies and the one strict
postBuild substitution. Pure: no I/O; validate, updates (the bot's scan), propagate and the kustomize adapter use it.
"""
