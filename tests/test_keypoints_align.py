"""Face alignment on a real photo: similarity to the 5-point template, crop, feathered paste-back."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import psnr, shared
from vidgan.io import read_image
from vidgan.keypoints.align import (
    apply_transform,
    crop_faces,
    estimate_similarity,
    face_template,
    face_transform,
    paste_back,
    paste_mask,
)

CROP = 256


@pytest.fixture(scope="module")
def photo() -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """``(1, 3, H, W)`` float image in [0, 1], ``(1, 68, 2)`` 0-based landmarks, the uint8 image."""
    image = read_image(shared("faces/breakingbad.jpg"))
    body = shared("faces/breakingbad.pts").read_text().split("{")[1].split("}")[0]
    landmarks = np.array(body.split(), np.float32).reshape(68, 2) - 1  # .pts is 1-based
    tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    return tensor, torch.from_numpy(landmarks)[None], image


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    return (images[0].permute(1, 2, 0) * 255).round().clamp(0, 255).to(torch.uint8).numpy()


def _eye_centres(landmarks: torch.Tensor) -> torch.Tensor:
    return torch.stack([landmarks[:, 36:42].mean(dim=1), landmarks[:, 42:48].mean(dim=1)], dim=1)


def test_eye_centres_land_on_the_template_for_a_face_that_fits_it(photo):
    """A face whose five points are the template's, moved by a similarity: the fit is exact."""
    _, landmarks, _ = photo
    template = face_template(CROP).float()
    five = torch.cat([_eye_centres(landmarks), landmarks[:, [30, 48, 54]]], dim=1)
    # Keep the real face's shape but put its 5 points exactly on a rotated, scaled template.
    to_template = estimate_similarity(five, template)
    shape = apply_transform(to_template, landmarks)
    shape[:, 30], shape[:, 48], shape[:, 54] = template[2], template[3], template[4]
    shape[:, 36:42] += template[0] - shape[:, 36:42].mean(dim=1)
    shape[:, 42:48] += template[1] - shape[:, 42:48].mean(dim=1)
    pose = torch.tensor([[[0.6, -0.9, 900.0], [0.9, 0.6, 150.0]]])
    moved = apply_transform(pose, shape)
    transform = face_transform(moved, CROP)
    eyes = apply_transform(transform, _eye_centres(moved))[0]
    assert (eyes - template[:2]).norm(dim=-1).max() < 2.0


def test_the_real_face_is_the_least_squares_fit_upright_and_inside_the_crop(photo):
    _, landmarks, _ = photo
    transform = face_transform(landmarks, CROP)[0].double()
    five = torch.cat([_eye_centres(landmarks), landmarks[:, [30, 48, 54]]], dim=1)[0].double().numpy()
    template = face_template(CROP).numpy()
    # Independent reference: x' = a x - b y + tx, y' = b x + a y + ty by numpy's lstsq.
    rows = [[x, -y, 1, 0] for x, y in five] + [[y, x, 0, 1] for x, y in five]
    a, b, tx, ty = np.linalg.lstsq(np.array(rows), np.r_[template[:, 0], template[:, 1]], rcond=None)[0]
    np.testing.assert_allclose(transform.numpy(), [[a, -b, tx], [b, a, ty]], rtol=1e-4, atol=1e-2)
    eyes = apply_transform(transform[None], _eye_centres(landmarks).double())[0]
    roll = math.degrees(math.atan2(*(eyes[1] - eyes[0]).flip(0).tolist()))
    assert abs(roll) < 12  # the photo's 27-degree roll is undone (up to the 3/4 view's residual)
    aligned = apply_transform(transform[None], landmarks.double())[0]
    assert aligned[17:].min() > 0 and aligned[17:].max() < CROP  # all but the jaw line: ArcFace crops are tight


def test_paste_back_of_the_unmodified_crop_reproduces_the_image(photo):
    image, landmarks, original = photo
    transform = face_transform(landmarks, CROP)
    crop = crop_faces(image, transform, CROP)
    assert crop.shape == (1, 3, CROP, CROP)
    mask = paste_mask(transform, CROP, tuple(image.shape[-2:]))[0, 0].numpy()
    inside, outside = mask > 0, mask == 0
    assert 50_000 < inside.sum() < 400_000 and (mask > 0.999).sum() > 20_000
    pasted = _to_uint8(paste_back(image, crop, transform))
    assert psnr(pasted[inside], original[inside]) > 30
    assert np.array_equal(pasted[outside], original[outside])


def test_paste_back_of_a_modified_crop_changes_only_pixels_inside_the_mask(photo):
    image, landmarks, original = photo
    transform = face_transform(landmarks, CROP)
    crop = torch.tensor([1.0, 0.0, 1.0])[None, :, None, None].expand(1, 3, CROP, CROP)  # magenta
    pasted = _to_uint8(paste_back(image, crop, transform, feather=0.15))
    mask = paste_mask(transform, CROP, tuple(image.shape[-2:]), feather=0.15)[0, 0].numpy()
    changed = (pasted != original).any(axis=-1)
    assert changed.sum() > 30_000
    assert not changed[mask == 0].any()
    assert changed[mask > 0.1].all()  # wherever the crop weighs, the magenta shows
