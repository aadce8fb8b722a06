"""CPU cost of the bundled MNIST UNet (assets/mnist-ddpm): median ms per batch-16 forward call, printed as JSON.

The lab's budget on a 2-vCPU machine: DDIM 50 steps x 16 images <= 3 s and DDPM 1,000 steps x 16 <= 40 s, i.e.
about 40 ms per batch-16 call. Uses 2 threads (what the lab's machine has); run it on a quiet machine.

    python bench/bench_mnist_unet.py [--calls 30] [--threads 2]
"""
import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

FOLDER = Path(__file__).resolve().parents[1] / "assets" / "mnist-ddpm"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=30)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=16)
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from diffusers import UNet2DModel

    torch.set_num_threads(args.threads)
    unet = UNet2DModel.from_pretrained(FOLDER).eval()
    res = unet.config.sample_size
    x = torch.randn(args.batch, 1, res, res, generator=torch.Generator().manual_seed(0))
    times = []
    with torch.inference_mode():
        for k in range(3 + args.calls):
            t = torch.full((args.batch,), float(999 - 30 * k))
            t0 = time.perf_counter()
            unet(x, t)
            if k >= 3:
                times.append(time.perf_counter() - t0)
    ms = 1e3 * statistics.median(times)
    print(json.dumps({
        "model": "assets/mnist-ddpm", "params": sum(q.numel() for q in unet.parameters()), "resolution": res,
        "threads": args.threads, "batch": args.batch, "calls": args.calls,
        "ms_per_call_median": round(ms, 1), "ms_per_call_min": round(1e3 * min(times), 1),
        "est_ddim50_s": round(50 * ms / 1e3, 2), "est_ddpm1000_s": round(1000 * ms / 1e3, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }))


if __name__ == "__main__":
    main()
