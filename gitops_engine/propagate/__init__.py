"""propagate."""
