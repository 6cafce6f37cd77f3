import json
import os
import shutil

import pytest

from revgnn_edu.train import (
    CHECKPOINT,
    TrainConfig,
    load_checkpoint,
    read_metrics,
    read_progress,
    start_detached,
    stop_run,
    train,
)
from revgnn_edu.train.config import build_parser, config_from_args
from revgnn_edu.train.detached import LAUNCH, LOG, command_line, read_metrics_tolerant
from revgnn_edu.train.lock import RunLock, RunLockedError

SMALL = dict(
    preset="revgnn-deep", num_layers=3, hidden_channels=16, device="cpu", num_parts=2, eval_parts=2
)
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # as this process (conftest)


def _cfg(root, out, **kw):
    return TrainConfig(data_root=str(root), out=str(out), **{**SMALL, **kw})


def _comparable(rows):  # what a resumed run must reproduce
    skip = ("epoch_seconds", "config_changes")
    return [{k: v for k, v in r.items() if k not in skip} for r in rows]


def _rows(n, **extra):
    return [{"epoch": e, "loss": 1.0 / e, "epoch_seconds": 2.0, **extra} for e in range(1, n + 1)]


def _write_rows(out, rows, tail=""):
    out.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r) + "\n" for r in rows) + tail
    (out / "metrics.jsonl").write_text(text)


def test_command_line_parses_back_to_the_config(tmp_path):
    cfg = _cfg(tmp_path / "data", tmp_path / "run", epochs=7, lr=0.01, amp=True, eval_every=3)
    args = command_line(cfg)
    assert "--amp" in args and "--preset" not in args  # only what differs from the defaults
    parsed = vars(build_parser().parse_args(args))
    assert not parsed.pop("resume") and not parsed.pop("restart")
    parsed.pop("no_progress")
    assert config_from_args(parsed) == cfg
    assert command_line(cfg, resume=True)[-1] == "--resume"
    with pytest.raises(ValueError, match="overrides"):
        command_line(TrainConfig(overrides={"dropout": 0.0}))
    with pytest.raises(ValueError, match="lr"):
        command_line(TrainConfig(lr=-1.0))
    with pytest.raises(ValueError, match="choose one"):
        command_line(cfg, resume=True, restart=True)


def test_progress_of_a_missing_or_foreign_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        read_progress(tmp_path / "nothing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        read_progress(tmp_path / "file")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not a run")
    with pytest.raises(ValueError, match="not a training run's folder"):
        read_progress(foreign)
    with pytest.raises(ValueError, match="not a training run's folder"):
        stop_run(foreign)
    (foreign / "metrics.jsonl").write_text('{"step": 1}\n{"step": 2}\n')
    with pytest.raises(ValueError, match="line 1: expected a JSON object with an integer"):
        read_progress(foreign)


def test_progress_reads_a_torn_last_line(tmp_path):
    rows = _rows(4)
    _write_rows(tmp_path / "run", rows, tail='{"epoch": 5, "loss": 0.1')  # killed mid-write
    progress = read_progress(tmp_path / "run", epochs=10)
    assert progress.rows == rows and progress.torn_line
    assert progress.epochs_done == 4 and not progress.running and not progress.finished
    assert "torn" in progress.describe()
    _write_rows(tmp_path / "run", rows)
    assert read_metrics_tolerant(tmp_path / "run") == (rows, False)
    # a damaged line before the last is not a torn write: refused, naming the line
    _write_rows(tmp_path / "bad", rows[:1], tail='{"epoch": 2,\n' + json.dumps(rows[2]) + "\n")
    with pytest.raises(ValueError, match="line 2: not valid JSON"):
        read_progress(tmp_path / "bad")


def test_progress_rate_and_finish_from_the_launch_record(tmp_path):
    out = tmp_path / "run"
    _write_rows(
        out,
        _rows(8, valid_rocauc=0.7, test_rocauc=0.6, best_valid=0.7, best_epoch=8, test_at_best=0.6),
    )
    started = 1_000_000.0
    info = {"pid": 2**22 + 1, "command": [], "started": started, "start_epoch": 3, "epochs": 20}
    (out / LAUNCH).write_text(json.dumps(info))
    os.utime(out / "metrics.jsonl", (started + 50.0, started + 50.0))  # epoch 8 logged then
    progress = read_progress(out, now=started + 60.0)
    assert progress.epochs == 20 and progress.epochs_done == 8 and not progress.running
    assert progress.seconds_per_epoch == pytest.approx(50.0 / 5)  # 5 epochs since the launch
    assert progress.remaining_s == pytest.approx(12 * 10.0)
    assert progress.elapsed_s == pytest.approx(50.0)  # stopped: up to its last epoch
    assert progress.trained_s == pytest.approx(16.0)
    assert progress.updated == pytest.approx(started + 50.0)
    assert progress.expected_finish is None  # only a running run finishes
    assert "stopped, epoch 8 of 20" in progress.describe()
    # without a launch record: the logged training seconds, and the total given
    (out / LAUNCH).unlink()
    progress = read_progress(out, epochs=8)
    assert progress.seconds_per_epoch == pytest.approx(2.0) and progress.finished
    assert progress.remaining_s == 0 and "evaluation not included" in progress.rate_source


def test_start_refuses_a_locked_folder_and_a_resume_without_checkpoint(proteins_root, tmp_path):
    cfg = _cfg(proteins_root, tmp_path / "run", epochs=2)
    with pytest.raises(FileNotFoundError, match="no checkpoint.pt"):
        start_detached(cfg, resume=True)
    with RunLock(tmp_path / "run"):
        with pytest.raises(RunLockedError, match="in use by another training run"):
            start_detached(cfg)
    assert not (tmp_path / "run" / LAUNCH).exists()  # nothing was started


def test_detached_run_start_progress_stop_resume(proteins_root, tmp_path):
    out = tmp_path / "run"
    cfg = _cfg(proteins_root, out, epochs=200)
    run = start_detached(cfg, env=ONE_THREAD)
    try:
        assert run.wait(until_epoch=2, timeout=300) is None  # still running at epoch 2
        progress = run.progress()
        assert progress.running and progress.pid == run.pid and progress.epochs == 200
        assert progress.epochs_done >= 2 and progress.expected_finish is not None
        assert progress.expected_finish > progress.out.joinpath("metrics.jsonl").stat().st_mtime
        assert stop_run(out) == run.pid  # SIGTERM, through the folder's lock
    finally:
        run.stop()
    assert run.returncode == 143 and not run.running()
    stopped = read_progress(out)
    assert not stopped.running and stopped.expected_finish is None
    done = stopped.epochs_done
    assert load_checkpoint(out / CHECKPOINT, ("epoch",))["epoch"] == done
    assert "terminated (SIGTERM)" in (out / LOG).read_text()
    assert stop_run(out) is None  # nothing left to stop

    resumed = start_detached(_cfg(proteins_root, out, epochs=done + 2), resume=True, env=ONE_THREAD)
    assert resumed.wait(timeout=300) == 0, (out / LOG).read_text()[-2000:]
    rows = read_metrics(out)
    assert [r["epoch"] for r in rows] == list(range(1, done + 3))  # its metrics continue
    assert rows[:done] == stopped.rows
    assert read_progress(out).finished
    # the interrupted and resumed run is the uninterrupted one
    shutil.rmtree(tmp_path / "whole", ignore_errors=True)
    train(_cfg(proteins_root, tmp_path / "whole", epochs=done + 2))
    assert _comparable(rows) == _comparable(read_metrics(tmp_path / "whole"))
