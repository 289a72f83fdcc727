"""The web app's job layer: a job is one ``vidgan`` command, the CLI's own workflow, run in a
child process (one at a time per device: ``slots``). It reports the workflow's steps and its
progress bars (``VIDGAN_PROGRESS=json``), can be stopped (SIGTERM: the command cleans up, exit
143, and the job's workspace resumes when it is run again), and every file it reads or writes
lies under the app's workspace folder: a path outside it is refused.

Layout of the workspace folder::

    uploads/<n>_<name>      files the page uploaded (size-checked, copied in)
    runs/<job id>/job.json  the job: kind, options, command line, status, error line
    runs/<job id>/result.*  its output (and result.work/, result.report.html for transfer/reenact)
    runs/<job id>/log.txt   everything the command printed
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vidgan.errors import InputError

#: The jobs the page offers, in its tab order.
JOB_KINDS = ("transfer", "reenact", "age", "frontalize", "sample", "preprocess")
#: The largest upload copied into the workspace.
MAX_UPLOAD_BYTES = 2 * 1024**3
#: Preset names every motion job understands without a file.
NAMED_PRESETS = ("cpu-small", "gpu-256", "gpu-512")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
#: A ``[step] running`` line of a workflow, and the CLI's one-line error.
STEP_LINE = re.compile(r"^\[(\w[\w ]*)\] (running|reusing|done)")
ERROR_LINE = re.compile(r"^vidgan [\w-]+: (error: .*|terminated|interrupted)$")


@dataclass
class Job:
    """One run of a ``vidgan`` command and what it reported."""

    id: str
    kind: str
    options: dict[str, Any]
    argv: list[str]
    status: str = "queued"  # queued | running | done | failed | stopped
    step: str = ""
    done: int = 0
    total: int | None = None
    error: str = ""
    started: float = field(default_factory=time.time)
    seconds: float = 0.0

    @property
    def out(self) -> str | None:
        """The command's output path (relative to the workspace): ``--out``, or preprocess's folder."""
        if "--out" in self.argv:
            return self.argv[self.argv.index("--out") + 1]
        return self.argv[2] if self.kind == "preprocess" else None

    @property
    def fraction(self) -> float | None:
        """Progress of the current bar in [0, 1], None when it has no total."""
        return min(self.done / self.total, 1.0) if self.total else None


class Workspace:
    """The app's folder: the only place its jobs read from and write to."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        (self.root / "uploads").mkdir(parents=True, exist_ok=True)
        (self.root / "runs").mkdir(exist_ok=True)

    def inside(self, path: str | os.PathLike[str]) -> Path:
        """``path`` (relative to the workspace, or absolute) resolved, refused outside it."""
        given = Path(path)
        resolved = (given if given.is_absolute() else self.root / given).resolve()
        if not resolved.is_relative_to(self.root):
            raise InputError(given, f"is outside the app's workspace {self.root}; put it there first")
        return resolved

    def upload(self, source: str | os.PathLike[str], name: str | None = None) -> Path:
        """Copy an uploaded file into ``uploads/`` (refused above :data:`MAX_UPLOAD_BYTES`)."""
        source = Path(source)
        if not source.is_file():
            raise InputError(source, "no such file")
        if source.stat().st_size > MAX_UPLOAD_BYTES:
            raise InputError(name or source.name, f"is larger than the upload limit ({MAX_UPLOAD_BYTES // 1024**2} MB)")
        safe = re.sub(r"[^\w.-]", "_", Path(name or source.name).name) or "upload"
        for number in itertools.count():
            target = self.root / "uploads" / f"{number}_{safe}"
            if not target.exists():
                break
        shutil.copyfile(source, target)
        return target

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.root))


def build_argv(workspace: Workspace, kind: str, options: Mapping[str, Any], folder: Path) -> list[str]:
    """The ``vidgan`` command line of a job (paths checked to lie in ``workspace``; the output
    goes to ``folder``). ``options``: the page's fields, empty ones left out."""
    given = {key: value for key, value in options.items() if value not in (None, "", [])}

    def path(key: str) -> str:
        if key not in given:
            raise InputError(key, "is required")
        return workspace.relative(workspace.inside(given[key]))

    def preset() -> list[str]:
        value = str(given.get("preset", "cpu-small"))
        if value in NAMED_PRESETS or value.startswith("configs/"):  # bundled with vidgan
            return ["--preset", value]
        return ["--preset", workspace.relative(workspace.inside(value))]

    out = folder / "result.mp4"
    if kind == "transfer":
        argv = ["transfer", "--source", path("source"), "--target", path("target"), *preset()]
        argv += _flags(given, {"source_frames": "--source-frames", "target_frames": "--target-frames"})
    elif kind == "reenact":
        argv = ["reenact", "--driving", path("driving"), "--target", path("target"), *preset()]
        argv += _flags(given, {"driving_frames": "--driving-frames", "target_frames": "--target-frames",
                               "head_pose": "--head-pose"})
    elif kind in ("age", "frontalize"):
        source = path("input")
        suffix = Path(source).suffix.lower()
        out = folder / f"result{suffix if suffix in IMAGE_SUFFIXES else '.mp4'}"
        argv = [kind, "--input", source, "--model", path("model")]
        argv += _flags(given, {"target_age": "--target-age", "frames": "--frames"})
    elif kind == "sample":
        argv = ["sample", "--model", path("model")]
        argv += _flags(given, {"n": "--n", "length": "--length", "category": "--category", "fix": "--fix"})
    elif kind == "preprocess":
        return ["preprocess", path("inputs"), workspace.relative(folder / "dataset"),
                *_flags(given, {"task": "--task", "runner": "--runner"})]
    else:
        raise InputError(kind, f"no such job; the app runs {', '.join(JOB_KINDS)}")
    if kind in ("transfer", "reenact") and "model" in given:
        argv += ["--model", path("model")]
    overrides = shlex.split(str(given.get("overrides", "")))  # key=value words, as on the command line
    return [*argv, "--out", workspace.relative(out), *overrides]


