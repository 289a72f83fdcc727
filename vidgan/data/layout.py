"""The preprocessed dataset layout: what ``vidgan preprocess`` writes and training datasets read.

```
OUT/
  report.json                      failures of the last run: [{video_id, source, error}]
  videos/<video_id>/               one folder per source video, renamed into place when complete
    manifest.json                  source (path, sha256, frames, fps, size), task, settings, files
    keypoints.npz, keypoints.json  every smoothed track in source pixels (vidgan.keypoints format)
    track_<id>.mp4                 the track's crops, crop_size x crop_size, H.264 crf 18
    track_<id>.npz, .json          the track's keypoints in crop pixels, frame_index = source frames
    track_<id>_transforms.npy      (T, 2, 3) image -> crop affine of every crop (for pasting back)
    track_<id>_maps.mp4            conditioning maps (skeleton / face edges) when asked
```

A video folder exists only when complete: it is written under a hidden name and renamed.
:func:`is_complete` checks the manifest and every file's checksum, so a rerun can skip it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

FORMAT = "vidgan.dataset"
VERSION = 1
MANIFEST = "manifest.json"


def video_dir(root: str | os.PathLike[str], video_id: str) -> Path:
    """The folder of one source video in a dataset."""
    return Path(root) / "videos" / video_id


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The manifest of a video folder, or None if it is missing or unreadable."""
    try:
        manifest = json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        return None
    return manifest


def is_complete(folder: str | os.PathLike[str], *, source_sha256: str, settings: dict[str, Any]) -> bool:
    """True if ``folder`` holds a manifest for this source and settings whose files all exist
    with the recorded checksums."""
    manifest = read_manifest(folder)
    if manifest is None or manifest["source"]["sha256"] != source_sha256 or manifest["settings"] != settings:
        return False
    for name, digest in manifest["files"].items():
        file = Path(folder) / name
        if not file.is_file() or sha256_file(file) != digest:
            return False
    return True


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` with the checksum of every other file of ``folder``."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name != MANIFEST)
    content = {"format": FORMAT, "version": VERSION, **manifest,
               "files": {p.name: sha256_file(p) for p in files}}
    (folder / MANIFEST).write_text(json.dumps(content, indent=2, sort_keys=True))
