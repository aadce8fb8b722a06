"""Image lab benchmark: prints one JSON object of medians.

    python bench/bench_image.py              # bundled model (assets/mnist-ddpm) when present, 16 images
    python bench/bench_image.py --browser    # also the scrubbing latency in a real Chromium

Figures and the goals they answer:
* ddim50_s (<= 3 s) and ddpm1000_s (<= 40 s): the lab's whole run (diffusion.labs.image_runs.generate, recording
  the frames the UI shows) on 16 images.
* ratio_ddim50 / ratio_ddpm (<= 1.05): the core sampler's time over diffusers' DDIMPipeline / DDPMPipeline on the
  same UNet, 16 images, interleaved runs in this one process, median of the per-pair ratios. ``lab_ratio_*``: the
  same with the lab's recording included. ``outside_unet_ms_per_step_*``: each one's time outside the UNet's
  calls, per step (the sampler's own cost; the UNet's call time varies by up to +-10 % between runs here).
* peak_rss_mb_ddpm1000 (<= 1024): the process's peak resident memory during the 1,000-step run (sampled every
  20 ms from /proc/self/status, and ru_maxrss).
* session_mb (<= 150): what a session keeps of a finished 1,000-step batch-16 run, a restore and a forward view.
* scrub_ms_median (<= 100, with --browser): slider moved to a new frame -> that frame shown, in Chromium.
The machine is shared, so timings are noisy; repeat counts are small on purpose (no benchmark loops).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import launch_chromium, status_mb  # noqa: E402
from diffusion import hub, sample  # noqa: E402
from diffusion.labs.image_runs import forward_frames, generate, initial_noise, sdedit  # noqa: E402


def standin_folder() -> Path:
    """A random UNet2DModel shaped like the bundled one (scripts/train_mnist.py defaults), for timing only."""
    from diffusers import DDPMScheduler, UNet2DModel

    folder = Path(tempfile.mkdtemp(prefix="bench-standin-"))
    torch.manual_seed(0)
    UNet2DModel(sample_size=28, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(16, 32, 64),
                norm_num_groups=8, add_attention=True, down_block_types=("DownBlock2D",) * 3,
                up_block_types=("UpBlock2D",) * 3).save_pretrained(folder)
    DDPMScheduler(num_train_timesteps=1000).save_pretrained(folder)
    return folder


class PeakRSS:
    """Peak resident memory of this process while the block runs (polls /proc/self/status)."""

    def __enter__(self):
        self.peak, self._stop = _rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())


def _rss_mb() -> float:
    mb = status_mb("VmRSS")
    return float("nan") if mb is None else mb


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def core_run(model, sampler, steps, batch, seed=0):
    x_T, g = initial_noise(model, batch, seed)
    return sample(model, model.schedule, x_T, sampler=sampler, num_steps=steps, generator=g, record=False,
                  **model.sampler_options(sampler))


def pipeline_run(folder, model, sampler, steps, batch, seed=0):
    from diffusers import DDIMPipeline, DDPMPipeline, DDPMScheduler

    cls = DDIMPipeline if sampler == "ddim" else DDPMPipeline
    pipe = cls(unet=model.unet, scheduler=DDPMScheduler.from_pretrained(folder))
    pipe.set_progress_bar_config(disable=True)
    return pipe(batch_size=batch, generator=torch.Generator().manual_seed(seed), num_inference_steps=steps,
                output_type="pt").images


@contextlib.contextmanager
def unet_clock(unet):
    """Adds the seconds spent inside ``unet``'s forward to ``clock["s"]`` while the block runs."""
    clock, forward = {"s": 0.0}, unet.forward

    def timed_forward(*args, **kwargs):
        start = time.perf_counter()
        try:
            return forward(*args, **kwargs)
        finally:
            clock["s"] += time.perf_counter() - start
    unet.forward = timed_forward               # an instance attribute: nn.Module.__call__ finds it first
    try:
        yield clock
    finally:
        del unet.forward


def ratios(folder, model, sampler, steps, batch, pairs):
    """Interleaved (core, lab, pipeline) timings: the medians of the per-pair ratios core/pipeline and lab/pipeline,
    the median times, and each one's median time *outside* the UNet's calls per step (ms): the sampler's own cost.

    The UNet's time for the same calls varies by up to +-10 % between runs here (one run to the next, same code),
    which is what moves the total ratio; the overhead figure does not depend on it."""
    times = {"core": [], "lab": [], "pipe": []}
    outside = {"core": [], "lab": [], "pipe": []}
    runs = {"core": lambda: core_run(model, sampler, steps, batch),
            "lab": lambda: generate(model, sampler, steps, batch=batch, limit_s=1e9),
            "pipe": lambda: pipeline_run(folder, model, sampler, steps, batch)}
    for i in range(pairs):
        for name in (["core", "lab", "pipe"] if i % 2 == 0 else ["pipe", "lab", "core"]):   # alternate who goes first
            with unet_clock(model.unet) as clock:
                total = timed(runs[name])
            times[name].append(total)
            outside[name].append((total - clock["s"]) / steps * 1000)
    per_pair = lambda name: statistics.median(a / b for a, b in zip(times[name], times["pipe"]))  # noqa: E731
    return (per_pair("core"), per_pair("lab"), statistics.median(times["core"]), statistics.median(times["pipe"]),
            {name: round(statistics.median(v), 3) for name, v in outside.items()})


