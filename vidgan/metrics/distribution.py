"""Distances between sets of features: FID / FVD (Fréchet), KID (polynomial MMD) and IS.

Features are ``(N, D)`` arrays from a feature network (:mod:`vidgan.metrics.features`):
Inception-v3 pool features of frames for FID and KID, I3D features of clips for FVD.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import scipy.special


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and covariance ``(D, D)`` (float64) of features ``(N, D)``, N >= 2."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"statistics need features (N, D) with N >= 2, got {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Fréchet distance of two Gaussians, ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``.

    The square root is ``scipy.linalg.sqrtm``; if it is not finite or has a notable imaginary
    part (near-singular covariances, fewer samples than dimensions) it is retried with
    ``eps`` added to both diagonals, and the negligible imaginary part is dropped.
    """
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"shapes differ: mu {mu1.shape} {mu2.shape}, sigma {sigma1.shape} {sigma2.shape}")
    with warnings.catch_warnings():  # singular products are expected (N < D) and checked below
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(sigma1 @ sigma2)
        if not _usable(root):
            offset = np.eye(len(mu1)) * eps
            root = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if not _usable(root):
        raise ValueError("the covariance product has no usable square root (imaginary or not finite)")
    difference = mu1 - mu2
    return float(difference @ difference + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(root.real))


def _usable(root: np.ndarray) -> bool:
    return bool(np.isfinite(root).all() and np.allclose(np.diagonal(root).imag, 0, atol=1e-3))


def fid(real_features: np.ndarray, fake_features: np.ndarray) -> float:
    """Fréchet distance between the Gaussians fitted to two feature sets ``(N, D)`` and ``(M, D)``
    (Heusel et al. 2017): FID on Inception features of frames, FVD (Unterthiner et al. 2018)
    on I3D features of clips."""
    return frechet_distance(*feature_statistics(real_features), *feature_statistics(fake_features))


#: FVD is the Fréchet distance of video features (see :func:`fid`).
fvd = fid


def kid(
    real_features: np.ndarray,
    fake_features: np.ndarray,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception distance (Bińkowski et al. 2018): mean and standard deviation, over
    ``subsets`` random subsets of ``min(subset_size, N, M)`` features of each side, of the
    unbiased MMD^2 with the kernel ``k(x, y) = (x . y / D + 1)^3``. About 0 for one distribution."""
    x, y = np.asarray(real_features, np.float64), np.asarray(fake_features, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"features must be (N, D) and (M, D), got {x.shape} and {y.shape}")
    size = min(subset_size, len(x), len(y))
    if size < 2:
        raise ValueError(f"KID needs at least 2 features on each side, got {len(x)} and {len(y)}")
    rng = np.random.default_rng(seed)
    values = [
        _polynomial_mmd2(x[rng.choice(len(x), size, replace=False)], y[rng.choice(len(y), size, replace=False)])
        for _ in range(subsets)
    ]
    return float(np.mean(values)), float(np.std(values))


def _polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 of two equal-size samples ``(m, D)`` under the cubic polynomial kernel."""
    dimension, m = x.shape[1], len(x)
    k_xx, k_yy, k_xy = ((a @ b.T / dimension + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.mean())


def inception_score(probabilities: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """Inception score (Salimans et al. 2016) of class probabilities ``(N, C)`` (rows sum to 1,
    e.g. the softmax of Inception logits): mean and standard deviation over ``splits`` parts of
    ``exp(mean KL(p(y|x) || p(y)))``. 1 for uniform predictions; C for confident predictions
    spread evenly over the C classes."""
    p = np.asarray(probabilities, np.float64)
    if p.ndim != 2 or (p < 0).any() or not np.allclose(p.sum(axis=1), 1, atol=1e-4):
        raise ValueError(f"probabilities must be (N, C) rows summing to 1, got shape {p.shape}")
    scores = []
    for part in np.array_split(p, min(splits, len(p))):
        divergence = scipy.special.rel_entr(part, part.mean(axis=0, keepdims=True)).sum(axis=1)
        scores.append(np.exp(divergence.mean()))
    return float(np.mean(scores)), float(np.std(scores))
