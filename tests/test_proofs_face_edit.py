"""Issue #9's proof (`make proof`; about 30 minutes on a CPU): Age-cGAN and TP-GAN trained on
face tracks of three talking-head clips for a short CPU budget, then editing frames 0:120 of
talking_head_pexels.mp4: every pixel outside the face mask is the original's, and the flicker
inside the face region is lower with the video smoothing on than off (bench/face_edit_proof.py).
A second run reuses the trained models (runs/face_proof)."""

from __future__ import annotations

import pytest
from conftest import bench_script, shared


@pytest.mark.proof
def test_face_edit_proof():
    shared("videos/talking_head_pexels.mp4")
    assert bench_script("face_edit_proof").main([]) == 0
