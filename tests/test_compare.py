"""The Compare lab's maths: schedule comparison, the x_T check, visited timesteps, the sampler race, break-it.

Checked against closed forms (q_sample, the spacing rules, sqrt(alpha_bar)), against the other labs' own runs (a
race cell reproduces ToyModel.sample and the Image lab's generate exactly), and on the exact mixture denoiser,
where every sampler's quality must improve -- or hold within ``QUALITY_TOL`` -- as it is given more network calls.
"""
from __future__ import annotations

import math

import pytest
import torch

from diffusion import make_schedule, sample
from diffusion.forward import q_sample
from diffusion.labs import breakit, compare, race, racers
from diffusion.samplers import SAMPLERS, visited_timesteps
from diffusion.toy import dataset_mixture, make_dataset

# The quality figure of 2,000 points moves by about 0.2 (one sd) between fresh draws of the data itself; a sampler
# "holds" when one more step count does not make it worse by more than this (1.5 sd).
QUALITY_TOL = 0.3
STEPS = [2, 4, 8, 16]     # step counts of the monotonicity race


@pytest.fixture(scope="module")
def tiny_toy():
    from diffusion import toy
    return toy.fit("moons", seed=0, steps=80, hidden=32, depth=2, batch_size=128, num_timesteps=100)


@pytest.fixture(scope="module")
def tiny_flow():
    from diffusion import toy
    return toy.fit("moons", seed=0, steps=40, hidden=32, depth=2, batch_size=128, objective="flow_matching")


@pytest.fixture(scope="module")
def tiny_image(tmp_path_factory):
    from diffusion import hub
    from tests.tiny_unet import make_checkpoint
    folder = make_checkpoint(tmp_path_factory.mktemp("tiny-unet"), channels=1, size=8, attention=False)
    return hub.load_folder(folder, model_id="tiny", measure=False)


# --- schedules -----------------------------------------------------------------------------------------------------
def test_schedule_set_pairs_each_schedule_with_its_zero_terminal_snr_twin():
    ss = compare.schedule_set(["linear", "cosine"], 200, rescale_zero_terminal_snr=True)
    assert [s.name for s in ss] == ["linear", "linear+zero_snr", "cosine", "cosine+zero_snr"]
    assert all(s.num_timesteps == 200 for s in ss)
    assert float(ss[1].alphas_cumprod[-1]) == 0.0 and float(ss[0].alphas_cumprod[-1]) > 0
    # Lin et al. Alg. 1 keeps the first step's alpha_bar
    assert math.isclose(float(ss[1].alphas_cumprod[0]), float(ss[0].alphas_cumprod[0]), rel_tol=1e-12)


@pytest.mark.parametrize("names, T, match", [([], 100, "no schedules"), (["nope"], 100, "unknown schedule 'nope'"),
                                             (["linear"], 1, "T must be"), (["linear"], 10**6, "T must be"),
                                             (["linear"], 10.5, "T must be")])
def test_schedule_set_refuses_bad_input(names, T, match):
    with pytest.raises(ValueError, match=match):
        compare.schedule_set(names, T)


def test_noised_grid_is_q_sample_with_one_shared_noise_draw():
    ss = compare.schedule_set(["linear", "cosine", "sigmoid"], 100)
    x0 = torch.rand(1, 1, 6, 6, dtype=torch.float64) * 2 - 1
    grid, ts = compare.noised_grid(ss, x0, fractions=(0.0, 0.5, 1.0), seed=3)
    assert grid.shape == (3, 3, 1, 6, 6) and ts == [0, 50, 99]
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    for i, s in enumerate(ss):
        for j, t in enumerate(ts):
            ab = s.alphas_cumprod[t]
            torch.testing.assert_close(grid[i, j], (ab.sqrt() * x0 + (1 - ab).sqrt() * eps)[0])   # DDPM eq. 4
    # same eps: where two schedules have the same alpha_bar they give the same picture
    torch.testing.assert_close(grid[0, 0], q_sample(ss[0], x0, 0, eps)[0])


def test_noised_grid_refuses_schedules_of_different_T_and_batches():
    with pytest.raises(ValueError, match="share T"):
        compare.noised_grid([make_schedule("linear", 100), make_schedule("linear", 200)], torch.zeros(1, 1, 2, 2))
    with pytest.raises(ValueError, match="one sample"):
        compare.noised_grid([make_schedule("linear", 100)], torch.zeros(2, 1, 2, 2))


