"""DifferenceConv: the dense formula, its transfer initialisation, and inside RevGNN."""

import pytest
import torch

from revgnn_edu.data import k_hop_transfer
from revgnn_edu.models import ResGNN, RevGNN
from revgnn_edu.nn.blocks import make_conv
from revgnn_edu.nn.difference import DifferenceConv


def _dense_mean_difference(x, edge_index, num_nodes):
    a = torch.zeros(num_nodes, num_nodes, dtype=x.dtype)
    a.index_put_(
        (edge_index[1], edge_index[0]),
        torch.ones(edge_index.size(1), dtype=x.dtype),
        accumulate=True,
    )
    return a @ x / a.sum(1, keepdim=True).clamp_min(1) - x


def test_matches_the_dense_formula_with_trained_weights():
    torch.manual_seed(0)
    edge_index = torch.tensor([[0, 1, 2, 2, 3, 0], [1, 2, 0, 3, 1, 1]])  # 4 has none
    x = torch.randn(5, 3, dtype=torch.float64)
    conv = DifferenceConv(3, 4).double()
    with torch.no_grad():
        conv.lin.weight.normal_()
        conv.lin.bias.normal_()
    expected = _dense_mean_difference(x, edge_index, 5) @ conv.lin.weight.T + conv.lin.bias
    torch.testing.assert_close(conv(x, edge_index), expected)


def test_initialised_as_a_one_hop_transfer():
    conv = DifferenceConv(3, 3, gain=0.5)
    torch.testing.assert_close(conv.lin.weight, 0.5 * torch.eye(3))
    assert conv.lin.bias.abs().sum() == 0
    # constant features along the edges: the output vanishes
    edge_index = torch.tensor([[0, 1, 2], [1, 2, 0]])
    out = conv(torch.ones(3, 3), edge_index)
    assert out.abs().max() == 0
    assert isinstance(make_conv("diff", 4, 4), DifferenceConv)
    assert str(make_conv("diff", 4, 2)) == "DifferenceConv(4, 2)"


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="in_channels must be a positive integer, got 0"):
        DifferenceConv(0, 3)


@pytest.mark.parametrize("num_groups", [2, 3])
def test_revgnn_gradients_match_ordinary_autograd(num_groups):
    data = k_hop_transfer(4, num_train=4, num_val=4, num_test=4)
    grads = []
    for efficient in (True, False):
        torch.manual_seed(1)
        model = RevGNN(
            data.num_features,
            6,
            4,
            3,
            num_groups=num_groups,
            conv="diff",
            memory_efficient=efficient,
        ).double()
        x = data.x.double().clone().requires_grad_()
        model(x, data.edge_index).pow(2).sum().backward()
        grads.append([x.grad] + [p.grad for p in model.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_resgnn_with_difference_blocks_reaches_k_hops():
    """Receptive field = L for ResGNN: the source reaches the target from L = k on."""
    data = k_hop_transfer(3, num_train=4, num_val=4, num_test=4)
    for layers, reaches in ((2, False), (3, True)):
        torch.manual_seed(0)
        model = ResGNN(data.num_features, 8, 4, layers, conv="diff")
        x = data.x.clone().requires_grad_()
        model(x, data.edge_index)[data.target_mask].sum().backward()
        assert bool(x.grad[data.source_mask].abs().sum() > 0) == reaches
