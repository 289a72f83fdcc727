"""vid2vid: sequential generation (chunked == whole), the no-temporal path, face refinement, the
paired dataset with its cached reference flow, flow/warp wiring, training, reload and resume."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml
from kornia.filters import gaussian_blur2d, sobel

from tests.conftest import shared
from vidgan.config import bundled_config, load_config
from vidgan.data import paired_video
from vidgan.data.paired_video import (
    PairedVideoDataset,
    reference_flow,
    write_paired_dataset,
)
from vidgan.errors import ConfigError, MissingWeightsError
from vidgan.io import VideoReader
from vidgan.models.vid2vid import Vid2Vid
from vidgan.train.experiment import ExperimentConfig, run_experiment
from vidgan.train.logger import read_metrics
from vidgan.train.recipes.vid2vid import Vid2VidLosses, flow_losses, scheduled

ROOT = Path(__file__).resolve().parents[1]
UNIT = bundled_config("configs/models/unit_test/vid2vid.yaml")
FACE_BOX = (18.0, 2.0, 45.0, 29.0)  # x0, y0, x1, y1 on the 64x64 frames


pytestmark = pytest.mark.usefixtures("one_thread")


def unit_model(**changes: object) -> Vid2Vid:
    """The unit-test config's model (2 levels, foreground split, face refinement), ``changes`` applied."""
    torch.manual_seed(0)
    arguments = {**yaml.safe_load(UNIT.read_text())["model"], **changes}
    return Vid2Vid(**arguments).eval()


@pytest.fixture(scope="module")
def dance() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """10 frames of dance_musepose.mp4 (upper body, 64x64), their Sobel edge maps (T, 1, 64, 64)
    in [0, 1], and face boxes (T, 4), NaN in frame 5."""
    reader = VideoReader(shared("videos/dance_musepose.mp4"))
    frames = np.stack([_square(frame) for frame in reader.frames(0, 10)])
    gray = torch.from_numpy(frames).float().mean(-1)[:, None] / 255
    maps = sobel(gray)
    maps = (maps / maps.amax(dim=(1, 2, 3), keepdim=True)).clamp(0, 1)
    boxes = np.tile(np.array(FACE_BOX, np.float32), (len(frames), 1))
    boxes[5] = np.nan
    return frames, maps.numpy(), boxes


def _square(frame: np.ndarray) -> np.ndarray:
    width = frame.shape[1]
    return cv2.resize(frame[200 : 200 + width], (64, 64), interpolation=cv2.INTER_AREA)


def test_generate_shapes_ranges_and_state():
    model = unit_model()
    maps = torch.rand(2, 5, 1, 64, 64)
    with torch.no_grad():
        frames, state = model.generate(maps)
        single, _ = model.generate(maps[0])
        coarse, _ = model.generate(maps[:, :, :, ::2, ::2], scales=1)
    assert frames.shape == (2, 5, 3, 64, 64) and single.shape == (5, 3, 64, 64)
    assert coarse.shape == (2, 5, 3, 32, 32)
    assert frames.abs().max() <= 1 and torch.isfinite(frames).all()
    assert state.maps.shape == (2, 2, 1, 64, 64) and state.frames.shape == (2, 2, 3, 64, 64)
    assert torch.equal(state.frames, frames[:, -2:])
    assert torch.allclose(single, frames[0], atol=1e-5)
    with pytest.raises(ValueError, match="multiples of 8"):
        model.generate(maps[:, :, :, :60, :60])
    with pytest.raises(ValueError, match="maps must be"):
        model.generate(torch.rand(2, 5, 3, 64, 64))


def test_generation_in_chunks_equals_one_call():
    model = unit_model()
    maps = torch.rand(2, 7, 1, 64, 64)
    boxes = torch.tensor(FACE_BOX).expand(2, 7, 4).clone()
    boxes[1, 2] = float("nan")
    with torch.no_grad():
        whole, final = model.generate(maps, face_boxes=boxes)
        chunks, state = [], None
        for start, stop in ((0, 3), (3, 4), (4, 7)):
            frames, state = model.generate(maps[:, start:stop], state, boxes[:, start:stop])
            chunks.append(frames)
    assert torch.equal(torch.cat(chunks, dim=1), whole)
    assert torch.equal(state.frames, final.frames) and torch.equal(state.maps, final.maps)


def test_temporal_false_generates_every_frame_alone():
    model = unit_model()
    maps = torch.rand(1, 4, 1, 64, 64)
    with torch.no_grad():
        baseline, _ = model.generate(maps, temporal=False)
        alone = torch.cat([model.generate(maps[:, t : t + 1])[0] for t in range(4)], dim=1)
        temporal, _ = model.generate(maps)
        rollout = model.generator.unroll(maps, temporal=False)
    assert torch.equal(baseline, alone)  # no history of maps or frames
    assert torch.equal(temporal[:, 0], baseline[:, 0])  # the first frame has no previous frame
    assert not torch.allclose(temporal[:, 1:], baseline[:, 1:])
    assert rollout.flows.shape[1] == rollout.masks.shape[1] == 0


