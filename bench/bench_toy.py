"""Benchmark: the default toy model on every shape, word and a drawing -- k-NN precision/recall and seconds. JSON.

    python bench/bench_toy.py [--seeds 0,1,2] [--threads 1] [--steps 250,500,1000,2000] [--only moons,text:LAB]

For each data set and seed: wall-clock of ``toy.fit(data, seed)`` with default settings (``--steps`` adds runs with
other step counts: the quality-against-seconds frontier), then 4,000 samples of ``model.sample(4000)`` -- the lab's
default sampler (diffusion.LAB_DEFAULT) -- timed, and their k-NN precision and recall (diffusion.fidelity, k = 3)
against 4,000 fresh points of the data (a drawing: 4,000 fresh points of it, seed 9001), in the data's standardised
coordinates, which are the picture's. Medians over the seeds. Also, for moons: the sliced-Wasserstein ratio of
10,000 samples of the model's full-length ddpm run, as one set against the 32,000-point population
(diffusion.metrics.measure), and the per-axis standard deviation of x_T as the lab draws it for every data set.
Targets (issue 13): precision and recall >= 0.90; fit <= 5 s for shapes, <= 10 s for words and drawings; 4,000
samples <= 0.5 s; moons SW ratio <= 1.5; x_T per-axis std in [0.9, 1.1].
The machine may be shared: the 1-minute load average before and after is printed, and each fit's CPU time.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from diffusion import toy  # noqa: E402
from diffusion.fidelity import precision_recall  # noqa: E402
from diffusion.metrics import measure  # noqa: E402

SHAPES = ["moons", "swiss_roll", "circles", "gaussians8", "checkerboard", "spiral"]
WORDS = ["text:HELLO", "text:DIFFUSION", "text:LAB", "text:NOISE", "text:SCORE", "text:MODEL"]
DRAWING = ROOT / "tests" / "fixtures" / "drawing_house.png"


def _drawing_points(n: int, seed: int) -> torch.Tensor:
    from PIL import Image
    return toy.points_from_image(Image.open(DRAWING), n=n, seed=seed)


def one(name: str, seed: int, steps: int | None) -> dict:
    data = _drawing_points(8000, seed) if name == "drawing" else name
    reference = (lambda n, s: _drawing_points(n, s)) if name == "drawing" else name
    settings = {} if steps is None else {"steps": steps}
    t0, c0 = time.perf_counter(), time.process_time()
    model = toy.fit(data, seed=seed, **settings)
    fit_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    samples = model.sample(4000, seed=seed, record=False).x0
    sample_s = time.perf_counter() - t0
    pr = precision_recall(samples, reference)
    x_T = model.to_data(torch.randn(20000, model.dim, generator=torch.Generator().manual_seed(seed)))
    return {"fit_s": fit_s, "cpu_s": cpu_s, "sample_s": sample_s, "precision": pr.precision, "recall": pr.recall,
            "x_T_std": x_T.std(0).tolist(), "model": model}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", default="", help="extra training lengths for the frontier, comma separated")
    p.add_argument("--only", default="", help="data sets to run (default: all shapes, words and the drawing)")
    p.add_argument("--no-sw", action="store_true", help="skip the moons sliced-Wasserstein figure (slow: ddpm 1000)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    names = args.only.split(",") if args.only else SHAPES + WORDS + ["drawing"]
    load_before = os.getloadavg()[0]
    toy.fit("moons", seed=99, steps=20)                     # warm-up: first-call costs not counted
    out = {"task": "default toy.fit on every data set; 4,000 samples of the lab's default sampler",
           "settings": dict(toy.DEFAULTS), "sampler": "diffusion.LAB_DEFAULT", "seeds": seeds,
           "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "data": {}, "frontier": {}}
    sw_model = None
    for name in names:
        runs = [one(name, s, None) for s in seeds]
        if name == "moons":
            sw_model = runs[0]["model"]
        med = lambda k: round(statistics.median(r[k] for r in runs), 3)  # noqa: E731
        row = {k: med(k) for k in ("precision", "recall", "fit_s", "cpu_s", "sample_s")}
        row["precision_all"] = [round(r["precision"], 3) for r in runs]
        row["recall_all"] = [round(r["recall"], 3) for r in runs]
        row["fit_s_all"] = [round(r["fit_s"], 2) for r in runs]
        row["x_T_std_range"] = [round(min(min(r["x_T_std"]) for r in runs), 3),
                                round(max(max(r["x_T_std"]) for r in runs), 3)]
        budget = 5.0 if name in SHAPES else 10.0
        row["meets"] = {"precision_recall_0.90": row["precision"] >= 0.90 and row["recall"] >= 0.90,
                        f"fit_within_{budget:g}s": row["fit_s"] <= budget, "sample_within_0.5s": row["sample_s"] <= 0.5}
        out["data"][name] = row
        print(json.dumps({name: row}), file=sys.stderr, flush=True)
        for steps in [int(s) for s in args.steps.split(",") if s]:
            extra = [one(name, s, steps) for s in seeds]
            out["frontier"].setdefault(name, []).append(
                {"steps": steps, "fit_s": round(statistics.median(r["fit_s"] for r in extra), 2),
                 "precision": round(statistics.median(r["precision"] for r in extra), 3),
                 "recall": round(statistics.median(r["recall"] for r in extra), 3)})
            print(json.dumps({name: out["frontier"][name][-1]}), file=sys.stderr, flush=True)
    if sw_model is not None and not args.no_sw:
        out["moons_sw_ratio_ddpm_full_10000"] = round(measure(sw_model), 3)   # seed 0's model, one set of 10,000
    rows = out["data"].values()
    out["all_meet_precision_recall"] = all(r["meets"]["precision_recall_0.90"] for r in rows)
    out["load_avg_1min_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
