import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from revgnn_edu.train import (
    CHECKPOINT,
    METRICS,
    NonFiniteLossError,
    TrainConfig,
    atomic_save,
    evaluate_checkpoint,
    load_checkpoint,
    main,
    read_metrics,
    train,
)

SMALL = dict(
    preset="revgnn-deep", num_layers=3, hidden_channels=16, device="cpu", num_parts=2, eval_parts=2
)


def _cfg(root, out, **kw):
    return TrainConfig(data_root=str(root), out=str(out), **{**SMALL, **kw})


def _comparable(rows):  # what a resumed run must reproduce
    return [
        {k: v for k, v in r.items() if k not in ("epoch_seconds", "config_changes")} for r in rows
    ]


def test_cli_trains_end_to_end(proteins_root, tmp_path, capsys):
    code = main(
        [
            "--preset",
            "revgnn-deep",
            "--num-layers",
            "2",
            "--hidden-channels",
            "8",
            "--data-root",
            str(proteins_root),
            "--epochs",
            "2",
            "--out",
            str(tmp_path),
            "--device",
            "cpu",
            "--num-parts",
            "2",
            "--no-progress",
            "--fold-edge-encoder",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["epochs_done"] == 2 and 0.0 <= summary["best_valid"] <= 1.0
    rows = read_metrics(tmp_path)
    assert [r["epoch"] for r in rows] == [1, 2]
    stored = load_checkpoint(tmp_path / CHECKPOINT)["config"]
    assert stored["fold_edge_encoder"] is True and stored["overrides"] == {}
    assert {"loss", "train_rocauc", "valid_rocauc", "test_rocauc"} <= set(rows[0])
    assert (tmp_path / "best.pt").exists() and (tmp_path / CHECKPOINT).exists()
    assert (tmp_path / "metrics.png").read_bytes()[:4] == b"\x89PNG"  # the plot of the log
    # multi-view scoring of the best model: 1 view x 5 parts (the default) reproduces the log
    scores = evaluate_checkpoint(tmp_path, num_views=1, num_parts=5, device="cpu")
    assert scores["epoch"] == summary["best_epoch"]
    assert scores["valid_rocauc"] == pytest.approx(summary["best_valid"], abs=1e-6)
    many = evaluate_checkpoint(tmp_path, num_views=3, num_parts=3, device="cpu")
    assert 0.0 <= many["test_rocauc"] <= 1.0


def test_training_lowers_the_loss(proteins_root, tmp_path):
    train(_cfg(proteins_root, tmp_path, epochs=6, lr=0.01), progress=False)
    losses = [r["loss"] for r in read_metrics(tmp_path)]
    assert losses[-1] < losses[0]


def test_resumed_run_follows_the_uninterrupted_trajectory(proteins_root, tmp_path):
    cfg = dict(epochs=4, overrides={"dropout": 0.2})
    train(_cfg(proteins_root, tmp_path / "full", **cfg), progress=False)
    train(_cfg(proteins_root, tmp_path / "cut", **{**cfg, "epochs": 2}), progress=False)
    train(_cfg(proteins_root, tmp_path / "cut", **cfg), resume=True, progress=False)
    full = load_checkpoint(tmp_path / "full" / CHECKPOINT)
    cut = load_checkpoint(tmp_path / "cut" / CHECKPOINT)
    assert full["epoch"] == cut["epoch"] == 4
    for name, value in full["model"].items():
        assert torch.equal(value, cut["model"][name]), name
    assert _comparable(read_metrics(tmp_path / "full")) == _comparable(
        read_metrics(tmp_path / "cut")
    )


def test_resume_drops_log_lines_written_after_the_checkpoint(proteins_root, tmp_path):
    train(_cfg(proteins_root, tmp_path, epochs=1), progress=False)
    with open(tmp_path / METRICS, "a") as fh:  # a crash after logging epoch 2
        fh.write(json.dumps({"epoch": 2, "loss": 0.0}) + "\n")
    train(_cfg(proteins_root, tmp_path, epochs=2), resume=True, progress=False)
    assert [r["epoch"] for r in read_metrics(tmp_path)] == [1, 2]
    assert read_metrics(tmp_path)[1]["loss"] != 0.0


def test_refuses_to_overwrite_a_run_without_resume(proteins_root, tmp_path):
    train(_cfg(proteins_root, tmp_path, epochs=1), progress=False)
    with pytest.raises(FileExistsError, match="pass --resume"):
        train(_cfg(proteins_root, tmp_path, epochs=2), progress=False)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(_cfg(proteins_root, tmp_path / "empty", epochs=2), resume=True, progress=False)


def test_atomic_save_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    atomic_save({"epoch": 1}, path)

    def broken_save(obj, fh):
        fh.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_save({"epoch": 2}, path)
    monkeypatch.undo()
    assert torch.load(path)["epoch"] == 1
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_nan_loss_stops_with_epoch_and_step_and_keeps_the_checkpoint(
    proteins_root, tmp_path, monkeypatch
):
    real = F.binary_cross_entropy_with_logits
    calls = []

    def nan_from_epoch_two(logits, target):
        calls.append(1)
        loss = real(logits, target)
        return loss * float("nan") if len(calls) > 2 else loss  # 2 steps per epoch

    monkeypatch.setattr(F, "binary_cross_entropy_with_logits", nan_from_epoch_two)
    with pytest.raises(NonFiniteLossError, match="at epoch 2, step 0"):
        train(_cfg(proteins_root, tmp_path, epochs=3), progress=False)
    assert load_checkpoint(tmp_path / CHECKPOINT)["epoch"] == 1


def test_bfloat16_autocast_trains(proteins_root, tmp_path, capsys):
    summary = train(_cfg(proteins_root, tmp_path, epochs=1, amp=True), progress=False)
    # reversible layers rebuilt in bfloat16 drift with depth: the user is told
    assert "--amp recomputes the reversible layers' inputs in bfloat16" in capsys.readouterr().err
    assert summary["epochs_done"] == 1
    assert all(r["loss"] == r["loss"] for r in read_metrics(tmp_path))  # finite, not NaN


def test_unknown_preset_lists_the_valid_ones(capsys):
    assert main(["--preset", "revgnn-huge"]) == 2
    err = capsys.readouterr().err
    assert "preset must be one of 'revgnn-deep', " in err and "got 'revgnn-huge'" in err
    assert "deq-gnn-224" in err


def test_missing_dataset_file_is_named(proteins_root, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(proteins_root, root)
    missing = next(Path(root).rglob("edge.csv.gz"))
    missing.unlink()
    code = main(
        [
            "--data-root",
            str(root),
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "run"),
            "--num-layers",
            "1",
            "--hidden-channels",
            "8",
            "--device",
            "cpu",
            "--no-progress",
        ]
    )
    assert code == 1
    assert "edge.csv.gz" in capsys.readouterr().err


# -- 3. --resume: fixed fields must match, changeable ones change and are logged --------
def test_resume_refuses_a_different_architecture_listing_every_difference(
    proteins_root, tmp_path, capsys
):
    train(_cfg(proteins_root, tmp_path, epochs=1), progress=False)
    code = main(
        [
            "--out",
            str(tmp_path),
            "--resume",
            "--epochs",
            "2",
            "--num-layers",
            "5",
            "--num-parts",
            "4",
            "--no-progress",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "num_layers: checkpoint 3, asked 5" in err and "num_parts: checkpoint 2, asked 4" in err
    assert load_checkpoint(tmp_path / CHECKPOINT)["epoch"] == 1  # nothing trained


def test_resume_changes_the_learning_rate_and_logs_it(proteins_root, tmp_path):
    train(_cfg(proteins_root, tmp_path, epochs=1, lr=0.01), progress=False)
    # only the flags given change: data root, device, architecture come from the checkpoint
    assert (
        main(
            ["--out", str(tmp_path), "--resume", "--epochs", "3", "--lr", "0.002", "--no-progress"]
        )
        == 0
    )
    rows = read_metrics(tmp_path)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[1]["config_changes"] == {"epochs": [1, 3], "lr": [0.01, 0.002]}
    assert "config_changes" not in rows[2]
    ckpt = load_checkpoint(tmp_path / CHECKPOINT)
    assert ckpt["config"]["lr"] == 0.002 and ckpt["config"]["num_layers"] == 3
    assert [g["lr"] for g in ckpt["optimizer"]["param_groups"]] == [0.002]


# -- 4. 0 and negatives are errors, not "the preset's default" --------------------------
@pytest.mark.parametrize(
    "flag,value,message",
    [
        ("--num-layers", "0", "num_layers must be an integer in 1..100000, got 0"),
        ("--num-layers", str(2**70), "num_layers must be an integer in 1..100000, got 1180"),
        ("--hidden-channels", "-8", "hidden_channels must be an integer in 1..65536, got -8"),
        ("--epochs", "0", "epochs must be a positive integer, got 0"),
        ("--lr", "1e38", "lr must be in (0, 1]"),
        ("--lr", "nan", "lr must be a positive finite number, got nan"),
        ("--num-parts", "two", "expected an integer, got 'two'"),
        ("--seed", "1000000000000000", "seed must be an integer in 0..4294967295"),
        ("--seed", "-1", "seed must be an integer in 0..4294967295"),
        ("--out", "", "out must be a non-empty string, got ''"),
        ("--dist-timeout", "0", "dist_timeout must be a positive finite number, got 0.0"),
    ],
)
def test_bad_numbers_are_rejected_by_the_command_line(flag, value, message, capsys):
    assert main([flag, value]) == 2
    assert message in capsys.readouterr().err


def test_bad_numbers_are_rejected_by_the_config(tmp_path):
    with pytest.raises(
        ValueError, match=r"hidden_channels must be an integer in 1\.\.65536, got 0"
    ):
        train(TrainConfig(out=str(tmp_path), hidden_channels=0), progress=False)
    assert not any(tmp_path.iterdir())  # refused before touching the folder


def test_every_config_field_but_overrides_is_a_flag():
    from dataclasses import fields

    from revgnn_edu.train.config import build_parser

    flags = {a.dest for a in build_parser()._actions}
    assert {f.name for f in fields(TrainConfig)} - flags == {"overrides"}
    assert {"clip", "node_aggr", "fold_edge_encoder"} <= flags


# -- 9. messages that say what happened ------------------------------------------------
def test_nan_in_the_first_epoch_does_not_claim_a_checkpoint(proteins_root, tmp_path, monkeypatch):
    real = F.binary_cross_entropy_with_logits
    monkeypatch.setattr(
        F,
        "binary_cross_entropy_with_logits",
        lambda logits, target: real(logits, target) * float("nan"),
    )
    with pytest.raises(NonFiniteLossError) as err:
        train(_cfg(proteins_root, tmp_path, epochs=2), progress=False)
    assert "at epoch 1, step 0" in str(err.value) and "No checkpoint was written yet" in str(
        err.value
    )
    assert "epoch 0" not in str(err.value) and not (tmp_path / CHECKPOINT).exists()


def test_nan_first_seen_in_evaluation_names_the_epoch(proteins_root, tmp_path, monkeypatch):
    import revgnn_edu.train.evaluation as evaluation

    real = evaluation.multi_view_predict
    calls = []

    def nan_in_second_evaluation(*args, **kwargs):
        calls.append(1)
        pred = real(*args, **kwargs)
        return pred * float("nan") if len(calls) == 2 else pred

    monkeypatch.setattr(evaluation, "multi_view_predict", nan_in_second_evaluation)
    with pytest.raises(NonFiniteLossError, match="evaluating epoch 2") as err:
        train(_cfg(proteins_root, tmp_path, epochs=3), progress=False)
    assert f"checkpoint of epoch 1 ({tmp_path / CHECKPOINT}) is intact" in str(err.value)
    assert load_checkpoint(tmp_path / CHECKPOINT)["epoch"] == 1


def test_the_nan_advice_works(proteins_root, tmp_path, monkeypatch):
    real = F.binary_cross_entropy_with_logits
    calls = []

    def nan_in_epoch_two(logits, target):
        calls.append(1)
        return real(logits, target) * (float("nan") if len(calls) == 3 else 1.0)

    monkeypatch.setattr(F, "binary_cross_entropy_with_logits", nan_in_epoch_two)
    with pytest.raises(NonFiniteLossError, match="--resume and a lower --lr"):
        train(_cfg(proteins_root, tmp_path, epochs=2), progress=False)
    train(_cfg(proteins_root, tmp_path, epochs=2, lr=1e-4), resume=True, progress=False)
    assert read_metrics(tmp_path)[1]["config_changes"] == {"lr": [1e-3, 1e-4]}


# -- 11. DEQ: every solve is counted and logged --------------------------------------
def test_deq_solver_statistics_are_logged_and_non_convergence_is_visible(
    proteins_root, tmp_path, capsys
):
    code = main(
        [
            "--preset",
            "deq-gnn-64",
            "--num-layers",
            "2",
            "--hidden-channels",
            "8",
            "--data-root",
            str(proteins_root),
            "--epochs",
            "2",
            "--out",
            str(tmp_path),
            "--device",
            "cpu",
            "--num-parts",
            "2",
            "--eval-parts",
            "2",
            "--no-progress",
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    rows = read_metrics(tmp_path)
    for row in rows:  # 2 training steps (forward + adjoint solve) and 2 evaluation parts
        assert row["deq_forward_solves"] == 2 and row["deq_backward_solves"] == 2
        assert row["deq_eval_solves"] == 2
        assert 1 <= row["deq_forward_iterations_mean"] <= row["deq_forward_iterations_max"] <= 2
        assert row["deq_forward_residual_max"] > 0
    logged = sum(r[f"deq_{k}_unconverged"] for r in rows for k in ("forward", "backward", "eval"))
    assert summary["deq_solves"] == 12 and summary["deq_unconverged_solves"] == logged
    assert logged > 2  # two iterations cannot reach tol 1e-4: more than Python would warn
    assert f"warning: {logged} of 12 DEQ solves did not reach their tolerance" in captured.err


# -- 12. settings checked before anything runs -------------------------------------------
def _small_cli(root, out, *extra):
    return [
        *("--data-root", str(root), "--out", str(out), "--num-layers", "1"),
        *("--hidden-channels", "8", "--device", "cpu", "--num-parts", "2", "--no-progress"),
        *extra,
    ]


def test_an_empty_out_is_refused_and_the_current_folder_untouched(
    proteins_root, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "best.pt").write_text("somebody's file")
    assert main(_small_cli(proteins_root, "", "--epochs", "1")) == 2
    assert "out must be a non-empty string, got ''" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["best.pt"]
    with pytest.raises(ValueError, match="out must be a non-empty string"):
        train(_cfg(proteins_root, "", epochs=1), progress=False)
    assert os.listdir(tmp_path) == ["best.pt"]


def test_a_seed_out_of_range_is_refused_before_training(proteins_root, tmp_path):
    with pytest.raises(ValueError, match=r"seed must be an integer in 0\.\.4294967295"):
        train(_cfg(proteins_root, tmp_path, epochs=1, seed=10**15), progress=False)
    assert not any(tmp_path.iterdir())


def test_more_parts_than_nodes_names_the_flag(proteins_root, tmp_path, capsys):
    assert main(_small_cli(proteins_root, tmp_path, "--epochs", "1", "--eval-parts", "500")) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: --eval-parts 500 is more than the 300 nodes of the dataset: each part needs "
        "at least one node"
    )


def test_torchrun_asking_for_cuda_without_cuda_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    env = dict(WORLD_SIZE="2", RANK="0", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT="9")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["--device", "cuda", "--out", str(tmp_path / "run"), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "error: --device cuda was asked for but CUDA is not available"


# -- 13. a resumed run sees the dataset it was trained on -------------------------------
def test_resume_refuses_another_dataset_of_the_same_size(fake_proteins, tmp_path, capsys):
    train(_cfg(fake_proteins(), tmp_path, epochs=1), progress=False)
    other = fake_proteins(seed=1)  # the same counts, other content
    args = ["--out", str(tmp_path), "--resume", "--epochs", "2", "--data-root", str(other)]
    assert main([*args, "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: the dataset in {other} (") and err.count("'crc32'") == 2
    assert f"is not the one {tmp_path / CHECKPOINT} was trained on" in err
    assert load_checkpoint(tmp_path / CHECKPOINT)["epoch"] == 1


def test_the_trainer_draws_with_matplotlib_only_when_it_plots():
    code = "import sys, revgnn_edu.train.loop; print('matplotlib' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, env=env
    )
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.parametrize("fold", [True, False])
def test_fold_edge_encoder_flag_reaches_the_reversible_presets(fold):
    """The presets fold by default; --no-fold-edge-encoder must give the unfolded model
    (it used to be ignored: the preset's default folded anyway)."""
    from revgnn_edu.train.builders import build_model
    from revgnn_edu.train.config import build_parser

    flag = "--fold-edge-encoder" if fold else "--no-fold-edge-encoder"
    args = build_parser().parse_args(["--preset", "revgnn-deep", flag])
    assert args.fold_edge_encoder is fold
    cfg = TrainConfig(preset="revgnn-deep", num_layers=2, hidden_channels=8, fold_edge_encoder=fold)
    assert build_model(cfg, num_tasks=3, device=torch.device("cpu")).fold_edge_encoder is fold
    assert TrainConfig().fold_edge_encoder is True
    # a preset without the option ignores it
    plain = TrainConfig(
        preset="resgnn-112-64", num_layers=2, hidden_channels=8, fold_edge_encoder=fold
    )
    assert not hasattr(
        build_model(plain, num_tasks=3, device=torch.device("cpu")), "fold_edge_encoder"
    )
