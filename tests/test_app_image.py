"""The Image lab tab through gradio_client: every named endpoint, bad input of every kind, Stop, sessions.

The server runs in this process with only the Image lab tab; the bundled model is a tiny random checkpoint in a temp
folder (so the test does not depend on the trained MNIST model), and a "Hub" model is served by a faked Hub.
"""
import subprocess
import sys
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import Status
from PIL import Image

from diffusion import hub
from tests.api_helpers import assert_endpoints_have_defaults
from tests.tiny_unet import FakeHub, make_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tests/conftest.py


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import app
    from ui.image import tab as image_tab

    mp = pytest.MonkeyPatch()
    mp.setattr(hub.loading, "BUNDLED_DIR", make_checkpoint(tmp_path_factory.mktemp("bundled"), channels=1, size=12,
                                                           attention=False))
    hub.clear_cache()
    with gr.Blocks() as demo:
        with gr.Tab("Image lab"):
            image_tab.build_image_tab()
    demo.queue(default_concurrency_limit=4)
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_kwargs())   # as python app.py does
    yield url, image_tab
    demo.close()
    mp.undo()
    hub.clear_cache()


@pytest.fixture
def client(server):
    return Client(server[0], verbose=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("uploads")

    def save(name, im, fmt, **kw):
        im.save(d / name, fmt, **kw)
        return str(d / name)
    frames = [Image.new("RGB", (30, 30), c) for c in [(255, 255, 255), (0, 0, 0)]]
    paths = {
        "rgba": save("rgba.png", Image.new("RGBA", (40, 30), (0, 0, 0, 0)), "PNG"),
        "palette": save("pal.png", Image.new("P", (40, 40), 3), "PNG"),
        "16bit": save("deep.png", Image.fromarray(np.arange(1600, dtype=np.uint16).reshape(40, 40) * 40), "PNG"),
        "cmyk": save("cmyk.jpg", Image.new("CMYK", (50, 50), (0, 0, 0, 200)), "JPEG"),
        "animated": save("anim.gif", frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "rgb": save("photo.jpg", Image.new("RGB", (64, 48), (200, 30, 30)), "JPEG"),
        "huge_png": save("huge.png", Image.new("1", (10_000, 10_000)), "PNG"),
    }
    (d / "notes.png").write_text("not an image at all")
    paths["text"] = str(d / "notes.png")
    huge_jpg = d / "huge.jpg"   # 100 Mpx, made in another process
    subprocess.run([sys.executable, "-c", "from PIL import Image; import sys; "
                    "Image.new('L', (10_000, 10_000), 200).save(sys.argv[1], quality=40)", str(huge_jpg)], check=True)
    paths["huge_jpg"] = str(huge_jpg)
    return paths


def test_named_endpoints_exist_with_defaults(client):
    assert_endpoints_have_defaults(client, ("/image_load_model", "/image_forward", "/image_sample", "/image_frame",
                                            "/image_select", "/image_restore", "/image_gif", "/image_estimate",
                                            "/image_stop"))


def test_forward_defaults(client):
    info = client.predict(api_name="/image_load_model")[0]
    assert "mnist-ddpm (bundled)" in info and "12x12 grey" in info
    image, html, slider, text = client.predict(api_name="/image_forward")
    assert Path(image).is_file() and 'data-n="100"' in html and slider["maximum"] == 99
    assert "12×12 grey" in text


@pytest.mark.parametrize("kind", ["rgba", "palette", "16bit", "cmyk", "animated", "rgb", "huge_jpg"])
def test_any_image_upload_is_converted(client, files, kind):
    image, html, _, text = client.predict(upload=handle_file(files[kind]), api_name="/image_forward")
    shown = Image.open(image)
    assert shown.mode in ("L", "RGB", "P") and "your upload" in text
    assert 'data-n="100"' in html


@pytest.mark.parametrize("kind, words", [("text", "cannot be used.*not an image"),
                                         ("huge_png", "cannot be used.*10000 x 10000")])
def test_bad_uploads_get_a_clear_message(client, files, kind, words):
    with pytest.raises(AppError, match=words):
        client.predict(upload=handle_file(files[kind]), api_name="/image_forward")
    assert 'data-n="100"' in client.predict(api_name="/image_forward")[1]   # still serving


def test_sample_select_frame_gif(client):
    gallery, html, slider, image_no, status = client.predict(sampler="ddim", steps=20, seed=1, batch=3,
                                                             api_name="/image_sample")
    assert len(gallery) == 3 and 'data-n="21"' in html and slider["maximum"] == 20 and image_no["maximum"] == 3
    assert "ddim, 20 steps" in status and "3 image(s)" in status and "20 network calls" in status
    assert 'data-n="21"' in client.predict(image=3, frame=4, api_name="/image_select")
    png, label = client.predict(view="reverse", image=2, frame=20, api_name="/image_frame")
    assert Path(png).is_file() and "step 1/20" in label and "t = 950" in label
    gif = client.predict(view="reverse", image=2, fps=10, api_name="/image_gif")
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 21
    for sampler in ("heun", "pc"):   # every sampler is run in test_image_sampling; here, the two unusual ones
        assert f"{sampler}, 4 steps" in client.predict(sampler=sampler, steps=4, batch=1,
                                                       api_name="/image_sample")[-1]


# Sliders: Gradio itself refuses values outside their range ("Value 0 is less than minimum value 1."), before
# the handler's own check (which names the input) is reached.
@pytest.mark.parametrize("kwargs, words", [
    (dict(batch=0), r"less than minimum value 1"),
    (dict(batch=17), r"greater than maximum value 16"),
    (dict(batch=2.5), "batch size must be a whole number"),
    (dict(steps=0), r"less than minimum value 1"),
    (dict(steps=5000), r"greater than maximum value 1000"),
    (dict(sampler="magic"), "magic is not in the list of choices"),
    (dict(eta=2.0), r"greater than maximum value 1"),
    (dict(seed=-1), "less than minimum value 0"),
    (dict(steps="many"), "Expected a .* but the value passed to the event handler was: .many."),   # Gradio's own check
])
def test_out_of_range_settings_are_refused_and_the_queue_keeps_going(client, kwargs, words):
    with pytest.raises(AppError, match=words):
        client.predict(**{"steps": 5, "batch": 1, **kwargs}, api_name="/image_sample")
    assert "5 steps" in client.predict(steps=5, batch=1, api_name="/image_sample")[-1]


def test_too_long_runs_are_refused_with_the_limit(client, server):
    model = hub.load_model()
    cost = model.call_cost_s
    object.__setattr__(model, "call_cost_s", (0.01, 0.27))      # as slow as google/ddpm-cifar10-32 here
    try:
        with pytest.raises(AppError, match=r"over the lab's 120 s limit: at most ~27 steps fit"):
            client.predict(sampler="ddpm", steps=1000, batch=16, api_name="/image_sample")
        assert "over the lab's 120 s limit" in client.predict(sampler="ddpm", steps=1000, batch=16,
                                                              api_name="/image_estimate")
    finally:
        object.__setattr__(model, "call_cost_s", cost)
    assert "Estimated time" in client.predict(api_name="/image_estimate")


def test_stop_ends_a_long_run_quickly(client):
    client.predict(api_name="/image_load_model")
    job = client.submit(sampler="ddpm", steps=1000, batch=4, api_name="/image_sample")
    for _ in range(200):                    # wait until the run has started (it takes several seconds)
        if job.status().code in (Status.PROCESSING, Status.PROGRESS):
            break
        time.sleep(0.05)
    time.sleep(0.5)
    start = time.perf_counter()
    client.predict(api_name="/image_stop")
    status = job.result(timeout=60)[-1]
    assert "stopped" in status and time.perf_counter() - start < 10


def test_restore(client, files):
    trio, html, slider, status = client.predict(api_name="/image_restore")
    assert Path(trio).is_file() and "from t₀ = 400" in status and slider["maximum"] == 50
    status = client.predict(upload=handle_file(files["rgb"]), t_start=30, steps=100, sampler="ddpm",
                            api_name="/image_restore")[-1]
    assert "ddpm, 31 steps" in status                              # capped at t0 + 1
    png, label = client.predict(view="restore", frame=31, api_name="/image_frame")
    assert "t = 30" in label
    with pytest.raises(AppError, match=r"greater than maximum value 999"):
        client.predict(t_start=5000, api_name="/image_restore")
    with pytest.raises(AppError, match="euler is not in the list of choices"):
        client.predict(sampler="euler", api_name="/image_restore")
    with pytest.raises(AppError, match="cannot be used"):
        client.predict(upload=handle_file(files["text"]), api_name="/image_restore")


def test_frame_and_gif_before_any_run_say_what_to_do(client):
    client.predict(api_name="/image_load_model")
    with pytest.raises(AppError, match="run the sampler first"):
        client.predict(view="reverse", api_name="/image_frame")
    with pytest.raises(AppError, match="run the restore first"):
        client.predict(view="restore", api_name="/image_gif")
    with pytest.raises(AppError, match="sideways.*not in the list of choices"):
        client.predict(view="sideways", api_name="/image_gif")


def test_model_loading_errors_keep_the_current_model(client, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    client.predict(api_name="/image_load_model")
    start = time.perf_counter()
    info, name, *_ = client.predict("google/ddpm-cifar10-32", api_name="/image_load_model")
    assert time.perf_counter() - start < 5
    assert "cannot be reached (offline?)" in info and "staying on mnist-ddpm (bundled)" in info
    assert name == hub.BUNDLED_ID
    info = client.predict("../../etc/passwd", api_name="/image_load_model")[0]
    assert "not a Hub model id" in info and "staying on mnist-ddpm (bundled)" in info
    assert "5 steps" in client.predict(steps=5, batch=1, api_name="/image_sample")[-1]   # still works


def test_rgb_hub_model_takes_grey_and_colour_pictures(client, files, monkeypatch, tmp_path):
    fake = FakeHub(monkeypatch, tmp_path)
    fake.add("someone/rgb-ddpm", make_checkpoint(tmp_path / "rgb", channels=3, size=16, attention=False))
    info, name, *_ = client.predict("someone/rgb-ddpm", api_name="/image_load_model")
    assert name == "someone/rgb-ddpm" and "16x16 RGB" in info
    image, _, _, text = client.predict(api_name="/image_forward")          # the grey example into an RGB model
    assert "16×16 RGB" in text and Image.open(image).mode == "RGB"
    client.predict(upload=handle_file(files["rgb"]), api_name="/image_forward")
    gallery = client.predict(steps=3, batch=2, api_name="/image_sample")[0]
    assert len(gallery) == 2 and Image.open(gallery[0]["image"]).mode == "RGB"
    # and back to the grey bundled model: the colour photo becomes grey
    client.predict("bundled", api_name="/image_load_model")
    assert "12×12 grey" in client.predict(upload=handle_file(files["rgb"]), api_name="/image_forward")[-1]


def test_sessions_are_separate_bounded_and_released(server, client):
    from ui.image import session as image_session
    from ui.serving.session import close_session      # the gr.State's delete_callback
    other = Client(server[0], verbose=False)
    client.predict(steps=10, batch=16, seed=1, api_name="/image_sample")
    other.predict(steps=3, batch=2, seed=2, api_name="/image_sample")
    assert client.predict(view="reverse", image=16, frame=0, api_name="/image_frame")[1].startswith("end (10/10")
    with pytest.raises(AppError, match="greater than maximum value 2|must be in"):
        other.predict(view="reverse", image=16, frame=0, api_name="/image_frame")   # other has 2 images
    sessions = image_session.SESSIONS.items()
    assert len(sessions) >= 2 and all(s.nbytes() <= 150 * 2**20 for s in sessions)
    for s in sessions:
        close_session(s)
    assert all(s.run is None and s.forward is None for s in sessions)
