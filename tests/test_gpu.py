"""ui.gpu: the ZeroGPU decorator wraps only on a ZeroGPU Space with ``spaces`` installed; elsewhere it is a no-op.

The ZeroGPU path is checked with a stand-in ``spaces`` module (the real package needs a Hugging Face Space), which
records what it was asked to wrap; the CPU path with the package absent.
"""
from __future__ import annotations

import importlib.machinery
import sys
import types

import pytest
import torch

from ui import gpu as G


def work(x, y=1):
    return x + y


def steps():
    yield from range(3)


@pytest.fixture
def no_spaces(monkeypatch):
    """An environment where ``import spaces`` fails."""
    monkeypatch.setitem(sys.modules, "spaces", None)     # None in sys.modules makes the import raise ImportError
    monkeypatch.setattr(G.importlib.util, "find_spec", lambda name, *a: None if name == "spaces" else
                        importlib.machinery.PathFinder.find_spec(name))


@pytest.fixture
def fake_spaces(monkeypatch):
    """A stand-in ``spaces`` module whose GPU() marks what it wrapped and records the duration asked for."""
    calls = []
    module = types.ModuleType("spaces")
    module.__spec__ = importlib.machinery.ModuleSpec("spaces", loader=None)

    def GPU(task, duration=None):
        calls.append((task, duration))

        def wrapped(*args, **kwargs):
            return ("on gpu", task(*args, **kwargs))
        wrapped.zerogpu = None
        return wrapped
    module.GPU = GPU
    monkeypatch.setitem(sys.modules, "spaces", module)
    monkeypatch.setattr(G.importlib.util, "find_spec", lambda name, *a: module.__spec__ if name == "spaces" else
                        importlib.machinery.PathFinder.find_spec(name))
    return calls


@pytest.mark.parametrize("flag", [None, "", "false", "0"])
def test_without_spaces_the_decorator_is_a_no_op(no_spaces, monkeypatch, flag):
    if flag is None:
        monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    else:
        monkeypatch.setenv("SPACES_ZERO_GPU", flag)
    assert not G.on_zero_gpu()
    assert G.gpu(work) is work and G.gpu(duration=30)(work) is work
    assert G.gpu(steps) is steps


def test_without_spaces_even_a_zero_gpu_flag_changes_nothing(no_spaces, monkeypatch):
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert not G.on_zero_gpu()
    assert G.gpu(work) is work and G.gpu(work)(2, y=3) == 5


def test_spaces_installed_but_not_on_a_zero_gpu_space_changes_nothing(fake_spaces, monkeypatch):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert G.gpu(work) is work
    assert fake_spaces == []


def test_on_zero_gpu_the_function_goes_through_spaces_gpu(fake_spaces, monkeypatch):
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert G.on_zero_gpu()
    wrapped = G.gpu(work)
    assert wrapped is not work and wrapped(2, y=3) == ("on gpu", 5)
    assert fake_spaces == [(work, None)]
    G.gpu(duration=45)(steps)
    assert fake_spaces[-1] == (steps, 45)


def test_gpu_refuses_a_non_function():
    with pytest.raises(TypeError, match="decorates a function"):
        G.gpu(42)


