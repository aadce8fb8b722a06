"""Exact posteriors of a Gaussian-mixture prior given a linear measurement: the answer an editing method
approximates.

With x_0 ~ sum_k w_k N(mu_k, Sigma_k) and y = A x_0 + sigma_y n (n ~ N(0, I)), Bayes' rule keeps everything
Gaussian per component (Bishop 2006, §2.3.3; the Kalman update):

    S_k   = A Sigma_k A^T + sigma_y^2 I            (the covariance of y under component k)
    K_k   = Sigma_k A^T S_k^{-1}                    (the gain)
    mu_k' = mu_k + K_k (y - A mu_k),   Sigma_k' = Sigma_k - K_k A Sigma_k
    w_k'  proportional to  w_k N(y; A mu_k, S_k)

so p(x_0 | y) is again a mixture. It covers the three observations of the lab: a known coordinate (A a row of the
identity, sigma_y = 0), a noisy linear measurement (A = a^T), and a noisy copy (A = I, sigma_y = s). With
sigma_y = 0 the posterior lives on the line A x = y: the covariances are singular (rank d - m), sampling still works
(a square root by eigen-decomposition), and :meth:`MixturePosterior.log_prob` is the density along that line.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .exact import GaussianMixture

__all__ = ["MixturePosterior", "mixture_posterior"]


@dataclass
class MixturePosterior:
    """sum_k weights[k] N(means[k], covariances[k]) with covariances that may be singular (all with the same null
    space, the measured directions when sigma_y = 0). float64."""

    weights: torch.Tensor        # [K]
    means: torch.Tensor          # [K, d]
    covariances: torch.Tensor    # [K, d, d], symmetric positive semi-definite

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def mean(self) -> torch.Tensor:
        return self.weights @ self.means

    def covariance(self) -> torch.Tensor:
        m = self.mean()
        second = self.weights[:, None, None] * (self.covariances + self.means[:, :, None] * self.means[:, None, :])
        return second.sum(0) - torch.outer(m, m)

    def _roots(self):
        """(symmetric square roots [K, d, d], pseudo-inverses [K, d, d], log pseudo-determinants [K], ranks [K])."""
        vals, vecs = torch.linalg.eigh(self.covariances)
        tol = 1e-12 * vals.abs().amax(-1, keepdim=True).clamp(min=1e-300)
        keep = vals > tol
        vals = torch.where(keep, vals, torch.zeros_like(vals))
        root = vecs @ torch.diag_embed(vals.sqrt()) @ vecs.transpose(1, 2)
        inv = vecs @ torch.diag_embed(torch.where(keep, 1 / vals.clamp(min=1e-300), torch.zeros_like(vals))) \
            @ vecs.transpose(1, 2)
        logdet = torch.where(keep, vals.clamp(min=1e-300).log(), torch.zeros_like(vals)).sum(-1)
        return root, inv, logdet, keep.sum(-1)

    def sample(self, n: int, generator: torch.Generator | None = None, dtype=torch.float32) -> torch.Tensor:
        """n draws [n, d]: a component by weight, then mean + Sigma^{1/2} z."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a whole number >= 1, got {n!r}")
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        root = self._roots()[0]
        return (self.means[k] + (root[k] @ z[:, :, None])[:, :, 0]).to(dtype)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log density [n] of points x [n, d] on the posterior's support (with respect to length along the line
        when the measurement was exact); a point off the support gets the density of its projection onto it."""
        x = torch.as_tensor(x, dtype=torch.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape [n, {self.dim}], got {tuple(x.shape)}")
        _, inv, logdet, rank = self._roots()
        diff = x[:, None, :] - self.means[None]                               # [n, K, d]
        maha = torch.einsum("nki,kij,nkj->nk", diff, inv, diff)
        log_n = -0.5 * (maha + logdet + rank * math.log(2 * math.pi))
        return torch.logsumexp(log_n + self.weights.log(), dim=1)


def mixture_posterior(prior: GaussianMixture, A, y, sigma_y: float = 0.0) -> MixturePosterior:
    """p(x_0 | y) for the prior mixture, y = A x_0 + sigma_y n: A [m, d] (or [d] for one measurement), y [m]."""
    if not isinstance(prior, GaussianMixture):
        raise ValueError(f"the prior must be a GaussianMixture, got {type(prior).__name__}")
    d = prior.dim
    A = torch.as_tensor(A, dtype=torch.float64)
    A = A[None] if A.ndim == 1 else A
    y = torch.as_tensor(y, dtype=torch.float64).reshape(-1)
    if A.ndim != 2 or A.shape[1] != d or len(y) != A.shape[0] or not torch.isfinite(A).all() \
            or not torch.isfinite(y).all():
        raise ValueError(f"A must be a finite [m, {d}] matrix and y a finite vector of its m rows; got A "
                         f"{tuple(A.shape)}, y {tuple(y.shape)}")
    if isinstance(sigma_y, bool) or not isinstance(sigma_y, (int, float)) or not math.isfinite(sigma_y) or sigma_y < 0:
        raise ValueError(f"sigma_y must be a finite number >= 0, got {sigma_y!r}")
    m = len(y)
    if torch.linalg.matrix_rank(A) < m:
        raise ValueError(f"A must have full row rank (its {m} measurements independent), got {A.tolist()}")
    Sigma, mu = prior.covariances, prior.means                              # [K, d, d], [K, d]
    S = A @ Sigma @ A.T + sigma_y**2 * torch.eye(m, dtype=torch.float64)   # [K, m, m]
    gain = Sigma @ A.T @ torch.linalg.inv(S)                                # [K, d, m]
    resid = y - mu @ A.T                                                    # [K, m]
    means = mu + (gain @ resid[..., None])[..., 0]
    covs = Sigma - gain @ A @ Sigma
    covs = 0.5 * (covs + covs.transpose(1, 2))                              # symmetric to the last bit
    chol = torch.linalg.cholesky(S)
    sol = torch.cholesky_solve(resid[..., None], chol)[..., 0]
    log_lik = -0.5 * ((resid * sol).sum(-1) + 2 * torch.diagonal(chol, dim1=-2, dim2=-1).log().sum(-1)
                      + m * math.log(2 * math.pi))
    weights = torch.softmax(prior.weights.log() + log_lik, 0)
    return MixturePosterior(weights, means, covs)
