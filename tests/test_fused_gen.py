"""FusedGENConv and the presets built with it: the same function and gradients (float64)
as PyG's GENConv, the unfolded edge encoder and ordinary autograd."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import GENConv

from revgnn_edu.models import build_model
from revgnn_edu.nn.blocks import GNNBlock, make_conv
from revgnn_edu.nn.fused_gen import FusedGENConv, gen_max_aggregate
from revgnn_edu.nn.grad_handoff import PendingGradients

N, E, G = 30, 160, 6


def _graph(edge_dim, seed=0):
    """A graph with exactly duplicated edges (ties in the max) and nodes without any
    incoming edge (nodes N-3..N-1 receive nothing)."""
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, N, (E,), generator=gen)
    dst = torch.randint(0, N - 3, (E,), generator=gen)
    ei = torch.stack([src, dst])
    ea = torch.randn(E, edge_dim, generator=gen, dtype=torch.float64)
    ei, ea = torch.cat([ei, ei[:, :20]], 1), torch.cat([ea, ea[:20]])  # ties
    x = torch.randn(N, G, generator=gen, dtype=torch.float64)
    return x, ei, ea


def _grads(module, x, ei, ea, **kw):
    x, ea = x.clone().requires_grad_(), ea.clone().requires_grad_()
    out = module(x, ei, ea, **kw)
    (out * torch.linspace(-1, 2, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
    return [out.detach(), x.grad, ea.grad] + [p.grad for p in module.parameters()]


def _assert_close(ours, ref):
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref):
        assert a is not None and b is not None
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("edge_dim", [G, 3])  # 3: GENConv projects the edges (lin_edge)
@pytest.mark.parametrize("chunk", [2**22, 7 * G])  # one chunk; many (7 edges each)
def test_fused_genconv_is_pyg_genconv(edge_dim, chunk):
    x, ei, ea = _graph(edge_dim)
    torch.manual_seed(0)
    kw = dict(edge_dim=edge_dim, norm="layer", num_layers=2, expansion=2)
    ref = GENConv(G, G, aggr="max", **kw).double()
    fused = FusedGENConv(G, G, **kw).double()
    fused.load_state_dict(ref.state_dict())
    fused.chunk_elements = chunk
    assert ref.state_dict().keys() == fused.state_dict().keys()
    _assert_close(_grads(fused, x, ei, ea), _grads(ref, x, ei, ea))


def test_gen_max_aggregate_with_a_projection_is_project_then_aggregate():
    x, ei, u = _graph(3)
    w = torch.randn(G, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(G, dtype=torch.float64, requires_grad=True)
    results = []
    for fused in (True, False):
        xx, uu = x.clone().requires_grad_(), u.clone().requires_grad_()
        if fused:
            m = gen_max_aggregate(xx, ei, uu, w, b, chunk_elements=5 * G)
        else:
            msg = (xx[ei[0]] + F.linear(uu, w, b)).relu() + 1e-7
            m = torch.zeros(N, G, dtype=x.dtype).scatter_reduce(
                0, ei[1, :, None].expand_as(msg), msg, "amax", include_self=False
            )
        (m * torch.arange(m.numel(), dtype=m.dtype).view_as(m).sin()).sum().backward()
        results.append([m.detach(), xx.grad, uu.grad, w.grad.clone(), b.grad.clone()])
        w.grad = b.grad = None
    _assert_close(*results)


def test_block_with_fused_conv_is_the_gen_block():
    """GNNBlock's edge projection done inside the fused function, folded or not."""
    x, ei, ea = _graph(8)
    torch.manual_seed(0)
    ref = GNNBlock(G, conv="gen", edge_dim=8, dropout=0.0).double()
    fused = GNNBlock(G, conv="gen-fused", edge_dim=8, dropout=0.0).double()
    fused.load_state_dict(ref.state_dict())
    _assert_close(_grads(fused, x, ei, ea), _grads(ref, x, ei, ea))


@pytest.mark.parametrize(
    "preset", ["revgnn-deep", "wt-revgnn-112-64", "resgnn-112-64", "deq-gnn-64"]
)
def test_presets_match_pyg_genconv_unfolded_with_ordinary_autograd(preset):
    """The preset as built (fused GENConv, folded encoder, reversible backward) against
    PyG's GENConv, an unfolded encoder and ordinary autograd: outputs and the gradients
    of the edge features and every parameter, with dropout on (the same masks)."""
    x16 = torch.randn(N, 16, dtype=torch.float64)
    _, ei, ea = _graph(8, seed=1)
    torch.manual_seed(0)
    ours = build_model(preset, hidden_channels=8, num_tasks=5, num_layers=3).double()
    torch.manual_seed(0)
    plain = build_model(
        preset,
        hidden_channels=8,
        num_tasks=5,
        num_layers=3,
        conv="gen",
        **({"fold_edge_encoder": False} if hasattr(ours, "fold_edge_encoder") else {}),
    ).double()
    if hasattr(plain, "memory_efficient"):
        plain.memory_efficient = False
    assert any(isinstance(m, FusedGENConv) for m in ours.modules())
    assert not any(isinstance(m, FusedGENConv) for m in plain.modules())
    plain.load_state_dict(ours.state_dict())
    results = []
    for model in (ours, plain):
        torch.manual_seed(5)
        results.append(_grads(copy.deepcopy(model), x16, ei, ea))
    assert results[1][2].norm() > 0  # the edge features matter
    _assert_close(*results)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="aggr='max'.*'softmax'"):
        make_conv("gen-fused", G, G, edge_dim=G, aggr="softmax")
    with pytest.raises(ValueError, match="in_channels == out_channels"):
        FusedGENConv(G, 2 * G)
    x, ei, ea = _graph(3)
    with pytest.raises(ValueError, match="3 channels .* x has 6"):
        gen_max_aggregate(x, ei, ea)
    with pytest.raises(ValueError, match="chunk_elements"):
        gen_max_aggregate(x, ei, None, chunk_elements=0)


@pytest.mark.parametrize("conv", ["gen-fused", "gen"])
def test_unfolded_encoder_edge_gradients_handed_down_match_ordinary_autograd(conv, monkeypatch):
    """Encoded edge features shared by 5 couplings: their gradient summed in place down
    the stack (grad_handoff) equals ordinary autograd's, as do all parameters'."""
    x16 = torch.randn(N, 16, dtype=torch.float64)
    _, ei, ea = _graph(8, seed=2)
    torch.manual_seed(0)
    kw = dict(hidden_channels=8, num_tasks=5, num_layers=5, conv=conv, fold_edge_encoder=False)
    ours = build_model("revgnn-deep", **kw).double()
    plain = copy.deepcopy(ours)
    plain.memory_efficient = False
    handed = []
    hand_down = PendingGradients.hand_down
    monkeypatch.setattr(
        PendingGradients, "hand_down", lambda self, *a: handed.append(a) or hand_down(self, *a)
    )
    results = []
    for model in (ours, plain):
        torch.manual_seed(5)
        results.append(_grads(model, x16, ei, ea))
    assert len(handed) == 4  # 5 couplings: the top 4 hand theirs down, the lowest returns
    assert results[1][2].norm() > 0
    _assert_close(*results)
