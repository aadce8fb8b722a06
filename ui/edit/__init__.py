"""The Edit lab's UI: training-free editing (inpainting, super-resolution, denoising) with an unconditional model,
on 2-D toy data against the exact posterior and on digits with the bundled model."""
