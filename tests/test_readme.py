"""The README's results block is generated from benchmarks/results, never typed by hand."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_results_block_matches_the_benchmark_files():
    code = subprocess.call([sys.executable, str(ROOT / "benchmarks" / "report.py"), "--check"])
    assert code == 0, "README.md is out of date: run `python benchmarks/report.py`"


def test_readme_shows_the_two_commands_and_the_data_variable():
    text = (ROOT / "README.md").read_text()
    for needed in ("make lab", "make test", "REVGNN_EDU_DATA"):
        assert needed in text
    for nb in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        assert nb.name in text, f"the README's course table does not list {nb.name}"
