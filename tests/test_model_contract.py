"""The model contract: one base constructor, hooks for the layers and the node encoder,
solver options in one argument, and state dicts that keep their keys."""

import inspect
import warnings

import pytest
import torch
from torch import nn

from revgnn_edu.models import (
    DEQGNN,
    PRESETS,
    PlainGNN,
    ResGNN,
    RevGNN,
    WTResGNN,
    WTRevGNN,
    build_model,
)
from revgnn_edu.models.base import DeepGNN, GNNBase
from revgnn_edu.models.presets import ProteinsNodeEncoder
from revgnn_edu.solvers import ConvergenceWarning

SIZES = ["in_channels", "hidden_channels", "out_channels", "num_layers"]
BASE_ARGUMENTS = {"edge_dim", "dropout", "node_encoder"}
FAMILIES = [ResGNN, RevGNN, WTResGNN, WTRevGNN, DEQGNN]


def test_one_constructor_declares_the_four_sizes():
    assert list(inspect.signature(GNNBase.__init__).parameters)[1:] == SIZES


@pytest.mark.parametrize(
    "cls,passed_on",
    [
        (DeepGNN, set(SIZES)),
        (PlainGNN, set(SIZES)),
        (ResGNN, set(SIZES) | BASE_ARGUMENTS),
        (RevGNN, set(SIZES) | BASE_ARGUMENTS),
        (DEQGNN, set(SIZES) | BASE_ARGUMENTS),
    ],
    ids=lambda c: getattr(c, "__name__", ""),
)
def test_subclasses_declare_only_their_own_arguments(cls, passed_on):
    params = inspect.signature(cls.__init__).parameters
    assert not passed_on & set(params)  # passed on with *args and **kwargs
    kinds = [p.kind for p in params.values()]
    assert inspect.Parameter.VAR_POSITIONAL in kinds and inspect.Parameter.VAR_KEYWORD in kinds
    assert issubclass(cls, GNNBase)


@pytest.mark.parametrize("cls", FAMILIES, ids=lambda c: c.__name__)
def test_node_encoder_hook_and_encoded_edge_width(cls, graph32):
    def encoder(in_channels, hidden_channels):
        return nn.Sequential(nn.Dropout(0.5), nn.Linear(in_channels, hidden_channels))

    model = cls(6, 8, 3, 2, edge_dim=4, node_encoder=encoder)
    assert isinstance(model.node_encoder, nn.Sequential)
    assert model.layer_edge_dim == 8 and cls(6, 8, 3, 2).layer_edge_dim is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # DEQ-GNN: 2 iterations
        assert model(graph32.x, graph32.edge_index, graph32.edge_attr).shape == (30, 3)
    assert not hasattr(model, "_block_args")


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_build_model_is_the_family_constructor_with_the_proteins_encoder(preset):
    spec = PRESETS[preset]
    torch.manual_seed(0)
    built = build_model(preset, hidden_channels=8, num_tasks=5, num_layers=2)
    torch.manual_seed(0)
    direct = type(built)(
        16, 8, 5, 2, edge_dim=8, dropout=spec.dropout, node_encoder=ProteinsNodeEncoder
    )
    assert str(built) == str(direct)
    for (name, a), (_, b) in zip(built.state_dict().items(), direct.state_dict().items()):
        assert torch.equal(a, b), name


def test_build_model_takes_width_before_depth_as_keywords():
    params = list(inspect.signature(build_model).parameters.values())
    assert [p.name for p in params[1:4]] == ["hidden_channels", "num_tasks", "num_layers"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[1:4])
    with pytest.raises(TypeError):
        build_model("revgnn-deep", 16)
    assert [f for f in PRESETS["revgnn-deep"].__dataclass_fields__][:3] == [
        "family",
        "hidden_channels",
        "num_layers",
    ]


def test_plain_gnn_dropout_default_is_the_other_models():
    assert PlainGNN(6, 8, 3, 2).dropout.p == ResGNN(6, 8, 3, 2).dropout == 0.0


