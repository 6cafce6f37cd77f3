"""Stored notebook outputs that would make nbval fail on another machine.

nbval compares each cell's fresh output with the one stored in the notebook. These tests
read the stored outputs only (nothing is executed) and fail on what differs from machine
to machine: the torch build suffix, whether CUDA is there, object addresses, timings and
the contents of ``benchmarks/results`` in compared outputs, an ignored output whose claim
is not asserted, and execution counts that do not run 1..n.
"""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9]*.ipynb"))

BUILD_SUFFIX = re.compile(r"\d\+(cpu|cu\d{2,4}|rocm[\d.]*|xpu)\b")
# "torch.cuda.is_available()", "on cuda:0", "no GPU found", "device: cpu", ...
CUDA_PRESENCE = re.compile(
    r"(?i)\bcuda\b|\bno gpu\b|\bgpus?\s+(is\s+|are\s+)?(found|available|detected|present|missing)"
    r"|\b(on|device)\s*[=:]?\s*['\"]?(cpu|cuda|mps)\b"
)
ADDRESS = re.compile(r"(?<![0-9A-Za-z])0x[0-9a-fA-F]{6,}\b")  # not the 0x400 in "600x400"
TIMING = re.compile(r"(?<![\w.])\d+(\.\d+)?\s?(s|ms|sec|secs|seconds)\b")
READS_BENCHMARKS = re.compile(r"benchmarks\W{1,8}results")
NBVAL_MARKERS = {
    "NBVAL_IGNORE_OUTPUT",
    "NBVAL_CHECK_OUTPUT",
    "NBVAL_RAISES_EXCEPTION",
    "NBVAL_SKIP",
}
ASSERTS = re.compile(r"\bassert")


def _cells(path):
    nb = json.loads(path.read_text())
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            yield index, "".join(cell["source"]), cell


def _texts(cell):
    """Every stored text the cell shows (streams, text/* data, errors)."""
    for out in cell.get("outputs", []):
        if "text" in out:
            yield "".join(out["text"])
        for mime, value in out.get("data", {}).items():
            if mime.startswith("text/"):
                yield "".join(value) if isinstance(value, list) else value
        if out.get("output_type") == "error":
            yield f"{out.get('ename')}: {out.get('evalue')}"


def _markers(source):
    """nbval's comment markers: a comment line that is exactly the marker's name."""
    return {
        line.strip().lstrip("#").strip()
        for line in source.splitlines()
        if line.strip().startswith("#")
    } & NBVAL_MARKERS


def _ignored(source, cell):
    tags = cell.get("metadata", {}).get("tags", [])
    return "NBVAL_IGNORE_OUTPUT" in _markers(source) or "nbval-ignore-output" in tags


def _code_only(source):
    """The source without comment lines (so a commented-out assert does not count)."""
    return re.sub(r"(?m)^\s*#.*$", "", source)


def _matches(pattern, path, compared_only=False):
    found = []
    for index, source, cell in _cells(path):
        if compared_only and _ignored(source, cell):
            continue
        for text in _texts(cell):
            for m in pattern.finditer(text):
                context = text[max(0, m.start() - 40) : m.end() + 20].replace("\n", " | ")
                found.append(f"cell {index}: {context!r}")
    return found


def _ids(paths):
    return [p.name[:2] for p in paths]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 7


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_no_output_names_the_torch_build(path):
    found = _matches(BUILD_SUFFIX, path)
    assert not found, f"{path.name} prints the torch build suffix (+cpu/+cuXXX): {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_no_output_depends_on_cuda_presence(path):
    found = _matches(CUDA_PRESENCE, path)
    assert not found, f"{path.name} prints whether CUDA/a GPU is there: {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_no_output_shows_a_memory_address(path):
    found = _matches(ADDRESS, path)
    assert not found, f"{path.name} prints an object repr with a 0x address: {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_no_compared_output_is_a_timing(path):
    found = _matches(TIMING, path, compared_only=True)
    assert not found, (
        f"{path.name} compares a timing digit for digit (mark the cell "
        f"# NBVAL_IGNORE_OUTPUT and assert the claim): {found}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_benchmark_results_are_not_compared(path):
    """`make bench` rewrites benchmarks/results: cells that read it print nothing compared
    (plots are fine: nbval compares only their "<Figure size ...>" line)."""
    found = []
    for index, source, cell in _cells(path):
        if READS_BENCHMARKS.search(source) and not _ignored(source, cell):
            shown = [t for t in _texts(cell) if not re.fullmatch(r"<Figure size [^>]*>", t)]
            if shown:
                found.append(f"cell {index}: {shown[0][:80]!r}")
    assert not found, f"{path.name} compares outputs read from benchmarks/results: {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_nbval_markers_are_spelled_as_nbval_reads_them(path):
    """nbval honours `# NBVAL_IGNORE_OUTPUT` only as the whole comment: a line such as
    `# NBVAL_IGNORE_OUTPUT (accuracies)` is silently compared digit for digit."""
    found = [
        f"cell {index}: {line.strip()!r}"
        for index, source, _ in _cells(path)
        for line in source.splitlines()
        if line.strip().startswith("#")
        and "NBVAL" in line
        and line.strip().lstrip("#").strip() not in NBVAL_MARKERS
    ]
    assert not found, f"{path.name}: comments nbval does not read as markers: {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_every_ignored_output_asserts_its_claim(path):
    found = [
        f"cell {index}: {source.splitlines()[1:2]}"
        for index, source, cell in _cells(path)
        if _ignored(source, cell) and not ASSERTS.search(_code_only(source))
    ]
    assert not found, f"{path.name}: # NBVAL_IGNORE_OUTPUT cells without an assert: {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_execution_counts_run_one_to_n(path):
    counts = [cell.get("execution_count") for _, source, cell in _cells(path) if source.strip()]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts} (re-execute it top to bottom with "
        f"`make notebooks NB={path.name}`)"
    )


