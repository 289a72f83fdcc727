"""Issue #16's proofs on real footage (`make proof`; about two hours on a CPU): motion-transfer
quality of the default generator beside its baselines (bench/transfer_quality.py). Each case
writes its contact sheet (out/quality/<case>.png) and reuses the workspace of an earlier run with
the same settings; cross cases reuse the model of the self case of their target."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import bench_script, shared

ROOT = Path(__file__).resolve().parents[1]
CASES = ["face_self_pexels", "face_cross_lp_d6", "face_cross_lp_d3", "face_self_lp_d3", "face_self_lp_d6",
         "body_self", "body_cross"]


@pytest.mark.proof
@pytest.mark.parametrize("name", CASES)
def test_motion_transfer_quality(name):
    shared("videos/talking_head_pexels.mp4")
    proof = bench_script("transfer_quality")
    assert set(CASES) == set(proof.CASES)
    figures = proof.evaluate_case(name, ROOT / "out" / "quality", minutes=20.0, vid2vid=True)
    rows = proof.goals(name, figures)
    for measure, value, goal, met in rows:
        print(f"{name}: {measure} = {value:.4f} (goal {goal}): {'met' if met else 'NOT MET'}")
    assert (ROOT / "out" / "quality" / f"{name}.png").is_file()
    assert all(met for *_, met in rows)
