"""The Guidance lab's explanations (Markdown with LaTeX; keep each inline formula on one line), and the sweep's
table and sentence, generated from its numbers."""
from __future__ import annotations

INTRO_MD = """
### Guidance lab — how one network learns $p(x\\mid y)$ and $p(x)$, and what classifier-free guidance does to them
Every text-to-image model steers its samples this way. Here the data are 2-D points with a **class** each, so the
exact answer is known for the mixtures, and you can see what guidance does to the distribution — not only to
one picture.
"""
TRAIN_MD = """
**1 · A conditional model.** The network also sees a class $y$ (a learned embedding, beside the time's). With
**label dropout** a share $p_{\\text{uncond}}$ of the training labels is replaced by a *null* label, so the same
network learns the conditional prediction $\\hat\\epsilon(x_t, t, y)$ and the unconditional one
$\\hat\\epsilon(x_t, t, \\varnothing)$ (Ho & Salimans 2022). **Draw your own classes**: choose *drawing* and paint
each class in a colour of its own (or on a layer of its own); its share of the ink is its share of the data.
"""
GUIDE_MD = """
**2 · Guide.** At every step the sampler uses
$$\\hat\\epsilon_w=\\hat\\epsilon(x_t,t,\\varnothing)+w\\,\\big(\\hat\\epsilon(x_t,t,y)-\\hat\\epsilon(x_t,t,\\varnothing)\\big)$$
on the model's own prediction (ε, v, x₀ or a flow's velocity: the rule is the same). $w=0$ samples $p(x)$, $w=1$
samples $p(x\\mid y)$, $w>1$ pushes *away* from the unconditional prediction. This is diffusers' `guidance_scale`;
Ho & Salimans write $(1+w')\\,\\hat\\epsilon(y)-w'\\,\\hat\\epsilon(\\varnothing)$, so their $w'=w-1$. The panels run
from **one and the same** $x_T$: what differs between them is only $w$. Each point keeps the colour and marker
of the class it ends in.
"""
EXACT_MD = """
**The exact answer.** For the mixtures the lab also runs the *exact* conditional model (the mixture's own
$\\mathbb E[x_0\\mid x_t, y]$) with the same sampler. Its panel is shaded by the **tilted density**
$p(x\\mid y)^w\\,p(x)^{1-w}$, normalised — what guidance is often said to sample. Watch the exact samples leave
the shading for $w>1$: the guided ODE does not sample the tilted density (Chidambaram et al. 2024).

**Classifier guidance**, the other way to steer (Dhariwal & Nichol 2021): the *unconditional* model plus the gradient
of a noise-aware classifier, $\\hat\\epsilon=\\hat\\epsilon(x_t,t,\\varnothing)-s\\,\\sqrt{1-\\bar\\alpha_t}\\,\\nabla_{x}\\log p(y\\mid x_t)$.
By Bayes, $\\nabla\\log p(y\\mid x_t)=\\nabla\\log p_t(x_t\\mid y)-\\nabla\\log p_t(x_t)$, so with $s=w$ it aims at the same
$p(x)\\,p(y\\mid x)^w$ as classifier-free guidance. Its panel uses the learned network's unconditional prediction and
the mixture's **exact** classifier: what differs from the "guided" panel is only where the conditional part comes
from (a learned conditional network, or an exact classifier).
"""
SWEEP_MD = """
**3 · Sweep $w$.** The same $x_T$ for every $w$. **In class**: mean probability that a sample is of the class
asked for (the exact $p(y\\mid x)$ for mixtures; else its 10 nearest labelled data points vote). **Diversity**: mean
distance between two samples over the class's own (1 = as varied as the class). **Off-centre** (mixtures): mean
distance to the nearest of the class's component means over the class's own (1 = as the class; above 1 = pushed
out of its components).
"""


def _f(v) -> str:
    return "—" if v is None else f"{v:.2f}"


def sweep_table(rows: list[dict], class_name: str) -> str:
    """The sweep as a Markdown table: one row per w; each cell "learned / exact / tilted" for a mixture, or the
    learned model's figure alone."""
    exact = "exact" in rows[0]
    parts = ("learned", "exact", "tilted") if exact else ("learned",)
    key = " (each cell: learned / exact guided / tilted density)" if exact else " (the learned model)"
    lines = [f"Class **{class_name}**, {len(rows)} guidance scales from one $x_T${key}:", "",
             "| w | in class | diversity | off-centre |", "|---:|---:|---:|---:|"]
    for r in rows:
        cells = [" / ".join(_f(r[p][k]) for p in parts) for k in ("in_class", "diversity", "off_centre")]
        lines.append(f"| {r['w']:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sweep_sentence(rows: list[dict]) -> str:
    """What the sweep shows, in words generated from its numbers (the largest w against w = 1)."""
    by_w = {r["w"]: r for r in rows}
    if 1.0 not in by_w or max(by_w) <= 1:
        return ""
    top = by_w[max(by_w)]
    part = "exact" if "exact" in top else "learned"
    one, hi = by_w[1.0][part], top[part]
    who = "the exact model's" if part == "exact" else "the learned model's"
    change = "falls" if hi["diversity"] < one["diversity"] else "rises"
    text = (f"From w = 1 to w = {top['w']:g}, {who} in-class probability goes from {one['in_class']:.2f} to "
            f"{hi['in_class']:.2f} and its diversity {change} from {one['diversity']:.2f} to {hi['diversity']:.2f}")
    if hi.get("off_centre") is not None:
        text += f"; samples sit {hi['off_centre']:.2f}× as far from their component's centre as the class's own do"
    text += "."
    if "tilted" in top:
        t = top["tilted"]
        same = abs(t["diversity"] - hi["diversity"]) < 0.1 and abs((t["off_centre"] or 0) - (hi["off_centre"] or 0)) < 0.1
        text += (f" The tilted density at w = {top['w']:g} has diversity {t['diversity']:.2f} and off-centre "
                 f"{t['off_centre']:.2f}: " + ("about the same — here guidance does sample it." if same else
                                              "not what the guided sampler produces."))
    return text


DIGITS_MD = r"""
The same rule on real data: a UNet trained with label dropout (labels 0–9, and **10 = no label**) on MNIST,
bundled in `assets/mnist-ddpm-cond/`. Its *no label* class 10 has nothing to do with the digit judge's junk class
in the tests. DDIM runs without clipping $\hat x_0$ to $[-1, 1]$: with clipping, the clipped $\hat x_0$ and the
guided $\hat\varepsilon$ no longer agree and a guided run drifts to other digits (`TRAINING.md` has the numbers).
"""
