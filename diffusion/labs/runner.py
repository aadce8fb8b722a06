"""What the labs' runs share: which frames of a long run to keep, and the watch that stops a run when its visitor
presses Stop or it passes its time limit."""
from __future__ import annotations

import time

from ..samplers import StopSampling

__all__ = ["keep_indices", "clean_to_noise", "Watch", "MAX_FRAMES"]

MAX_FRAMES = 100   # frames kept per view of a run (longer runs are subsampled evenly, both ends kept)


def keep_indices(count: int, limit: int) -> list[int]:
    """At most ``limit`` evenly spread indices into ``count`` items, always keeping the first and the last."""
    if count <= limit:
        return list(range(count))
    return sorted({round(i * (count - 1) / (limit - 1)) for i in range(limit)})


def clean_to_noise(traj, limit: int = MAX_FRAMES) -> tuple[list[int], list]:
    """Indices into a recorded Trajectory's ``xs`` of at most ``limit`` states ordered clean -> noise (xs[K], the
    sample, first; xs[0] = x_T last), and the timestep each state was at (None for the sample)."""
    K = len(traj.timesteps)
    states = [K - j for j in keep_indices(K + 1, limit)]
    return states, [None if k == K else float(traj.timesteps[k]) for k in states]


class Watch:
    """Asked after every step (``watch.check()``): raises StopSampling when ``should_stop()`` says so or the
    monotonic clock passes ``deadline``; ``timed_out`` then tells which."""

    def __init__(self, should_stop=None, deadline: float | None = None):
        self.should_stop, self.deadline = should_stop, deadline
        self.timed_out = False

    def stop_now(self) -> bool:
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.timed_out = True
            return True
        return bool(self.should_stop is not None and self.should_stop())

    def check(self) -> None:
        if self.stop_now():
            raise StopSampling
