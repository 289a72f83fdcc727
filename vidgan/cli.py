"""``vidgan`` command line: one registry of subcommands; user errors print one line, exit != 0."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import math
import os
import re
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

# OpenMP threads that spin while waiting collapse under CPU contention (a vid2vid step on 2 busy
# cores: 10.3 s with the default policy, 0.67 s passive). Read when torch loads its OpenMP, which
# the commands import after this line; a library user sets it before importing torch (README).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from vidgan.errors import VidganError  # noqa: E402


@dataclass(frozen=True)
class Command:
    """A subcommand: ``configure`` adds its arguments, ``run`` executes it (returns exit code)."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None] = lambda p: None):
    """Register ``run(args) -> int`` as subcommand ``name``."""

    def register(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = Command(name, help, configure, run)
        return run

    return register


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="vidgan", description="Video and face synthesis pipeline.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for entry in COMMANDS.values():
        entry.configure(subparsers.add_parser(entry.name, help=entry.help, description=entry.help))
    return parser


#: OS errors about a named file that a user causes or can fix (permissions, space, a path that is
#: not what it should be): one line, exit 2. Anything else keeps its traceback.
FILE_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EISDIR,
                         errno.ENOTDIR, errno.ENOENT, errno.EEXIST, errno.ENAMETOOLONG})


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every ``finally`` (atomic outputs) runs."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


#: Lines the native libraries write straight to file descriptor 2 (mediapipe's absl/glog and TF
#: Lite): ``W0000 00:00:...``, ``INFO: Created TensorFlow Lite XNNPACK delegate``, absl's banner.
NATIVE_LOG = re.compile(rb"^([IWEF]\d{4} \d\d:\d\d:\d\d|INFO: |WARNING: All log messages before absl)")


@contextlib.contextmanager
def native_logs_filtered() -> Iterator[None]:
    """While inside, file descriptor 2 is a pipe whose lines reach the terminal unless they are
    :data:`NATIVE_LOG` lines; Python's own ``sys.stderr`` (errors, warnings, progress bars)
    writes to the terminal directly. A no-op when ``sys.stderr`` is not descriptor 2 (pytest)."""
    try:
        direct = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        direct = False
    if not direct:
        yield
        return
    sys.stderr.flush()
    terminal = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    python_stderr = sys.stderr
    sys.stderr = open(terminal, "w", buffering=1, encoding=python_stderr.encoding, errors="backslashreplace",
                      closefd=False)
    forwarder = threading.Thread(target=_forward_lines, args=(read_end, terminal), daemon=True)
    forwarder.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr = python_stderr
        os.dup2(terminal, 2)  # the pipe's last writer (unless a child process still holds it) closes
        forwarder.join(timeout=2)
        if not forwarder.is_alive():
            os.close(terminal)