def test_face_refinement_changes_only_the_face_and_is_optional():
    model = unit_model()
    with torch.no_grad():
        model.generator.face.unet.head.weight.normal_(0, 0.1)  # a trained refiner's residual
    maps = torch.rand(1, 3, 1, 64, 64)
    boxes = torch.tensor(FACE_BOX).expand(1, 3, 4).clone()
    boxes[0, 1] = float("nan")
    with torch.no_grad():
        plain, plain_state = model.generate(maps)
        refined, refined_state = model.generate(maps, face_boxes=boxes)
    x0, y0, x1, y1 = (int(v) for v in FACE_BOX)
    changed = (refined != plain).any(dim=2)[0]  # (T, H, W)
    assert changed[0, y0 : y1 + 1, x0 : x1 + 1].float().mean() > 0.5
    outside = torch.ones(64, 64, dtype=torch.bool)
    outside[y0 : y1 + 1, x0 : x1 + 1] = False
    assert not changed[:, outside].any()  # pixels outside the box are exact
    assert not changed[1].any()  # no face box in frame 1
    assert torch.equal(plain_state.frames, refined_state.frames)  # history holds unrefined frames
    with pytest.raises(ValueError, match="face_refine=False"):
        unit_model(face_refine=False).generate(maps, face_boxes=boxes)


def test_paired_dataset_from_folder_and_arrays_with_cached_flow(tmp_path, dance, monkeypatch):
    frames, maps, boxes = dance
    folder = write_paired_dataset(frames, torch.from_numpy(maps), tmp_path, face_boxes=boxes, sequence_id="dance")
    stamp = (folder / "frames.npy").stat().st_mtime_ns
    again = write_paired_dataset(frames, torch.from_numpy(maps), tmp_path, face_boxes=boxes, sequence_id="dance")
    assert again == folder
    assert (folder / "frames.npy").stat().st_mtime_ns == stamp  # same content: kept, not rewritten
    settings = {"clip_length": 4, "stride": 3, "size": 32, "with_face_boxes": True}
    dataset = PairedVideoDataset.from_folder(tmp_path, **settings)
    assert len(dataset) == 3 and (folder / "flow_dis_32x32.npy").is_file()
    item = dataset[1]
    assert item["frames"].shape == (4, 3, 32, 32) and item["maps"].shape == (4, 1, 32, 32)
    assert item["flow"].shape == (3, 2, 32, 32) and item["face_box"].shape == (4, 4)
    assert -1 <= item["frames"].min() <= item["frames"].max() <= 1
    assert 0 <= item["maps"].min() <= item["maps"].max() <= 1
    assert torch.allclose(item["face_box"][0], (torch.tensor(FACE_BOX) + 0.5) / 2 - 0.5)
    assert torch.isnan(item["face_box"][2]).all()  # frame 5 has no face

    def no_recompute(*args):
        raise AssertionError("reference flow recomputed despite its cache")

    monkeypatch.setattr(paired_video, "_dis_flow", no_recompute)
    cached = PairedVideoDataset.from_folder(tmp_path, **settings)
    monkeypatch.undo()
    in_memory = PairedVideoDataset.from_arrays(frames, torch.from_numpy(maps), boxes, **settings)
    for index in range(len(dataset)):
        for key, value in dataset[index].items():
            assert _same(value, cached[index][key])
            assert _same(value, in_memory[index][key])
    with pytest.raises(ValueError, match="face boxes"):
        PairedVideoDataset.from_arrays(frames, maps.transpose(0, 2, 3, 1), clip_length=4, with_face_boxes=True)


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.equal(torch.nan_to_num(a, nan=-7.0), torch.nan_to_num(b, nan=-7.0))


def translating(frames: int = 5, shift: tuple[int, int] = (2, 1), size: int = 64) -> np.ndarray:
    """RGB uint8 ``(T, size, size, 3)`` of a smooth random texture moving by ``shift`` = (dx, dy)
    pixels per frame."""
    (dx, dy), side = shift, size + frames * max(shift)
    generator = torch.Generator().manual_seed(1)
    texture = gaussian_blur2d(torch.rand(1, 3, side, side, generator=generator), 7, (1.5, 1.5))[0]
    texture = (texture - texture.min()) / (texture.max() - texture.min())
    y, x = frames * dy, frames * dx
    clips = [texture[:, y - t * dy : y - t * dy + size, x - t * dx : x - t * dx + size] for t in range(frames)]
    return (torch.stack(clips).permute(0, 2, 3, 1) * 255).round().byte().numpy()


