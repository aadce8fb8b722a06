"""The Toy lab's explanations: what each view shows, with its equation (Markdown with LaTeX, $...$ and $$...$$).

Keep every inline formula on one line: the Markdown renderer does not join $...$ across line breaks.
"""
from diffusion import make_schedule

INTRO_MD = """
### Toy lab — watch a diffusion model learn a 2-D (or 1-D) distribution, then scrub through noising and denoising
A default model is ready when the page opens. Change the data, train your own (a few seconds), sample with any
sampler, and drag the time slider. Everything you do here is yours alone: other visitors do not see it.
"""
DATA_MD = """
**1 · Data.** A toy data set, your own drawing, or a word: points are sampled from it and *standardised* (mean 0,
mean variance 1 per coordinate) so one noise schedule suits them all. This cloud is $p_{\\text{data}}$, the
distribution the model must learn to sample from.
"""
TRAIN_MD = """
**2 · Train.** Draw $x_0$ from the data, a step $t$ and noise $\\epsilon\\sim\\mathcal N(0, I)$, form
$$x_t=\\sqrt{\\bar\\alpha_t}\\,x_0+\\sqrt{1-\\bar\\alpha_t}\\,\\epsilon$$
and teach a small network to undo it: predict $\\epsilon$ (loss $\\lVert\\hat\\epsilon_\\theta(x_t,t)-\\epsilon\\rVert^2$),
or $x_0$, or $v=\\sqrt{\\bar\\alpha_t}\\,\\epsilon-\\sqrt{1-\\bar\\alpha_t}\\,x_0$. *Flow matching* uses the straight
path $x_t=(1-t)\\,x_0+t\\,\\epsilon$, $t\\in[0,1]$, and regresses the velocity $v=\\epsilon-x_0$.
"""
SAMPLE_MD = """
**4 · Sample.** Start from noise $x_T\\sim\\mathcal N(0,I)$ and step back to $t=0$. DDPM adds fresh noise at every
step (a stochastic process); DDIM with $\\eta=0$, Euler, Heun and DPM-Solver++ follow the deterministic
probability-flow ODE. **Spacing** places a short run's steps: diffusers' three timestep spacings, or **karras**
(the noise levels themselves spaced, most of them at low noise, where fine detail is decided). **Quality**, two
figures on 4,000 samples: **on the data** (precision: the share of samples that lie on the data) and **covers the
data** (recall: the share of the data the samples reach). A blurred word scores high recall and low precision; a
model that draws only half the data, the reverse.
"""
SCRUB_MD = """
**3 · Scrub.** Left end: clean data ($t=0$); right end: pure noise. **Forward** (blue): the data noised to step $t$
with one fixed noise draw, $x_t=\\sqrt{\\bar\\alpha_t}\\,x_0+\\sqrt{1-\\bar\\alpha_t}\\,\\epsilon$.
**Reverse** (red): where the sampler's points were when it reached step $t$ — a good model makes the two clouds
alike at every $t$. Toggles: **trajectories** (purple) of a few points; the **predicted clean points** (green)
$\\hat x_0=(x_t-\\sqrt{1-\\bar\\alpha_t}\\,\\hat\\epsilon)/\\sqrt{\\bar\\alpha_t}$; the **learned score field** (grey
arrows, rescaled per frame)
$\\nabla_x\\log p_t(x)\\approx-\\hat\\epsilon/\\sqrt{1-\\bar\\alpha_t}=(\\sqrt{\\bar\\alpha_t}\\,\\hat x_0-x_t)/(1-\\bar\\alpha_t)$;
and the **exact** field with samples driven by the
exact denoiser $\\mathbb E[x_0\\mid x_t]$ (orange) — in closed form for Gaussian mixtures, and for any other data the
*memorising* denoiser $\\sum_i w_i(x_t)\\,y_i$ of the data points $y_i$, which can only reproduce them.
"""
def _sqrt_alpha_bar_T(name: str) -> float:
    """sqrt(alpha_bar) at the last step of the named 1,000-step schedule (the numbers the text quotes)."""
    return make_schedule(name, 1000).alphas_cumprod[-1].item() ** 0.5


FLOW_MD = """
**5 · Diffusion vs flow matching.** The same data, trained both ways, sampled from the *same* noise with a
deterministic ODE sampler. Diffusion's path $x_t=\\sqrt{\\bar\\alpha_t}\\,x_0+\\sqrt{1-\\bar\\alpha_t}\\,\\epsilon$
mixes signal and noise along a curve. Flow matching trains on the straight line $x_t=(1-t)\\,x_0+t\\,\\epsilon$
with velocity $v=\\epsilon-x_0$ — but straight are only the *conditional* paths it is trained on, one data point
to one noise draw; the sampler follows the *marginal* velocity $\\mathbb E[v\\mid x_t]$, an average over every
data point that could have led to $x_t$, and its paths bend too. The figure measures both (**straightness** =
chord / path length of each drawn path; 1 = a straight line), and the table below it says which came out
straighter on your data and how few Euler steps $x_{t-\\Delta t}=x_t-\\Delta t\\,\\hat v$ each needs.
Diffusion's $\\hat x_0$ is clipped to the data's range here: a run that starts at the last step, where
$\\sqrt{\\bar\\alpha_T}$ is tiny (LINEAR for the linear schedule, COSINE for cosine), would otherwise magnify every
error of $\\hat\\epsilon$ in $\\hat x_0=(x_T-\\sqrt{1-\\bar\\alpha_T}\\,\\hat\\epsilon)/\\sqrt{\\bar\\alpha_T}$.
""".replace("LINEAR", f"{_sqrt_alpha_bar_T('linear'):.5f}").replace(
    "COSINE", f"${_sqrt_alpha_bar_T('cosine') * 1e5:.2f}\\cdot 10^{{-5}}$")
ONED_MD = """
**6 · The 1-D view.** Time runs left to right (data at $t=0$, noise at the right); colour is $\\log p_t(x)$, the exact
density of the noised data (bright = likely). For a mixture it is in closed form,
$$p_t(x)=\\sum_k w_k\\,\\mathcal N\\big(x;\\ \\sqrt{\\bar\\alpha_t}\\,\\mu_k,\\ \\bar\\alpha_t\\sigma_k^2+1-\\bar\\alpha_t\\big),$$
and for other data the same sum runs over the data points. White lines are sampled paths, from noise (right) to
data (left). **ODE** paths (DDIM, $\\eta=0$) are deterministic, smooth and never cross; **SDE** paths (DDPM) get fresh
noise at every step, yet both follow the same $p_t$.
"""
EXPORT_MD = """
**Export.** The whole run as an animated GIF (reverse: noise → data; forward: data → noise), or one frame as a PNG.
"""