def _forward_lines(read_end: int, terminal: int) -> None:
    with open(read_end, "rb") as pipe:
        for line in pipe:
            if not NATIVE_LOG.match(line):
                try:
                    os.write(terminal, line)
                except OSError:
                    return


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vidgan`` script."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may follow options too (argparse stops positionals at the first option)
    if extra and hasattr(args, "overrides") and all("=" in item and not item.startswith("-") for item in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.debug:
        return _run(args)
    with native_logs_filtered():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Run the chosen subcommand: a user error is one line and its exit code."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None  # clean up, as on Ctrl-C
    try:
        return COMMANDS[args.command].run(args)
    except Terminated:
        print(f"vidgan {args.command}: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except VidganError as error:
        if args.debug:  # the traceback, and the same exit code as without --debug
            traceback.print_exc()
        print(f"vidgan {args.command}: error: {error}", file=sys.stderr)
        return error.exit_code
    except OSError as error:
        if error.filename is None or error.errno not in FILE_ERRNOS or args.debug:
            raise
        # a folder made read-only, a disk that filled up, a path removed during the run: the one place
        # that turns the OS's refusal into a line naming the file
        print(f"vidgan {args.command}: error: {error.filename}: {error.strerror.lower()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vidgan {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


# --- subcommands -------------------------------------------------------------------------


@command("version", "print the vidgan version and its key libraries")
def _version(args: argparse.Namespace) -> int:
    from importlib.metadata import version

    names = ("vidgan", "torch", "torchvision", "av", "kornia", "opencv-python", "mediapipe", "ray")
    for name in names:
        print(f"{name} {version(name)}")
    return 0


def _probe_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", help="video file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


@command("probe", "print what a video file holds (frames, fps, size, codec, audio, rotation)", _probe_args)
def _probe(args: argparse.Namespace) -> int:
    from vidgan.io import probe

    info = probe(args.video)
    if args.json:
        fields = asdict(info) | {"path": str(info.path), "fps": str(info.fps)}
        print(json.dumps(fields, indent=2))
    else:
        print(info.describe())
    return 0


def _convert_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="input video")
    parser.add_argument("target", help="output video (.mp4, .mov, .mkv)")
    parser.add_argument("--fps", help="output frame rate, e.g. 25 or 30000/1001 (default: the source's)")
    parser.add_argument("--size", help="WIDTHxHEIGHT, or one number for the shorter side (default: the source's)")
    parser.add_argument("--crf", type=int, default=18, help="H.264 quality, lower is better (default 18)")
    parser.add_argument("--preset", default="medium", help="x264 speed preset (default medium)")
    parser.add_argument(
        "--allow-damaged", action="store_true", help="convert what decodes from a damaged file instead of failing"
    )


@command("convert", "re-encode a video to H.264 (new fps/size), keeping its audio", _convert_args)
def _convert(args: argparse.Namespace) -> int:
    from fractions import Fraction

    from vidgan.errors import ConfigError
    from vidgan.io.convert import convert, parse_size

    try:
        fps = Fraction(args.fps) if args.fps else None
    except (ValueError, ZeroDivisionError):
        raise ConfigError(f"--fps {args.fps!r}: expected a positive number or a fraction such as 30000/1001") from None
    try:
        size = parse_size(args.size) if args.size else None
    except ValueError as error:
        raise ConfigError(str(error)) from None
    report = convert(
        args.source, args.target, fps=fps, size=size, crf=args.crf, preset=args.preset,
        allow_damaged=args.allow_damaged,
    )
    for problem in report.damage:
        print(f"vidgan convert: warning: {args.source}: {problem}", file=sys.stderr)
    print(f"{report.path} ({report.frames} frames)")
    return 0


def _extract_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", help="input video")
    parser.add_argument("--what", choices=("body", "face", "mesh"), default="face", help="keypoints to extract")
    parser.add_argument("--backend", help="body: mediapipe|rcnn; face: dlib|fan|fan3d; mesh: mediapipe")
    parser.add_argument("--detector", choices=("dlib", "mediapipe"), default="dlib", help="face detector")
    parser.add_argument("--smooth", default="none", help="temporal filter (see vidgan.keypoints.smooth), or none")
    parser.add_argument("--max-people", type=int, help="keep the N largest tracks (body default 1)")
    parser.add_argument("--weights", help="weights file or folder for fan/rcnn (never downloaded)")
    parser.add_argument("--device", default="cpu", help="torch device for fan/rcnn")
    parser.add_argument("--out", required=True, help="keypoints file to write (.npz + .json sidecar)")
    parser.add_argument("--preview", help="also write a video with the keypoints drawn over it")


@command("extract", "extract, track and smooth body/face keypoints of a video", _extract_args)
def _extract(args: argparse.Namespace) -> int:
    from vidgan.errors import ConfigError
    from vidgan.io import probe
    from vidgan.io.atomic import VIDEO_SUFFIXES, check_output
    from vidgan.keypoints import save_tracks
    from vidgan.keypoints.extract import ExtractSettings, FrameKeypointer, extract_video
    from vidgan.keypoints.preview import write_preview
    from vidgan.keypoints.smooth import Smoother
    from vidgan.nn.device import resolve_device

    check_output(args.out, [args.video], (".npz",))
    if args.preview:
        check_output(args.preview, [args.video, args.out], VIDEO_SUFFIXES)
    resolve_device(args.device)  # a missing GPU is named before any work, whatever the backend
    info = probe(args.video)
    try:
        settings = ExtractSettings(what=args.what, backend=args.backend, detector=args.detector,
                                   max_people=args.max_people, weights=args.weights, device=args.device)
        smoother = None if args.smooth == "none" else Smoother(args.smooth)
        keypointer = FrameKeypointer(settings)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    tracks = extract_video(args.video, settings=settings, keypointer=keypointer)
    if smoother is not None:
        tracks = [smoother(track) for track in tracks]
    path = save_tracks(args.out, tracks, skeleton=keypointer.skeleton, video_id=info.path.stem, fps=info.fps,
                       image_size=info.size)
    if not tracks:
        print(f"vidgan extract: no {args.what} found in any of the {info.frames} frames of {args.video}; "
              f"wrote an empty result to {path}", file=sys.stderr)
    for track in tracks:
        seen = track.detected_frames
        print(f"track {track.track_id}: {keypointer.skeleton.name}, seen in {seen.sum()}/{len(track)} frames")
    if args.preview:
        print(write_preview(args.video, tracks, args.preview))
    print(path)
    return 0


def _preprocess_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", help="a folder of videos, a glob, or a .txt list of paths")
    parser.add_argument("out_dir", help="dataset folder to write (see vidgan.data.layout)")
    parser.add_argument("--task", choices=("faces", "bodies"), default="faces")
    parser.add_argument("--runner", choices=("local", "ray"), default="local")
    parser.add_argument("--address", help="Ray cluster: auto, host:port or ray://host:port (default: RAY_ADDRESS, "
                                          "else an embedded local Ray)")
    parser.add_argument("--workers", type=int, default=2, help="extraction actors and writer tasks")
    parser.add_argument("--config", help="YAML preset (configs/pipelines/preprocess.yaml)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. settings.maps=true")


@command("preprocess", "turn a folder of videos into a training dataset (local or on Ray)", _preprocess_args)
def _preprocess(args: argparse.Namespace) -> int:
    from vidgan.pipelines.preprocess import PreprocessConfig, run_preprocess
    from vidgan.config import load_config

    flags = {"inputs": args.inputs, "out_dir": args.out_dir, "settings": {"task": args.task}, "runner": args.runner,
             "workers": args.workers, **({"address": args.address} if args.address else {})}
    report = run_preprocess(load_config(PreprocessConfig, args.config, args.overrides, values=flags))
    for failure in report.failures:
        print(f"vidgan preprocess: failed: {failure['error']}", file=sys.stderr)
    print(report.describe())
    return 1 if report.failures else 0


def _demo_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, help="YAML preset (default: built-in defaults)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")


@command("demo", "the main job on a bundled default: vidgan transfer on a synthetic dancer", _demo_args)
def _demo(args: argparse.Namespace) -> int:
    from vidgan.pipelines.demo import DemoConfig, run_demo
    from vidgan.config import load_config

    config = load_config(DemoConfig, args.config, args.overrides)
    report = run_demo(config)
    print(report.describe())
    return 0


def _train_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="model YAML (configs/models/*.yaml)")
    parser.add_argument("--run-dir", help="run folder: checkpoints, logs, model/ (default: runs/<config name>)")
    parser.add_argument("--fresh", action="store_true", help="ignore the run folder's checkpoints and start over")
    parser.add_argument("--workers", type=int, default=0,
                        help="data-parallel Ray Train workers (default 0: train in this process)")
    parser.add_argument("--gpu", action="store_true", help="one GPU per Ray Train worker")
    parser.add_argument("--address", help="Ray cluster address (default: an embedded local Ray)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. train.iterations=500")