def test_reference_flow_direction_and_flow_head_learning_on_a_translating_sequence():
    frames = translating()
    flow = reference_flow(frames)  # frame t+1 at p shows frame t at p + flow: the shift backwards
    interior = flow[:, 8:-8, 8:-8]
    assert np.allclose(interior.mean(axis=(0, 1, 2)), (-2, -1), atol=0.2)
    real = torch.from_numpy(frames).permute(0, 3, 1, 2)[None].float() / 127.5 - 1
    reference = torch.from_numpy(flow).permute(0, 3, 1, 2)[None]
    weights = Vid2VidLosses(flow=1.0, warp=1.0, mask=0.0)

    def warp_terms(flows: torch.Tensor) -> float:
        masks = torch.zeros_like(flows[:, :, :1])
        return sum(v.item() for v in flow_losses(real, reference, flows, masks, weights).values())

    random = warp_terms(torch.randn(reference.shape, generator=torch.Generator().manual_seed(2)) * 2)
    assert warp_terms(reference) < 0.1 * random
    torch.manual_seed(0)
    generator = Vid2Vid(map_channels=3, channels=8, n_downsample=2, n_blocks=1, temporal_scales=0).generator
    optimizer = torch.optim.Adam(generator.parameters(), lr=2e-3)
    maps = (real + 1) / 2  # the frames as their own maps: the flow is learnable from them
    losses = []
    for _ in range(40):
        rollout = generator.unroll(maps)
        terms = flow_losses(real, reference, rollout.flows, rollout.masks, weights)
        total = terms["flow"] + terms["warp"]
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        losses.append(total.item())
    learned = generator.unroll(maps).flows.detach()
    assert losses[-1] < 0.5 * losses[0] and warp_terms(learned) < 0.5 * random
    assert np.allclose(learned[0, :, :, 8:-8, 8:-8].mean(dim=(0, 2, 3)).numpy(), (-2, -1), atol=0.5)


def test_raft_reference_flow_with_local_weights(tmp_path):
    from torchvision.models.optical_flow import raft_small

    with pytest.raises(MissingWeightsError, match="raft_large_C_T_SKHT_V2"):
        reference_flow(translating(3, size=128), "raft", weights=tmp_path)
    torch.manual_seed(0)
    weights = tmp_path / paired_video.RAFT_SMALL_FILE
    torch.save(raft_small(weights=None).state_dict(), weights)
    flow = reference_flow(translating(3, size=128), "raft", weights=weights)  # untrained: shape and wiring
    assert flow.shape == (2, 128, 128, 2) and np.isfinite(flow).all()


def test_schedules_are_piecewise_constant_and_checked():
    assert [scheduled([(0, 4), (500, 8)], i, 2) for i in (0, 499, 500, 10_000)] == [4, 4, 8, 8]
    assert scheduled(None, 123, 6) == 6
    for bad in ([(10, 4)], [(0, 4), (0, 8)], [(0, 0)]):
        with pytest.raises(ValueError, match="losses.curriculum"):
            Vid2VidLosses(curriculum=bad)


@pytest.fixture(scope="module")
def unit_data(dance) -> Path:
    """The unit-test config's ``data.folder`` (under ``out/``), written once and kept, so that
    ``vidgan train --config configs/models/unit_test/vid2vid.yaml`` also runs by hand."""
    frames, maps, boxes = dance
    folder = ROOT / yaml.safe_load(UNIT.read_text())["data"]["folder"]
    write_paired_dataset(frames, torch.from_numpy(maps), folder, face_boxes=boxes)  # kept if unchanged
    return folder


def unit_config(folder: Path, **train: object) -> ExperimentConfig:
    """The unit-test config, its data folder made absolute (tests may run from anywhere)."""
    overrides = [f"data.folder={folder}", *(f"train.{k}={v}" for k, v in train.items())]
    return load_config(ExperimentConfig, UNIT, overrides)


def test_training_logs_every_term_and_exports_a_working_model(tmp_path, unit_data, dance):
    _, maps, boxes = dance
    straight = run_experiment(unit_config(unit_data), tmp_path / "straight")
    assert straight.iterations == 3
    metrics = read_metrics(tmp_path / "straight")
    terms = {"loss_g/image", "loss_g/temporal_0", "loss_g/face", "loss_g/feature_matching", "loss_g/flow",
             "loss_g/warp", "loss_g/mask", "loss_d/image", "loss_d/temporal_0", "loss_d/temporal_1", "loss_d/face"}
    assert terms <= set(metrics[-1]) and all(np.isfinite(v) for m in metrics for v in m.values())
    assert "loss_d/temporal_1" in metrics[0]  # 3 frames from the start: rate-2 window fits
    assert (tmp_path / "straight" / "samples" / "iteration_0000003.mp4").is_file()
    model = Vid2Vid.from_pretrained(tmp_path / "straight" / "model")
    with torch.no_grad():
        generated, _ = model.generate(torch.from_numpy(maps[:4]), face_boxes=torch.from_numpy(boxes[:4]))
    assert generated.shape == (4, 3, 64, 64) and torch.isfinite(generated).all()


def test_training_without_face_refinement_or_flow(tmp_path, unit_data):
    config = unit_config(unit_data, iterations=1, sample_every=1)
    config.model["face_refine"] = False
    config.data["flow"] = "none"
    assert run_experiment(config, tmp_path / "run").iterations == 1
    logged = read_metrics(tmp_path / "run")[-1]
    assert "loss_g/face" not in logged and "loss_g/flow" not in logged and "loss_g/temporal_1" in logged
    config.model["map_channels"] = 3
    with pytest.raises(ConfigError, match="map_channels"):
        run_experiment(config, tmp_path / "other")
