"""Issue #7's proof (`make proof`; about 20 minutes on a CPU): PG2 trained on pairs of the first
200 frames of dance_musepose.mp4 for at most 15 minutes; on pairs of its last 80 frames, stage II
beats stage I and the identity baseline in SSIM and mask-SSIM (bench/pose_guided_proof.py). A run
reuses the steps of an earlier one with the same settings (out/proof/pose_guided)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import bench_script, shared

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.proof
def test_pose_guided_proof():
    shared("videos/dance_musepose.mp4")
    proof = bench_script("pose_guided_proof")
    out = ROOT / "out" / "proof" / "pose_guided"
    scores = proof.run_proof(out)
    print(f"\nbudget: {proof.BUDGET}; {proof.training_summary(out)}")
    print(proof.table(scores))
    rows = proof.goals(scores)
    for goal, met in rows:
        print(f"  {goal}: {'met' if met else 'NOT MET'}")
    assert all(met for _, met in rows)
