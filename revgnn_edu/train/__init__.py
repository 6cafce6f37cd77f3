"""Train a preset on ogbn-proteins with the paper's recipe, resumable at every epoch.

    python -m revgnn_edu.train --preset revgnn-deep --data-root DIR --epochs 2000 --device cuda

One epoch = a fresh random partition of the nodes into ``num_parts`` parts and one Adam
step (lr 0.001, gradient-norm clipping 1.0, BCE-with-logits over the 112 tasks) on the
subgraph of each part. After each epoch the model is evaluated (ROC-AUC averaged over
views of random partitions), the best-validation weights go to ``best.pt``, everything
needed to continue goes to ``checkpoint.pt``, and ``metrics.jsonl`` is rewritten from it,
each atomically; ``metrics.png`` plots the log at the end of the run. ``--resume``
continues from ``checkpoint.pt``; on the CPU a resumed run follows the same trajectory as
an uninterrupted one. The output folder is locked while a run uses it.

Several GPUs or machines: launch the same command with ``torchrun``; every process draws
the same partition, trains on its own parts (process r takes parts r, r + W, ...), and
DistributedDataParallel averages the gradients, so one step of W processes equals one
step of one process on those W parts. Rank 0 evaluates, logs and writes checkpoints.

    torchrun --nproc_per_node=4 -m revgnn_edu.train --preset revgnn-deep --device cuda

One job per module: :mod:`.config` (the settings and the command line built from them),
:mod:`.checkpoint` (lock, checkpoints, metrics log), :mod:`.distributed`, :mod:`.loop`
(training and evaluation) and :mod:`.cli`.
"""

from ..data.ogbn_proteins import proteins_node_input
from .checkpoint import (
    BEST,
    CHECKPOINT,
    LOCK,
    METRICS,
    PLOT,
    CheckpointError,
    OutputDirError,
    RunLockedError,
    atomic_save,
    load_checkpoint,
    read_metrics,
)
from .cli import main
from .config import TrainConfig
from .distributed import init_distributed
from .loop import (
    NonFiniteLossError,
    evaluate,
    evaluate_checkpoint,
    make_forward,
    train,
    training_step,
)

__all__ = [
    "TrainConfig",
    "train",
    "training_step",
    "evaluate",
    "evaluate_checkpoint",
    "make_forward",
    "init_distributed",
    "read_metrics",
    "load_checkpoint",
    "main",
    "atomic_save",
    "NonFiniteLossError",
    "CheckpointError",
    "RunLockedError",
    "OutputDirError",
    "CHECKPOINT",
    "BEST",
    "METRICS",
    "PLOT",
    "LOCK",
    "proteins_node_input",
]