# -- DEQGNN(solver_options=...) -------------------------------------------------------------
def test_deq_solver_options():
    with warnings.catch_warnings():
        warnings.simplefilter("error", PendingDeprecationWarning)  # the documented way
        model = DEQGNN(
            6,
            8,
            3,
            7,
            solver_options=dict(solver="broyden", tol=1e-9, backward_tol=1e-3, jacobian_free=True),
        )
    deq = model.deq
    assert (deq.tol, deq.backward_tol, deq.jacobian_free) == (1e-9, 1e-3, True)
    assert deq.solver.__name__ == "broyden" and deq.max_iter == deq.backward_max_iter == 7
    model.num_layers = 4
    assert deq.max_iter == deq.backward_max_iter == 4
    fixed = DEQGNN(6, 8, 3, 7, solver_options=dict(backward_max_iter=9))
    fixed.num_layers = 4
    assert fixed.deq.max_iter == 4 and fixed.deq.backward_max_iter == 9


def test_deq_solver_keywords_still_work_with_a_pending_deprecation_warning():
    # recorded by hand: pytest.warns would re-emit PyG's own warnings, unfiltered
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PendingDeprecationWarning)
        model = DEQGNN(6, 8, 3, 7, tol=1e-9)
    ours = [w for w in caught if w.category is PendingDeprecationWarning]
    assert [str(w.message) for w in ours] == [
        "DEQGNN(tol=...): pass the solver's options as solver_options={'tol': ...}"
    ]
    assert ours[0].filename == __file__  # it points at the caller
    assert model.deq.tol == 1e-9
    with (
        pytest.warns(PendingDeprecationWarning),
        pytest.raises(ValueError, match=r"\['tol'\] both as keywords and in solver_options"),
    ):
        DEQGNN(6, 8, 3, 7, tol=1e-9, solver_options={"tol": 1e-3})


def test_deq_solver_options_reject_unknown_keys():
    with pytest.raises(
        ValueError,
        match=r"solver_options key must be one of 'solver', .* \(max_iter is num_layers\), "
        "got 'max_iter'",
    ):
        DEQGNN(6, 8, 3, 7, solver_options={"max_iter": 3})
    with pytest.raises(TypeError, match="unexpected keyword argument 'tolerance'"):
        DEQGNN(6, 8, 3, 7, tolerance=1e-3)


# -- state dicts keep their keys (checkpoints of the trainer load) --------------------------
HEAD = ["head_norm.weight", "head_norm.bias", "head.weight", "head.bias"]
ENCODERS = [
    "node_encoder.species.weight",
    "node_encoder.species.bias",
    "node_encoder.lin.weight",
    "node_encoder.lin.bias",
    "edge_encoder.weight",
    "edge_encoder.bias",
]
MLP = [f"mlp.{i}.{p}" for i in (0, 1, 4) for p in ("weight", "bias")]  # GENConv's
GENCONV = [f"conv.{k}" for k in MLP]
BLOCK = ["norm.weight", "norm.bias"] + GENCONV


def _rev_layer(l):
    return [
        f"layers.{l}.blocks.{i}.{k}"
        for i in range(2)
        for k in ["norm.weight", "norm.bias", "edge_proj.weight", "edge_proj.bias"] + GENCONV
    ]


STATE_DICT_KEYS = {
    "revgnn-112-64": ENCODERS + HEAD + _rev_layer(0) + _rev_layer(1),
    "wt-revgnn-112-64": ENCODERS + HEAD + _rev_layer(0),
    "resgnn-112-64": ENCODERS + HEAD + [f"layers.{l}.block.{k}" for l in (0, 1) for k in BLOCK],
    "deq-gnn-64": ENCODERS
    + HEAD
    + [f"deq.f.{c}.{k}" for c in ("conv1", "conv2") for k in MLP]
    + [f"deq.f.norm{i}.{p}" for i in (1, 2) for p in ("weight", "bias")],
}


@pytest.mark.parametrize("preset", sorted(STATE_DICT_KEYS))
def test_state_dict_keys_are_the_trainers_checkpoint_keys(preset):
    model = build_model(preset, hidden_channels=4, num_layers=2)
    assert sorted(model.state_dict()) == sorted(STATE_DICT_KEYS[preset])
    twin = build_model(preset, hidden_channels=4, num_layers=2)
    twin.load_state_dict(model.state_dict())  # strict
