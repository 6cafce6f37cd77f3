"""The tensor checks of revgnn_edu.checks: each names the argument, what was expected and
what was given, and returns or passes what it accepts."""

import pytest
import torch

from revgnn_edu.checks import check_shape, float_tensor, ids_below, is_callable, on_cpu


def test_is_callable():
    assert is_callable("f", len, "a callable") is len
    with pytest.raises(ValueError, match=r"^f must be a callable z -> f\(z\), got int$"):
        is_callable("f", 3, "a callable z -> f(z)")


@pytest.mark.parametrize(
    "value, got",
    [
        (torch.ones(3, dtype=torch.long), r"torch.int64 of shape \(3,\)"),
        (torch.ones(0, 2), r"torch.float32 of shape \(0, 2\)"),
        ([1.0], "list"),
    ],
)
def test_float_tensor_rejects(value, got):
    with pytest.raises(
        ValueError, match=f"^z0 must be a non-empty floating point tensor, got {got}$"
    ):
        float_tensor("z0", value)


def test_float_tensor_accepts():
    z = torch.ones(2, dtype=torch.float64)
    assert float_tensor("z0", z) is z


def test_check_shape():
    check_shape("edge_index", torch.zeros(2, 0, dtype=torch.long), (2, "E"))
    check_shape("part", torch.zeros(5), ("N",))
    for bad, got in [
        (torch.zeros(3, 4), r"\(3, 4\)"),
        (torch.zeros(2), r"\(2,\)"),
        (None, "NoneType"),
    ]:
        with pytest.raises(ValueError, match=rf"^edge_index must have shape \(2, E\), got {got}$"):
            check_shape("edge_index", bad, (2, "E"))


def test_on_cpu():
    on_cpu("part", torch.zeros(2))
    meta = torch.zeros(2, device="meta")
    with pytest.raises(ValueError, match="^part must be on the CPU, got meta$"):
        on_cpu("part", meta)


def test_ids_below():
    ids_below("part", torch.tensor([0, 3, 1]), 4, "num_parts")
    ids_below("part", torch.zeros(0, dtype=torch.long), 1, "num_parts")  # no ids: nothing to check
    expected = r"^part holds ids in {}, expected ids in 0\.\.3 \(num_parts=4\)$"
    with pytest.raises(ValueError, match=expected.format(r"0\.\.4")):
        ids_below("part", torch.tensor([0, 4]), 4, "num_parts")
    with pytest.raises(ValueError, match=expected.format(r"-1\.\.2")):
        ids_below("part", torch.tensor([-1, 2]), 4, "num_parts")
