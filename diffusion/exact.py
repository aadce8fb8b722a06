"""Exact denoisers: the ideal model for a Gaussian mixture, and the memorising model of a finite point set.

When the data distribution is known, the best possible denoiser has a closed form, so the lab can show the *true*
fields beside a trained network's. Everything follows from one quantity, the posterior mean E[x_0 | x_t]
(Tweedie's formula; Efron 2011, Robbins 1956), which for x_t = a x_0 + s eps gives

    eps_hat   = (x_t - a E[x_0 | x_t]) / s
    score     = grad log p_t(x_t) = (a E[x_0 | x_t] - x_t) / s^2 = -eps_hat / s

with (a, s) = (sqrt(alpha_bar), sqrt(1 - alpha_bar)) for diffusion (DDPM eq. 4) and (1 - t, t) for rectified flow
(Liu et al. 2022; Lipman et al. 2022), whose velocity is v = eps_hat - x0_hat.

* :class:`GaussianMixture` -- sum_k w_k N(mu_k, Sigma_k). Noised, each component stays Gaussian,
  N(a mu_k, a^2 Sigma_k + s^2 I), so p_t, the responsibilities and E[x_0 | x_t] are exact (Bishop 2006, §2.3.3 for
  the conditional of a joint Gaussian).
* :class:`MemorisingDenoiser` -- the empirical distribution of N points. Its optimal denoiser is a softmax-weighted
  average of the training points; sampling with it can only reproduce them (the "memorisation" lesson; Kadkhodaie
  et al. 2024, Karras et al. 2022 §B.3).

``.model(schedule, prediction_type)`` turns either into a ``model(x_t, t)`` the samplers accept;
``.flow_model()`` gives the rectified-flow velocity field for ``t`` in [0, 1].
"""
from __future__ import annotations

import math

import torch

from .parameterization import check_prediction_type, eps_from_x0, score_from_eps, v_from_x0_eps, velocity_from_x0

__all__ = ["GaussianMixture", "MemorisingDenoiser", "ExactModel"]


def _as_batch(x: torch.Tensor, dim: int) -> torch.Tensor:
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"x must have shape [batch, {dim}], got {tuple(x.shape)}")
    return x.to(torch.float64)


def _per_sample(value, n: int) -> torch.Tensor:
    """A float, 0-d or [n] tensor as a float64 tensor of shape [n]."""
    v = torch.as_tensor(value, dtype=torch.float64)
    return v.expand(n) if v.ndim == 0 else v.reshape(n)


