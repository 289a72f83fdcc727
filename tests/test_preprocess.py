"""The preprocessing pipeline on the real clips: local == Ray, resume, failures, a two-node
cluster and a worker killed mid-run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import VIDEOS, shared, shared_videos
from vidgan.pipelines.preprocess import PreprocessConfig, list_videos, run_preprocess, video_ids
from ray_cluster import LocalCluster, command_line, descendants
from vidgan.data.layout import read_manifest, video_dir
from vidgan.io import probe
from vidgan.keypoints import load_tracks
from vidgan.stages.preprocess import PreprocessSettings

FRAMES = 12


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Every shared clip plus a broken file, as a list file."""
    folder = tmp_path_factory.mktemp("inputs")
    broken = folder / "broken.mp4"
    broken.write_text("not a video")
    listing = folder / "videos.txt"
    listing.write_text("\n".join([*(str(shared(f"videos/{n}")) for n in shared_videos()), str(broken)]))
    return listing


def config(inputs, out_dir, **changes) -> PreprocessConfig:
    settings = PreprocessSettings(task="faces", max_frames=FRAMES, maps=True)
    return replace(PreprocessConfig(inputs=str(inputs), out_dir=str(out_dir), settings=settings), **changes)


def dataset_digest(out_dir: Path) -> dict:
    """Every manifest and every track's keypoints of a dataset folder."""
    digest = {}
    for folder in sorted((out_dir / "videos").iterdir()):
        if folder.name.startswith("."):
            continue
        manifest = read_manifest(folder)
        manifest["source"].pop("path")
        tracks = load_tracks(folder / "keypoints.npz")
        digest[folder.name] = (manifest, [t.points.tobytes() for t in tracks])
    return digest


@pytest.fixture(scope="module")
def local_run(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    return out, run_preprocess(config(inputs, out, runner="local"))


def test_local_run_writes_the_layout_and_reports_failures(local_run):
    out, report = local_run
    assert [r["video_id"] for r in report.failures] == ["broken"]
    assert "not a readable video" in report.failures[0]["error"]
    saved = json.loads((out / "report.json").read_text())
    assert [v["video_id"] for v in saved["videos"] if v["status"] == "failed"] == ["broken"]
    written = {r["video_id"]: r for r in report.rows if r["status"] == "written"}
    assert len(written) == len(shared_videos())
    single = video_dir(out, "single_face")
    manifest = read_manifest(single)
    assert manifest["source"]["frames"] == probe(VIDEOS / "single_face.mp4").frames
    assert manifest["tracks"] == [{"track_id": 0, "crop_frames": FRAMES}]
    crops = probe(single / "track_0.mp4")
    assert crops.frames == FRAMES and (crops.width, crops.height) == (256, 256)
    assert probe(single / "track_0_maps.mp4").frames == FRAMES
    local = load_tracks(single / "track_0.npz")[0]
    assert local.image_size == (256, 256) and local.frame_index.tolist() == list(range(FRAMES))
    eyes = local.xy[:, [36, 45]]
    assert (eyes > 0).all() and (eyes < 256).all()  # the face sits inside its crop
    assert read_manifest(video_dir(out, "no_face"))["tracks"] == []


def test_ray_runner_writes_exactly_what_the_local_runner_writes(inputs, local_run, tmp_path):
    out, local_report = local_run
    ray_report = run_preprocess(config(inputs, tmp_path, runner="ray"))
    assert dataset_digest(tmp_path) == dataset_digest(out)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "worker"} for r in rows]  # noqa: E731
    assert strip(ray_report.rows) == strip(local_report.rows)


def test_rerun_skips_complete_videos_and_redoes_damaged_ones(inputs, local_run, tmp_path):
    out, _ = local_run
    shutil.copytree(out, tmp_path / "copy")
    copy = tmp_path / "copy"
    with open(video_dir(copy, "single_face") / "track_0.mp4", "ab") as handle:
        handle.write(b"damage")
    report = run_preprocess(config(inputs, copy))
    status = {r["video_id"]: r["status"] for r in report.rows}
    assert status["single_face"] == "written"
    assert sum(s == "done" for s in status.values()) == len(shared_videos()) - 1
    assert dataset_digest(copy) == dataset_digest(out)


