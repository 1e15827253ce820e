"""Leaf utilities every layer may use: the error tree, YAML text helpers, hashing."""
