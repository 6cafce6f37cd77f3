"""Importing a model loads no dataset code; revgnn_edu.data exports its names lazily."""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import revgnn_edu.data

ROOT = Path(__file__).resolve().parents[1]


def test_models_import_without_pandas_and_without_dataset_code():
    """pandas is blocked, as if it were not installed (PyG imports it only when it is):
    the models and the complexity module still import, and load neither ogb,
    matplotlib nor any dataset module but the facts."""
    code = (
        "import sys\n"
        "sys.modules['pandas'] = None\n"
        "import revgnn_edu.models, revgnn_edu.complexity\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ogb', 'matplotlib')"
        " or m.startswith('revgnn_edu.data.')))\n"
    )
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "['revgnn_edu.data.ogbn_proteins_facts']"


@pytest.mark.parametrize("name", revgnn_edu.data.__all__)
def test_every_lazy_name_is_its_module_object(name):
    module = importlib.import_module(f"revgnn_edu.data.{revgnn_edu.data._EXPORTS[name]}")
    assert getattr(revgnn_edu.data, name) is getattr(module, name)
    assert name in dir(revgnn_edu.data)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="'revgnn_edu.data' has no attribute 'load_cora'"):
        revgnn_edu.data.load_cora  # noqa: B018
    with pytest.raises(ImportError):
        from revgnn_edu.data import load_cora  # noqa: F401
