"""The run folder under faults and hostile files: safe loading, the lock, the log."""

import errno
import fcntl
import json
import os
import resource
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from revgnn_edu.train import (
    BEST,
    CHECKPOINT,
    LOCK,
    METRICS,
    PLOT,
    CheckpointError,
    RunLockedError,
    TrainConfig,
    evaluate_checkpoint,
    load_checkpoint,
    main,
    read_metrics,
    train,
)

SMALL = dict(
    preset="revgnn-deep", num_layers=1, hidden_channels=8, device="cpu", num_parts=2, eval_parts=2
)
REPO = Path(__file__).resolve().parents[1]
_ENV = {**os.environ, "PYTHONPATH": str(REPO)}


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
def test_a_malicious_checkpoint_is_refused_and_runs_nothing(proteins_root, tmp_path):
    train(_cfg(proteins_root, tmp_path, epochs=1), progress=False)
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
        train(_cfg(proteins_root, tmp_path, epochs=2), resume=True, progress=False)
    assert not marker.exists()
    torch.load(tmp_path / BEST, weights_only=False)  # the payload is real: unsafe loading
    assert marker.exists()  # would have run it


def test_checkpoints_hold_only_plain_data(proteins_root, tmp_path):
    train(_cfg(proteins_root, tmp_path, epochs=1), progress=False)
    for name in (CHECKPOINT, BEST):
        config = torch.load(tmp_path / name, weights_only=True)["config"]
        assert type(config) is dict and config["num_layers"] == 1


# -- 2. one run per folder ---------------------------------------------------------
@contextmanager
def _held(out, pid=4242):
    """``out``'s lock held as a live run holds it: an open file, ``flock``-ed, a pid in
    it (a ``flock`` belongs to an open file, so this process's own runs are refused too)."""
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.pwrite(fd, f"{pid}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def test_a_second_run_into_the_same_folder_fails_at_once_naming_the_holder(
    proteins_root, tmp_path, capsys
):
    with _held(tmp_path):
        assert main(_cli(proteins_root, tmp_path, "--epochs", "1")) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path} is in use by another training run (pid 4242)" in err
    assert not (tmp_path / CHECKPOINT).exists() and not (tmp_path / METRICS).exists()


def test_a_refused_run_imports_nothing_slow(proteins_root, tmp_path):
    # the refusal comes before torch, the models and the data loaders are imported
    code = (
        "import sys; from revgnn_edu.train import main; "
        f"code = main({_cli(proteins_root, tmp_path, '--epochs', '1')!r}); "
        "heavy = ('torch', 'torch_geometric', 'pandas', 'matplotlib', 'ogb'); "
        "print(code, sorted(m for m in heavy if m in sys.modules))"
    )
    with _held(tmp_path):
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=_ENV
        )
    assert result.stdout.split() == ["1", "[]"], result.stderr
    assert "in use by another training run (pid 4242)" in result.stderr


def test_a_lock_left_by_a_killed_run_is_reported_and_taken_over(proteins_root, tmp_path, capsys):
    (tmp_path / LOCK).write_text("4242\n")  # what kill -9 leaves: a pid, no flock
    train(_cfg(proteins_root, tmp_path, epochs=1), progress=False)
    assert "(pid 4242) stopped without releasing its lock" in capsys.readouterr().err
    assert (tmp_path / LOCK).read_text() == ""  # released cleanly this time


def test_the_lock_is_exclusive_within_a_process_too(tmp_path):
    from revgnn_edu.train.lock import RunLock

    with RunLock(tmp_path):
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
            RunLock(tmp_path).acquire()
    with RunLock(tmp_path):  # released on exit
        pass


# -- 5. the log always agrees with the checkpoint ------------------------------------
def test_a_fresh_run_replaces_the_log_of_a_run_killed_before_its_first_checkpoint(
    proteins_root, tmp_path
):
    (tmp_path / METRICS).write_text(
        json.dumps({"epoch": 1, "loss": 9.0}) + "\n" + json.dumps({"epoch": 2, "loss": 9.0}) + "\n"
    )
    train(_cfg(proteins_root, tmp_path, epochs=2), progress=False)
    rows = read_metrics(tmp_path)
    assert [r["epoch"] for r in rows] == [1, 2] and rows[0]["loss"] != 9.0
    assert load_checkpoint(tmp_path / CHECKPOINT)["metrics"] == rows


