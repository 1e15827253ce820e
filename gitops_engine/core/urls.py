"""Credentials inside URLs: found before anything is committed, and removed from anything printed."""

from __future__ import annotations

import re

# scheme://userinfo@ — the userinfo part is everything between the scheme and the last '@' before the host
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#]*)@")
# a user name is how ssh addresses name the account (ssh://git@host, git@host:path) and carries no secret
_NAME_ONLY_SCHEMES = ("ssh://", "git+ssh://", "ssh+git://")


def has_credentials(url: str) -> bool:
    """True when `url` carries a password, or any user information on a scheme other than ssh (tokens are
    commonly written as the user name of an https URL)."""
    match = _USERINFO.match(url.strip())
    if match is None:
        return False
    if ":" in match["userinfo"]:
        return True
    return not match["scheme"].lower().startswith(_NAME_ONLY_SCHEMES)


def redacted(url: str) -> str:
    """`url` with any user information replaced by `***` (safe to print)."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}***@", url.strip(), count=1)


CREDENTIALS_FIX = (
    "the URL carries credentials, which would be committed in plaintext and printed; remove them and give "
    "credentials as a Secret (git.credentials / secretRef) or through a git credential helper"
)
