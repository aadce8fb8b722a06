"""Benchmark: toy.fit("moons") with default settings -- training wall-clock and sample quality. Prints JSON.

    python bench/bench_toy.py [--runs 3] [--threads N] [--flow]

Training time is the wall-clock of ``toy.fit("moons", seed=i)`` (sampling not counted); quality is
``diffusion.metrics.measure``: 10,000 samples from the model's own full-length ddpm run (all T steps), sliced
Wasserstein to fresh data in units of a fresh draw's (1.0 = as close as fresh data). Medians over ``--runs`` seeds.
The machine is shared: the 1-minute load average before and after is reported with the figures, and the process's
CPU time beside the wall-clock (with one thread, CPU time ~ the wall-clock an idle machine would show).
``--threads`` sets torch's intra-op threads for this process (default: torch's own choice).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

from diffusion import toy
from diffusion.metrics import measure


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--flow", action="store_true", help="also time objective='flow_matching'")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    toy.fit("moons", seed=99, steps=20)            # warm-up: first-call costs (imports, allocator) not counted

    def runs(**settings):
        train_s, cpu_s, quality, models = [], [], [], []
        for seed in range(args.runs):
            t0, c0 = time.perf_counter(), time.process_time()
            model = toy.fit("moons", seed=seed, **settings)
            train_s.append(time.perf_counter() - t0)
            cpu_s.append(time.process_time() - c0)
            quality.append(measure(model))
            models.append(model)
        return train_s, cpu_s, quality, models

    train_s, cpu_s, quality, models = runs()
    m = models[0]
    t0 = time.perf_counter()
    m.sample(4000, seed=0, record=False)           # the lab's default sampler and steps (diffusion.LAB_DEFAULT)
    sample_s = time.perf_counter() - t0
    out = {
        "task": "toy.fit('moons') default settings",
        "settings": {k: v for k, v in toy.DEFAULTS.items()},
        "alpha_bar_T": m.schedule.alphas_cumprod[-1].item(),
        "runs": args.runs,
        "train_s_median": round(statistics.median(train_s), 3),
        "train_s_all": [round(t, 3) for t in train_s],
        "train_cpu_s_median": round(statistics.median(cpu_s), 3),   # CPU time of this process (all its threads)
        "quality_median": round(statistics.median(quality), 3),
        "quality_all": [round(q, 3) for q in quality],
        "quality_measured_with": "10,000 samples, ddpm, all T steps, seed 0 (diffusion.metrics.measure)",
        "sample_4000_lab_default_s": round(sample_s, 3),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }
    if args.flow:
        train_s, _, quality, _ = runs(objective="flow_matching")
        out["flow_train_s_median"] = round(statistics.median(train_s), 3)
        out["flow_quality_median"] = round(statistics.median(quality), 3)
        out["flow_quality_measured_with"] = "10,000 samples, euler, 100 steps"
    out["load_avg_1min_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
