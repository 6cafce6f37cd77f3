"""The run folder under faults and hostile files: safe loading, the lock, the log."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from revgnn_edu.data import make_fake_ogbn_proteins
from revgnn_edu.train import (
    BEST,
    CHECKPOINT,
    LOCK,
    METRICS,
    CheckpointError,
    RunLockedError,
    TrainConfig,
    evaluate_checkpoint,
    load_checkpoint,
    main,
    read_metrics,
    train,
)
from revgnn_edu.train.checkpoint import RunLock

SMALL = dict(
    preset="revgnn-deep", num_layers=1, hidden_channels=8, device="cpu", num_parts=2, eval_parts=2
)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("fake_proteins")
    make_fake_ogbn_proteins(root, num_nodes=200, num_edges=1500, seed=0)
    return root


def _cfg(root, out, **kw):
    return TrainConfig(data_root=str(root), out=str(out), **{**SMALL, **kw})


def _cli(root, out, *extra):
    return [
        "--data-root",
        str(root),
        "--out",
        str(out),
        "--num-layers",
        "1",
        "--hidden-channels",
        "8",
        "--device",
        "cpu",
        "--num-parts",
        "2",
        "--eval-parts",
        "2",
        "--no-progress",
        *extra,
    ]


class _Payload:
    """Unpickling this object opens (creates) a marker file: code runs on load."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


# -- 1. no code runs when a checkpoint is loaded ------------------------------------
def test_a_malicious_checkpoint_is_refused_and_runs_nothing(fake_root, tmp_path):
    train(_cfg(fake_root, tmp_path, epochs=1), progress=False)
    marker = tmp_path / "pwned"
    for name in (CHECKPOINT, BEST):
        ckpt = torch.load(tmp_path / name, weights_only=True)
        ckpt["config"] = _Payload(marker)
        torch.save(ckpt, tmp_path / name)
    with pytest.raises(CheckpointError, match="could run code"):
        load_checkpoint(tmp_path / CHECKPOINT)
    with pytest.raises(CheckpointError, match=f"{BEST}.*could run code"):
        evaluate_checkpoint(tmp_path, num_views=1, num_parts=2, device="cpu")
    with pytest.raises(CheckpointError, match=f"{CHECKPOINT}.*could run code"):
        train(_cfg(fake_root, tmp_path, epochs=2), resume=True, progress=False)
    assert not marker.exists()
    torch.load(tmp_path / BEST, weights_only=False)  # the payload is real: unsafe loading
    assert marker.exists()  # would have run it


def test_checkpoints_hold_only_plain_data(fake_root, tmp_path):
    train(_cfg(fake_root, tmp_path, epochs=1), progress=False)
    for name in (CHECKPOINT, BEST):
        config = torch.load(tmp_path / name, weights_only=True)["config"]
        assert type(config) is dict and config["num_layers"] == 1


# -- 2. one run per folder ---------------------------------------------------------
_HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from revgnn_edu.train.checkpoint import RunLock
    lock = RunLock(Path(sys.argv[1]))
    lock.acquire()
    print("locked", flush=True)
    time.sleep(120)
