"""The notebooks as a learner meets them: JupyterLab in Debian's Chromium (`make test-browser`).

Starts JupyterLab on 127.0.0.1 (a free port, a random token) on a copy of notebooks/, opens
every notebook from the file browser and checks that the "Python (revgnn_edu)" kernel
starts with no kernel-selection dialog, then runs notebook 07's setup cell and its
explorer cell, moves a slider with the keyboard and waits until the explorer's output
changes; and in notebook 05 expands a collapsed exercise solution, runs it and checks that
it prints what the stored notebook shows, without an error. Every wait is bounded; a
failing test leaves a screenshot in tests/browser/results/. JupyterLab and its kernels are
stopped at the end, also on failure.

Skipped unless REVGNN_EDU_BROWSER_TEST=1 (which `make test-browser` sets); when set, a
missing Chromium or Playwright is a failure, not a skip.
"""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(p.name for p in NOTEBOOK_DIR.glob("[0-9]*.ipynb"))
EXPLORER_NOTEBOOK = "07_memory_and_parameters_side_by_side.ipynb"
SOLUTION_NOTEBOOK = "05_weight_tying.ipynb"
RESULTS = Path(__file__).resolve().parent / "results"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KERNEL = "Python (revgnn_edu)"

# Bounds on every wait, in seconds (generous: 2 shared cores)
SERVER_START_S = 90
PAGE_LOAD_S = 120
KERNEL_START_S = 120
CELL_RUN_S = 150
REDRAW_S = 150
SERVER_STOP_S = 30

pytestmark = pytest.mark.skipif(
    os.environ.get("REVGNN_EDU_BROWSER_TEST") != "1",
    reason="the browser test runs with `make test-browser`",
)

# JupyterLab settings for the test: never write the notebooks back (no autosave; they are
# copies anyway), no news or update checks, every cell in the DOM, and closing a notebook
# shuts its kernel down.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "kernelShutdown": True},
}