def _flags(given: Mapping[str, Any], names: Mapping[str, str]) -> list[str]:
    words = []
    for key, flag in names.items():
        if key in given:
            value = given[key]
            words += [flag, str(int(value) if isinstance(value, float) and value.is_integer() else value)]
    return words


class JobQueue:
    """Jobs run in order, ``slots`` at a time, each in its own ``vidgan`` process."""

    def __init__(self, workspace: Workspace, slots: int = 1) -> None:
        self.workspace = workspace
        self.jobs: dict[str, Job] = {}
        self._pending: list[str] = []
        self._processes: dict[str, subprocess.Popen] = {}
        self._stopping: set[str] = set()
        self._lock = threading.Condition()
        self._closed = False
        for saved in sorted((workspace.root / "runs").glob("*/job.json")):  # earlier sessions' runs
            job = Job(**json.loads(saved.read_text()))
            if job.status in ("queued", "running"):
                job.status = "stopped"  # the app that ran it ended
            self.jobs[job.id] = job
        self._workers = [threading.Thread(target=self._work, daemon=True) for _ in range(slots)]
        for worker in self._workers:
            worker.start()

    def folder(self, job_id: str) -> Path:
        return self.workspace.root / "runs" / job_id

    def submit(self, kind: str, options: Mapping[str, Any]) -> Job:
        """Queue a job (its paths checked first: InputError naming the field or path)."""
        with self._lock:
            number = 1 + max((int(j.split("-")[0]) for j in self.jobs), default=0)
            job_id = f"{number:04d}-{kind}"
        argv = build_argv(self.workspace, kind, options, self.folder(job_id))
        job = Job(job_id, kind, dict(options), argv)
        self.folder(job_id).mkdir(parents=True)
        self._enqueue(job)
        return job

    def resume(self, job_id: str) -> Job:
        """Run a stopped or failed job's command again (its workspace reuses what was done)."""
        job = self.jobs[job_id]
        if job.status in ("queued", "running"):
            return job
        job.status, job.error, job.step, job.done, job.total = "queued", "", "", 0, None
        self._enqueue(job)
        return job

    def stop(self, job_id: str) -> None:
        """End a job cleanly: dropped if queued, SIGTERM if running (its command cleans up)."""
        with self._lock:
            job = self.jobs[job_id]
            if job.status == "queued":
                self._pending.remove(job_id)
                job.status = "stopped"
                self._save(job)
            elif job.status == "running":
                self._stopping.add(job_id)
                self._processes[job_id].send_signal(signal.SIGTERM)

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until a job has ended (or ``timeout`` seconds); the job."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self.jobs[job_id].status in ("queued", "running"):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._lock.wait(left)
            return self.jobs[job_id]

    def close(self) -> None:
        """Stop every running job and the workers."""
        with self._lock:
            self._closed = True
            for job_id in list(self._processes):
                self._stopping.add(job_id)
                self._processes[job_id].send_signal(signal.SIGTERM)
            self._lock.notify_all()
        for worker in self._workers:
            worker.join(timeout=60)

    def _enqueue(self, job: Job) -> None:
        with self._lock:
            self.jobs[job.id] = job
            self._pending.append(job.id)
            self._save(job)
            self._lock.notify_all()

    def _save(self, job: Job) -> None:
        (self.folder(job.id) / "job.json").write_text(json.dumps(asdict(job), indent=1))

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                job = self.jobs[self._pending.pop(0)]
                job.status, job.started = "running", time.time()
                process = subprocess.Popen(
                    [sys.executable, "-m", "vidgan.cli", *job.argv], cwd=self.workspace.root,
                    env={**os.environ, "VIDGAN_PROGRESS": "json"}, stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
                self._processes[job.id] = process
                self._save(job)
            self._follow(job, process)

    def _follow(self, job: Job, process: subprocess.Popen) -> None:
        """Read the command's output as it comes: steps, progress, the error line."""
        assert process.stdout is not None
        with open(self.folder(job.id) / "log.txt", "a") as log:
            for line in process.stdout:
                text = line.rstrip("\n")
                if text.startswith('{"progress"'):
                    report = json.loads(text)
                    job.step, job.done, job.total = report["progress"] or job.step, report["n"], report["total"]
                    continue
                log.write(line)
                log.flush()
                if match := STEP_LINE.match(text):
                    job.step, job.done, job.total = match.group(1), 0, None
                elif match := ERROR_LINE.match(text):
                    job.error = match.group(1).removeprefix("error: ")
        code = process.wait()
        with self._lock:
            del self._processes[job.id]
            stopped = job.id in self._stopping
            self._stopping.discard(job.id)
            job.status = "done" if code == 0 else "stopped" if stopped else "failed"
            if job.status == "failed" and not job.error:
                job.error = f"exit code {code}: see {self.workspace.relative(self.folder(job.id) / 'log.txt')}"
            job.seconds = time.time() - job.started
            self._save(job)
            self._lock.notify_all()
