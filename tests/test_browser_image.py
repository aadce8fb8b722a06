"""The Image lab in a real browser (Playwright + Chromium), on the whole app (tests/conftest.py's ``page``).

Drives the tab like a visitor: the forward view and its client-side scrubber, a reverse run with progress, picking
an image of the batch, Stop, noise-and-restore. Until the trained MNIST model is bundled, a tiny random checkpoint
stands in for it. Scrub latency is measured by bench/bench_image.py, not asserted here.
"""
from __future__ import annotations

import json

import pytest

from diffusion import hub
from tests.test_browser import scrub_to, set_slider, shown_frame, wait_text
from tests.tiny_unet import make_checkpoint

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def bundled_model(tmp_path_factory):
    """The bundled model, or a tiny stand-in while assets/mnist-ddpm is absent."""
    if (hub.loading.BUNDLED_DIR / "config.json").is_file():
        yield
        return
    mp = pytest.MonkeyPatch()
    mp.setattr(hub.loading, "BUNDLED_DIR", make_checkpoint(tmp_path_factory.mktemp("standin"), channels=1, size=28,
                                                    attention=False))
    hub.clear_cache()
    yield
    mp.undo()
    hub.clear_cache()


def test_image_lab_forward_reverse_pick_stop_restore(page, tmp_path):
    page.get_by_role("tab", name="Image lab").click()
    page.wait_for_selector("#img-fwd-scrub-frames img.dl-on")
    wait_text(page, "img-model", "mnist-ddpm (bundled)")
    size = json.loads((hub.loading.BUNDLED_DIR / "config.json").read_text())["sample_size"]   # 20 (bundled) or 28
    wait_text(page, "img-picture", f"{size}×{size} grey")

    # forward: the slider swaps frames in the page
    first = shown_frame(page, "img-fwd-scrub")
    scrub_to(page, "Noise level (slide right: more noise)", "img-fwd-scrub", 60)
    assert shown_frame(page, "img-fwd-scrub")["srcs"] != first["srcs"]
    page.screenshot(path=str(tmp_path / "image-forward.png"), full_page=True)

    # reverse: a short DDIM run on 4 images, then scrub and pick image 3 from the gallery
    page.get_by_role("tab", name="Reverse").click()
    set_slider(page, "Steps", 20)
    set_slider(page, "Batch size", 4)
    page.get_by_role("button", name="Sample", exact=True).click()
    wait_text(page, "img-status", "ddim, 20 steps")
    frames = shown_frame(page, "img-rev-scrub")
    assert frames["n"] == "21" and frames["index"] == "20"
    scrub_to(page, "Step through the run: right = pure noise (start), left = the final sample", "img-rev-scrub", 0)
    before = shown_frame(page, "img-rev-scrub")["srcs"]
    page.locator("#img-gallery button").nth(2).click()
    page.wait_for_function("(old) => { const img = document.querySelector('#img-rev-scrub-frames img.dl-on');"
                           " return img && img.src !== old; }", arg=before[0])
    page.screenshot(path=str(tmp_path / "image-reverse.png"), full_page=True)

    # Stop: a 400-step DDPM run on 8 images (several seconds) ends early and says so
    page.locator("#img-sampler input").click()
    page.get_by_role("option", name="ddpm", exact=True).click()
    set_slider(page, "Steps", 400)
    set_slider(page, "Batch size", 8)
    page.get_by_role("button", name="Sample", exact=True).click()
    page.wait_for_timeout(1000)
    page.get_by_role("button", name="Stop", exact=True).first.click()
    wait_text(page, "img-status", "stopped")

    # noise and restore
    page.get_by_role("tab", name="Noise & restore").click()
    page.get_by_role("button", name="Noise and restore").click()
    wait_text(page, "img-res-status", "from t₀ = 400")
    page.wait_for_selector("#img-res-scrub-frames img.dl-on")
    page.screenshot(path=str(tmp_path / "image-restore.png"), full_page=True)