def test_terminal_check_flags_a_linear_schedule_with_too_few_steps_and_passes_the_usual_ones():
    data = make_dataset("moons", 2000, 0)
    ok = compare.terminal_check(make_schedule("linear", 1000), data)
    assert not ok.flagged
    assert ok.signal_left == pytest.approx(float(make_schedule("linear", 1000).alphas_cumprod[-1]) ** 0.5)
    assert ok.signal_left < 0.01 and ok.gaussian < compare.GAUSSIAN_LIMIT
    bad = compare.terminal_check(make_schedule("linear", 50), data)
    assert bad.flagged and bad.signal_left > 0.7 and "signal" in bad.reason
    assert bad.gaussian > compare.GAUSSIAN_LIMIT       # moons at 78 % signal are visibly not N(0, I)
    zero = compare.terminal_check(make_schedule("cosine", 1000, rescale_zero_terminal_snr=True), data)
    assert zero.signal_left == 0.0 and zero.log_snr_last == -math.inf and not zero.flagged


# --- timestep spacing ----------------------------------------------------------------------------------------------
def test_visited_timesteps_follow_the_spacing_rules():
    s = make_schedule("cosine", 1000)
    assert visited_timesteps("ddim", s, 5, "leading") == [800, 600, 400, 200, 0]     # multiples of T // N
    assert visited_timesteps("ddim", s, 5, "trailing") == [999, 799, 599, 399, 199]  # down from T - 1
    assert visited_timesteps("ddim", s, 5, "linspace") == [999, 749, 500, 250, 0]    # rounded linspace
    assert visited_timesteps("euler", s, 5, "linspace") == pytest.approx([999, 749.25, 499.5, 249.75, 0])
    # DPM-Solver++ lays out N + 1 points and drops t = 0 (diffusers' rule)
    assert visited_timesteps("dpmpp_2m", s, 5, "leading") == [830, 664, 498, 332, 166]
    assert visited_timesteps("ddpm", s, 3) == [666, 333, 0]                          # ddpm's default: leading


def test_spacing_rows_report_the_signal_the_first_call_assumes():
    s = make_schedule("cosine", 1000)
    rows = {r.spacing: r for r in compare.spacing_rows("ddim", s, 5)}
    assert set(rows) == {"leading", "trailing", "linspace"}
    assert rows["leading"].signal_first == pytest.approx(float(s.alphas_cumprod[800]) ** 0.5)
    assert rows["leading"].skipped == 199 and rows["trailing"].skipped == 0
    assert rows["leading"].signal_first > 0.3 > 1e-3 > rows["trailing"].signal_first


def test_visited_timesteps_refuse_what_the_sampler_refuses():
    with pytest.raises(ValueError, match="repeats timesteps"):
        visited_timesteps("dpmpp_2m", make_schedule("linear", 100), 100, "leading")
    with pytest.raises(ValueError, match="unknown sampler 'nope'"):
        visited_timesteps("nope", make_schedule("linear", 100), 5)


def test_spacing_experiment_shows_leading_pulling_off_centre_data_towards_zero():
    """The exact denoiser of data whose mean is (1.5, 0): leading starts where x_T should still hold ~30 % of the
    signal, and its samples come out with the wrong mean and a much worse quality than trailing's."""
    racer = racers.exact_racer("gaussians8", make_schedule("cosine", 1000), shift=breakit.OFF_CENTRE)
    out = dict(compare.spacing_experiment(racer, "ddim", 5, n=1000, seed=0))
    lead, trail = out["leading"], out["trailing"]
    assert lead.nfe == trail.nfe == 5
    assert lead.quality > 2 * trail.quality
    assert float(trail.samples[:, 0].mean()) == pytest.approx(1.5, abs=0.15)
    assert float(lead.samples[:, 0].mean()) < 1.25


# --- the race ------------------------------------------------------------------------------------------------------
def test_every_sampler_improves_or_holds_as_nfe_grows_on_the_exact_mixture_denoiser():
    racer = racers.exact_racer("gaussians8", make_schedule("cosine", 1000))
    result = race.race(racer, list(SAMPLERS), STEPS, n=2000, seed=0, spacing="leading", limit_s=600)
    assert not result.stopped and len(result.cells) == len(SAMPLERS) * 4
    for sampler in SAMPLERS:
        cells = sorted((c for c in result.cells if c.sampler == sampler), key=lambda c: c.nfe)
        q = [c.quality for c in cells]
        assert all(math.isfinite(v) for v in q), (sampler, q)
        for a, b in zip(q, q[1:]):
            assert b <= a + QUALITY_TOL, f"{sampler}: quality went from {a:.2f} to {b:.2f} with more NFE ({q})"
        assert q[-1] < 2.0, f"{sampler} never got close to the data: {q}"
        assert q[0] > q[-1], f"{sampler} did not improve from {STEPS[0]} to {STEPS[-1]} steps: {q}"
    nfe = {(c.sampler, c.num_steps): c.nfe for c in result.cells}
    assert nfe["heun", 4] == 7 and nfe["pc", 4] == 8 and nfe["ddim", 4] == 4 and nfe["dpmpp_2m", 16] == 16


