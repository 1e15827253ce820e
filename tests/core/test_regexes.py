"""Regular expressions from a repository (sops `path_regex`, `encrypted_regex`, …) are checked before they run:
patterns whose backtracking can take exponential time, and features Go's RE2 lacks, are refused with the reason."""

from __future__ import annotations

import pytest

from gitops_engine.core.regexes import NESTED, regex_problem


@pytest.mark.parametrize(
    "pattern",
    [
        "^(data|stringData)$",
        r".*\.sops\.ya?ml$",
        r"^clusters/[^/]+/secrets/.*\.yaml$",
        ".*a.*b",  # repetitions side by side: polynomial at worst
        "(ab)*",
        "((ab){3})+",  # a fixed count matches in one way only
        "(a?)?",
        r"\(a*\)*",  # escaped parentheses are text, so the star repeats `)` alone
        "[(|*]+",  # inside a class, `(`, `|` and `*` are text
        "[]a]*",
        "(?P<name>x)+",
        r"\0+",
        "a{}",  # Python reads `{}` as text, not as a count
    ],
)
def test_patterns_sops_users_write_are_allowed(pattern: str) -> None:
    assert regex_problem(pattern) is None


@pytest.mark.parametrize(
    "pattern",
    ["((.*)*)*x", "(a|aa)+", "(a|aa){30}", "(a+)+", "(a*){2,}", "(?:x|y)*z", "((ab)+c)*", "(a{1,3})+"],
)
def test_a_repeated_group_that_repeats_or_branches_inside_is_refused(pattern: str) -> None:
    assert regex_problem(pattern) == NESTED


@pytest.mark.parametrize(
    ("pattern", "what"),
    [
        (r"(.)\1", "a backreference"),
        ("a(?=b)", "a lookaround"),
        ("(?<!a)b", "a lookaround"),
        ("(?P<x>a)(?P=x)", "a backreference or an atomic group"),
    ],
)
def test_what_go_re2_lacks_is_refused(pattern: str, what: str) -> None:
    expected = f"uses {what}, which sops's regular expressions (Go RE2) do not have (write it without)"
    assert regex_problem(pattern) == expected


def test_a_pattern_that_does_not_compile_says_why() -> None:
    assert regex_problem("(unclosed") == (
        "is not a valid regular expression (missing ), unterminated subpattern at position 0)"
    )