def browser_scrub_ms(folder: Path, frames_to_try: int = 30) -> dict:
    """Serve the Image lab, run a DDIM sample in Chromium, then move the reverse slider and time the frame swap."""
    import gradio as gr
    from playwright.sync_api import sync_playwright

    from ui.image import handlers as image_handlers, tab as image_tab
    from ui.widgets.scrubber import SCRUB_CSS

    hub.loading.BUNDLED_DIR = folder
    hub.clear_cache()
    with gr.Blocks() as demo:
        with gr.Tab("Image lab"):
            image_tab.build_image_tab()
    demo.queue()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, css=SCRUB_CSS)
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1300, "height": 1600})
            page.goto(url)
            page.wait_for_selector(f"#{image_handlers.FWD_ID}-frames", timeout=60_000)
            page.get_by_role("tab", name="Reverse").click()
            page.locator("button", has_text="Sample").first.click()
            page.wait_for_selector(f"#{image_handlers.REV_ID}-frames", timeout=120_000)
            times = page.evaluate("""async ([sliderId, scrubId, tries]) => {
                const range = document.querySelector('#' + sliderId + ' input[type=range]');
                const root = document.getElementById(scrubId + '-frames');
                const n = parseInt(root.dataset.n), out = [];
                for (let k = 0; k < tries; k++) {
                    const target = (parseInt(root.dataset.index) + 7 + k) % n;
                    const t0 = performance.now();
                    range.value = String(target);
                    range.dispatchEvent(new Event('input', {bubbles: true}));
                    while (root.dataset.index !== String(target) && performance.now() - t0 < 2000) {
                        await new Promise(r => setTimeout(r, 0));
                    }
                    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));  // painted
                    out.push(performance.now() - t0);
                }
                return out;
            }""", [image_handlers.REV_SLIDER, image_handlers.REV_ID, frames_to_try])
            browser.close()
    finally:
        with contextlib.redirect_stdout(sys.stderr):   # Gradio prints "Closing server ...": stdout is the JSON
            demo.close()
    return {"scrub_ms_median": round(statistics.median(times), 1), "scrub_ms_max": round(max(times), 1),
            "scrub_tries": len(times)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--pairs", type=int, default=5, help="interleaved core/lab/pipeline triples for DDIM-50")
    parser.add_argument("--ddpm-pairs", type=int, default=5, help="interleaved triples for the DDPM ratio")
    parser.add_argument("--ddpm-ratio-steps", type=int, default=200,
                        help="steps of the DDPM ratio runs (1000 takes ~40 s a run; the per-step cost is the same)")
    parser.add_argument("--browser", action="store_true", help="also time scrubbing in Chromium")
    args = parser.parse_args()

    bundled = (hub.loading.BUNDLED_DIR / "config.json").is_file()
    folder = hub.loading.BUNDLED_DIR if bundled else standin_folder()
    model = hub.load_folder(folder, model_id=hub.BUNDLED_ID if bundled else "stand-in")
    B = args.batch
    result = {"model": "bundled" if bundled else "stand-in (random weights, bundled architecture)",
              "parameters": model.num_parameters, "batch": B, "torch_threads": torch.get_num_threads(),
              "estimated_call_ms_batch16": round(1000 * model.estimate_seconds(16, 1), 1)}

    generate(model, "ddim", 5, batch=B, limit_s=1e9)  # warm-up (no time guard in a benchmark)
    result["ddim50_s"] = round(statistics.median(timed(lambda: generate(model, "ddim", 50, batch=B, limit_s=1e9))
                                                 for _ in range(3)), 3)
    with PeakRSS() as rss:
        start = time.perf_counter()
        run = generate(model, "ddpm", 1000, batch=B, limit_s=1e9)
        result["ddpm1000_s"] = round(time.perf_counter() - start, 2)
    result["peak_rss_mb_ddpm1000"] = round(rss.peak, 1)
    result["ru_maxrss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    x0 = torch.zeros(1, *model.shape)
    restore = sdedit(model, x0, 999, num_steps=1000, sampler="ddpm", limit_s=1e9)
    fwd = forward_frames(model, x0)
    fwd_bytes = sum(v.nbytes for v in fwd.values() if hasattr(v, "nbytes"))
    result["run_mb"] = round(run.nbytes() / 2**20, 2)
    result["session_mb"] = round((run.nbytes() + restore.nbytes() + fwd_bytes) / 2**20, 2)

    for sampler, steps, pairs in (("ddim", 50, args.pairs), ("ddpm", args.ddpm_ratio_steps, args.ddpm_pairs)):
        r_core, r_lab, t_core, t_pipe, outside = ratios(folder, model, sampler, steps, B, pairs)
        tag = f"{sampler}{steps}"
        result.update({f"ratio_{tag}": round(r_core, 3), f"lab_ratio_{tag}": round(r_lab, 3),
                       f"core_{tag}_s": round(t_core, 3), f"pipeline_{tag}_s": round(t_pipe, 3),
                       f"outside_unet_ms_per_step_{tag}": outside})
    if args.browser:
        result.update(browser_scrub_ms(folder))
    result["goals"] = {"ddim50_s": 3.0, "ddpm1000_s": 40.0, "ratio": 1.05, "peak_rss_mb_ddpm1000": 1024,
                       "session_mb": 150, "scrub_ms_median": 100}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