def test_a_race_cell_reproduces_the_toy_labs_own_run(tiny_toy):
    racer = racers.toy_racer(tiny_toy)
    result = race.race(racer, ["ddpm", "ddim"], [4, 10], n=300, seed=5, spacing=None)
    for sampler in ("ddpm", "ddim"):   # ddpm is stochastic: same seed, same random stream
        traj = tiny_toy.sample(300, sampler=sampler, num_steps=10, seed=5, record=False)
        torch.testing.assert_close(result.cell(sampler, 10).samples, traj.x0.float())
    assert result.cell("ddim", 4).quality is not None and result.kind == "toy"


def test_the_same_x_T_starts_every_cell():
    racer = racers.exact_racer("gaussians8", make_schedule("cosine", 1000))
    x_T = racers.draw_x_T(racer, 64, 9)
    torch.testing.assert_close(x_T, torch.randn(64, 2, generator=torch.Generator().manual_seed(9)))
    result = race.race(racer, ["ddim", "euler"], [1], n=64, seed=9, spacing="trailing")
    # one DDIM step from t = T - 1 to the end lands on x0_pred(x_T); so does one Euler step (which scales x_T by
    # sigma / sqrt(sigma^2 + 1) first, diffusers' quirk: 1 - 1e-9 at the cosine's sigma_max = 2e4)
    direct = sample(racer.model, racer.schedule, x_T, "ddim", 1, timestep_spacing="trailing", record=False).x0
    torch.testing.assert_close(result.cell("ddim", 1).samples, direct.float())
    torch.testing.assert_close(result.cell("euler", 1).samples, direct.float(), atol=1e-4, rtol=1e-4)


def test_a_race_cell_equals_the_image_labs_generate(tiny_image):
    from diffusion.labs.image_runs import generate
    racer = racers.image_racer(tiny_image)
    result = race.race(racer, ["ddim", "ddpm"], [3], n=2, seed=4, spacing=None)
    assert result.kind == "image" and all(c.quality is None for c in result.cells)
    for sampler in ("ddim", "ddpm"):
        run = generate(tiny_image, sampler, 3, seed=4, batch=2)
        torch.testing.assert_close(result.cell(sampler, 3).samples, torch.from_numpy(run.final_float))
    assert result.cell("ddim", 3).samples.shape == (2, 1, 8, 8)


def test_the_image_race_defaults_are_four_samplers_by_three_step_counts_on_four_images():
    def shrink(x, t):    # a stand-in image model (predicts x_0 = x / 2): the defaults are what is tested here
        return x / 2
    racer = racers.Racer("stand-in", "image", shrink, make_schedule("linear", 1000), "sample", (1, 4, 4))
    result = race.race(racer)
    assert result.samplers == list(race.DEFAULT_IMAGE_SAMPLERS) and result.step_counts == list(race.DEFAULT_IMAGE_STEPS)
    assert result.n == 4 and len(result.cells) == 12 and all(c.samples.shape[0] == 4 for c in result.cells)


def test_a_flow_model_races_with_its_own_ode_samplers(tiny_flow):
    racer = racers.toy_racer(tiny_flow)
    assert racer.flow and racer.samplers == ["euler", "heun"]
    result = race.race(racer, step_counts=[2, 4], n=200)
    assert [(c.sampler, c.num_steps, c.nfe) for c in result.cells] == [("euler", 2, 2), ("euler", 4, 4),
                                                                         ("heun", 2, 3), ("heun", 4, 7)]
    with pytest.raises(ValueError, match="unknown sampler 'ddim'.*euler or heun"):
        race.plan_race(racer, ["ddim"], [4])


def test_stop_keeps_the_finished_cells_and_progress_counts_calls():
    racer = racers.exact_racer("bimodal", make_schedule("linear", 100))
    seen = []

    def on_progress(done, total, text):
        seen.append((done, total))

    result = race.race(racer, ["ddim", "euler", "dpmpp_2m"], [5, 10], n=200, on_progress=on_progress,
                    should_stop=lambda: len(seen) >= 12)
    assert result.stopped and "stopped" in result.note
    assert 1 <= len(result.cells) < 6 and result.cells[-1].stopped        # the running cell ended part-way
    assert all(c.quality is not None for c in result.cells if not c.stopped)
    dones = [d for d, _ in seen]
    assert dones == sorted(dones) and all(t == 45 for _, t in seen)      # 3 x (5 + 10) calls in all


