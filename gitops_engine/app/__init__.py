"""Use cases: seed, plan, reconcile, validate, diff, secrets. The only layer that wires adapters to domain logic."""
