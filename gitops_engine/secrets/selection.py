"""Which leaves get encrypted: the one rule a file may carry (sops `Tree.shouldBeEncrypted`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gitops_engine.core.regexes import regex_problem

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

    @property
    def by_comments(self) -> bool:
        """True when the rule looks at comments above values rather than at the keys of their path."""
        return self.kind.endswith("comment_regex")

    def matcher(self) -> Callable[[str], bool]:
        """The test for one key (key rules) or one comment (comment rules) against the rule's suffix or regex."""
        if self.kind.endswith("regex"):
            search = re.compile(self.value).search
            return lambda text: search(text) is not None
        suffix = self.value
        return lambda text: text.endswith(suffix)

    def encrypts_when(self, hit: bool) -> bool:
        """Whether a leaf is encrypted, given whether a key on its path (or a comment above it) matched the rule."""
        return hit != self.kind.startswith("unencrypted")

    def marks(self, comment: str) -> bool:
        """True for a comment that is itself a selection marker (kept plaintext)."""
        return self.by_comments and re.search(self.value, comment) is not None


def read_selection(options: Mapping[str, object]) -> tuple[Selection, str | None]:
    """The rule named in `options`, and what is wrong with it (None when nothing is): more than one rule, or a
    regular expression that does not compile or may not run (core.regexes)."""
    present = [k for k in RULE_KEYS if options.get(k) not in (None, "")]
    mac_only = options.get("mac_only_encrypted") in (True, "true")
    if len(present) > 1:
        return Selection(mac_only_encrypted=mac_only), f"sets {' and '.join(present)}; sops allows only one (keep one)"
    if not present:
        return Selection(mac_only_encrypted=mac_only), None
    kind = present[0]
    value = str(options[kind])
    problem = regex_problem(value) if kind.endswith("regex") else None
    if problem is not None:
        return Selection(mac_only_encrypted=mac_only), f"{kind} {value!r} {problem}"
    return Selection(kind, value, mac_only), None