@dataclass
class Lab:
    url: str
    token: str
    home: Path
    process: subprocess.Popen


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(lab, path, method="GET", timeout=10):
    request = urllib.request.Request(
        f"{lab.url}{path}", method=method, headers={"Authorization": f"token {lab.token}"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body else None


def _children(pid):
    """Process ids whose parent is `pid` (the kernels JupyterLab started)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    try:
        return state.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _stop(lab):
    """Shut JupyterLab down (it shuts its kernels down); kill what is left, by pid."""
    kernels = _children(lab.process.pid)
    if lab.process.poll() is None:
        try:
            _api(lab, "/api/shutdown", method="POST")
        except (OSError, urllib.error.URLError):
            pass
        try:
            lab.process.wait(SERVER_STOP_S)
        except subprocess.TimeoutExpired:
            lab.process.terminate()
            try:
                lab.process.wait(10)
            except subprocess.TimeoutExpired:
                lab.process.kill()
                lab.process.wait(10)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in kernels) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [pid for pid in kernels if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.fail("Playwright is missing: `.venv/bin/pip install -e '.[dev]'`")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (Debian's Chromium)")

    home = tmp_path_factory.mktemp("jupyterlab")
    shutil.copytree(
        NOTEBOOK_DIR, home / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints")
    )
    for name, values in LAB_SETTINGS.items():
        path = home / "settings" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))

    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # inline plots
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        JUPYTER_CONFIG_DIR=str(home / "config"),  # no user config (passwords...)
        JUPYTER_DATA_DIR=str(home / "data"),  # kernels: only .venv's
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
    )
    port, token = _free_port(), secrets.token_hex(16)
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={home / 'notebooks'}",
        "--ServerApp.terminals_enabled=False",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log_path = home / "jupyterlab.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command,
            cwd=home / "notebooks",
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    lab = Lab(f"http://127.0.0.1:{port}", token, home, process)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"JupyterLab exited ({process.returncode}):\n{log_path.read_text()[-3000:]}"
                )
            try:
                _api(lab, "/api/status", timeout=2)
                break
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"JupyterLab did not answer within {SERVER_START_S} s:\n"
                        f"{log_path.read_text()[-3000:]}"
                    )
                time.sleep(0.5)
        yield lab
    finally:
        left = _stop(lab)
        assert lab.process.poll() is not None, "JupyterLab is still running"
        assert not left, f"kernels still running after JupyterLab stopped: {left}"


@pytest.fixture(scope="module")
def browser_page(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(lab.home / "chromium-profile"),  # a fresh user-data-dir
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
            timeout=60_000,
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{lab.url}/lab?reset&token={lab.token}", timeout=PAGE_LOAD_S * 1000)
            page.locator(".jp-DirListing-item").first.wait_for(timeout=PAGE_LOAD_S * 1000)
            yield page
        finally:
            context.close()


@pytest.fixture
def page(request, browser_page):
    """The shared page; a failing test leaves a screenshot in tests/browser/results/."""
    yield browser_page
    report = getattr(request.node, "report_call", None)
    if report is None or report.failed:
        RESULTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        browser_page.screenshot(path=str(RESULTS / f"{name}.png"), full_page=True)


def _current_panel(page):
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")


def _tab(page, name):
    return page.locator(".lm-DockPanel .lm-TabBar-tab.lm-mod-current", has_text=name[:10])


def _open(page, name):
    """Open `name` from the file browser; wait until its kernel is idle or a dialog shows."""
    item = page.locator(".jp-DirListing-item").filter(
        has=page.locator(".jp-DirListing-itemText").get_by_text(name, exact=True)
    )
    item.locator(".jp-DirListing-itemIcon").dblclick()  # (a click on the name renames)
    _tab(page, name).wait_for(timeout=PAGE_LOAD_S * 1000)  # a large notebook takes a while
    page.wait_for_function(
        """() => document.querySelector('.jp-Dialog') !== null ||
                 [...document.querySelectorAll('.jp-StatusBar-Left .jp-StatusBar-TextItem')]
                     .some(e => /\\|\\s*Idle\\s*$/.test(e.textContent))""",
        timeout=KERNEL_START_S * 1000,
    )


def _close_current(page):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.locator(".lm-DockPanel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabCloseIcon").click()
    discard = page.locator(".jp-Dialog button", has_text="Discard")
    try:
        discard.wait_for(timeout=2000)  # only when JupyterLab thinks it changed
    except PlaywrightTimeout:
        return
    discard.click()


def _assert_course_kernel_without_dialog(page, name):
    dialogs = page.locator(".jp-Dialog")
    if dialogs.count():
        text = dialogs.first.inner_text()
        RESULTS.mkdir(exist_ok=True)
        page.screenshot(path=str(RESULTS / f"dialog_{name}.png"))
        page.keyboard.press("Escape")  # leave the page usable for the next notebook
        dialogs.first.wait_for(state="detached", timeout=10_000)
        _close_current(page)
        pytest.fail(f"{name} opened a dialog: {text!r}")
    kernel = _current_panel(page).locator(".jp-Toolbar-kernelName")
    assert kernel.inner_text().strip() == KERNEL


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_opens_with_the_course_kernel_and_no_dialog(page, name):
    try:
        _open(page, name)
        _assert_course_kernel_without_dialog(page, name)
    finally:
        if _tab(page, name).count() and not page.locator(".jp-Dialog").count():
            _close_current(page)  # also after a failure: the next notebook starts clean


def _explorer_cells(path):
    """Indices (among all cells) of the setup cell and of the explorer's code cell."""
    cells = json.loads(path.read_text())["cells"]
    code = [i for i, c in enumerate(cells) if c["cell_type"] == "code"]
    setup = code[0]
    explorer = [
        i
        for i in code[1:]
        if re.search(r"explorer", "".join(cells[i]["source"]))
        and re.search(r"Slider", "".join(cells[i]["source"]))
    ]
    assert explorer, f"{path.name} has no code cell that builds the `explorer` with sliders"
    return setup, explorer[0]


def _run_cell(page, index):
    cell = _current_panel(page).locator(".jp-Notebook .jp-Cell").nth(index)
    cell.scroll_into_view_if_needed()
    cell.locator(".jp-InputPrompt").first.click()
    page.keyboard.press("Control+Enter")
    prompt = cell.locator(".jp-InputArea-prompt")
    # outputs were cleared first, so a number here means this run finished
    deadline = time.monotonic() + CELL_RUN_S
    while not re.search(r"\[\d+\]", prompt.inner_text()):
        assert time.monotonic() < deadline, f"cell {index} still runs after {CELL_RUN_S} s"
        time.sleep(0.5)
    errors = cell.locator("[data-mime-type='application/vnd.jupyter.stderr']")
    for text in errors.all_inner_texts():
        assert not re.search(r"Traceback|\w+Error\b", text), f"cell {index} failed:\n{text}"
    return cell


def _output_signature(cell):
    """What the explorer draws: the contents of its Output widget(s) (not the sliders)."""
    return cell.evaluate("""cell => [...cell.querySelectorAll('.widget-output')]
                                     .map(e => e.innerHTML).join('\\n')""")


def test_notebook_07_explorer_redraws_when_a_slider_moves(page):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    setup, explorer = _explorer_cells(NOTEBOOK_DIR / EXPLORER_NOTEBOOK)
    _open(page, EXPLORER_NOTEBOOK)
    _assert_course_kernel_without_dialog(page, EXPLORER_NOTEBOOK)
    page.locator(".lm-MenuBar-itemLabel", has_text="Edit").click()
    page.locator(".lm-Menu-itemLabel", has_text="Clear Outputs of All Cells").click()

    _run_cell(page, setup)
    cell = _run_cell(page, explorer)
    slider = cell.locator(".widget-slider .noUi-handle").first
    slider.wait_for(timeout=REDRAW_S * 1000)
    # the first drawing: a figure in the Output widget
    cell.locator(".widget-output img").first.wait_for(timeout=REDRAW_S * 1000)
    before = _output_signature(cell)
    readout = cell.locator(".widget-slider .widget-readout").first
    value_before = readout.inner_text()

    slider.focus()
    page.keyboard.press("ArrowRight")
    run = cell.locator("button", has_text=re.compile("Run", re.I))  # interact_manual
    if run.count():
        run.first.click()
    expect(readout).not_to_have_text(value_before, timeout=10_000)  # the slider moved
    try:
        page.wait_for_function(
            """([cell, before]) => {
                   const now = [...cell.querySelectorAll('.widget-output')]
                       .map(e => e.innerHTML).join('\\n');
                   return now !== before && cell.querySelector('.widget-output img') !== null;
               }""",
            arg=[cell.element_handle(), before],
            timeout=REDRAW_S * 1000,
        )
    except PlaywrightTimeout:
        pytest.fail(
            f"the explorer's figure did not change within {REDRAW_S} s after the "
            f"slider moved from {value_before} to {readout.inner_text()}"
        )


def _first_solution_cell(path):
    """Indices (among all cells) of the setup cell and of the first exercise solution, and
    what that solution printed when the notebook was stored (nbval compares it)."""
    cells = json.loads(path.read_text())["cells"]
    code = [i for i, c in enumerate(cells) if c["cell_type"] == "code"]
    solutions = [i for i in code if "solution" in cells[i]["metadata"].get("tags", [])]
    assert solutions, f"{path.name} has no code cell tagged 'solution'"
    first = cells[solutions[0]]
    assert first["metadata"].get("jupyter", {}).get("source_hidden") is True, (
        f"{path.name}: the first solution cell is not collapsed (source_hidden)"
    )
    printed = "".join(
        "".join(out.get("text", "")) for out in first["outputs"] if out.get("name") == "stdout"
    )
    assert printed.strip(), f"{path.name}: the first solution cell printed nothing when stored"
    return code[0], solutions[0], "".join(first["source"]).splitlines()[0], printed


def test_notebook_05_collapsed_solution_expands_and_runs(page):
    from playwright.sync_api import expect

    setup, index, first_line, printed = _first_solution_cell(NOTEBOOK_DIR / SOLUTION_NOTEBOOK)
    _open(page, SOLUTION_NOTEBOOK)
    _assert_course_kernel_without_dialog(page, SOLUTION_NOTEBOOK)
    try:
        page.locator(".lm-MenuBar-itemLabel", has_text="Edit").click()
        page.locator(".lm-Menu-itemLabel", has_text="Clear Outputs of All Cells").click()
        _run_cell(page, setup)

        cell = _current_panel(page).locator(".jp-Notebook .jp-Cell").nth(index)
        cell.scroll_into_view_if_needed()
        # collapsed: a placeholder with the first line of the source, no editor
        placeholder = cell.locator(".jp-InputPlaceholder")
        expect(placeholder).to_be_visible()
        expect(placeholder).to_contain_text(first_line)
        expect(cell.locator(".jp-InputArea-editor")).to_have_count(0)

        placeholder.click()  # "Click to expand"
        editor = cell.locator(".jp-InputArea-editor")
        expect(editor).to_be_visible()
        expect(editor).to_contain_text("assert")  # the solution's check is there to read
        expect(cell.locator(".jp-InputPlaceholder")).to_have_count(0)

        _run_cell(page, index)  # fails on a traceback in the output
        output = cell.locator(".jp-OutputArea-output").first
        for line in printed.strip().splitlines():  # what nbval compares, line by line
            expect(output).to_contain_text(line.strip(), timeout=CELL_RUN_S * 1000)
    finally:
        if _tab(page, SOLUTION_NOTEBOOK).count() and not page.locator(".jp-Dialog").count():
            _close_current(page)
