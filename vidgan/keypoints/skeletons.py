"""Keypoint layouts: joint names, drawing edges, left/right pairs and colours.

Body: COCO-17, OpenPose-18 (OpenPose's BODY_18 order and colours). Face: iBUG-68 (300-W),
dense face mesh (mediapipe, 478 points with irises). ``MEDIAPIPE_TO_COCO`` maps mediapipe's
33 pose landmarks to COCO-17.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Skeleton:
    """A keypoint layout. ``edges`` are joint index pairs to draw; ``flip_pairs`` are the
    (left, right) joints swapped by a horizontal flip; ``colors`` are RGB, one per edge."""

    name: str
    joints: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...] = ()
    colors: tuple[tuple[int, int, int], ...] = field(default=())

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        """Position of a joint by name."""
        return self.joints.index(joint)


_OPENPOSE_COLORS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)

COCO17 = Skeleton(
    name="coco17",
    joints=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
        "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
        "left_knee", "right_knee", "left_ankle", "right_ankle",
    ),
    edges=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
        (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
    ),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    colors=tuple(_OPENPOSE_COLORS[i % 18] for i in range(19)),
)

OPENPOSE18 = Skeleton(
    name="openpose18",
    joints=(
        "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
        "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
        "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
    ),
    edges=(
        (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11),
        (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
    ),
    flip_pairs=((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17)),
    colors=_OPENPOSE_COLORS[:17],
)


def _chain(start: int, stop: int, closed: bool = False) -> list[tuple[int, int]]:
    edges = [(i, i + 1) for i in range(start, stop - 1)]
    return edges + [(stop - 1, start)] if closed else edges


IBUG68 = Skeleton(
    name="ibug68",
    joints=tuple(
        [f"jaw_{i}" for i in range(17)]
        + [f"right_brow_{i}" for i in range(5)]
        + [f"left_brow_{i}" for i in range(5)]
        + [f"nose_bridge_{i}" for i in range(4)]
        + [f"nose_base_{i}" for i in range(5)]
        + [f"right_eye_{i}" for i in range(6)]
        + [f"left_eye_{i}" for i in range(6)]
        + [f"outer_lip_{i}" for i in range(12)]
        + [f"inner_lip_{i}" for i in range(8)]
    ),
    edges=tuple(
        _chain(0, 17) + _chain(17, 22) + _chain(22, 27) + _chain(27, 31) + _chain(31, 36)
        + _chain(36, 42, True) + _chain(42, 48, True) + _chain(48, 60, True) + _chain(60, 68, True)
    ),
    flip_pairs=tuple(
        [(i, 16 - i) for i in range(8)]
        + [(17, 26), (18, 25), (19, 24), (20, 23), (21, 22), (31, 35), (32, 34)]
        + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
        + [(48, 54), (49, 53), (50, 52), (59, 55), (58, 56), (60, 64), (61, 63), (67, 65)]
    ),
)

#: iBUG-68 index ranges of each face part, as polylines: (start, stop, closed).
#: iBUG-68 outer eye corners (left, right), whose distance is the face's size (inter-ocular).
IBUG68_OUTER_EYE_CORNERS = (36, 45)

IBUG68_PARTS: dict[str, tuple[int, int, bool]] = {
    "jaw": (0, 17, False),
    "right_brow": (17, 22, False),
    "left_brow": (22, 27, False),
    "nose_bridge": (27, 31, False),
    "nose_base": (31, 36, False),
    "right_eye": (36, 42, True),
    "left_eye": (42, 48, True),
    "outer_lip": (48, 60, True),
    "inner_lip": (60, 68, True),
}

#: mediapipe pose landmark index of each COCO-17 joint.
MEDIAPIPE_TO_COCO = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)

#: COCO-17 index of each OpenPose-18 joint; -1 is the neck (mid-shoulders).
COCO_TO_OPENPOSE = (0, -1, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)

FACE_MESH_POINTS = 478


def face_mesh_skeleton() -> Skeleton:
    """The dense mediapipe face mesh (478 points) with its contour edges."""
    from mediapipe.python.solutions import face_mesh_connections as connections

    edges = tuple(sorted(tuple(edge) for edge in connections.FACEMESH_CONTOURS))
    return Skeleton(name="face_mesh", joints=tuple(f"mesh_{i}" for i in range(FACE_MESH_POINTS)), edges=edges)


_BY_NAME = {s.name: s for s in (COCO17, OPENPOSE18, IBUG68)}


def get_skeleton(name: str) -> Skeleton:
    """A skeleton by name: coco17, openpose18, ibug68 or face_mesh."""
    if name == "face_mesh":
        return face_mesh_skeleton()
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown skeleton {name!r}; known: {', '.join([*_BY_NAME, 'face_mesh'])}") from None
