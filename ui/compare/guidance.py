"""The Compare tab's guidance sweep on digits: the bundled class-conditional MNIST model at w = 0, 1, 2, 3, 5, 7 from
one x_T, judged by the bundled digit judge -- how often it draws the digit asked for, and how varied its drawings are.

The maths is :func:`diffusion.labs.digit_guidance.guidance_sweep`; here the handler (``/compare_guidance``), its
two pictures and its words, every number in them read from the sweep."""
from __future__ import annotations

import functools

import gradio as gr

from diffusion import digit_judge, hub
from diffusion.labs.digit_guidance import SWEEP_SCALES, guidance_sweep
from diffusion.labs.image_runs import RunTooLong

from ..serving.priority import in_background
from ..widgets.inputs import number, refusal, user_error
from ..widgets.plots import figure, to_image
from ..widgets.tiles import stack, strip

DEFAULT_GUIDANCE = dict(digit=3, n=16, steps=50, seed=0)
MAX_SWEEP_SAMPLES = 16
MAX_SWEEP_S = 120.0        # the estimate (the model's measured call cost) over which a sweep is refused up front


@functools.lru_cache(maxsize=1)
def _judge() -> digit_judge.DigitJudge:
    return digit_judge.load_judge(digit_judge.BUNDLED_DIR)


def sweep_plot(result: dict):
    """Two panels against w: the share read as the digit asked for, and diversity (1 = as varied as real digits)."""
    fig, axes = figure(8.0, 3.2, 1, 2)
    ws = [r["w"] for r in result["rows"]]
    asked, div = axes[0]
    asked.plot(ws, [100 * r["as_asked"] for r in result["rows"]], "o-", color="#1f77b4", linewidth=2)
    asked.set_ylim(-3, 103)
    asked.set_ylabel(f"% read as a {result['digit']}", fontsize=11)
    div.plot(ws, [r["diversity"] for r in result["rows"]], "s-", color="#d62728", linewidth=2)
    div.axhline(1.0, color="#888", linestyle=":", linewidth=1.2, label=f"real {result['digit']}s")
    div.set_ylim(bottom=0)
    div.set_ylabel("diversity (1 = real digits)", fontsize=11)
    div.legend(fontsize=10)
    fig.suptitle(f"digit {result['digit']} asked for: {result['n']} samples at each w, one x_T", fontsize=12)
    for ax in (asked, div):
        ax.set_xlabel("guidance scale w", fontsize=11)
        ax.set_xticks(ws, [f"{w:g}" for w in ws])
        ax.tick_params(labelsize=10)
        ax.grid(alpha=0.3)
    return to_image(fig)


def sweep_samples(result: dict):
    """Rows = w, the same x_T in every column (so a column shows only the effect of w)."""
    rows = [strip(list(s), f"w = {r['w']:g}  ({100 * r['as_asked']:.0f} %)")
            for s, r in zip(result["samples"], result["rows"])]
    return stack(rows, f"digit {result['digit']} asked for; each column starts from the same noise x_T")


def sweep_text(result: dict) -> str:
    """The table of the sweep, and what it says -- every comparison made on the figures themselves."""
    d, rows = result["digit"], result["rows"]
    head = ("| w | read as a " + str(d) + " | diversity | top class another digit | top class junk | seconds |\n"
            "|---|---|---|---|---|---|\n")
    body = "".join(f"| {r['w']:g} | {100 * r['as_asked']:.0f} % | {r['diversity']:.2f} | "
                   f"{sum(c for k, c in enumerate(r['read_as'][:10]) if k != d)} | {r['read_as'][10]} | "
                   f"{r['seconds']:.1f} |\n" for r in rows)
    by_w = {r["w"]: r for r in rows}
    parts = []
    if 0.0 in by_w:
        parts.append(f"With **w = 0** the model ignores the label (its \"no label\" class): "
                     f"{100 * by_w[0.0]['as_asked']:.0f} % of its {result['n']} samples happen to be a {d}.")
    if 1.0 in by_w:
        parts.append(f"**w = 1** is plain conditional sampling: {100 * by_w[1.0]['as_asked']:.0f} % read as a {d}.")
    top = max(r["as_asked"] for r in rows)
    at_top = [r["w"] for r in rows if r["as_asked"] == top]
    if len(at_top) > 1 and at_top == [r["w"] for r in rows if r["w"] >= at_top[0]]:
        where = f"from **w = {at_top[0]:g}** on"
    else:
        where = "at " + ", ".join(f"**w = {w:g}**" for w in at_top)
    parts.append(f"The most samples read as a {d}, {100 * top:.0f} %, {where}.")
    guided = [r for r in rows if r["w"] >= 1]
    if len(guided) >= 2:
        lo, hi = guided[0], guided[-1]
        if hi["diversity"] < lo["diversity"]:
            trend = "falls"
        elif hi["diversity"] > lo["diversity"]:
            trend = "rises"
        else:
            trend = "stays"
        sentence = (f"Diversity {trend} from {lo['diversity']:.2f} at w = {lo['w']:g} to {hi['diversity']:.2f} "
                    f"at w = {hi['w']:g} (1 = as varied as the real {d}s)")
        parts.append(sentence + (": stronger guidance buys the label with variety." if trend == "falls" else "."))
    figures = _judge().figures
    judge_line = (f"Judged by the lab's digit classifier (`assets/digit-judge`: it reads "
                  f"{100 * figures.get('held_out_read_as_labelled', float('nan')):.0f} % of 500 held-out real digits "
                  f"as their label and {100 * figures.get('fresh_junk_read_as_a_digit', float('nan')):.0f} % of "
                  f"scribbles as a digit); \"read as\" = its top class with probability ≥ {_judge().confidence:g}; "
                  f"diversity = mean distance between two samples in its features, over the real {d}s'. "
                  f"{result['n']} samples per w, DDIM {result['steps']} steps, seed {result['seed']}, "
                  f"{result['seconds']:.1f} s in all.")
    return head + body + "\n" + " ".join(parts) + "\n\n" + judge_line


def compare_guidance(digit=DEFAULT_GUIDANCE["digit"], n=DEFAULT_GUIDANCE["n"], steps=DEFAULT_GUIDANCE["steps"],
                     seed=DEFAULT_GUIDANCE["seed"], progress=gr.Progress()):
    """/compare_guidance: the guidance sweep of one digit (w = 0, 1, 2, 3, 5, 7) -> plot, samples, table + text."""
    kwargs = dict(digit=number("digit", digit, 0, 9, integer=True),
                  n=number("samples per w", n, 2, MAX_SWEEP_SAMPLES, integer=True),
                  steps=number("steps", steps, 2, 200, integer=True),
                  seed=number("seed", seed, 0, 2**31 - 1, integer=True))
    try:
        model = hub.load_model(hub.BUNDLED_COND_ID)
        judge = _judge()
    except (hub.HubError, ValueError) as exc:
        raise refusal(str(exc)) from None
    try:
        result = in_background(guidance_sweep, model, judge, scales=SWEEP_SCALES, limit_s=MAX_SWEEP_S,
                               on_step=lambda d, t: progress((d, t), desc=f"network call {d}/{t}"), **kwargs)
    except RunTooLong as exc:
        raise refusal(str(exc)) from None
    except ValueError as exc:
        raise user_error(exc) from None
    return sweep_plot(result), sweep_samples(result), sweep_text(result)


__all__ = ["DEFAULT_GUIDANCE", "SWEEP_SCALES", "compare_guidance", "sweep_plot", "sweep_samples", "sweep_text"]
