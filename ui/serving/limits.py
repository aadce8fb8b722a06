"""Work limits per request for toy networks (the Toy and Guidance labs): a training or sampling run is estimated from its settings before it starts
(diffusion.labs.toy_cost, calibrated once per process, never from visitors' runs) and refused over its limit with
the largest setting that fits; a training run is also stopped at :func:`hard_cap` seconds (the model so far kept)."""
from __future__ import annotations

import time

import gradio as gr

from diffusion import model_calls, toy
from diffusion.fidelity import SAMPLES
from diffusion.labs import toy_cost

from ..widgets.inputs import refusal

# Work limits per request, on the estimate for an idle server (diffusion.labs.toy_cost, calibrated once per process,
# never from visitors' runs). A training run is also stopped at a hard wall-clock cap: a fixed multiple of its own
# estimate (the machine may be busy), at least HARD_CAP_MIN_S, at most HARD_CAP_MAX_S; the model so far is kept.
MAX_TRAIN_S = 120.0
MAX_SAMPLE_S = 60.0
HARD_CAP_FACTOR, HARD_CAP_MIN_S, HARD_CAP_MAX_S = 3.0, 30.0, 360.0
WALL_FACTOR = 4.0   # the wall-clock bound of a run, in multiples of its CPU cap


class WorkCap:
    """A training run's stop rule, asked from inside its own thread: True once the thread has used more CPU than
    :func:`hard_cap` of the estimate, or the wall clock passed WALL_FACTOR times that. CPU time, not wall time, so a
    run slowed down by other visitors' work (a busy class, a hostile flood) is not cut short for it."""

    def __init__(self, estimate: float):
        self.cpu_s, self.wall_s = hard_cap(estimate), WALL_FACTOR * hard_cap(estimate)
        self._cpu0 = self._wall0 = None
        self.hit = False

    def __call__(self) -> bool:
        if self._cpu0 is None:
            self._cpu0, self._wall0 = time.thread_time(), time.perf_counter()
        self.hit = (time.thread_time() - self._cpu0 > self.cpu_s or time.perf_counter() - self._wall0 > self.wall_s)
        return self.hit


def hard_cap(estimate: float) -> float:
    """A training run's wall-clock cap: a fixed multiple of its own estimate, within [HARD_CAP_MIN_S, HARD_CAP_MAX_S]."""
    return min(max(HARD_CAP_FACTOR * estimate, HARD_CAP_MIN_S), HARD_CAP_MAX_S)


def refuse_long_training(kwargs: dict, dim: int) -> float:
    """The run's estimated seconds; a gr.Error naming the largest step count that fits if over MAX_TRAIN_S."""
    costs = toy_cost.calibrate()
    work = toy_cost.macs(dim, kwargs["hidden"], kwargs["depth"], toy.DEFAULTS["fourier_octaves"])
    est = toy_cost.train_seconds(costs, steps=kwargs["steps"], batch_size=kwargs["batch_size"], work=work)
    if est > MAX_TRAIN_S:
        fit = toy_cost.largest_steps(costs, MAX_TRAIN_S, batch_size=kwargs["batch_size"], work=work)
        raise limit_refusal(
            (f"This training would take about {est:.0f} s ({kwargs['steps']} steps of batch {kwargs['batch_size']}, "
            f"width {kwargs['hidden']}, depth {kwargs['depth']}); the lab allows {MAX_TRAIN_S:.0f} s per run: "
            f"at these settings at most {fit} steps fit, or use a smaller batch or network"))
    return est


def refuse_long_sampling(model, sampler: str, num_steps: int, n: int) -> None:
    """gr.Error if the run (with the yardstick's own 4,000-point run when n is smaller) is over MAX_SAMPLE_S."""
    costs = toy_cost.calibrate()
    work = toy_cost.model_work(model)
    points = n + (SAMPLES if n < SAMPLES else 0)
    calls = model_calls(sampler, num_steps)
    est = toy_cost.sample_seconds(costs, calls=calls, n=points, work=work)
    if est > MAX_SAMPLE_S:
        per_call = toy_cost.sample_seconds(costs, calls=1, n=points, work=work)
        fit = max(1, int(MAX_SAMPLE_S / per_call) if sampler != "heun" else int((MAX_SAMPLE_S / per_call + 1) / 2))
        raise limit_refusal(
            (f"This run would take about {est:.0f} s ({calls} network calls on {n} points); the lab allows "
            f"{MAX_SAMPLE_S:.0f} s per run: with {sampler} at most {fit} steps fit, or use fewer points"))


def at_admission(check, inputs: int, at: int):
    """A Gradio ``validator`` for an event with ``inputs`` inputs: it runs ``check(*values)`` when the request
    arrives -- before it waits for a slot -- and turns the refusal ``check`` raises (a gr.Error) into a validation
    message on input ``at`` (the slider to move). Anything else ``check`` raises (a bad value) is left to the
    handler, which names it; so the handler still checks everything, and the validator only answers sooner."""
    def validator(*values):
        ok = [gr.validate(True, "") for _ in range(inputs)]
        try:
            check(*values)
        except gr.Error as exc:
            if getattr(exc, "lab_limit", False):
                ok[at] = gr.validate(False, exc.message)
        except Exception:
            pass
        return ok
    return validator


def limit_refusal(message: str) -> gr.Error:
    """A work-limit refusal: the gr.Error of :func:`refusal`, marked so :func:`at_admission` shows it at once."""
    exc = refusal(message)
    exc.lab_limit = True
    return exc
