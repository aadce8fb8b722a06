"""The words on the Compare tab: what each view shows and the equation behind it (Markdown with LaTeX)."""
from __future__ import annotations

from diffusion.labs import compare, race
from diffusion.labs.digit_guidance import SWEEP_SCALES

# --- words on the page ---------------------------------------------------------------------------------------------
INTRO_MD = """
### Compare — which schedule, which spacing, which sampler, how many steps?
The same model and the same starting noise $x_T$ under different choices, measured. **Quality** is the Toy lab's
figure (sliced Wasserstein distance to fresh data): **1.0 = as close as a fresh draw of the data**, larger is worse.
With 2,000 points it moves by about ±0.2 between two draws of the data itself, so smaller differences are noise.
"""
SCHEDULES_MD = r"""
**1 · Noise schedules.** A schedule fixes how much signal survives at each step:
$\bar\alpha_t=\prod_{s\le t}(1-\beta_s)$ and $x_t=\sqrt{\bar\alpha_t}\,x_0+\sqrt{1-\bar\alpha_t}\,\epsilon$.
The log-SNR, $\log\bar\alpha_t/(1-\bar\alpha_t)$, is the schedule's real "clock": the linear schedule (Ho et al.
2020) spends its last few hundred steps where almost nothing is left, the cosine schedule (Nichol & Dhariwal 2021)
spreads the loss of signal evenly. Sampling starts from $x_T\sim\mathcal N(0,I)$, which is right only if
$\sqrt{\bar\alpha_{T-1}}\approx 0$. The **zero-terminal-SNR rescale** (Lin et al. 2023) makes $\bar\alpha_{T-1}=0$
exactly (dashed lines; such a model must predict $v$ or $x_0$, since $\epsilon$ says nothing about $x_0$ at SNR 0).
"""
GRID_MD = r"""
The same picture and the **same noise** $\epsilon$ at the same $t$ under each schedule: only $\bar\alpha_t$ differs.
"""
TERMINAL_MD = rf"""
**Is $x_T$ really pure noise?** For the chosen toy data we noise 2,000 points to the last step and compare them with
$\mathcal N(0,I)$ (quality against fresh normal draws, 1.0 = indistinguishable). ⚠ flags a schedule whose last step
keeps more than {100 * compare.SIGNAL_LIMIT:g} % of the signal (Lin et al. 2023 found Stable Diffusion's 6.8 % enough
to stop it making very dark or bright images) or whose $x_T$ is measurably not normal (quality above
{compare.GAUSSIAN_LIMIT:g}).
"""
SPACING_MD = r"""
**2 · Timestep spacing.** A sampler with $N$ steps visits only $N$ of the $T$ timesteps. *leading* takes multiples of
$\lfloor T/N\rfloor$ from 0, so it **never starts at $T-1$**: its first call assumes $x$ still holds
$\sqrt{\bar\alpha_{t_1}}$ of signal, but $x_T$ is pure noise. *trailing* counts down from $T-1$; *linspace* spreads
$N$ points over $[0, T-1]$ (Lin et al. 2023, Table 2). Which one hurts depends on the schedule's end:
* the **exact denoiser on data that is not centred** (like images: MNIST pixels average about −0.74 on [−1, 1]):
  *leading* starts from the wrong mean and its samples are pulled towards 0 — the mismatch Lin et al. describe;
  centred, unit-variance toy data hide it, because $\sqrt{\bar\alpha}\,x_0+\sqrt{1-\bar\alpha}\,\epsilon$ is then
  already close to $\mathcal N(0,I)$ in mean and covariance;
* a **trained $\epsilon$-network** (the Toy lab's settings, trained once per server on the schedule you pick): on
  the **cosine** schedule the last step is clipped ($\beta_{T-1}=0.999$,
  $\sigma_{T-1}=\sqrt{(1-\bar\alpha)/\bar\alpha}\approx 2\times10^4$), and
  $\hat x_0=(x_t-\sqrt{1-\bar\alpha_t}\,\hat\epsilon)/\sqrt{\bar\alpha_t}$ multiplies the network's error by
  $\sigma_t$ — so there the spacings that start at $T-1$ (*trailing*, *linspace*) fail and *leading* is the safe
  one (on the linear schedule, $\sigma_{T-1}\approx 157$, which is why the Toy lab trains on it by default).

The cure for both is Lin et al.'s: a zero-terminal-SNR schedule, a $v$-prediction model, trailing spacing.
"""
RACE_MD = rf"""
**3 · Sampler race.** One model, **one** $x_T$ (and one random stream for the stochastic samplers), every sampler at
every step count. The cost is the number of network calls (**NFE**): $N$ steps cost $N$ calls, except **heun**
($2N-1$: a second call corrects each step) and **pc** ($2N$: a Langevin corrector step after each). DDPM and Euler
ancestral add fresh noise each step (stochastic); DDIM ($\eta=0$), Euler, Heun and DPM-Solver++(2M) follow the
deterministic probability-flow ODE, with first-order (DDIM, Euler) or second-order (Heun, DPM-Solver++) accuracy.
The **exact** models are the closed-form denoiser $\mathbb E[x_0\mid x_t]$ of a Gaussian mixture: no network error,
only the sampler's own. Limits per race: at most {race.MAX_STEP_COUNTS} step counts, each ≤ the model's $T$;
≤ {race.MAX_TOY_POINTS:,} points or ≤ {race.MAX_IMAGES} images; and an estimated time (from a measured network call)
≤ {race.MAX_RACE_SECONDS:.0f} s. Stop keeps the cells finished so far.
"""
BREAK_MD = """
**4 · Break it.** Classic mistakes, each run beside the right setting from the same $x_T$.
"""
BREAK_SENTENCES = {
    "T too small": (
        r"With DDPM's linear betas ($10^{-4}\to0.02$) the signal only dies out if there are enough steps: "
        r"$\sqrt{\bar\alpha_{T-1}}$ is 0.006 at $T=1000$ but 0.78 at $T=50$, so sampling from pure noise starts "
        r"far from where the forward process ended, and the samples land in the wrong place (exact denoiser, data "
        r"moved off-centre as images are)."),
    "wrong DDPM variance": (
        r"DDPM's reverse step may add noise of variance $\tilde\beta_t=\frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}"
        r"\beta_t$ (the true posterior's) or $\beta_t$: Ho et al. found both fine at 1,000 steps, but with few, "
        r"strided steps $\beta_t$ is far too large and the extra noise is never removed — the clusters blur "
        r"(the quality figure barely sees blur; the spread around the modes does)."),
    "no time embedding": (
        r"A network that is not told $t$ must use one denoiser for every noise level, so it cannot know how "
        r"much noise to remove — the same model trained without its time input samples a smeared cloud."),
    "clipped x̂₀": (
        r"Clipping $\hat x_0$ to $[-1,1]$ (diffusers' `clip_sample`) is right for images, whose pixels live there, "
        r"and wrong for data that does not: here it squashes the cloud into the square."),
}

GUIDANCE_MD = rf"""
**5 · Guidance sweep.** Classifier-free guidance steers a class-conditional model with
$\hat\epsilon=\hat\epsilon(x_t,\varnothing)+w\,(\hat\epsilon(x_t,y)-\hat\epsilon(x_t,\varnothing))$ (diffusers'
`guidance_scale`: $w=0$ ignores the label, $w=1$ is plain conditional sampling, $w>1$ pushes past it). The bundled
conditional MNIST model draws one digit at $w$ = {", ".join(f"{w:g}" for w in SWEEP_SCALES)}, every row from the
**same** $x_T$, and the lab's digit classifier judges each row: how many samples read as the digit asked for, and
how varied they are. The classic trade: stronger guidance, surer digits, less variety. The toy version, with the
exact answer beside it, is the Guidance lab's sweep.
"""
