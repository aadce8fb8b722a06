"""The Toy lab through its API (gradio_client against the app launched in-process), plus its UI helpers.

Every endpoint is called with its defaults and with bad input; two clients are two visitors and must never see
each other's work. Training runs are kept short (a few hundred steps) so the file runs in well under a minute.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from tests.api_helpers import assert_endpoints_have_defaults, long_training_steps  # noqa: E402

TOY_ENDPOINTS = ["/toy_data", "/toy_train", "/toy_stop", "/toy_sample", "/toy_view", "/toy_frame", "/toy_gif",
                 "/toy_flow_vs_diffusion", "/toy_1d"]
SHORT = 150  # training steps for API tests


def frames_in(html: str) -> int:
    return len(re.findall(r'<img class="dl-frame', html))


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


# --- endpoints with their defaults ---------------------------------------------------------------------------
def test_every_toy_endpoint_is_listed_and_every_parameter_has_a_default(client):
    assert_endpoints_have_defaults(client, TOY_ENDPOINTS)


def test_sample_with_defaults_records_every_step_for_the_scrubber(client):
    html, slider, quality_md = client.predict(api_name="/toy_sample")
    # the lab's default, dpmpp_2m with 20 steps: x_T, 19 intermediate states and the sample -> 21 frames per view
    assert frames_in(html) == 2 * 21
    assert slider["maximum"] == 20 and slider["value"] == 0
    assert "dpmpp_2m, 20 steps, Karras σ spacing (ρ = 7)" in html and "21 frames (every step of 20 shown)" in html
    # the default model on its default run: both yardstick figures high, and the sentence says so
    precision, recall = map(float, re.search(r"On the data ([0-9.]+) · Covers the data ([0-9.]+)", quality_md).groups())
    assert precision >= 0.9 and recall >= 0.9, quality_md
    assert "the samples lie on the data and cover it" in quality_md and "4,000 samples" in quality_md
    assert "default model" in quality_md


def test_frame_endpoint_shows_data_at_0_and_noise_at_the_end(client):
    client.predict(num_steps=20, n=800, api_name="/toy_sample")
    clean = pixels(client.predict(view="forward", index=0, api_name="/toy_frame"))
    noisy = pixels(client.predict(view="forward", index=20, api_name="/toy_frame"))
    sample = pixels(client.predict(view="reverse", index=0, api_name="/toy_frame"))
    assert clean.shape == noisy.shape == sample.shape == (340, 340, 3)
    assert np.abs(clean - noisy).mean() > 1.0          # the cloud moved
    assert np.abs(clean - sample).mean() > 0.1         # forward panel and reverse panel are different pictures


def test_view_redraws_with_overlays_and_keeps_the_frame_count(client):
    client.predict(num_steps=20, n=800, api_name="/toy_sample")
    plain = client.predict(overlays=[], index=10, api_name="/toy_view")
    rich = client.predict(overlays=["trajectories", "predicted x̂₀ cloud", "learned field",
                                    "exact field & exact-denoiser samples"], index=10, api_name="/toy_view")
    assert frames_in(plain) == frames_in(rich) == 2 * 21
    assert 'data-index="10"' in rich
    assert plain != rich


def test_gif_export_holds_every_frame(client):
    client.predict(num_steps=20, api_name="/toy_sample")
    path = client.predict(view="reverse", fps=10, api_name="/toy_gif")
    assert str(path).endswith(".gif")
    with Image.open(path) as gif:
        assert gif.n_frames == 21
        assert gif.size == (340, 340)


# --- the app as a program ---------------------------------------------------------------------------------------
def test_importing_app_is_cheap():
    """Nothing heavy at import: no torch, no core package, no model (a Space imports app.py before serving)."""
    import subprocess
    import sys
    code = "import sys, app; print(sorted(m for m in ('torch', 'diffusion', 'ui.toy_tab') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_python_app_py_serves_on_the_port_it_is_given():
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
               GRADIO_ANALYTICS_ENABLED="False")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=str(Path(__file__).resolve().parents[1]), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, status = time.time() + 120, None
        while time.time() < deadline and status is None:
            try:
                status = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).status
            except OSError:
                assert proc.poll() is None, "python app.py exited"
                time.sleep(0.5)
        assert status == 200
    finally:
        proc.kill()
        proc.wait(timeout=30)


# --- data sources ---------------------------------------------------------------------------------------------
def test_data_from_a_dataset_a_word_and_a_drawing(client, tmp_path):
    image, info = client.predict(source="dataset", dataset="swiss_roll", n=500, api_name="/toy_data")
    assert "swiss_roll" in info and "500 points" in info
    _, info = client.predict(source="word", word="HI", api_name="/toy_data")
    assert "HI" in info
    drawing = Image.new("RGBA", (200, 200), (0, 0, 0, 0))                  # transparent canvas, as the sketch pad
    drawing.paste((0, 0, 0, 255), (40, 40, 160, 70))                        # one thick black stroke
    path = tmp_path / "drawing.png"
    drawing.save(path)
    value = {"background": None, "layers": [handle_file(str(path))], "composite": handle_file(str(path))}
    image, info = client.predict(source="drawing", drawing=value, n=300, api_name="/toy_data")
    assert "your drawing" in info
    assert pixels(image).shape[2] == 3


# --- training --------------------------------------------------------------------------------------------------
def test_train_then_sample_uses_the_sessions_new_model(client):
    client.predict(source="dataset", dataset="gaussians8", api_name="/toy_data")
    _, status = client.predict(steps=SHORT, api_name="/toy_train")
    assert "Done" in status and f"{SHORT} steps" in status
    html, _, quality_md = client.predict(num_steps=10, n=500, api_name="/toy_sample")
    assert "your model" in quality_md and "gaussians8" in quality_md
    assert frames_in(html) == 2 * 11


def test_stop_ends_training_early_and_keeps_the_model(client):
    steps = long_training_steps(64, 2, 256)          # a quarter of the 120 s limit at most
    job = client.submit(steps=steps, hidden=64, batch_size=256, api_name="/toy_train")
    for _ in range(600):                     # wait (up to ~60 s) until training has reported at least once
        if job.outputs():
            break
        job.status()
        __import__("time").sleep(0.1)
    client.predict(api_name="/toy_stop")
    _, status = job.result(timeout=60)
    assert "stopped" in status
    steps_done = int(re.search(r"(\d+) steps in", status).group(1))
    assert 0 < steps_done < steps
    _, _, quality_md = client.predict(num_steps=10, n=300, api_name="/toy_sample")
    assert "stopped early" in quality_md                       # the model so far is the session's model


def test_flow_matching_model_samples_with_its_own_ode(client):
    _, status = client.predict(objective="flow_matching", steps=SHORT, api_name="/toy_train")
    assert "Done" in status
    html, _, quality_md = client.predict(sampler="ddim", num_steps=8, n=400, api_name="/toy_sample")  # -> euler
    assert frames_in(html) == 2 * 9 and "flow_matching" in quality_md
    assert "euler" in html
    with_exact = client.predict(overlays=["learned field", "exact field & exact-denoiser samples"], index=4,
                                api_name="/toy_view")
    assert frames_in(with_exact) == 2 * 9 and with_exact != html


def test_one_dimensional_data_trains_samples_and_draws_the_density_view(client):
    client.predict(source="dataset", dataset="gmm1d", n=800, api_name="/toy_data")
    client.predict(steps=SHORT, api_name="/toy_train")
    html, _, _ = client.predict(num_steps=10, n=400, api_name="/toy_sample")
    assert frames_in(html) == 2 * 11
    image, note = client.predict(api_name="/toy_1d")
    assert "Your model" in note
    assert pixels(image).shape[1] > 600                       # ODE and SDE panels side by side


def test_one_d_view_of_a_2d_session_falls_back_to_the_shared_1d_model(client):
    _, note = client.predict(api_name="/toy_1d")
    assert "shared default 1-D model" in note


def test_flow_vs_diffusion_on_the_default_data(client):
    image, table = client.predict(api_name="/toy_flow_vs_diffusion")
    assert "diffusion (DDIM)" in table and "flow matching (Euler)" in table
    assert pixels(image).shape[1] > 600


# --- bad input: a clear message, and the session keeps working -----------------------------------------------
# Gradio's own checks come first for sliders (range) and choice inputs; their messages name the value and the
# limit or the valid choices. The rest are the lab's own checks.
BAD = [
    ("/toy_data", dict(source="word", word="   "), "empty"),
    ("/toy_data", dict(source="drawing", drawing=None), "drawing is empty"),
    ("/toy_data", dict(n=0), "less than minimum value 100"),
    ("/toy_data", dict(n=10**9), "greater than maximum value 5000"),
    ("/toy_data", dict(seed=-1), "less than minimum value 0"),
    ("/toy_data", dict(dataset="unicorns"), "not in the list of choices"),
    ("/toy_data", dict(source="telepathy"), "not in the list of choices"),
    ("/toy_train", dict(lr=10.0, steps=300), "diverged"),
    ("/toy_train", dict(lr=0), "learning rate must be in"),
    ("/toy_train", dict(steps=-5), "less than minimum value 100"),
    ("/toy_train", dict(objective="magic"), "not in the list of choices"),
    ("/toy_train", dict(hidden=2.5), "less than minimum value 16"),
    ("/toy_train", dict(hidden=40.5), "width must be a whole number"),
    ("/toy_sample", dict(n=0), "less than minimum value 100"),
    ("/toy_sample", dict(n=10**7), "greater than maximum value 5000"),
    ("/toy_sample", dict(sampler="teleport"), "not in the list of choices"),
    ("/toy_sample", dict(num_steps=0), "less than minimum value 1"),
    ("/toy_sample", dict(num_steps=5000), "greater than maximum value 1000"),
    ("/toy_sample", dict(eta=-1), "less than minimum value 0"),
    ("/toy_sample", dict(spacing="random"), "not in the list of choices"),
    ("/toy_view", dict(overlays=["nonsense"]), "not in the list of choices"),
    ("/toy_frame", dict(index=10**6), "greater than maximum value 99"),
    ("/toy_frame", dict(index=80), r"frame must be in \[0, 20\]"),
    ("/toy_frame", dict(view="sideways"), "not in the list of choices"),
    ("/toy_gif", dict(fps=0), "less than minimum value 2"),
]


BAD_IDS = [f"{e[1:]}-{'-'.join(f'{a}={v}' for a, v in k.items())}"[:40] for e, k, _ in BAD]


@pytest.mark.parametrize("endpoint, kwargs, message", BAD, ids=BAD_IDS)
def test_bad_input_gets_a_clear_message_and_the_session_keeps_working(client, endpoint, kwargs, message):
    with pytest.raises(AppError, match=message):
        client.predict(**kwargs, api_name=endpoint)
    clean = client.predict(view="forward", index=0, api_name="/toy_frame")   # the same session still works
    assert pixels(clean).shape == (340, 340, 3)


def test_an_empty_sketch_pad_is_refused(client, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("RGBA", (100, 100), (0, 0, 0, 0)).save(blank)
    value = {"background": None, "layers": [], "composite": handle_file(str(blank))}
    with pytest.raises(AppError, match="empty"):
        client.predict(source="drawing", drawing=value, api_name="/toy_data")


# --- sessions --------------------------------------------------------------------------------------------------
def test_two_visitors_never_see_each_others_work(app_server, tmp_path):
    from gradio_client import Client
    alice = Client(app_server.url, verbose=False, download_files=str(tmp_path / "a"))
    bob = Client(app_server.url, verbose=False, download_files=str(tmp_path / "b"))
    alice.predict(source="dataset", dataset="checkerboard", api_name="/toy_data")
    alice.predict(steps=SHORT, api_name="/toy_train")
    _, _, alice_q = alice.predict(num_steps=12, n=300, seed=3, api_name="/toy_sample")
    _, bob_slider, bob_q = bob.predict(api_name="/toy_sample")
    assert "checkerboard" in alice_q and "default model" in bob_q and "checkerboard" not in bob_q
    assert bob_slider["maximum"] == 20                          # Bob's run is his default-settings run (20 steps)
    a_data = pixels(alice.predict(view="forward", index=0, api_name="/toy_frame"))
    b_data = pixels(bob.predict(view="forward", index=0, api_name="/toy_frame"))
    assert np.abs(a_data - b_data).mean() > 1.0               # checkerboard vs moons
    _, _, alice_again = alice.predict(num_steps=12, n=300, seed=3, api_name="/toy_sample")
    assert alice_again == alice_q                              # same seed, same session model: same figure


def test_a_closed_session_releases_its_objects():
    from types import SimpleNamespace
    from ui.serving.session import close_session
    from ui.toy.session import SESSIONS, ToySession
    shared = SimpleNamespace(data=object(), model=object(), model_note="", run=object())
    session = ToySession(shared)
    before = len(SESSIONS)
    close_session(session)
    assert len(SESSIONS) == before - 1
    assert session.model is None and session.run is None and session.stop.is_set()


def test_a_session_stays_within_its_memory_budget(app_server):
    from diffusion.labs.runner import MAX_FRAMES
    from ui.serving.session import MAX_SESSION_BYTES, close_session
    from ui.toy.handlers import MAX_POINTS, sample
    from ui.toy.session import new_session
    session = new_session()
    session, html, _, _ = sample(session, "ddim", MAX_FRAMES + 20, 0.0, 0, MAX_POINTS, [],
                                 progress=lambda *a, **k: None)
    assert session.run.record.num_frames == MAX_FRAMES     # more states than that, subsampled
    assert frames_in(html) == 2 * MAX_FRAMES
    assert session.nbytes() < MAX_SESSION_BYTES
    close_session(session)


# --- UI helpers --------------------------------------------------------------------------------------------------
def test_frame_indices_keep_both_ends_and_stay_within_the_limit():
    from diffusion.labs.runner import keep_indices as frame_indices
    assert frame_indices(5, 10) == [0, 1, 2, 3, 4]
    idx = frame_indices(1001, 100)
    assert idx[0] == 0 and idx[-1] == 1000 and len(idx) == 100 and idx == sorted(set(idx))


def test_scrubber_html_shows_exactly_one_frame_per_view():
    from ui.widgets.scrubber import scrubber_html
    png = [b"\x89PNG fake %d" % i for i in range(4)]
    html = scrubber_html("x", [("a", png), ("b", png)], ["l0", "l1", "l2", "l3"], index=2)
    assert html.count("dl-on") == 2 and html.count('data-i="2"') == 2 and 'data-index="2"' in html
    with pytest.raises(ValueError, match="frames"):
        scrubber_html("x", [("a", png[:3])], ["l0", "l1", "l2", "l3"])


def test_number_checks_name_the_input_and_its_range():
    import gradio as gr
    from ui.widgets.inputs import number
    assert number("steps", "12", 1, 100, integer=True) == 12
    for bad in (None, True, "abc", float("nan"), 0, 101, 2.5):
        with pytest.raises(gr.Error, match="steps"):
            number("steps", bad, 1, 100, integer=True)


def test_straightness_is_one_for_lines_and_less_for_curves():
    from diffusion.labs.toy_extras import straightness
    s = np.linspace(0, 1, 20)[:, None]
    line = np.stack([np.hstack([s, 2 * s]), np.hstack([-s, s])])                 # two straight paths
    arc = np.stack([np.hstack([np.cos(np.pi * s), np.sin(np.pi * s)])])        # a half circle: chord 2, length pi
    assert straightness(line) == pytest.approx(1.0)
    assert straightness(arc) == pytest.approx(2 / np.pi, rel=1e-2)


class ExactToyModel:
    """The exact denoiser of a mixture, dressed as a toy model: its learned field must equal the exact field."""

    def __init__(self, name):
        from diffusion import make_schedule, sample
        from diffusion.toy import dataset_mixture
        self.schedule, self.objective, self.prediction_type = make_schedule("cosine", 200), "epsilon", "epsilon"
        self.mixture, self.dim = dataset_mixture(name), 2
        self.data_mean, self.data_std = torch.zeros(2), torch.ones(2)
        self._model, self._sample = self.mixture.model(self.schedule, "epsilon"), sample

    def __call__(self, x, t):
        return self._model(x, t)

    def to_data(self, x):
        return x

    def to_model(self, x):
        return x

    def sample(self, n, sampler="ddim", num_steps=50, seed=0, **options):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, 2, generator=g)
        return self._sample(self, self.schedule, x, sampler=sampler, num_steps=num_steps, generator=g, **options)


def test_recorded_fields_match_the_exact_field_for_an_exact_model():
    from diffusion.labs.toy_runs import ToyData, record_run
    model, data = ExactToyModel("gaussians8"), ToyData.from_dataset("gaussians8", 1000)
    record, quality = record_run(model, data, "ddim", 20, n=1000)
    assert record.field.shape == record.exact_field.shape == (21, 15 * 15, 2)
    assert np.isnan(record.field[0]).all()                             # t = 0: no score
    np.testing.assert_allclose(record.field[1:], record.exact_field[1:], rtol=1e-3, atol=1e-3)
    assert quality.sw < 2.5 and quality.precision > 0.9                # the exact denoiser samples the mixture
    assert record.forward.shape == record.reverse.shape == (21, 1000, 2)
    # the exact run starts from the same x_T with the same deterministic sampler: here it is the same run
    m = record.exact_reverse.shape[1]
    np.testing.assert_allclose(record.exact_reverse, record.reverse[:, :m], atol=1e-3)


def test_the_straightness_sentence_follows_the_figures():
    from ui.toy.figures import straightness_sentence
    assert "**less straight than** diffusion's (straightness 0.557 against 0.692" in straightness_sentence(
        {"straightness": {"diffusion": 0.692, "flow": 0.557}})
    assert "**straighter than**" in straightness_sentence({"straightness": {"diffusion": 0.55, "flow": 0.9}})
    assert "**about as straight as**" in straightness_sentence({"straightness": {"diffusion": 0.7, "flow": 0.705}})
    assert straightness_sentence({"straightness": {"diffusion": None, "flow": None}}) == ""


def test_the_flow_text_quotes_the_schedules_own_sqrt_alpha_bar_T():
    from diffusion import make_schedule
    from ui.toy.text import FLOW_MD
    lin = make_schedule("linear", 1000).alphas_cumprod[-1].item() ** 0.5
    cos = make_schedule("cosine", 1000).alphas_cumprod[-1].item() ** 0.5
    assert f"{lin:.5f} for the linear schedule" in FLOW_MD and f"{cos * 1e5:.2f}\\cdot 10^{{-5}}" in FLOW_MD
    assert "paths are straighter" not in FLOW_MD
