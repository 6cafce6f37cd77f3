import pytest
import torch
from torch_geometric.nn import GENConv

from revgnn_edu.complexity import count_parameters
from revgnn_edu.data import toy_graph
from revgnn_edu.models import PlainGNN, ResGNN
from revgnn_edu.nn import GNNBlock, ResBlock, make_conv


@pytest.mark.parametrize("conv", ["gen", "gcn", "sage"])
@pytest.mark.parametrize("num_layers", [1, 3])
def test_resgnn_shapes_and_backward(graph32, conv, num_layers):
    edge_dim = 4 if conv == "gen" else None
    model = ResGNN(6, 8, 3, num_layers, edge_dim=edge_dim, dropout=0.1, conv=conv)
    out = model(graph32.x, graph32.edge_index, graph32.edge_attr if edge_dim else None)
    assert out.shape == (30, 3)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    assert len(model.layers) == num_layers
    assert str(model).startswith(f"ResGNN(\n  6, 8, 3, num_layers={num_layers}")


def test_resblock_is_x_plus_preactivation_block(graph32):
    torch.manual_seed(0)
    block = ResBlock(8, "gen", edge_dim=4)
    x = torch.randn(30, 8)
    f = block.block
    # f(X) = GENConv(ReLU(LN(X)), A, U W_p^T + b_p)
    edges = f.edge_proj(graph32.edge_attr)
    expected = x + f.conv(torch.relu(f.norm(x)), graph32.edge_index, edges)
    assert torch.allclose(block(x, graph32.edge_index, graph32.edge_attr), expected)


def test_gen_conv_matches_the_paper_settings():
    conv = make_conv("gen", 40, 40, edge_dim=80)
    assert isinstance(conv, GENConv) and str(conv) == "GENConv(40, 40, aggr=max)"
    # edge projection 80 -> 40 plus the MLP [40, 80, 40] with a LayerNorm: 6 g^2 + 8 g
    assert count_parameters(conv) == 6 * 40**2 + 8 * 40
    soft = make_conv("gen", 8, 8, aggr="softmax")
    assert soft.aggr_module.learn  # learnable temperature, as in DeeperGCN


def test_gen_message_by_hand():
    """GENConv aggregates max_j ReLU(x_j + e_ij) + eps over incoming edges."""
    data = toy_graph()  # x_i = i + 1, e_k = k
    conv = make_conv("gen", 1, 1, edge_dim=1)  # edge_dim == channels: no edge projection
    out = conv.propagate(data.edge_index, x=(data.x, data.x), edge_attr=data.edge_attr)
    # node 2 receives from node 0 over edge 1 (1 + 1) and from node 1 over edge 2 (2 + 2)
    assert out[2].item() == pytest.approx(4.0 + 1e-7)
    # node 3 receives from node 2 over edge 3 (3 + 3) and from node 1 over edge 5 (2 + 5)
    assert out[3].item() == pytest.approx(7.0 + 1e-7)


def test_block_accepts_any_pyg_conv(graph32):
    from torch_geometric.nn import GraphConv

    block = GNNBlock(8, conv=lambda i, o: GraphConv(i, o))
    assert block(torch.randn(30, 8), graph32.edge_index).shape == (30, 8)


def test_plain_gnn_two_layer_is_gcn(graph32):
    model = PlainGNN(6, 16, 3, 2, dropout=0.0)
    assert len(model.convs) == 2
    assert model(graph32.x, graph32.edge_index).shape == (30, 3)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(num_layers=0), "num_layers must be a positive integer, got 0"),
        (dict(hidden_channels=2.5), "hidden_channels must be a positive integer, got 2.5"),
        (dict(dropout=1.0), r"dropout must be in \[0, 1\), got 1.0"),
    ],
)
def test_resgnn_bad_arguments(kwargs, match):
    args = dict(in_channels=6, hidden_channels=8, out_channels=3, num_layers=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ResGNN(**args)


def test_resgnn_bad_inputs(graph32):
    model = ResGNN(6, 8, 3, 2, edge_dim=4)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 6\), got \(30, 5\)"):
        model(graph32.x[:, :5], graph32.edge_index, graph32.edge_attr)
    with pytest.raises(ValueError, match="edge_dim=4 but edge_attr is None"):
        model(graph32.x, graph32.edge_index)
    with pytest.raises(ValueError, match="conv must be 'gen', 'gcn', 'sage', 'diff' or a callable"):
        make_conv("gat", 4, 4)
