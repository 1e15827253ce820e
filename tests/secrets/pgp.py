"""A throwaway GnuPG key (Debian's `gpg`) and sops-shaped PGP stanzas made with it, for files we cannot wrap for.

sops writes a PGP key as `{created_at, enc, fp}` after `mac`, `enc` being the data key in an armored PGP message
without a final newline. The data key travels on stdin only, never in a process argument.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PgpKey:
    """A key in its own GNUPGHOME."""

    env: dict[str, str]
    fingerprint: str

    def gpg(self, *args: str, data: bytes = b"") -> bytes:
        """Run gpg in batch mode on this key's home; its stdout."""
        argv = ["gpg", "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "", *args]
        done = subprocess.run(argv, input=data, env=self.env, capture_output=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout

    def encrypt(self, data_key: bytes) -> str:
        """The data key as an armored PGP message for this key (no final newline, as sops stores it)."""
        armored = self.gpg(
            "--armor", "--trust-model", "always", "--recipient", self.fingerprint, "--encrypt", data=data_key
        )
        return armored.decode().rstrip("\n")

    def decrypt(self, armored: str) -> bytes:
        """What the key holder gets from an armored message."""
        return self.gpg("--decrypt", data=armored.encode())


def new_key(home: Path) -> PgpKey:
    """A new ed25519 key with a cv25519 encryption subkey in `home`."""
    env = {**os.environ, "GNUPGHOME": str(home)}
    maker = PgpKey(env, "")
    maker.gpg("--quick-generate-key", "rewrap test <rewrap@example.invalid>", "ed25519", "cert", "never")
    listing = maker.gpg("--list-keys", "--with-colons").decode()
    fingerprint = re.search(r"^fpr:+([0-9A-F]{40}):", listing, re.MULTILINE)
    assert fingerprint
    key = PgpKey(env, fingerprint.group(1))
    key.gpg("--quick-add-key", key.fingerprint, "cv25519", "encr", "never")
    return key


def stop_agent(home: Path) -> None:
    """Stop the agent gpg started for `home`."""
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True, timeout=30, check=False)


def pgp_block(key: PgpKey, data_key: bytes, created_at: str = "2025-01-02T03:04:05Z", indent: int = 2) -> str:
    """The `pgp:` entry of a sops metadata block, laid out as sops writes it at this indent."""
    pad = " " * indent
    body = "".join(f"{pad * 4}{line}\n" if line else "\n" for line in key.encrypt(data_key).split("\n"))
    return f'{pad}pgp:\n{pad * 2}- created_at: "{created_at}"\n{pad * 3}enc: |-\n{body}{pad * 3}fp: {key.fingerprint}\n'
