"""Smooth ECE (Błasiok & Nakkiran, 2023) and its smoothed reliability curve, as ``relplot`` 1.0.3 computes them,
vectorised over bootstrap resamples.

Why our own copy: ``relplot.smECE`` takes ~50 ms per call (a direct convolution, eleven times per bandwidth
search), so 1000 bootstrap resamples of ten channels would take minutes. This module runs the same algorithm
with FFT convolutions on many resamples at once; ``tests/analyses/test_smooth_ece.py`` checks it against
``relplot`` to 1e-6.

The algorithm (relplot's defaults: reflected Gaussian kernel, no logit scaling):

- A kernel smoother at bandwidth sigma splats each weight linearly onto a grid of
  ``P = max(2000, round(20 / sigma)) // 2 + 1`` points on [0, 1], reflects the grid at both ends,
  convolves it with a Gaussian of standard deviation sigma and interpolates linearly at the mesh.
- smECE_sigma = sum_t |r(t)| d(t) / sum_t d(t) on a mesh of ``max(200, round(10 / sigma))`` points, where
  d is the smoothed count of predictions (+ 1e-4) and r the smoothed residual ``f - y`` divided by d.
- smECE = smECE_sigma at the bandwidth where sigma = smECE_sigma(sigma), found by 10 bisection steps on
  [0, 1] (``sigma = 1`` when already ``1 < smECE_1``; steps below sigma = 0.001 count as above the fixed point).
- The reliability curve is ``f + r(f)`` at that sigma (relplot's centred kernel smoother).
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
    """grid [B, P] reflected at both ends and convolved with the Gaussian of width sigma -> [B, P].

    relplot's ``np.convolve(extended, kernel, "valid")[P // 2: P // 2 + P]``, as a circular FFT convolution just
    long enough (> 2.5 P) that no wrapped term reaches the kept slice.
    """
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


def _residual_and_density(f: np.ndarray, y: np.ndarray, sigma: float, points: int):
    both = _smooth(np.concatenate([f, f]), np.concatenate([np.ones_like(f), f - y]), sigma, points)
    density = both[:len(f)] + DENSITY_EPS
    return both[len(f):] / density, density


def smece_at(f: np.ndarray, y: np.ndarray, sigma: float) -> np.ndarray:
    """smECE at a fixed bandwidth for each row of f, y [B, n] -> [B]."""
    residual, density = _residual_and_density(f, y, sigma, max(round(10 / sigma), 200))
    return np.sum(np.abs(residual) * density, axis=-1) / np.sum(density, axis=-1)


def smece_rows(f: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(smECE [B], its bandwidth sigma [B]) of each row of predictions f [B, n] in [0, 1] and outcomes y [B, n]."""
    f, y = np.asarray(f, dtype=float), np.asarray(y, dtype=float)
    value = smece_at(f, y, 1.0)
    start, end = np.ones(len(f)), np.zeros(len(f))
    searching = ~(1.0 < value)  # rows whose fixed point lies below sigma = 1
    for _ in range(REFINE):
        mid = (start + end) / 2
        above = searching & (mid < SIGMA_FLOOR)  # sigma too small to compute: treated as above the fixed point
        for sigma in np.unique(mid[searching & ~above]):
            rows = np.flatnonzero(searching & (mid == sigma))
            here = smece_at(f[rows], y[rows], float(sigma))
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
    """(mesh [points] on [0, 1], smoothed accuracy, density of the confidences, sigma) at smECE's own bandwidth.

    The curve is relplot's centred kernel smoother (E[y | f] estimated as f - r(f)); the density is the
    reflected-kernel density of the confidences, normalised to integrate to 1 over [0, 1].
    """
    f = np.asarray(confidence, dtype=float)[None]
    y = np.asarray(correct, dtype=float)[None]
    _, sigma = smece_rows(f, y)
    sigma = float(sigma[0])
    mesh = np.linspace(0, 1, points)
    residual, density = _residual_and_density(f, y, sigma, points)
    density = density[0] - DENSITY_EPS
    return mesh, mesh - residual[0], density / np.trapezoid(density, mesh), sigma
