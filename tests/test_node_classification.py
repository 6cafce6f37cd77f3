import matplotlib
import pytest
import torch

from revgnn_edu.data import random_graph
from revgnn_edu.models import PlainGNN
from revgnn_edu.node_classification import accuracy, fit_node_classifier, weight_decay_groups
from revgnn_edu.plotting import plot_curves, plot_sweep

matplotlib.use("Agg")


def _with_split(data):
    n = data.num_nodes
    idx = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    for name, part in zip(("train", "val", "test"), idx.chunk(3)):
        mask = torch.zeros(n, dtype=torch.bool)
        mask[part] = True
        data[f"{name}_mask"] = mask
    return data


def test_accuracy_by_hand():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    y = torch.tensor([0, 0, 0])
    assert accuracy(logits, y, torch.tensor([True, True, False])) == 0.5


def test_fit_learns_graph_labels_and_keeps_best_epoch():
    # labels are arg-max of a linear map of [x_i, mean_j x_j]: one SAGEConv can fit them
    data = _with_split(random_graph(600, 6000, 8, num_classes=3, seed=0))
    model = PlainGNN(8, 32, 3, 1, dropout=0.0, conv="sage")
    result = fit_node_classifier(model, data, epochs=60, lr=0.05, weight_decay=0.0)
    assert len(result.history) == 60
    assert result.best_val_acc == max(r["val_acc"] for r in result.history)
    assert result.best_val_acc > 0.8  # far above chance (1/3)
    model.eval()
    with torch.no_grad():  # the model holds its best-validation weights
        out = model(data.x, data.edge_index)
    assert accuracy(out, data.y, data.test_mask) == pytest.approx(result.test_acc)


def test_fit_bad_input():
    data = random_graph(10, 20, 4, num_classes=2)
    with pytest.raises(ValueError, match="data needs a 'train_mask' attribute"):
        fit_node_classifier(PlainGNN(4, 8, 2, 2), data)
    with pytest.raises(ValueError, match="epochs must be a positive integer, got 0"):
        fit_node_classifier(PlainGNN(4, 8, 2, 2), _with_split(data), epochs=0)


def test_plots_draw_one_line_per_series():
    rows = [{"depth": d, "peak_mib": 2.0 * d} for d in (1, 2, 4)]
    ax = plot_sweep({"a": rows, "b": rows}, x="depth", title="t")
    assert len(ax.lines) == 2 and ax.get_title() == "t"
    assert list(ax.lines[0].get_xdata()) == [1, 2, 4]
    history = [{"epoch": i, "loss": 1.0 / (i + 1)} for i in range(5)]
    ax = plot_curves(history, ["loss"])
    assert len(ax.lines) == 1 and ax.get_xlabel() == "epoch"


def test_fit_seeds_matches_one_run_per_seed():
    from revgnn_edu.node_classification import fit_seeds

    data = _with_split(random_graph(200, 1000, 8, num_classes=3, seed=0))

    def make(seed):
        return PlainGNN(8, 16, 3, 2, dropout=0.5, conv="sage")

    results = fit_seeds(make, data, [3, 5], epochs=5, lr=0.05)
    assert [len(r.history) for r in results] == [5, 5]
    for seed, result in zip([3, 5], results):  # seed s: manual_seed(s), build, train
        torch.manual_seed(seed)
        alone = fit_node_classifier(make(seed), data, epochs=5, lr=0.05)
        assert [h["loss"] for h in alone.history] == [h["loss"] for h in result.history]
    assert results[0].history[0]["loss"] != results[1].history[0]["loss"]  # seeds differ


def test_fit_seeds_bad_input():
    from revgnn_edu.node_classification import fit_seeds

    data = _with_split(random_graph(10, 20, 4, num_classes=2))
    make = lambda seed: PlainGNN(4, 8, 2, 2)  # noqa: E731
    with pytest.raises(ValueError, match=r"seeds must be a non-empty list of integers, got \[\]"):
        fit_seeds(make, data, [])
    with pytest.raises(ValueError, match=r"seeds must not repeat"):
        fit_seeds(make, data, [1, 1])
    with pytest.raises(ValueError, match="make_model must be a callable"):
        fit_seeds("gcn", data, [0])
    with pytest.raises(ValueError, match=r"make_model\(0\) must return an nn.Module, got str"):
        fit_seeds(lambda seed: "gcn", data, [0], epochs=1)


def test_fit_stops_after_patience_at_lowest_validation_loss():
    data = _with_split(random_graph(600, 6000, 8, num_classes=3, seed=0))
    data.y = torch.randint(0, 3, (600,))  # random labels: fitting them overfits
    model = PlainGNN(8, 64, 3, 1, dropout=0.0, conv="sage")
    result = fit_node_classifier(
        model, data, epochs=500, lr=0.05, weight_decay=0.0, patience=5, select="val_loss"
    )
    losses = [r["val_loss"] for r in result.history]
    assert result.best_epoch == losses.index(min(losses))
    assert result.best_val_loss == min(losses)
    assert len(result.history) == result.best_epoch + 5 + 1 < 500  # stopped early
    assert result.best_val_acc == result.history[result.best_epoch]["val_acc"]


def test_weight_decay_per_parameter_prefix():
    model = PlainGNN(4, 8, 2, 2)
    groups = weight_decay_groups(model, {"convs.0.": 5e-4, "": 0.0})
    assert [g["weight_decay"] for g in groups] == [5e-4, 0.0]
    assert [len(g["params"]) for g in groups] == [2, 2]  # weight and bias of each conv
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in model.convs[0].parameters()}
    with pytest.raises(ValueError, match=r"parameter 'convs.1.bias' matches no prefix"):
        weight_decay_groups(model, {"convs.0.": 5e-4, "convs.1.lin": 0.0})
    with pytest.raises(ValueError, match="must map parameter-name prefixes"):
        weight_decay_groups(model, {"": -1.0})
    data = _with_split(random_graph(10, 20, 4, num_classes=2))
    with pytest.raises(ValueError, match="select must be one of 'val_acc', 'val_loss'"):
        fit_node_classifier(model, data, select="loss")
    with pytest.raises(ValueError, match="patience must be a positive integer, got 0"):
        fit_node_classifier(model, data, patience=0)
