"""The Compare tab through its API: gradio_client against the tab served in-process in a gr.Blocks of its own.

(The tab is tested standalone so that it does not depend on how app.py places it; the app's own tests cover the
wiring.) Every endpoint with its defaults, with bad input (clear messages, the session keeps working), Stop, and the
PNG export of the race.
"""
from __future__ import annotations

import os
import re
import time
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

gradio_client = pytest.importorskip("gradio_client")
from gradio_client.exceptions import AppError  # noqa: E402

from tests.api_helpers import assert_endpoints_have_defaults  # noqa: E402

ENDPOINTS = ["/compare_schedules", "/compare_spacing", "/race", "/race_stop", "/break_it", "/compare_guidance"]
TEST_DEFAULT_STEPS = 400   # the toy lab's default model trains for fewer steps in tests (as tests/conftest.py)


@pytest.fixture(scope="module")
def compare_server():
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from ui.toy import session as toy_session
    from ui.compare.tab import build_compare_tab

    toy_session.DEFAULT_FIT.setdefault("steps", TEST_DEFAULT_STEPS)
    toy_session.SHARED.start()
    with gr.Blocks() as demo:
        build_compare_tab()
    demo.queue(default_concurrency_limit=4)
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1")
    try:
        yield SimpleNamespace(url=url, demo=demo)
    finally:
        demo.close()
        toy_session.SHARED.join(timeout=600)     # a thread still inside torch at exit would abort the process


@pytest.fixture
def cclient(compare_server, tmp_path):
    from gradio_client import Client
    return Client(compare_server.url, verbose=False, download_files=str(tmp_path / "downloads"))


