"""Temporal smoothing of keypoint tracks: one :class:`Smoother` for every filter.

Filters (``FILTERS``), parameters and their defaults:

- ``one_euro``: One Euro filter (Casiez et al. 2012), online. ``min_cutoff`` (Hz), ``beta``
  (Hz per pixel/s of speed), ``d_cutoff`` (Hz, of the speed estimate). Uses the track's fps.
- ``savgol``: Savitzky-Golay, a local polynomial least-squares fit. ``window`` (odd, frames),
  ``polyorder``. With equal confidences it equals ``scipy.signal.savgol_filter`` away from the
  ends; at the ends the window is cut (the fit uses the frames that exist).
- ``gaussian``: Gaussian kernel of ``sigma`` frames, cut at 3 sigma, as a local linear
  fit: inside the track it equals ``scipy.ndimage.gaussian_filter1d``; at the ends and beside
  missing or low-confidence frames it keeps the local trend instead of bending towards it.
- ``median``: running median of ``window`` frames (as Everybody Dance Now smooths poses).
- ``kalman``: constant-velocity Kalman filter forward, then a Rauch-Tung-Striebel smoother
  backward. ``process_noise`` (std of the random acceleration, pixels/frame^2),
  ``measurement_noise`` (std of a confidence-1 detection, pixels); the smoothing depends only on
  their ratio.

Every filter works on rows as consecutive frames at the track's fps, vectorised over keypoints
and x, y; only the recursive filters (one_euro, kalman) loop over time.

Confidence: a point counts in proportion to its confidence. Window filters weight their fits
and medians by it; the Kalman measurement variance is ``measurement_noise**2 / confidence``; the
One Euro smoothing factor is multiplied by it. A missing point (NaN, confidence 0) is never used
as a measurement.

Gaps: a run of at most ``max_gap`` missing frames between two detections of a point is first
filled by linear interpolation, with confidence ``GAP_CONFIDENCE`` times the lower of the two
bounding confidences, then smoothed like the rest; the output keeps that reduced confidence.
Longer gaps, and missing runs at the start or end of a track, stay missing (NaN, confidence 0):
nothing is invented there. The output always has the input's number of frames.

Online use: ``step(track_id, points, timestamp)`` filters one frame, with state per track id.
``one_euro`` is the same filter as offline. ``kalman`` runs its forward (causal) pass only.
``savgol``, ``gaussian`` and ``median`` use the trailing half of their window: the value at the
newest frame is the offline filter at the end of the frames seen so far. Online, a missing point
stays missing (whether its gap will be short is not known yet).

Default: ``kalman`` (process_noise=1.5, measurement_noise=1.0), chosen with
``bench/smoothing.py`` on dlib iBUG-68 keypoints of talking_head_pexels.mp4 (472 frames, all
detected, 640x360, 23.976 fps). Jitter cut (``quality.jitter``) and lag in frames
(``quality.lag``) of each filter with its default parameters, offline and online (``step``):

    filter     offline cut, lag    online cut, lag
    kalman*    76.6%  0.00         30.3%  0.08   (forward pass only)
    gaussian   76.7%  0.00         15.9%  0.02
    savgol     70.3%  0.00         11.7% -0.01
    one_euro   64.1%  0.87         64.1%  0.87
    median     46.7%  0.01         38.9%  1.00

The goal is a cut >= 60% with a lag <= 1 frame. Kalman and Gaussian cut alike and move the
points least (0.93 and 0.95 px on average); the Kalman smoother keeps more of the 2-4 Hz motion
of speech (97% and 63% of a 2 and 4 Hz sine at 24 fps, against 87% and 58%), so it is the
default. Online, ``one_euro`` is the one filter that meets the goal.
"""

from __future__ import annotations

import math
import numbers
from collections import deque

import numpy as np

from vidgan.keypoints.keypoints import Keypoints

FILTERS = ("one_euro", "savgol", "gaussian", "median", "kalman")

DEFAULT_FILTER = "kalman"

#: Default parameters of each filter (``max_gap`` and ``fps`` are common to all).
DEFAULT_PARAMS: dict[str, dict[str, float]] = {
    "one_euro": {"min_cutoff": 0.7, "beta": 0.05, "d_cutoff": 1.0},
    "savgol": {"window": 7, "polyorder": 2},
    "gaussian": {"sigma": 1.0},
    "median": {"window": 5},
    "kalman": {"process_noise": 1.5, "measurement_noise": 1.0},
}

