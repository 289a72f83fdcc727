"""A synthetic dancer the project renders itself, with its exact COCO-17 keypoints.

``make demo`` runs the whole dance-transfer workflow on it (no downloaded footage): a figure with
a head, a shirt, arms and trousers dances over a textured background; the motion style (tempo,
amplitudes, phases) comes from a seed, so two seeds give a target and a source that move
differently. The keypoints are known exactly, so the workflow can skip pose extraction.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidgan.data.synthetic import tone
from vidgan.io import VideoWriter, write_audio
from vidgan.io.atomic import temporary_sibling
from vidgan.keypoints import COCO17, Keypoints

_SKIN = (224, 172, 140)
_SHIRT = (40, 110, 200)
_TROUSERS = (60, 60, 70)
_SHOES = (20, 20, 20)


@dataclass(frozen=True)
class DanceStyle:
    """How a dancer moves: tempo in beats per second, swing amplitudes in radians, phase offsets."""

    tempo: float
    arm_swing: float
    elbow_swing: float
    leg_swing: float
    knee_swing: float
    sway: float
    bounce: float
    phase: float

    @classmethod
    def from_seed(cls, seed: int) -> DanceStyle:
        rng = np.random.default_rng(seed)
        return cls(
            tempo=float(rng.uniform(0.6, 1.2)), arm_swing=float(rng.uniform(0.6, 1.3)),
            elbow_swing=float(rng.uniform(0.3, 1.0)), leg_swing=float(rng.uniform(0.15, 0.4)),
            knee_swing=float(rng.uniform(0.1, 0.5)), sway=float(rng.uniform(0.05, 0.15)),
            bounce=float(rng.uniform(0.01, 0.04)), phase=float(rng.uniform(0, 2 * np.pi)),
        )


def dancer_keypoints(frames: int, size: tuple[int, int], fps: float, style: DanceStyle) -> np.ndarray:
    """``(T, 17, 3)`` COCO-17 points (x, y, confidence 1) of the dancer in an ``(H, W)`` frame."""
    height, width = size
    unit = height / 8.0  # the figure is ~7 units tall
    points = np.ones((frames, 17, 3), np.float32)
    for t in range(frames):
        beat = 2 * np.pi * style.tempo * t / fps + style.phase
        hip = np.array([width / 2 + style.sway * width * np.sin(beat / 2),
                        height * 0.55 - style.bounce * height * abs(np.sin(beat))])
        neck = hip + unit * np.array([0.15 * np.sin(beat / 2), -2.6])
        xy = np.zeros((17, 2))
        xy[0] = neck + unit * np.array([0.0, -0.8])  # nose
        xy[1], xy[2] = xy[0] + unit * np.array([0.18, -0.15]), xy[0] + unit * np.array([-0.18, -0.15])
        xy[3], xy[4] = xy[0] + unit * np.array([0.38, 0.0]), xy[0] + unit * np.array([-0.38, 0.0])
        for side, sign in ((0, 1), (1, -1)):  # 0: left (image right), 1: right
            shoulder = neck + unit * np.array([sign * 0.8, 0.15])
            arm = np.pi / 2 - sign * (0.4 + style.arm_swing * (0.5 + 0.5 * np.sin(beat + side * np.pi)))
            elbow = shoulder + 1.2 * unit * np.array([np.cos(arm), np.sin(arm)])
            fore = arm - sign * style.elbow_swing * (0.5 + 0.5 * np.sin(beat * 2 + side))
            wrist = elbow + 1.1 * unit * np.array([np.cos(fore), np.sin(fore)])
            hip_joint = hip + unit * np.array([sign * 0.5, 0.0])
            leg = np.pi / 2 - sign * style.leg_swing * np.sin(beat + side * np.pi)
            knee = hip_joint + 1.6 * unit * np.array([np.cos(leg), np.sin(leg)])
            shin = leg + style.knee_swing * (0.5 + 0.5 * np.sin(beat + side * np.pi + 1.0)) * sign
            ankle = knee + 1.6 * unit * np.array([np.cos(shin), np.sin(shin)])
            xy[5 + side], xy[7 + side], xy[9 + side] = shoulder, elbow, wrist
            xy[11 + side], xy[13 + side], xy[15 + side] = hip_joint, knee, ankle
        points[t, :, :2] = xy
    return points


def _background(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    wall = np.stack([150 + 60 * x / width, 140 + 40 * y / height, np.full_like(x, 120)], axis=-1)
    wall[y > height * 0.78] = (110, 90, 70)  # floor
    wall += rng.normal(0, 5, wall.shape)
    return np.clip(wall, 0, 255).astype(np.uint8)


def render_dancer(points: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Draw the figure of one frame's ``(17, 3)`` points over ``background`` (RGB uint8)."""
    frame = background.copy()
    unit = background.shape[0] / 8.0
    xy = points[:, :2]

    def limb(a: int, b: int, colour: tuple[int, int, int], width: float) -> None:
        start, end = tuple(np.round(xy[a]).astype(int)), tuple(np.round(xy[b]).astype(int))
        cv2.line(frame, start, end, colour, max(1, int(width * unit)), lineType=cv2.LINE_AA)

    torso = np.round(xy[[5, 6, 12, 11]]).astype(np.int32)
    for a, b in ((11, 13), (13, 15), (12, 14), (14, 16)):
        limb(a, b, _TROUSERS, 0.45)
    for ankle in (15, 16):
        cv2.circle(frame, tuple(np.round(xy[ankle]).astype(int)), max(1, int(0.25 * unit)), _SHOES, -1, cv2.LINE_AA)
    cv2.fillConvexPoly(frame, torso, _SHIRT, lineType=cv2.LINE_AA)
    limb(11, 12, _TROUSERS, 0.5)
    for a, b in ((5, 7), (6, 8)):
        limb(a, b, _SHIRT, 0.4)
    for a, b in ((7, 9), (8, 10)):
        limb(a, b, _SKIN, 0.3)
    neck = (xy[5] + xy[6]) / 2
    cv2.line(frame, tuple(np.round(neck).astype(int)), tuple(np.round(xy[0]).astype(int)), _SKIN,
             max(1, int(0.3 * unit)), cv2.LINE_AA)
    cv2.circle(frame, tuple(np.round(xy[0] + [0, -0.1 * unit]).astype(int)), max(2, int(0.5 * unit)), _SKIN, -1,
               cv2.LINE_AA)
    for eye in (1, 2):
        cv2.circle(frame, tuple(np.round(xy[eye]).astype(int)), max(1, int(0.07 * unit)), (30, 30, 30), -1, cv2.LINE_AA)
    return frame


