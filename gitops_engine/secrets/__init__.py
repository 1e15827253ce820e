"""SOPS/age secrets: the sops file format (sops 3.10.2 layout), creation rules and the plaintext guard."""