def test_a_torn_log_is_named_and_rewritten_on_resume(proteins_root, tmp_path):
    train(_cfg(proteins_root, tmp_path, epochs=1), progress=False)
    with open(tmp_path / METRICS, "a") as fh:  # a crash in the middle of a line
        fh.write('{"epoch": 2, "loss": 0.6')
    with pytest.raises(ValueError, match=rf"{METRICS}, line 2: not valid JSON"):
        read_metrics(tmp_path)
    train(_cfg(proteins_root, tmp_path, epochs=2), resume=True, progress=False)
    assert [r["epoch"] for r in read_metrics(tmp_path)] == [1, 2]


# -- 6. damaged checkpoints: one clear error, a way out, no loop -----------------------
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "folder", "not_ours"])
def test_a_damaged_checkpoint_names_the_file_and_the_way_out(
    proteins_root, tmp_path, capsys, damage
):
    out = tmp_path / "run"
    train(_cfg(proteins_root, out, epochs=1), progress=False)
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
    for extra in (["--resume"], [], ["--restart"]) if damage == "folder" else (["--resume"], []):
        assert main(_cli(proteins_root, out, "--epochs", "2", *extra)) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: {path}") and len(err.splitlines()) == 1
        if damage == "folder":  # --restart would not help
            assert err == f"error: {path} is a folder where the trainer keeps a file; remove it"
        else:
            assert "--restart" in err and "--resume" not in err
    if damage != "folder":
        assert main(_cli(proteins_root, out, "--epochs", "1", "--restart")) == 0
        assert load_checkpoint(path)["epoch"] == 1


