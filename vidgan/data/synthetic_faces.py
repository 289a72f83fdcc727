"""Drawn face-like images with their 68 iBUG landmarks: the synthetic data of the face families.

:func:`synthetic_faces` draws frontal faces (random proportions, colours and framing) on a canvas
and aligns them like real faces with :func:`~vidgan.data.face_crops.align_frames`, so a model sees
them framed exactly as it would see a photo. Given ``ages``, each face looks its age (hair greying,
skin darkening, forehead wrinkles and, past 35, nasolabial folds): the data of Age-cGAN
(:mod:`vidgan.data.face_ages`, ages from :func:`synthetic_ages`); without, the faces have no age
cues: the frontal faces TP-GAN turns (:mod:`vidgan.data.multiview`). The faces' shapes and colours
depend only on ``seed``, not on the ages.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from vidgan.data.face_crops import FaceCrops, align_frames

__all__ = ["synthetic_ages", "synthetic_faces"]

#: Ages (years) of the youngest face without age cues and of the fully aged one.
_YOUNG, _OLD = 15.0, 80.0
#: Nasolabial folds appear above this age (years).
_FOLDS_AGE = 35.0


def synthetic_ages(count: int, seed: int = 0) -> np.ndarray:
    """``count`` ages ``(N,)`` float32 uniform in [5, 80] years, drawn from a stream of ``seed``
    independent of the faces' (:func:`synthetic_faces` with the same ``seed``)."""
    return np.random.default_rng([seed, 1]).uniform(5, 80, count).astype(np.float32)


def synthetic_faces(count: int, crop_size: int, crop_scale: float = 1.3, *, seed: int = 0,
                    ages: Sequence[float] | np.ndarray | None = None) -> FaceCrops:
    """``count`` drawn frontal faces with their iBUG-68 landmarks, aligned at ``crop_size`` and
    ``crop_scale`` (:func:`~vidgan.data.face_crops.align_frames`); each looks its age in years
    when ``ages (count,)`` is given, and has no age cues otherwise."""
    if ages is not None and len(ages) != count:
        raise ValueError(f"synthetic_faces: {len(ages)} ages for {count} faces")
    if count == 0:
        return FaceCrops(np.zeros((0, crop_size, crop_size, 3), np.uint8), np.zeros((0, 68, 2), np.float32), [])
    rng = np.random.default_rng(seed)
    canvas = 2 * crop_size
    frames, landmarks = [], []
    for index in range(count):
        scale = canvas * rng.uniform(0.35, 0.45)
        angle = np.radians(rng.uniform(-8, 8))
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        shift = canvas / 2 + rng.uniform(-0.05, 0.05, 2) * canvas
        points = _face_points(rng) @ rotation.T * scale + shift
        frames.append(_draw_face(points, canvas, rng, None if ages is None else float(ages[index])))
        landmarks.append(points)
    crops, crop_points = align_frames(np.stack(frames), np.stack(landmarks), crop_size, crop_scale)
    return FaceCrops(crops, crop_points, [f"synthetic:{i}" for i in range(count)])


def _face_points(rng: np.random.Generator) -> np.ndarray:
    """iBUG-68 landmarks ``(68, 2)`` of a drawn face in units of its width (centre at 0, y down),
    with random proportions."""
    width, chin = rng.uniform(0.45, 0.55), rng.uniform(0.55, 0.65)
    eye_x, eye_y, eye_w = rng.uniform(0.19, 0.23), rng.uniform(-0.17, -0.13), rng.uniform(0.09, 0.11)
    mouth_w, mouth_y = rng.uniform(0.14, 0.2), rng.uniform(0.3, 0.36)
    phi = np.linspace(0, np.pi, 17)
    jaw = np.stack([-width * np.cos(phi), -0.05 + chin * np.sin(phi)], axis=1)
    brow_x = np.linspace(-0.38, -0.08, 5)
    brow = np.stack([brow_x, eye_y - 0.12 - 0.03 * np.sin(np.linspace(0, np.pi, 5))], axis=1)
    brows = np.concatenate([brow, brow[::-1] * [-1, 1]])
    bridge = np.stack([np.zeros(4), np.linspace(eye_y, 0.12, 4)], axis=1)
    base = np.stack([np.linspace(-0.1, 0.1, 5), [0.17, 0.18, 0.19, 0.18, 0.17]], axis=1)
    ring = np.array([[-1, 0], [-0.45, -0.35], [0.45, -0.35], [1, 0], [0.45, 0.3], [-0.45, 0.3]]) * eye_w
    left_eye = ring + [-eye_x, eye_y]
    right_eye = (ring * [-1, 1])[[3, 2, 1, 0, 5, 4]] + [eye_x, eye_y]
    t_outer = np.linspace(0, np.pi, 7)
    top = np.stack([-mouth_w * np.cos(t_outer), mouth_y - 0.05 * np.sin(t_outer)], axis=1)
    bottom = np.stack([mouth_w * np.cos(t_outer[1:6]), mouth_y + 0.07 * np.sin(t_outer[1:6])], axis=1)
    t_inner = np.linspace(0, np.pi, 5)
    inner_top = np.stack([-0.8 * mouth_w * np.cos(t_inner), mouth_y - 0.015 * np.sin(t_inner)], axis=1)
    inner_bottom = np.stack([0.8 * mouth_w * np.cos(t_inner[1:4]), mouth_y + 0.02 * np.sin(t_inner[1:4])], axis=1)
    return np.concatenate([jaw, brows, bridge, base, left_eye, right_eye, top, bottom, inner_top,
                           inner_bottom]).astype(np.float64)


