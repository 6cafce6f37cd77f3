"""Partition-parallel training with torch.distributed: 2 CPU processes, gloo backend."""

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from revgnn_edu.data import RandomPartitionLoader, load_ogbn_proteins, proteins_node_input
from revgnn_edu.models import build_model
from revgnn_edu.train import (
    CHECKPOINT,
    TrainConfig,
    distributed,
    load_checkpoint,
    make_forward,
    read_metrics,
    train,
    training_step,
)

MODEL = dict(num_layers=2, hidden_channels=8, dropout=0.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _setup(root):
    data, split = load_ogbn_proteins(root)
    x, y = proteins_node_input(data), data.y.float()
    mask = torch.zeros(data.num_nodes, dtype=torch.bool)
    mask[split["train"]] = True
    parts = RandomPartitionLoader(
        data.edge_index,
        data.num_nodes,
        2,
        edge_attr=data.edge_attr,
        generator=torch.Generator().manual_seed(3),
    ).sample()
    torch.manual_seed(0)
    model = build_model("revgnn-deep", **MODEL)
    return model, x, y, mask, parts


def _one_ddp_step(rank, world, port, root, result):
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", rank=rank, world_size=world, init_method=f"tcp://127.0.0.1:{port}"
    )
    try:
        model, x, y, mask, parts = _setup(root)
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        forward = make_forward(ddp, x, torch.device("cpu"), amp=False)
        training_step(ddp, optimizer, forward, [parts[rank]], mask, y, 1.0, torch.device("cpu"))
        torch.save(model.state_dict(), f"{result}.{rank}")
    finally:
        dist.destroy_process_group()


def _train_ddp(rank, world, port, cfg_kwargs, plan):
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", rank=rank, world_size=world, init_method=f"tcp://127.0.0.1:{port}"
    )
    try:
        for out, epochs, resume in plan:
            train(TrainConfig(**cfg_kwargs, out=out, epochs=epochs), resume=resume, progress=False)
    finally:
        dist.destroy_process_group()


def test_two_processes_take_the_step_of_one_process_on_both_parts(proteins_root, tmp_path):
    result = tmp_path / "params"
    mp.spawn(_one_ddp_step, args=(2, _free_port(), proteins_root, str(result)), nprocs=2, join=True)
    rank0, rank1 = torch.load(f"{result}.0"), torch.load(f"{result}.1")

    model, x, y, mask, parts = _setup(proteins_root)  # one process, both parts in one step
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    forward = make_forward(model, x, torch.device("cpu"), amp=False)
    training_step(model, optimizer, forward, parts, mask, y, 1.0, torch.device("cpu"))
    changed = 0
    for name, value in model.state_dict().items():
        torch.testing.assert_close(rank0[name], value, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(rank1[name], rank0[name], rtol=0, atol=0)  # in sync
        changed += not torch.equal(before[name], value)
    assert changed > 10  # the step did move the parameters


def test_distributed_run_resumes_like_an_uninterrupted_one(proteins_root, tmp_path):
    base = dict(
        preset="revgnn-deep",
        data_root=str(proteins_root),
        device="cpu",
        num_parts=4,
        eval_parts=2,
        num_layers=2,
        hidden_channels=8,
        overrides={"dropout": 0.1},
    )
    full, cut = str(tmp_path / "full"), str(tmp_path / "cut")
    plan = [(full, 3, False), (cut, 2, False), (cut, 3, True)]  # uninterrupted; cut + resume
    mp.spawn(_train_ddp, args=(2, _free_port(), base, plan), nprocs=2, join=True)
    full = load_checkpoint(tmp_path / "full" / CHECKPOINT)
    cut = load_checkpoint(tmp_path / "cut" / CHECKPOINT)
    assert full["epoch"] == cut["epoch"] == 3 and len(full["rng"]) == 2
    for name, value in full["model"].items():
        torch.testing.assert_close(cut["model"][name], value, rtol=0, atol=0)

    def strip(rows):
        skip = ("epoch_seconds", "config_changes")
        return [{k: v for k, v in r.items() if k not in skip} for r in rows]

    assert strip(read_metrics(tmp_path / "full")) == strip(read_metrics(tmp_path / "cut"))
    assert [r["epoch"] for r in read_metrics(tmp_path / "cut")] == [1, 2, 3]


def test_parts_must_split_evenly_over_processes(proteins_root, tmp_path, monkeypatch):
    monkeypatch.setattr(distributed, "rank_and_world", lambda: (0, 3))
    with pytest.raises(
        ValueError, match="num_parts=10 must be a multiple of the number of processes \\(3\\)"
    ):
        train(
            TrainConfig(data_root=str(proteins_root), out=str(tmp_path), device="cpu"),
            progress=False,
        )


def _stops_in_epoch_two(rank, world, port, cfg_kwargs, result):
    """Rank 1 stops itself (SIGSTOP) at the start of epoch 2; each rank writes how its
    run ended to ``result.RANK``."""
    import os
    import signal

    import revgnn_edu.train.loop as loop

    torch.set_num_threads(1)
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    distributed.init_distributed("cpu", timeout=cfg_kwargs["dist_timeout"])
    if rank == 1:
        real, calls = loop.training_step, []

        def stop_in_epoch_two(*args, **kwargs):
            calls.append(1)
            if len(calls) == 3:  # two steps per epoch
                os.kill(os.getpid(), signal.SIGSTOP)
            return real(*args, **kwargs)

        loop.training_step = stop_in_epoch_two
    try:
        train(TrainConfig(**cfg_kwargs), progress=False)
        ended = "finished"
    except Exception as err:
        ended = f"{type(err).__name__}: {err}"
    with open(f"{result}.{rank}", "w") as fh:
        fh.write(ended)


def test_a_stopped_rank_is_named_after_the_timeout(proteins_root, tmp_path):
    import os
    import signal

    cfg = dict(
        preset="revgnn-deep",
        data_root=str(proteins_root),
        out=str(tmp_path / "run"),
        device="cpu",
        epochs=3,
        num_parts=4,
        eval_parts=2,
        num_layers=1,
        hidden_channels=8,
        dist_timeout=5.0,
    )
    result = tmp_path / "ended"
    ctx = mp.get_context("spawn")
    port = _free_port()
    procs = [
        ctx.Process(target=_stops_in_epoch_two, args=(r, 2, port, cfg, str(result)))
        for r in range(2)
    ]
    for proc in procs:
        proc.start()
    try:
        procs[0].join(240)
        assert procs[0].exitcode == 0, "rank 0 still waits for the stopped rank"
    finally:
        for proc in procs:
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGKILL)
            proc.join()
    ended = (tmp_path / "ended.0").read_text()
    assert ended.startswith("DistributedTimeoutError: rank 0: rank 1 stopped answering"), ended
    assert "no reply within 5 s while" in ended
    assert load_checkpoint(tmp_path / "run" / CHECKPOINT)["epoch"] == 1  # epoch 1 kept
