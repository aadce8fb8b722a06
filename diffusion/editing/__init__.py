"""Editing with an unconditional model: inpainting, super-resolution and denoising as sampling given a measurement.

``operators`` says what is measured (:class:`Mask`, :class:`Downsample`, :class:`Linear`, :class:`Identity`);
``methods`` holds the training-free samplers (replacement / ILVR, RePaint, DPS) behind one entry point
:func:`edit`, and :func:`denoise` / :func:`tweedie` for a noisy copy. The exact posteriors they are measured
against, for a Gaussian-mixture prior, are in :mod:`diffusion.posterior`.
"""
from .methods import (DENOISE_SAMPLERS, EDIT_METHODS, EDIT_OPTIONS, denoise, edit, matched_timestep, noisy_start,
                      repaint_calls, repaint_path, tweedie)
from .operators import Downsample, Identity, Linear, Mask, Operator, measure

__all__ = ["edit", "EDIT_METHODS", "EDIT_OPTIONS", "denoise", "tweedie", "matched_timestep", "noisy_start",
           "repaint_path", "repaint_calls", "DENOISE_SAMPLERS", "Operator", "Mask", "Downsample", "Linear",
           "Identity", "measure"]
