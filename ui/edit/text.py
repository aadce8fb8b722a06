"""The Edit lab's words: what each method does, and the tables and sentences generated from a run's numbers."""
from __future__ import annotations

from diffusion.labs.edit_toy import METHOD_NAMES

INTRO_MD = r"""
### Edit with an unconditional model: fill in, sharpen, clean up — and how good is the approximation?
A model that has learned $p(x)$ can complete a picture it was never trained to edit: observe part of $x_0$
(a measurement $y = A x_0 + \sigma_y n$) and sample $p(x_0 \mid y)$. Each method below steers the ordinary reverse
process with $y$. On the eight Gaussians the exact posterior is closed form, so every method is shown **beside the
right answer** and scored by its distance to it.
"""

TOY_MD = r"""
**Replacement**: after every step, paste in the measured part noised to the current level,
$x \leftarrow x + A^{+}(y_t - A x)$ with $y_t = \sqrt{\bar\alpha_t}\,y + A(\sqrt{1-\bar\alpha_t}\,z)$ — for a known
coordinate, the known value; for down-sampling, the low frequencies (ILVR). **RePaint** also jumps back up the noise
every few steps and comes down again (*resample* times), so the model can make the two parts agree.
**DPS** takes a gradient step on $\lVert y - A\hat x_0(x_t)\rVert$ through the network: it uses the noise level of
$y$, but never pins the measurement exactly. For a **noisy copy** $y = x_0 + s\,n$ no steering is needed:
$\sqrt{\bar\alpha_{t^*}}\,y$ *is* a draw of $x_{t^*}$ when $\sigma_{t^*} = s$, so the reverse process started
there samples $p(x_0 \mid y)$; Tweedie's one step $\hat x_0 = \mathbb{E}[x_0 \mid x_{t^*}]$ is its mean —
a single point, not a sample.
"""

DIGITS_MD = r"""
The bundled MNIST model is unconditional; here it inpaints (a mask: the grey part is unknown), super-resolves
(it sees only the mean of each 2 × 2 or 4 × 4 block) or denoises (Gaussian noise of the stated std on the
model's $[-1, 1]$ scale, added with the seed). Rows: the original, what the method was given, the state $x_t$ and
the prediction $\hat x_0$; scrub to watch the unknown part form. Replacement and RePaint keep the known pixels
exactly; DPS only approximately.
"""


def toy_table(edits) -> str:
    """The per-method figures of a 2-D run as a Markdown table, and the sentence generated from them."""
    rows = ["| method | distance to the exact posterior | model calls | mean distance from the measurement | "
            "time |", "|---|---|---|---|---|"]
    for name, run in edits.runs.items():
        rows.append(f"| {METHOD_NAMES[name]} | {run.distance:.2f} | {run.nfe} | {run.off_measurement:.3f} | "
                    f"{run.seconds:.1f} s |")
    note = ("Distance: the lab's sample-quality yardstick (sliced Wasserstein), in units of a fresh draw of the "
            "exact posterior: 1.0 is as close as the answer itself.")
    return f"Observation: **{edits.observation.caption}**.\n\n" + "\n".join(rows) + f"\n\n{edits.sentence()} {note}"


def image_summary(run) -> str:
    s = run.settings
    what = {"inpaint": f"inpainting ({s['mask']} known)", "superres": f"super-resolution from "
            f"{20 // s['factor']} × {20 // s['factor']}", "denoise": f"denoising at noise std {s['noise_std']:g}"}
    line = (f"**{what[s['task']]}**, method **{s['method']}**: {run.nfe} network calls on {run.batch} digit(s) in "
            f"{run.seconds:.1f} s.")
    e = run.extra
    whose = "your noisy picture" if s.get("observed_given") else "the originals"
    figures = (f" RMS distance to {whose} **{e['rms']:.3f}** (per pixel, on [-1, 1]); sharpness (mean "
               f"gradient) **{e['sharpness']:.3f}** ({whose}: {e['sharpness_original']:.3f}).")
    return line + figures + (f" {run.note}" if run.note else "")
