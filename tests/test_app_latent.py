"""The Image lab's "Pixel vs latent" tab through its API endpoints (gradio_client), as a visitor's page uses it."""
import re

import pytest

from api_helpers import assert_endpoints_have_defaults
from diffusion import hub

COST = re.compile(r"(pixel|latent): (\d+) network calls x ([0-9.]+) ms = ([0-9.]+) s"
                  r"(?:, \+ decoding (\d+) ms = ([0-9.]+) s)?")


def costs(md):
    out = {}
    for space, calls, ms, s, dec_ms, total in COST.findall(md):
        out[space] = dict(calls=int(calls), ms=float(ms), total=float(total or s))
    return out


def test_endpoints_have_defaults(client):
    assert_endpoints_have_defaults(client, ["/image_latent", "/image_latent_forward", "/image_latent_stop"])


def test_the_default_run_shows_latent_and_pixel_runs_side_by_side_with_their_measured_costs(client):
    html, slider, md = client.predict(api_name="/image_latent")
    assert html.count('class="dl-frame') == 51                        # DDIM 50: x_T, 49 states, the samples
    c = costs(md)
    assert set(c) == {"pixel", "latent"} and c["pixel"]["calls"] == c["latent"]["calls"] == 50
    ratio = c["pixel"]["total"] / c["latent"]["total"]
    # the sentence's verdict and factors are the figures above it (rounded as shown)
    m = re.search(r"the latent run took \*\*([0-9.]+) ×\*\* (less time|longer)", md)
    if m is None:
        assert "about the same time" in md and 0.9 < ratio < 1.1
    else:
        shown = float(m.group(1))
        assert shown == pytest.approx(ratio if m.group(2) == "less time" else 1 / ratio, rel=0.05, abs=0.02)
    per_call = float(re.search(r"one latent network call costs ([0-9.]+) × less", md).group(1))
    assert per_call == pytest.approx(c["pixel"]["ms"] / c["latent"]["ms"], rel=0.05, abs=0.02)


@pytest.mark.parametrize("space, present, absent", [("latent", "latent", "pixel"), ("pixel", "pixel", "latent")])
def test_one_space_alone(client, space, present, absent):
    html, _, md = client.predict(space=space, steps=10, batch=2, api_name="/image_latent")
    assert set(costs(md)) == {present}
    assert html.count('class="dl-frame') == 11
    assert ("one latent network call costs" in md) is False          # no comparison without both runs


def test_forward_noising_says_what_it_measured(client):
    html, _, md = client.predict(seed=3, api_name="/image_latent_forward")
    assert html.count('class="dl-frame') == 100
    rows = [r for r in md.splitlines() if re.match(r"\| \d+ \|", r)]
    assert [int(r.split("|")[1]) for r in rows] == [101, 252, 505, 747, 999]
    last = [c.strip() for c in rows[-1].strip("|").split("|")]
    pixel_hf, latent_hf = float(last[3].rstrip(" %")) / 100, float(last[5].rstrip(" %")) / 100

    def reads(share):
        return "static" if share >= 0.6 else "smooth shapes" if share <= 0.35 else "a mix of shapes and speckle"
    assert f"noise in pixel space reads as **{reads(pixel_hf)}** ({last[3]} fine detail)" in md
    assert f"decodes to **{reads(latent_hf)}** ({last[5]})" in md
    assert 0.75 <= pixel_hf <= 0.85                                      # white static, as measured


@pytest.mark.parametrize("kwargs, message", [
    (dict(space="mars"), r"Value: 'mars' .* is not in the list of choices: \['both', 'latent', 'pixel'\]"),
    (dict(steps=0), r"Value 0 is less than minimum value 1"),
    (dict(batch=17), r"Value 17 is greater than maximum value 16"),
    (dict(sampler="fast"), r"Value: fast is not in the list of choices: \['ddpm', 'ddim'"),
], ids=["space", "steps", "batch", "sampler"])
def test_bad_input_is_refused_and_the_tab_keeps_serving(client, kwargs, message):
    with pytest.raises(Exception, match=message):
        client.predict(**kwargs, api_name="/image_latent")
    _, _, md = client.predict(space="latent", steps=5, batch=1, api_name="/image_latent")
    assert "latent: 5 network calls" in md


def test_a_run_over_the_time_limit_is_refused_with_the_estimate(client):
    with pytest.raises(Exception, match=r"the two runs would take about \d+ s together .* over the lab's 120 s limit"):
        client.predict(sampler="heun", steps=1000, batch=16, api_name="/image_latent")


def test_the_image_labs_own_loader_sends_a_latent_model_to_its_tab(client):
    info, name, *_ = client.predict("mnist-ldm", api_name="/image_load_model")
    assert "is a latent diffusion model" in info and "\"Pixel vs latent\" tab runs it" in info
    assert "staying on mnist-ddpm (bundled)" in info and name == hub.BUNDLED_ID


def test_a_stop_pressed_before_a_run_does_not_cut_the_next_run_short(client):
    client.predict(api_name="/image_latent_stop")
    html, _, md = client.predict(space="latent", steps=5, batch=1, api_name="/image_latent")
    assert html.count('class="dl-frame') == 6 and "stopped" not in html