@command("train", "train (or resume) a model from a config, in this process or on Ray Train", _train_args)
def _train(args: argparse.Namespace) -> int:
    from vidgan.config import load_config
    from vidgan.train.experiment import ExperimentConfig, run_experiment

    config = load_config(ExperimentConfig, args.config, args.overrides)
    run_dir = Path(args.run_dir or Path("runs") / Path(args.config).stem)
    if args.workers > 0:
        from vidgan.train.distributed import train_on_ray

        train_on_ray(config, run_dir, workers=args.workers, use_gpu=args.gpu, address=args.address,
                     resume=not args.fresh)
        print(f"trained on {args.workers} Ray Train workers: {run_dir / 'model'}")
        return 0
    result = run_experiment(config, run_dir, resume=not args.fresh)
    print(f"trained {result.iterations} iterations in {result.seconds:.0f} s "
          f"({result.rollbacks} NaN rollbacks): {result.exported}")
    return 0


def _eval_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--real", required=True, help="real/reference video or image folder")
    parser.add_argument("--fake", required=True, help="generated video or image folder (same frame count and size)")
    parser.add_argument("--metrics", default="psnr,ssim,warp,flicker",
                        help="comma-separated, of psnr,ssim,lpips,warp,flicker,fid,kid,is,fvd (default %(default)s)")
    parser.add_argument("--out", help="also write the metrics to this JSON file")
    parser.add_argument("--weights", help="folder holding the LPIPS/Inception/I3D weights files (never downloaded; "
                                          "default: torch's checkpoints folder)")
    parser.add_argument("--feature-net", choices=("pretrained", "random"), default="pretrained",
                        help="fid/kid/is/fvd features: Inception-v3 and I3D, or a fixed random net for smoke runs")
    parser.add_argument("--device", default="cpu", help="torch device for the networks")


