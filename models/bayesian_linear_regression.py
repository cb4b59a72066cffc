"""Bayesian linear regression on fixed basis functions (Bishop, PRML 3.3 and 3.5).

Model: ``y = phi(x)^T w + eps`` with prior ``w ~ N(0, alpha^-1 I)`` and noise ``eps ~ N(0, beta^-1)``.
Posterior ``w ~ N(m, S)`` with ``S^-1 = A = alpha I + beta Phi^T Phi`` and ``m = beta S Phi^T y``.
Predictive distribution at ``phi``: mean ``phi^T m``, variance ``1/beta + phi^T S phi`` (the noise
term included), so :meth:`BayesianLinearRegression.predict` returns the predictive *standard
deviation* ``sqrt(1/beta + phi^T S phi)``.

``alpha`` and ``beta`` are either fixed or set by maximising the log marginal likelihood (the
evidence, PRML eq. 3.86). Everything is computed from one eigendecomposition of ``Phi^T Phi``, so
each evidence evaluation costs O(D) and the optimisation is deterministic (fixed start point).
"""
from __future__ import annotations

import numpy as np
from scipy import optimize

LOG_BOUNDS = (-10.0, 10.0)  # bounds on log alpha and log beta during evidence maximisation


class BayesianLinearRegression:
    """Bayesian linear regression with evidence-tuned (or fixed) precisions.

    Args:
        alpha: prior precision of the weights (start point when ``optimize`` is true).
        beta: noise precision (start point when ``optimize`` is true).
        optimize: maximise the log marginal likelihood over (log alpha, log beta).
    """

    def __init__(self, alpha: float = 1.0, beta: float = 1000.0, optimize: bool = True):
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.optimize = optimize
        self.mean_w: np.ndarray | None = None
        self.cov_w: np.ndarray | None = None

    # ---- evidence -------------------------------------------------------------------------
    def _spectrum(self, phi: np.ndarray, y: np.ndarray) -> None:
        gram = phi.T @ phi
        self._eigvals, self._eigvecs = np.linalg.eigh(gram)
        self._eigvals = np.clip(self._eigvals, 0.0, None)
        self._proj = self._eigvecs.T @ (phi.T @ y)  # Phi^T y in the eigenbasis
        self._yy = float(y @ y)
        self._n, self._d = phi.shape

    def log_evidence(self, log_alpha: float, log_beta: float) -> float:
        """ln p(y | alpha, beta) for the data passed to the last :meth:`fit` (PRML eq. 3.86)."""
        alpha, beta = np.exp(log_alpha), np.exp(log_beta)
        a_eig = beta * self._eigvals + alpha  # eigenvalues of A
        coef = beta * self._proj / a_eig  # posterior mean m in the eigenbasis
        fit = self._yy - 2.0 * beta * np.sum(self._proj ** 2 / a_eig) + np.sum(self._eigvals * coef ** 2)
        energy = 0.5 * beta * max(fit, 0.0) + 0.5 * alpha * np.sum(coef ** 2)
        return float(0.5 * self._d * log_alpha + 0.5 * self._n * log_beta - energy
                     - 0.5 * np.sum(np.log(a_eig)) - 0.5 * self._n * np.log(2.0 * np.pi))

    # ---- fit / predict --------------------------------------------------------------------
    def fit(self, phi: np.ndarray, y: np.ndarray) -> "BayesianLinearRegression":
        """phi: (N, D) basis-function values; y: (N,) targets."""
        phi = np.asarray(phi, dtype=float)
        y = np.asarray(y, dtype=float)
        self._spectrum(phi, y)
        if self.optimize:
            start = np.log([self.alpha, self.beta])
            result = optimize.minimize(lambda t: -self.log_evidence(*t), start, method="L-BFGS-B",
                                       bounds=[LOG_BOUNDS, LOG_BOUNDS])
            self.alpha, self.beta = (float(v) for v in np.exp(result.x))
        a_eig = self.beta * self._eigvals + self.alpha
        self.cov_w = (self._eigvecs / a_eig) @ self._eigvecs.T
        self.mean_w = self._eigvecs @ (self.beta * self._proj / a_eig)
        return self

    def predict(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """phi: (M, D) -> predictive mean (M,) and predictive std (M,), noise included."""
        phi = np.asarray(phi, dtype=float)
        mean = phi @ self.mean_w
        var = 1.0 / self.beta + np.sum((phi @ self.cov_w) * phi, axis=1)
        return mean, np.sqrt(np.maximum(var, 0.0))