# -- 7. the output folder is checked before training -----------------------------------
def test_an_output_folder_below_a_file_is_one_line_before_training(
    proteins_root, tmp_path, capsys, monkeypatch
):
    import revgnn_edu.data.ogbn_proteins as ogbn_proteins

    def no_training(*args, **kwargs):
        raise AssertionError("the data was loaded before --out was checked")

    monkeypatch.setattr(ogbn_proteins, "load_ogbn_proteins", no_training)
    (tmp_path / "file").write_text("")
    assert main(_cli(proteins_root, tmp_path / "file" / "run", "--epochs", "1")) == 1
    err = capsys.readouterr().err.strip()
    assert (
        err
        == f"error: --out {tmp_path / 'file' / 'run'}: {tmp_path / 'file'} is a file, not a folder"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_a_read_only_output_folder_is_one_line_before_training(proteins_root, tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert main(_cli(proteins_root, out, "--epochs", "1")) == 1
    finally:
        out.chmod(0o755)
    assert "cannot write files there" in capsys.readouterr().err


# -- 10. temporary files of an interrupted save are removed on start --------------------
def test_stale_temporary_files_are_removed_on_start(proteins_root, tmp_path, capsys):
    tmp_path.mkdir(exist_ok=True)
    stale = tmp_path / f".{CHECKPOINT}.tmp-99999"
    stale.write_bytes(b"x" * 1000)  # what a kill during torch.save leaves
    train(_cfg(proteins_root, tmp_path, epochs=1), progress=False)
    assert not stale.exists()
    assert f"removed {stale}" in capsys.readouterr().err
    assert not list(tmp_path.glob(".*.tmp-*"))


# -- 11. best.pt always belongs to checkpoint.pt ----------------------------------------
@pytest.mark.parametrize("killed_at", [1, 2])
def test_best_pt_stays_with_its_checkpoint_when_a_save_is_killed(
    proteins_root, tmp_path, monkeypatch, killed_at
):
    import revgnn_edu.train.checkpoint as checkpoint
    import revgnn_edu.train.loop as loop

    out = tmp_path / "run"
    valid = {1: 0.5, 2: 0.9, 3: 0.3}  # epoch 2 is the best of the first trajectory

    def scores(*args, **kwargs):
        epoch = args[6]
        return {"train_rocauc": 0.5, "valid_rocauc": valid[epoch], "test_rocauc": 0.5}

    real_save, saves, weights = checkpoint.atomic_save, [], {}

    def save(obj, path):  # kill -9 at the killed_at-th save of epoch 2
        saves.append(obj["epoch"])
        if saves.count(2) == killed_at and valid[2] == 0.9:
            raise KeyboardInterrupt
        real_save(obj, path)
        if Path(path).name == CHECKPOINT:  # the weights each written epoch ended with
            weights[obj["epoch"]] = {k: v.clone() for k, v in obj["model"].items()}

    monkeypatch.setattr(loop, "evaluate", scores)
    for module in (loop, checkpoint):  # wherever the trainer takes atomic_save from
        if hasattr(module, "atomic_save"):
            monkeypatch.setattr(module, "atomic_save", save)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(proteins_root, out, epochs=3), progress=False)
    valid[2] = 0.1  # the resumed trajectory, with another lr, is worse at epoch 2
    train(_cfg(proteins_root, out, epochs=3, lr=5e-4), resume=True, progress=False)
    monkeypatch.undo()
    logged = read_metrics(out)[-1]["best_epoch"]
    best = load_checkpoint(out / BEST)
    assert best["epoch"] == logged
    for name, value in best["model"].items():
        assert torch.equal(value, weights[logged][name]), name
    scored = evaluate_checkpoint(out, num_views=1, num_parts=2, device="cpu")
    assert scored["epoch"] == logged


def test_a_best_pt_of_another_run_is_refused_on_resume_and_left_alone(
    proteins_root, tmp_path, capsys, monkeypatch
):
    import revgnn_edu.train.loop as loop

    def scores(*args, **kwargs):  # epoch 1 stays the best
        valid = 0.9 if args[6] == 1 else 0.1
        return {"train_rocauc": 0.5, "valid_rocauc": valid, "test_rocauc": 0.5}

    monkeypatch.setattr(loop, "evaluate", scores)
    run, other = tmp_path / "run", tmp_path / "other"
    for out in (run, other):
        train(_cfg(proteins_root, out, epochs=2), progress=False)
    (run / BEST).write_bytes((other / BEST).read_bytes())
    capsys.readouterr()
    assert main(_cli(proteins_root, run, "--epochs", "3", "--resume")) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {run / BEST} is not the best model of {run / CHECKPOINT}")
    assert "(epoch 1)" in err and len(err.splitlines()) == 1
    assert (run / BEST).read_bytes() == (other / BEST).read_bytes()  # left as it was
    (run / BEST).rename(tmp_path / "moved.pt")
    assert main(_cli(proteins_root, run, "--epochs", "3", "--resume")) == 0
    assert f"{run / BEST} is missing: the best model so far (epoch 1) is lost" in (
        capsys.readouterr().err
    )


# -- 12. the resume reports what it does -------------------------------------------------
def test_resume_that_would_train_nothing_says_so(proteins_root, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_cli(proteins_root, out, "--epochs", "2")) == 0
    capsys.readouterr()
    assert main(_cli(proteins_root, out, "--epochs", "1", "--resume")) == 1
    err = capsys.readouterr().err
    assert f"{out / CHECKPOINT} is already at epoch 2; pass --epochs above 2" in err
    assert main(["--out", str(out), "--resume", "--lr", "5e-4", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "--resume with lr=0.0005: the run in" in err and "finished its 2 epochs" in err
    assert load_checkpoint(out / CHECKPOINT)["config"]["lr"] == 1e-3  # nothing changed
    assert main(["--out", str(out), "--resume", "--no-progress"]) == 0  # done already: fine
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["epochs_done"] == 2 and summary["epochs_trained"] == 0
    assert "has finished its 2 epochs; nothing to train" in captured.err


# -- 13. crafted checkpoints: the stored config passes the command line's checks ---------
def _craft(ckpt, damage):
    config = ckpt["config"]
    if damage == "amp":
        config["amp"] = "no"
    elif damage == "fold_edge_encoder":
        config["fold_edge_encoder"] = "no"
    elif damage == "overrides_list":
        config["overrides"] = [1]
    elif damage == "overrides_keyword":
        config["overrides"] = {"bogus": 1}
    elif damage == "metrics_int":
        ckpt["metrics"] = 5
    elif damage == "metrics_tensor":
        ckpt["metrics"][0]["loss"] = torch.tensor(1.0)
    elif damage == "metrics_without_epoch":
        del ckpt["metrics"][0]["epoch"]
    elif damage == "negative_epoch":
        ckpt["epoch"] = -5
    elif damage == "optimizer_shape":
        state = next(iter(ckpt["optimizer"]["state"].values()))
        state["exp_avg"] = torch.zeros(3)
    elif damage == "model_keys":
        del ckpt["model"][next(iter(ckpt["model"]))]
    elif damage == "huge_epoch":
        ckpt["epoch"] = 2**70  # the metrics rows cannot match: refused at once
    elif damage == "huge_model":
        config["hidden_channels"] = 60_000  # within bounds; the weights do not fit it


@pytest.mark.parametrize(
    "damage,problem",
    [
        ("amp", "the stored config is invalid: amp must be True or False, got 'no'"),
        (
            "fold_edge_encoder",
            "the stored config is invalid: fold_edge_encoder must be True or False, got 'no'",
        ),
        ("overrides_list", "overrides must be a dict with string keys, got [1]"),
        ("overrides_keyword", "overrides {'bogus': 1} do not fit preset 'revgnn-deep'"),
        ("metrics_int", "metrics is a int, expected a list of dicts"),
        ("metrics_tensor", "the metrics rows hold values other than numbers"),
        ("metrics_without_epoch", "the metrics rows are not epochs 1..1"),
        ("negative_epoch", "epoch is -5, expected a positive integer"),
        ("optimizer_shape", "its optimizer state exp_avg has shape (3,) for a parameter"),
        ("model_keys", "the weights do not fit the model of the stored config: 1 missing"),
        ("huge_epoch", "the metrics rows are not epochs 1..1180591620717411303424"),
        ("huge_model", "the weights do not fit the model of the stored config: "),
    ],
)
def test_a_crafted_checkpoint_is_one_line_naming_the_file_and_the_field(
    proteins_root, tmp_path, capsys, damage, problem
):
    out = tmp_path / "run"
    train(_cfg(proteins_root, out, epochs=1), progress=False)
    ckpt = torch.load(out / CHECKPOINT, weights_only=True)
    _craft(ckpt, damage)
    torch.save(ckpt, out / CHECKPOINT)
    capsys.readouterr()
    assert main(["--out", str(out), "--resume", "--epochs", "2", "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {out / CHECKPOINT}") and len(err.splitlines()) == 1, err
    assert problem in err


# -- 14. links and folders where the trainer writes files --------------------------------
@pytest.mark.parametrize("name", [LOCK, CHECKPOINT, BEST, METRICS, PLOT])
def test_a_symbolic_link_in_the_run_folder_is_refused_and_its_target_untouched(
    proteins_root, tmp_path, capsys, name
):
    out, victim = tmp_path / "run", tmp_path / "victim.txt"
    out.mkdir()
    victim.write_text("precious")
    (out / name).symlink_to(victim)
    assert main(_cli(proteins_root, out, "--epochs", "1")) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: {out / name} is a symbolic link; the trainer does not write through "
        f"links in its folder: remove it"
    )
    assert victim.read_text() == "precious" and (out / name).is_symlink()


@pytest.mark.parametrize("name", [LOCK, BEST, METRICS, PLOT])
def test_a_folder_where_a_file_belongs_is_one_line(proteins_root, tmp_path, capsys, name):
    out = tmp_path / "run"
    (out / name).mkdir(parents=True)
    assert main(_cli(proteins_root, out, "--epochs", "1")) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"error: {out / name} is a folder where the trainer keeps a file; remove it"
    assert not (out / CHECKPOINT).exists()


# -- 15. a full disk or a file-size limit: one line, the checkpoint intact --------------
def test_a_file_size_limit_is_one_line_and_the_checkpoint_stays(proteins_root, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_cli(proteins_root, out, "--epochs", "1")) == 0
    size = (out / CHECKPOINT).stat().st_size
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    capsys.readouterr()
    resource.setrlimit(resource.RLIMIT_FSIZE, (size // 2, hard))  # ulimit -f
    try:
        code = main(_cli(proteins_root, out, "--epochs", "2", "--resume"))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err[-1].startswith(f"error: cannot write {CHECKPOINT} in {out}: it needs")
    assert "above the file-size limit" in err[-1] and "(ulimit -f)" in err[-1]
    assert err[-1].endswith(f"epoch 1 ({out / CHECKPOINT}) is intact: continue it with --resume")
    assert load_checkpoint(out / CHECKPOINT)["epoch"] == 1
    assert not list(out.glob(".*.tmp-*"))


def test_a_full_disk_is_one_line_naming_the_space_needed(
    proteins_root, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "run"
    assert main(_cli(proteins_root, out, "--epochs", "1")) == 0
    capsys.readouterr()

    def full(obj, fh, *args, **kwargs):  # what a full disk does to a write
        fh.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    assert main(_cli(proteins_root, out, "--epochs", "2", "--resume")) == 1
    monkeypatch.undo()
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: cannot write {CHECKPOINT} in {out}: no space left on the device")
    assert " free, about " in err and " needed); free some space, then run again" in err
    assert err.endswith(f"epoch 1 ({out / CHECKPOINT}) is intact: continue it with --resume")
    assert load_checkpoint(out / CHECKPOINT)["epoch"] == 1


# -- 16. SIGTERM, and a torchrun agent killed under its workers --------------------------
def _wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _run_in_background(args, **kwargs):
    cmd = [sys.executable, "-m", "revgnn_edu.train", *args]
    return subprocess.Popen(cmd, cwd=REPO, env=_ENV, text=True, **kwargs)


def test_sigterm_exits_143_saying_the_checkpoint_is_intact(proteins_root, tmp_path):
    out = tmp_path / "run"
    proc = _run_in_background(_cli(proteins_root, out, "--epochs", "1000"), stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: (out / CHECKPOINT).exists() or proc.poll() is not None, 300, "epoch 1")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(120)
    finally:
        proc.kill()
    err = proc.stderr.read()
    assert code == 143 and "Traceback" not in err
    stopped = "terminated (SIGTERM): the checkpoint of the last finished epoch"
    assert f"{stopped}, {out / CHECKPOINT}, is intact" in err
    epoch = load_checkpoint(out / CHECKPOINT)["epoch"]
    assert [r["epoch"] for r in read_metrics(out)] == list(range(1, epoch + 1))
    assert main(_cli(proteins_root, out, "--epochs", str(epoch + 1), "--resume")) == 0


_AGENT = """
import os, subprocess, sys
env = {**os.environ, "TORCHELASTIC_RUN_ID": "test"}  # what torchrun sets for its workers
worker = subprocess.Popen([sys.executable, "-m", "revgnn_edu.train", *sys.argv[1:]], env=env)
print(worker.pid, flush=True)
worker.wait()
"""


def test_workers_stop_and_free_the_lock_when_the_torchrun_agent_is_killed(proteins_root, tmp_path):
    out = tmp_path / "run"
    args = _cli(proteins_root, out, "--epochs", "1000")
    agent = subprocess.Popen(
        [sys.executable, "-c", _AGENT, *args], cwd=REPO, env=_ENV, stdout=subprocess.PIPE, text=True
    )
    worker = int(agent.stdout.readline())
    try:
        _wait_for(lambda: (out / CHECKPOINT).exists() or not _alive(worker), 300, "epoch 1")
        agent.kill()  # kill -9: the agent cannot pass anything on
        agent.wait()
        _wait_for(lambda: not _alive(worker), 120, "the worker to stop")
    finally:
        if _alive(worker):
            os.kill(worker, signal.SIGKILL)
    fd = os.open(out / LOCK, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free
    finally:
        os.close(fd)
    assert load_checkpoint(out / CHECKPOINT)["epoch"] >= 1


def test_sigterm_during_a_save_lets_the_save_finish(tmp_path, monkeypatch):
    from revgnn_edu.train.checkpoint import Terminated, atomic_save, terminate_after_saves

    real = torch.save

    def save_interrupted_by_sigterm(obj, fh):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives in the middle of the write
        real(obj, fh)

    previous = signal.signal(signal.SIGTERM, terminate_after_saves)
    monkeypatch.setattr(torch, "save", save_interrupted_by_sigterm)
    try:
        with pytest.raises(Terminated):
            atomic_save({"epoch": 7}, tmp_path / CHECKPOINT)
    finally:
        signal.signal(signal.SIGTERM, previous)
        monkeypatch.undo()
    assert torch.load(tmp_path / CHECKPOINT)["epoch"] == 7  # whole, then stopped
    assert os.listdir(tmp_path) == [CHECKPOINT]
