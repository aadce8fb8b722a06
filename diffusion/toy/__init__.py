"""Toy lab: 1-D and 2-D data sets, a small MLP denoiser, training, and flow matching.

    from diffusion import toy
    x = toy.make_dataset("moons", n=2000, seed=0)        # float32 [n, 2], standardised scale (see data.py)
    m = toy.fit("moons", seed=0)                          # a ToyModel; settings in toy.DEFAULTS
    traj = m.sample(2000, sampler="ddim", num_steps=50)  # a diffusion.Trajectory in the data's space
"""
from .data import (DATASETS, MAX_POINTS, dataset_dim, dataset_mixture, make_dataset,  # noqa: F401
                   points_from_image)
from ..samplers.flow import FLOW_SAMPLERS, flow_sample  # noqa: F401
from .model import MLP, ToyModel  # noqa: F401
from .train import DEFAULTS, OBJECTIVES, TrainingDiverged, fit  # noqa: F401

__all__ = ["DATASETS", "MAX_POINTS", "make_dataset", "points_from_image", "dataset_mixture", "dataset_dim", "fit",
           "DEFAULTS", "OBJECTIVES", "TrainingDiverged", "ToyModel", "MLP", "FLOW_SAMPLERS", "flow_sample"]
