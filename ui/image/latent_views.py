"""The Image lab's latent view: frames and sentences for a latent run beside a pixel run, and for forward noising in
both spaces. Drawing and words only: the runs and the figures come from :mod:`diffusion.labs.latent_runs`, and
every number in a sentence is read from them."""
from __future__ import annotations

from diffusion.image_metrics import HIGH_FREQUENCY

from ..widgets.scrubber import encode_png
from ..widgets.tiles import stack, strip

SPACES = {"both": "latent beside pixel", "latent": "latent only", "pixel": "pixel only"}
FORWARD_TABLE_T = (100, 250, 500, 750, 999)
STATIC, SMOOTH = 0.6, 0.35      # a picture with this share of fine detail or more reads as static; this or less smooth


def _pick(n_frames: int, count: int) -> list[int]:
    """``count`` frame indices spread over a run of ``n_frames`` (both ends kept)."""
    if count == 1:
        return [0]
    return [round(j * (n_frames - 1) / (count - 1)) for j in range(count)]


def render_runs(pixel, latent) -> tuple[list[bytes], list[str]]:
    """One PNG per slider position: the latent run's rows (latent channels of z_t, decoded z_t, decoded ẑ₀) above
    the pixel run's (x_t, x̂₀); either may be None. Runs of different lengths (one stopped) are spread alike."""
    runs = [r for r in (latent, pixel) if r is not None]
    count = max(r.num_frames for r in runs)
    picks = {id(r): _pick(r.num_frames, count) for r in runs}
    frames, labels = [], []
    for j in range(count):
        rows = []
        if latent is not None:
            k = picks[id(latent)][j]
            rows += [strip(list(latent.extra["latent"][k]), "z_t: latent channels"),
                     strip(list(latent.x_t[k]), "decode(z_t)"),
                     strip(list(latent.x0_pred[k]), "decode(ẑ₀)")]
        if pixel is not None:
            k = picks[id(pixel)][j]
            rows += [strip(list(pixel.x_t[k]), "pixel x_t"), strip(list(pixel.x0_pred[k]), "pixel x̂₀")]
        lead = latent if latent is not None else pixel     # both runs share steps and timesteps
        caption = lead.labels[picks[id(lead)][j]]
        frames.append(encode_png(stack(rows, caption)))
        labels.append(caption)
    return frames, labels


def cost_text(pixel_cost, latent_cost, frames_decode_s: float | None = None) -> str:
    """The cost line of each run, and the comparison, from the measured seconds."""
    lines = [f"- {c.line()}" for c in (latent_cost, pixel_cost) if c is not None]
    if pixel_cost is not None and latent_cost is not None and latent_cost.total_s > 0:
        ratio = pixel_cost.total_s / latent_cost.total_s
        if ratio >= 1.05:
            verdict = f"the latent run took **{ratio:.2f} ×** less time than the pixel run"
        elif ratio <= 0.95:
            verdict = f"the latent run took **{1 / ratio:.2f} ×** longer than the pixel run"
        else:
            verdict = "the two runs took about the same time"
        per_call = pixel_cost.per_call_s / latent_cost.per_call_s if latent_cost.per_call_s > 0 else float("inf")
        lines.append(f"- Same sampler, same number of calls: {verdict} — one latent network call costs "
                     f"{per_call:.2f} × less than a pixel call, measured on this machine in this run.")
    if frames_decode_s is not None:
        lines.append(f"- Decoding every frame's z_t and ẑ₀ for these pictures took another {frames_decode_s:.2f} s "
                     f"(for the eye only: sampling never decodes).")
    return "\n".join(lines)


def _reads_as(share: float) -> str:
    if share >= STATIC:
        return "static"
    if share <= SMOOTH:
        return "smooth shapes"
    return "a mix of shapes and speckle"


def render_forward(f: dict) -> tuple[list[bytes], list[str]]:
    """One PNG per timestep: rows clean / pixel x_t / latent channels of z_t / decode(z_t), figures in the caption."""
    clean = strip(list(f["x0"]), "clean x₀")
    frames, labels = [], []
    for i, t in enumerate(f["t"]):
        label = (f"t = {t}  ᾱ = {f['alpha_bar'][i]:.3g} · pixel: RMS {f['pixel_rms'][i]:.2f}, "
                 f"{100 * f['pixel_hf'][i]:.0f} % fine · latent: RMS {f['latent_rms'][i]:.2f}, "
                 f"{100 * f['latent_hf'][i]:.0f} % fine")
        rows = [clean, strip(list(f["pixel"][i]), "pixel x_t"), strip(list(f["latent"][i]), "z_t (latent)"),
                strip(list(f["decoded"][i]), "decode(z_t)")]
        frames.append(encode_png(stack(rows, label)))
        labels.append(label)
    return frames, labels


def forward_text(f: dict) -> str:
    """A table of the measured figures at a few t, and what they say, generated from them."""
    ts = f["t"]
    idx = sorted({min(range(len(ts)), key=lambda i: abs(ts[i] - t)) for t in FORWARD_TABLE_T})   # nearest frames
    head = ("| t | ᾱ_t | pixel x_t: RMS from x₀ | pixel: fine detail | decode(z_t): RMS from x₀ | "
            "decode(z_t): fine detail |\n|---|---|---|---|---|---|\n")
    rows = "".join(f"| {f['t'][i]} | {f['alpha_bar'][i]:.4g} | {f['pixel_rms'][i]:.3f} | {100 * f['pixel_hf'][i]:.0f} % "
                   f"| {f['latent_rms'][i]:.3f} | {100 * f['latent_hf'][i]:.0f} % |\n" for i in idx)
    last = idx[-1]
    p_hf, l_hf = f["pixel_hf"][last], f["latent_hf"][last]
    text = (f"\n**What noise looks like in each space, measured.** \"Fine detail\" is the share of a picture's "
            f"energy above {HIGH_FREQUENCY:g} cycles per pixel: white static has 80 %, the clean digits here "
            f"{100 * f['x0_hf']:.0f} % (their reconstructions {100 * f['recon_hf']:.0f} %, RMS "
            f"{f['recon_rms']:.3f} from the originals: what the autoencoder loses). At t = {f['t'][last]} noise in "
            f"pixel space reads as **{_reads_as(p_hf)}** ({100 * p_hf:.0f} % fine detail); the same amount of noise "
            f"in latent space decodes to **{_reads_as(l_hf)}** ({100 * l_hf:.0f} %).")
    if l_hf < p_hf:
        text += (" The decoder only knows how to draw digit-like strokes, so latent noise becomes blobs and "
                 "strokes rather than static.")
    return head + rows + text


__all__ = ["SPACES", "render_runs", "cost_text", "render_forward", "forward_text"]
