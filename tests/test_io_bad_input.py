"""Bad input: a clear one-line error naming the file, exit code != 0, no output left behind."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import av.logging
import numpy as np
import pytest

from conftest import shared
from vidgan.cli import main
from vidgan.errors import DecodeError, InputError
from vidgan.io import probe, write_audio


def make_truncated_index_first(tmp_path):
    data = shared("videos/talking_head_pexels.mp4").read_bytes()  # moov before mdat
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: len(data) // 2])
    return path


def make_truncated_index_last(tmp_path):
    data = shared("videos/dance_musepose.mp4").read_bytes()  # moov after mdat: cut away
    path = tmp_path / "truncated_no_index.mp4"
    path.write_bytes(data[: len(data) // 2])
    return path


def make_zero_bytes(tmp_path):
    path = tmp_path / "empty.mp4"
    path.touch()
    return path


def make_text(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    return path


def make_audio_only(tmp_path):
    return write_audio(tmp_path / "voice.mp4", np.zeros((1, 48000), np.float32), 48000)


def make_directory(tmp_path):
    path = tmp_path / "folder.mp4"
    path.mkdir()
    return path


def make_huge_header(size):
    def make(tmp_path):
        path = tmp_path / f"huge_{size}.y4m"
        path.write_bytes(f"YUV4MPEG2 W{size} H{size} F25:1 Ip A1:1 C420jpeg\nFRAME\n".encode() + bytes(4096))
        return path

    return make


CASES = {
    "truncated, index kept": (make_truncated_index_first, "truncated: header declares 472 frames"),
    "truncated, index lost": (make_truncated_index_last, "moov atom not found"),
    "zero bytes": (make_zero_bytes, "is empty (0 bytes)"),
    "text named .mp4": (make_text, "not a readable video"),
    "missing": (lambda tmp_path: tmp_path / "missing.mp4", "no such file"),
    "audio only": (make_audio_only, "has no video stream (streams: audio aac)"),
    "directory": (make_directory, "is a directory"),
    "40000x40000 header": (make_huge_header(40000), "40000x40000"),
    "12000x12000 header": (make_huge_header(12000), "exceeds the limit"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_convert_fails_cleanly(case, tmp_path, capsys):
    make, expected = CASES[case]
    source = make(tmp_path)
    out_dir = tmp_path / "out"
    code = main(["convert", str(source), str(out_dir / "result.mp4"), "--preset", "ultrafast"])
    error = capsys.readouterr().err.strip()
    assert code != 0
    assert len(error.splitlines()) == 1 and "Traceback" not in error
    assert str(source) in error and expected in error, error
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


@pytest.mark.parametrize("case", [c for c in CASES if c != "truncated, index kept"])
def test_probe_raises_an_input_error(case, tmp_path):
    make, expected = CASES[case]
    with pytest.raises(InputError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        probe(make(tmp_path))


def test_allow_damaged_converts_what_decodes_and_warns(tmp_path, capsys):
    source = make_truncated_index_first(tmp_path)
    target = tmp_path / "salvaged.mp4"
    assert main(["convert", str(source), str(target), "--preset", "ultrafast", "--size", "160", "--allow-damaged"]) == 0
    assert "warning" in capsys.readouterr().err
    info = probe(target)
    assert info.frames == probe(source).frames and info.height == 160


def test_concealed_corruption_converts_every_frame(tmp_path):
    """Policy for megamind_corrupt.avi: FFmpeg conceals its bit errors and reports nothing, so
    vidgan decodes all 270 frames (see test_io_reader for the damage measured against the
    clean original) and the conversion succeeds."""
    target = tmp_path / "megamind.mp4"
    assert main(["convert", str(shared("videos/megamind_corrupt.avi")), str(target), "--preset", "ultrafast",
                 "--size", "180"]) == 0
    assert probe(target).frames == 270


def test_opening_from_many_threads_leaves_ffmpeg_logging_off(tmp_path):
    """A Python log callback left installed deadlocks background decoding (FFmpeg's threads call
    it while a thread holding the GIL closes their decoder): concurrent opens, failing ones
    included, must leave FFmpeg's logging as they found it (off)."""
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")

    def attempt(path):
        try:
            return probe(path).frames
        except DecodeError as error:
            return str(error)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, [shared("videos/single_face.mp4"), bad] * 24))
    assert av.logging.get_level() is None
    assert results[0] == 72 and "not a readable video" in results[1]


def test_the_same_broken_file_is_explained_alike_every_time(tmp_path):
    """FFmpeg's complaint is captured again on a second open (PyAV skips a repeated message)."""
    path = make_truncated_index_last(tmp_path)
    errors = []
    for _ in range(3):
        with pytest.raises(DecodeError) as caught:
            probe(path)
        errors.append(str(caught.value))
    assert errors == [f"{path}: not a readable video (moov atom not found)"] * 3


