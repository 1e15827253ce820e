"""Thin command line: parse, call the app layer, print. Exit codes are mapped in main.py only."""
