"""diffusion.hub: loading checkpoints safely, and a clear refusal for every bad case.

Hub-side cases fake huggingface_hub's answers (model_info, hf_hub_download) and serve real tiny checkpoints built in
temp folders, so the real loading code runs; the network is never reached.
"""
import shutil
import time
from pathlib import Path

import httpx2
import pytest
import torch
from huggingface_hub import errors as hf_errors

from diffusion import hub
from diffusion.schedules import Schedule
from tests.tiny_unet import FakeHub, edit_json, make_checkpoint, response as _response

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tests/conftest.py


@pytest.fixture(autouse=True)
def fresh_cache():
    hub.clear_cache()
    yield
    hub.clear_cache()


@pytest.fixture(scope="module")
def grey_ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("grey"), channels=1, size=8)


def copy_ckpt(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# --- local folders ----------------------------------------------------------------------------------------------
def test_loads_a_flat_folder_with_its_scheduler_settings(grey_ckpt):
    m = hub.load_folder(grey_ckpt, model_id="tiny")
    assert m.id == "tiny" and m.shape == (1, 8, 8) and m.in_channels == 1
    assert (m.prediction_type, m.variance_type, m.clip_sample, m.clip_sample_range) == ("epsilon", "fixed_small",
                                                                                         True, 1.0)
    assert m.timestep_spacing == "leading" and m.scheduler_class == "DDPMScheduler"
    assert not m.unet.training and not any(p.requires_grad for p in m.unet.parameters())
    a, b = m.call_cost_s
    assert a >= 0 and b > 0 and m.estimate_seconds(16, 10) > m.estimate_seconds(1, 10)
    x = torch.randn(3, 1, 8, 8)
    out = m(x, torch.tensor([999.0, 500.0, 0.0]))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(m(x.double(), torch.tensor(7.0)).float(), m(x, torch.full((3,), 7.0)))  # scalar t, dtype kept


def test_schedule_equals_diffusers(grey_ckpt, tmp_path):
    from diffusers import DDPMScheduler

    for beta_schedule in ("linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid"):
        folder = copy_ckpt(grey_ckpt, tmp_path / beta_schedule)
        edit_json(folder / "scheduler_config.json", beta_schedule=beta_schedule, beta_start=0.0002, beta_end=0.03)
        m = hub.load_folder(folder, measure=False)
        ref = DDPMScheduler.from_pretrained(folder)
        assert isinstance(m.schedule, Schedule) and m.schedule.num_timesteps == 1000
        torch.testing.assert_close(m.schedule.alphas_cumprod.float(), ref.alphas_cumprod, rtol=1e-5, atol=1e-7)


def test_trained_betas_and_zero_snr_and_v_prediction(grey_ckpt, tmp_path):
    folder = copy_ckpt(grey_ckpt, tmp_path / "trained")
    betas = torch.linspace(1e-3, 0.05, 50).tolist()
    edit_json(folder / "scheduler_config.json", trained_betas=betas, num_train_timesteps=50,
              prediction_type="v_prediction", rescale_betas_zero_snr=True)
    m = hub.load_folder(folder, measure=False)
    assert m.schedule.num_timesteps == 50 and m.prediction_type == "v_prediction"
    assert m.schedule.zero_terminal_snr
    edit_json(folder / "scheduler_config.json", prediction_type="epsilon")
    with pytest.raises(hub.HubError, match="zero-terminal-SNR.*epsilon"):
        hub.load_folder(folder, measure=False)


def test_pipeline_layout_loads(tmp_path):
    folder = make_checkpoint(tmp_path / "pipe", channels=3, size=8, layout="pipeline")
    m = hub.load_folder(folder, measure=False)
    assert m.shape == (3, 8, 8)


@pytest.mark.parametrize("change, words", [
    (dict(config={"_class_name": "UNet2DConditionModel"}), "is a UNet2DConditionModel, not a UNet2DModel"),
    (dict(config={"num_class_embeds": 1}), "num_class_embeds 1 must be a whole number in"),
    (dict(config={"class_embed_type": "timestep"}), "conditions on a 'timestep' class embedding"),
    (dict(config={"time_embedding_type": "fourier"}), "'fourier' time embedding"),
    (dict(config={"in_channels": 4, "out_channels": 4}), "4-channel inputs"),
    (dict(config={"out_channels": 2}), "learned variance .out_channels 2 = 2 x 1"),
    (dict(scheduler={"variance_type": "learned_range"}), "'learned_range', which .* support fixed_small, fixed_large"),
    (dict(scheduler={"_class_name": "ScoreSdeVeScheduler"}), "ScoreSdeVeScheduler, not a DDPM-style"),
    (dict(scheduler={"beta_schedule": "exponential"}), "beta_schedule 'exponential'"),
    (dict(scheduler={"prediction_type": "flow"}), "predicts 'flow'"),
    (dict(scheduler={"thresholding": True}), "dynamic thresholding"),
    (dict(scheduler={"num_train_timesteps": 1}), "num_train_timesteps 1"),
    (dict(scheduler={"trained_betas": [0.1, 2.0]}), "does not give a valid schedule"),
], ids=lambda v: "-".join(map(str, v)) if isinstance(v, dict) else None)
def test_wrong_checkpoints_are_refused_naming_the_reason(grey_ckpt, tmp_path, change, words):
    folder = copy_ckpt(grey_ckpt, tmp_path / "bad")
    if "config" in change:
        edit_json(folder / "config.json", **change["config"])
    if "scheduler" in change:
        edit_json(folder / "scheduler_config.json", **change["scheduler"])
    with pytest.raises(hub.HubError, match=words):
        hub.load_folder(folder, model_id="someone/model", measure=False)


def test_pickle_only_folder_is_refused_without_unpickling(grey_ckpt, tmp_path):
    folder = copy_ckpt(grey_ckpt, tmp_path / "pickled")
    (folder / "diffusion_pytorch_model.safetensors").unlink()
    # a pickle that would run code if anything unpickled it
    (folder / "diffusion_pytorch_model.bin").write_bytes(
        b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x8c\x06system\x93\x8c\x05touch\x85R.")
    with pytest.raises(hub.HubError, match="only pickle weights .*safetensors only"):
        hub.load_folder(folder, model_id="x/y", measure=False)


def test_mismatched_weights_are_refused(grey_ckpt, tmp_path):
    folder = copy_ckpt(grey_ckpt, tmp_path / "mismatch")
    edit_json(folder / "config.json", block_out_channels=[16, 32])
    with pytest.raises(hub.HubError, match="weights do not load"):
        hub.load_folder(folder, measure=False)


# --- names ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../etc/passwd", "/tmp/model", "owner", "a/b/c", "owner/na me", "own..er/x",
                                  "owner/name.git", "x" * 100 + "/y", "C:\\models\\m", "~/model", "owner/-",
                                  "owner/name.", "owner/name-", "owner./name"])
