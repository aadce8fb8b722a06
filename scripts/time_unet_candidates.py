"""Time candidate UNet2DModel configs on this CPU (2 threads, batch 16): median ms per forward call.

Run before choosing the bundled model's architecture: the lab needs roughly <= 40 ms per batch-16 call
(DDIM 50 steps x 16 images <= 3 s, DDPM 1,000 steps x 16 <= 40 s). Prints JSON, one line per config.
"""
import json
import statistics
import time

import torch
from diffusers import UNet2DModel

D, U = "DownBlock2D", "UpBlock2D"
AD, AU = "AttnDownBlock2D", "AttnUpBlock2D"

CANDIDATES = {
    "28px_32-64-64_noattn": dict(sample_size=28, block_out_channels=(32, 64, 64), down_block_types=(D, D, D), up_block_types=(U, U, U)),
    "32px_32-64-64_noattn": dict(sample_size=32, block_out_channels=(32, 64, 64), down_block_types=(D, D, D), up_block_types=(U, U, U)),
    "28px_32-64-128_noattn": dict(sample_size=28, block_out_channels=(32, 64, 128), down_block_types=(D, D, D), up_block_types=(U, U, U)),
    "28px_32-64-128_attn7": dict(sample_size=28, block_out_channels=(32, 64, 128), down_block_types=(D, D, AD), up_block_types=(AU, U, U)),
    "28px_32-64-64_attn7": dict(sample_size=28, block_out_channels=(32, 64, 64), down_block_types=(D, D, AD), up_block_types=(AU, U, U)),
    "28px_64-64-128_noattn": dict(sample_size=28, block_out_channels=(64, 64, 128), down_block_types=(D, D, D), up_block_types=(U, U, U)),
    "28px_32-64-128_lpb2": dict(sample_size=28, block_out_channels=(32, 64, 128), down_block_types=(D, D, D), up_block_types=(U, U, U), layers_per_block=2),
}


def time_config(cfg, calls=20, batch=16):
    kw = dict(in_channels=1, out_channels=1, layers_per_block=1)
    kw.update(cfg)
    model = UNet2DModel(**kw).eval()
    n_params = sum(p.numel() for p in model.parameters())
    s = kw["sample_size"]
    x = torch.randn(batch, 1, s, s)
    t = torch.full((batch,), 500.0)
    times = []
    with torch.inference_mode():
        for _ in range(3):
            model(x, t)
        for _ in range(calls):
            t0 = time.perf_counter()
            model(x, t)
            times.append((time.perf_counter() - t0) * 1e3)
    return n_params, statistics.median(times), min(times)


if __name__ == "__main__":
    torch.set_num_threads(2)
    for name, cfg in CANDIDATES.items():
        n, med, best = time_config(cfg)
        print(json.dumps({"config": name, "params": n, "ms_median": round(med, 1), "ms_min": round(best, 1)}), flush=True)
