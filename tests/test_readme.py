"""What a newcomer sees first: README's first 40 lines hold the main command, the answer with
the commit its records name, and a chart that exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:40]


def test_the_first_screen_holds_the_main_command():
    assert any("mnist-bench run --until-decided --budget" in line for line in FIRST)


def test_the_first_screen_shows_a_chart_that_exists():
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", "\n".join(FIRST))
    assert images, "no image in README's first 40 lines"
    for path in images:
        assert (ROOT / path).is_file(), path


def test_the_first_screen_quotes_the_commit_as_its_records_say():
    text = "\n".join(FIRST)
    folder = re.search(r"\(results/([\w-]+)/tables\.md\)", text).group(1)
    recs = [json.loads(line) for line in (ROOT / "results" / folder / "records.jsonl").open()]
    commits = {((r.get("git") or {}).get("commit") or "")[:7] for r in recs}
    dirty = {bool((r.get("git") or {}).get("dirty")) for r in recs}
    assert len(commits) == 1 and len(dirty) == 1, (commits, dirty)
    quoted = re.search(r"commit ([0-9a-f]{7})(\s*\(dirty\))?", text)
    assert quoted.group(1) == commits.pop()
    assert bool(quoted.group(2)) == dirty.pop()