def test_names_that_are_not_hub_ids_are_refused(name):
    with pytest.raises(hub.HubError, match="not a Hub model id"):
        hub.resolve_name(name)


def test_bundled_aliases_and_urls():
    for alias in (None, "", "bundled", "  mnist-ddpm (bundled)  ", "mnist-ddpm"):
        assert hub.resolve_name(alias) == hub.BUNDLED_ID
    assert hub.resolve_name("https://huggingface.co/google/ddpm-cifar10-32") == "google/ddpm-cifar10-32"
    with pytest.raises(hub.HubError, match="must be text"):
        hub.resolve_name(42)


def test_missing_bundled_model_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(hub.loading, "BUNDLED_DIR", tmp_path / "absent")
    with pytest.raises(hub.HubError, match="bundled model is missing"):
        hub.load_model()


def test_bundled_model_is_cached_and_shared(monkeypatch, grey_ckpt):
    monkeypatch.setattr(hub.loading, "BUNDLED_DIR", grey_ckpt)
    m1, m2 = hub.load_model(), hub.load_model("bundled")
    assert m1 is m2 and hub.peek(hub.BUNDLED_ID) is m1 and hub.peek("nobody/else") is None


# --- the Hub, faked -------------------------------------------------------------------------------------------------
@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    return FakeHub(monkeypatch, tmp_path)


