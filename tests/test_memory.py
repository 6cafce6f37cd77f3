import numpy as np
import pytest
import torch

from revgnn_edu.data import random_graph
from revgnn_edu.memory import (
    MemoryTracker,
    format_bytes,
    mark_phase,
    measure_peak_bytes,
    measure_timeline,
    sweep,
)
from revgnn_edu.models import ResGNN, RevGNN


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


# -- hand-counted cases (issue 16.7) -----------------------------------------------------
# Each setup runs before the measurement (what it creates is "alive at the start") and
# returns the function to measure; the bytes are counted by hand.
def _mm_into(*buf_shape):
    a, buf = torch.ones(100, 100), torch.empty(*buf_shape)
    return lambda: torch.mm(a, a, out=buf)


def _sparse_clone():
    indices = torch.arange(100).repeat(2, 1)  # 100 nonzeros on the diagonal
    sp = torch.sparse_coo_tensor(indices, torch.ones(100), (100, 100), check_invariants=True)
    return lambda: sp.clone()


def _in_place_and_views():
    a = torch.ones(100, 100)
    return lambda: (a.mul_(2), a.view(-1), a.t(), a[:10])


def _resize_(numel):
    buf = torch.empty(numel)
    return lambda: buf.resize_(100, 100)


HAND_COUNTED = [
    # (case, setup, bytes)
    ("torch.empty(1000)", lambda: lambda: torch.empty(1000), 1000 * 4),
    ("torch.tensor(list of 1000 floats)", lambda: lambda: torch.tensor([0.5] * 1000), 1000 * 4),
    ("torch.as_tensor(list of 1000 ints)", lambda: lambda: torch.as_tensor([7] * 1000), 1000 * 8),
    (
        "tensor.new_tensor(list of 10 floats)",
        lambda: (lambda t: lambda: t.new_tensor([1.0] * 10))(torch.ones(1, dtype=torch.float64)),
        10 * 8,
    ),
    (
        "torch.tensor(NumPy float64 array of 1000): a copy",
        lambda: (lambda arr: lambda: torch.tensor(arr))(np.zeros(1000)),
        1000 * 8,
    ),
    (
        "torch.cat of two 100 x 100 tensors",
        lambda: lambda: torch.cat([torch.ones(100, 100)] * 2),
        100 * 100 * 4 + 2 * 100 * 100 * 4,
    ),  # the ones (one tensor) + the result
    ("resize_ of an empty tensor from before to 100 x 100", lambda: _resize_(0), 100 * 100 * 4),
    ("resize_ of a 10-element tensor from before", lambda: _resize_(10), (100 * 100 - 10) * 4),
    ("mm into an out= from before, too small", lambda: _mm_into(0), 100 * 100 * 4),
    ("mm into an out= from before, big enough", lambda: _mm_into(100, 100), 0),
    ("in-place op and views of a tensor from before", _in_place_and_views, 0),
    ("clone of a sparse tensor, 100 nonzeros", _sparse_clone, 2 * 100 * 8 + 100 * 4),
    # outside the count, as documented: memory PyTorch did not allocate, or storages
    # constructed without an operator
    ("torch.from_numpy (NumPy's memory)", lambda: lambda: torch.from_numpy(np.zeros(1000)), 0),
    (
        "torch.as_tensor(NumPy array): no copy",
        lambda: (lambda arr: lambda: torch.as_tensor(arr))(np.zeros(1000)),
        0,
    ),
    ("torch.UntypedStorage(1000)", lambda: lambda: torch.UntypedStorage(1000), 0),
]


@pytest.mark.parametrize("case,setup,expected", HAND_COUNTED, ids=[c[0] for c in HAND_COUNTED])
def test_hand_counted_cases(case, setup, expected):
    """Before: 0 for torch.tensor(list), as_tensor(list), new_tensor, the resizes, the
    enlarged out= and the sparse clone."""
    fn = setup()
    assert measure_peak_bytes(fn) == expected


# -- the timeline (issue 20.3) -------------------------------------------------------------
def _phases(timeline):
    """{phase: (peak, live bytes at its last event)} in order of appearance."""
    out = {}
    for e in timeline:
        peak, _ = out.get(e.phase, (e.live_bytes, 0))
        out[e.phase] = (max(peak, e.live_bytes), e.live_bytes)
    return out


def test_timeline_of_a_two_layer_mlp_step_counted_by_hand():
    N, F, H, C = 64, 8, 16, 4
    x = torch.randn(N, F)  # alive before: not counted
    lin1, lin2 = torch.nn.Linear(F, H), torch.nn.Linear(H, C)
    opt = torch.optim.SGD([*lin1.parameters(), *lin2.parameters()], lr=0.1)  # no state

    def step():
        mark_phase("forward")
        out = lin2(torch.relu(lin1(x)))
        loss = out.sum()
        mark_phase("backward")
        loss.backward()
        mark_phase("optimizer")
        opt.step()
        mark_phase("cleanup")
        opt.zero_grad(set_to_none=True)
        del out, loss

    timeline = measure_timeline(step)
    assert [e.index for e in timeline] == list(range(len(timeline)))
    assert all(isinstance(e.live_bytes, int) for e in timeline)
    act, out, loss = N * H * 4, N * C * 4, 4  # ReLU's output (saved), the output, the loss
    grads = (H * F + H + C * H + C) * 4  # the parameters' gradients
    assert _phases(timeline) == {
        "": (0, 0),  # the start
        # Linear 1's output and ReLU's output alive together, then Linear 1's is freed
        "forward": (2 * act, act + out + loss),
        # peak: out, loss, dL/dloss (4 B), ReLU's output, dL/d(ReLU output), Linear 2's
        # gradients, dL/d(Linear 1 output); the saved activations are freed by the end
        "backward": (out + loss + 4 + act + act + (C * H + C) * 4 + act, out + loss + grads),
        "optimizer": (out + loss + grads, out + loss + grads),  # SGD updates in place
        "cleanup": (out + loss + grads, 0),  # everything is freed
    }
    assert max(e.live_bytes for e in timeline) == measure_peak_bytes(step)


def test_timeline_of_resgnn_and_revgnn_steps():
    """RevGNN's step peaks lower than ResGNN's (same width and depth), and both return
    to the start once the step has freed everything."""
    data = random_graph(200, 1000, 8, edge_dim=4, seed=0)
    peaks = {}
    for cls in (ResGNN, RevGNN):
        torch.manual_seed(0)
        model = cls(8, 32, 3, 8, edge_dim=4)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)

        def step(model=model, opt=opt):
            mark_phase("forward")
            loss = model(data.x, data.edge_index, data.edge_attr).logsumexp(1).mean()
            mark_phase("backward")
            loss.backward()
            mark_phase("optimizer")
            opt.step()
            opt.zero_grad(set_to_none=True)

        timeline = measure_timeline(step)
        phases = _phases(timeline)
        assert list(phases) == ["", "forward", "backward", "optimizer"]
        assert timeline[-1].live_bytes == 0
        peaks[cls.__name__] = max(e.live_bytes for e in timeline)
    assert peaks["RevGNN"] < 0.6 * peaks["ResGNN"]


def test_a_tracker_that_does_not_record_keeps_no_timeline():
    with MemoryTracker() as tracker:
        mark_phase("forward")  # no recording tracker: nothing to label
        kept = torch.empty(10)
    assert tracker.timeline is None and tracker.peak == 40 and tracker.phase == "forward"
    del kept
