"""Lessons: named one-click set-ups for a class. Choosing one switches to its tab, sets the controls it names, runs
it (by pressing the tab's own button in the page, so every check, limit and queue rule applies as for a click), and
shows two sentences on what to look for.

Tabs register the controls a lesson may set with :func:`control` while they are built (components are the same for
every visitor; what a lesson changes is the visitor's own page). :func:`build_lessons_bar` makes the menu (at the top
of the page) and :func:`wire_lessons` connects it once every tab exists. The table :data:`LESSONS` is checked by
the tests: every control it names is registered and every value is one the control accepts.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import quote

import gradio as gr

__all__ = ["Lesson", "LESSONS", "CONTROLS", "control", "build_lessons_bar", "wire_lessons", "lesson_update",
           "lesson_from_url"]

CONTROLS: dict[str, gr.components.Component] = {}


def control(key: str, component):
    """Register ``component`` under ``key`` (e.g. "toy.sampler") for the lessons; returns it."""
    CONTROLS[key] = component
    return component


@dataclass(frozen=True)
class Lesson:
    name: str
    tab: str                          # the gr.Tab id
    settings: dict = field(default_factory=dict)    # control key -> value (or {"open": True} for an accordion)
    button: str | None = None         # elem_id of the button pressed once the controls are set
    prompt: str = ""                  # what to look for, in two sentences
    show: str | None = None           # elem_id of the picture scrolled into view (the lesson's result)
    ready: str | None = None          # element id that must exist before the button is pressed (the tab's first
                                      # picture: on a fresh page the button waits for the tab's default run)


LESSONS = [
    Lesson("DDPM vs DDIM and η", "toy",
           {"toy.sampler": "ddim", "toy.steps": 50, "toy.eta": 0.0, "toy.overlays": ["trajectories"]},
           "toy-sample-btn",
           "With η = 0 DDIM is deterministic: scrub and the paths are smooth curves from noise to data. Set η to 1 "
           "(as noisy as DDPM) and press Sample: the paths jitter; compare the two runs' quality figures.",
           show="toy-scrub", ready="toy-scrub-frames"),
    Lesson("Why x̂₀ is blurry early", "toy",
           {"toy.overlays": ["predicted x̂₀ cloud"]}, "toy-sample-btn",
           "Drag the slider toward pure noise: the predicted x̂₀ cloud shrinks to the middle of the data. The "
           "network predicts the *average* clean point that x_t could have come from, and early on that is "
           "almost everything.",
           show="toy-scrub", ready="toy-scrub-frames"),
    Lesson("Exact vs learned score", "toy",
           {"toy.overlays": ["learned field", "exact field & exact-denoiser samples"]}, "toy-sample-btn",
           "The grey arrows are the network's score, the orange ones the exact score of the data. Scrub: "
           "where do they disagree — near the data, or far from it, where no training point ever was?",
           show="toy-scrub", ready="toy-scrub-frames"),
    Lesson("Diffusion vs flow matching", "toy", {"toy.flow_section": {"open": True}}, "toy-flow-btn",
           "The other kind of model is trained on your data, and both run from the same noise. Compare how "
           "straight the paths are and how the quality holds up at 1, 2 and 4 steps.",
           show="toy-flow-btn", ready="toy-scrub-frames"),
    Lesson("What T does", "compare", {"compare.sch_T": 50, "compare.sch_rescale": False}, "cmp-sch-btn",
           "With only T = 50 steps, read the table under the curves: how much of the signal survives the last step "
           "under each schedule, and which ones are flagged ⚠. Slide T back to 1000 and press Compare again.",
           show="cmp-curves"),
    Lesson("The cosine + leading-spacing pitfall", "compare",
           {"compare.sp_sampler": "ddim", "compare.sp_steps": 10, "compare.sp_schedule": "cosine"}, "cmp-sp-btn",
           "Ten DDIM steps on a cosine schedule: look at which timestep each spacing calls the model at first. "
           "\"Leading\" starts below the noisiest step, so pure noise is treated as an x_t that still holds "
           "signal.",
           show="cmp-sp-btn"),
    Lesson("Break it: T too small", "compare", {"compare.b_exp": "T too small"}, "cmp-break-btn",
           "Linear betas with only T = 50 steps leave much of the data in the last step, yet sampling starts "
           "from pure noise: compare the broken samples (right) with the right ones (left). Then try the other "
           "mistakes in the list.",
           show="cmp-break-btn"),
    Lesson("Guidance: surer digits, less variety", "compare", {"compare.g_digit": 3}, "cmp-guid-btn",
           "The same noise at six guidance scales: watch the share of samples drawn as a 3 rise and their "
           "variety fall. At w = 0 the label is ignored altogether.",
           show="cmp-guid-btn"),
]
NONE = "— choose a lesson —"


def lesson_update(name: str, keys=None) -> list:
    """The updates for ``name``: the tab to select, then one per control in ``keys`` (default: every registered
    control, in CONTROLS order), then the prompt's Markdown."""
    lesson = next((x for x in LESSONS if x.name == name), None)
    keys = list(CONTROLS) if keys is None else list(keys)
    if lesson is None:
        return [gr.Tabs(), *[gr.update() for _ in keys], ""]
    updates = []
    for key in keys:
        if key not in lesson.settings:
            updates.append(gr.update())
        else:
            v = lesson.settings[key]
            updates.append(gr.update(**v) if isinstance(v, dict) else gr.update(value=v))
    prompt = (f"**{lesson.name}.** {lesson.prompt} "
              f"<small>([a link to this lesson](?lesson={quote(lesson.name)}) to share)</small>")
    return [gr.Tabs(selected=lesson.tab), *updates, prompt]


