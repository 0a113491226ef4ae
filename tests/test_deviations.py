"""docs/deviations.md: every deviation cited in the repository exists there, every entry has its
four parts and real evidence, and no file points to a document outside the repository."""

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "docs" / "deviations.md"
TEXT_SUFFIXES = {".py", ".sh", ".bash", ".md", ".toml", ".txt", ".cfg"}
SKIPPED_DIRS = {".venv", ".git", "__pycache__", ".pytest_cache", ".ruff_cache", "node_modules"}
OUTPUT_DIRS = {"data", "checkpoints", "results"}  # the checkout's own (not unlearn/data)
PARTS = ("Published", "Here", "Restore", "Evidence")
HEADING = re.compile(r"^### D(\d+)\. (.+)$", re.MULTILINE)
CITATION = re.compile(r"\bD(\d+)\b")  # "deviation D7", "deviations D1, D2 and D3", "(D5)"
# Built from pieces so that this file does not match itself.
SECTION_SIGN = "\u00a7"
OUTSIDE_DOCUMENTS = ("REFERENCE" + "_SPEC", "DESIGN" + ".md", "DESIGN " + SECTION_SIGN)


def repository_texts() -> list[Path]:
    """Every source, script and prose file of the repository (not data, not the venv)."""
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        skipped = SKIPPED_DIRS | (OUTPUT_DIRS if Path(folder) == ROOT else set())
        subfolders[:] = [name for name in subfolders if name not in skipped]
        for name in files:
            path = Path(folder) / name
            if path.suffix in TEXT_SUFFIXES or name == "Makefile":
                found.append(path)
    return found


def entries() -> dict[int, str]:
    """Entry number -> its text (from its heading to the next heading of any level 2-3)."""
    text = CATALOGUE.read_text(encoding="utf-8")
    headings = list(HEADING.finditer(text))
    result = {}
    for heading in headings:
        body = text[heading.end():]
        following = re.search(r"^##", body, re.MULTILINE)
        result[int(heading.group(1))] = body[:following.start()] if following else body
    return result


def test_entries_are_numbered_once_from_one_without_gaps():
    numbers = [int(m.group(1)) for m in HEADING.finditer(CATALOGUE.read_text(encoding="utf-8"))]
    assert numbers, "no entries found"
    assert numbers == list(range(1, len(numbers) + 1))


@pytest.mark.parametrize("number", sorted(entries()))
def test_each_entry_has_its_four_parts_in_order(number):
    body = entries()[number]
    found = re.findall(r"^- \*\*(\w+):\*\*\s+(\S[^\n]*)", body, re.MULTILINE)
    assert [name for name, _ in found] == list(PARTS), f"D{number}: {found}"
    restore = dict(found)["Restore"]
    # Either an option to switch back, or "none" with the reason after it.
    assert "`" in restore or re.match(r"none\b.*\S", restore), f"D{number}: {restore}"


@pytest.mark.parametrize("number", sorted(entries()))
def test_each_entry_names_evidence_that_exists(number):
    evidence = entries()[number].split("- **Evidence:**", 1)[1]
    tests = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", evidence)
    files = re.findall(r"`((?:bench|docs|scripts)/[\w/.-]+\.\w+)`", evidence)
    assert tests or files, f"D{number} names no test and no measurement file"
    for path, name in tests:
        source = (ROOT / path).read_text(encoding="utf-8")
        assert re.search(rf"^def {name}\(", source, re.MULTILINE), f"D{number}: {path}::{name}"
    for path in files:
        assert (ROOT / path).is_file(), f"D{number}: {path}"


def test_every_cited_deviation_is_in_the_catalogue():
    defined = set(entries())
    cited = {}
    for path in repository_texts():
        if path == CATALOGUE:
            continue
        for number in CITATION.findall(path.read_text(encoding="utf-8", errors="ignore")):
            cited.setdefault(int(number), []).append(path.relative_to(ROOT).as_posix())
    assert cited, "nothing cites the catalogue"
    unknown = {f"D{n}": sorted(set(paths)) for n, paths in cited.items() if n not in defined}
    assert not unknown, f"cited but not in docs/deviations.md: {unknown}"


def test_no_file_refers_to_a_document_outside_the_repository():
    offenders = []
    for path in repository_texts():
        text = path.read_text(encoding="utf-8", errors="ignore")
        for marker in (SECTION_SIGN, *OUTSIDE_DOCUMENTS):
            if marker in text:
                offenders.append(f"{path.relative_to(ROOT)}: {marker}")
        for document in re.findall(r"\bdocs/[\w/.-]*\w\.md\b", text):
            if not (ROOT / document).is_file():
                offenders.append(f"{path.relative_to(ROOT)}: {document}")
    assert not offenders, offenders
