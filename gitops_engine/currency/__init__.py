"""currency."""