def test_a_cell_that_fails_is_reported_and_the_race_goes_on():
    schedule = make_schedule("linear", 100)

    def broken(x, t):
        return torch.full_like(x, float("nan")) if float(t[0]) > 50 else torch.zeros_like(x)

    racer = racers.Racer("broken", "toy", broken, schedule, "epsilon", (2,), reference="moons")
    result = race.race(racer, ["ddim"], [2, 5], n=50, spacing="trailing")
    assert len(result.cells) == 2 and all("NaN" in c.error for c in result.cells)


def test_best_picks_the_lowest_quality_within_a_budget():
    res = race.RaceResult("x", "toy", cells=[racers.Cell("a", 5, 5, quality=2.0), racers.Cell("b", 5, 9, quality=1.2),
                                          racers.Cell("c", 20, 20, quality=math.inf), racers.Cell("d", 3, 3, quality=3.0)])
    assert res.best(5).sampler == "a" and res.best(10).sampler == "b" and res.best().sampler == "b"
    assert res.best(2) is None


@pytest.mark.parametrize("samplers, steps, match", [
    ([], [5], "no samplers"), (["nope"], [5], "unknown sampler 'nope'"), (["ddim"], [], "no step counts"),
    (["ddim"], [0, 5], r"out of range: each must be between 1 and 100"),
    (["ddim"], [5, 101], r"\[101\] are out of range"), (["ddim"], [2.5], "whole numbers"),
    (["ddim"], [1, 2, 3, 4, 5, 6, 7], "over the race's limit of 6"),
    (["dpmpp_2m"], [100], "repeats timesteps")])
def test_plan_race_refuses_bad_input(samplers, steps, match):
    racer = racers.exact_racer("gaussians8", make_schedule("linear", 100))
    with pytest.raises(ValueError, match=match):
        race.plan_race(racer, samplers, steps, "leading")


def test_races_over_the_limits_are_refused_before_they_start():
    racer = racers.exact_racer("gaussians8", make_schedule("linear", 100))
    with pytest.raises(race.RaceTooLarge, match="points per run"):
        race.race(racer, ["ddim"], [5], n=race.MAX_TOY_POINTS + 1)
    with pytest.raises(race.RaceTooLarge, match=r"over the lab's 0 s limit"):
        race.race(racer, ["ddim"], [5], n=100, limit_s=1e-9)
    with pytest.raises(ValueError, match="not a Gaussian mixture"):
        racers.exact_racer("moons")


# --- break it ------------------------------------------------------------------------------------------------------
def test_mode_spread_of_mixture_samples_is_the_components_spread():
    mix = dataset_mixture("gaussians8")
    x = mix.sample(20_000, torch.Generator().manual_seed(0))
    assert breakit.mode_spread(mix, x) == pytest.approx(float(mix.covariances[0].trace().sqrt()), rel=0.03)


def test_break_it_experiments_show_their_mistake():
    right, wrong = breakit.too_few_timesteps(n=1000)
    assert wrong.quality > 3 * right.quality and "77.6 %" in wrong.detail
    right, wrong = breakit.wrong_ddpm_variance(n=1000)
    mix = dataset_mixture("gaussians8")
    assert breakit.mode_spread(mix, wrong.samples) > 1.4 * breakit.mode_spread(mix, right.samples)
    right, wrong = breakit.clipped_x0(n=1000)
    assert wrong.samples.abs().max() <= 1.0 + 1e-6 < right.samples.abs().max()   # trailing DDIM ends on x0_pred
    assert wrong.quality > 1.5 * right.quality


def test_no_time_embedding_runs_both_models_alike(tiny_toy):
    from diffusion import toy
    blind = toy.fit("moons", seed=0, steps=30, hidden=32, depth=2, batch_size=128, num_timesteps=100,
                    time_embedding=False)
    x = torch.randn(5, 2)
    torch.testing.assert_close(blind(x, torch.full((5,), 3.0)), blind(x, torch.full((5,), 90.0)))  # t is ignored
    panels = breakit.no_time_embedding(tiny_toy, blind, n=300, num_steps=10)
    assert [p.nfe for p in panels] == [10, 10] and all(math.isfinite(p.quality) for p in panels)
    assert panels[0].samples.shape == panels[1].samples.shape == (300, 2)
