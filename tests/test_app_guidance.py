"""The Guidance lab through its API endpoints (gradio_client), as a visitor's page or script uses it."""
import re

import numpy as np
import pytest
from PIL import Image

from diffusion.labs.guidance import GuidanceData, describe
from ui.guidance import session as guidance_session


def _panels(html):
    return re.findall(r'alt="([^":]+):', html)


def test_the_default_runs_show_five_panels_from_one_x_T(client):
    html, slider, note = client.predict(api_name="/guidance_sample")
    panels = list(dict.fromkeys(_panels(html)))
    assert panels == ["unconditional · w = 0", "conditional · w = 1", "guided · w = 3", "exact model · w = 3",
                      "exact classifier · s = 3"]
    assert "all panels start from the same x_T" in html
    assert html.count('class="dl-frame') == 5 * 21                 # dpmpp_2m, 20 steps: 21 states per panel
    # the figures under the panels are the runs' own, generated from the samples
    for line in ("unconditional · w = 0**: in class", "guided · w = 3**: in class", "exact model · w = 3**",
                 "exact classifier · s = 3**: in class"):
        assert line in note
    numbers = {m.group(1): float(m.group(2)) for m in re.finditer(r"\*\*(.+?)\*\*: in class ([0-9.]+)", note)}
    assert numbers["unconditional · w = 0"] < 0.7 < 0.9 < numbers["guided · w = 3"]


def test_guidance_scale_w_changes_only_the_guided_panels(client):
    _, _, low = client.predict(y=1, w=0.0, n=300, api_name="/guidance_sample")
    _, _, high = client.predict(y=1, w=5.0, n=300, api_name="/guidance_sample")
    first = lambda note, name: re.search(re.escape(name) + r"\*\*: (.*)", note).group(1)  # noqa: E731
    # same x_T, same model: the unconditional and conditional runs are the same whatever w
    assert first(low, "unconditional · w = 0") == first(high, "unconditional · w = 0")
    assert first(low, "conditional · w = 1") == first(high, "conditional · w = 1")
    assert first(low, "guided · w = 0") != first(high, "guided · w = 5")


def test_the_sweep_table_and_its_sentence_agree_with_the_numbers(client):
    plot, md = client.predict(y=0, api_name="/guidance_sweep")
    im = np.asarray(Image.open(plot).convert("RGB")).astype(int)
    assert im.shape[1] >= 3 * 300                                  # three panels against w
    for rgb in ((0x00, 0x72, 0xB2), (0xD5, 0x5E, 0x00), (0x00, 0x9E, 0x73)):      # learned, exact, tilted lines
        assert (np.abs(im - rgb).sum(-1) < 30).sum() > 100, rgb
    rows = [line for line in md.splitlines() if re.match(r"\| \d", line)]
    assert [r.split("|")[1].strip() for r in rows] == ["0", "1", "2", "3", "5", "7"]
    # each cell "learned / exact / tilted", columns in class, diversity, off-centre
    cells = {r.split("|")[1].strip(): [c.strip().split(" / ") for c in r.split("|")[2:-1]] for r in rows}
    (in1, div1, off1), (in7, div7, off7) = cells["1"], cells["7"]
    assert f"diversity falls from {div1[1]} to {div7[1]}" in md or f"diversity rises from {div1[1]} to {div7[1]}" in md
    assert f"in-class probability goes from {in1[1]} to {in7[1]}" in md
    # the exact guided samples are pushed out of their components at w = 7; the tilted density's are not
    assert float(off7[1]) > 1.3 > float(off7[2]) and "not what the guided sampler produces" in md


def test_training_a_conditional_model_on_a_word_and_guiding_it(client):
    picture, legend = client.predict(source="word", word="AB", api_name="/guidance_data")
    assert "0: A" in legend and "1: B" in legend
    klass, status = client.predict(steps=300, api_name="/guidance_train")
    assert "**Done**" in status and "on word “AB”, 300 steps" in status
    html, _, note = client.predict(y=1, w=4.0, n=400, api_name="/guidance_sample")
    assert "exact model" not in html and "exact classifier" not in html   # a word is no mixture: no exact panels
    assert "guided · w = 4**: in class" in note


@pytest.mark.parametrize("kwargs, message", [
    (dict(y=9), r"class \(0–1: \+ \(0°, 90°, 180°, 270°\), × \(45°, 135°, 225°, 315°\)\) must be in \[0, 1\]"),
    (dict(w=11), r"Value 11 is greater than maximum value 10"),        # Gradio's slider check comes first
    (dict(y=-1), r"class \(0–1: .*\) must be in \[0, 1\]; got -1"),
    (dict(w=-0.5), r"Value -0.5 is less than minimum value 0"),
    (dict(n=10**6), r"Value 1000000 is greater than maximum value 2000"),
], ids=["class-9", "class-minus-1", "w-11", "w-negative", "points-huge"])
def test_bad_guidance_input_is_refused_and_the_previous_runs_stay(client, kwargs, message):
    client.predict(api_name="/guidance_sample")
    with pytest.raises(Exception, match=message):
        client.predict(**kwargs, api_name="/guidance_sample")
    html, _, _ = client.predict(api_name="/guidance_sample")       # the server keeps serving the visitor
    assert "all panels start from the same x_T" in html