@command("eval", "measure a generated video against the real one: PSNR/SSIM/LPIPS, warping error, flicker, "
                 "FID/KID/IS/FVD", _eval_args)
def _eval(args: argparse.Namespace) -> int:
    from vidgan.io.atomic import check_output
    from vidgan.metrics.evaluate import evaluate, format_metrics, save_metrics

    if args.out:  # before the metrics are computed, not after
        check_output(args.out, [args.real, args.fake], (".json",))
    names = [name.strip() for name in args.metrics.split(",") if name.strip()]
    metrics = evaluate(args.real, args.fake, names, weights=args.weights, feature_net=args.feature_net,
                       device=args.device)
    print(format_metrics(metrics))
    if args.out:
        print(save_metrics(args.out, metrics, real=args.real, fake=args.fake, feature_net=args.feature_net))
    return 0


def _motion_args(parser: argparse.ArgumentParser, driving: str) -> None:
    parser.add_argument(f"--{driving}", required=True, help="the video whose motion is transferred")
    parser.add_argument("--target", required=True, help="the video of who performs it")
    parser.add_argument("--out", required=True, help="result video (.mp4); <out>.report.html is written beside it")
    parser.add_argument("--generator", choices=("ref_warp", "vid2vid"),
                        help="ref_warp (default: the target's frames warped and repaired) or vid2vid")
    parser.add_argument("--preset", help="cpu-small | gpu-256 | gpu-512, or a model config path")
    parser.add_argument("--model", help="a trained target model folder (skips dataset and training)")
    parser.add_argument("--workspace", help="resumable workspace folder (default: <out>.work)")
    parser.add_argument("--target-frames", help="frame range of the target, as a Python slice (0:200)")
    parser.add_argument(f"--{driving}-frames", help="frame range of the driving video (-80:)")
    parser.add_argument("--runner", choices=("local", "ray"), help="run keypoint extraction locally or on Ray")
    parser.add_argument("--address", help="Ray cluster address (default: an embedded local Ray)")
    if driving == "driving":
        parser.add_argument("--head-pose", choices=("target", "driving"),
                            help="whose head motion the result has (default: the target video's)")
    parser.add_argument("--config", help="YAML of these settings (the keys of MotionTransferConfig)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="e.g. train=[train.minutes=5] target_track=poses.npz")


def _run_motion(args: argparse.Namespace, kind: str, driving: str) -> int:
    from vidgan.pipelines.motion_transfer import MotionTransferConfig, run_motion_transfer
    from vidgan.config import load_config

    flags = {"driving": getattr(args, driving), "target": args.target, "out": args.out, "preset": args.preset,
             "model": args.model, "workspace": args.workspace, "target_frames": args.target_frames,
             "driving_frames": getattr(args, f"{driving}_frames"), "runner": args.runner, "address": args.address,
             "generator": args.generator, "head_pose": getattr(args, "head_pose", None)}
    values = {"kind": kind, **{key: value for key, value in flags.items() if value is not None}}
    if kind == "face":
        values["tracking"] = {"what": "face"}
    config = load_config(MotionTransferConfig, args.config, args.overrides, values=values)
    print(run_motion_transfer(config).describe())
    return 0


@command("transfer", "make a target person dance like a source dancer (Everybody Dance Now)",
         lambda parser: _motion_args(parser, "source"))
def _transfer(args: argparse.Namespace) -> int:
    return _run_motion(args, "dance", "source")


@command("reenact", "drive a target face with a driving face video; the full target frames come out",
         lambda parser: _motion_args(parser, "driving"))
def _reenact(args: argparse.Namespace) -> int:
    return _run_motion(args, "face", "driving")


def _sample_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a video model folder (or a run folder holding model/)")
    parser.add_argument("--n", type=int, default=16, help="how many videos (default %(default)s)")
    parser.add_argument("--length", type=int, help="frames per video (default: the training length; any works)")
    parser.add_argument("--out", required=True, help="mp4 to write: a grid of the videos")
    parser.add_argument("--category", type=int, help="class id of every video (default: random)")
    parser.add_argument("--fix", choices=("content", "motion"),
                        help="MoCoGAN: one content code for all videos (motion varies), or one motion")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    parser.add_argument("--fps", type=float, default=8, help="frame rate of the mp4 (default %(default)s)")
    parser.add_argument("--device", default="cpu", help="torch device (default %(default)s)")


@command("sample", "sample videos from a trained MoCoGAN / DVD-GAN into an mp4 grid", _sample_args)
def _sample(args: argparse.Namespace) -> int:
    import torch

    from vidgan.errors import ConfigError
    from vidgan.io.atomic import check_output
    from vidgan.models.mocogan import MoCoGAN
    from vidgan.models.video_gan import load_video_model
    from vidgan.nn.images import write_video_grid

    check_output(args.out, [], (".mp4",))
    if args.n < 1 or (args.length is not None and args.length < 1):
        raise ConfigError("--n and --length must be >= 1")
    if not (math.isfinite(args.fps) and args.fps > 0):
        raise ConfigError(f"--fps must be a positive number, got {args.fps}")
    model = load_video_model(args.model, device=args.device)
    if args.category is not None and not model.num_classes:
        raise ConfigError("--category: this model has no classes")
    if args.category is not None and not 0 <= args.category < model.num_classes:
        raise ConfigError(f"--category must be in 0..{model.num_classes - 1}")
    generator = torch.Generator(args.device).manual_seed(args.seed)
    if args.fix is None:
        videos = model.sample(args.n, args.length, args.category, generator=generator)
    elif isinstance(model, MoCoGAN):
        fixed = model.fixed_content if args.fix == "content" else model.fixed_motion
        videos = fixed(args.n, args.length, args.category, generator=generator)
    else:
        raise ConfigError(f"--fix needs a MoCoGAN (content and motion codes); {type(model).__name__} has one latent")
    print(write_video_grid(videos, args.out, fps=args.fps))
    return 0


def _pose_generate_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", required=True, help="a photo of the person")
    parser.add_argument("--poses", required=True, help="driving poses: a keypoints .npz or a driving video")
    parser.add_argument("--out", required=True, help="result video (.mp4)")
    parser.add_argument("--model", required=True, help="a trained pose-guided (PG2) model folder (or its run folder)")
    parser.add_argument("--image-pose", help="the photo's keypoints (.npz) instead of extracting them")
    parser.add_argument("--frames", help="frame range of the poses, as a Python slice (0:100)")
    parser.add_argument("--blend", type=float, help="weight of the flow-warped previous frame (default 0.5; 0: off)")
    parser.add_argument("--stage", type=int, choices=(1, 2), help="2: refined (default), 1: coarse")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. smooth=none margin=1.3 device=cpu")


def _app_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default: this machine only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--workspace", default="vidgan-app", help="the folder every job reads from and writes to")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow --host to be an address other machines can reach (no login: anyone there can run jobs)")
    parser.add_argument("--slots", type=int, default=None, help="jobs run at once (default: 1 per GPU, else 1)")


