import json
from pathlib import Path

import pytest
import torch

from revgnn_edu import train as train_mod
from revgnn_edu.data.ogbn_proteins import make_fake_ogbn_proteins
from revgnn_edu.train import (CHECKPOINT, METRICS, NonFiniteLossError, TrainConfig,
                              atomic_save, evaluate_checkpoint, main, read_metrics, train)

SMALL = dict(preset="revgnn-deep", num_layers=3, hidden_channels=16, device="cpu",
             num_parts=2, eval_parts=2)


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("fake_proteins")
    make_fake_ogbn_proteins(root, num_nodes=400, num_edges=4000, seed=0)
    return root


def _cfg(root, out, **kw):
    return TrainConfig(data_root=str(root), out=str(out), **{**SMALL, **kw})


def _comparable(rows):
    return [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in rows]


def test_cli_trains_end_to_end(fake_root, tmp_path, capsys):
    code = main(["--preset", "revgnn-deep", "--num-layers", "2", "--hidden-channels", "8",
                 "--data-root", str(fake_root), "--epochs", "2", "--out", str(tmp_path),
                 "--device", "cpu", "--num-parts", "2", "--no-progress",
                 "--fold-edge-encoder"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["epochs_done"] == 2 and 0.0 <= summary["best_valid"] <= 1.0
    rows = read_metrics(tmp_path)
    assert [r["epoch"] for r in rows] == [1, 2]
    stored = torch.load(tmp_path / CHECKPOINT, weights_only=False)["config"]
    assert stored["overrides"] == {"fold_edge_encoder": True}
    assert {"loss", "train_rocauc", "valid_rocauc", "test_rocauc"} <= set(rows[0])
    assert (tmp_path / "best.pt").exists() and (tmp_path / CHECKPOINT).exists()
    assert (tmp_path / "metrics.png").read_bytes()[:4] == b"\x89PNG"  # the plot of the log
    # multi-view scoring of the best model: 1 view x 5 parts (the default) reproduces the log
    scores = evaluate_checkpoint(tmp_path, num_views=1, num_parts=5, device="cpu")
    assert scores["epoch"] == summary["best_epoch"]
    assert scores["valid_rocauc"] == pytest.approx(summary["best_valid"], abs=1e-6)
    many = evaluate_checkpoint(tmp_path, num_views=3, num_parts=3, device="cpu")
    assert 0.0 <= many["test_rocauc"] <= 1.0


def test_training_lowers_the_loss(fake_root, tmp_path):
    train(_cfg(fake_root, tmp_path, epochs=6, lr=0.01), progress=False)
    losses = [r["loss"] for r in read_metrics(tmp_path)]
    assert losses[-1] < losses[0]


def test_resumed_run_follows_the_uninterrupted_trajectory(fake_root, tmp_path):
    cfg = dict(epochs=4, overrides={"dropout": 0.2})
    train(_cfg(fake_root, tmp_path / "full", **cfg), progress=False)
    train(_cfg(fake_root, tmp_path / "cut", **{**cfg, "epochs": 2}), progress=False)
    train(_cfg(fake_root, tmp_path / "cut", **cfg), resume=True, progress=False)
    full = torch.load(tmp_path / "full" / CHECKPOINT, weights_only=False)
    cut = torch.load(tmp_path / "cut" / CHECKPOINT, weights_only=False)
    assert full["epoch"] == cut["epoch"] == 4
    for name, value in full["model"].items():
        assert torch.equal(value, cut["model"][name]), name
    assert _comparable(read_metrics(tmp_path / "full")) == _comparable(read_metrics(tmp_path / "cut"))


def test_resume_drops_log_lines_written_after_the_checkpoint(fake_root, tmp_path):
    train(_cfg(fake_root, tmp_path, epochs=1), progress=False)
    with open(tmp_path / METRICS, "a") as fh:  # a crash after logging epoch 2
        fh.write(json.dumps({"epoch": 2, "loss": 0.0}) + "\n")
    train(_cfg(fake_root, tmp_path, epochs=2), resume=True, progress=False)
    assert [r["epoch"] for r in read_metrics(tmp_path)] == [1, 2]
    assert read_metrics(tmp_path)[1]["loss"] != 0.0


def test_refuses_to_overwrite_a_run_without_resume(fake_root, tmp_path):
    train(_cfg(fake_root, tmp_path, epochs=1), progress=False)
    with pytest.raises(FileExistsError, match="pass --resume"):
        train(_cfg(fake_root, tmp_path, epochs=2), progress=False)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(_cfg(fake_root, tmp_path / "empty", epochs=2), resume=True, progress=False)


def test_atomic_save_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    atomic_save({"epoch": 1}, path)

    def broken_save(obj, fh):
        fh.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(train_mod.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_save({"epoch": 2}, path)
    monkeypatch.undo()
    assert torch.load(path)["epoch"] == 1
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_nan_loss_stops_with_epoch_and_step_and_keeps_the_checkpoint(fake_root, tmp_path,
                                                                      monkeypatch):
    real = train_mod.F.binary_cross_entropy_with_logits
    calls = []

    def nan_from_epoch_two(logits, target):
        calls.append(1)
        loss = real(logits, target)
        return loss * float("nan") if len(calls) > 2 else loss  # 2 steps per epoch

    monkeypatch.setattr(train_mod.F, "binary_cross_entropy_with_logits", nan_from_epoch_two)
    with pytest.raises(NonFiniteLossError, match="at epoch 2, step 0"):
        train(_cfg(fake_root, tmp_path, epochs=3), progress=False)
    assert torch.load(tmp_path / CHECKPOINT, weights_only=False)["epoch"] == 1


def test_bfloat16_autocast_trains(fake_root, tmp_path):
    summary = train(_cfg(fake_root, tmp_path, epochs=1, amp=True), progress=False)
    assert summary["epochs_done"] == 1
    assert all(r["loss"] == r["loss"] for r in read_metrics(tmp_path))  # finite, not NaN


def test_unknown_preset_lists_the_valid_ones(capsys):
    assert main(["--preset", "revgnn-huge"]) == 2
    err = capsys.readouterr().err
    assert "unknown preset 'revgnn-huge'" in err and "revgnn-deep" in err and "deq-gnn-224" in err


def test_missing_dataset_file_is_named(tmp_path, capsys):
    root = make_fake_ogbn_proteins(tmp_path / "data", num_nodes=100, num_edges=500, seed=1)
    missing = next(Path(root).rglob("edge.csv.gz"))
    missing.unlink()
    code = main(["--data-root", str(root), "--epochs", "1", "--out", str(tmp_path / "run"),
                 "--num-layers", "1", "--hidden-channels", "8", "--device", "cpu",
                 "--no-progress"])
    assert code == 1
    assert "edge.csv.gz" in capsys.readouterr().err
