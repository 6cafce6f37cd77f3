import numpy as np
import pytest
import torch

from revgnn_edu.data import random_graph
from revgnn_edu.memory import MemoryTracker, format_bytes, measure_peak_bytes, sweep
from revgnn_edu.models import ResGNN


def test_known_allocation_pattern_exact_bytes():
    def fn():
        a = torch.empty(1000)  # 4000 B live
        b = torch.empty(500)  # 6000 B live
        del a  # 2000 B live
        c = torch.empty(2000)  # 10000 B live: the peak
        return b, c

    assert measure_peak_bytes(fn) == 10_000


def test_memory_alive_before_start_is_not_counted():
    big = torch.zeros(1_000_000)  # noqa: F841, alive before the measurement
    assert measure_peak_bytes(lambda: torch.empty(10, dtype=torch.float64)) == 80


def test_sees_memory_kept_on_custom_function_ctx():
    class KeepOnCtx(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.buffer = torch.empty(10_000)  # 40000 B, not saved with save_for_backward
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    x = torch.randn(1000, requires_grad=True)
    kept = []
    peak = measure_peak_bytes(lambda: kept.append(KeepOnCtx.apply(x)))
    assert peak == 40_000 + 4_000


def test_sees_storage_freed_by_resize_to_zero():
    def fn():
        a = torch.empty(5000)  # 20000 B
        a.untyped_storage().resize_(0)  # freed in place
        b = torch.empty(5000)  # 20000 B: never 40000 live at once
        a.untyped_storage().resize_(20_000)  # re-allocated: now 40000
        return a, b

    assert measure_peak_bytes(fn) == 40_000
    # resize_ is restored after the measurement
    assert torch.UntypedStorage.resize_.__qualname__.startswith("StorageBase")


def test_tracker_counts_frees_by_autograd():
    x = torch.randn(1000, requires_grad=True)
    with MemoryTracker() as tracker:
        y = x.exp().sum()  # exp keeps its 4000 B output for backward
        assert tracker.current >= 4000
        y.backward()  # the saved output and the graph are freed
        del y
    assert tracker.peak >= 8000  # output + gradient of exp, at least


def test_bad_backend():
    with pytest.raises(ValueError, match="'tracker' or 'cuda'"):
        measure_peak_bytes(lambda: None, backend="rss")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_tracker_agrees_with_cuda_allocator():
    data = random_graph(20_000, 200_000, 64, edge_dim=8, seed=0).to("cuda")
    model = ResGNN(64, 64, 8, 8, edge_dim=8).cuda()

    def step():
        model(data.x, data.edge_index, data.edge_attr).sum().backward()

    tracked = measure_peak_bytes(step)
    model.zero_grad(set_to_none=True)
    cuda = measure_peak_bytes(step, backend="cuda")
    assert abs(tracked - cuda) / cuda < 0.10


def _saved_bytes_of_one_block(layer, h, edge_index, edge_attr):
    """Reference: bytes of the distinct new storages autograd saves for one block."""
    existing = [h, edge_index, *layer.parameters()] + ([edge_attr] if edge_attr is not None else [])
    old = {t.untyped_storage().data_ptr() for t in existing}
    seen = {}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in old:
            seen[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = layer(h, edge_index, edge_attr)
    # the block output is kept as well: as the next block's input
    return sum(seen.values()) + (
        0 if out.untyped_storage().data_ptr() in seen else out.untyped_storage().nbytes()
    )


@pytest.mark.parametrize("conv", ["gen", "gcn"])
def test_resgnn_peak_grows_linearly_with_depth(conv):
    torch.manual_seed(0)
    data = random_graph(300, 3000, 16, edge_dim=8 if conv == "gen" else None, seed=1)
    edge_dim = 8 if conv == "gen" else None

    def make_step(depth):
        model = ResGNN(16, 32, 4, depth, edge_dim=edge_dim, conv=conv)

        def step():
            out = model(data.x, data.edge_index, data.edge_attr)
            out.sum().backward()

        return step

    depths = [2, 4, 8, 16]
    rows = sweep(make_step, depths)
    assert [r["depth"] for r in rows] == depths
    peaks = np.array([r["peak_bytes"] for r in rows], dtype=float)
    # parameter gradients grow with depth too: take them out
    grads = np.array(
        [
            sum(
                p.numel() * 4
                for p in ResGNN(16, 32, 4, d, edge_dim=edge_dim, conv=conv).parameters()
            )
            for d in depths
        ],
        dtype=float,
    )
    slope, intercept = np.polyfit(depths, peaks - grads, 1)
    residual = peaks - grads - (slope * np.array(depths) + intercept)
    assert np.abs(residual).max() < 0.02 * peaks.max()  # a straight line

    model = ResGNN(16, 32, 4, 1, edge_dim=edge_dim, conv=conv)
    h = torch.randn(300, 32, requires_grad=True)
    edge = model.edge_encoder(data.edge_attr) if edge_dim else None
    one_layer = _saved_bytes_of_one_block(model.layers[0], h, data.edge_index, edge)
    assert slope == pytest.approx(one_layer, rel=0.05)


def test_format_bytes():
    assert format_bytes(512) == "512 B"
    assert format_bytes(3 * 2**20) == "3.00 MiB"
    assert format_bytes(5 * 2**30) == "5.00 GiB"


def test_a_resize_in_another_thread_does_not_change_the_count():
    """Before, the resize_ patch was process-wide: a resize_(0) in another thread
    lowered the measuring thread's count (expected 1 MiB, reported 0)."""
    import threading

    other = torch.empty(2**18)  # 1 MiB, the other thread's, alive before the measurement
    kept, resized, go = [], threading.Event(), threading.Event()

    def other_thread():
        go.wait()
        other.untyped_storage().resize_(0)  # frees the other thread's 1 MiB
        resized.set()

    def fn():
        kept.append(torch.empty(2**18))  # 1 MiB, kept alive: the peak
        go.set()
        assert resized.wait(timeout=30)

    thread = threading.Thread(target=other_thread)
    thread.start()
    peak_and_end = []
    with MemoryTracker() as tracker:
        fn()
        peak_and_end.append(tracker.current)
    thread.join()
    assert tracker.peak == 2**20 and peak_and_end == [2**20]
    assert other.untyped_storage().nbytes() == 0  # it did happen
    # the wrapper is gone when no measurement runs
    assert torch.UntypedStorage.resize_.__qualname__.startswith("StorageBase")