def write_dancer_video(
    path: str | os.PathLike[str],
    *,
    frames: int = 120,
    size: tuple[int, int] = (256, 256),
    fps: Fraction | int = 24,
    seed: int = 0,
    audio: bool = True,
) -> tuple[Path, Keypoints]:
    """Write a dancer clip (seeded motion style, with a tone soundtrack when ``audio``) and
    return its path and its exact keypoints (also saved beside it as ``<stem>.poses.npz``)."""
    target = Path(path)
    height, width = size
    points = dancer_keypoints(frames, size, float(fps), DanceStyle.from_seed(seed))
    background = _background(height, width, 0)  # one room: target and source share it
    soundtrack = None
    if audio:
        soundtrack = temporary_sibling(target.with_suffix(".m4a"))
        write_audio(soundtrack, tone(frames / float(fps)), 48000)
    try:
        with VideoWriter(target, fps, crf=18, preset="veryfast", audio_from=soundtrack) as writer:
            writer.write_all(render_dancer(p, background) for p in points)
    finally:
        if soundtrack is not None:
            soundtrack.unlink(missing_ok=True)
    keypoints = Keypoints(points, COCO17, np.arange(frames), video_id=target.stem, fps=Fraction(fps),
                          image_size=(height, width))
    keypoints.save(target.with_name(f"{target.stem}.poses.npz"))
    return target, keypoints
