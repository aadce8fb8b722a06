"""Sampler speed on the 2-core CPU: prints JSON (medians of repeated runs).

Figures:
* the lab's default sampler and steps on 4,000 2-D points with a toy-sized MLP (3 x 128): target <= 1 s;
* 1,000 ddpm steps on the same: target <= 10 s;
* the sampler's own overhead, everything but the model calls: the same run with a zero-cost model (it returns a
  ready-made tensor) divided by the run with the MLP. Target <= 10 %.
Run: ``python bench/bench_samplers.py`` (add ``--all`` for every sampler at its default steps).
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from diffusion import SAMPLERS, make_schedule, sample  # noqa: E402
from diffusion.samplers import LAB_DEFAULT, default_num_steps  # noqa: E402

N_POINTS, T = 4000, 1000


def toy_mlp(dim=2):
    """The toy lab's network (diffusion.toy.model.MLP, 3 x 128) if present, else a stand-in of the same size."""
    g = torch.Generator().manual_seed(0)
    try:
        from diffusion.toy.model import MLP
        net = MLP(dim, hidden=128, depth=3, generator=g)
        return lambda x, t: net(x, t / (T - 1)), "diffusion.toy.model.MLP(hidden=128, depth=3)"
    except ImportError:
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(dim + 1, 128), torch.nn.SiLU(), torch.nn.Linear(128, 128),
                                  torch.nn.SiLU(), torch.nn.Linear(128, 128), torch.nn.SiLU(),
                                  torch.nn.Linear(128, dim))
        return lambda x, t: net(torch.cat([x, t[:, None] / (T - 1)], 1)), "stand-in MLP 3 x 128"


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(sampler, num_steps, model, zero_model, schedule, x_T, repeats, with_record=True, **options):
    # prediction_type="sample": an untrained network's output read as x0 keeps x_t O(1), as a trained model does
    # (read as epsilon, x0 = x_t / sqrt(alpha_bar) - ... grows to ~1e4 and the MLP's SiLU then makes denormals,
    # which slow every float op and would be charged to the sampler). The arithmetic per step is the same.
    run = lambda m, record=False, n=num_steps: sample(m, schedule, x_T, sampler, n, torch.Generator().manual_seed(1),
                                                    prediction_type="sample", record=record, **options)
    with torch.no_grad():
        run(model, n=min(num_steps, 10))                                  # warm-up
        nfe = run(zero_model).nfe
        t_model = median_time(lambda: run(model), repeats)
        t_zero = median_time(lambda: run(zero_model), repeats)
        t_calls = median_time(lambda: [model(x_T, torch.full((len(x_T),), 500.0)) for _ in range(nfe)], repeats)
        t_record = median_time(lambda: run(model, True), repeats) if with_record else None
    return {"sampler": sampler, "num_steps": num_steps, "nfe": nfe, "options": options,
            "seconds": round(t_model, 4), "seconds_record_true": t_record and round(t_record, 4),
            "seconds_zero_cost_model": round(t_zero, 4), "seconds_model_calls_alone": round(t_calls, 4),
            "overhead_fraction": round(t_zero / t_model, 4),
            "overhead_per_step_ms": round(1000 * t_zero / num_steps, 3)}


def main():
    torch.manual_seed(0)
    schedule = make_schedule("cosine", T)
    x_T = torch.randn(N_POINTS, 2, generator=torch.Generator().manual_seed(0))
    model, model_name = toy_mlp()
    zero = torch.zeros_like(x_T)
    zero_model = lambda x, t: zero                                        # costs nothing: a ready-made output
    out = {"points": N_POINTS, "T": T, "model": model_name, "torch_threads": torch.get_num_threads(),
           "lab_default": bench(LAB_DEFAULT["sampler"], LAB_DEFAULT["num_steps"], model, zero_model, schedule, x_T,
                                repeats=7, use_karras_sigmas=LAB_DEFAULT["use_karras_sigmas"]),
           "ddpm_1000": bench("ddpm", 1000, model, zero_model, schedule, x_T, repeats=3, with_record=False)}
    if "--all" in sys.argv:
        out["all"] = [bench(s, default_num_steps(s, schedule) if s not in ("ddpm", "pc") else 250, model,
                            zero_model, schedule, x_T, repeats=3, with_record=False) for s in SAMPLERS]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
