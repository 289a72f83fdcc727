"""`vidgan app`: the job layer (workspace confinement, command lines, a real job run, failed,
stopped and resumed), and the page end to end in headless Chromium: a tiny transfer run from the
page to its result video and figures, and a bad upload shown as the CLI's one-line error."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch
import yaml

from vidgan.app import jobs
from vidgan.app.jobs import JobQueue, Workspace, build_argv
from vidgan.config import bundled_config
from vidgan.data.dancer import write_dancer_video
from vidgan.errors import InputError
from vidgan.io import probe

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
#: A transfer small enough for a test: the demo preset at 64 px, two iterations.
TINY = ("train=[train.iterations=2,train.minutes=null,data.size=64,train.checkpoint_every=1,train.log_every=1] "
        "chunk=4")


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    return Workspace(tmp_path / "ws")


def tiny_mocogan(folder: Path) -> Path:
    from vidgan.models.mocogan import MoCoGAN

    config = yaml.safe_load(bundled_config("configs/models/unit_test/mocogan.yaml").read_text())
    torch.manual_seed(0)
    return MoCoGAN(**config["model"]).save_pretrained(folder)


def test_a_job_reads_and_writes_only_inside_the_workspace(workspace, tmp_path, monkeypatch):
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(b"x")
    for path in (str(outside), "../secret.mp4", "uploads/../../secret.mp4"):
        with pytest.raises(InputError, match="outside the app's workspace"):
            build_argv(workspace, "transfer", {"source": path, "target": "t.mp4"}, workspace.root / "runs" / "1")
    copied = workspace.upload(outside, "my clip (1).mp4")
    assert copied.parent == workspace.root / "uploads" and copied.name == "0_my_clip__1_.mp4"
    assert workspace.upload(outside, "my clip (1).mp4").name == "1_my_clip__1_.mp4"  # nothing overwritten
    monkeypatch.setattr(jobs, "MAX_UPLOAD_BYTES", 0)
    with pytest.raises(InputError, match="upload limit"):
        workspace.upload(outside)


def test_command_lines_of_every_job(workspace):
    folder = workspace.root / "runs" / "0001-x"
    argv = build_argv(workspace, "transfer", {"source": "uploads/a.mp4", "target": "uploads/b.mp4", "preset": "gpu-256",
                                              "target_frames": "0:200", "overrides": 'train="[train.minutes=5]"'}, folder)
    assert argv == ["transfer", "--source", "uploads/a.mp4", "--target", "uploads/b.mp4", "--preset", "gpu-256",
                    "--target-frames", "0:200", "--out", "runs/0001-x/result.mp4", "train=[train.minutes=5]"]
    assert build_argv(workspace, "age", {"input": "me.jpg", "model": "m", "target_age": 60.0}, folder) == [
        "age", "--input", "me.jpg", "--model", "m", "--target-age", "60", "--out", "runs/0001-x/result.jpg"]
    assert build_argv(workspace, "preprocess", {"inputs": "videos", "task": "bodies"}, folder) == [
        "preprocess", "videos", "runs/0001-x/dataset", "--task", "bodies"]
    assert build_argv(workspace, "reenact", {"driving": "d.mp4", "target": "t.mp4", "preset": "configs/models/x.yaml",
                                             "head_pose": "driving"}, folder)[5:9] == [
        "--preset", "configs/models/x.yaml", "--head-pose", "driving"]
    with pytest.raises(InputError, match="target: is required"):
        build_argv(workspace, "transfer", {"source": "a.mp4"}, folder)
    with pytest.raises(InputError, match="no such job"):
        build_argv(workspace, "paint", {}, folder)


@pytest.mark.slow
def test_jobs_run_fail_with_the_clis_line_stop_and_resume(workspace):
    tiny_mocogan(workspace.root / "models" / "mocogan")
    (workspace.root / "notes.txt").write_text("not a video\n")
    write_dancer_video(workspace.root / "target.mp4", frames=24, size=(64, 64), seed=1, audio=False)
    queue = JobQueue(workspace)
    try:
        sampled = queue.submit("sample", {"model": "models/mocogan", "n": 2, "length": 4})
        failed = queue.submit("transfer", {"source": "notes.txt", "target": "target.mp4"})
        assert queue.wait(sampled.id, 300).status == "done", (workspace.root / "runs" / sampled.id / "log.txt").read_text()
        assert probe(workspace.root / sampled.out).frames == 4
        assert queue.wait(failed.id, 300).status == "failed"
        assert failed.error.startswith("notes.txt: not a readable video")

        long = queue.submit("transfer", {"source": "target.mp4", "target": "target.mp4",
                                         "preset": "configs/models/ref_warp_demo.yaml",
                                         "overrides": "train=[train.iterations=100000,train.minutes=5,data.size=64]"})
        deadline = time.monotonic() + 300
        while long.step != "train" and time.monotonic() < deadline and long.status in ("queued", "running"):
            time.sleep(0.2)
        assert long.step == "train", long
        queue.stop(long.id)
        assert queue.wait(long.id, 120).status == "stopped"
        assert (workspace.root / "runs" / long.id / "result.work").is_dir()  # kept: a rerun resumes
        assert not (workspace.root / long.out).exists()
        assert queue.resume(long.id).status in ("queued", "running")
        queue.stop(long.id)
        assert queue.wait(long.id, 120).status == "stopped"
        again = JobQueue(workspace)  # a new app on the same workspace lists the runs
        assert {job_id: job.status for job_id, job in again.jobs.items()} == {
            sampled.id: "done", failed.id: "failed", long.id: "stopped"}
        again.close()
    finally:
        queue.close()


def free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


@pytest.mark.slow
def test_the_page_runs_a_transfer_and_shows_a_bad_upload_in_chromium(tmp_path):
    """Starts `vidgan app` on a free localhost port, drives it from headless Chromium, stops it."""
    from playwright.sync_api import expect, sync_playwright

    assert CHROMIUM.is_file(), "Debian's chromium is needed (.ci/run installs it)"
    media = tmp_path / "media"
    media.mkdir()
    write_dancer_video(media / "target.mp4", frames=24, size=(64, 64), seed=1, audio=False)
    write_dancer_video(media / "source.mp4", frames=12, size=(64, 64), seed=2, audio=False)
    (media / "notes.mp4").write_text("this is not a video\n")
    port = free_port()
    app = subprocess.Popen([sys.executable, "-m", "vidgan.cli", "app", "--port", str(port), "--workspace",
                            str(tmp_path / "ws")], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                assert app.poll() is None and time.monotonic() < deadline, app.stdout.read() if app.stdout else ""
                time.sleep(0.5)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"])
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.goto(url)
            page.set_input_files("#transfer-source input[type=file]", str(media / "source.mp4"))
            page.set_input_files("#transfer-target input[type=file]", str(media / "target.mp4"))
            preset = page.locator("#transfer-preset input")
            preset.fill("configs/models/ref_warp_demo.yaml")
            preset.press("Enter")
            page.locator("#transfer-source-frames textarea, #transfer-source-frames input").first.fill("2:")
            page.locator("#transfer-overrides textarea, #transfer-overrides input").first.fill(TINY)
            page.wait_for_timeout(1500)  # the uploads finish
            page.click("#transfer-run")
            expect(page.locator("#job-status [data-status=done]")).to_be_visible(timeout=400_000)
            expect(page.locator("#job-result video")).to_be_visible(timeout=30_000)
            expect(page.locator("#job-figures")).to_contain_text("pck@0.2", timeout=30_000)
            (ROOT / "out").mkdir(exist_ok=True)
            page.screenshot(path=str(ROOT / "out" / "app.png"), full_page=True)
            results = list((tmp_path / "ws" / "runs").glob("*-transfer/result.mp4"))
            assert len(results) == 1 and probe(results[0]).frames == 10

            page.click("#transfer-target button[aria-label=Clear]")
            page.set_input_files("#transfer-target input[type=file]", str(media / "notes.mp4"))
            page.wait_for_timeout(1500)
            page.click("#transfer-run")
            expect(page.locator("#job-error textarea, #job-error input").first).to_have_value(
                re.compile(r"^error: .*/uploads/0_notes\.mp4: not a readable video"), timeout=60_000)
            browser.close()
    finally:
        app.terminate()
        assert app.wait(timeout=60) == 143  # `vidgan app` ends cleanly on SIGTERM
    assert not (ROOT / "vidgan-app").exists() and not (tmp_path / "vidgan-app").exists()