def _matvec(mats: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """mats [1 or n, K, d, d] applied to v [n, K, d] -> [n, K, d] (one batched matmul per component when shared)."""
    if mats.shape[0] == 1:
        return torch.einsum("kij,nkj->nki", mats[0], v)
    return (mats @ v[..., None])[..., 0]


class _ExactDenoiser:
    """Shared maths: everything from the posterior mean E[x_0 | x_t] under x_t = a x_0 + s eps."""

    dim: int

    def posterior_mean(self, x_t: torch.Tensor, a, s) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def log_prob_noised(self, x: torch.Tensor, a, s) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    # --- the variance-preserving (alpha_bar) view ----------------------------------------------------------
    def x0_pred(self, x_t, alpha_bar):
        """E[x_0 | x_t] at noise level alpha_bar (float or [batch])."""
        ab = _per_sample(alpha_bar, len(x_t))
        return self.posterior_mean(x_t, ab.sqrt(), (1 - ab).sqrt()).to(x_t.dtype)

    def eps(self, x_t, alpha_bar):
        """E[eps | x_t] = (x_t - sqrt(alpha_bar) E[x_0 | x_t]) / sqrt(1 - alpha_bar)."""
        ab = _per_sample(alpha_bar, len(x_t))
        x0 = self.posterior_mean(x_t, ab.sqrt(), (1 - ab).sqrt())
        return eps_from_x0(x0, x_t.to(torch.float64), ab).to(x_t.dtype)

    def score(self, x_t, alpha_bar):
        """grad_x log p_t(x_t) = -eps / sqrt(1 - alpha_bar)  (Tweedie)."""
        ab = _per_sample(alpha_bar, len(x_t))
        return score_from_eps(self.eps(x_t, ab).to(torch.float64), ab).to(x_t.dtype)

    def log_prob(self, x, alpha_bar=1.0):
        """log p_t(x) of the data noised to alpha_bar (1.0: the clean data), float64 [batch]."""
        ab = _per_sample(alpha_bar, len(x))
        return self.log_prob_noised(x, ab.sqrt(), (1 - ab).sqrt())

    def density_map(self, schedule, x_grid, timesteps) -> torch.Tensor:
        """p_t(x) for a 1-D heat map: float64 [len(timesteps), len(x_grid)] (rows: t, columns: x)."""
        if self.dim != 1:
            raise ValueError(f"density_map is for 1-D data; this one is {self.dim}-D (use log_prob)")
        x = torch.as_tensor(x_grid, dtype=torch.float64).reshape(-1, 1)
        rows = [self.log_prob(x, schedule.alpha_bar_at(t).item()).exp() for t in torch.as_tensor(timesteps)]
        return torch.stack(rows)

    # --- ready-made models ----------------------------------------------------------------------------------
    null_label = None   # a labelled GaussianMixture sets it: the label that means "no label" (the whole mixture)

    def posterior_mean_given(self, x_t, a, s, y=None):
        """E[x_0 | x_t, y]: given class label y per sample ([batch] long; None, or the null label: no label)."""
        if y is None:
            return self.posterior_mean(x_t, a, s)
        raise ValueError(f"{self!r} has no class labels; build the mixture with labels=... to condition on them")

    def model(self, schedule, prediction_type: str = "epsilon") -> "ExactModel":
        """The exact denoiser as ``model(x_t, t)`` for :func:`diffusion.sample` (t in [0, T-1], may be fractional);
        of a labelled mixture, the conditional ``model(x_t, t, y)`` (y None: the whole mixture)."""
        check_prediction_type(prediction_type)
        return ExactModel(self, schedule, prediction_type)

    def flow_model(self, t_min: float = 1e-5):
        """The exact rectified-flow velocity v(x_t, t) = E[eps - x_0 | x_t], x_t = (1-t) x_0 + t eps, t in [0, 1].

        t is clamped below at ``t_min`` (at t = 0 the velocity is a 0/0 limit).
        """
        def velocity(x_t, t, y=None):
            s = _per_sample(t, len(x_t)).clamp(min=t_min)
            x0 = self.posterior_mean_given(x_t, 1 - s, s, y)
            return velocity_from_x0(x0, x_t.to(torch.float64), s[:, None]).to(x_t.dtype)
        velocity.null_label = self.null_label
        return velocity


class ExactModel:
    """An exact denoiser bound to a schedule: ``model(x_t, t)`` returns the ``prediction_type`` quantity; for a
    labelled mixture ``model(x_t, t, y)`` that of the class y (classifier-free guidance's conditional model)."""

    def __init__(self, denoiser: _ExactDenoiser, schedule, prediction_type: str):
        self.denoiser, self.schedule, self.prediction_type = denoiser, schedule, prediction_type
        self.null_label = denoiser.null_label

    def __call__(self, x_t: torch.Tensor, t, y=None) -> torch.Tensor:
        ab = _per_sample(self.schedule.alpha_bar_at(t), len(x_t))
        x0 = self.denoiser.posterior_mean_given(x_t, ab.sqrt(), (1 - ab).sqrt(), y)
        if self.prediction_type == "sample":
            return x0.to(x_t.dtype)
        eps = eps_from_x0(x0, x_t.to(torch.float64), ab)            # DDPM eq. 4 solved for eps
        out = eps if self.prediction_type == "epsilon" else v_from_x0_eps(x0, eps, ab)
        return out.to(x_t.dtype)


class GaussianMixture(_ExactDenoiser):
    """sum_k weights[k] N(means[k], covariances[k]) in 1-D or 2-D, optionally with a class label per component.

    weights: [K] (non-negative, normalised here); means: [K, d] (or [K] for 1-D); covariances: [K, d, d], or [K, d]
    (diagonal variances), or [K] (isotropic variances; in 1-D simply the variances). Stored as float64.
    labels: [K] non-negative ints or None. A labelled mixture is a joint p(x, y): p(x | y) is the sub-mixture of the
    components labelled y with their weights renormalised (:meth:`sub_mixture`), p(y) their total weight, and
    p(y | x_t) is closed form (:meth:`class_probs`); ``null_label`` (one past the largest label) means "no label".
    """

    def __init__(self, weights, means, covariances, labels=None):
        w = torch.as_tensor(weights, dtype=torch.float64).flatten()
        mu = torch.as_tensor(means, dtype=torch.float64)
        mu = mu[:, None] if mu.ndim == 1 else mu
        k, d = mu.shape if mu.ndim == 2 else (None, None)
        if mu.ndim != 2 or d not in (1, 2) or len(w) != k or k < 1:
            raise ValueError(f"means must be [K, d] with d in (1, 2) and K = len(weights) = {len(w)}, "
                             f"got shape {tuple(mu.shape)}")
        cov = torch.as_tensor(covariances, dtype=torch.float64)
        if cov.shape == (k,):
            cov = cov[:, None, None] * torch.eye(d, dtype=torch.float64)
        elif cov.shape == (k, d):
            cov = torch.diag_embed(cov)
        if cov.shape != (k, d, d):
            raise ValueError(f"covariances must be [K, d, d], [K, d] or [K] with K={k}, d={d}; "
                             f"got shape {tuple(cov.shape)}")
        if not (torch.isfinite(w).all() and torch.isfinite(mu).all() and torch.isfinite(cov).all()):
            raise ValueError("weights, means and covariances must be finite")
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"weights must be non-negative with a positive sum, got {w.tolist()}")
        if not torch.allclose(cov, cov.transpose(1, 2)) or (torch.linalg.eigvalsh(cov) <= 0).any():
            raise ValueError("covariances must be symmetric positive definite")
        self.weights, self.means, self.covariances = w / w.sum(), mu, cov
        self.dim, self.num_components = d, k
        self.labels = None
        if labels is not None:
            lab = torch.as_tensor(labels)
            if lab.shape != (k,) or lab.is_floating_point() or lab.dtype == torch.bool or (lab < 0).any():
                raise ValueError(f"labels must be {k} non-negative integers (one per component), got {labels!r}")
            self.labels = lab.long()
            self.classes = sorted(set(self.labels.tolist()))
            self.null_label = self.classes[-1] + 1

    @classmethod
    def isotropic(cls, weights, means, stds, labels=None) -> "GaussianMixture":
        """Components N(mu_k, std_k^2 I)."""
        return cls(weights, means, torch.as_tensor(stds, dtype=torch.float64) ** 2, labels)

    def __repr__(self):
        labelled = "" if self.labels is None else f", classes={self.classes}"
        return f"GaussianMixture(K={self.num_components}, dim={self.dim}{labelled})"

    # --- labels: p(x | y), p(y | x_t) ---------------------------------------------------------------------------
    def _require_labels(self) -> None:
        if self.labels is None:
            raise ValueError(f"{self!r} has no class labels; build the mixture with labels=... to condition on them")

    def _check_label(self, label: int) -> None:
        self._require_labels()
        if label not in self.classes:
            raise ValueError(f"unknown class {label!r}; this mixture's classes are {self.classes} "
                             f"({self.null_label} = no label)")

    def sub_mixture(self, label: int) -> "GaussianMixture":
        """p(x | y = label): the components labelled ``label``, their weights renormalised."""
        self._check_label(label)
        keep = self.labels == label
        return GaussianMixture(self.weights[keep], self.means[keep], self.covariances[keep], self.labels[keep])

    def class_probs(self, x_t, a=1.0, s=0.0) -> torch.Tensor:
        """p(y | x_t) for y in ``classes``: [batch, C], the responsibilities summed per label (Bayes' rule on the
        noised mixture: the exact, noise-aware classifier of classifier guidance)."""
        self._require_labels()
        r = self.responsibilities(x_t, a, s)
        return torch.stack([r[:, self.labels == c].sum(1) for c in self.classes], 1)

    def classifier(self, schedule):
        """The exact noise-aware classifier ``log_prob(x_t, t, y)`` = log p(y | x_t) at timesteps t of ``schedule``
        (differentiable in x_t), for :class:`diffusion.samplers.guidance.ClassifierGuided`."""
        self._require_labels()

        def log_prob(x_t, t, y):
            ab = _per_sample(schedule.alpha_bar_at(t), len(x_t))
            log_joint = self._components(_as_batch(x_t, self.dim), ab.sqrt(), (1 - ab).sqrt())[1]   # [n, K]
            mine = torch.where(self.labels[None, :] == torch.as_tensor(y).reshape(-1, 1), log_joint, -math.inf)
            return torch.logsumexp(mine, 1) - torch.logsumexp(log_joint, 1)
        return log_prob

    def posterior_mean_given(self, x_t, a, s, y=None):
        """E[x_0 | x_t, y] per sample: the sub-mixture of its label's posterior mean (y None or the null label:
        the whole mixture's)."""
        if y is None:
            return self.posterior_mean(x_t, a, s)
        x = _as_batch(x_t, self.dim)
        y = torch.as_tensor(y).long().reshape(-1)
        if len(y) != len(x):
            raise ValueError(f"y must hold one label per sample ({len(x)}), got {len(y)}")
        a, s = _per_sample(a, len(x)), _per_sample(s, len(x))
        out = torch.empty_like(x)
        for label in y.unique().tolist():
            rows = y == label
            part = self if label == self.null_label else self.sub_mixture(label)
            out[rows] = part.posterior_mean(x[rows], a[rows], s[rows])
        return out

    # --- moments, transforms, sampling ---------------------------------------------------------------------
    def mean(self) -> torch.Tensor:
        return self.weights @ self.means

    def covariance(self) -> torch.Tensor:
        """Total covariance: sum_k w_k (Sigma_k + mu_k mu_k^T) - m m^T."""
        m = self.mean()
        second = (self.weights[:, None, None] * (self.covariances + self.means[:, :, None] * self.means[:, None, :]))
        return second.sum(0) - torch.outer(m, m)

    def affine(self, scale, shift) -> "GaussianMixture":
        """The mixture of scale * x + shift (scale: float or [d], a diagonal map)."""
        c = torch.as_tensor(scale, dtype=torch.float64).expand(self.dim)
        b = torch.as_tensor(shift, dtype=torch.float64).expand(self.dim)
        return GaussianMixture(self.weights, self.means * c + b, self.covariances * c[:, None] * c[None, :],
                               self.labels)

    def sample(self, n: int, generator: torch.Generator | None = None, dtype=torch.float32,
               return_labels: bool = False):
        """n draws: a component by weight, then mean + chol(Sigma) z. ``return_labels``: (draws, their class labels
        [n]) of a labelled mixture -- the same draws as without it."""
        if return_labels:
            self._require_labels()
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        chol = torch.linalg.cholesky(self.covariances)
        x = (self.means[k] + (chol[k] @ z[:, :, None])[:, :, 0]).to(dtype)
        return (x, self.labels[k]) if return_labels else x

    def responsibilities(self, x_t, a=1.0, s=0.0) -> torch.Tensor:
        """p(component k | x_t): [batch, K]."""
        return self._components(_as_batch(x_t, self.dim), a, s)[0]

    # --- exact noised quantities ---------------------------------------------------------------------------
    def _components(self, x, a, s):
        """Responsibilities [n, K], per-component log-density [n, K] and C_k^{-1}(x - a mu_k) [n, K, d]."""
        n = len(x)
        a, s = _per_sample(a, n)[:, None, None, None], _per_sample(s, n)[:, None, None, None]
        if bool((a == a[0]).all() and (s == s[0]).all()):
            a, s = a[:1], s[:1]                                          # one noise level: K matrices, not n * K
        eye = torch.eye(self.dim, dtype=torch.float64)
        cov = a**2 * self.covariances + s**2 * eye                       # [n or 1, K, d, d]: a^2 Sigma_k + s^2 I
        diff = x[:, None, :] - a[..., 0] * self.means                     # [n, K, d]
        chol = torch.linalg.cholesky(cov)
        inv = torch.cholesky_inverse(chol)                               # C_k^{-1}, d <= 2: explicit is fine
        sol = _matvec(inv, diff)                                          # C_k^{-1} (x - a mu_k): [n, K, d]
        logdet = 2 * torch.diagonal(chol, dim1=-2, dim2=-1).log().sum(-1)
        log_n = -0.5 * ((diff * sol).sum(-1) + logdet + self.dim * math.log(2 * math.pi))
        log_joint = log_n + self.weights.log()
        return torch.softmax(log_joint, dim=1), log_joint, sol

    def posterior_mean(self, x_t, a, s):
        """E[x_0 | x_t] = sum_k r_k (mu_k + a Sigma_k C_k^{-1} (x_t - a mu_k))   (Bishop 2006, eq. 2.81)."""
        x = _as_batch(x_t, self.dim)
        r, _, sol = self._components(x, a, s)
        a = _per_sample(a, len(x))[:, None, None]
        m_k = self.means + a * _matvec(self.covariances[None], sol)       # [n, K, d]
        return (r[..., None] * m_k).sum(1)

    def log_prob_noised(self, x, a, s):
        return torch.logsumexp(self._components(_as_batch(x, self.dim), a, s)[1], dim=1)


