"""Paired video datasets (vid2vid, Everybody Dance Now): a video's RGB frames, its per-frame
conditioning maps (rendered skeletons, face edges, ...), optional face boxes, and reference
optical flow between consecutive frames.

A dataset folder holds one sub-folder per sequence, written by :func:`write_paired_dataset`::

    FOLDER/<sequence_id>/
      sequence.json        format vidgan.paired_video, version, frames, size [H, W],
                           map_channels, face_boxes (bool), sha256 of the content
      frames.npy           (T, H, W, 3) uint8 RGB
      maps.npy             (T, H, W, C) uint8; the maps are value / 255, in [0, 1]
      face_boxes.npy       (T, 4) float32 x0, y0, x1, y1 pixels (NaN: no face), when given
      flow_<method>_<H>x<W>.npy   reference flow at the training size (T-1, H, W, 2) float16,
                           computed by the dataset on first use and kept (delete it to redo)

Reference flow ``flow[t]`` is the flow of frame t+1 to frame t in pixels: frame t+1 at p shows
frame t at p + flow[t](p), so ``vidgan.nn.flow_warp(frame[t], flow[t]) ~ frame[t+1]``; this is
the flow the vid2vid generator predicts for frame t+1. It comes from OpenCV's DIS (medium
preset, CPU) or torchvision's RAFT when its weights are on local disk (GPU when present).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from vidgan.errors import InputError, MissingWeightsError
from vidgan.io.atomic import atomic_dir, atomic_path
from vidgan.progress import progress
from vidgan.weights import find_weights
from vidgan.nn.images import to_tensor

FORMAT = "vidgan.paired_video"
VERSION = 1
SEQUENCE_FILE = "sequence.json"
FLOW_METHODS = ("dis", "raft", "none")
RAFT_LARGE_FILE = "raft_large_C_T_SKHT_V2-ff5fadd5.pth"
RAFT_SMALL_FILE = "raft_small_C_T_V2-01064c6d.pth"

FlowMethod = Literal["dis", "raft", "none"]


@dataclass
class PairedVideoSettings:
    """Data settings of a paired video dataset (``data:`` of a vid2vid config).

    ``folder``: written by :func:`write_paired_dataset`; ``size``: training size, ``H`` (square)
    or ``[H, W]`` (null: as stored); ``clip_length``: frames per item (the longest clip the
    training curriculum asks for); ``stride``: frames between the starts of consecutive items;
    ``flow``: reference flow ``dis`` | ``raft`` | ``none``; ``flow_weights``: the RAFT weights
    file or its folder (default: torch's checkpoints folder).
    """

    folder: str = ""
    size: int | tuple[int, int] | None = None
    clip_length: int = 8
    stride: int = 1
    flow: FlowMethod = "dis"
    flow_weights: str | None = None


@dataclass(frozen=True)
class PairedSequence:
    """One sequence: ``frames (T, H, W, 3)`` uint8, ``maps (T, H, W, C)`` uint8 (value / 255),
    ``face_boxes (T, 4)`` float32 or None; ``folder`` where its flow cache goes (None: memory)."""

    frames: np.ndarray
    maps: np.ndarray
    face_boxes: np.ndarray | None = None
    folder: Path | None = None


# ---- writing ------------------------------------------------------------------------------


def write_paired_dataset(
    frames: np.ndarray | Sequence[np.ndarray],
    maps: np.ndarray | torch.Tensor,
    folder: str | os.PathLike[str],
    *,
    face_boxes: np.ndarray | None = None,
    sequence_id: str = "sequence",
) -> Path:
    """Write one sequence into ``folder/sequence_id`` (layout in the module docstring).

    ``frames``: RGB uint8 ``(T, H, W, 3)`` (or a list of frames); ``maps``: numpy ``(T, H, W, C)``
    uint8 or float in [0, 1], or a torch tensor ``(T, C, H, W)`` in [0, 1] (what the
    ``vidgan.keypoints`` renderers return); ``face_boxes``: ``(T, 4)`` pixels, NaN rows for none.

    Atomic and resumable: the sequence is written to a hidden folder and renamed into place, so a
    killed run leaves nothing half-written; a sequence already there with the same content
    (checksum) is kept as it is, with its flow cache. Returns the sequence folder.
    """
    frame_array = _as_frames(frames)
    map_array = _as_maps(maps)
    boxes = None if face_boxes is None else np.asarray(face_boxes, np.float32)
    if map_array.shape[:3] != frame_array.shape[:3]:
        raise ValueError(f"maps {map_array.shape} do not match frames {frame_array.shape} in T, H, W")
    if boxes is not None and boxes.shape != (len(frame_array), 4):
        raise ValueError(f"face_boxes must be ({len(frame_array)}, 4), got {boxes.shape}")
    if not sequence_id or sequence_id.startswith(".") or "/" in sequence_id or os.sep in sequence_id:
        raise ValueError(f"sequence_id {sequence_id!r} must be a plain, non-hidden folder name")
    digest = _content_digest(frame_array, map_array, boxes)
    target = Path(folder) / sequence_id
    if _read_sequence_info(target).get("sha256") == digest:
        return target
    with atomic_dir(target) as staging:
        np.save(staging / "frames.npy", frame_array)
        np.save(staging / "maps.npy", map_array)
        if boxes is not None:
            np.save(staging / "face_boxes.npy", boxes)
        info = {
            "format": FORMAT, "version": VERSION, "frames": len(frame_array), "size": list(frame_array.shape[1:3]),
            "map_channels": map_array.shape[3], "face_boxes": boxes is not None, "sha256": digest,
        }
        (staging / SEQUENCE_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return target


def read_paired_folder(folder: str | os.PathLike[str]) -> list[PairedSequence]:
    """Every complete sequence of a dataset folder, in name order (memory-mapped arrays)."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(root, "no such dataset folder (write one with vidgan.data.paired_video.write_paired_dataset)")
    sequences = []
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        info = _read_sequence_info(path)
        if not info:
            continue
        boxes = np.load(path / "face_boxes.npy") if info["face_boxes"] else None
        frames = np.load(path / "frames.npy", mmap_mode="r")
        maps = np.load(path / "maps.npy", mmap_mode="r")
        sequences.append(PairedSequence(frames, maps, boxes, path))
    if not sequences:
        raise InputError(root, f"holds no paired sequence (no */{SEQUENCE_FILE} of format {FORMAT})")
    return sequences


def _as_frames(frames: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    array = np.ascontiguousarray(np.stack(frames) if isinstance(frames, (list, tuple)) else frames)
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[3] != 3 or not len(array):
        raise ValueError(f"frames must be RGB uint8 (T, H, W, 3) with T >= 1, got {array.dtype} {array.shape}")
    return array


def _as_maps(maps: np.ndarray | torch.Tensor) -> np.ndarray:
    """Maps as stored: uint8 ``(T, H, W, C)``."""
    if isinstance(maps, torch.Tensor):
        if maps.dim() != 4:
            raise ValueError(f"maps tensor must be (T, C, H, W), got {tuple(maps.shape)}")
        maps = maps.detach().float().permute(0, 2, 3, 1).cpu().numpy()
    array = np.asarray(maps)
    if array.ndim != 4:
        raise ValueError(f"maps must be (T, H, W, C), got {array.shape}")
    if array.dtype != np.uint8:
        if array.size and not (np.nanmin(array) >= -1e-6 and np.nanmax(array) <= 1 + 1e-6):
            raise ValueError("float maps must lie in [0, 1]")
        array = np.rint(np.clip(array, 0, 1) * 255).astype(np.uint8)
    return np.ascontiguousarray(array)


def _content_digest(frames: np.ndarray, maps: np.ndarray, boxes: np.ndarray | None) -> str:
    digest = hashlib.sha256()
    for array in (frames, maps, boxes):
        if array is not None:
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(memoryview(np.ascontiguousarray(array)).cast("B"))
    return digest.hexdigest()


def _read_sequence_info(path: Path) -> dict:
    try:
        info = json.loads((path / SEQUENCE_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return info if info.get("format") == FORMAT and info.get("version") == VERSION else {}


# ---- reference flow -----------------------------------------------------------------------


def reference_flow(
    frames: np.ndarray,
    method: FlowMethod = "dis",
    weights: str | os.PathLike[str] | None = None,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Flow ``(T-1, h, w, 2)`` float32 of each frame t+1 to frame t (module docstring) of RGB
    uint8 ``frames (T, H, W, 3)`` resized to ``size`` = (h, w) (default: as they are), by OpenCV
    DIS (``dis``) or torchvision RAFT (``raft``; ``weights`` as
    :attr:`PairedVideoSettings.flow_weights`; h and w multiples of 8, >= 128)."""
    size = tuple(size or frames.shape[1:3])
    chunks = list(_flow_chunks(frames, method, weights, size))
    return np.concatenate(chunks) if chunks else np.zeros((0, *size, 2), np.float32)


def _flow_chunks(
    frames: np.ndarray, method: FlowMethod, weights: str | os.PathLike[str] | None, size: tuple[int, int]
) -> Iterator[np.ndarray]:
    """:func:`reference_flow` in consecutive chunks ``(n, h, w, 2)``; frames are read and
    resized a few at a time, so a memory-mapped video never has to fit in memory."""
    if method == "dis":
        return _dis_flow(frames, size)
    if method == "raft":
        return _raft_flow(frames, weights, size)
    raise ValueError(f"unknown flow method {method!r}; choose dis or raft")


def _dis_flow(frames: np.ndarray, size: tuple[int, int]) -> Iterator[np.ndarray]:
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    previous = None
    for index in progress(range(len(frames)), desc="reference flow (DIS)"):
        gray = cv2.cvtColor(_resize(frames[index : index + 1], size)[0], cv2.COLOR_RGB2GRAY)
        if previous is not None:
            yield dis.calc(gray, previous, None)[None]
        previous = gray


def _raft_model(weights: str | os.PathLike[str] | None) -> torch.nn.Module:
    """torchvision RAFT (large, or small when the file's name says so) with weights from disk."""
    from torchvision.models.optical_flow import raft_large, raft_small

    try:
        path = find_weights(RAFT_LARGE_FILE, weights, what="RAFT (reference flow)")
    except MissingWeightsError:
        try:
            path = find_weights(RAFT_SMALL_FILE, weights, what="RAFT (reference flow)")
        except MissingWeightsError:
            raise MissingWeightsError(
                f"RAFT weights not found: put {RAFT_LARGE_FILE} (or {RAFT_SMALL_FILE}) in "
                f"{Path(weights) if weights else 'torch checkpoints folder ($TORCH_HOME/hub/checkpoints)'}, "
                "or use data.flow=dis"
            ) from None
    model = (raft_small if "small" in path.name else raft_large)(weights=None)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


@torch.no_grad()
def _raft_flow(
    frames: np.ndarray, weights: str | os.PathLike[str] | None, size: tuple[int, int], batch: int = 8
) -> Iterator[np.ndarray]:
    if size[0] % 8 or size[1] % 8 or min(size) < 128:
        raise ValueError(f"RAFT needs H and W multiples of 8 and >= 128, got {size}")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = _raft_model(weights).to(device)
    for start in progress(range(0, len(frames) - 1, batch), desc="reference flow (RAFT)", unit="batch"):
        clip = to_tensor(_resize(frames[start : start + batch + 1], size)).to(device)
        yield model(clip[1:], clip[:-1])[-1].permute(0, 2, 3, 1).float().cpu().numpy()


# ---- the dataset --------------------------------------------------------------------------


class PairedVideoDataset(Dataset):
    """Clips of ``clip_length`` frames of paired sequences, one item per start ``stride`` apart.

    An item is a dict: ``frames (T, 3, H, W)`` float32 in [-1, 1]; ``maps (T, C, H, W)`` float32
    in [0, 1]; ``flow (T-1, 2, H, W)`` float32 reference flow in pixels (unless ``flow="none"``);
    ``face_box (T, 4)`` float32 pixels, NaN for none (when ``with_face_boxes``). Frames and maps are
    resized to ``size`` (cv2 area / linear), flow is computed at that size once per sequence and
    cached in the sequence folder. Items are a pure function of their index (no RNG): resumed
    training sees exactly the same data.
    """

    def __init__(
        self,
        sequences: Sequence[PairedSequence],
        *,
        clip_length: int,
        size: int | tuple[int, int] | None = None,
        stride: int = 1,
        flow: FlowMethod = "dis",
        flow_weights: str | os.PathLike[str] | None = None,
        with_face_boxes: bool = False,
    ) -> None:
        if clip_length < 1 or stride < 1:
            raise ValueError(f"clip_length and stride must be >= 1, got {clip_length} and {stride}")
        if flow not in FLOW_METHODS:
            raise ValueError(f"unknown flow {flow!r}; choose one of {', '.join(FLOW_METHODS)}")
        if not sequences:
            raise ValueError("no sequences")
        channels = {sequence.maps.shape[3] for sequence in sequences}
        if len(channels) > 1:
            raise ValueError(f"sequences have different map channel counts {sorted(channels)}")
        if with_face_boxes and any(sequence.face_boxes is None for sequence in sequences):
            raise ValueError("face boxes asked for, but a sequence has none (write_paired_dataset(face_boxes=...))")
        native = {sequence.frames.shape[1:3] for sequence in sequences}
        if size is None and len(native) > 1:
            raise ValueError(f"sequences have different sizes {sorted(native)}: give a size")
        self.sequences = list(sequences)
        self.size: tuple[int, int] = (size, size) if isinstance(size, int) else tuple(size or next(iter(native)))
        self.clip_length, self.with_face_boxes = clip_length, with_face_boxes
        self.map_channels = channels.pop()
        self.flows = None if flow == "none" else [self._flow(s, flow, flow_weights) for s in self.sequences]
        self.index = [
            (number, start)
            for number, sequence in enumerate(self.sequences)
            for start in range(0, len(sequence.frames) - clip_length + 1, stride)
        ]
        if not self.index:
            raise ValueError(f"every sequence is shorter than clip_length={clip_length}")

    @classmethod
    def from_folder(cls, folder: str | os.PathLike[str], **settings) -> PairedVideoDataset:
        """The sequences of a :func:`write_paired_dataset` folder; ``settings`` as the constructor's."""
        return cls(read_paired_folder(folder), **settings)

    @classmethod
    def from_arrays(
        cls,
        frames: np.ndarray | Sequence[np.ndarray],
        maps: np.ndarray | torch.Tensor,
        face_boxes: np.ndarray | None = None,
        **settings,
    ) -> PairedVideoDataset:
        """One in-memory sequence (arguments as :func:`write_paired_dataset`; flow cached in memory)."""
        boxes = None if face_boxes is None else np.asarray(face_boxes, np.float32)
        return cls([PairedSequence(_as_frames(frames), _as_maps(maps), boxes)], **settings)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        number, start = self.index[index]
        sequence, stop = self.sequences[number], start + self.clip_length
        frames = _resize(sequence.frames[start:stop], self.size)
        maps = _resize(sequence.maps[start:stop], self.size)
        item = {
            "frames": to_tensor(frames),
            "maps": to_tensor(maps, signed=False),
        }
        if self.flows is not None:
            flow = np.asarray(self.flows[number][start : stop - 1], np.float32)
            item["flow"] = torch.from_numpy(flow).permute(0, 3, 1, 2)
        if self.with_face_boxes:
            height, width = sequence.frames.shape[1:3]
            scale = np.array([self.size[1] / width, self.size[0] / height] * 2, np.float32)
            boxes = (sequence.face_boxes[start:stop] + 0.5) * scale - 0.5  # pixel centres on integers
            item["face_box"] = torch.from_numpy(boxes.astype(np.float32))
        return item

    def _flow(
        self, sequence: PairedSequence, method: FlowMethod, weights: str | os.PathLike[str] | None
    ) -> np.ndarray:
        """The sequence's reference flow ``(T-1, H, W, 2)`` float16 at ``self.size``: its cache
        file (memory-mapped), else computed and cached there; in memory for in-memory sequences."""
        if sequence.folder is None:
            return reference_flow(sequence.frames, method, weights, self.size).astype(np.float16)
        shape = (len(sequence.frames) - 1, *self.size, 2)
        cache = sequence.folder / f"flow_{method}_{self.size[0]}x{self.size[1]}.npy"
        if not (cache.is_file() and np.load(cache, mmap_mode="r").shape == shape):
            with atomic_path(cache) as temporary:
                flow = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.float16, shape=shape)
                position = 0
                for chunk in _flow_chunks(sequence.frames, method, weights, self.size):
                    flow[position : position + len(chunk)] = chunk
                    position += len(chunk)
                flow.flush()
                del flow
        return np.load(cache, mmap_mode="r")


def _resize(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(n, H, W, C)`` uint8 -> ``(n, h, w, C)`` (area when shrinking, bilinear when growing)."""
    if images.shape[1:3] == tuple(size):
        return np.array(images)  # a writable copy (items may come from a read-only memory map)
    shrink = size[0] * size[1] < images.shape[1] * images.shape[2]
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    channels = images.shape[3]
    resized = [cv2.resize(image, (size[1], size[0]), interpolation=interpolation) for image in images]
    return np.stack(resized).reshape(len(images), size[0], size[1], channels)
