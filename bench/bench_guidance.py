"""Benchmark: classifier-free guidance on labelled toy data -- exact and learned, against w. JSON on stdout.

    python bench/bench_guidance.py [--threads 1] [--repeats 5]

1. **Exact, every sampler, w = 1 and w = 0** on a labelled mixture of two classes with two unequal components each
   (tests/test_exact_guidance.py's): each class's component shares and spreads from 4,000 guided samples against
   the sub-mixture's weights and std (targets: shares within 0.02, spreads within 5 %), and at w = 0 the whole
   mixture's.
2. **The sweep** (diffusion.labs.guidance.sweep, the Guidance lab's table) for gaussians8 and
   gaussians8:plus-cross: per w in (0, 1, 2, 3, 5, 7), in class / diversity / off-centre of the exact model's
   guided samples, of the tilted density p(x|y)^w p(x)^(1-w) drawn on a grid, and of the default conditional toy
   model (toy.fit(..., labels=True), default settings: its fit seconds printed), all from one x_T.
3. **Cost**: a guided run (w = 3: both halves in one batched network call) against the same run unguided
   (w = 1), 1,000 points, the lab's default sampler; median of ``--repeats`` (target: ratio <= 2.1).
4. **Digits** (``--digits-only`` for this alone): 16 digits from the bundled conditional model, DDIM 50, guided
   (w = 3) against w = 1 (targets: <= 5 s, ratio <= 2.1).
5. **The Compare tab's digit sweep** (``--sweep-only`` for this alone): for every digit, 16 samples at each
   w in (0, 1, 2, 3, 5, 7) from one x_T, judged by the bundled digit judge (assets/digit-judge): share read as the
   digit asked for and diversity (1 = as varied as the real digits), per digit and averaged.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from diffusion import SAMPLERS, make_schedule, sample, toy  # noqa: E402
from diffusion.exact import GaussianMixture  # noqa: E402
from diffusion.labs import guidance as G  # noqa: E402

MIX = GaussianMixture.isotropic([0.3, 0.1, 0.4, 0.2], [[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]], [0.2] * 4,
                                labels=[0, 0, 1, 1])
STEPS = {"ddpm": 1000, "pc": 500, "euler_ancestral": 400}


def exact_samplers(n: int = 4000) -> dict:
    sched = make_schedule("cosine", 1000)
    model = MIX.model(sched, "epsilon")
    x_T = torch.randn(n, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = {}
    for name in SAMPLERS:
        row = {}
        for label, w in ((0, 1.0), (1, 1.0), (0, 0.0)):
            x = sample(model, sched, x_T, name, STEPS.get(name, 250), torch.Generator().manual_seed(2), y=label,
                       guidance_scale=w, timestep_spacing="trailing").x0
            target = MIX if w == 0 else MIX.sub_mixture(label)
            k = torch.cdist(x, target.means).argmin(1)
            shares = torch.bincount(k, minlength=target.num_components).double() / n
            spread = torch.stack([(x[k == j] - target.means[j]).std() for j in range(target.num_components)])
            row[f"class {label}, w = {w:g}"] = dict(
                share_error=float((shares - target.weights).abs().max()),
                spread_error=float((spread / 0.2 - 1).abs().max()))
        out[name] = row
    return out


class ExactAsModel:
    """The exact conditional model with the attributes the lab's sweep reads (so its 'learned' column is exact)."""
    conditional = True

    def __init__(self, mixture):
        self.schedule, self.prediction_type = make_schedule("linear", 1000), "v_prediction"
        self.exact, self.null_label = mixture.model(self.schedule, "v_prediction"), mixture.null_label

    def __call__(self, x_t, t, y=None):
        return self.exact(x_t.double(), t, y).to(x_t.dtype)


def _rounded(rows):
    return [{k: (v if not isinstance(v, dict) else {a: (None if b is None else round(b, 3)) for a, b in v.items()})
             for k, v in r.items()} for r in rows]


