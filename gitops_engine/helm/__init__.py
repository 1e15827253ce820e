"""What Helm would apply for a Flux HelmRelease: release identity, values, rendered objects and their impact.

Pure: the chart archives and the renderer come from the adapters (adapters.charts, adapters.helmsdk).
"""