def test_hub_model_loads_checking_configs_before_weights(fake_hub, tmp_path):
    fake_hub.add("someone/rgb-ddpm", make_checkpoint(tmp_path / "rgb", channels=3, size=8))
    m = hub.load_model("someone/rgb-ddpm")
    assert m.id == "someone/rgb-ddpm" and m.shape == (3, 8, 8)
    assert fake_hub.downloads == ["config.json", "scheduler_config.json", "diffusion_pytorch_model.safetensors"]
    assert hub.load_model("someone/rgb-ddpm") is m and fake_hub.info_calls == 1   # cached, shared


def test_hub_pipeline_layout(fake_hub, tmp_path):
    fake_hub.add("someone/pipe", make_checkpoint(tmp_path / "pipe", channels=1, size=8, layout="pipeline"))
    assert hub.load_model("someone/pipe").shape == (1, 8, 8)
    assert "unet/diffusion_pytorch_model.safetensors" in fake_hub.downloads


def test_cache_keeps_a_couple_of_models(fake_hub, tmp_path, monkeypatch, grey_ckpt):
    monkeypatch.setattr(hub.loading, "CACHE_SIZE", 2)
    for name in ("a/one", "a/two", "a/three"):
        fake_hub.add(name, grey_ckpt)
        hub.load_model(name, measure=False)
    assert hub.peek("a/one") is None and hub.peek("a/two") is not None and hub.peek("a/three") is not None


def test_unknown_repo(fake_hub):
    with pytest.raises(hub.HubError, match="nobody/nothing was not found on the Hub"):
        hub.load_model("nobody/nothing")


def test_private_repo(fake_hub):
    fake_hub.error = hf_errors.HfHubHTTPError("401 Unauthorized", response=_response(401))
    with pytest.raises(hub.HubError, match="someone/secret is private or gated"):
        hub.load_model("someone/secret")


def test_gated_repo(fake_hub, grey_ckpt):
    fake_hub.add("someone/gated", grey_ckpt)
    fake_hub.gated = "manual"
    with pytest.raises(hub.HubError, match="someone/gated is gated"):
        hub.load_model("someone/gated")
    assert fake_hub.downloads == []
    fake_hub.gated, fake_hub.error = False, hf_errors.GatedRepoError("gated", response=_response(403))
    with pytest.raises(hub.HubError, match="is gated"):
        hub.load_model("someone/gated")


def test_too_large_is_refused_before_downloading(fake_hub, grey_ckpt):
    fake_hub.add("someone/huge", grey_ckpt)
    fake_hub.size_override["diffusion_pytorch_model.safetensors"] = 455 * 2**20
    with pytest.raises(hub.HubError, match=r"someone/huge is too large: 455 MB .* 400 MB limit"):
        hub.load_model("someone/huge")
    assert fake_hub.downloads == []


def test_unknown_size_is_refused(fake_hub, grey_ckpt):
    fake_hub.add("someone/nosize", grey_ckpt)
    fake_hub.size_override["diffusion_pytorch_model.safetensors"] = None
    with pytest.raises(hub.HubError, match="did not report the weights' size"):
        hub.load_model("someone/nosize")


def test_bin_only_repo_is_refused_without_downloading(fake_hub, grey_ckpt, tmp_path):
    folder = copy_ckpt(grey_ckpt, tmp_path / "bin")
    (folder / "diffusion_pytorch_model.safetensors").rename(folder / "diffusion_pytorch_model.bin")
    fake_hub.add("old/bin-only", folder)
    with pytest.raises(hub.HubError, match=r"old/bin-only has only pickle weights \(diffusion_pytorch_model.bin\)"):
        hub.load_model("old/bin-only")
    assert fake_hub.downloads == []


