"""Keypoints: the type, skeletons, extractors, tracking, smoothing, normalisation, rendering.

Models that need a download never load one: external weights come from local disk.
"""

from vidgan.keypoints.align import crop_faces, face_transform, paste_back
from vidgan.keypoints.extract import ExtractSettings, FrameKeypointer, extract_video
from vidgan.keypoints.keypoints import Keypoints, convert_points, load_tracks, points_in, save_tracks
from vidgan.keypoints.normalize import PoseNormalizer, normalize_pose, transfer_expression
from vidgan.keypoints.quality import jitter, lag
from vidgan.keypoints.render import keypoints_to_tensor, render_face_edges, render_heatmaps, render_skeleton
from vidgan.keypoints.skeletons import COCO17, IBUG68, OPENPOSE18, Skeleton, get_skeleton
from vidgan.keypoints.smooth import FILTERS, Smoother, smooth

__all__ = [
    "COCO17",
    "FILTERS",
    "IBUG68",
    "OPENPOSE18",
    "ExtractSettings",
    "FrameKeypointer",
    "Keypoints",
    "PoseNormalizer",
    "Skeleton",
    "Smoother",
    "crop_faces",
    "extract_video",
    "face_transform",
    "get_skeleton",
    "jitter",
    "keypoints_to_tensor",
    "lag",
    "convert_points",
    "points_in",
    "load_tracks",
    "normalize_pose",
    "paste_back",
    "render_face_edges",
    "render_heatmaps",
    "render_skeleton",
    "save_tracks",
    "smooth",
    "transfer_expression",
]
