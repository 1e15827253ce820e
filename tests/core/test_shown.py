"""Text from a library, a tool or a server, made safe for one line of our output."""

from __future__ import annotations

from gitops_engine.core.shown import one_line, shown


def test_shown_escapes_control_characters_and_says_how_much_it_cut() -> None:
    assert shown("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert shown("abcdef", 4) == "abcd… (2 more characters)"
    assert shown(b"caf\xc3\xa9 \xff") == "café \\xff"


def test_one_line_folds_every_run_of_whitespace_then_shows_it() -> None:
    helm_error = "template: demo/templates/a.yaml:3:5:\n\texecuting \x1b[31m  failed\r\n"
    assert one_line(helm_error) == "template: demo/templates/a.yaml:3:5: executing \\x1b[31m failed"
    assert one_line("x " * 10, 5) == "x x x… (14 more characters)"
    assert one_line("a\nb" * 200, None) == " ".join(["a", *["ba"] * 199, "b"])
