import pytest
import torch

from revgnn_edu.complexity import count_parameters as _count
from revgnn_edu.data import NODE_INPUT_CHANNELS
from revgnn_edu.models import ResGNN, RevGNN
from revgnn_edu.models.presets import PRESETS, ProteinsNodeEncoder, build_model, get_preset


@pytest.mark.parametrize(
    "preset,params,layers,width",
    [
        ("revgnn-deep", 20_031_384, 1001, 80),  # OGB leaderboard counts
        ("revgnn-wide", 68_471_608, 448, 224),
    ],
)
def test_published_parameter_counts(preset, params, layers, width):
    with torch.device("meta"):  # no memory, no initialisation cost
        model = build_model(preset)
    assert _count(model) == params
    assert isinstance(model, RevGNN) and model.num_layers == layers
    assert model.hidden_channels == width and model.num_groups == 2


def test_parameters_per_reversible_layer_are_12g2_plus_20g():
    for width in (64, 80, 224):
        g = width // 2
        one = build_model("revgnn-112-64", num_layers=1, hidden_channels=width)
        two = build_model("revgnn-112-64", num_layers=2, hidden_channels=width)
        assert _count(two) - _count(one) == 12 * g * g + 20 * g


@pytest.mark.parametrize("preset", ["resgnn-112-64", "revgnn-112-80", "revgnn-112-224"])
def test_112_layer_family(preset):
    with torch.device("meta"):
        model = build_model(preset)
    assert model.num_layers == 112
    assert model.hidden_channels == int(preset.rsplit("-", 1)[1])
    assert isinstance(model, ResGNN if preset.startswith("resgnn") else RevGNN)


def test_every_preset_is_listed_with_its_family():
    assert set(PRESETS) == {
        "revgnn-deep",
        "revgnn-wide",
        "resgnn-112-64",
        "revgnn-112-64",
        "revgnn-112-80",
        "revgnn-112-224",
        "wt-revgnn-112-64",
        "wt-revgnn-112-80",
        "wt-revgnn-112-224",
        "deq-gnn-64",
        "deq-gnn-224",
    }


def test_shrunk_preset_runs_forward_and_backward():
    model = build_model("revgnn-deep", num_layers=3, hidden_channels=16, num_tasks=5)
    x = torch.cat([torch.rand(20, 8), torch.eye(8)[torch.randint(0, 8, (20,))]], dim=1)
    edge_index = torch.randint(0, 20, (2, 60))
    out = model(x, edge_index, torch.rand(60, 8))
    assert out.shape == (20, 5)
    out.sum().backward()
    assert isinstance(model.node_encoder, ProteinsNodeEncoder) and model.num_layers == 3


def test_proteins_node_encoder_by_hand():
    enc = ProteinsNodeEncoder(NODE_INPUT_CHANNELS, 4)
    x = torch.rand(3, NODE_INPUT_CHANNELS)
    by_hand = enc.lin(
        torch.cat([x[:, :8], x[:, 8:] @ enc.species.weight.t() + enc.species.bias], 1)
    )
    assert torch.allclose(enc(x), by_hand)
    assert _count(enc) == 8 * 8 + 8 + 16 * 4 + 4
    with pytest.raises(ValueError, match=r"x must have shape \(N, 16\), got \(3, 8\)"):
        enc(torch.rand(3, 8))
    with pytest.raises(ValueError, match=r"in_channels must be one of 16, got 12"):
        ProteinsNodeEncoder(12, 4)


@pytest.mark.parametrize("lookup", [build_model, get_preset])
def test_unknown_preset_lists_valid_names(lookup):
    names = r"'revgnn-deep', 'revgnn-wide', .*'deq-gnn-224'"
    with pytest.raises(ValueError, match=f"preset must be one of {names}, got 'revgnn-huge'"):
        lookup("revgnn-huge")


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_builds_shrunk_and_trains_a_step(preset):
    from revgnn_edu.models import DEQGNN, WTRevGNN

    model = build_model(preset, num_layers=2, hidden_channels=16, num_tasks=4)
    family = PRESETS[preset].family
    expected = {"ResGNN": ResGNN, "RevGNN": RevGNN, "WT-RevGNN": WTRevGNN, "DEQ-GNN": DEQGNN}
    assert type(model) is expected[family]
    x = torch.cat([torch.rand(20, 8), torch.eye(8)[torch.randint(0, 8, (20,))]], dim=1)

    def step():
        return model(x, torch.randint(0, 20, (2, 60)), torch.rand(60, 8))

    if family == "DEQ-GNN":  # 2 solver iterations cannot converge: it must say so
        from revgnn_edu.solvers import ConvergenceWarning

        with pytest.warns(ConvergenceWarning, match="did not converge after 2 iterations"):
            out = step()
            out.sum().backward()
    else:
        out = step()
        out.sum().backward()
    assert out.shape == (20, 4)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(num_layers=0), "num_layers must be a positive integer, got 0"),
        (dict(num_layers=-3), "num_layers must be a positive integer, got -3"),
        (dict(hidden_channels=0), "hidden_channels must be a positive integer, got 0"),
        (dict(hidden_channels=-8), "hidden_channels must be a positive integer, got -8"),
        (dict(num_tasks=0), "num_tasks must be a positive integer, got 0"),
    ],
)
def test_build_model_rejects_zero_and_negative_sizes(kwargs, match):
    # None keeps the preset's value; 0 is an error, not "the preset's value"
    with pytest.raises(ValueError, match=match):
        build_model("revgnn-112-64", **kwargs)


