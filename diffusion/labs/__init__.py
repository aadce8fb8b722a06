"""The labs' back-ends: arrays in, arrays out, no UI. Each one turns the library (schedules, samplers, exact
denoisers, models) into what one lab shows.

* :mod:`.toy_runs` -- the Toy lab: data, its exact denoiser, a recorded run (frames, fields, the exact run beside it);
  :mod:`.toy_extras` -- diffusion vs flow matching, and the 1-D density over time.
* :mod:`.image_runs` -- the Image lab: forward noising, sampling and noise-and-restore on a pretrained model.
* :mod:`.compare` -- noise schedules side by side and the timesteps a sampler visits; :mod:`.racers` and
  :mod:`.race` -- the sampler race; :mod:`.breakit` -- four classic mistakes beside the right setting.
* :mod:`.runner` -- what their runs share: which frames to keep, and the Stop / time-limit watch.
"""
