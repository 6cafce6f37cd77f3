"""environment.yml (conda) and pyproject.toml (pip) must pin the same packages."""

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines):
    pins = {}
    for line in lines:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*==\s*([A-Za-z0-9_.+\-]+)", line.strip())
        assert m, f"not an exact pin: {line!r}"
        pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_side = _pins(project["dependencies"] + project["optional-dependencies"]["dev"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_side = _pins(p for p in pip_section if not p.startswith("-e"))
    assert conda_side == pip_side
    assert "-e ." in pip_section  # the package itself
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert _version(python.split("=")[-1]) >= _version(project["requires-python"].lstrip(">="))


def _version(text: str) -> tuple[int, ...]:
    """'3.10' -> (3, 10): versions compare as numbers ('3.9' < '3.10')."""
    return tuple(int(part) for part in text.split("."))


def test_version_compares_as_numbers():
    assert _version("3.9") < _version("3.10") < _version("3.11")


def test_core_dependencies_are_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = set(_pins(project["dependencies"] + project["optional-dependencies"]["dev"]))
    for needed in [
        "torch",
        "torch-geometric",
        "ogb",
        "jupyterlab",
        "nbval",
        "matplotlib",
        "ipywidgets",
        "pytest",
    ]:
        assert needed in names