def _draw_face(points: np.ndarray, size: int, rng: np.random.Generator, age: float | None) -> np.ndarray:
    """An RGB uint8 ``(size, size, 3)`` drawing of the face whose landmarks are ``points`` (pixels),
    with the look of ``age`` years (none when None); the random draws do not depend on ``age``."""
    background = rng.uniform(40, 220, 3)
    ramp = np.linspace(-30, 30, size)[None, :, None] * rng.uniform(-1, 1)
    image = np.clip(background + ramp + rng.normal(0, 6, (size, size, 1)), 0, 255).astype(np.uint8)
    skin = rng.uniform([150, 100, 70], [240, 190, 160])
    hair = rng.uniform(10, 90, 3)
    oldness = 0.0 if age is None else float(np.clip((age - _YOUNG) / (_OLD - _YOUNG), 0, 1))
    hair = hair * (1 - oldness) + 190 * oldness
    skin = skin * (1 - 0.12 * oldness)
    jaw = points[:17]
    centre_x, top_y = (jaw[0, 0] + jaw[16, 0]) / 2, points[19, 1]
    half = (jaw[16, 0] - jaw[0, 0]) / 2
    forehead_y = top_y - 0.6 * (points[30, 1] - top_y)
    thickness = max(1, round(0.02 * size))

    def pixels(array: np.ndarray) -> np.ndarray:
        return np.round(array * 16).astype(np.int32)  # 4 fractional bits (cv2 shift=4)

    def colour(rgb: np.ndarray) -> tuple[float, ...]:
        return tuple(float(v) for v in rgb)

    hair_centre, hair_axes = np.array([centre_x, forehead_y + 0.2 * half]), np.array([1.15 * half, half])
    cv2.ellipse(image, tuple(pixels(hair_centre)), tuple(pixels(hair_axes)), 0, 0, 360, colour(hair), -1,
                cv2.LINE_AA, 4)
    arc = np.linspace(0, np.pi, 12)
    forehead = np.stack([centre_x + half * np.cos(arc), jaw[16, 1] - (jaw[16, 1] - forehead_y) * np.sin(arc)], axis=1)
    cv2.fillPoly(image, [pixels(np.concatenate([jaw, forehead]))], colour(skin), cv2.LINE_AA, 4)
    wrinkle, fine = colour(skin * (0.85 - 0.3 * oldness)), max(1, round(0.01 * size))
    for row in range(round(3 * oldness)):
        y = top_y - (0.3 + 0.25 * row) * (top_y - forehead_y)
        ends = np.array([[centre_x - 0.4 * half, y], [centre_x + 0.4 * half, y]])
        cv2.polylines(image, [pixels(ends)], False, wrinkle, fine, cv2.LINE_AA, 4)
    if age is not None and age > _FOLDS_AGE:
        for wing, corner in ((31, 48), (35, 54)):
            outward = np.sign(points[corner, 0] - centre_x) * 0.15 * half
            fold = np.array([points[wing] + [outward, 0], points[corner] + [outward, 0.05 * half]])
            cv2.polylines(image, [pixels(fold)], False, wrinkle, fine, cv2.LINE_AA, 4)
    shade = colour(0.8 * skin)
    dark = colour(rng.uniform(20, 70, 3))
    for eye in (points[36:42], points[42:48]):
        cv2.fillPoly(image, [pixels(eye)], (240, 240, 240), cv2.LINE_AA, 4)
        radius = 0.35 * float(np.ptp(eye[:, 0]))
        cv2.circle(image, tuple(pixels(eye.mean(axis=0))), int(radius * 16), dark, -1, cv2.LINE_AA, 4)
    for part in (points[17:22], points[22:27]):
        cv2.polylines(image, [pixels(part)], False, colour(hair), thickness, cv2.LINE_AA, 4)
    cv2.polylines(image, [pixels(points[27:31]), pixels(points[31:36])], False, shade, thickness, cv2.LINE_AA, 4)
    lips = colour(rng.uniform([150, 40, 50], [210, 90, 100]))
    cv2.fillPoly(image, [pixels(points[48:60])], lips, cv2.LINE_AA, 4)
    cv2.fillPoly(image, [pixels(points[60:68])], (60, 20, 25), cv2.LINE_AA, 4)
    return image