@command("app", "a local web page for the main jobs (transfer, reenact, age, frontalize, sample, preprocess)",
         _app_args)
def _app(args: argparse.Namespace) -> int:
    from vidgan.errors import ConfigError

    local = args.host in ("127.0.0.1", "localhost", "::1")
    if not local and not args.allow_remote:
        raise ConfigError(f"--host {args.host}: other machines could run jobs here; add --allow-remote to mean it")
    if not 1 <= args.port <= 65535:
        raise ConfigError(f"--port must be in 1..65535, got {args.port}")
    from vidgan.io.atomic import check_output_folder

    check_output_folder(args.workspace)
    import torch

    from vidgan.app.jobs import JobQueue, Workspace
    from vidgan.app.page import launch

    slots = args.slots or max(1, torch.cuda.device_count())
    if slots < 1:
        raise ConfigError(f"--slots must be >= 1, got {slots}")
    if not local:
        print(f"vidgan app: warning: serving on {args.host}: anyone who reaches it can run jobs", file=sys.stderr)
    queue = JobQueue(Workspace(args.workspace), slots=slots)
    print(f"vidgan app: http://{args.host}:{args.port} (workspace {queue.workspace.root})", flush=True)
    try:
        launch(queue, args.host, args.port)
    finally:
        queue.close()
    return 0


