"""Smooth ECE (Błasiok & Nakkiran, 2023) and its smoothed reliability curve, as ``relplot`` 1.0.3 computes them,
vectorised over bootstrap resamples.

Why our own copy: ``relplot.smECE`` takes ~50 ms per call (a direct convolution, eleven times per bandwidth
search), so 1000 bootstrap resamples of ten channels would take minutes. This module runs the same algorithm
on many resamples at once: resamples of one sample share its distinct values, and smoothing is linear, so one
smoother response per distinct value serves every resample (FFT convolution otherwise);
``tests/analyses/test_smooth_ece.py`` checks it against ``relplot`` to 1e-6.

The algorithm (relplot's defaults: reflected Gaussian kernel, no logit scaling):

- A kernel smoother at bandwidth sigma splats each weight linearly onto a grid of
  ``P = max(2000, round(20 / sigma)) // 2 + 1`` points on [0, 1], reflects the grid at both ends,
  convolves it with a Gaussian of standard deviation sigma and interpolates linearly at the mesh.
- smECE_sigma = sum_t |r(t)| d(t) / sum_t d(t) on a mesh of ``max(200, round(10 / sigma))`` points, where
  d is the smoothed count of predictions (+ 1e-4) and r the smoothed residual ``f - y`` divided by d.
- smECE = smECE_sigma at the bandwidth where sigma = smECE_sigma(sigma), found by 10 bisection steps on
  [0, 1] (``sigma = 1`` when already ``1 < smECE_1``; steps below sigma = 0.001 count as above the fixed point).
- The reliability curve is ``t - r(t)`` at that sigma (relplot's centred kernel smoother of ``y - f``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import fft as sp_fft

DENSITY_EPS = 1e-4  # relplot's BaseKernelMixin.smooth
SIGMA_FLOOR = 0.001  # relplot's smECE eps
REFINE = 10  # relplot's search_param refinements


def _grid_size(sigma: float) -> int:
    return max(2000, round(20 / sigma)) // 2 + 1


def _interpolate(t: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """grid [B, P] of values at i / (P - 1), linearly interpolated at t [m] -> [B, m]."""
    size = grid.shape[-1]
    step = 1 / (size - 1)
    inds = (t * (size - 1)).astype(int).clip(0, size - 2)
    residual = (t - inds * step) / step
    return grid[:, inds] * (1 - residual) + grid[:, inds + 1] * residual


def _splat(f: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """weights [B, n] at f [B, n], shared linearly between the two nearest of ``size`` grid points -> [B, size]."""
    rows = f.shape[0]
    pos = f * (size - 1)
    bins = pos.astype(int).clip(0, size - 2)
    frac = pos - bins
    flat = (np.arange(rows)[:, None] * size + bins).ravel()
    return (np.bincount(flat, ((1 - frac) * weights).ravel(), minlength=rows * size)
            + np.bincount(flat + 1, (frac * weights).ravel(), minlength=rows * size)).reshape(rows, size)


@lru_cache(maxsize=256)
def _kernel_spectrum(sigma: float, size: int, length: int) -> np.ndarray:
    """rfft of relplot's Gaussian kernel (sampled on the grid, centred at 0.5, not renormalised), zero-padded."""
    t = np.linspace(0, 1, size)
    kernel = np.exp(-(t - 0.5) ** 2 / (2 * sigma ** 2)) / (np.sqrt(2 * np.pi) * sigma)
    return sp_fft.rfft(kernel, length)


