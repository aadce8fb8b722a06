"""Benchmark: editing with an unconditional model -- the toy methods against the exact posterior, and the digits
judged. JSON on stdout (and bench/out/bench_edit.json).

    python bench/bench_edit.py [--threads 1] [--digits 100] [--skip-images]

1. **Toy, exact model** (diffusion.labs.edit_toy, the Edit lab's 2-D panel): the eight Gaussians, a known
   x-coordinate c in (0.5, 0.9, 1.2), a noisy linear measurement and a noisy copy (the lab's defaults); 10,000
   particles, 50 steps, one x_T per observation; per method its distance to the exact posterior (the lab's
   quality yardstick: 1.0 = as close as a fresh draw of the posterior), its model calls, and the mean distance of
   its samples from the measurement; for the coordinates also replacement and DPS (step size 0.1) with 200 steps.
   Also three fresh draws of each coordinate posterior, for the yardstick's own spread. ``--skip-images`` writes
   bench/out/bench_edit_toy.json instead.
2. **Digits, bundled model**: ``--digits`` held-out digits (the same number of each class), judged by the test's
   digit classifier (tests/digit_classifier.py): inpainting with the left half known (replacement, RePaint with
   jump 5 x resample 5, DPS; 50 steps) -- known half kept bit for bit, share judged the original digit, RMS error;
   super-resolution from 10 x 10 (ILVR, DPS); denoising at noise std 0.5 on [-1, 1] (the reverse process from the
   matched timestep vs the one-step Tweedie estimate): judged share, RMS error and sharpness (mean gradient).
3. **Speed**: 8 digits, 50 steps, each method (seconds), and RePaint r = 5.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from diffusion.labs import edit_toy as ET  # noqa: E402


def toy(n: int = 10_000) -> dict:
    out = {}
    cases = [(f"coordinate x = {c:g}", ET.observe("coordinate", c=c)) for c in (0.5, 0.9, 1.2)]
    cases += [("linear (default)", ET.observe("linear")), ("copy (default)", ET.observe("copy"))]
    for name, obs in cases:
        res = ET.toy_edits(obs, n=n, seed=0, num_steps=50)
        row = {m: dict(distance=round(r.distance, 2), model_calls=r.nfe, off_measurement=round(r.off_measurement, 3),
                       seconds=round(r.seconds, 2)) for m, r in res.runs.items()}
        if obs.kind == "coordinate":        # DPS with more, smaller steps (and replacement with as many)
            long = ET.toy_edits(obs, n=n, seed=0, num_steps=200, methods=("replacement", "dps"),
                                options={"dps": {"step_size": 0.1}})
            for m, r in long.runs.items():
                row[f"{m}, 200 steps" + (", step size 0.1" if m == "dps" else "")] = dict(
                    distance=round(r.distance, 2), model_calls=r.nfe, off_measurement=round(r.off_measurement, 3),
                    seconds=round(r.seconds, 2))
            from diffusion.metrics import quality
            ref = lambda m, s: res.posterior.sample(m, torch.Generator().manual_seed(ET.REFERENCE_SEED + s),  # noqa
                                                    torch.float64)
            row["fresh posterior draws"] = [round(quality(res.posterior.sample(n, torch.Generator().manual_seed(s),
                                                                                  torch.float64), ref, chunk=n), 2)
                                            for s in (1, 2, 3)]
        out[name] = row
        print(json.dumps({name: row}), file=sys.stderr, flush=True)
    return out


def digits(per_class: int) -> dict:
    from digit_classifier import load_data, train_classifier
    from diffusion import hub
    from diffusion.image_metrics import rms, sharpness
    from diffusion.labs import edit_image as EI

    model = hub.load_model(hub.BUNDLED_ID)
    data = load_data(model.sample_size[0])
    judge = train_classifier(data, seed=0)
    idx = torch.cat([torch.nonzero(data["held_y"] == c)[:per_class, 0] for c in range(10)])
    x0, labels = data["held_x"][idx], data["held_y"][idx]
    cases = [("inpaint left half", "inpaint", m, {}) for m in EI.METHODS_FOR["inpaint"]]
    cases += [("super-resolve 10x10", "superres", m, {"factor": 2}) for m in EI.METHODS_FOR["superres"]]
    cases += [("denoise std 0.5", "denoise", m, {"noise_std": 0.5}) for m in EI.METHODS_FOR["denoise"]]
    out = {}
    for name, task, method, kw in cases:
        xs, t0 = [], time.perf_counter()
        for i in range(0, len(x0), 16):
            run = EI.image_edit(model, x0[i:i + 16], task, method, seed=i, limit_s=1e9, max_frames=2, **kw)
            xs.append(torch.from_numpy(run.final_float))
        x = torch.cat(xs).clamp(-1, 1)
        row = dict(judged_original=round(EI.judged_fraction(judge.judge(x), labels), 3), rms=round(rms(x, x0), 4),
                   sharpness=round(sharpness(x), 4), seconds=round(time.perf_counter() - t0, 1))
        if task == "inpaint":
            known = EI.named_mask("left half", x0.shape[1:])
            row["known_kept_bit_for_bit"] = bool(torch.equal(torch.from_numpy(
                run.final_float)[:, known], x0[i:i + 16][:, known]))
        out.setdefault(name, {})[method] = row
        print(json.dumps({name: {method: row}}), file=sys.stderr, flush=True)
    out["originals"] = dict(judged_original=round(EI.judged_fraction(judge.judge(x0), labels), 3),
                            sharpness=round(sharpness(x0), 4))
    speed = {}
    for task, method in (("inpaint", "replacement"), ("inpaint", "repaint"), ("inpaint", "dps"),
                         ("superres", "ilvr"), ("superres", "dps"), ("denoise", "denoise")):
        times = []
        for rep in range(3):
            t0 = time.perf_counter()
            EI.image_edit(model, x0[:8], task, method, seed=rep)
            times.append(time.perf_counter() - t0)
        speed[f"{task} {method}"] = round(sorted(times)[1], 2)
    out["seconds_8_digits_median_of_3"] = speed
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--digits", type=int, default=100, help="held-out digits (a multiple of 10)")
    p.add_argument("--skip-images", action="store_true")
    p.add_argument("--toy-points", type=int, default=10_000)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = {"threads": args.threads, "toy_exact_model": toy(args.toy_points)}
    if not args.skip_images:
        result["digits"] = digits(max(1, args.digits // 10))
    text = json.dumps(result, indent=1)
    print(text)
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / ("bench_edit_toy.json" if args.skip_images else "bench_edit.json")).write_text(text)


if __name__ == "__main__":
    main()
