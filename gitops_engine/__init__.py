"""gitops-engine: seed and reconcile the Git repository a Flux fleet is driven from."""

__version__ = "0.1.0"

__all__ = ["__version__"]
