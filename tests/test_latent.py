"""Latent diffusion: the autoencoder at the edge (diffusion/latent.py), latent pipelines through the hub's real
loading code (tiny random models saved here), the latent view's runs and measures (diffusion/labs/latent_runs.py,
diffusion/image_metrics.py), and the bundled latent model's configs."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from diffusion import hub, sample
from diffusion.image_metrics import HIGH_FREQUENCY, high_frequency_share, rms
from diffusion.images import channels_mosaic
from diffusion.labs import latent_runs as LR
from diffusion.labs.image_runs import initial_noise
from diffusion.latent import LatentCodec
from tiny_unet import FakeHub, edit_json, make_checkpoint, make_latent_pipeline

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tests/conftest.py


@pytest.fixture(autouse=True)
def fresh_cache():
    hub.clear_cache()
    yield
    hub.clear_cache()


@pytest.fixture(scope="module")
def ldm_folder(tmp_path_factory):
    return make_latent_pipeline(tmp_path_factory.mktemp("ldm"))


@pytest.fixture(scope="module")
def ldm(ldm_folder):
    return hub.load_folder(ldm_folder, model_id="tiny-ldm", measure=False)


def digits(n=2, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, size, size, generator=g) * 2 - 1


# --- the codec ----------------------------------------------------------------------------------------------------
def test_a_latent_pipeline_loads_with_its_autoencoder_and_shapes(ldm):
    assert ldm.latent and isinstance(ldm.codec, LatentCodec)
    assert ldm.shape == (2, 4, 4) and ldm.image_shape == (1, 8, 8)
    assert ldm.codec.scaling_factor == pytest.approx(0.7)
    assert "through a 4x4x2 latent" in ldm.describe() and "scaling factor 0.7" in ldm.describe()


def test_encode_is_the_scaled_posterior_mean_and_decode_undoes_the_scale(ldm):
    vae, x = ldm.codec.vae, digits()
    with torch.no_grad():
        z = ldm.codec.encode(x)
        assert torch.equal(z, 0.7 * vae.encode(x).latent_dist.mean)
        assert torch.allclose(ldm.codec.decode(z), vae.decode(z / 0.7).sample, atol=1e-6)
        g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
        drawn = ldm.codec.encode(x, generator=g1)
        dist = vae.encode(x).latent_dist
        assert torch.allclose(drawn, 0.7 * (dist.mean + dist.std * torch.randn(dist.mean.shape, generator=g2)))
        assert not torch.equal(drawn, z)


def test_the_codec_refuses_wrong_shapes_and_scales(ldm):
    with pytest.raises(ValueError, match=r"images must be \[batch, 1, 8, 8\], got \(2, 1, 9, 9\)"):
        ldm.codec.encode(torch.zeros(2, 1, 9, 9))
    with pytest.raises(ValueError, match=r"latents must be \[batch, 2, 4, 4\], got \(1, 4, 4\)"):
        ldm.codec.decode(torch.zeros(1, 4, 4))
    vae = ldm.codec.vae
    old = vae.config.scaling_factor
    try:
        vae.register_to_config(scaling_factor=0.0)
        with pytest.raises(ValueError, match="scaling_factor must be a positive number, got 0.0"):
            LatentCodec(vae)
    finally:
        vae.register_to_config(scaling_factor=old)


# --- the hub's checks ------------------------------------------------------------------------------------------------
def copy_pipeline(src, dst):
    import shutil
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("change, words", [
    (("vae", "_class_name", "VQModel"), "its vae/ is a VQModel, not an AutoencoderKL"),
    (("vae", "latent_channels", 3), "makes 3-channel latents but its UNet takes 2 channels"),
    (("vae", "scaling_factor", -1.0), "scaling_factor -1.0 must be a positive number"),
    (("vae", "sample_size", 12), "12 x 12 images down-sampled 2 x do not give the UNet's 4 latents"),
    (("vae", "in_channels", 4), "maps 4 channels to 1"),
    (("unet", "in_channels", 40), "takes 40 latent channels; the lab runs 1 to 16"),
])
def test_a_wrong_latent_pipeline_is_refused_naming_the_reason(ldm_folder, tmp_path, change, words):
    folder = copy_pipeline(ldm_folder, tmp_path / "p")
    sub, key, value = change
    edit_json(folder / sub / "config.json", **{key: value})
    with pytest.raises(hub.HubError, match=words):
        hub.load_folder(folder, measure=False)


def test_an_autoencoder_with_pickle_weights_only_is_refused(ldm_folder, tmp_path):
    folder = copy_pipeline(ldm_folder, tmp_path / "p")
    (folder / "vae" / "diffusion_pytorch_model.safetensors").rename(folder / "vae" / "diffusion_pytorch_model.bin")
    with pytest.raises(hub.HubError, match=r"\(vae/\) has only pickle weights \(diffusion_pytorch_model.bin\)"):
        hub.load_folder(folder, measure=False)


def test_a_pixel_model_still_refuses_latent_shapes(tmp_path):
    folder = make_checkpoint(tmp_path / "four", channels=4, size=8)
    with pytest.raises(hub.HubError, match="takes 4-channel inputs; the lab shows grey"):
        hub.load_folder(folder, measure=False)


def test_a_latent_pipeline_loads_from_the_hub_with_its_autoencoder(monkeypatch, tmp_path, ldm_folder):
    fake = FakeHub(monkeypatch, tmp_path)
    fake.add("someone/tiny-ldm", ldm_folder)
    m = hub.load_model("someone/tiny-ldm", measure=False)
    assert m.latent and m.image_shape == (1, 8, 8)
    assert "vae/diffusion_pytorch_model.safetensors" in fake.downloads
    assert fake.downloads.index("vae/config.json") < fake.downloads.index("vae/diffusion_pytorch_model.safetensors")
    vae_bytes = (ldm_folder / "vae" / "diffusion_pytorch_model.safetensors").stat().st_size
    unet_bytes = (ldm_folder / "unet" / "diffusion_pytorch_model.safetensors").stat().st_size
    assert m.download_bytes == vae_bytes + unet_bytes


def test_the_hub_size_limit_counts_the_autoencoder_too(monkeypatch, tmp_path, ldm_folder):
    fake = FakeHub(monkeypatch, tmp_path)
    fake.add("someone/big-vae", ldm_folder)
    fake.size_override["vae/diffusion_pytorch_model.safetensors"] = hub.MAX_DOWNLOAD_BYTES
    with pytest.raises(hub.HubError, match="is too large"):
        hub.load_model("someone/big-vae", measure=False)
    assert not any(d.endswith(".safetensors") for d in fake.downloads)


# --- the latent view's runs ----------------------------------------------------------------------------------------
def test_the_latent_run_is_the_core_sampler_on_latents_then_one_decode(ldm):
    run = LR.latent_generate(ldm, "ddim", 10, seed=4, batch=3)
    z_T, g = initial_noise(ldm, 3, 4)
    assert z_T.shape == (3, 2, 4, 4)
    with torch.no_grad():
        z0 = sample(ldm, ldm.schedule, z_T, "ddim", 10, g, record=False, **ldm.sampler_options("ddim")).x0
        x = ldm.codec.decode(z0)
    assert np.array_equal(run.extra["latents"], z0.numpy())
    assert np.array_equal(run.final_float, x.numpy())                # the sampler knew nothing of the autoencoder
    assert run.x_t.shape == (11, 3, 8, 8) and run.extra["latent"].shape == (11, 3, 4, 9)
    cost = run.extra["cost"]
    assert cost.calls == 10 == run.nfe and cost.total_s == pytest.approx(cost.sampling_s + cost.decode_s)
    assert run.labels[0].startswith("end (10/10 steps)") and "t = " in run.labels[-1]


def test_both_runs_share_seed_settings_and_frames(ldm, tmp_path):
    pixel = hub.load_folder(make_checkpoint(tmp_path / "pix", channels=1, size=8, attention=False), measure=False)
    both = LR.pixel_and_latent(pixel, ldm, "ddim", 8, seed=1, batch=2)
    assert both.pixel.num_frames == both.latent.num_frames == 9
    assert both.pixel.settings["seed"] == both.latent.settings["seed"] == 1
    p, lat = both.costs
    assert p.calls == lat.calls == 8 and both.speed_up == pytest.approx(p.total_s / lat.total_s)
    assert "network calls x" in p.line() and "+ decoding" in lat.line() and "decoding" not in p.line()
    with pytest.raises(ValueError, match="is a pixel-space model .no autoencoder.; the latent view needs"):
        LR.pixel_and_latent(pixel, pixel, "ddim", 8)
    with pytest.raises(ValueError, match="is a latent model; the pixel side needs a pixel-space model"):
        LR.pixel_and_latent(ldm, ldm, "ddim", 8)
    with pytest.raises(ValueError, match="unknown sampler 'fast'"):
        LR.latent_generate(ldm, "fast", 8)


def test_forward_noising_in_both_spaces_starts_clean_and_ends_in_noise(ldm):
    x0 = digits(3)
    f = LR.latent_forward(ldm, x0, seed=2, num_frames=20)
    assert f["t"][0] == 0 and f["t"][-1] == 999 and f["pixel"].shape == (20, 3, 8, 8)
    assert f["latent"].shape == (20, 3, 4, 9) and f["decoded"].shape == (20, 3, 8, 8)
    with torch.no_grad():
        recon = ldm.codec.decode(ldm.codec.encode(x0))
    assert f["recon_rms"] == pytest.approx(rms(recon, x0))
    assert f["pixel_rms"][0] < 0.02                                   # t = 0: the picture itself, to 1e-2
    assert f["latent_rms"][0] == pytest.approx(f["recon_rms"], abs=0.02)  # ... and its reconstruction
    assert 0.7 < f["pixel_hf"][-1] < 0.9                              # t = T - 1: white static in pixel space
    with pytest.raises(ValueError, match=r"x0 must be \[1..16, 1, 8, 8\] pictures, got \(1, 1, 20, 20\)"):
        LR.latent_forward(ldm, torch.zeros(1, 1, 20, 20))


# --- the measures ------------------------------------------------------------------------------------------------
def test_white_noise_puts_its_share_outside_the_quarter_disc_and_a_blob_inside():
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(200, 1, 64, 64, generator=g)
    assert high_frequency_share(noise) == pytest.approx(1 - math.pi * HIGH_FREQUENCY ** 2, abs=0.01)
    yy, xx = torch.meshgrid(torch.arange(20.0), torch.arange(20.0), indexing="ij")
    blob = torch.exp(-((xx - 9.5) ** 2 + (yy - 9.5) ** 2) / 18)[None, None]
    assert high_frequency_share(blob) < 0.01
    checker = ((xx + yy) % 2)[None, None]                              # all at Nyquist
    assert high_frequency_share(checker) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="these pictures are constant"):
        high_frequency_share(torch.ones(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"at least 2 x 2, got shape \(5,\)"):
        high_frequency_share(torch.ones(5))


def test_the_channel_mosaic_puts_each_channel_in_its_tile():
    z = torch.zeros(1, 4, 2, 3)
    z[0, 0], z[0, 1], z[0, 2], z[0, 3] = -3.0, 3.0, 0.0, 1.5
    m = channels_mosaic(z, 3.0)
    assert m.shape == (1, 5, 7)
    assert (m[0, :2, :3] == 0).all() and (m[0, :2, 4:] == 255).all()
    assert (m[0, 3:, :3] == 128).all() and (m[0, 3:, 4:] == 191).all()
    assert (m[0, 2, :] == 255).all() and (m[0, :, 3] == 255).all()    # the gaps
    with pytest.raises(ValueError, match=r"expected latents \[B, c, h, w\]"):
        channels_mosaic(torch.zeros(4, 2, 3))


# --- the bundled model -----------------------------------------------------------------------------------------------
def test_the_bundled_latent_model_is_one_diffusers_folder_under_20_mb():
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DModel

    folder = hub.BUNDLED_LDM_DIR
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert total <= 20 * 2**20
    vae = AutoencoderKL.from_pretrained(folder, subfolder="vae")
    unet = UNet2DModel.from_pretrained(folder, subfolder="unet")
    sched = DDPMScheduler.from_pretrained(folder, subfolder="scheduler")
    assert unet.config.in_channels == vae.config.latent_channels == 4 and unet.config.sample_size == 5
    assert vae.config.sample_size == 20 and sched.config.prediction_type == "epsilon"
    assert sched.config.beta_schedule == "linear" and sched.config.num_train_timesteps == 1000
    pixel = json.loads((hub.BUNDLED_DIR / "scheduler_config.json").read_text())
    assert (sched.config.beta_start, sched.config.beta_end) == (pixel["beta_start"], pixel["beta_end"])
    m = hub.load_model(hub.BUNDLED_LDM_ID, measure=False)
    assert m.latent and m.shape == (4, 5, 5) and m.image_shape == (1, 20, 20)


def test_the_latent_texts_quote_the_bundled_configs():
    from ui.image.text import LATENT_MD

    m = hub.load_model(hub.BUNDLED_LDM_ID, measure=False)
    assert "5 × 5 ×\n4 latent (100 numbers)" in LATENT_MD and "(400 numbers)" in LATENT_MD
    assert f"s = {m.codec.scaling_factor:.4g}" in LATENT_MD and "4 × fewer numbers" in LATENT_MD


def _column_centres(image) -> list[float]:
    """x centres of the runs of dark columns in a strip (each picture is black here)."""
    dark = (np.asarray(image.convert("L"))[:, 150:] < 128).any(0)      # right of the titles' column
    edges = np.flatnonzero(np.diff(np.r_[0, dark.astype(int), 0]))
    return [150 + (a + b - 1) / 2 for a, b in zip(edges[::2], edges[1::2])]


def test_latent_mosaics_line_up_under_their_digits():
    # an 11 x 11 mosaic is enlarged to 99 px, a 20 x 20 digit to 100: the columns must still line up, 16 across
    from ui.widgets.tiles import strip
    assert channels_mosaic(torch.zeros(16, 4, 5, 5)).shape == (16, 11, 11)
    mosaics, digits = np.zeros((16, 11, 11), np.uint8), np.zeros((16, 20, 20), np.uint8)    # all dark: one run each
    a, b = _column_centres(strip(list(mosaics), "z_t")), _column_centres(strip(list(digits), "x_t"))
    assert len(a) == len(b) == 16
    assert max(abs(p - q) for p, q in zip(a, b)) <= 1.0
