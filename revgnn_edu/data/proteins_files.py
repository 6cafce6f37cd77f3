"""ogbn-proteins on disk: ogb's raw files, the processed file built from them, and the
checks that name a bad file.

ogb turns the raw csv files into ``processed/geometric_data_processed.pt`` once; that
file is a cache, used only while the raw files are the ones it was built from (each
file's size and gzip trailer, recorded beside it), and rebuilt, one process at a time,
when they change. :func:`~revgnn_edu.data.load_ogbn_proteins` is the entry point.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import tempfile
import warnings
import zlib
from pathlib import Path

import torch
from torch import Tensor

from .ogbn_proteins import (
    _PROCESSED_FILE,
    _URL,
    NAME,
    NUM_EDGE_FEATURES,
    NUM_TASKS,
    ogb_safe_load,
)
from .paths import ENV_VAR

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None

__all__ = [
    "missing_files_message",
    "holds_files",
    "first_unreadable",
    "open_dataset",
    "processed_dataset",
    "check_consistent",
]


def missing_files_message(root: Path, dataset_dir: Path, missing: list[Path]) -> str:
    names = [str(p.relative_to(dataset_dir)) for p in missing]
    listed = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (
        f"ogbn-proteins files missing in {dataset_dir}: {listed} (the root is the root "
        f"argument, else ${ENV_VAR}, else ~/.cache/revgnn_edu).\n"
        f"Download {_URL}, unzip it, rename its folder 'proteins' to '{dataset_dir.name}' "
        f"and put it in {root}; make_fake_ogbn_proteins(root) writes a small stand-in."
    )


def holds_files(folder: Path) -> bool:
    """Whether ``folder`` exists and holds at least one file (in any subfolder)."""
    return folder.exists() and any(p.is_file() for p in folder.rglob("*"))


def _non_numeric(frame) -> str | None:
    """Where ``frame`` (a csv file read by pandas) holds an empty or non-numeric field."""
    import pandas as pd

    for col in range(frame.shape[1]):
        values = frame.iloc[:, col]
        if pd.api.types.is_numeric_dtype(values.dtype):
            bad = values.isna().to_numpy()  # numbers: only empty fields are NaN
        else:
            bad = pd.to_numeric(values, errors="coerce").isna().to_numpy()
        if bad.any():
            row = int(bad.argmax())
            value = values.iat[row]
            what = "an empty field" if pd.isna(value) else f"the non-numeric value {value!r}"
            return f"{what} in line {row + 1}, column {col + 1}"
    return None


def first_unreadable(paths: list[Path]) -> tuple[Path, str] | None:
    """The first of ``paths`` that is not a gzipped csv of numbers, and what is wrong.

    Reads each file in full; used only after a load failed, to name the culprit.
    """
    import pandas as pd

    for path in paths:
        try:
            frame = pd.read_csv(path, compression="gzip", header=None)
        except (OSError, EOFError, zlib.error, ValueError, pd.errors.ParserError) as err:
            return path, f"{type(err).__name__}: {err}"
        if frame.empty:
            return path, "the file has no rows"
        problem = _non_numeric(frame)
        if problem is not None:
            return path, problem
    return None


@contextlib.contextmanager
def _quiet(verbose: bool):
    # ogb prints progress messages and tqdm bars while processing the raw files.
    if verbose:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


# The processed file is a cache of the raw files: it is used only while the raw files are
# the ones it was built from. Their stamp is each file's size and gzip trailer (the CRC-32
# and length of its uncompressed content), read from the last 8 bytes.
_STAMP_FILE = Path("processed") / "revgnn_edu_raw_files.json"
_BUILD_LOCK = ".revgnn_edu_processing.lock"


def _raw_stamp(raw: list[Path]) -> dict[str, list]:
    stamp = {}
    for path in raw:
        if path.is_file():
            with open(path, "rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(max(size - 8, 0))
                stamp[path.name] = [size, fh.read(8).hex()]
    return stamp


def _stored_stamp(dataset_dir: Path) -> dict | None:
    try:
        stored = json.loads((dataset_dir / _STAMP_FILE).read_text())
    except (OSError, ValueError):
        return None
    return stored if isinstance(stored, dict) else None


def _changed_raw_files(dataset_dir: Path, raw: list[Path]) -> list[str] | None:
    """The raw files that differ from those the processed file was built from: ``[]``
    when it is current, :obj:`None` when nothing records what it was built from."""
    stored = _stored_stamp(dataset_dir)
    if stored is None:
        return None
    current = _raw_stamp(raw)
    return [name for name in stored if name in current and current[name] != stored[name]]


def _write_stamp(dataset_dir: Path, stamp: dict) -> None:
    path = dataset_dir / _STAMP_FILE
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(stamp, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _build_lock(dataset_dir: Path):
    # one process (re)builds the processed file; others wait, then read what it built
    fd = os.open(dataset_dir / _BUILD_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def open_dataset(root: Path, verbose: bool):
    from ogb.nodeproppred import PygNodePropPredDataset

    with _quiet(verbose), ogb_safe_load():
        return PygNodePropPredDataset(NAME, root=str(root))


def _open_processed(root: Path, processed: Path, verbose: bool, unchecked: str = ""):
    if unchecked:  # a cache built elsewhere, which cannot be checked nor rebuilt here
        warnings.warn(
            f"using {processed} as it is: nothing records which raw files it was built "
            f"from, and it cannot be rebuilt ({unchecked})",
            stacklevel=4,
        )
    try:
        return open_dataset(root, verbose)
    except Exception as err:
        raise RuntimeError(
            f"could not read the processed ogbn-proteins file {processed} ({err!r}); "
            f"delete it to rebuild it from the raw files"
        ) from err


def processed_dataset(root: Path, dataset_dir: Path, raw: list[Path], verbose: bool):
    """ogb's dataset, its processed file (re)built from the raw files when they changed."""
    processed = dataset_dir / _PROCESSED_FILE
    changed = _changed_raw_files(dataset_dir, raw)
    missing = [p.name for p in raw if not p.exists()]
    if processed.exists() and changed == []:
        return _open_processed(root, processed, verbose)
    if processed.exists() and changed is None and missing:
        return _open_processed(root, processed, verbose, f"{', '.join(missing)} missing")
    try:
        lock = _build_lock(dataset_dir)
        lock.__enter__()
    except OSError as err:
        if processed.exists() and changed is None:
            return _open_processed(root, processed, verbose, f"{dataset_dir}: {err.strerror}")
        raise RuntimeError(
            f"{processed} must be (re)built from the raw files in {dataset_dir / 'raw'}, "
            f"but {dataset_dir} cannot be written ({err.strerror})"
        ) from None
    try:
        changed = _changed_raw_files(dataset_dir, raw)
        if processed.exists() and changed != []:  # another process may have rebuilt it
            if missing:
                raise FileNotFoundError(
                    f"{processed} was built from other raw files than those in "
                    f"{dataset_dir / 'raw'} ({', '.join(changed or ['unrecorded'])}), and "
                    f"it cannot be rebuilt: {', '.join(missing)} missing"
                )
            why = (
                f"the raw files {', '.join(changed)} changed"
                if changed
                else "nothing records which raw files it was built from"
            )
            warnings.warn(f"rebuilding {processed}: {why}", stacklevel=3)
            shutil.rmtree(processed.parent)
        stamp = _raw_stamp(raw)
        try:
            dataset = open_dataset(root, verbose)
        except Exception as err:
            culprit = first_unreadable(raw)
            if culprit is not None:
                raise RuntimeError(
                    f"could not read ogbn-proteins raw file {culprit[0]}: {culprit[1]}"
                ) from err
            raise RuntimeError(
                f"could not process the ogbn-proteins raw files in {dataset_dir / 'raw'} ({err!r})"
            ) from err
        if _changed_raw_files(dataset_dir, raw) != []:
            _write_stamp(dataset_dir, stamp)
        return dataset
    finally:
        lock.__exit__(None, None, None)


