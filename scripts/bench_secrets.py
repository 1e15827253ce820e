"""Benchmark: encrypt + decrypt 1,000 Secrets, with ratios against baselines measured in the same run.

Run by hand: .venv/bin/python scripts/bench_secrets.py [--repeat 5]  (target: ≤ 1 s total for the 1,000 round trips)

Baselines, measured in every repetition next to the SOPS run: raw AES-GCM over the same plaintext bytes (the
symmetric crypto alone) and the age floor, 1,000 pyrage wraps + unwraps of a data key (what any SOPS
implementation on pyrage pays). The machine is shared, so the load average is printed and medians reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyrage
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gitops_engine.secrets import sopsfile
from gitops_engine.secrets.agekeys import generate_identity
from gitops_engine.secrets.stores import Format


@dataclass(frozen=True)
class Run:
    """One repetition's timings in seconds."""

    aes: float
    age: float
    encrypt: float
    decrypt: float

    @property
    def total(self) -> float:
        """Encrypt plus decrypt."""
        return self.encrypt + self.decrypt


def _secret(index: int) -> bytes:
    return (
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-{index}\n  namespace: ns-{index % 17}\n"
        f"type: Opaque\nstringData:\n  username: user-{index}\n  password: {os.urandom(12).hex()}\n"
        f"data:\n  token: {os.urandom(24).hex()}\n"
    ).encode()


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _aes_baseline(plaintexts: list[bytes]) -> None:
    key = AESGCM(os.urandom(32))
    for text in plaintexts:
        nonce = os.urandom(12)
        key.decrypt(nonce, key.encrypt(nonce, text, None), None)


def _age_floor(count: int, identity: str, recipient: str) -> None:
    ident, recip = pyrage.x25519.Identity.from_str(identity), pyrage.x25519.Recipient.from_str(recipient)
    for _ in range(count):
        pyrage.decrypt(pyrage.encrypt(os.urandom(32), [recip]), [ident])


def run_once(plaintexts: list[bytes], identity: str, recipient: str) -> Run:
    """Time the baselines and the SOPS round trip of every plaintext."""
    sealed: list[bytes] = []
    aes = _timed(lambda: _aes_baseline(plaintexts))
    age = _timed(lambda: _age_floor(len(plaintexts), identity, recipient))
    encrypt = _timed(
        lambda: sealed.extend(
            sopsfile.encrypt_yaml(text, [recipient], lastmodified="2026-11-22T00:00:00Z") for text in plaintexts
        )
    )
    decrypt = _timed(lambda: [sopsfile.decrypt(data, Format.YAML, [identity]) for data in sealed])
    return Run(aes, age, encrypt, decrypt)


def main() -> None:
    """Repeat the benchmark and print each run, the medians and the ratios against the baselines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    identity, recipient = generate_identity()
    plaintexts = [_secret(i) for i in range(args.count)]
    load_start = os.getloadavg()[0]
    runs = []
    for index in range(args.repeat):
        run = run_once(plaintexts, identity, recipient)
        runs.append(run)
        print(
            f"run {index + 1}: encrypt {run.encrypt:.3f} s, decrypt {run.decrypt:.3f} s, total {run.total:.3f} s"
            f" | age floor {run.age:.3f} s, raw AES-GCM {run.aes:.4f} s"
        )
    total = statistics.median(r.total for r in runs)
    age = statistics.median(r.age for r in runs)
    aes = statistics.median(r.aes for r in runs)
    print(f"load average (1 min): {load_start:.2f} at start, {os.getloadavg()[0]:.2f} at end, on {os.cpu_count()} CPUs")
    print(
        f"median of {len(runs)}: {args.count} Secrets encrypt {statistics.median(r.encrypt for r in runs):.3f} s, "
        f"decrypt {statistics.median(r.decrypt for r in runs):.3f} s, total {total:.3f} s "
        f"(min {min(r.total for r in runs):.3f} s); {total / args.count * 1e6:.0f} µs per round trip"
    )
    print(
        f"vs age floor (pyrage wrap+unwrap, {age:.3f} s): {total / age:.2f}x, "
        f"the rest ≈ {max(total - age, 0.0):.3f} s is YAML, tree walk and AES-GCM"
    )
    print(f"vs raw AES-GCM over the same bytes ({aes:.4f} s): {total / aes:.0f}x")
    print(f"target ≤ 1 s (median total): {'met' if total <= 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
