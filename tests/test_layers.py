"""The layers of vidgan import only downwards, in the order the README's layout lists them: every
``vidgan.X`` import of every module is read from its source, and each layer is imported in a fresh
interpreter and the modules it loaded are checked (models know nothing of training, I/O needs no
torch, ...)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: What importing a model family's module must not load (issue #17: models = networks + inference).
NOT_FROM_MODELS = ("vidgan.train", "vidgan.data", "vidgan.stages", "vidgan.metrics", "vidgan.pipelines", "tensorboard")
FAMILIES = ("vid2vid", "pose_guided", "mocogan", "dvdgan", "age_cgan", "tpgan", "ref_warp")

CASES = [
    ("vidgan.io", ("torch",)),
    ("vidgan.keypoints", ("vidgan.train", "vidgan.models")),
    ("vidgan.nn", ("vidgan.models", "vidgan.train")),
    ("vidgan.train", ("vidgan.pipelines", "vidgan.stages")),
    *((f"vidgan.models.{family}", NOT_FROM_MODELS) for family in FAMILIES),
    ("vidgan.models.video_gan", NOT_FROM_MODELS),
    ("vidgan.models.vid2vid_generator", NOT_FROM_MODELS),
]


def readme_layers() -> list[str]:
    """The modules of the README's layout block, top to bottom (``cli``, ``pipelines``, ...)."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index("## Layout"):]
    block = block[block.index("```") + 3:]
    block = block[:block.index("```")]
    return re.findall(r"^  (\w+)(?:/|\.py) ", block, flags=re.MULTILINE)


def vidgan_imports(path: Path) -> set[str]:
    """The ``vidgan.X`` modules (first component after ``vidgan``) that ``path`` imports anywhere."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name.split(".")[1] for name in names if name.startswith("vidgan.") and name.count(".") >= 1}


def test_every_module_imports_only_the_layers_listed_below_it():
    layers = readme_layers()
    package = ROOT / "vidgan"
    on_disk = {p.stem for p in package.iterdir() if p.name != "__init__.py" and (p.suffix == ".py" or (p / "__init__.py").exists() or p.name == "configs")}
    assert set(layers) == on_disk | {"configs"}, "the README's layout must list every module of vidgan/"
    rank = {name: len(layers) - i for i, name in enumerate(layers)}  # higher = above
    wrong = []
    for name in layers:
        sources = [package / f"{name}.py"] if (package / f"{name}.py").exists() else sorted((package / name).rglob("*.py"))
        for source in sources:
            for imported in vidgan_imports(source) - {name}:
                if imported not in rank or rank[imported] >= rank[name]:
                    wrong.append(f"{source.relative_to(ROOT)} imports vidgan.{imported}")
    assert not wrong, "\n".join(wrong)


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
