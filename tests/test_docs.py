"""User-facing text: generated numbers are current, and no development-history labels leak into it."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from stdrc_lib.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
TAGS = "core|toyworld|training|notebooks|ablation|perf|reliability|pipeline|layout|base|stdrc-lora|claims|course"
TAGS += "|outside|inputs|fullwidth"
HISTORY = re.compile(rf"\bsession[ -]?\d+|\bsessions?\b(?! (of|with))|\[(?:{TAGS})\](?!\()", re.I)


def _user_texts():
    yield from sorted(ROOT.glob("*.md"))
    yield from sorted((ROOT / "docs").rglob("*.md"))
    yield from sorted((ROOT / "notebooks").glob("*.ipynb"))
    yield from sorted((ROOT / "notebooks").glob("*.py"))  # the notebooks' sources
    yield from sorted((ROOT / "stdrc_lib").rglob("*.py"))  # docstrings and help strings


def test_generated_readme_blocks_are_current():
    r = subprocess.run([sys.executable, str(ROOT / "docs" / "make_docs.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("path", list(_user_texts()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_history_labels_in_user_facing_text(path):
    hits = [m.group(0) for m in HISTORY.finditer(path.read_text())]
    assert not hits, f"{path.relative_to(ROOT)} mentions {hits[:3]}: say what the software does instead"


def test_no_history_labels_in_help():
    parser = build_parser()
    texts = [parser.format_help()]
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    texts += [p.format_help() for p in sub.choices.values()]
    hits = [m.group(0) for t in texts for m in HISTORY.finditer(t)]
    assert not hits, hits


def test_readme_stays_a_users_page():
    n = len((ROOT / "README.md").read_text().splitlines())
    assert n <= 220, f"README.md has {n} lines; move detail to docs/"


@pytest.mark.parametrize("path", [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))], ids=lambda p: p.name)
def test_relative_links_resolve(path):
    text = path.read_text()
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text) + re.findall(r'<img src="([^"]+)"', text)
    missing = [t for t in links if "://" not in t and not (path.parent / t).exists()]
    assert not missing, f"{path.name} links to missing files: {missing}"