def lesson_from_url(request: gr.Request, keys=None):
    """On page load: the lesson named in the URL's ``?lesson=`` (a share link), or nothing; first output the
    menu's value."""
    name = (request.query_params.get("lesson") if request is not None else None) or ""
    if name not in {x.name for x in LESSONS}:
        return [gr.update(), *lesson_update(NONE, keys)[:-1], gr.update()]
    return [gr.update(value=name), *lesson_update(name, keys)]


def build_lessons_bar():
    """The menu and its prompt, where they are called (the top of the page); wire with :func:`wire_lessons`."""
    with gr.Row(elem_id="dl-lessons"):
        menu = gr.Dropdown([NONE] + [x.name for x in LESSONS], value=NONE, label="Lessons: one-click set-ups",
                           scale=1, min_width=260, elem_id="dl-lesson-menu")
        prompt = gr.Markdown(elem_id="dl-lesson-prompt")
        present = gr.Button("⛶ Presentation mode", size="sm", scale=0, min_width=200, elem_id="dl-present-btn")
    # forms and explanations hidden, pictures enlarged (CSS in ui/widgets/scrubber.SCRUB_CSS); the button toggles
    present.click(None, None, None, js="""() => {
        const on = document.body.classList.toggle('dl-present');
        const b = document.querySelector('#dl-present-btn');
        if (b) b.innerText = on ? '✕ Leave presentation mode' : '⛶ Presentation mode';
    }""")
    return menu, prompt


def wire_lessons(menu, prompt, tabs) -> None:
    """Once every tab is built: choosing a lesson sets its tab and controls, then presses its button."""
    keys = list(CONTROLS)
    targets = json.dumps({x.name: [x.button, x.show, x.ready] for x in LESSONS})
    outputs = [tabs, *[CONTROLS[k] for k in keys], prompt]
    act = f"""(name) => {{
            const [button, show, ready] = ({targets})[name] || [null, null, null];
            if (!button && !show) return;
            let tries = 0;
            const act = () => {{   // the tab's elements are in the page once its tab is shown (and its first run)
                const b = button && document.querySelector('#' + button);
                const s = show && document.querySelector('#' + show);
                const here = (b || s) && (b || s).offsetParent !== null && (!ready || document.getElementById(ready));
                if (here) {{
                    if (s) s.scrollIntoView({{block: "center"}});
                    if (b) b.click();
                }} else if (++tries < 600) setTimeout(act, 100);
            }};
            setTimeout(act, 150);       // after the controls' new values have reached the page
        }}"""
    # the events answer for the controls wired here, whatever a demo built later in the process registers

    def chosen(name):
        return lesson_update(name, keys)

    def from_url(request: gr.Request):
        return lesson_from_url(request, keys)

    menu.input(chosen, menu, outputs, api_visibility="private", queue=False).then(None, menu, None, js=act)
    # a share link (?lesson=NAME) sets the lesson up on arrival, then runs it as a click would
    gr.on(None, from_url, None, [menu, *outputs], api_visibility="private", queue=False).then(
        None, menu, None, js=act)