def test_a_killed_run_resumes_without_losing_or_duplicating_work(tmp_path):
    names = ["single_face.mp4", "talking_head_lp_d3.mp4", "face_then_noface.mov", "talking_head_pexels.mp4"]
    listing = tmp_path / "videos.txt"
    listing.write_text("\n".join(str(shared(f"videos/{n}")) for n in names))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "vidgan.cli", "preprocess", str(listing), str(out), "settings.max_frames=60"]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (video_dir(out, "single_face") / "manifest.json").exists():
        time.sleep(0.2)
    run.send_signal(signal.SIGKILL)
    run.wait()
    finished = {p.name for p in (out / "videos").iterdir() if not p.name.startswith(".")}
    assert "single_face" in finished and len(finished) < len(names)
    report = run_preprocess(config(listing, out, settings=PreprocessSettings(max_frames=60)))
    status = {r["video_id"]: r["status"] for r in report.rows}
    assert all(status[name] == "done" for name in finished)
    assert all(status[Path(n).stem] == "written" for n in names if Path(n).stem not in finished)
    assert not [p for p in (out / "videos").iterdir() if p.name.startswith(".")]  # no partial folder left
    clean = tmp_path / "clean"
    run_preprocess(config(listing, clean, settings=PreprocessSettings(max_frames=60)))
    assert dataset_digest(out) == dataset_digest(clean)


def test_pipeline_runs_on_a_two_node_cluster_through_address(tmp_path, inputs, local_run):
    """`ray start --head` plus a second `ray start --address` (loopback, token auth as on a real
    cluster), and the CLI run through --address: work lands on both nodes, output unchanged."""
    out, _ = local_run
    target = tmp_path / "out"
    with LocalCluster(tmp_path / "ray", workers=1, cpus=1) as cluster:
        command = [sys.executable, "-m", "vidgan.cli", "preprocess", str(inputs), str(target), "--runner", "ray",
                   "--address", cluster.address, f"settings.max_frames={FRAMES}", "settings.maps=true"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                                env={**os.environ, **cluster.environment})
    assert result.returncode == 1, result.stderr[-2000:]  # 1: the broken input failed, the rest ran
    rows = json.loads((target / "report.json").read_text())["videos"]
    nodes = {row["worker"].split(":")[0] for row in rows if row["status"] == "written"}
    assert len(nodes) == 2, nodes
    assert dataset_digest(target) == dataset_digest(out)


def test_a_killed_worker_is_retried_with_no_lost_or_duplicated_frames(tmp_path, inputs, local_run):
    out, _ = local_run
    killed = []

    def kill_one_extractor():
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            for pid in descendants(os.getpid()):
                if "ExtractTracks" in command_line(pid) and (tmp_path / "out" / "videos").exists():
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_one_extractor)
    killer.start()
    report = run_preprocess(config(inputs, tmp_path / "out", runner="ray"))
    killer.join()
    assert killed, "no extraction worker was found to kill"
    assert sorted(r["video_id"] for r in report.rows) == sorted([*(Path(n).stem for n in shared_videos()), "broken"])
    assert dataset_digest(tmp_path / "out") == dataset_digest(out)


def test_video_ids_never_collide_whatever_the_names():
    videos = [Path("a/clip.mp4"), Path("b/clip.mp4"), Path("clip-2.mp4"), Path("c/clip.mov"), Path("clip-3.mp4")]
    ids = video_ids(videos)
    assert ids == ["clip", "clip-2", "clip-2-2", "clip-3", "clip-3-2"]
    assert len(set(ids)) == len(ids)


def test_an_output_folder_inside_the_inputs_is_not_read_as_new_videos(tmp_path):
    for name in ("a.mp4", "out/a/track_0.mp4", "out/b.mp4"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert list_videos(str(tmp_path), exclude=tmp_path / "out") == [tmp_path / "a.mp4"]
    assert len(list_videos(str(tmp_path))) == 3