def test_wrong_model_type_is_refused_before_the_weights(fake_hub, grey_ckpt, tmp_path):
    folder = copy_ckpt(grey_ckpt, tmp_path / "cond")
    edit_json(folder / "config.json", _class_name="UNet2DConditionModel")
    fake_hub.add("someone/sd", folder)
    with pytest.raises(hub.HubError, match="someone/sd is a UNet2DConditionModel"):
        hub.load_model("someone/sd")
    assert "diffusion_pytorch_model.safetensors" not in fake_hub.downloads


def test_not_a_diffusers_repo(fake_hub, tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "model.safetensors").write_bytes(b"x")
    fake_hub.add("someone/plain", tmp_path / "plain")
    with pytest.raises(hub.HubError, match="no config.json"):
        hub.load_model("someone/plain")


def test_offline_flag_answers_at_once_without_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub

    def no_network(*args, **kwargs):
        raise AssertionError("the network must not be tried when HF_HUB_OFFLINE is set")
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", no_network)
    start = time.perf_counter()
    with pytest.raises(hub.HubError, match=r"Hugging Face Hub cannot be reached \(offline\?\).*google/ddpm-cifar10"):
        hub.load_model("google/ddpm-cifar10-32")
    assert time.perf_counter() - start < 2


def test_failed_loads_of_many_ids_leave_no_lock_behind(monkeypatch):
    from diffusion.hub import loading
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for i in range(50):                  # one visitor trying fifty made-up ids
        with pytest.raises(hub.HubError):
            hub.load_model(f"someone/model-{i}")
    assert not any(k.startswith("someone/") for k in loading._load_locks)


def test_unreachable_hub_is_reported(fake_hub):
    fake_hub.error = httpx2.ConnectError("[Errno -2] Name or service not known")
    with pytest.raises(hub.HubError, match="cannot be reached"):
        hub.load_model("google/ddpm-cifar10-32")
    fake_hub.error = httpx2.ReadTimeout("timed out")
    with pytest.raises(hub.HubError, match="cannot be reached"):
        hub.load_model("google/ddpm-cifar10-32")


def test_offline_model_in_the_local_cache_still_loads(monkeypatch, grey_ckpt):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub

    def from_cache(repo_id, filename, **kwargs):
        path = grey_ckpt / filename
        return str(path) if repo_id == "cached/model" and path.is_file() else None
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", from_cache)
    assert hub.load_model("cached/model", measure=False).shape == (1, 8, 8)


def test_a_class_conditional_checkpoint_loads_and_takes_labels(tmp_path):
    from diffusion import sample
    folder = make_checkpoint(tmp_path / "cond", channels=1, size=8, attention=False, output_scale=1.0,
                             unet_overrides={"num_class_embeds": 4})
    m = hub.load_folder(folder, measure=False)
    assert (m.num_class_embeds, m.num_classes, m.null_label) == (4, 3, 3)
    assert "class-conditional (3 classes, label 3 = no label)" in m.describe()
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([500.0, 500.0])
    with torch.no_grad():
        by_label = [m(x, t, torch.tensor([k, k])) for k in range(4)]
        torch.testing.assert_close(m(x, t), by_label[3])                  # no labels: the "no label" class
        assert not torch.allclose(by_label[0], by_label[1])               # the label reaches the network
    with pytest.raises(ValueError, match=r"class labels for .* must be \[2\] integers in \[0, 3\]"):
        m(x, t, torch.tensor([0, 4]))
    calls = []
    net = m.unet.forward

    def counting(sample_, timestep, class_labels=None):
        calls.append(len(sample_))
        return net(sample_, timestep, class_labels=class_labels)
    m.unet.forward = counting
    traj = sample(m, m.schedule, x, "ddim", 4, y=torch.tensor([0, 1]), guidance_scale=3.0, record=False,
                  **m.sampler_options("ddim"))
    assert traj.nfe == 4 and calls == [4] * 4                              # both halves in one batched call


def test_an_unconditional_model_refuses_labels(grey_ckpt):
    m = hub.load_folder(grey_ckpt, measure=False)
    assert m.null_label is None and m.num_classes == 0
    with pytest.raises(ValueError, match="is unconditional: it takes no class labels"):
        m(torch.zeros(1, 1, 8, 8), torch.tensor([3.0]), torch.tensor([0]))
