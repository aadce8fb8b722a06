"""The Edit lab through its API endpoints (gradio_client), as a visitor's page or script uses it."""
import re

import numpy as np
import pytest
from PIL import Image, ImageDraw

from gradio_client import handle_file

from api_helpers import assert_endpoints_have_defaults, drawing_value
from ui.edit import session as edit_session


def _panels(html):
    return list(dict.fromkeys(re.findall(r'alt="([^":]+):', html)))


def _rows(md):
    """method -> (distance, model calls, off the measurement) from the table under the panels."""
    out = {}
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and re.fullmatch(r"[0-9.]+", cells[1]):
            out[cells[0]] = (float(cells[1]), int(cells[2]), float(cells[3]))
    return out


def test_endpoints_have_defaults(client):
    assert_endpoints_have_defaults(client, ["/edit_toy", "/edit_image", "/edit_stop"])


def test_the_default_2d_edit_shows_the_exact_posterior_beside_each_method(client):
    html, slider, md = client.predict(api_name="/edit_toy")
    assert _panels(html) == ["exact posterior", "replacement", "repaint", "dps"]
    assert html.count('class="dl-frame') == 4 * 41
    rows = _rows(md)
    assert list(rows) == ["replacement (naive)", "RePaint (resampling)", "DPS"]
    assert rows["replacement (naive)"][1] == 50 and rows["RePaint (resampling)"][1] == 230
    assert rows["replacement (naive)"][2] == 0 and rows["RePaint (resampling)"][2] == 0 < rows["DPS"][2]
    # the sentence names the method with the smallest distance, and the largest, with their numbers
    best = min(rows, key=lambda k: rows[k][0])
    worst = max(rows, key=lambda k: rows[k][0])
    assert f"Closest to the exact posterior: **{best}** ({rows[best][0]:.2f}" in md
    assert f"furthest: {worst} ({rows[worst][0]:.2f})" in md


def test_a_noisy_copy_is_denoised_from_its_matched_timestep_and_tweedie_is_one_call(client):
    html, _, md = client.predict(kind="copy", px=0.9, py=0.9, s=0.4, n=500, api_name="/edit_toy")
    rows = _rows(md)
    assert list(rows) == ["reverse process from t*", "one step: Tweedie's x̂₀", "DPS"]
    assert rows["one step: Tweedie's x̂₀"][1] == 1
    # the reverse process from t* samples the posterior (with the exact model); Tweedie's mean is one blurry point
    assert rows["reverse process from t*"][0] < 2.0 < rows["one step: Tweedie's x̂₀"][0]
    assert "x₀ + 0.4 n = (0.9, 0.9)" in md


@pytest.mark.parametrize("kwargs, message", [
    (dict(kind="circle"), r"Value: 'circle' .* is not in the list of choices: \['coordinate', 'linear', 'copy'\]"),
    (dict(c=5.0), r"Value 5.0 is greater than maximum value 2"),
    (dict(kind="copy", px=9.0), r"Value 9.0 is greater than maximum value 3"),
    (dict(n=10**6), r"Value 1000000 is greater than maximum value 3000"),
], ids=["kind", "c", "point", "points"])
def test_bad_2d_input_is_refused_and_the_lab_keeps_serving(client, kwargs, message):
    with pytest.raises(Exception, match=message):
        client.predict(**kwargs, api_name="/edit_toy")
    html, _, _ = client.predict(n=200, steps=10, api_name="/edit_toy")
    assert "exact posterior" in html


def test_inpainting_the_example_digits_keeps_the_known_half_and_reports_its_calls(client):
    html, slider, md = client.predict(task="inpaint", method="replacement", mask="left half", steps=10,
                                      api_name="/edit_image")
    assert "**inpainting (left half known)**, method **replacement**: 10 network calls on 6 digit(s)" in md
    assert 'class="dl-scrub dl-wide"' in html and html.count('class="dl-frame') == 11


def test_a_drawn_mask_and_the_other_tasks(client, tmp_path):
    im = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ImageDraw.Draw(im).rectangle([100, 0, 199, 199], fill=(0, 0, 0, 255))       # paint the right half
    path = tmp_path / "mask.png"
    im.save(path)
    _, _, md = client.predict(task="inpaint", method="repaint", mask="drawn (paint over the part to fill in)",
                              drawing=drawing_value(path), steps=10, resample=2, api_name="/edit_image")
    assert "(drawn known)" in md and "method **repaint**" in md
    _, _, md = client.predict(task="superres", method="ilvr", factor=4, steps=10, api_name="/edit_image")
    assert "super-resolution from 5 × 5" in md
    _, _, md = client.predict(task="denoise", method="tweedie", noise_std=0.3, api_name="/edit_image")
    assert "denoising at noise std 0.3" in md and "1 network calls" in md


@pytest.mark.parametrize("kwargs, message", [
    (dict(task="inpaint", method="ilvr"), r"unknown method for inpaint 'ilvr'; choose one of \['replacement', "
                                          r"'repaint', 'dps'\]"),
    (dict(task="inpaint", mask="drawn (paint over the part to fill in)"), r"The mask is empty"),
    (dict(task="superres", method="ilvr", factor=3), r"Value: 3 .* is not in the list of choices: \[2, 4\]"),
    (dict(task="denoise", method="denoise", noise_std=3.0), r"Value 3.0 is greater than maximum value 1.5"),
], ids=["method", "empty-mask", "factor", "noise"])
def test_bad_digit_input_is_refused_with_the_choices(client, kwargs, message):
    with pytest.raises(Exception, match=message):
        client.predict(**kwargs, api_name="/edit_image")


def test_the_shared_default_digit_edit_kept_the_known_pixels():
    shared = edit_session.SHARED
    assert shared.wait(timeout=600) and shared.error is None
    run = shared.image.run
    known = run.extra["known"]
    original = run.extra["original"][:, 0] if run.extra["original"].ndim == 4 else run.extra["original"]
    assert known[:, : known.shape[1] // 2].all() and not known[:, known.shape[1] // 2:].any()
    assert np.array_equal(run.final[:, known], original[:, known])             # RePaint keeps them exactly


def test_denoising_a_visitors_own_noisy_picture(client, tmp_path):
    from ui.widgets.pictures import EXAMPLES_DIR as EXAMPLES
    digit = np.asarray(Image.open(EXAMPLES / "mnist_3.png").convert("L"), dtype=np.float64)
    noisy = np.clip(digit + 60 * np.random.default_rng(0).standard_normal(digit.shape), 0, 255).astype(np.uint8)
    path = tmp_path / "noisy.png"
    Image.fromarray(noisy).save(path)
    _, _, md = client.predict(task="denoise", method="denoise", noise_std=0.5, upload=handle_file(str(path)),
                              api_name="/edit_image")
    assert "on 1 digit(s)" in md and "RMS distance to your noisy picture" in md
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    with pytest.raises(Exception, match="That upload cannot be used"):
        client.predict(task="denoise", method="tweedie", upload=handle_file(str(bad)), api_name="/edit_image")