@command("pose-generate", "animate one photo of a person along a pose sequence (PG2)", _pose_generate_args)
def _pose_generate(args: argparse.Namespace) -> int:
    from vidgan.pipelines.pose_generate import PoseGenerateConfig, run_pose_generate
    from vidgan.config import load_config

    flags = {"image": args.image, "poses": args.poses, "out": args.out, "model": args.model,
             "image_pose": args.image_pose, "frames": args.frames, "blend": args.blend, "stage": args.stage}
    values = {key: value for key, value in flags.items() if value is not None}
    config = load_config(PoseGenerateConfig, None, args.overrides, values=values)
    print(run_pose_generate(config).describe())
    return 0


def _face_edit_args(parser: argparse.ArgumentParser, edit: str) -> None:
    parser.add_argument("--input", required=True, help="a photo or a video")
    parser.add_argument("--out", required=True, help="result: an image for a photo, a video (.mp4, with the input's audio)")
    parser.add_argument("--model", required=True, help=f"a trained {'Age-cGAN' if edit == 'age' else 'TP-GAN'} "
                                                        "model folder (or its training run folder)")
    if edit == "age":
        parser.add_argument("--target-age", type=float, required=True, help="age to show, in years")
        parser.add_argument("--steps", type=int, help="identity-preserving latent optimisation steps (default 20)")
        parser.add_argument("--identity-weights", help="TorchScript face-embedding file for that optimisation")
    parser.add_argument("--frames", help="frame range of a video, as a Python slice (0:100)")
    parser.add_argument("--no-smooth", action="store_true", help="edit every frame on its own (no temporal smoothing)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. blend=0.6 feather=0.2 device=cpu")


def _face_edit(args: argparse.Namespace, edit: str) -> int:
    from vidgan.pipelines.face_edit import FaceEditConfig, run_face_edit
    from vidgan.config import load_config

    flags = {"edit": edit, "input": args.input, "out": args.out, "model": args.model, "frames": args.frames,
             "target_age": getattr(args, "target_age", None), "steps": getattr(args, "steps", None),
             "identity_weights": getattr(args, "identity_weights", None), "smooth": False if args.no_smooth else None}
    values = {key: value for key, value in flags.items() if value is not None}
    config = load_config(FaceEditConfig, None, args.overrides, values=values)
    print(run_face_edit(config).describe())
    return 0


@command("age", "age or rejuvenate every face of a photo or a video (Age-cGAN)", lambda p: _face_edit_args(p, "age"))
def _age(args: argparse.Namespace) -> int:
    return _face_edit(args, "age")


@command("frontalize", "turn every face of a photo or a video to the front (TP-GAN)",
         lambda p: _face_edit_args(p, "frontalize"))
def _frontalize(args: argparse.Namespace) -> int:
    return _face_edit(args, "frontalize")


if __name__ == "__main__":
    sys.exit(main())
