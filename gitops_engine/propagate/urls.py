"""Rewriting the host of a Git URL for clusters that reach the management Git server under another name."""

from __future__ import annotations

import re
from collections.abc import Mapping

# scheme://[user@]host[:port]/path and scp-like [user@]host:path (no scheme, no slash before the colon)
_SCHEME_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^@/]*@)?(?P<host>[^/:]+)(?P<port>:\d+)?")
_SCP_URL = re.compile(r"^(?P<user>[^@/:]+@)?(?P<host>[^/:]+):(?!//)")


def rewrite_url(url: str, hosts: Mapping[str, str]) -> str:
    """`url` with its host replaced per `hosts` (keys `host:port` win over `host`); unchanged when none applies.

    A `host` key keeps the URL's port unless the replacement names its own; a `host:port` key replaces both.
    """
    if not hosts:
        return url
    match = _SCHEME_URL.match(url)
    if match is not None:
        host, port = match["host"], match["port"] or ""
        target = hosts.get(f"{host}{port}".lower())
        if target is None:
            target = hosts.get(host.lower())
            if target is not None and ":" not in target:
                target += port
        if target is None:
            return url
        return f"{match['scheme']}{match['user'] or ''}{target}{url[match.end() :]}"
    scp = _SCP_URL.match(url)
    if scp is not None and (target := hosts.get(scp["host"].lower())) is not None:
        # scp-like syntax cannot carry a port, so only a host replacement makes sense here
        return f"{scp['user'] or ''}{target.split(':', 1)[0]}:{url[scp.end() :]}"
    return url
