"""Benchmark: encrypt + decrypt 1,000 Secrets, compared with raw AES-GCM over the same bytes (same run).

Run by hand: .venv/bin/python scripts/bench_secrets.py  (target: ≤ 1 s total for the 1,000 round trips)
"""

from __future__ import annotations

import os
import time

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gitops_engine.secrets import sopsfile
from gitops_engine.secrets.agekeys import generate_identity
from gitops_engine.secrets.stores import Format

COUNT = 1000


def _secret(index: int) -> bytes:
    return (
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-{index}\n  namespace: ns-{index % 17}\n"
        f"type: Opaque\nstringData:\n  username: user-{index}\n  password: {os.urandom(12).hex()}\n"
        f"data:\n  token: {os.urandom(24).hex()}\n"
    ).encode()


def main() -> None:
    """Time the SOPS round trip against a raw AES-GCM baseline and print both."""
    identity, recipient = generate_identity()
    plaintexts = [_secret(i) for i in range(COUNT)]

    start = time.perf_counter()
    key = AESGCM(os.urandom(32))
    for text in plaintexts:
        nonce = os.urandom(12)
        key.decrypt(nonce, key.encrypt(nonce, text, None), None)
    baseline = time.perf_counter() - start

    start = time.perf_counter()
    sealed = [sopsfile.encrypt_yaml(text, [recipient], lastmodified="2026-11-22T00:00:00Z") for text in plaintexts]
    encrypt_s = time.perf_counter() - start
    start = time.perf_counter()
    for data in sealed:
        sopsfile.decrypt(data, Format.YAML, [identity])
    decrypt_s = time.perf_counter() - start

    total = encrypt_s + decrypt_s
    print(f"{COUNT} Secrets: encrypt {encrypt_s:.3f} s, decrypt {decrypt_s:.3f} s, total {total:.3f} s")
    print(f"per Secret: {total / COUNT * 1e6:.0f} µs round trip")
    print(f"baseline raw AES-GCM round trip: {baseline:.4f} s  → ratio {total / baseline:.0f}x")
    print(f"target ≤ 1 s: {'met' if total <= 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
