"""reseed."""