def test_bad_data_and_training_settings_are_refused(client):
    with pytest.raises(Exception, match=r"Value: spiral is not in the list of choices: \['gaussians8'"):
        client.predict(source="spiral", api_name="/guidance_data")
    with pytest.raises(Exception, match="The word is empty"):
        client.predict(source="word", word="   ", api_name="/guidance_data")
    with pytest.raises(Exception, match=r"Value 100000 is greater than maximum value 5000"):
        client.predict(steps=100000, api_name="/guidance_train")
    with pytest.raises(Exception, match=r"Value: sample is not in the list of choices: \['v_prediction'"):
        client.predict(objective="sample", api_name="/guidance_train")


def test_the_shared_default_is_the_exact_answer_where_it_should_be():
    shared = guidance_session.SHARED
    assert shared.wait(timeout=600) and shared.error is None
    data = shared.model_data if hasattr(shared, "model_data") else shared.data
    assert isinstance(data, GuidanceData) and data.mixture is not None
    exact = shared.runs.runs["exact guided"]
    d = describe(exact.x0, data, 0)
    assert d["in_class"] > 0.99                        # the exact model at w = 3 lands in class 0 only


def test_guided_digits_and_the_digits_by_guidance_grid(client):
    html, _, md = client.predict(digit=7, w=3.0, batch=2, api_name="/guidance_digits")
    assert "**2 samples of digit 7 at w = 3**" in md and "no x̂₀ clipping" in md
    assert 'class="dl-scrub dl-wide"' in html and html.count('class="dl-frame') == 51      # DDIM 50: 51 states
    picture, md = client.predict(seed=1, api_name="/guidance_grid")
    from PIL import Image
    im = Image.open(picture)
    assert im.size[1] > 10 * 100                              # ten rows of digits under the w header
    assert "Each row starts from **one x_T**" in md
    with pytest.raises(Exception, match=r"Value 12 is greater than maximum value 9"):
        client.predict(digit=12, api_name="/guidance_digits")


def test_the_page_opens_with_the_digits_by_guidance_grid():
    shared = guidance_session.SHARED
    assert shared.wait(timeout=600) and shared.error is None
    picture, md = shared.grid
    assert picture is not None and picture.size[1] > 10 * 100 and "one x_T" in md


def test_a_drawing_in_two_colours_is_two_classes_that_keep_their_colours(client, tmp_path):
    from diffusion.toy.labels import DRAWING_COLOURS
    from tests.api_helpers import drawing_value
    im = np.full((320, 320, 4), 255, np.uint8)
    im[60:260, 40:100, :3] = DRAWING_COLOURS["sky blue"]
    im[60:260, 200:290, :3] = DRAWING_COLOURS["vermillion"]
    Image.fromarray(im).save(tmp_path / "two.png")
    picture, legend = client.predict(source="drawing", drawing=drawing_value(tmp_path / "two.png"),
                                     api_name="/guidance_data")
    assert "0: vermillion" in legend and "1: sky blue" in legend and "2:" not in legend   # palette order
    assert "rgb(86, 180, 233)" in legend and "rgb(213, 94, 0)" in legend          # each class in its pen colour
    shown = np.asarray(Image.open(picture).convert("RGB")).astype(int)
    for rgb in (DRAWING_COLOURS["sky blue"], DRAWING_COLOURS["vermillion"]):
        faded = 0.6 * np.array(rgb) + 0.4 * 255              # the points are drawn at alpha 0.6 on white
        near = (np.abs(shown - rgb).sum(-1) < 40) | (np.abs(shown - faded).sum(-1) < 40)
        assert near.sum() > 200, rgb
    klass, status = client.predict(steps=200, api_name="/guidance_train")
    assert "**Done**" in status and "on your drawing, 200 steps" in status
    _, _, note = client.predict(y=1, w=3.0, n=300, api_name="/guidance_sample")
    assert "guided · w = 3**: in class" in note and "exact model" not in note


def test_a_drawing_in_one_colour_or_none_is_refused_and_the_data_kept(client, tmp_path):
    from tests.api_helpers import drawing_value
    im = np.full((320, 320, 4), 255, np.uint8)
    im[60:260, 40:100, :3] = 0
    Image.fromarray(im).save(tmp_path / "one.png")
    with pytest.raises(Exception, match="needs two or more classes: draw with two or more colours"):
        client.predict(source="drawing", drawing=drawing_value(tmp_path / "one.png"), api_name="/guidance_data")
    with pytest.raises(Exception, match="The drawing is empty: draw two or more shapes"):
        client.predict(source="drawing", drawing=None, api_name="/guidance_data")
    _, _, note = client.predict(y=0, w=1.0, n=200, api_name="/guidance_sample")     # the session still works
    assert "conditional · w = 1" in note