""")


def _holder(out):
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_run_into_the_same_folder_fails_at_once_naming_the_holder(
    fake_root, tmp_path, capsys
):
    proc = _holder(tmp_path)
    try:
        start = time.perf_counter()
        assert main(_cli(fake_root, tmp_path, "--epochs", "1")) == 1
        assert time.perf_counter() - start < 30  # before loading data or training
        err = capsys.readouterr().err
        assert f"in use by another training run (pid {proc.pid})" in err
        assert not (tmp_path / CHECKPOINT).exists() and not (tmp_path / METRICS).exists()
    finally:
        proc.kill()
        proc.wait()


def test_a_lock_left_by_a_killed_run_is_reported_and_taken_over(fake_root, tmp_path, capsys):
    proc = _holder(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (tmp_path / LOCK).read_text().strip() == str(proc.pid)  # it never cleaned up
    train(_cfg(fake_root, tmp_path, epochs=1), progress=False)
    assert f"(pid {proc.pid}) stopped without releasing its lock" in capsys.readouterr().err
    assert (tmp_path / LOCK).read_text() == ""  # released cleanly this time


def test_the_lock_is_exclusive_within_a_process_too(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
            RunLock(tmp_path).acquire()
    with RunLock(tmp_path):  # released on exit
        pass


# -- 5. the log always agrees with the checkpoint ------------------------------------
def test_a_fresh_run_replaces_the_log_of_a_run_killed_before_its_first_checkpoint(
    fake_root, tmp_path
):
    (tmp_path / METRICS).write_text(
        json.dumps({"epoch": 1, "loss": 9.0}) + "\n" + json.dumps({"epoch": 2, "loss": 9.0}) + "\n"
    )
    train(_cfg(fake_root, tmp_path, epochs=2), progress=False)
    rows = read_metrics(tmp_path)
    assert [r["epoch"] for r in rows] == [1, 2] and rows[0]["loss"] != 9.0
    assert load_checkpoint(tmp_path / CHECKPOINT)["metrics"] == rows


def test_a_torn_log_is_named_and_rewritten_on_resume(fake_root, tmp_path):
    train(_cfg(fake_root, tmp_path, epochs=1), progress=False)
    with open(tmp_path / METRICS, "a") as fh:  # a crash in the middle of a line
        fh.write('{"epoch": 2, "loss": 0.6')
    with pytest.raises(ValueError, match=rf"{METRICS}, line 2: not valid JSON"):
        read_metrics(tmp_path)
    train(_cfg(fake_root, tmp_path, epochs=2), resume=True, progress=False)
    assert [r["epoch"] for r in read_metrics(tmp_path)] == [1, 2]


# -- 6. damaged checkpoints: one clear error, a way out, no loop -----------------------
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "folder", "not_ours"])
def test_a_damaged_checkpoint_names_the_file_and_the_way_out(fake_root, tmp_path, capsys, damage):
    out = tmp_path / "run"
    train(_cfg(fake_root, out, epochs=1), progress=False)
    path = out / CHECKPOINT
    data = path.read_bytes()
    path.unlink()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00not a checkpoint" * 10)
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "folder":
        path.mkdir()
    else:
        torch.save({"weights": torch.zeros(2)}, path)
    for extra in (["--resume"], []):
        assert main(_cli(fake_root, out, "--epochs", "2", *extra)) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: {path}") and len(err.splitlines()) == 1
        assert "--restart" in err and "--resume" not in err
    if damage != "folder":
        assert main(_cli(fake_root, out, "--epochs", "1", "--restart")) == 0
        assert load_checkpoint(path)["epoch"] == 1


# -- 7. the output folder is checked before training -----------------------------------
def test_an_output_folder_below_a_file_is_one_line_before_training(
    fake_root, tmp_path, capsys, monkeypatch
):
    import revgnn_edu.train.loop as loop

    def no_training(*args, **kwargs):
        raise AssertionError("the data was loaded before --out was checked")

    monkeypatch.setattr(loop, "load_ogbn_proteins", no_training)
    (tmp_path / "file").write_text("")
    assert main(_cli(fake_root, tmp_path / "file" / "run", "--epochs", "1")) == 1
    err = capsys.readouterr().err.strip()
    assert (
        err
        == f"error: --out {tmp_path / 'file' / 'run'}: {tmp_path / 'file'} is a file, not a folder"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_a_read_only_output_folder_is_one_line_before_training(fake_root, tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert main(_cli(fake_root, out, "--epochs", "1")) == 1
    finally:
        out.chmod(0o755)
    assert "cannot write files there" in capsys.readouterr().err


# -- 10. temporary files of an interrupted save are removed on start --------------------
def test_stale_temporary_files_are_removed_on_start(fake_root, tmp_path, capsys):
    tmp_path.mkdir(exist_ok=True)
    stale = tmp_path / f".{CHECKPOINT}.tmp-99999"
    stale.write_bytes(b"x" * 1000)  # what a kill during torch.save leaves
    train(_cfg(fake_root, tmp_path, epochs=1), progress=False)
    assert not stale.exists()
    assert f"removed {stale}" in capsys.readouterr().err
    assert not list(tmp_path.glob(".*.tmp-*"))
