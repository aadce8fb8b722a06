"""The Image lab's ddpm and ddim runs equal diffusers' DDPMPipeline / DDIMPipeline on the same checkpoint and seed.

Each checkpoint is a tiny random UNet2DModel saved to a temp folder and loaded by diffusion.hub (the real loading
code); the lab's run goes through diffusion.image_sampling.generate, exactly as the UI calls it. Compared: the
[0, 1] images the pipelines return (output_type="pt"), max |difference| <= 1e-4.

How the pipelines draw noise, which the lab reproduces: x_T = randn_tensor((batch, C, H, W), generator,
dtype=unet.dtype), i.e. one float32 torch.randn call on the CPU from the caller's generator; then the same
generator supplies each stochastic step's noise (DDPM at every t > 0, DDIM only when eta > 0), one
randn(shape of x, float32) per step, after the network call.
"""
import pytest
import torch

from diffusion import hub
from diffusion.labs.image_runs import generate
from tests.tiny_unet import make_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tests/conftest.py

TOL = 1e-4


def lab_images(model, sampler, steps, seed, batch, eta=0.0):
    run = generate(model, sampler, steps, seed=seed, batch=batch, eta=eta, limit_s=1e9)
    return (torch.from_numpy(run.final_float) / 2 + 0.5).clamp(0, 1)   # the pipelines' postprocessing


def pipeline_images(folder, model, pipeline, steps, seed, batch, **kwargs):
    from diffusers import DDIMPipeline, DDPMPipeline, DDPMScheduler

    cls = {"ddpm": DDPMPipeline, "ddim": DDIMPipeline}[pipeline]
    # the same UNet object the lab uses; the scheduler from the checkpoint's scheduler_config.json
    pipe = cls(unet=model.unet, scheduler=DDPMScheduler.from_pretrained(folder))
    pipe.set_progress_bar_config(disable=True)
    return pipe(batch_size=batch, generator=torch.Generator().manual_seed(seed), num_inference_steps=steps,
                output_type="pt", **kwargs).images


@pytest.fixture(scope="module")
def rgb(tmp_path_factory):
    folder = make_checkpoint(tmp_path_factory.mktemp("rgb"), channels=3, size=8, seed=1)
    return folder, hub.load_folder(folder, measure=False)


def test_ddim_50_steps_equals_ddim_pipeline(rgb):
    folder, model = rgb
    ours = lab_images(model, "ddim", 50, seed=3, batch=2)
    ref = pipeline_images(folder, model, "ddim", 50, seed=3, batch=2)
    assert ours.shape == ref.shape == (2, 3, 8, 8)
    assert ref.std() > 0.1                       # a non-trivial picture, not a constant
    assert (ours - ref).abs().max() <= TOL


def test_ddim_eta_1_equals_ddim_pipeline(rgb):
    folder, model = rgb
    ours = lab_images(model, "ddim", 20, seed=5, batch=2, eta=1.0)
    ref = pipeline_images(folder, model, "ddim", 20, seed=5, batch=2, eta=1.0)
    assert (ours - ref).abs().max() <= TOL


def test_ddpm_strided_equals_ddpm_pipeline(rgb):
    folder, model = rgb
    ours = lab_images(model, "ddpm", 50, seed=7, batch=2)
    ref = pipeline_images(folder, model, "ddpm", 50, seed=7, batch=2)
    assert (ours - ref).abs().max() <= TOL
    # a different seed gives a different picture (the comparison is not trivially passing)
    assert (lab_images(model, "ddpm", 50, seed=8, batch=2) - ref).abs().max() > 0.05


def test_ddpm_1000_steps_equals_ddpm_pipeline(tmp_path):
    """The classic DDPMPipeline call: all 1000 steps (with the fastest UNet2DModel, to keep the test short)."""
    folder = make_checkpoint(tmp_path / "fast", channels=1, size=8, attention=False, seed=2)
    model = hub.load_folder(folder, measure=False)
    ours = lab_images(model, "ddpm", 1000, seed=0, batch=2)
    ref = pipeline_images(folder, model, "ddpm", 1000, seed=0, batch=2)
    assert (ours - ref).abs().max() <= TOL


@pytest.mark.parametrize("scheduler", [
    dict(variance_type="fixed_large", clip_sample=False),
    dict(prediction_type="v_prediction", beta_schedule="squaredcos_cap_v2"),
    dict(prediction_type="sample", timestep_spacing="trailing", clip_sample_range=0.8),
], ids=["fixed_large-noclip", "v_prediction-cosine", "sample-trailing-range"])
def test_checkpoint_scheduler_settings_are_followed(tmp_path, scheduler):
    folder = make_checkpoint(tmp_path / "ckpt", channels=1, size=8, seed=4, **scheduler)
    model = hub.load_folder(folder, measure=False)
    for pipeline, steps in (("ddpm", 20), ("ddim", 20)):
        ours = lab_images(model, pipeline, steps, seed=11, batch=2)
        ref = pipeline_images(folder, model, pipeline, steps, seed=11, batch=2)
        assert (ours - ref).abs().max() <= TOL, (pipeline, scheduler)
