"""Train a preset on ogbn-proteins with the paper's recipe, resumable at every epoch.

    python -m revgnn_edu.train --preset revgnn-deep --data-root DIR --epochs 2000 --device cuda

One epoch = a fresh random partition of the nodes into ``num_parts`` parts and one Adam
step (lr 0.001, gradient-norm clipping 1.0, BCE-with-logits over the 112 tasks) on the
subgraph of each part. After each epoch the model is evaluated (ROC-AUC averaged over
views of random partitions); everything needed to continue goes to ``checkpoint.pt``,
then the best-validation weights to ``best.pt`` (the checkpoint names the one it belongs
to), then ``metrics.jsonl`` is rewritten from the checkpoint, each atomically;
``metrics.png`` plots the log at the end of the run. ``--resume`` continues from
``checkpoint.pt``; on the CPU a resumed run follows the same trajectory as an
uninterrupted one. The output folder is locked while a run uses it.

Several GPUs or machines: launch the same command with ``torchrun``; every process draws
the same partition, trains on its own parts (process r takes parts r, r + W, ...), and
DistributedDataParallel averages the gradients, so one step of W processes equals one
step of one process on those W parts. Rank 0 evaluates, logs and writes checkpoints. A
process that stops answering for ``--dist-timeout`` seconds is named and the run stops.

    torchrun --nproc_per_node=4 -m revgnn_edu.train --preset revgnn-deep --device cuda

One job per module: :mod:`.config` (the settings and the command line built from them),
:mod:`.lock` (one run per folder), :mod:`.run_folder` (fresh, resumed or restarted runs;
an epoch's files in order), :mod:`.checkpoint` (the run's files, written atomically, and
their checks), :mod:`.builders` (the dataset and the model of a run), :mod:`.step` (one
training step), :mod:`.evaluation`, :mod:`.solver_log` (DEQ solver statistics),
:mod:`.device`, :mod:`.distributed`, :mod:`.loop` (the epochs), :mod:`.cli`,
:mod:`.detached` (the command line as a background process) and :mod:`.progress` (its
progress, read from the run's folder). The
names below load their module on first use, so that ``python -m revgnn_edu.train``
starts without importing torch.
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "TrainConfig": ".config",
    "train": ".loop",
    "training_step": ".step",
    "make_forward": ".step",
    "NonFiniteLossError": ".step",
    "evaluate": ".evaluation",
    "evaluate_checkpoint": ".evaluation",
    "SolverLog": ".solver_log",
    "RunData": ".builders",
    "init_distributed": ".distributed",
    "DistributedTimeoutError": ".distributed",
    "read_metrics": ".checkpoint",
    "load_checkpoint": ".checkpoint",
    "atomic_save": ".checkpoint",
    "CheckpointError": ".checkpoint",
    "OutputDirError": ".checkpoint",
    "CHECKPOINT": ".checkpoint",
    "BEST": ".checkpoint",
    "METRICS": ".checkpoint",
    "PLOT": ".checkpoint",
    "LOCK": ".checkpoint",
    "RunLockedError": ".lock",
    "main": ".cli",
    "start_detached": ".detached",
    "read_progress": ".progress",
    "stop_run": ".detached",
    "DetachedRun": ".detached",
    "RunProgress": ".progress",
    "proteins_node_input": "..data.ogbn_proteins",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