def _convolve(grid: np.ndarray, sigma: float) -> np.ndarray:
    """grid [B, P] reflected at both ends and convolved with the Gaussian of width sigma -> [B, P]: relplot's
    ``np.convolve(extended, kernel, "valid")[P // 2: P // 2 + P]``, as a circular FFT convolution just long
    enough (> 2.5 P) that no wrapped term reaches the kept slice."""
    size = grid.shape[-1]
    flipped = grid[:, ::-1]
    extended = np.concatenate([flipped[:, :-1], grid, flipped[:, 1:]], axis=1)  # [B, 3P - 2]
    start = size - 1 + size // 2  # the kept slice in full-convolution indices
    length = sp_fft.next_fast_len(max(3 * size - 2, 2 * size - 1 + size // 2) + 1, real=True)
    full = sp_fft.irfft(sp_fft.rfft(extended, length, axis=-1) * _kernel_spectrum(sigma, size, length), length, axis=-1)
    return full[:, start:start + size]


def _smooth(f: np.ndarray, weights: np.ndarray, sigma: float, points: int) -> np.ndarray:
    """Reflected-Gaussian smoothing of weights [B, n] at f [B, n], evaluated on ``points`` mesh points -> [B, m]."""
    grid = _splat(f, weights, _grid_size(sigma))
    return _interpolate(np.linspace(0, 1, points), _convolve(grid, sigma))


def _response(support: np.ndarray, sigma: float, points: int) -> np.ndarray:
    """[u, points] what ``_smooth`` gives for a unit weight at each support point, summed term by term.

    The same sum as splat -> reflect -> convolve -> interpolate, written out: a point at grid position
    b + frac feeds grid points b and b + 1; grid point g sits at positions P - 1 - g, P - 1 + g and
    3P - 3 - g of the reflected grid; kept output j reads the kernel at offset (position - j - P // 2); the
    mesh interpolates outputs ind and ind + 1.
    """
    size = _grid_size(sigma)
    pos = support * (size - 1)
    lower = pos.astype(int).clip(0, size - 2)
    frac = pos - lower
    g = np.stack([lower, lower + 1], axis=1)  # [u, 2]
    g_weight = np.stack([1 - frac, frac], axis=1)
    mesh = np.linspace(0, 1, points)
    step = 1 / (size - 1)
    ind = (mesh * (size - 1)).astype(int).clip(0, size - 2)
    res = (mesh - ind * step) / step
    j = np.stack([ind, ind + 1], axis=1)  # [m, 2]
    j_weight = np.stack([1 - res, res], axis=1)
    total = np.zeros((len(support), points))
    for position, exists in ((size - 1 - g, g >= 1), (size - 1 + g, np.ones_like(g, dtype=bool)),
                             (3 * size - 3 - g, g <= size - 2)):
        offset = position[:, :, None, None] - j[None, None] - size // 2  # [u, 2, m, 2]
        inside = (offset >= 0) & (offset <= size - 1) & exists[:, :, None, None]
        x = np.linspace(0, 1, size)[offset.clip(0, size - 1)] - 0.5
        kernel = np.where(inside, np.exp(-x ** 2 / (2 * sigma ** 2)) / (np.sqrt(2 * np.pi) * sigma), 0.0)
        total += np.einsum("ug,ugmj,mj->um", g_weight, kernel, j_weight)
    return total


def _residual_and_density(support: np.ndarray, counts: np.ndarray, residuals: np.ndarray, sigma: float,
                          points: int) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed residual and density [B, points] of rows given as weights on shared support points [u]:
    counts [B, u] (examples at each point) and residuals [B, u] (their summed f - y).

    Smoothing is linear in the weights, so with few support points (bootstrap resamples of one sample, or a
    confidence on a coarse grid) one smoother response per point [u, points] serves every row; otherwise
    each row is smoothed on its own.
    """
    rows, u = counts.shape
    weights = np.concatenate([counts, residuals])  # [2B, u]
    if u <= 2 * rows:
        both = weights @ _response(support, sigma, points)  # [2B, u] @ [u, points]
    else:
        both = _smooth(np.broadcast_to(support, weights.shape), weights, sigma, points)
    density = both[:rows] + DENSITY_EPS
    return both[rows:] / density, density


def _on_support(f: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(support [u] = the distinct values of f [B, n], counts [B, u], summed residuals f - y [B, u])."""
    support, inverse = np.unique(f, return_inverse=True)
    rows, u = f.shape[0], len(support)
    flat = (np.arange(rows)[:, None] * u + inverse.reshape(f.shape)).ravel()
    counts = np.bincount(flat, minlength=rows * u).reshape(rows, u).astype(float)
    residuals = np.bincount(flat, (f - y).ravel(), minlength=rows * u).reshape(rows, u)
    return support, counts, residuals


def smece_at(f: np.ndarray, y: np.ndarray, sigma: float) -> np.ndarray:
    """smECE at a fixed bandwidth for each row of f, y [B, n] -> [B]."""
    return _smece_on_support(*_on_support(np.asarray(f, dtype=float), np.asarray(y, dtype=float)), sigma)


def _smece_on_support(support, counts, residuals, sigma: float) -> np.ndarray:
    residual, density = _residual_and_density(support, counts, residuals, sigma, max(round(10 / sigma), 200))
    return np.sum(np.abs(residual) * density, axis=-1) / np.sum(density, axis=-1)


def smece_rows(f: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(smECE [B], its bandwidth sigma [B]) of each row of predictions f [B, n] in [0, 1] and outcomes y [B, n]."""
    support, counts, residuals = _on_support(np.atleast_2d(np.asarray(f, dtype=float)),
                                             np.atleast_2d(np.asarray(y, dtype=float)))
    value = _smece_on_support(support, counts, residuals, 1.0)
    start, end = np.ones(len(counts)), np.zeros(len(counts))
    searching = ~(1.0 < value)  # rows whose fixed point lies below sigma = 1
    for _ in range(REFINE):
        mid = (start + end) / 2
        above = searching & (mid < SIGMA_FLOOR)  # sigma too small to compute: treated as above the fixed point
        for sigma in np.unique(mid[searching & ~above]):
            rows = np.flatnonzero(searching & (mid == sigma))
            here = _smece_on_support(support, counts[rows], residuals[rows], float(sigma))
            below = ~(sigma < here)
            value[rows[below]] = here[below]
            above[rows[~below]] = True
        end = np.where(above, mid, end)
        start = np.where(searching & ~above, mid, start)
    return value, start


def smece(confidence, correct) -> float:
    """Smooth ECE of one confidence vector against 0/1 correctness (relplot's ``smECE``), in [0, 1]."""
    value, _ = smece_rows(np.asarray(confidence, dtype=float)[None], np.asarray(correct, dtype=float)[None])
    return float(value[0])


def smooth_curve(confidence, correct, points: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(mesh [points] on [0, 1], smoothed accuracy, density of the confidences, sigma) at smECE's own bandwidth:
    relplot's centred kernel smoother (E[y | f] as f - r(f)) and the reflected-kernel density, integrating to 1."""
    f = np.asarray(confidence, dtype=float)[None]
    y = np.asarray(correct, dtype=float)[None]
    _, sigma = smece_rows(f, y)
    sigma = float(sigma[0])
    mesh = np.linspace(0, 1, points)
    residual, density = _residual_and_density(*_on_support(f, y), sigma, points)
    density = np.maximum(density[0] - DENSITY_EPS, 0.0)  # float dust below 0 where no data are
    return mesh, mesh - residual[0], density / np.trapezoid(density, mesh), sigma
