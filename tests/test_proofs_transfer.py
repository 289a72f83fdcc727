"""Issue #6's proofs on real footage (`make proof`; tens of minutes on a CPU): dance transfer on
dance_musepose.mp4 and face reenactment on the talking-head clips (bench/transfer_proof.py).
A run reuses the workspace of an earlier one with the same settings (out/proof)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import bench_script, shared

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.proof
@pytest.mark.parametrize("name", ["dance", "face"])
def test_motion_transfer_proof(name):
    shared("videos/dance_musepose.mp4")
    proof = bench_script("transfer_proof")
    report = proof.run_proof(name, ROOT / "out" / "proof")
    rows = proof.goals(name, report.metrics)
    for measure, value, goal, met in rows:
        print(f"{name}: {measure} = {value:.4f} (goal {goal}): {'met' if met else 'NOT MET'}")
    assert all(met for *_, met in rows)
