"""Heavy work on a Hugging Face ZeroGPU Space's GPU, and unchanged everywhere else.

``gpu(fn)`` is ``spaces.GPU(fn)`` when the ``spaces`` package is importable *and* the process runs on a ZeroGPU
Space (``SPACES_ZERO_GPU=true``, set by Hugging Face); everywhere else (a CPU Space, a laptop, CI) it returns
``fn`` itself, so the CPU path is exactly the code that was written.

How ZeroGPU runs a decorated function (spaces 0.51): the call is sent to a forked worker process that holds a GPU
for the duration; its arguments and its result are *pickled* across. So a function decorated here must

* take and return plain, picklable values (names, numbers, tensors, numpy arrays, dataclasses of those) — never a
  session object, a lock, a ``threading.Event`` or a closure;
* move its model and tensors to :func:`device` *inside* the function (:func:`to_device`): CUDA exists only there.
  On ZeroGPU the worker is a fork, so moving a shared model there never touches the server's CPU copy;
* not rely on a Stop button: the worker does not see the server's events. Runs are short on a GPU, and the
  ``duration`` given to :func:`gpu` caps them.

Decorate at import time (module level), not lazily: ZeroGPU checks at start-up that some function is decorated.
On ZeroGPU ``import spaces`` must come before anything initialises CUDA: importing this module does that, so
app.py imports it first.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)

_TRUE = ("1", "t", "true", "yes")


def on_zero_gpu() -> bool:
    """True on a ZeroGPU Space (SPACES_ZERO_GPU=true) with the ``spaces`` package installed."""
    if os.environ.get("SPACES_ZERO_GPU", "").strip().lower() not in _TRUE:
        return False
    return importlib.util.find_spec("spaces") is not None


def _spaces():
    """The ``spaces`` module, or None when it cannot be imported (then nothing is wrapped)."""
    try:
        return importlib.import_module("spaces")
    except ImportError:
        return None


def gpu(fn: F | None = None, *, duration: float | None = None):
    """``spaces.GPU(fn, duration=duration)`` on a ZeroGPU Space; ``fn`` unchanged anywhere else.

    Use as ``@gpu`` or ``@gpu(duration=60)`` (seconds of GPU time a call may take; ZeroGPU's default is 60).
    """
    if fn is None:
        return lambda f: gpu(f, duration=duration)
    if not callable(fn):
        raise TypeError(f"gpu() decorates a function, got {type(fn).__name__}")
    if not on_zero_gpu():
        return fn
    spaces = _spaces()
    if spaces is None:
        return fn
    return spaces.GPU(fn, duration=duration) if duration is not None else spaces.GPU(fn)


def device():
    """torch.device('cuda') where CUDA is available (inside a ZeroGPU-decorated function), else 'cpu'."""
    import torch
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def to_device(module):
    """Move a torch module to :func:`device` in place (a no-op on CPU) and return that device.

    Call it inside a function decorated with :func:`gpu`, never at import time or in the server process.
    """
    target = device()
    first = next(iter(module.parameters()), None)
    if first is not None and first.device != target:
        module.to(target)
    return target


if on_zero_gpu():  # pragma: no cover - only on a ZeroGPU Space: spaces patches torch before CUDA is touched
    _spaces()

__all__ = ["gpu", "on_zero_gpu", "device", "to_device"]