#: Confidence of an interpolated point, relative to the lower of its two bounding detections.
GAP_CONFIDENCE = 0.5

#: Prior variance (pixels^2, pixels^2/frame^2) of a Kalman state before its first measurement.
_DIFFUSE_PRIOR = 1e8


class Smoother:
    """Temporal filter for :class:`Keypoints`, offline (``__call__``) or online (``step``).

    ``Smoother("one_euro", min_cutoff=1.0, beta=0.01, max_gap=5)``. ``max_gap``: longest run of
    missing frames that is interpolated (see the module docstring). ``fps``: frame rate of the
    online stream, used by ``step`` when no timestamp is given and to turn timestamps into
    frames; offline calls use the track's own fps.
    """

    def __init__(self, filter: str = DEFAULT_FILTER, *, max_gap: int = 5, fps: float = 25.0, **params: float):
        if filter not in FILTERS:
            raise ValueError(f"unknown filter {filter!r}; valid filters: {', '.join(FILTERS)}")
        unknown = set(params) - set(DEFAULT_PARAMS[filter])
        if unknown:
            valid = ", ".join([*DEFAULT_PARAMS[filter], "max_gap", "fps"])
            raise ValueError(f"unknown parameter(s) {', '.join(sorted(unknown))} for {filter}; valid: {valid}")
        if not _is_integer(max_gap) or max_gap < 0:
            raise ValueError(f"max_gap must be an integer >= 0, got {max_gap!r}")
        self.filter = filter
        self.params = {**DEFAULT_PARAMS[filter], **params}
        self.max_gap = max_gap
        self.fps = _positive("fps", fps)
        _check_params(filter, self.params)
        self._tracks: dict[int, _OnlineTrack] = {}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"Smoother({self.filter!r}, {params}, max_gap={self.max_gap})"

    def __call__(self, keypoints: Keypoints) -> Keypoints:
        """Smooth a whole track; ``(T, K, 3)`` in, ``(T, K, 3)`` out (see the module docstring)."""
        return keypoints.with_points(self._smooth(keypoints.points, float(keypoints.fps)))

    def step(self, track_id: int, points: np.ndarray, timestamp: float | None = None) -> np.ndarray:
        """Filter one frame ``(K, 3)`` of track ``track_id``; ``timestamp`` in seconds (default:
        one frame at ``fps`` after the track's previous one). Returns ``(K, 3)`` float32."""
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"points must be (K, 3), got {points.shape}")
        points = _mark_missing(points)
        track = self._tracks.get(track_id)
        if track is None:
            track = self._tracks[track_id] = _OnlineTrack(self, points.shape[0])
        elif track.joints != points.shape[0]:
            raise ValueError(f"track {track_id} has {track.joints} points per frame, got {points.shape[0]}")
        if timestamp is None:
            timestamp = 0.0 if track.time is None else track.time + 1.0 / self.fps
        elif track.time is not None and timestamp <= track.time:
            raise ValueError(f"track {track_id}: timestamp {timestamp} is not after {track.time}")
        xy = track.update(points, timestamp)
        track.time = timestamp
        return _assemble(xy, points).astype(np.float32)

    def reset(self, track_id: int | None = None) -> None:
        """Forget the online state of one track, or of all tracks."""
        if track_id is None:
            self._tracks.clear()
        else:
            self._tracks.pop(track_id, None)

    def _smooth(self, points: np.ndarray, fps: float) -> np.ndarray:
        """``(T, K, 3)`` -> ``(T, K, 3)`` float64: fill short gaps, filter, mask the rest."""
        filled = _fill_short_gaps(_mark_missing(np.asarray(points, dtype=np.float64)), self.max_gap)
        if filled.shape[0] == 0:
            return filled
        return _assemble(self._filter_offline(filled, fps), filled)

    def _filter_offline(self, points: np.ndarray, fps: float) -> np.ndarray:
        """``(T, K, 3)`` gap-filled points -> ``(T, K, 2)`` filtered x, y."""
        p = self.params
        if self.filter == "one_euro":
            state = _OneEuro(points.shape[1], **p)
            return np.stack([state.update(frame, index / fps) for index, frame in enumerate(points)])
        if self.filter == "kalman":
            return _kalman_rts(points, p["process_noise"], p["measurement_noise"])
        if self.filter == "median":
            return _weighted_median(points, int(p["window"]) // 2)
        offsets = np.arange(-self._half_window(), self._half_window() + 1)
        if self.filter == "savgol":
            return _local_polyfit(points, np.ones(offsets.shape), int(p["polyorder"]))
        return _local_polyfit(points, np.exp(-0.5 * (offsets / p["sigma"]) ** 2), 1)

    def _half_window(self) -> int:
        """Frames on each side of a window filter's centre (the Gaussian is cut at 3 sigma)."""
        if self.filter == "gaussian":
            return max(1, int(3 * self.params["sigma"] + 0.5))
        return int(self.params["window"]) // 2


class _OnlineTrack:
    """Online state of one track: a recursive filter, or the trailing frames of a window."""

    def __init__(self, smoother: Smoother, joints: int):
        self.smoother, self.joints, self.time = smoother, joints, None
        p = smoother.params
        if smoother.filter == "one_euro":
            self.one_euro = _OneEuro(joints, **p)
        elif smoother.filter == "kalman":
            self.kalman = _Kalman(joints, p["process_noise"], p["measurement_noise"])
        else:
            self.window: deque[np.ndarray] = deque(maxlen=smoother._half_window() + 1)

    def update(self, points: np.ndarray, timestamp: float) -> np.ndarray:
        """``(K, 3)`` at ``timestamp`` seconds -> ``(K, 2)`` filtered x, y of this frame."""
        if self.smoother.filter == "one_euro":
            return self.one_euro.update(points, timestamp)
        if self.smoother.filter == "kalman":
            self.kalman.update(points, 1.0 if self.time is None else (timestamp - self.time) * self.smoother.fps)
            return self.kalman.position
        self.window.append(points)
        return self.smoother._smooth(np.stack(self.window), self.smoother.fps)[-1, :, :2]


def smooth(keypoints: Keypoints, filter: str = DEFAULT_FILTER, **params: float) -> Keypoints:
    """Smooth a whole track: ``Smoother(filter, **params)(keypoints)``."""
    return Smoother(filter, **params)(keypoints)


# ---------------------------------------------------------------------------------------------
# Shared helpers: parameters, missing points, gap filling, windows.


def _is_integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _positive(name: str, value: float) -> float:
    if not _is_real(value) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _check_params(filter: str, params: dict[str, float]) -> None:
    """Raise ``ValueError`` for a parameter out of its range."""
    for name, value in params.items():
        if name == "window":
            if not _is_integer(value) or value < 3 or value % 2 == 0:
                raise ValueError(f"{filter}: window must be an odd integer >= 3, got {value!r}")
        elif name == "polyorder":
            if not _is_integer(value) or not 0 <= value < params["window"]:
                raise ValueError(f"{filter}: polyorder must be an integer in [0, window), got {value!r}")
        elif name == "beta":
            if not _is_real(value) or not 0 <= value < math.inf:
                raise ValueError(f"{filter}: beta must be a finite number >= 0, got {value!r}")
        else:
            _positive(f"{filter}: {name}", value)


def _mark_missing(points: np.ndarray) -> np.ndarray:
    """``(..., 3)``: a point with a non-finite coordinate or confidence <= 0 becomes (NaN, NaN, 0)."""
    missing = ~np.isfinite(points).all(axis=-1) | (points[..., 2] <= 0)
    if missing.any():
        points = points.copy()
        points[missing] = (np.nan, np.nan, 0.0)
    return points


def _assemble(xy: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Filtered ``(..., 2)`` + the filter's input ``(..., 3)`` -> ``(..., 3)``: input confidence,
    NaN where the input point was missing."""
    visible = points[..., 2:] > 0
    return np.concatenate([np.where(visible, xy, np.nan), points[..., 2:]], axis=-1)


def _fill_short_gaps(points: np.ndarray, max_gap: int) -> np.ndarray:
    """``(T, K, 3)``: linearly interpolate runs of <= ``max_gap`` missing frames between two
    detections; their confidence is ``GAP_CONFIDENCE`` times the lower bounding confidence."""
    frames = points.shape[0]
    visible = points[..., 2] > 0
    time = np.arange(frames)[:, None]
    before = np.maximum.accumulate(np.where(visible, time, -1), axis=0)
    after = np.minimum.accumulate(np.where(visible, time, frames)[::-1], axis=0)[::-1]
    fill = ~visible & (before >= 0) & (after < frames) & (after - before - 1 <= max_gap)
    if not fill.any():
        return points
    t, k = np.nonzero(fill)
    start, stop = points[before[t, k], k], points[after[t, k], k]
    fraction = ((t - before[t, k]) / (after[t, k] - before[t, k]))[:, None]
    out = points.copy()
    out[t, k, :2] = start[:, :2] + fraction * (stop[:, :2] - start[:, :2])
    out[t, k, 2] = GAP_CONFIDENCE * np.minimum(start[:, 2], stop[:, 2])
    return out


def _windows(points: np.ndarray, half: int) -> tuple[np.ndarray, np.ndarray]:
    """``(T, K, 3)`` -> values ``(T, K, 2, W)`` (0 where unusable) and weights ``(T, K, W)``
    (the confidences; 0 beyond the ends and where missing), ``W = 2 * half + 1`` centred on t."""
    padding = np.zeros((half, *points.shape[1:]))
    padded = np.concatenate([padding, points, padding])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=0)
    weights = windows[:, :, 2]
    values = np.where(weights[:, :, None] > 0, windows[:, :, :2], 0.0)
    return values, weights


# ---------------------------------------------------------------------------------------------
# Window filters.


def _local_polyfit(points: np.ndarray, kernel: np.ndarray, degree: int) -> np.ndarray:
    """Weighted least-squares polynomial of ``degree`` around each frame, evaluated there.

    ``points (T, K, 3)``, ``kernel (W,)`` -> ``(T, K, 2)``; the weight of a neighbour is
    ``kernel * confidence``. Where fewer frames than coefficients are usable, the minimum-norm
    fit passes through the points (so the value is the point itself).
    """
    half = (kernel.shape[0] - 1) // 2
    values, weights = _windows(points, half)
    weights = weights * kernel
    offsets = np.arange(-half, half + 1) / half
    basis = offsets[:, None] ** np.arange(degree + 1)  # (W, D)
    normal = np.einsum("tkw,wi,wj->tkij", weights, basis, basis, optimize=True)
    moments = np.einsum("tkw,wi,tkcw->tkic", weights, basis, values, optimize=True)
    coefficients = np.linalg.pinv(normal, rcond=1e-10, hermitian=True) @ moments  # (T, K, D, 2)
    return coefficients[:, :, 0, :]


def _weighted_median(points: np.ndarray, half: int) -> np.ndarray:
    """Confidence-weighted median of the ``2 * half + 1`` frames around each frame: the mean of
    the lower and upper weighted medians. ``(T, K, 3)`` -> ``(T, K, 2)``."""
    values, weights = _windows(points, half)
    values = np.where(weights[:, :, None] > 0, values, np.inf)  # unusable frames sort last
    order = np.argsort(values, axis=-1)
    ordered = np.take_along_axis(values, order, axis=-1)
    cumulative = np.cumsum(np.take_along_axis(np.broadcast_to(weights[:, :, None], values.shape), order, -1), -1)
    half_total = cumulative[..., -1:] / 2
    lower = np.argmax(cumulative >= half_total, axis=-1)[..., None]
    upper = np.argmax(cumulative > half_total, axis=-1)[..., None]
    median = 0.5 * (np.take_along_axis(ordered, lower, -1) + np.take_along_axis(ordered, upper, -1))
    return median[..., 0]


# ---------------------------------------------------------------------------------------------
# Recursive filters.


class _OneEuro:
    """One Euro filter state of K points (Casiez, Roussel, Vogel, CHI 2012), per coordinate.

    The smoothing factors are multiplied by the point's confidence; a missing point leaves its
    state untouched (the next update sees the longer interval).
    """

    def __init__(self, joints: int, min_cutoff: float, beta: float, d_cutoff: float):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.value = np.full((joints, 2), np.nan)
        self.speed = np.zeros((joints, 2))
        self.time = np.full((joints, 1), np.nan)

    def update(self, points: np.ndarray, time: float) -> np.ndarray:
        """``(K, 3)`` at ``time`` seconds -> ``(K, 2)`` filtered x, y (NaN where never seen)."""
        confidence = points[:, 2:]
        seen = confidence > 0
        first = seen & np.isnan(self.time)
        moved = seen & ~first
        dt = np.where(moved, time - self.time, 1.0)
        measured = np.where(seen, points[:, :2], 0.0)
        value = np.where(first, measured, self.value)  # a first sighting starts there
        speed = np.where(moved, (measured - value) / dt, self.speed)
        self.speed = self.speed + confidence * _alpha(dt, self.d_cutoff) * (speed - self.speed)
        cutoff = self.min_cutoff + self.beta * np.abs(self.speed)
        self.value = np.where(seen, value + confidence * _alpha(dt, cutoff) * (measured - value), self.value)
        self.time = np.where(seen, time, self.time)
        return self.value.copy()


def _alpha(dt: np.ndarray, cutoff: np.ndarray | float) -> np.ndarray:
    """Smoothing factor of a first-order low-pass filter of ``cutoff`` Hz over ``dt`` seconds."""
    tau = 1.0 / (2 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class _Kalman:
    """Constant-velocity Kalman filter of K points; state ``(K, 2, 2)`` = (x, y) x (position,
    velocity) in pixels and pixels/frame, one ``(K, 2, 2)`` covariance shared by x and y."""

    def __init__(self, joints: int, process_noise: float, measurement_noise: float):
        self.acceleration_var, self.measurement_var = process_noise**2, measurement_noise**2
        self.mean = np.zeros((joints, 2, 2))
        self.covariance = np.broadcast_to(np.eye(2) * _DIFFUSE_PRIOR, (joints, 2, 2)).copy()

    def update(self, points: np.ndarray, frames: float) -> tuple[np.ndarray, np.ndarray]:
        """Predict ``frames`` ahead, then correct with the visible points ``(K, 3)``. Returns the
        predicted mean ``(K, 2, 2)`` and covariance ``(K, 2, 2)`` (for the backward pass)."""
        transition = np.array([[1.0, frames], [0.0, 1.0]])
        noise = self.acceleration_var * np.array([[frames**4 / 4, frames**3 / 2], [frames**3 / 2, frames**2]])
        predicted_mean = self.mean @ transition.T
        predicted_cov = transition @ self.covariance @ transition.T + noise
        confidence = points[:, 2]
        seen = confidence > 0
        variance = self.measurement_var / np.where(seen, confidence, 1.0)
        gain = predicted_cov[:, :, 0] / (predicted_cov[:, 0, 0] + variance)[:, None]  # (K, 2)
        gain = np.where(seen[:, None], gain, 0.0)
        innovation = np.where(seen[:, None], points[:, :2] - predicted_mean[:, :, 0], 0.0)  # (K, 2 coords)
        self.mean = predicted_mean + innovation[:, :, None] * gain[:, None, :]
        self.covariance = predicted_cov - gain[:, :, None] * predicted_cov[:, None, 0, :]
        return predicted_mean, predicted_cov

    @property
    def position(self) -> np.ndarray:
        """``(K, 2)`` filtered x, y."""
        return self.mean[:, :, 0]


def _kalman_rts(points: np.ndarray, process_noise: float, measurement_noise: float) -> np.ndarray:
    """Forward Kalman filter and Rauch-Tung-Striebel backward pass: ``(T, K, 3)`` -> ``(T, K, 2)``."""
    state = _Kalman(points.shape[1], process_noise, measurement_noise)
    means, covariances, predicted_means, predicted_covs = (np.empty((*points.shape[:2], 2, 2)) for _ in range(4))
    for t, frame in enumerate(points):
        predicted_means[t], predicted_covs[t] = state.update(frame, 1.0)
        means[t], covariances[t] = state.mean, state.covariance
    transition = np.array([[1.0, 1.0], [0.0, 1.0]])
    # Smoother gains C[t] = P[t] F^T P_pred[t + 1]^-1, (T - 1, K, 2, 2), at once; the means recur.
    gains = np.swapaxes(covariances[:-1] @ transition.T @ _inverse_2x2(predicted_covs[1:]), -1, -2)
    smoothed = means
    for t in range(len(points) - 2, -1, -1):
        smoothed[t] = means[t] + (smoothed[t + 1] - predicted_means[t + 1]) @ gains[t]
    return smoothed[..., 0]


def _inverse_2x2(matrices: np.ndarray) -> np.ndarray:
    """Inverse of ``(..., 2, 2)`` matrices in closed form (far faster than batched LAPACK)."""
    a, b = matrices[..., 0, 0], matrices[..., 0, 1]
    c, d = matrices[..., 1, 0], matrices[..., 1, 1]
    adjugate = np.stack([np.stack([d, -b], -1), np.stack([-c, a], -1)], -2)
    return adjugate / (a * d - b * c)[..., None, None]
