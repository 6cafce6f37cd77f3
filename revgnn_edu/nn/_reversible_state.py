"""The private state behind :class:`~revgnn_edu.nn.GroupReversible`.

The slot a coupling keeps its output in between forward and backward, small gradient
helpers, and what the backward pass needs to replay a block's forward exactly: the
autocast settings, the default random generator under a seed, the state of every
``torch.Generator`` a block holds or receives, and the checks that refuse random
generators and tensors requiring grad that the replay cannot see.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from functools import reduce
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from .grad_handoff import PendingGradients


class _Slot:
    """Where one coupling keeps its output :math:`Y` between forward and backward.

    The next coupling takes it over in forward (empties it, keeping only a weak
    reference to the caller's tensor) and refills it in backward with the :math:`Y` it
    rebuilt. Version counters catch in-place changes that would break the inverse.
    """

    def __init__(self):
        self.tensor: Tensor | None = None
        self.version = 0
        self.handed_over = False
        self.visible = None
        #: ids of the coupling's tensor arguments that require grad (None for the others)
        self.arg_ids: tuple[int | None, ...] = ()
        #: gradients of those arguments handed down by the coupling above
        self.pending = PendingGradients()

    def keep(self, y: Tensor) -> None:
        self.tensor, self.version = y.detach(), y._version  # an alias: no graph, no copy

    def take_over(self, y: Tensor) -> None:
        self.tensor, self.handed_over = None, True
        self.visible = weakref.ref(y)  # still usable while the caller keeps y

    def refill(self, y: Tensor) -> None:
        self.tensor, self.version = y, y._version

    def get(self) -> Tensor:
        y = self.tensor if self.tensor is not None else (self.visible and self.visible())
        if y is None:
            raise RuntimeError(
                "GroupReversible: this layer's output was handed to the next reversible "
                "layer, which frees it, but the backward pass reached this layer without "
                "going through that next layer, so nothing rebuilt the output. Compute "
                "the loss from the last layer's output, keep a reference to this layer's "
                "output, or use memory_efficient=False."
            )
        if y._version != self.version:
            raise RuntimeError(
                "GroupReversible: the output of a reversible layer was modified in place "
                "after the forward pass; rebuilding the layer's input needs it unchanged "
                "(use out = out + ... instead of out += ...)."
            )
        return y


def _sum(tensors: Sequence[Tensor]) -> Tensor:
    return reduce(torch.add, tensors)


def _add(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    """a + b, where None stands for a zero gradient."""
    return b if a is None else (a if b is None else a + b)


def _trim(args: tuple) -> tuple:
    """The arguments without their trailing ``None``s (``layer(h, edge_index, None)``
    calls ``block(h, edge_index)``)."""
    end = len(args)
    while end and args[end - 1] is None:
        end -= 1
    return args[:end]


def _autocast_state(device_type: str) -> dict:
    """The autocast settings in force now, to re-enter them in backward."""
    return {
        "device_type": device_type,
        "enabled": torch.is_autocast_enabled(device_type),
        "dtype": torch.get_autocast_dtype(device_type),
    }


def _default_generator(device: torch.device) -> torch.Generator | None:
    """The default random generator of ``device`` (None for other backends)."""
    if device.type == "cpu":
        return torch.default_generator
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return torch.cuda.default_generators[index]
    return None


@contextmanager
def _seeded(device: torch.device, seed: int) -> Iterator[None]:
    """Run the body with ``device``'s default random generator seeded with ``seed``,
    then give the generator back its state. (Seeding the generator directly costs
    about 30 us; ``fork_rng`` with ``torch.manual_seed``, which visits every backend,
    costs about 2 ms.)"""
    gen = _default_generator(device)
    if gen is None:  # other backends: the general, slower way
        with torch.random.fork_rng(devices=[device], device_type=device.type):
            torch.manual_seed(seed)
            yield
        return
    state = gen.get_state()
    gen.manual_seed(seed)
    try:
        yield
    finally:
        gen.set_state(state)


@contextmanager
def _generator_states(generators: Sequence[torch.Generator], states: Sequence[Tensor]):
    """Run the body with the generators in the recorded states; restore the present ones."""
    now = [g.get_state() for g in generators]
    for g, state in zip(generators, states):
        g.set_state(state)
    try:
        yield
    finally:
        for g, state in zip(generators, now):
            g.set_state(state)


def _generators_of(block: nn.Module, args: Sequence[Any]) -> list[torch.Generator]:
    """The ``torch.Generator`` objects a block holds as an attribute of itself or of a
    submodule, or receives as an argument; each once."""
    gen = torch.Generator  # (issubclass of the type: 5x faster than isinstance here)
    found = [a for a in args if issubclass(type(a), gen)]
    found += [v for m in block.modules() for v in m.__dict__.values() if issubclass(type(v), gen)]
    return list({id(g): g for g in found}.values())


class _ForeignGenerators(TorchFunctionMode):
    """Raises if the code inside draws from a ``torch.Generator`` that the backward pass
    does not replay (one the block neither holds as an attribute nor receives)."""

    def __init__(self, allowed: Sequence[torch.Generator | None], what: str):
        super().__init__()
        self.allowed = {id(g) for g in allowed if g is not None}
        self.what = what

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        for g in (*args, *kwargs.values()):
            if isinstance(g, torch.Generator) and id(g) not in self.allowed:
                raise RuntimeError(
                    f"GroupReversible: {self.what} draws random numbers from a "
                    "torch.Generator it neither holds as an attribute nor receives as an "
                    "argument (e.g. one captured in a closure), so the backward pass cannot "
                    "replay it and the gradients would be wrong. Store the generator as an "
                    "attribute of the block, pass it as an extra argument, or draw from the "
                    "default generator."
                )
        return func(*args, **kwargs)


# blocks whose recomputation was checked for random generators that are not replayed
_RNG_CHECKED: weakref.WeakSet = weakref.WeakSet()


def _replayed_call(
    block: nn.Module,
    what: str,
    h: Tensor,
    args: tuple,
    seed: int,
    replay: tuple[Sequence[torch.Generator], Sequence[Tensor]] | None = None,
) -> Tensor:
    """``block(h, *args)`` with the default generator seeded with ``seed``. When
    recomputing in backward, ``replay`` holds the block's own generators and their
    recorded states, which are put back for the call; the first recomputation of each
    block object also refuses random numbers drawn from any other generator (``what``
    names the block in the error)."""
    generators, states = replay if replay is not None else ((), ())
    check = replay is not None and block not in _RNG_CHECKED  # once per block object
    guard = (
        _ForeignGenerators([*generators, _default_generator(h.device)], what)
        if check
        else nullcontext()
    )
    with (
        _seeded(h.device, seed),
        _generator_states(generators, states) if generators else nullcontext(),
        guard,
    ):
        out = block(h, *args)
    if check:
        _RNG_CHECKED.add(block)
    return out


def _undeclared_leaf(out: Tensor, declared: set[int]) -> Tensor | None:
    """The first tensor that requires grad and is reached by ``out``'s autograd graph
    without being in ``declared`` (ids of leaves: the block's input, arguments and
    parameters), or None. Nodes recorded before the recomputation (a captured non-leaf
    tensor's history) are walked through to the leaves they come from."""
    if out.grad_fn is None:
        return out if out.requires_grad and id(out) not in declared else None
    stack, seen = [out.grad_fn], {out.grad_fn}
    while stack:
        for node, _ in stack.pop().next_functions:
            if node is None or node in seen:
                continue
            seen.add(node)
            leaf = getattr(node, "variable", None)  # AccumulateGrad: a leaf tensor
            if leaf is None:
                stack.append(node)
            elif id(leaf) not in declared:
                return leaf
    return None


def _parameters_of(modules: Sequence[nn.Module]) -> list[nn.Parameter]:
    """The trainable parameters the modules use: their own, and those they share with
    others without owning them (``module.shared_parameters()``, e.g. a folded encoder);
    each once."""
    used = []
    for m in modules:
        used += list(m.parameters())
        used += list(getattr(m, "shared_parameters", list)())
    return [p for p in dict.fromkeys(used) if p.requires_grad]
