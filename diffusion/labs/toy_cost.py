"""What a toy training or sampling run will cost, estimated from its settings before it starts.

A toy network's time is its multiply-adds: per point, (input width x hidden) + depth x 2 hidden^2 + hidden x d
(:func:`macs`). One training step costs ``a + b * batch * macs`` seconds and one sampling call ``c + e * n * macs``:
the two lines are fitted once per process (:func:`calibrate`: a few timed steps and calls of two sizes, on one
thread, ~1 s), never from visitors' runs, so one visitor's slow or fast run cannot change another's estimate.
The estimate is for an idle server; the lab refuses a run whose estimate is over its limit and names the largest
setting that fits (:func:`largest_steps`).
"""
from __future__ import annotations

import functools
import math
import time

import torch

__all__ = ["macs", "model_work", "calibrate", "train_seconds", "sample_seconds", "largest_steps", "Costs"]


def macs(dim: int, hidden: int, depth: int, fourier_octaves: int, embedding_dim: int = 32) -> int:
    """Multiply-adds of one forward pass of :class:`diffusion.toy.model.MLP` for one point."""
    width_in = dim + 2 * fourier_octaves * dim + embedding_dim
    return width_in * hidden + depth * 2 * hidden * hidden + hidden * dim


class Costs:
    """Fitted lines: train step = train_a + train_b * batch * macs; sample call = call_a + call_b * n * macs."""

    def __init__(self, train_a: float, train_b: float, call_a: float, call_b: float):
        self.train_a, self.train_b, self.call_a, self.call_b = train_a, train_b, call_a, call_b

    def __repr__(self):
        return (f"Costs(train step {self.train_a * 1e3:.2f} ms + {self.train_b * 1e9:.3f} ns per point-MAC, "
                f"call {self.call_a * 1e3:.2f} ms + {self.call_b * 1e9:.3f} ns per point-MAC)")


def _time(fn, repeats: int) -> float:
    fn()                                                   # warm-up (allocator, first-call costs)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def _line(x1, y1, x2, y2):
    b = max((y2 - y1) / (x2 - x1), 1e-15)
    return max(y1 - b * x1, 0.0), b


@functools.lru_cache(maxsize=1)
def calibrate() -> Costs:
    """Time a training step and a sampling call at two sizes (one thread, the way the lab runs a request)."""
    from ..toy.model import MLP
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        g = torch.Generator().manual_seed(0)
        points = []
        for hidden, batch in ((32, 64), (128, 1024)):
            net = MLP(2, hidden, 2, True, 7, generator=g)
            opt = torch.optim.Adam(net.parameters(), lr=1e-3)
            x, s, y = torch.randn(batch, 2), torch.rand(batch), torch.randn(batch, 2)

            def step():
                loss = ((net(x, s) - y) ** 2).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            def call():
                with torch.no_grad():
                    net(x, s)
            points.append((batch * macs(2, hidden, 2, 7), _time(step, 5), _time(call, 5)))
        (w1, s1, c1), (w2, s2, c2) = points
        return Costs(*_line(w1, s1, w2, s2), *_line(w1, c1, w2, c2))
    finally:
        torch.set_num_threads(threads)


def train_seconds(costs: Costs, *, steps: int, batch_size: int, work: int) -> float:
    """Estimated seconds of ``steps`` training steps; ``work`` = macs() of the network."""
    return steps * (costs.train_a + costs.train_b * batch_size * work)


def sample_seconds(costs: Costs, *, calls: int, n: int, work: int) -> float:
    """Estimated seconds of a run of ``calls`` network calls on ``n`` points."""
    return calls * (costs.call_a + costs.call_b * n * work)


def largest_steps(costs: Costs, limit_s: float, *, batch_size: int, work: int) -> int:
    """The most training steps that fit in ``limit_s`` at this batch size and network."""
    return max(0, math.floor(limit_s / (costs.train_a + costs.train_b * batch_size * work)))


def model_work(model) -> int:
    """macs() of a trained ToyModel's network."""
    net = model.net
    return macs(net.dim, net.inp.out_features, len(net.blocks), net.fourier_octaves, net.embedding_dim)