def test_the_cpu_path_keeps_models_and_results_on_the_cpu(no_spaces, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert G.device() == torch.device("cpu")
    net = torch.nn.Linear(3, 2)
    before = [p.data_ptr() for p in net.parameters()]
    assert G.to_device(net) == torch.device("cpu")
    assert [p.data_ptr() for p in net.parameters()] == before          # not copied, not moved
    assert G.to_device(torch.nn.ReLU()) == torch.device("cpu")         # a module without parameters

    @G.gpu
    def heavy(seed: int) -> torch.Tensor:
        G.to_device(net)
        x = torch.randn(4, 3, generator=torch.Generator().manual_seed(seed))
        return net(x.to(G.device())).cpu()
    torch.testing.assert_close(heavy(0), net(torch.randn(4, 3, generator=torch.Generator().manual_seed(0))))


def test_device_is_cuda_where_cuda_is_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert G.device() == torch.device("cuda")


def test_the_image_labs_zero_gpu_path_pickles_and_gives_the_cpu_paths_run(monkeypatch, tmp_path):
    """On ZeroGPU sample/restore go through ui.image.handlers._run_on_gpu, whose arguments and result cross a process
    boundary by pickle: check they pickle, and that the run equals the CPU path's (same seed, same images)."""
    import pickle

    import numpy as np

    from diffusion import hub
    from tests.tiny_unet import make_checkpoint
    from ui.image import handlers as image_handlers

    monkeypatch.setattr(hub.loading, "BUNDLED_DIR", make_checkpoint(tmp_path / "tiny", channels=1, size=8, attention=False))
    hub.clear_cache()
    calls = []

    def through_pickle(kind, model_id, args, kwargs):       # what ZeroGPU does to a call, minus the GPU
        kind, model_id, args, kwargs = pickle.loads(pickle.dumps((kind, model_id, args, kwargs)))
        calls.append(kind)
        return pickle.loads(pickle.dumps(run_on_gpu(kind, model_id, args, kwargs)))
    run_on_gpu = image_handlers._run_on_gpu
    no_progress = lambda *a, **k: None  # noqa: E731
    try:
        cpu = image_handlers.sample_images(None, "ddim", 4, 7, 2, 0.0, progress=no_progress)[0].run
        cpu_restore = image_handlers.restore(None, t_start=50, steps=3, progress=no_progress)[0].restore
        monkeypatch.setattr(image_handlers, "on_zero_gpu", lambda: True)
        monkeypatch.setattr(image_handlers, "_run_on_gpu", through_pickle)
        zero = image_handlers.sample_images(None, "ddim", 4, 7, 2, 0.0, progress=no_progress)[0].run
        zero_restore = image_handlers.restore(None, t_start=50, steps=3, progress=no_progress)[0].restore
    finally:
        hub.clear_cache()
    assert calls == ["sample", "restore"]
    np.testing.assert_array_equal(zero.final, cpu.final)
    np.testing.assert_array_equal(zero.x_t, cpu.x_t)
    np.testing.assert_array_equal(zero_restore.final, cpu_restore.final)


def test_the_latent_views_zero_gpu_path_pickles_and_gives_the_cpu_paths_runs(monkeypatch, tmp_path):
    """On ZeroGPU the Pixel vs latent tab's runs go through ui.image.latent._runs_on_gpu (both models and the
    autoencoder moved to the GPU there): its arguments and result pickle, and the runs equal the CPU path's."""
    import pickle
    from types import SimpleNamespace

    import numpy as np

    from diffusion import hub
    from tests.tiny_unet import make_checkpoint, make_latent_pipeline
    from ui.image import latent as latent_view

    monkeypatch.setattr(hub.loading, "BUNDLED_DIR", make_checkpoint(tmp_path / "pix", channels=1, size=8,
                                                                    attention=False))
    monkeypatch.setattr(hub.loading, "BUNDLED_LDM_DIR", make_latent_pipeline(tmp_path / "ldm"))
    hub.clear_cache()
    calls, on_gpu = [], latent_view._runs_on_gpu

    def through_pickle(space, kw):                          # what ZeroGPU does to a call, minus the GPU
        space, kw = pickle.loads(pickle.dumps((space, kw)))
        calls.append(space)
        return pickle.loads(pickle.dumps(on_gpu(space, kw)))
    no_progress = lambda *a, **k: None  # noqa: E731
    session = latent_view.LatentSession(SimpleNamespace(run=None, forward=None))   # not the server's defaults
    try:
        cpu = latent_view.latent_run(session, "both", "ddim", 4, 2, 7, 0.0, progress=no_progress)[0].run
        monkeypatch.setattr(latent_view, "on_zero_gpu", lambda: True)
        monkeypatch.setattr(latent_view, "_runs_on_gpu", through_pickle)
        zero = latent_view.latent_run(session, "both", "ddim", 4, 2, 7, 0.0, progress=no_progress)[0].run
    finally:
        hub.clear_cache()
        session.close()
    assert calls == ["both"]
    for a, b in ((zero.pixel, cpu.pixel), (zero.latent, cpu.latent)):
        np.testing.assert_array_equal(a.final, b.final)
        np.testing.assert_array_equal(a.x_t, b.x_t)
    np.testing.assert_array_equal(zero.latent.extra["latent"], cpu.latent.extra["latent"])