def _all_model_classes():
    from revgnn_edu.models import DEQGNN, PlainGNN, WTResGNN, WTRevGNN

    return [PlainGNN, ResGNN, RevGNN, WTResGNN, WTRevGNN, DEQGNN]


@pytest.mark.parametrize("cls", _all_model_classes(), ids=lambda c: c.__name__)
def test_one_constructor_contract(cls):
    """(in_channels, hidden_channels, out_channels, num_layers, *, ...) for every model:
    a fifth positional argument is an error (it was num_groups in RevGNN but edge_dim
    in ResGNN), and num_layers has no default."""
    assert cls(6, 8, 3, 2).hidden_channels == 8
    with pytest.raises(TypeError, match="positional argument"):
        cls(6, 8, 3, 2, 4)
    with pytest.raises(TypeError, match="num_layers"):
        cls(6, 8, 3)
    for name in ("in_channels", "hidden_channels", "out_channels", "num_layers"):
        args = dict(in_channels=6, hidden_channels=8, out_channels=3, num_layers=2)
        args[name] = 0
        with pytest.raises(ValueError, match=f"{name} must be a positive integer, got 0"):
            cls(**args)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_predict_preset_parameters_counts_build_model(preset):
    from revgnn_edu.complexity import predict_preset_parameters

    with torch.device("meta"):
        model = build_model(preset)
    assert predict_preset_parameters(preset) == _count(model)


def test_predict_preset_parameters_published_counts():
    from revgnn_edu.complexity import predict_preset_parameters

    assert predict_preset_parameters("revgnn-deep") == 20_031_384
    assert predict_preset_parameters("revgnn-wide") == 68_471_608
    with pytest.raises(ValueError, match="preset must be one of .* got 'revgnn-huge'"):
        predict_preset_parameters("revgnn-huge")


def test_preset_families_are_the_class_families():
    from revgnn_edu.models import FAMILIES, family_name

    for spec in PRESETS.values():
        assert spec.family in FAMILIES
    assert family_name("wt-revgnn") == family_name("WTRevGNN") == "WT-RevGNN"
    with pytest.raises(ValueError, match="model family must be one of"):
        family_name("gcn")


def _every_module():
    """One instance of every module class of the package."""
    from revgnn_edu.models import DEQGNN, PlainGNN, WTResGNN, WTRevGNN
    from revgnn_edu.nn import (
        DEQFixedPoint,
        DEQGraphBlock,
        GNNBlock,
        GroupReversible,
        ResBlock,
        SharedDropout,
    )

    return [
        PlainGNN(6, 8, 3, 2),
        ResGNN(6, 8, 3, 2, edge_dim=4),
        RevGNN(6, 8, 3, 2),
        RevGNN(6, 8, 3, 2, edge_dim=4, fold_edge_encoder=True),
        WTResGNN(6, 8, 3, 2),
        WTRevGNN(6, 8, 3, 2, edge_dim=4),
        DEQGNN(6, 8, 3, 2, edge_dim=4),
        build_model("revgnn-112-64", num_layers=2),
        GNNBlock(4, edge_dim=3),
        ResBlock(4),
        DEQGraphBlock(4),
        GroupReversible([GNNBlock(4), GNNBlock(4)]),
        DEQFixedPoint(DEQGraphBlock(4)),
        ProteinsNodeEncoder(16, 4),
        SharedDropout(0.1),
    ]


@pytest.mark.parametrize("module", _every_module(), ids=lambda m: type(m).__name__)
def test_reset_parameters_reinitializes_every_parameter(module):
    with torch.no_grad():
        for p in module.parameters():
            p.fill_(7.0)
    module.reset_parameters()
    for name, p in module.named_parameters():
        assert not torch.all(p == 7.0), name
