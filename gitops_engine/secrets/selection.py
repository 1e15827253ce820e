"""Which leaves get encrypted: the one rule a file may carry (sops `Tree.shouldBeEncrypted`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from gitops_engine.core.errors import InputError

RULE_KEYS = (
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
)
DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"
SECRET_REGEX = "^(data|stringData)$"


@dataclass(frozen=True)
class Selection:
    """One of sops's selection rules (`kind` is one of RULE_KEYS) plus `mac_only_encrypted`."""

    kind: str = "unencrypted_suffix"
    value: str = DEFAULT_UNENCRYPTED_SUFFIX
    mac_only_encrypted: bool = False

    @cached_property
    def _regex(self) -> re.Pattern[str] | None:
        return re.compile(self.value) if self.kind.endswith("regex") else None

    def encrypts(self, path: Sequence[str], comments: Sequence[str] = ()) -> bool:
        """Whether a leaf at `path` (keys from the root) is encrypted; `comments` precede it and its ancestors."""
        kind = self.kind
        if kind == "unencrypted_suffix":
            return not any(key.endswith(self.value) for key in path)
        if kind == "encrypted_suffix":
            return any(key.endswith(self.value) for key in path)
        regex = self._regex
        assert regex is not None
        if kind == "unencrypted_regex":
            return not any(regex.search(key) for key in path)
        if kind == "encrypted_regex":
            return any(regex.search(key) for key in path)
        if kind == "unencrypted_comment_regex":
            return not any(regex.search(text) for text in comments)
        return any(regex.search(text) for text in comments)

    def marks(self, comment: str) -> bool:
        """True for a comment that is itself a selection marker (kept plaintext)."""
        regex = self._regex
        return self.kind.endswith("comment_regex") and regex is not None and bool(regex.search(comment))


def selection_from(options: Mapping[str, object], where: str) -> Selection:
    """The rule named in a `.sops.yaml` rule or `sops` metadata; more than one is an input error."""
    present = [k for k in RULE_KEYS if options.get(k) not in (None, "")]
    if len(present) > 1:
        raise InputError(f"{where}: sets {' and '.join(present)}; sops allows only one (keep one of them)")
    mac_only = options.get("mac_only_encrypted") in (True, "true")
    if not present:
        return Selection(mac_only_encrypted=mac_only)
    kind = present[0]
    value = str(options[kind])
    if kind.endswith("regex"):
        try:
            re.compile(value)
        except re.error as exc:
            raise InputError(f"{where}: {kind} {value!r} is not a valid regular expression ({exc})") from exc
    return Selection(kind, value, mac_only)
