"""Compare lab benchmark: the sampler race's wall time; prints one JSON object of medians.

    python bench/bench_race.py                # 3 repeats of each race
    python bench/bench_race.py --repeats 5

Figures and the goals they answer:
* toy_race_s (<= 10 s): the default toy race -- 5 samplers (ddpm, ddim, euler, heun, dpmpp_2m) x 4 step counts
  (5, 10, 20, 50), 2,000 points, leading spacing -- on the Toy lab's default model (toy.fit("moons"), trained
  here first, not timed), including the quality figure of every cell (diffusion.labs.race.race, as /race runs it).
* exact_race_s: the same race on the exact gaussians8 mixture denoiser (no training; its closed form costs more
  per call than the small MLP).
* image_race_s (<= 30 s): the default image race -- 4 samplers (ddpm, ddim, heun, dpmpp_2m) x 3 step counts
  (5, 10, 25), 4 images, leading spacing -- on the bundled MNIST DDPM (assets/mnist-ddpm), when it is there.
* figures_s: drawing the toy race's clouds, plot and PNG (what the tab adds after the race).
The machine is shared: the load average before and after is printed, repeats are few on purpose (no benchmark
loops), and every figure is a median.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from diffusion.labs import race, racers  # noqa: E402


def timed(fn, repeats: int) -> tuple[float, list[float], object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    out: dict = {"load_before": [round(v, 2) for v in os.getloadavg()], "cpus": os.cpu_count(),
                 "torch_threads": torch.get_num_threads(), "repeats": args.repeats}

    from diffusion import toy
    t0 = time.perf_counter()
    model = toy.fit("moons", seed=0)
    out["toy_fit_s"] = round(time.perf_counter() - t0, 2)
    racer = racers.toy_racer(model)
    med, times, result = timed(lambda: race.race(racer, spacing="leading", limit_s=600), args.repeats)
    out["toy_race_s"], out["toy_race_runs_s"] = round(med, 2), [round(t, 2) for t in times]
    out["toy_race_calls"] = sum(c.nfe for c in result.cells)
    out["toy_race_quality"] = {f"{c.sampler}/{c.num_steps}": round(c.quality, 2) for c in result.cells}

    from ui.compare import figures
    ref = racers.reference_points(racer, 1000, 0).numpy()
    med, _, _ = timed(lambda: figures.stack([figures.race_clouds(result, ref), figures.race_plot(result)]),
                      args.repeats)
    out["figures_s"] = round(med, 2)

    exact = racers.exact_racer("gaussians8")
    med, times, result = timed(lambda: race.race(exact, spacing="leading", limit_s=600), args.repeats)
    out["exact_race_s"], out["exact_race_runs_s"] = round(med, 2), [round(t, 2) for t in times]

    from diffusion import hub
    try:
        image_model = hub.load_model(hub.BUNDLED_ID)
    except hub.HubError as exc:
        out["image_race_s"] = None
        out["image_race_note"] = f"skipped: {exc}"
    else:
        img = racers.image_racer(image_model)
        med, times, result = timed(lambda: race.race(img, spacing="leading", limit_s=600), args.repeats)
        out["image_race_s"], out["image_race_runs_s"] = round(med, 2), [round(t, 2) for t in times]
        out["image_race_calls"] = sum(c.nfe for c in result.cells)
        out["image_race_spacing"] = "leading (the tab's default)"
    out["load_after"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
