"""Text a remote server chose, made safe to put in a message that reaches a terminal or a log.

A server's bytes (a reason phrase, an error body, a redirect target, a git hook's output) could hold terminal
escape sequences that rewrite the screen, NULs, or newlines that forge extra log lines. Every such piece goes
through `shown` before it joins one of our messages.
"""

from __future__ import annotations

LIMIT = 300


def shown(text: str | bytes, limit: int | None = LIMIT) -> str:
    """`text` with control characters written as escapes (`\\x1b`, `\\n`) and cut to `limit` characters (None:
    kept whole)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="backslashreplace")
    limit = len(text) if limit is None else limit
    cut = len(text) > limit
    safe = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text[:limit])
    return f"{safe}… ({len(text) - limit} more characters)" if cut else safe


def one_line(text: str, limit: int | None = LIMIT) -> str:
    """`text` (an error from a library, a tool or a server) with every run of whitespace, line breaks included, as
    one space, then `shown`: fit for a one-line message, a table cell or a pull request line."""
    return shown(" ".join(text.split()), limit)
