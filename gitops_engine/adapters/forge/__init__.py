"""Forges: where branches become pull requests. A plain git remote has none (branches are only listed)."""
