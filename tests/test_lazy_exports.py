"""revgnn_edu._lazy.lazy_exports, the PEP 562 exports of revgnn_edu.data and revgnn_edu.train."""

import importlib
import sys
import types

import pytest

import revgnn_edu.train
from revgnn_edu._lazy import lazy_exports


def test_a_name_is_imported_on_first_use_and_then_cached(monkeypatch):
    package = types.ModuleType("fake_package")
    monkeypatch.setitem(sys.modules, "fake_package", package)
    package.__getattr__, package.__dir__ = lazy_exports("fake_package", {"dumps": "json"})
    assert "dumps" not in vars(package) and "dumps" in dir(package)
    assert package.dumps is importlib.import_module("json").dumps
    assert vars(package)["dumps"] is package.dumps  # later lookups skip __getattr__
    with pytest.raises(AttributeError, match="^module 'fake_package' has no attribute 'loads'$"):
        package.loads  # noqa: B018


@pytest.mark.parametrize("name", revgnn_edu.train.__all__)
def test_every_train_export_is_its_module_object(name):
    module = importlib.import_module(revgnn_edu.train._EXPORTS[name], "revgnn_edu.train")
    assert getattr(revgnn_edu.train, name) is getattr(module, name)
    assert name in dir(revgnn_edu.train)
