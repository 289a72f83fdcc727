"""A target's own frames as references: the data of the reference-warp generator.

One file ``references.npz`` holds a target's frames at the model's size, their keypoints in
those pixels and their conditioning maps::

    frames  (T, H, W, 3) uint8 RGB
    points  (T, K, 3)    float32 x, y, confidence (NaN / 0: missing)
    maps    (T, H, W, C) uint8, value / 255
    skeleton ()          str, the keypoints' layout (coco17, ibug68)

It trains the model (frame t is predicted from the maps of t and references retrieved by
keypoints *away from* t) and ships with it (a trained model draws its references from it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from vidgan.errors import ConfigError, InputError
from vidgan.io.atomic import atomic_path
from vidgan.keypoints.keypoints import present_xy
from vidgan.keypoints.retrieval import PoseIndex
from vidgan.keypoints.skeletons import get_skeleton
from vidgan.nn.images import to_tensor

REFERENCES_FILE = "references.npz"


@dataclass(frozen=True)
class ReferenceFrames:
    """A target's frames, keypoints and maps (module docstring)."""

    frames: np.ndarray
    points: np.ndarray
    maps: np.ndarray
    skeleton: str

    def __post_init__(self) -> None:
        count = len(self.frames)
        if not (len(self.points) == len(self.maps) == count) or count == 0:
            raise ValueError(f"frames, points and maps differ in length or are empty: {count}, "
                             f"{len(self.points)}, {len(self.maps)}")
        if self.frames.shape[1:3] != self.maps.shape[1:3]:
            raise ValueError(f"frames {self.frames.shape} and maps {self.maps.shape} differ in size")

    @property
    def size(self) -> tuple[int, int]:
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``path`` (``.npz``, uncompressed) atomically."""
        with atomic_path(path) as temporary:
            with open(temporary, "wb") as file:
                np.savez(file, frames=self.frames, points=self.points.astype(np.float32), maps=self.maps,
                         skeleton=np.array(self.skeleton))
        return Path(path)

    @staticmethod
    def skeleton_of(path: str | os.PathLike[str]) -> str:
        """The keypoint layout of a file written by :meth:`save`, without reading its frames."""
        try:
            with np.load(path, allow_pickle=False) as data:
                return str(data["skeleton"])
        except (KeyError, ValueError, OSError) as error:
            raise InputError(path, f"not a reference-frames file ({error})") from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ReferenceFrames:
        """Read a file written by :meth:`save` (a folder: its ``references.npz``)."""
        path = Path(path)
        if path.is_dir():
            path = path / REFERENCES_FILE
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(data["frames"], data["points"], data["maps"], str(data["skeleton"]))
        except FileNotFoundError:
            raise InputError(path, "no reference frames here (written by the workflow's dataset step)") from None
        except (KeyError, ValueError, OSError) as error:
            raise InputError(path, f"not a reference-frames file ({error})") from None


@dataclass
class ReferenceSettings:
    """``data:`` of a reference-warp config. ``file``: a ``references.npz`` (or its folder);
    ``references``: frames warped per prediction; ``gap``: training references lie at least this
    many frames from the frame predicted (it must be drawn, not copied from its neighbour);
    ``candidates``: each training reference is drawn at random among this many nearest;
    ``repeats``: items per frame per epoch (each with other references)."""

    file: str = ""
    references: int = 2
    gap: int = 8
    candidates: int = 4
    repeats: int = 8

    def __post_init__(self) -> None:
        for key in ("references", "candidates", "repeats"):
            if getattr(self, key) < 1:
                raise ConfigError(f"data.{key} must be >= 1, got {getattr(self, key)}")
        if self.gap < 0:
            raise ConfigError(f"data.gap must be >= 0, got {self.gap}")


class ReferencePairsDataset(Dataset):
    """Item ``i``: frame ``t = i % T`` to predict and ``references`` other frames of the target.

    ``frames (3, H, W)`` and ``references (R, 3, H, W)`` in [-1, 1]; ``maps (C, H, W)`` in [0, 1];
    ``points (K, 2)`` and ``reference_points (R, K, 2)`` pixels, NaN where missing. References
    are drawn (seeded by ``i``: the same item on every run) among the ``candidates`` nearest
    frames by keypoints that lie ``gap`` or more frames away from t, mutually ``gap`` apart.
    """

    def __init__(self, data: ReferenceFrames, settings: ReferenceSettings) -> None:
        self.data, self.settings = data, settings
        self.index = PoseIndex.for_skeleton(data.points, get_skeleton(data.skeleton))
        self.xy = present_xy(data.points).astype(np.float32)

    def __len__(self) -> int:
        return len(self.data.frames) * self.settings.repeats

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        settings, count = self.settings, len(self.data.frames)
        t = item % count
        rng = np.random.default_rng(item)
        exclude = np.abs(np.arange(count) - t) < settings.gap
        if exclude.all():  # a clip shorter than the gap: any other frame
            exclude = (np.arange(count) == t) & (count > 1)
        pool = self.index.nearest(self.data.points[t], settings.references * settings.candidates, exclude=exclude,
                                  separation=settings.gap)
        references = pool[np.sort(rng.choice(len(pool), settings.references, replace=False))]
        return {
            "frames": to_tensor(self.data.frames[t]),
            "maps": to_tensor(self.data.maps[t], signed=False),
            "points": torch.from_numpy(self.xy[t]),
            "references": to_tensor(self.data.frames[references]),
            "reference_points": torch.from_numpy(self.xy[references]),
        }

