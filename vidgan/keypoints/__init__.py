"""Keypoints: the type, skeletons, extractors, tracking, smoothing, normalisation, rendering."""

from vidgan.keypoints.keypoints import Keypoints, load_tracks, save_tracks
from vidgan.keypoints.skeletons import COCO17, IBUG68, OPENPOSE18, Skeleton, get_skeleton

__all__ = ["COCO17", "IBUG68", "OPENPOSE18", "Keypoints", "Skeleton", "get_skeleton", "load_tracks", "save_tracks"]
