"""A labelled Gaussian mixture is an exact conditional model: p(x | y) as sub-mixtures, p(y | x_t) in closed form,
and guided sampling checked against both (w = 1 samples p(x | y) exactly, w = 0 the whole mixture)."""
import math

import pytest
import torch

from diffusion import SAMPLERS, make_schedule, sample
from diffusion.exact import GaussianMixture

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# two classes with two components each, so the weights inside a class are tested too
MEANS = [[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]]
WEIGHTS = [0.3, 0.1, 0.4, 0.2]
LABELS = [0, 0, 1, 1]
STD = 0.2
MIX = GaussianMixture.isotropic(WEIGHTS, MEANS, [STD] * 4, labels=LABELS)
SCHED = make_schedule("cosine", 1000)
STEPS = {"ddpm": 1000, "pc": 500, "euler_ancestral": 400}      # the stochastic ones need more steps


def split(x, mixture):
    """Each sample's nearest component, its share per component and its spread around the component mean."""
    k = torch.cdist(x.double(), mixture.means).argmin(1)
    shares = torch.bincount(k, minlength=mixture.num_components).double() / len(x)
    spread = torch.stack([(x[k == j].double() - mixture.means[j]).std() for j in range(mixture.num_components)])
    return shares, spread


def test_sub_mixtures_and_the_classifier_are_bayes_rule():
    sub = MIX.sub_mixture(1)
    torch.testing.assert_close(sub.weights, torch.tensor([2 / 3, 1 / 3], dtype=torch.float64))
    assert MIX.null_label == 2 and MIX.classes == [0, 1] and "classes=[0, 1]" in repr(MIX)
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
    a, s = 0.7, (1 - 0.49) ** 0.5
    # p(y | x_t) = p(y) p(x_t | y) / p(x_t), each noised component N(a mu, a^2 std^2 + s^2)
    var = a**2 * STD**2 + s**2
    dens = torch.stack([w * torch.exp(-((x - a * torch.tensor(m, dtype=torch.float64)) ** 2).sum(1) / (2 * var)) for w, m in
                        zip(WEIGHTS, MEANS)], 1)
    expected = torch.stack([dens[:, :2].sum(1), dens[:, 2:].sum(1)], 1) / dens.sum(1, keepdim=True)
    torch.testing.assert_close(MIX.class_probs(x, a, s), expected, rtol=1e-10, atol=1e-12)
    # the conditional posterior mean is the sub-mixture's; the null label and None give the whole mixture's
    y = torch.tensor([0] * 20 + [1] * 20 + [2] * 10)
    got = MIX.posterior_mean_given(x, a, s, y)
    torch.testing.assert_close(got[:20], MIX.sub_mixture(0).posterior_mean(x[:20], a, s))
    torch.testing.assert_close(got[20:40], MIX.sub_mixture(1).posterior_mean(x[20:40], a, s))
    torch.testing.assert_close(got[40:], MIX.posterior_mean(x[40:], a, s))


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_w1_samples_the_class_and_w0_the_whole_mixture(sampler):
    n, steps = 4000, STEPS.get(sampler, 250)
    model = MIX.model(SCHED, "epsilon")
    x_T = torch.randn(n, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    spacing = {"timestep_spacing": "trailing"}      # from t = T - 1: leading with many steps skips the noisiest
    for label in MIX.classes:
        out = sample(model, SCHED, x_T, sampler, steps, torch.Generator().manual_seed(2), y=label,
                     guidance_scale=1.0, **spacing).x0
        sub = MIX.sub_mixture(label)
        shares, spread = split(out, sub)
        assert (shares - sub.weights).abs().max() <= 0.02, (sampler, label, shares)
        assert ((spread - STD).abs() / STD).max() <= 0.05, (sampler, label, spread)
    out = sample(model, SCHED, x_T, sampler, steps, torch.Generator().manual_seed(2), y=0, guidance_scale=0.0,
                 **spacing).x0
    shares, _ = split(out, MIX)
    assert (shares - MIX.weights).abs().max() <= 0.02, (sampler, shares)


def test_stronger_guidance_pushes_mass_to_the_class_and_narrows_it():
    model = MIX.model(SCHED, "epsilon")
    x_T = torch.randn(2000, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    confidence, spread = [], []
    for w in (1.0, 3.0, 7.0):
        out = sample(model, SCHED, x_T, "ddim", 100, y=0, guidance_scale=w).x0
        confidence.append(MIX.class_probs(out)[:, 0].mean().item())
        spread.append(split(out, MIX.sub_mixture(0))[1].mean().item())
    assert confidence[0] > 0.99 and confidence == sorted(confidence)
    assert spread == sorted(spread, reverse=True) and spread[-1] < 0.9 * STD      # guided samples lose diversity


def test_a_flow_model_of_a_labelled_mixture_is_conditional_too():
    from diffusion import flow_sample
    x1 = torch.randn(3000, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    out = flow_sample(MIX.flow_model(), x1, "heun", 100, y=1).x0
    shares, spread = split(out, MIX.sub_mixture(1))
    assert (shares - MIX.sub_mixture(1).weights).abs().max() <= 0.02
    assert math.isclose(spread.mean().item(), STD, rel_tol=0.05)


def test_labels_are_checked():
    with pytest.raises(ValueError, match="labels must be 4 non-negative integers"):
        GaussianMixture.isotropic(WEIGHTS, MEANS, [STD] * 4, labels=[0, 1])
    with pytest.raises(ValueError, match=r"unknown class 5; this mixture's classes are \[0, 1\] \(2 = no label\)"):
        MIX.sub_mixture(5)
    plain = GaussianMixture.isotropic(WEIGHTS, MEANS, [STD] * 4)
    with pytest.raises(ValueError, match="has no class labels"):
        plain.class_probs(torch.zeros(1, 2))
    with pytest.raises(ValueError, match="has no class labels"):
        sample(plain.model(SCHED), SCHED, torch.zeros(2, 2), "ddim", 5, y=0)


def test_classifier_guidance_with_the_exact_classifier_is_classifier_free_guidance_with_w_its_scale():
    from diffusion.samplers import ClassifierGuided
    uncond = MIX.model(SCHED, "epsilon")                                   # called with y=None: the whole mixture
    plain = lambda x, t: uncond(x, t)                                      # noqa: E731 - an unconditional model
    x_T = torch.randn(500, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    for scale in (1.0, 3.0):
        steered = ClassifierGuided(plain, SCHED, MIX.classifier(SCHED), 1, scale)
        a = sample(steered, SCHED, x_T, "ddim", 40, timestep_spacing="trailing").x0
        b = sample(uncond, SCHED, x_T, "ddim", 40, y=1, guidance_scale=scale, timestep_spacing="trailing").x0
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-7)
    # the classifier itself is Bayes' rule: its probabilities are class_probs at the same noise level
    t = torch.full((500,), 300.0, dtype=torch.float64)
    ab = float(SCHED.alpha_bar_at(300.0))
    probs = MIX.class_probs(x_T, ab**0.5, (1 - ab) ** 0.5)
    torch.testing.assert_close(MIX.classifier(SCHED)(x_T, t, torch.ones(500, dtype=torch.long)).exp(), probs[:, 1])
    with pytest.raises(ValueError, match="classifier guidance scale must be a finite number >= 0"):
        ClassifierGuided(plain, SCHED, MIX.classifier(SCHED), 1, -1.0)