def sweeps() -> dict:
    out = {}
    for name in ("gaussians8", "gaussians8:plus-cross"):
        data = G.GuidanceData.from_name(name)
        t0 = time.perf_counter()
        model = toy.fit(name, labels=True, seed=0)
        fit_s = time.perf_counter() - t0
        out[name] = dict(fit_s=round(fit_s, 2), class_=data.class_names[0],
                         rows=_rounded(G.sweep(model, data, 0)))
    return out


def cost(repeats: int) -> dict:
    model = toy.fit("gaussians8:plus-cross", labels=True, seed=0, steps=100)
    times = {}
    for w in (1.0, 3.0):
        runs = []
        for r in range(repeats + 1):
            t0 = time.perf_counter()
            model.sample(1000, seed=r, y=0, guidance_scale=w, record=False)
            runs.append(time.perf_counter() - t0)
        times[w] = statistics.median(runs[1:])               # the first run warms up
    return dict(unguided_s=round(times[1.0], 4), guided_s=round(times[3.0], 4),
                ratio=round(times[3.0] / times[1.0], 3), target_ratio=2.1)


def digits_cost(repeats: int) -> dict:
    """16 digits from the bundled conditional model, DDIM 50 (no x0 clipping, as the lab runs it): guided (w = 3,
    one batched call a step) against conditional (w = 1), seconds, median of ``repeats``, interleaved."""
    from diffusion import hub
    from diffusion.labs.image_runs import initial_noise
    model = hub.load_model(hub.BUNDLED_COND_ID)
    opts = dict(model.sampler_options("ddim"), clip_sample=False)
    times = {1.0: [], 3.0: []}
    for _ in range(repeats):
        for w in times:
            x_T, g = initial_noise(model, 16, 0)
            t0 = time.perf_counter()
            sample(model, model.schedule, x_T, "ddim", 50, g, y=torch.arange(16) % 10, guidance_scale=w,
                   record=False, **opts)
            times[w].append(time.perf_counter() - t0)
    guided, plain = statistics.median(times[3.0]), statistics.median(times[1.0])
    return dict(guided_s=round(guided, 3), unguided_s=round(plain, 3), ratio=round(guided / plain, 3))


def digit_sweeps(n: int = 16) -> dict:
    """The Compare tab's guidance sweep (its defaults: 16 samples a w, DDIM 50, seed 0) for every digit, judged by
    the bundled digit judge: share read as asked and diversity per w, and their averages over the 10 digits."""
    from diffusion import digit_judge, hub
    from diffusion.labs.digit_guidance import SWEEP_SCALES, guidance_sweep
    model, judge = hub.load_model(hub.BUNDLED_COND_ID), digit_judge.load_judge(digit_judge.BUNDLED_DIR)
    per_digit = {}
    for d in range(10):
        out = guidance_sweep(model, judge, d, n=n, seed=0)
        per_digit[d] = {f"{r['w']:g}": dict(as_asked=round(r["as_asked"], 4), diversity=round(r["diversity"], 3))
                        for r in out["rows"]}
    mean = {f"{w:g}": dict(as_asked=round(statistics.mean(per_digit[d][f"{w:g}"]["as_asked"] for d in range(10)), 4),
                           diversity=round(statistics.mean(per_digit[d][f"{w:g}"]["diversity"] for d in range(10)), 3))
            for w in SWEEP_SCALES}
    return dict(n_per_w=n, steps=50, mean_over_digits=mean, per_digit=per_digit)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--digits-only", action="store_true", help="only the bundled conditional model's cost")
    p.add_argument("--sweep-only", action="store_true", help="only the Compare tab's digit sweep, every digit")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.sweep_only:
        print(json.dumps(dict(threads=a.threads, digit_sweeps=digit_sweeps()), indent=1))
        return
    if a.digits_only:
        print(json.dumps(dict(threads=a.threads, digits_cost=digits_cost(a.repeats)), indent=1))
        return
    out = dict(threads=a.threads, exact_samplers=exact_samplers(), cost=cost(a.repeats), sweeps=sweeps(),
               digits_cost=digits_cost(a.repeats), digit_sweeps=digit_sweeps())
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