def test_an_output_that_would_destroy_an_input_is_refused_before_any_work(tmp_path, capsys, synthetic_video):
    """convert, age, eval, extract, sample and pose-generate onto their own input, into a
    folder, under a file, with a wrong suffix: one line naming the output, exit 2, the input
    untouched, nothing written."""
    video = tmp_path / "clip.mp4"
    video.write_bytes(synthetic_video.read_bytes())
    photo = tmp_path / "me.jpg"
    photo.write_bytes(shared("faces/single_face.jpg").read_bytes())
    (tmp_path / "folder.mp4").mkdir()
    before = {p: p.read_bytes() for p in (video, photo)}
    listing = sorted(tmp_path.iterdir())
    model = tmp_path / "no_model"  # never reached: the output is checked first
    runs = [
        (["convert", str(video), str(video), "--size", "64"], str(video), "is also an input"),
        (["convert", str(video), str(tmp_path / "." / "clip.mp4")], "clip.mp4", "is also an input"),
        (["convert", str(video), str(tmp_path / "folder.mp4")], "folder.mp4", "is a directory"),
        (["convert", str(video), str(video / "x.mp4")], "x.mp4", "cannot be written"),
        (["convert", str(video), str(tmp_path / "x.gif")], "x.gif", "must be a .mp4"),
        (["age", "--input", str(photo), "--out", str(photo), "--target-age", "60", "--model", str(model)],
         str(photo), "is also an input"),
        (["age", "--input", str(photo), "--out", str(tmp_path / "me.mp4"), "--target-age", "60",
          "--model", str(model)], "me.mp4", "must be a .png"),
        # eval, extract, sample and pose-generate check their outputs before the expensive part
        (["eval", "--real", str(video), "--fake", str(video), "--out", str(tmp_path / "folder.mp4")],
         "folder.mp4", "must be a .json"),
        (["eval", "--real", str(video), "--fake", str(video), "--out", str(video / "m.json")], "m.json",
         "cannot be written"),
        (["extract", str(video), "--out", str(tmp_path / "kp.txt")], "kp.txt", "must be a .npz"),
        (["extract", str(video), "--out", str(tmp_path / "kp.npz"), "--preview", str(video)], str(video),
         "is also an input"),
        (["sample", "--model", str(model), "--out", str(tmp_path / "folder.mp4")], "folder.mp4", "is a directory"),
        (["sample", "--model", str(model), "--out", str(tmp_path / "s.mp4"), "--fps", "0"], "--fps",
         "must be a positive number"),
        (["pose-generate", "--image", str(photo), "--poses", str(video), "--model", str(model), "--out", str(video)],
         str(video), "is also an input"),
    ]
    for argv, named, problem in runs:
        assert main(argv) == 2
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and named in error and problem in error, error
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(tmp_path.iterdir()) == listing


@pytest.mark.parametrize(("options", "message"), [
    (["--fps", "1/0"], "--fps '1/0': expected a positive number"),
    (["--fps", "abc"], "--fps 'abc': expected a positive number"),
    (["--fps", "-3"], "fps must be in (0, 1000]"),
    (["--crf", "-5"], "crf must be a whole number in 0..51"),
    (["--size", "20000x20000"], "size 20000x20000: each side must be >= 2 and the frame at most"),
    (["--size", "1x1"], "size 1x1: each side must be >= 2"),
    (["--preset", "bogus"], "preset 'bogus': choose one of"),
])
def test_convert_options_out_of_range_are_one_line_before_any_work(tmp_path, capsys, synthetic_video, options,
                                                                   message):
    assert main(["convert", str(synthetic_video), str(tmp_path / "out.mp4"), *options]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error, error
    assert list(tmp_path.iterdir()) == []


def test_a_photo_given_as_a_video_is_called_a_photo(capsys):
    assert main(["probe", str(shared("faces/single_face.jpg"))]) == 2
    assert "is a still image (mjpeg), not a video" in capsys.readouterr().err


def test_debug_prints_the_traceback_and_keeps_the_exit_code(tmp_path, capsys):
    assert main(["--debug", "probe", str(tmp_path / "missing.mp4")]) == 2
    error = capsys.readouterr().err
    assert "Traceback" in error and error.strip().endswith("missing.mp4: no such file")


def test_settings_out_of_range_are_refused_before_any_work(tmp_path, capsys, synthetic_video):
    assert main(["extract", str(synthetic_video), "--out", str(tmp_path / "k.npz"), "--max-people", "0"]) == 2
    assert "max_people must be >= 1" in capsys.readouterr().err
    assert main(["preprocess", str(synthetic_video), str(tmp_path / "pp"), "--task", "faces",
                 "settings.crop_size=-5"]) == 2
    assert "settings.crop_size must be >= 1, got -5" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_sigterm_during_convert_leaves_no_partial_file(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out.mp4"
    run = subprocess.Popen([sys.executable, "-m", "vidgan.cli", "convert", str(shared("videos/dance_musepose.mp4")),
                            str(out), "--size", "1080x1920", "--preset", "veryslow"],
                           stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".*partial*")) and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.1)
    assert list(tmp_path.glob(".*partial*")), "convert never started writing"
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 128 + signal.SIGTERM and "terminated" in err
    assert list(tmp_path.iterdir()) == []  # neither the output nor a hidden partial file


def test_an_os_refusal_while_writing_is_one_line_naming_the_file(tmp_path, capsys, synthetic_video, monkeypatch):
    """Whatever the checks before the work cannot foresee (a folder made read-only during the run,
    a full disk) is one line naming the file, exit 2, no traceback."""
    import errno

    from vidgan.io import writer

    real_open = writer.av.open

    def full_disk(path, mode="r", **kwargs):
        if mode == "w":  # reading the input works; writing the output fails
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / ".out.partial.mp4"))
        return real_open(path, mode, **kwargs)

    monkeypatch.setattr(writer.av, "open", full_disk)
    assert main(["convert", str(synthetic_video), str(tmp_path / "out.mp4")]) == 2
    error = capsys.readouterr().err.strip()
    assert error == f"vidgan convert: error: {tmp_path / '.out.partial.mp4'}: no space left on device"
    assert list(tmp_path.iterdir()) == []
