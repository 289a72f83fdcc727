"""The layers of vidgan import only downwards: each module is imported in a fresh interpreter and
the modules it loaded are checked (models know nothing of training, I/O needs no torch, ...)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: What importing a model family's module must not load (issue #17: models = networks + inference).
NOT_FROM_MODELS = ("vidgan.train", "vidgan.data", "vidgan.stages", "vidgan.metrics", "pipelines", "tensorboard")
FAMILIES = ("vid2vid", "pose_guided", "mocogan", "dvdgan", "age_cgan", "tpgan", "ref_warp")

CASES = [
    ("vidgan.io", ("torch",)),
    ("vidgan.keypoints", ("vidgan.train", "vidgan.models")),
    ("vidgan.nn", ("vidgan.models", "vidgan.train")),
    ("vidgan.train", ("pipelines", "vidgan.stages")),
    *((f"vidgan.models.{family}", NOT_FROM_MODELS) for family in FAMILIES),
    ("vidgan.models.video_sampling", NOT_FROM_MODELS),
    ("vidgan.models.vid2vid_generator", NOT_FROM_MODELS),
]

PROBE = """
import json, sys
import {module}
forbidden = {forbidden!r}
print(json.dumps(sorted(k for k in sys.modules if any(k == p or k.startswith(p + ".") for p in forbidden))))
"""


@pytest.mark.parametrize(("module", "forbidden"), CASES, ids=[module for module, _ in CASES])
def test_importing_a_layer_loads_nothing_above_it(module, forbidden):
    result = subprocess.run([sys.executable, "-c", PROBE.format(module=module, forbidden=forbidden)],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"import {module} loaded {loaded}"
