"""A fresh clone is enough to run the tests: nothing reads the folder some machines keep beside the checkout."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import DATA, ROOT

# The spellings of "the folder named shared next to this checkout": a relative path up and into it, a parent of
# the checkout joined with it, or the two path parts given one after the other.
SIBLING_SHARED = (
    re.compile(r"\.\.[/\\]shared\b"),
    re.compile(r"\bparents?(\[\d+\])?\s*/\s*[\"']shared\b"),
    re.compile(r"[\"']\.\.[\"']\s*,\s*[\"']shared[\"']"),
)
CHECKED = ("gitops_engine", "tests", "scripts/test", "scripts/bootstrap", ".ci/run", "pyproject.toml")
NOT_OURS = {"node_modules", "__pycache__"}


def _files() -> list[Path]:
    found: list[Path] = []
    for name in CHECKED:
        top = ROOT / name
        candidates = [top] if top.is_file() else sorted(top.rglob("*"))
        found += [p for p in candidates if p.is_file() and not NOT_OURS & set(p.relative_to(ROOT).parts)]
    return found


def test_no_file_of_the_package_or_the_tests_names_the_shared_folder_beside_the_checkout() -> None:
    offenders = []
    for path in _files():
        text = path.read_bytes().decode("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if any(pattern.search(line) for pattern in SIBLING_SHARED):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_patterns_catch_each_way_of_naming_the_sibling_folder() -> None:
    # Written in pieces so that this file does not itself name the folder.
    up = ".."
    name = "shared"
    spellings = [
        f"{up}/{name}/corpora",
        f'ROOT.parent / "{name}"',
        f"Path(__file__).resolve().parents[2] / '{name}' / 'x'",
        f'os.path.join(root, "{up}", "{name}")',
    ]
    harmless = ['"shared fixtures"', "a shared cache", 'DATA / "shared-keys"', "dev/shm"]

    assert [any(p.search(s) for p in SIBLING_SHARED) for s in spellings] == [True] * 4
    assert [any(p.search(s) for p in SIBLING_SHARED) for s in harmless] == [False] * 4


def test_every_data_set_notes_its_source_and_carries_the_licences_it_names() -> None:
    sets = sorted(p for p in DATA.iterdir() if p.is_dir())
    assert {p.name for p in sets} >= {"flux-local", "flux-sops", "gitea-openapi", "helm-indexes", "sops-vectors"}
    for folder in sets:
        note = folder / "SOURCE.md"
        assert note.is_file(), f"{folder.relative_to(ROOT)} has no SOURCE.md"
        text = note.read_text()
        assert "Licence" in text or "licence" in text, note
        for licence in re.findall(r"`([\w.-]+\.LICENSE)`", text):
            assert (folder / licence).is_file(), f"{note.relative_to(ROOT)} names {licence}, which is not beside it"