@pytest.mark.parametrize(
    "source, ignored",
    [
        ("# NBVAL_IGNORE_OUTPUT\nprint(acc)", True),
        ("  #NBVAL_IGNORE_OUTPUT\nx", True),
        ("# NBVAL_IGNORE_OUTPUT (accuracies)\nprint(acc)", False),
        ("print('# NBVAL_IGNORE_OUTPUT')", False),
        ("print(acc)", False),
    ],
)
def test_ignored_cells_are_recognised_as_nbval_does(source, ignored):
    assert _ignored(source, {}) == ignored


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("torch 2.13.0+cpu", BUILD_SUFFIX),
        ("torch 2.13.0+cu126", BUILD_SUFFIX),
        ("CUDA available: False", CUDA_PRESENCE),
        ("trained on cuda:0", CUDA_PRESENCE),
        ("no GPU measurement recorded", CUDA_PRESENCE),
        ("torch 2.13.0 on cpu", CUDA_PRESENCE),
        ("<Linear object at 0x7f3a2c1b4d90>", ADDRESS),
        ("epoch took 0.70 s per epoch", TIMING),
        ("elapsed 12 ms", TIMING),
    ],
)
def test_the_patterns_catch_what_they_are_for(text, pattern):
    assert pattern.search(text)


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("<Figure size 600x400 with 1 Axes>", ADDRESS),
        ("1,234 parameters", TIMING),
        ("Cora: 2,708 nodes, 7 classes", CUDA_PRESENCE),
        ("Table 1 (1.5 GiB)", TIMING),
        ("40.08 MiB", TIMING),
        ("layers 8, 16, 32", BUILD_SUFFIX),
        ("the paper trained on one GPU", CUDA_PRESENCE),
    ],
)
def test_the_patterns_leave_ordinary_outputs_alone(text, pattern):
    assert not pattern.search(text)


EXERCISE_ITEM = re.compile(r"(?m)^\s*(\*\*)?\d+\.(\*\*)?\s")
SOLUTION_FIRST_LINE = "# Solution (click to expand)"


def _exercises(path):
    """``(index, markdown text, next cell)`` for each exercise of the notebook: the numbered
    markdown cells between its ``## Exercises`` heading and the next ``## `` heading."""
    cells = json.loads(path.read_text())["cells"]
    start = next(
        (
            i
            for i, c in enumerate(cells)
            if c["cell_type"] == "markdown"
            and re.search(r"(?m)^## Exercises", "".join(c["source"]))
        ),
        None,
    )
    if start is None:
        return None
    found = []
    for i in range(start, len(cells)):
        text = "".join(cells[i]["source"])
        if cells[i]["cell_type"] != "markdown":
            continue
        if i == start:
            text = text[re.search(r"(?m)^## Exercises", text).end() :]
        elif re.search(r"(?m)^## ", text):
            break
        if EXERCISE_ITEM.search(text):
            found.append((i, text, cells[i + 1] if i + 1 < len(cells) else None))
    return found


def _solution_problems(cell):
    """What is wrong with ``cell`` as a collapsed solution that checks itself."""
    if cell is None or cell["cell_type"] != "code":
        return ["no code cell follows"]
    meta, source = cell.get("metadata", {}), "".join(cell["source"])
    problems = []
    if not meta.get("jupyter", {}).get("source_hidden"):
        problems.append("its source is not collapsed (metadata jupyter.source_hidden)")
    if "solution" not in meta.get("tags", []):
        problems.append("it is not tagged 'solution'")
    if not source.startswith(SOLUTION_FIRST_LINE):
        problems.append(f"its first line is not {SOLUTION_FIRST_LINE!r}")
    if not re.search(r"\bassert\b|\bcheck_\w+\(", _code_only(source)):
        problems.append("it neither asserts nor calls a check_ function")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_every_exercise_has_a_hint_and_a_collapsed_solution_that_checks_it(path):
    exercises = _exercises(path)
    assert exercises, f"{path.name}: no numbered exercise after a '## Exercises' heading"
    found = []
    for index, text, following in exercises:
        problems = [] if "Hint" in text else ["no **Hint**"]
        problems += _solution_problems(following)
        if problems:
            found.append(f"cell {index}: {'; '.join(problems)}")
    assert not found, f"{path.name}: exercises that a learner cannot check: {found}"


@pytest.mark.parametrize(
    "solution, ok",
    [
        ("# Solution (click to expand)\nassert x == 1", True),
        ("# Solution (click to expand)\ncheck_answer(x)", True),
        ("# Solution (click to expand)\n# assert x == 1\nprint(x)", False),
        ("x = 1\nassert x == 1", False),
    ],
)
def test_solution_checks_recognise_what_they_are_for(solution, ok):
    cell = {
        "cell_type": "code",
        "source": solution,
        "metadata": {"jupyter": {"source_hidden": True}, "tags": ["solution"]},
    }
    assert (not _solution_problems(cell)) == ok
