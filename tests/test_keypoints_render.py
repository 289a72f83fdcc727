"""Renderers: OpenPose skeletons, vid2vid face edges, Gaussian heatmaps, on the inputs' device."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidgan.keypoints import COCO17, IBUG68, OPENPOSE18, Keypoints
from vidgan.keypoints.render import keypoints_to_tensor, render_face_edges, render_heatmaps, render_skeleton
from vidgan.keypoints.skeletons import IBUG68_PARTS

DEVICES = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
SIZE = (64, 80)


def _missing(joints: int, batch: int = 1) -> torch.Tensor:
    points = torch.full((batch, joints, 3), float("nan"))
    points[..., 2] = 0
    return points


def _neck_to_right_shoulder(device: torch.device) -> torch.Tensor:
    """OpenPose-18 with only the neck (20, 30) and right shoulder (60, 30) visible: edge 0."""
    points = _missing(OPENPOSE18.num_joints)
    points[0, 1] = torch.tensor([20.0, 30.0, 0.9])
    points[0, 2] = torch.tensor([60.0, 30.0, 0.8])
    return points.to(device)


def _face(batch: int = 1) -> torch.Tensor:
    """iBUG-68 points spread over a 64 x 80 image; the right eye a hexagon around (25, 22)."""
    generator = torch.Generator().manual_seed(0)
    points = torch.rand(batch, 68, 3, generator=generator) * torch.tensor([70.0, 56.0, 0.0]) + torch.tensor([5.0, 4.0, 1.0])
    angles = torch.arange(6) * (np.pi / 3)
    points[:, 36:42, 0] = 25 + 8 * torch.cos(angles)
    points[:, 36:42, 1] = 22 + 5 * torch.sin(angles)
    return points


@pytest.mark.parametrize("device", DEVICES)
def test_skeleton_edge_has_its_colour_along_the_segment_and_nothing_far_away(device):
    image = render_skeleton(_neck_to_right_shoulder(device), OPENPOSE18, SIZE, thickness=4, joint_radius=3)
    assert image.shape == (1, 3, *SIZE) and image.device.type == device.type
    limb = torch.tensor(OPENPOSE18.colors[0], dtype=torch.float32, device=device) / 255
    for x in (30, 40, 50):  # along the segment, away from the joint discs
        assert torch.allclose(image[0, :, 30, x], limb)
        assert torch.allclose(image[0, :, 31, x], limb)  # 4 px wide
    assert image[0, :, 20:, 20:60].sum() > 0
    assert image[0, :, 34:].abs().sum() == 0 and image[0, :, :26].abs().sum() == 0
    assert image[0, :, :, 65:].abs().sum() == 0
    neck = torch.tensor(OPENPOSE18.colors[1], dtype=torch.float32, device=device) / 255
    assert torch.allclose(image[0, :, 30, 20], neck)  # joint discs drawn over limbs, colour per joint


@pytest.mark.parametrize("device", DEVICES)
def test_a_missing_joint_draws_no_edge(device):
    points = _neck_to_right_shoulder(device)
    points[0, 2] = torch.tensor([float("nan"), float("nan"), 0.0], device=device)
    image = render_skeleton(points, OPENPOSE18, SIZE, thickness=4, joint_radius=3)
    assert image[0, :, :, 30:].abs().sum() == 0  # only the neck disc remains
    assert image[0, :, 30, 20].sum() > 0
    hidden = _neck_to_right_shoulder(device)
    hidden[0, 2, 2] = 0.0  # a finite point with confidence 0 is missing too
    assert torch.equal(render_skeleton(hidden, OPENPOSE18, SIZE, 4, 3), image)


@pytest.mark.parametrize("device", DEVICES)
def test_heatmap_peaks_at_the_keypoint_with_value_one_and_is_zero_for_missing_points(device):
    points = _missing(COCO17.num_joints)
    points[0, 0] = torch.tensor([12.0, 40.0, 1.0])
    points[0, 5] = torch.tensor([50.3, 9.6, 0.5])
    heatmaps = render_heatmaps(points.to(device), SIZE, sigma=2.0)
    assert heatmaps.shape == (1, 17, *SIZE) and heatmaps.device.type == device.type
    for joint, (x, y) in [(0, (12, 40)), (5, (50, 10))]:
        flat = int(heatmaps[0, joint].argmax())
        assert (flat % SIZE[1], flat // SIZE[1]) == (x, y)
    assert heatmaps[0, 0, 40, 12] == 1.0
    assert 0.5 < heatmaps[0, 0, 40, 14] < 0.7  # exp(-4 / 8)
    assert heatmaps[0, 0, 40, 30] < 1e-6
    missing = [j for j in range(17) if j not in (0, 5)]
    assert heatmaps[0, missing].abs().sum() == 0


@pytest.mark.parametrize("device", DEVICES)
def test_face_edges_follow_the_eye_loop_and_leave_the_face_centre_empty(device):
    points = _missing(68)
    start, stop, closed = IBUG68_PARTS["right_eye"]
    assert closed
    angles = torch.arange(6) * (np.pi / 3)
    points[0, start:stop] = torch.stack([40 + 15 * torch.cos(angles), 32 + 15 * torch.sin(angles), torch.ones(6)], -1)
    edges = render_face_edges(points.to(device), SIZE, thickness=2)
    assert edges.shape == (1, 1, *SIZE) and edges.device.type == device.type
    for i in range(6):  # the middle of every side, including the closing one (41 -> 36)
        a, b = points[0, start + i, :2], points[0, start + (i + 1) % 6, :2]
        x, y = ((a + b) / 2).round().long().tolist()
        assert edges[0, 0, y, x] > 0.5, i
    assert edges[0, 0, 28:37, 36:45].sum() == 0  # the centre of the loop
    assert edges[0, 0, :10].sum() == 0 and edges[0, 0, 55:].sum() == 0


def test_face_edges_skip_missing_points():
    points = _face()
    full = render_face_edges(points, SIZE)
    points[0, 37] = torch.tensor([float("nan"), float("nan"), 0.0])
    broken = render_face_edges(points, SIZE)
    assert broken.sum() < full.sum() and torch.all(broken <= full + 1e-6)
    assert torch.isfinite(broken).all()


def test_a_batch_equals_single_calls():
    faces = _face(batch=3)
    bodies = torch.rand(3, 18, 3, generator=torch.Generator().manual_seed(1)) * torch.tensor([80.0, 64.0, 1.0])
    bodies[1, 4] = torch.tensor([float("nan"), float("nan"), 0.0])
    batched = [render_skeleton(bodies, OPENPOSE18, SIZE), render_face_edges(faces, SIZE), render_heatmaps(bodies, SIZE, 3.0)]
    for i in range(3):
        single = [
            render_skeleton(bodies[i : i + 1], OPENPOSE18, SIZE),
            render_face_edges(faces[i : i + 1], SIZE),
            render_heatmaps(bodies[i : i + 1], SIZE, 3.0),
        ]
        for whole, one in zip(batched, single):
            assert torch.allclose(whole[i : i + 1], one, atol=1e-6)


def test_keypoints_to_tensor_masks_missing_points_for_the_renderers():
    points = np.random.default_rng(0).uniform(5, 50, (4, 68, 3)).astype(np.float32)
    points[..., 2] = 1
    points[2] = np.nan
    kp = Keypoints(points, IBUG68, frame_index=np.arange(4))
    tensor = keypoints_to_tensor(kp, device="cpu")
    assert tensor.shape == (4, 68, 3) and tensor.dtype == torch.float32 and torch.isfinite(tensor).all()
    assert torch.equal(tensor[2], torch.zeros(68, 3))
    assert torch.equal(render_face_edges(tensor, SIZE), render_face_edges(torch.from_numpy(kp.points), SIZE))
    assert render_face_edges(tensor, SIZE)[2].sum() == 0


def test_wrong_shapes_are_refused():
    with pytest.raises(ValueError, match="points must be"):
        render_skeleton(torch.zeros(1, 17, 3), OPENPOSE18, SIZE)
    with pytest.raises(ValueError, match="points must be"):
        render_heatmaps(torch.zeros(17, 3), SIZE)
