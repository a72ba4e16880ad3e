"""Bad input to the network commands: one line naming the file and the problem, exit status 2,
found before the work is done; and the small cases that used to print tracebacks or NaN."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
import torch
from conftest import write_sequence

from ckdtrack.cli import main


def run(capsys, *args) -> tuple[int, str, str]:
    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err.strip()


def expect_error(capsys, *args, contains):
    status, _, err = run(capsys, *args)
    assert status == 2, err
    assert len(err.splitlines()) == 1, err
    for piece in contains if isinstance(contains, tuple) else (contains,):
        assert piece in err, err


@pytest.fixture
def sequence(tmp_path):
    return write_sequence(tmp_path / "seq", frames=4)


def test_unwritable_outputs_are_refused_before_tracking(tmp_path, sequence, tiny_weights, capsys):
    track = ("track", sequence, "--weights", tiny_weights, "--quiet")
    expect_error(capsys, *track, "--out", tmp_path, contains=("--out", "is a folder"))
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    expect_error(capsys, *track, "--out", blocker / "boxes.txt", contains=("file.txt is a file",))
    expect_error(capsys, *track, "--out", tmp_path / "o.txt", "--video", blocker / "v.mp4",
                 contains=("--video", "file.txt is a file"))
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        expect_error(capsys, *track, "--out", locked / "o.txt", contains=("not writable",))


@pytest.mark.parametrize("init,message", [
    ("10,10,20000,20000", "larger than the 96x72 frame"),
    ("1e9,10,20,20", "outside the 96x72 image"),
    ("10,10,0,5", "positive"),
])
def test_impossible_init_boxes_are_refused(tmp_path, sequence, tiny_weights, capsys, init, message):
    expect_error(capsys, "track", sequence, "--weights", tiny_weights, f"--init={init}", "--out",
                 tmp_path / "o.txt", "--quiet", contains=(message,))


def test_negative_init_coordinates_need_no_equals_sign(tmp_path, sequence, tiny_weights, capsys):
    out = tmp_path / "o.txt"
    status, _, err = run(capsys, "track", sequence, "--weights", tiny_weights, "--init", "-4,20,16,12",
                         "--out", out, "--quiet")
    assert status == 0, err
    assert len(out.read_text().splitlines()) == 4


def test_unknown_or_missing_device(tmp_path, sequence, tiny_weights, capsys):
    expect_error(capsys, "track", sequence, "--weights", tiny_weights, "--device", "tpu", "--out",
                 tmp_path / "o.txt", contains=("unknown device 'tpu'",))
    if not torch.cuda.is_available():
        expect_error(capsys, "track", sequence, "--weights", tiny_weights, "--device", "cuda:0", "--out",
                     tmp_path / "o.txt", contains=("CUDA is not available",))


def test_checkpoint_errors_say_what_to_do(tmp_path, sequence, tiny_weights, capsys):
    track = ("track", sequence, "--out", tmp_path / "o.txt", "--quiet", "--weights")
    (tmp_path / "empty.pth").write_bytes(b"")
    expect_error(capsys, *track, tmp_path / "empty.pth", contains=("empty.pth: weights file is empty",))
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07\x12")
    expect_error(capsys, *track, tmp_path / "model.onnx", contains=("--backend onnxruntime",))
    bare = torch.load(tiny_weights, weights_only=True)
    torch.save({"net": bare["net"]}, tmp_path / "bare.pth")
    expect_error(capsys, *track, tmp_path / "bare.pth", contains=("bare.pth", "wrong shapes", "pass --config"))

    class Payload:
        def __reduce__(self):
            return (print, ("executed",))

    torch.save({"net": Payload()}, tmp_path / "pickle.pth")
    status, _, err = run(capsys, *track, tmp_path / "pickle.pth")
    assert status == 2 and "\x1b" not in err and "(print)" in err and err.endswith("plain dict of tensors"), err


def test_export_inference_refuses_a_checkpoint_that_does_not_fit(tmp_path, tiny_weights, capsys):
    state = torch.load(tiny_weights, weights_only=True)
    state["net"]["box_head.extra"] = torch.zeros(1)
    torch.save(state, tmp_path / "bad.pt")
    out = tmp_path / "exported.pth"
    expect_error(capsys, "export-inference", tmp_path / "bad.pt", "--out", out, contains=("unexpected keys: box_head.extra",))
    assert not out.exists()


def test_one_frame_sequence_reports_no_fps_instead_of_nan(tmp_path, tiny_weights, capsys):
    seq = write_sequence(tmp_path / "one", frames=1)
    status, out, err = run(capsys, "track", seq, "--weights", tiny_weights, "--out", tmp_path / "o.txt", "--quiet")
    assert status == 0, err
    assert "nan" not in out.lower() and "n/a FPS" in out


def test_frame_size_change_names_the_frame_files(tmp_path, sequence, tiny_weights, capsys):
    frame = sequence / "visible" / "00003.png"
    cv2.imwrite(str(frame), np.zeros((40, 50, 3), np.uint8))
    (sequence / "infrared" / "00003.png").write_bytes(frame.read_bytes())
    expect_error(capsys, "track", sequence, "--weights", tiny_weights, "--out", tmp_path / "o.txt", "--quiet",
                 contains=("00003.png", "frame size changed from 96x72 to 50x40"))


def test_written_outputs_are_readable_by_others(tmp_path, sequence, tiny_weights, capsys):
    out = tmp_path / "o.txt"
    old = os.umask(0o022)
    try:
        status, _, err = run(capsys, "track", sequence, "--weights", tiny_weights, "--out", out, "--quiet")
    finally:
        os.umask(old)
    assert status == 0, err
    assert out.stat().st_mode & 0o777 == 0o644