def check_consistent(
    graph, edge_attr: Tensor, split_idx: dict, dataset_dir: Path, processed: Path
) -> None:
    """Check once, at load time, that the files agree with each other.

    Inconsistent files would otherwise load and fail much later (an ``IndexError`` in
    an epoch, a NaN loss) or silently leak test nodes into training.
    """
    raw = dataset_dir / "raw"
    split_dir = dataset_dir / "split" / "species"

    def fail(path: Path, problem: str):
        # a fixed raw file changes its stamp, so the next load rebuilds the processed file
        raise ValueError(f"ogbn-proteins file {path}: {problem}")

    num_nodes = int(graph.num_nodes)
    counts = f"num_nodes={num_nodes} (from {raw / 'num-node-list.csv.gz'})"
    y = graph.y
    if y is None or y.dim() != 2 or y.size(0) != num_nodes or y.size(1) != NUM_TASKS:
        shape = None if y is None else tuple(y.shape)
        fail(
            raw / "node-label.csv.gz",
            f"labels of shape {shape}, expected ({num_nodes}, {NUM_TASKS}) for {counts}",
        )
    if bool(((y != 0) & (y != 1)).any()):
        fail(raw / "node-label.csv.gz", "labels other than 0 and 1")
    if graph.node_species.numel() != num_nodes:
        fail(
            raw / "node_species.csv.gz",
            f"{graph.node_species.numel()} rows, expected one per node for {counts}",
        )
    edge_index = graph.edge_index
    if edge_index.numel():
        low, high = (int(v) for v in torch.aminmax(edge_index))
        if low < 0 or high >= num_nodes:
            fail(
                raw / "edge.csv.gz",
                f"node ids in {low}..{high}, expected 0..{num_nodes - 1} for {counts}",
            )
    if (
        edge_attr.dim() != 2
        or edge_attr.size(1) != NUM_EDGE_FEATURES
        or edge_attr.size(0) != edge_index.size(1)
    ):
        fail(
            raw / "edge-feat.csv.gz",
            f"edge features of shape {tuple(edge_attr.shape)}, expected "
            f"({edge_index.size(1)}, {NUM_EDGE_FEATURES}), one row per edge",
        )
    for start in range(0, edge_attr.size(0), 1 << 22):  # chunks: no 79M x 8 temporary
        chunk = edge_attr[start : start + (1 << 22)]
        bad = ~((chunk >= 0) & (chunk <= 1))  # association scores lie in [0, 1]; NaN too
        if bool(bad.any()):
            row = int(bad.any(1).nonzero()[0])
            value = float(chunk[row][bad[row]][0])
            what = "NaN or infinite" if not math.isfinite(value) else "out-of-range"
            fail(
                raw / "edge-feat.csv.gz",
                f"{what} edge features ({value:g} at directed edge {start + row}); "
                f"ogbn-proteins' association scores lie in [0, 1]",
            )
    seen = torch.zeros(num_nodes, dtype=torch.uint8)
    for code, name in enumerate(("train", "valid", "test"), 1):
        idx = split_idx.get(name)
        path = split_dir / f"{name}.csv.gz"
        if idx is None or idx.numel() == 0:
            fail(path, f"the {name} split is empty")
        low, high = (int(v) for v in torch.aminmax(idx))
        if low < 0 or high >= num_nodes:
            fail(path, f"node ids in {low}..{high}, expected 0..{num_nodes - 1} for {counts}")
        if idx.unique().numel() != idx.numel():
            fail(path, f"the {name} split lists some nodes twice")
        earlier = seen[idx]
        if bool(earlier.any()):
            other = ("train", "valid", "test")[int(earlier.max()) - 1]
            both = int((earlier > 0).sum())
            fail(
                path,
                f"{both} nodes of the {name} split are also in the {other} split "
                f"({split_dir / (other + '.csv.gz')}); the splits must not overlap",
            )
        seen[idx] = code