class MemorisingDenoiser(_ExactDenoiser):
    """The optimal denoiser of the empirical distribution of ``points`` [N, d] (it memorises them).

    E[x_0 | x_t] = sum_i softmax_i(-|x_t - a y_i|^2 / (2 s^2)) y_i: a softmax-weighted average of the points,
    which tends to the nearest point as the noise vanishes. Computed in float64, in chunks of the batch.
    """

    def __init__(self, points):
        y = torch.as_tensor(points, dtype=torch.float64)
        y = y[:, None] if y.ndim == 1 else y
        if y.ndim != 2 or y.shape[1] not in (1, 2) or len(y) < 1:
            raise ValueError(f"points must have shape [N, d] with N >= 1 and d in (1, 2), got {tuple(y.shape)}")
        if not torch.isfinite(y).all():
            raise ValueError("points must be finite (found NaN or inf)")
        self.points, self.dim = y, y.shape[1]
        self._sq_norms = (y * y).sum(1)[None]                           # |y_i|^2: [1, N]

    def __repr__(self):
        return f"MemorisingDenoiser(N={len(self.points)}, dim={self.dim})"

    def _logits(self, x, a, s):
        """-|x - a y_i|^2 / (2 s^2): [n, N], expanded as |x|^2 - 2 a x.y_i + a^2 |y_i|^2 (one matmul)."""
        d2 = (x * x).sum(1, keepdim=True) - 2 * a[:, None] * (x @ self.points.T) + a[:, None] ** 2 * self._sq_norms
        return -d2.clamp(min=0) / (2 * s[:, None] ** 2)

    def _chunks(self, x, a, s):
        step = max(1, 2_000_000 // len(self.points))
        for i in range(0, len(x), step):
            yield x[i:i + step], a[i:i + step], s[i:i + step]

    def posterior_mean(self, x_t, a, s):
        x = _as_batch(x_t, self.dim)
        a, s = _per_sample(a, len(x)), _per_sample(s, len(x))
        out = [torch.softmax(self._logits(*c), dim=1) @ self.points for c in self._chunks(x, a, s)]
        return torch.cat(out) if out else x.clone()

    def log_prob_noised(self, x, a, s):
        """log (1/N) sum_i N(x; a y_i, s^2 I)."""
        x = _as_batch(x, self.dim)
        a, s = _per_sample(a, len(x)), _per_sample(s, len(x))
        const = -math.log(len(self.points)) - self.dim * (s.log() + 0.5 * math.log(2 * math.pi))
        out = [torch.logsumexp(self._logits(*c), dim=1) for c in self._chunks(x, a, s)]
        return torch.cat(out) + const