def image(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def rows(table) -> list[dict]:
    return [dict(zip(table["headers"], r)) for r in table["data"]]


def test_every_endpoint_is_listed_and_every_parameter_has_a_default(cclient):
    assert_endpoints_have_defaults(cclient, ENDPOINTS)


def test_compare_schedules_with_defaults(cclient):
    curves, grid, table, md = cclient.predict(api_name="/compare_schedules")
    assert image(curves).shape[1] > 800 and image(grid).shape[0] > 4 * 96
    table = rows(table)
    assert [r["schedule"] for r in table] == ["linear", "cosine", "scaled_linear", "sigmoid"]
    assert all(r["verdict"].startswith("✓") for r in table) and "No schedule flagged" in md


def test_compare_schedules_flags_too_few_steps_and_shows_the_rescale(cclient):
    _, _, table, md = cclient.predict(schedules=["linear", "cosine"], T=50, rescale=True, data="gaussians8",
                                      api_name="/compare_schedules")
    table = {r["schedule"]: r for r in rows(table)}
    assert set(table) == {"linear", "linear+zero_snr", "cosine", "cosine+zero_snr"}
    assert table["linear"]["verdict"].startswith("⚠") and "signal" in table["linear"]["verdict"]
    assert table["linear+zero_snr"]["log-SNR_T"] == "−∞" and table["linear+zero_snr"]["verdict"].startswith("✓")
    assert "1 of 4 schedules flagged" in md and "linear" in md


@pytest.mark.parametrize("kwargs, message", [
    (dict(schedules=[]), "No schedule chosen"), (dict(schedules=["nope"]), "nope.* not in the list of choices"),
    (dict(T=1), "minimum value 10"), (dict(T=10**7), "maximum value 2000"), (dict(T=12.5), "whole number"),
    (dict(data="nope"), "nope.* not in the list of choices"),
    (dict(example="../../etc/passwd"), "not in the list of choices")])
def test_compare_schedules_bad_input_gets_a_clear_message(cclient, kwargs, message):
    with pytest.raises(AppError, match=message):
        cclient.predict(api_name="/compare_schedules", **kwargs)
    assert cclient.predict(schedules=["cosine"], api_name="/compare_schedules")[3]   # still serving


def test_compare_spacing_with_defaults_measures_each_spacing(cclient):
    visited, table, clouds, md = cclient.predict(api_name="/compare_spacing")
    table = {r["spacing"]: r for r in rows(table)}
    assert table["leading"]["first call at t"] == "900" and table["trailing"]["first call at t"] == "999"
    assert float(table["leading"]["√ᾱ assumed at the first call"]) > 0.1
    assert image(visited).shape[1] > 600 and image(clouds).shape[0] > 400
    numbers = re.findall(r"(leading|trailing|linspace) \*\*([0-9.e+]+|∞)\*\*", md)
    assert len(numbers) == 6, md                 # 3 spacings x (trained model, exact off-centre)


def test_compare_spacing_refuses_bad_input(cclient):
    with pytest.raises(AppError, match="nope.* not in the list of choices"):
        cclient.predict(sampler="nope", api_name="/compare_spacing")
    with pytest.raises(AppError, match="minimum value 1"):
        cclient.predict(steps=0, api_name="/compare_spacing")
    with pytest.raises(AppError, match="whole number"):
        cclient.predict(steps=2.5, api_name="/compare_spacing")


def test_race_with_defaults_runs_five_samplers_by_four_step_counts_and_exports_a_png(cclient):
    clouds, plot, table, md, png = cclient.predict(api_name="/race")
    table = rows(table)
    assert len(table) == 20 and {r["sampler"] for r in table} == {"ddpm", "ddim", "euler", "heun", "dpmpp_2m"}
    assert {r["steps"] for r in table} == {5, 10, 20, 50}
    assert all(r["quality"] not in ("", "∞") for r in table)
    heun = {r["steps"]: r["NFE"] for r in table if r["sampler"] == "heun"}
    assert heun == {5: 9, 10: 19, 20: 39, 50: 99}
    assert "Best for a budget" in md and "2000 points" in md
    fig, grid = image(png), image(clouds)
    assert fig.shape[0] > grid.shape[0] and fig.shape[1] >= grid.shape[1]    # the export holds grid + plot
    assert image(plot).shape[1] > 400


def test_race_on_the_exact_1d_mixture(cclient):
    clouds, plot, table, md, png = cclient.predict(model="exact: gmm1d mixture (1-D)", samplers=["ddim", "heun"],
                                                      steps="2, 8", points=500, api_name="/race")
    assert [(r["sampler"], r["steps"], r["NFE"]) for r in rows(table)] == [("ddim", 2, 2), ("ddim", 8, 8),
                                                                         ("heun", 2, 3), ("heun", 8, 15)]
    assert "exact denoiser (gmm1d)" in md and image(png).shape[0] > 300


def test_ddim_and_euler_on_the_same_timesteps_are_said_to_be_identical(cclient):
    # DDIM (eta 0) and Euler are one discretisation of the probability-flow ODE: same timesteps, same figures
    _, _, table, md, _ = cclient.predict(model="exact: gmm1d mixture (1-D)", samplers=["ddim", "euler", "heun"],
                                         steps="2, 8", points=500, spacing="leading", api_name="/race")
    q = {(r["sampler"], r["steps"]): r["quality"] for r in rows(table)}
    assert q[("ddim", 2)] == q[("euler", 2)] and q[("ddim", 8)] == q[("euler", 8)]
    assert "Identical figures at every step count: ddim and euler" in md and "same discretisation" in md
    assert "heun" not in md.split("Identical figures")[1].split(";")[0]


@pytest.mark.parametrize("kwargs, message", [
    (dict(samplers=[]), "No sampler chosen"), (dict(samplers=["nope"]), "nope.* not in the list of choices"),
    (dict(steps=""), "No step counts given"), (dict(steps="5, ten"), "'ten' is not a number"),
    (dict(steps="5, 2000"), r"out of range: each must be between 1 and 1000"),
    (dict(steps="1, 2, 3, 4, 5, 6, 7"), "over the race's limit of 6"), (dict(steps="0"), "whole number ≥ 1"),
    (dict(points=10**6), "maximum value 5000"), (dict(model="nope"), "nope.* not in the list of choices"),
    (dict(spacing="nope"), "nope.* not in the list of choices"), (dict(seed=-1), "minimum value 0")])
def test_race_bad_input_gets_a_clear_message(cclient, kwargs, message):
    args = dict(model="exact: gaussians8 mixture", samplers=["ddim"], steps="2", points=200)
    args.update(kwargs)
    with pytest.raises(AppError, match=message):
        cclient.predict(api_name="/race", **args)
    out = cclient.predict(model="exact: gaussians8 mixture", samplers=["ddim"], steps="2", points=200,
                          api_name="/race")
    assert len(out[2]["data"]) == 1                                                 # the session still works


def test_a_race_over_the_time_limit_is_refused_up_front(cclient, monkeypatch):
    from diffusion.labs import race
    monkeypatch.setattr(race, "MAX_RACE_SECONDS", 1e-6)
    with pytest.raises(AppError, match=r"over the lab's 0 s limit.*fewer samplers"):
        cclient.predict(model="exact: gaussians8 mixture", samplers=["ddim"], steps="2", api_name="/race")


def test_the_image_race_gives_a_grid_or_says_why_not(cclient):
    from diffusion import hub
    args = dict(model="image: bundled MNIST DDPM", samplers=["ddim", "dpmpp_2m"], steps="2, 3", images=2)
    bundled = hub.loading.BUNDLED_DIR
    if not (bundled / "config.json").is_file() and not (bundled / "unet" / "config.json").is_file():
        with pytest.raises(AppError, match="cannot be raced: the bundled model is missing"):
            cclient.predict(api_name="/race", **args)
        return
    grid, plot, table, md, png = cclient.predict(api_name="/race", **args)
    assert [(r["sampler"], r["steps"]) for r in rows(table)] == [("ddim", 2), ("ddim", 3), ("dpmpp_2m", 2),
                                                                 ("dpmpp_2m", 3)]
    assert all(r["quality"] == "" for r in rows(table)) and plot is None
    assert "The same starting noise x_T in every cell" in md and "$" not in md       # no raw LaTeX
    assert image(png).shape[0] == image(grid).shape[0] + 26           # the export: the grid under a title


def test_stop_ends_a_race_and_keeps_the_finished_cells(cclient, monkeypatch):
    from diffusion.labs import race
    monkeypatch.setattr(race, "MAX_RACE_SECONDS", 10_000.0)     # a long race on purpose
    job = cclient.submit(model="exact: gaussians8 mixture", samplers=["ddim", "euler", "dpmpp_2m", "pc"],
                         steps="100, 200, 400, 800, 900", points=5000, api_name="/race")
    deadline = time.time() + 120
    while time.time() < deadline and not job.done() and not any("Racing" in str(o) for o in job.outputs()[-1:]):
        time.sleep(0.3)
    t0 = time.time()
    cclient.predict(api_name="/race_stop")
    clouds, plot, table, md, png = job.result(timeout=120)
    assert time.time() - t0 < 60
    assert "stopped" in md
    done = rows(table)
    assert len(done) < 20 and (not done or done[-1]["note"] in ("stopped part-way", ""))
    assert os.path.exists(png)


@pytest.mark.parametrize("experiment", ["T too small", "wrong DDPM variance", "clipped x̂₀", "no time embedding"])
def test_break_it_shows_the_mistake_with_numbers(cclient, experiment):
    img, md = cclient.predict(experiment=experiment, api_name="/break_it")
    assert image(img).shape[1] > 500
    q = [float(v) for v in re.findall(r"quality ([0-9.]+)", md)]
    assert len(q) == 2, md
    if experiment in ("T too small", "clipped x̂₀"):
        assert q[1] > 1.5 * q[0], md
    if experiment == "wrong DDPM variance":
        spreads = [float(v) for v in re.findall(r"spread around the modes ([0-9.]+)", md)]
        assert spreads[1] > 1.4 * spreads[0], md


def test_break_it_refuses_an_unknown_experiment(cclient):
    with pytest.raises(AppError, match="nope.* not in the list of choices"):
        cclient.predict(experiment="nope", api_name="/break_it")


# --- handlers called directly (no server): the Toy lab's session model, session release --------------------------
def test_the_race_uses_the_visitors_own_toy_lab_model_when_the_app_passes_it():
    import gradio as gr

    from diffusion import toy
    from ui.compare import handlers
    from ui.compare.session import TOY_YOURS
    mine = toy.fit("moons", seed=1, steps=30, hidden=32, depth=2, batch_size=64, num_timesteps=100)
    *_, last = handlers.run_race(None, model=TOY_YOURS, samplers=["ddim"], steps="2, 4", points=200,
                                 toy_session=SimpleNamespace(model=mine))
    session, clouds, plot, table, md, png = last
    assert list(table["NFE"]) == [2, 4] and "your Toy-lab model" in md
    assert session.result.cells[0].samples.shape == (200, 2)
    with pytest.raises(gr.Error, match="open the Toy lab first"):
        list(handlers.run_race(None, model=TOY_YOURS, samplers=["ddim"], steps="2", toy_session=None))


def test_a_flow_matching_toy_model_races_only_its_ode_samplers():
    from diffusion import toy
    from ui.compare import handlers
    from ui.compare.session import TOY_YOURS
    flow = toy.fit("moons", seed=0, steps=20, hidden=32, depth=2, batch_size=64, objective="flow_matching")
    *_, last = handlers.run_race(None, model=TOY_YOURS, samplers=["ddim", "heun"], steps="3", points=100,
                                 toy_session=SimpleNamespace(model=flow))
    assert list(last[3]["sampler"]) == ["heun"] and list(last[3]["NFE"]) == [5]


def test_closing_a_session_stops_its_race_and_releases_it():
    from ui.compare.session import SESSIONS, CompareSession
    from ui.serving.session import close_session      # the gr.State's delete_callback
    session = CompareSession()
    assert session in SESSIONS.items()
    session.result = object()
    close_session(session)
    assert session.stop.is_set() and session.result is None and session not in SESSIONS.items()


def test_the_schedules_section_opens_filled_in_with_its_defaults():
    from ui.compare.handlers import compare_schedules, default_schedules
    first = default_schedules()
    assert default_schedules() is first                        # worked out once per server
    assert first[3] == compare_schedules()[3] and "No schedule flagged" in first[3]


def test_the_race_section_opens_with_the_default_race_worked_out_once(cclient):
    from ui.compare.handlers import default_race, default_race_view
    first = default_race()
    assert default_race() is first                              # once per server
    clouds, plot, table, md, png = list(default_race_view())[-1]
    assert md == first[3] and png == first[4]
    # the same figures as pressing "Run the race" with the defaults
    _, _, pressed_table, pressed_md, _ = cclient.predict(api_name="/race")
    got = sorted((r["sampler"], r["steps"], r["quality"]) for r in rows(pressed_table))
    assert got == sorted(zip(table["sampler"], table["steps"], table["quality"]))
    assert len(got) == 5 * 4


def _sweep_table(md: str) -> dict[float, dict]:
    lines = [l for l in md.splitlines() if re.match(r"^\| \d", l)]
    out = {}
    for line in lines:
        w, asked, div, other, junk, _ = [c.strip() for c in line.strip("|").split("|")]
        out[float(w)] = dict(asked=int(asked.rstrip(" %")), diversity=float(div), other=int(other), junk=int(junk))
    return out


def test_the_guidance_sweep_measures_each_w_and_says_what_the_table_says(cclient):
    plot, samples, md = cclient.predict(digit=7, n=6, steps=12, seed=1, api_name="/compare_guidance")
    table = _sweep_table(md)
    assert sorted(table) == [0.0, 1.0, 2.0, 3.0, 5.0, 7.0]
    assert all(r["other"] + r["junk"] <= 6 for r in table.values())
    assert table[3.0]["asked"] > table[0.0]["asked"]                # guidance draws the digit asked for
    top = max(r["asked"] for r in table.values())
    at_top = [w for w in sorted(table) if table[w]["asked"] == top]
    if len(at_top) > 1 and at_top == [w for w in sorted(table) if w >= at_top[0]]:
        assert f"The most samples read as a 7, {top} %, from **w = {at_top[0]:g}** on." in md
    else:
        assert f"The most samples read as a 7, {top} %, at " + ", ".join(f"**w = {w:g}**" for w in at_top) in md
    assert "happen to be a 7" in md and f"{table[0.0]['asked']} % of its 6 samples" in md
    lo, hi = table[1.0]["diversity"], table[7.0]["diversity"]
    trend = "falls" if hi < lo else "rises" if hi > lo else "stays"
    assert f"Diversity {trend} from {lo:.2f} at w = 1 to {hi:.2f} at w = 7" in md
    assert image(plot).shape[1] >= 700
    assert image(samples).shape[0] >= 6 * 100                       # one row of samples per w


@pytest.mark.parametrize("kwargs, message", [
    (dict(digit=12), "maximum value 9"), (dict(n=40), "maximum value 16"), (dict(steps=1), "minimum value 2"),
    (dict(seed=-3), "minimum value 0")])
def test_the_guidance_sweep_refuses_bad_input(cclient, kwargs, message):
    with pytest.raises(AppError, match=message):
        cclient.predict(api_name="/compare_guidance", **kwargs)


def test_a_guidance_sweep_over_the_time_limit_is_refused_before_it_runs(cclient, monkeypatch):
    from ui.compare import guidance
    monkeypatch.setattr(guidance, "MAX_SWEEP_S", 0.001)
    with pytest.raises(AppError, match=r"over the lab's 0 s limit; use fewer steps or digits"):
        cclient.predict(api_name="/compare_guidance")
