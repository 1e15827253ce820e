"""The test server's proc-receive hook: takes AGit pushes to refs/for/<branch> the way Gitea does.

receive-pack hands it the commands and push options over pkt-lines. It keeps the pushed commit under
refs/agit/<topic> and leaves a JSON record in the spool directory (argv[1]) for the server to open or
update the pull request once the push has finished.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import BinaryIO


def _read(stream: BinaryIO) -> bytes | None:
    size = int(stream.read(4), 16)
    return None if size == 0 else stream.read(size - 4).rstrip(b"\n")


def _read_until_flush(stream: BinaryIO) -> list[bytes]:
    lines: list[bytes] = []
    while (line := _read(stream)) is not None:
        lines.append(line)
    return lines


def _write(stream: BinaryIO, line: bytes | None) -> None:
    stream.write(b"0000" if line is None else b"%04x" % (len(line) + 5) + line + b"\n")


def main() -> int:
    """Run one proc-receive exchange."""
    spool = Path(sys.argv[1])
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    features = _read_until_flush(stdin)[0].split(b"\0", 1)[-1].split()
    wants_options = b"push-options" in features
    _write(stdout, b"version=1\0push-options" if wants_options else b"version=1")
    _write(stdout, None)
    stdout.flush()
    commands = [line.decode().split(" ", 2) for line in _read_until_flush(stdin)]
    options = [line.decode() for line in _read_until_flush(stdin)] if wants_options else []
    settings = dict(option.split("=", 1) for option in options if "=" in option)
    topic = settings.get("topic", "")
    for _old, new, ref in commands:
        if not topic:
            _write(stdout, f"ng {ref} AGit push needs -o topic=<name>".encode())
            continue
        subprocess.run(["git", "update-ref", f"refs/agit/{topic}", new], check=True)
        record = {"ref": ref, "commit": new, "pusher": os.environ.get("REMOTE_USER", ""), **settings}
        (spool / f"{uuid.uuid4().hex}.json").write_text(json.dumps(record), encoding="utf-8")
        _write(stdout, f"ok {ref}".encode())
    _write(stdout, None)
    stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
