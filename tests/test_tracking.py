"""The tracker API and ``ckdtrack track``: outputs, inputs, and clear errors on bad input."""

import dataclasses
import math
import shutil
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from ckdtrack.cli import main
from ckdtrack.data import open_sequence_dir
from ckdtrack.errors import InputError
from ckdtrack.tracking import CKDTracker
from ckdtrack.tracking.baselines import MILTracker, NCCTracker
from ckdtrack.tracking.frames import FrameSource, prefetched, sequence_source
from ckdtrack.tracking.runner import run_tracker
from ckdtrack.tracking.tracker import hann_window
from conftest import tiny_config, write_sequence

TNO = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "tno_fel"
DEMO_MODEL = Path(__file__).resolve().parents[1] / "ckdtrack" / "assets" / "ckd_small_rgbt.pth"


def run_cli(*args):
    return main([str(a) for a in args])


def test_track_writes_one_box_line_per_frame_and_a_video(tmp_path, tiny_weights, capsys):
    seq = write_sequence(tmp_path / "seq", frames=6)
    out, video = tmp_path / "boxes.txt", tmp_path / "run.mp4"
    assert run_cli("track", seq, "--weights", tiny_weights, "--out", out, "--video", video, "--quiet") == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 6
    assert lines[0] == "30.00,20.00,16.00,12.00"
    for line in lines:
        values = [float(v) for v in line.split(",")]
        assert len(values) == 4 and values[2] >= 10 and values[3] >= 10
        assert all(len(v.split(".")[1]) == 2 for v in line.split(","))
    capture = cv2.VideoCapture(str(video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    assert int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)) == 2 * 96
    assert "FPS" in capsys.readouterr().out


def test_track_init_option_overrides_init_file(tmp_path, tiny_weights):
    seq = write_sequence(tmp_path / "seq", frames=3)
    out = tmp_path / "boxes.txt"
    assert run_cli("track", seq, "--weights", tiny_weights, "--out", out, "--init", "10 12 20 20", "--quiet") == 0
    assert out.read_text().splitlines()[0] == "10.00,12.00,20.00,20.00"


def test_track_reads_two_video_files(tmp_path, tiny_weights):
    for name, color in (("v.mp4", (0, 0, 255)), ("t.mp4", (255, 255, 255))):
        writer = cv2.VideoWriter(str(tmp_path / name), cv2.VideoWriter_fourcc(*"mp4v"), 10, (96, 64))
        for i in range(4):
            frame = np.zeros((64, 96, 3), np.uint8)
            frame[20:36, 20 + 2 * i:36 + 2 * i] = color
            writer.write(frame)
        writer.release()
    out = tmp_path / "boxes.txt"
    assert run_cli("track", "--visible-video", tmp_path / "v.mp4", "--thermal-video", tmp_path / "t.mp4",
                   "--weights", tiny_weights, "--init", "20,20,16,16", "--out", out, "--quiet") == 0
    assert len(out.read_text().splitlines()) == 4


@pytest.mark.skipif(not TNO.is_dir(), reason="shared/fixtures/tno_fel not present")
def test_track_real_tno_grayscale_bmp_sequence(tmp_path, tiny_weights):
    out = tmp_path / "nato.txt"
    seq = tmp_path / "Nato_camp_sequence"
    shutil.copytree(TNO / "Nato_camp_sequence", seq)
    assert run_cli("track", seq, "--weights", tiny_weights, "--init", "160,120,12,24", "--out", out, "--quiet") == 0
    assert len(out.read_text().splitlines()) == 32


def expect_error(capsys, *args, contains):
    assert run_cli(*args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for piece in contains if isinstance(contains, tuple) else (contains,):
        assert piece in err, err
    return err


def test_mismatched_frame_counts(tmp_path, tiny_weights, capsys):
    seq = write_sequence(tmp_path / "seq", frames=4)
    (seq / "infrared" / "00004.png").unlink()
    expect_error(capsys, "track", seq, "--weights", tiny_weights, "--out", tmp_path / "o.txt",
                 contains=("4 visible frames", "3 thermal frames"))


def test_corrupt_image_is_named(tmp_path, tiny_weights, capsys):
    seq = write_sequence(tmp_path / "seq", frames=4)
    (seq / "infrared" / "00003.png").write_bytes(b"not a png at all")
    expect_error(capsys, "track", seq, "--weights", tiny_weights, "--out", tmp_path / "o.txt", "--quiet",
                 contains=("00003.png", "corrupt"))
    assert not (tmp_path / "o.txt").exists()


def test_modalities_of_different_sizes(tmp_path, tiny_weights, capsys):
    seq = write_sequence(tmp_path / "seq", frames=2)
    cv2.imwrite(str(seq / "infrared" / "00001.png"), np.zeros((50, 50, 3), np.uint8))
    expect_error(capsys, "track", seq, "--weights", tiny_weights, "--out", tmp_path / "o.txt", "--quiet",
                 contains="registered")


@pytest.mark.parametrize("box,message", [
    ("10,10,0,5", "positive"), ("10,10,-3,5", "positive"), ("nan,10,5,5", "NaN"),
    ("500,500,10,10", "outside"), ("1,2,3", "4 numbers"),
])
def test_bad_init_boxes(tmp_path, tiny_weights, capsys, box, message):
    seq = write_sequence(tmp_path / "seq", frames=2)
    expect_error(capsys, "track", seq, "--weights", tiny_weights, "--init", box, "--out", tmp_path / "o.txt",
                 "--quiet", contains=message)


def test_missing_weights_and_unknown_config(tmp_path, tiny_weights, capsys):
    seq = write_sequence(tmp_path / "seq", frames=2)
    expect_error(capsys, "track", seq, "--weights", tmp_path / "nope.pth", "--out", tmp_path / "o.txt",
                 contains=("nope.pth", "not found"))
    expect_error(capsys, "track", seq, "--weights", tiny_weights, "--config", "ckd_vitc", "--out",
                 tmp_path / "o.txt", contains=("unknown config", "ckd_vitb"))


def test_checkpoint_with_wrong_keys_or_shapes(tmp_path, tiny_weights, capsys):
    seq = write_sequence(tmp_path / "seq", frames=2)
    checkpoint = torch.load(tiny_weights, weights_only=True)
    state = checkpoint["net"]
    state["rgb_branch.extra"] = torch.zeros(1)
    del state["box_head.conv5_ctr.bias"]
    torch.save(checkpoint, tmp_path / "keys.pth")
    expect_error(capsys, "track", seq, "--weights", tmp_path / "keys.pth", "--out", tmp_path / "o.txt",
                 contains=("missing keys: box_head.conv5_ctr.bias", "unexpected keys: rgb_branch.extra"))
    expect_error(capsys, "track", seq, "--weights", tiny_weights, "--config", "ckd_vitb", "--out",
                 tmp_path / "o.txt", contains="wrong shapes")
    (tmp_path / "junk.pth").write_bytes(b"\x00garbage")
    expect_error(capsys, "track", seq, "--weights", tmp_path / "junk.pth", "--out", tmp_path / "o.txt",
                 contains="not a readable PyTorch checkpoint")


def test_single_channel_frames_are_replicated(tiny_weights):
    tracker = CKDTracker.from_weights(tiny_weights)
    rgb = np.zeros((60, 80, 3), np.uint8)
    tir = np.zeros((60, 80), np.uint8)
    tracker.init(rgb, tir, [20, 20, 16, 16])
    result = tracker.update(rgb, tir)
    assert len(result.box) == 4 and math.isfinite(result.score)


def test_update_before_init_is_an_error(tiny_weights):
    tracker = CKDTracker.from_weights(tiny_weights)
    with pytest.raises(RuntimeError):
        tracker.update(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8))


def test_hann_window_is_symmetric_and_peaks_in_the_middle():
    window = hann_window(16)[0, 0]
    assert torch.allclose(window, window.flip(0)) and torch.allclose(window, window.T)
    assert window.max() == window[7:9, 7:9].max() and window.min() > 0


def test_unknown_precision_is_rejected(tiny_weights):
    with pytest.raises(InputError):
        CKDTracker.from_weights(tiny_weights, precision="fp8")


class SlowFrames:
    """A frame source whose frames take a known minimum time to 'decode'."""

    def __init__(self, source, delay):
        self.source, self.delay = source, delay

    def __iter__(self):
        for pair in self.source.pairs:
            time.sleep(self.delay)
            yield pair


def test_run_tracker_times_every_stage(tmp_path, tiny_weights):
    sequence = open_sequence_dir(write_sequence(tmp_path / "seq", frames=5))
    tracker = CKDTracker.from_weights(tiny_weights)
    runs = {}
    for prefetch in (False, True):
        source = sequence_source(sequence)
        slow = FrameSource(source.name, source.length, SlowFrames(source, 0.02), source.first_box)
        runs[prefetch] = run = run_tracker(tracker, slow, progress=False, prefetch=prefetch)
        assert run.tracked_frames == 4 and run.frame_seconds.shape == (5,)
        assert set(run.step_seconds) == {"decode", "crop", "normalize", "forward", "postprocess"}
        assert all(seconds > 0 for seconds in run.step_seconds.values())
        assert sum(run.step_seconds.values()) <= run.tracking_seconds <= run.total_seconds
        assert run.fps_end_to_end == pytest.approx(4 / run.frame_seconds[1:].sum())
        assert run.fps_end_to_end < run.fps_model
    assert runs[False].step_seconds["decode"] >= 4 * 0.02
    assert runs[True].step_seconds["decode"] < runs[False].step_seconds["decode"]
    np.testing.assert_array_equal(runs[True].boxes, runs[False].boxes)


def test_profile_prints_a_stage_breakdown(tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config().to_dict()))
    assert run_cli("profile", "--config", path, "--runs", "2", "--frames", "4") == 0
    rows = {line.split("|")[1].strip(): line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")}
    assert {"decode", "crop", "normalize", "forward", "postprocess", "end to end"} <= set(rows)
    shares = [float(rows[stage].split("|")[3].strip(" %")) for stage in ("decode", "crop", "forward")]
    assert all(0 < share < 100 for share in shares)


def test_prefetched_keeps_order_reraises_and_stops_early():
    assert list(prefetched(iter(range(50)), depth=3)) == list(range(50))

    def failing():
        yield 1
        raise InputError("frame 2: corrupt")

    stream = prefetched(failing())
    assert next(stream) == 1
    with pytest.raises(InputError, match="frame 2"):
        next(stream)

    closed = threading.Event()

    def endless():
        try:
            while True:
                yield 0
        finally:
            closed.set()

    stream = prefetched(endless())
    next(stream)
    stream.close()
    assert closed.wait(5) and not any(t.name == "frame-prefetch" for t in threading.enumerate())


LOCAL_ONLY = {"redetect_threshold": 0.0, "redetect_accept": 0.0, "redetect_appearance": 0.0, "redetect_windows": 0,
              "redetect_pause": 0, "hold_size_below": 0.0}
"""The published, local-only tracker's settings: each test below turns on what it tests."""


def with_settings(tracker: CKDTracker, **settings) -> CKDTracker:
    """``tracker`` with these fields of its config's tracker section replaced."""
    tracker.config = dataclasses.replace(tracker.config, tracker=dataclasses.replace(tracker.config.tracker, **settings))
    return tracker


def jump_frame(x, y, rng):
    """A 320x240 pair with a warm 12x30 target at (x, y) on noise."""
    rgb = rng.integers(60, 90, (240, 320, 3), dtype=np.uint8)
    tir = rng.integers(40, 60, (240, 320, 3), dtype=np.uint8)
    tir[y:y + 30, x:x + 12] = 230
    rgb[y:y + 30, x:x + 12] = (150, 60, 40)
    return rgb, tir


def test_redetection_follows_a_jump_across_the_frame():
    """The bundled small model: a warm target that jumps far outside the search window is found
    again by the whole-frame search (tracker.redetect_threshold), and lost without re-detection
    or when no candidate may be accepted."""
    def track(**settings):
        tracker = with_settings(CKDTracker.from_weights(DEMO_MODEL), **{**LOCAL_ONLY, **settings})
        rng = np.random.default_rng(0)
        tracker.init(*jump_frame(40, 40, rng), (40, 40, 12, 30))
        return [tracker.update(*jump_frame(*((41 + i, 40) if i < 5 else (250 + i, 180)), rng)) for i in range(1, 10)]

    for result in track(redetect_threshold=0.3)[4:]:
        assert abs(result.box[0] - 255) < 10 and abs(result.box[1] - 180) < 10 and result.score > 0.5
    assert all(abs(result.box[1] - 180) > 100 for result in track()[4:])
    assert all(abs(result.box[1] - 180) > 100 for result in track(redetect_threshold=0.3, redetect_accept=1.0)[4:])


def test_whole_frame_search_in_batches_matches_window_by_window():
    tracker = with_settings(CKDTracker.from_weights(DEMO_MODEL), **LOCAL_ONLY)
    rng = np.random.default_rng(1)
    tracker.init(*jump_frame(40, 40, rng), (40, 40, 12, 30))
    rgb, tir = jump_frame(200, 150, rng)
    windows = [[x, y, 12, 30] for y in (20, 100, 160) for x in (30, 120, 210, 280)]
    batched = tracker._search(rgb, tir, windows, motion_prior=False)
    single = [tracker._search(rgb, tir, [window], motion_prior=False)[0] for window in windows]
    for (box, score), (box_one, score_one) in zip(batched, single):
        assert np.allclose(box, box_one, atol=1e-3) and abs(score - score_one) < 1e-5
    x, y, w, h = tracker._redetect(rgb, tir)[0]
    assert abs(x + w / 2 - 206) < 10 and abs(y + h / 2 - 165) < 10


def striped_frame(targets, rng):
    """A 320x240 pair on noise with warm 12x30 targets: (x, y, stripes) where stripes is
    "vertical" or "horizontal", the pattern painted on the target in both modalities."""
    rgb = rng.integers(60, 90, (240, 320, 3), dtype=np.uint8)
    tir = rng.integers(40, 60, (240, 320, 3), dtype=np.uint8)
    for x, y, stripes in targets:
        pattern = np.full((30, 12), 230, dtype=np.uint8)
        if stripes == "vertical":
            pattern[:, ::4] = 120
        else:
            pattern[::6, :] = 120
        tir[y:y + 30, x:x + 12] = pattern[..., None]
        rgb[y:y + 30, x:x + 12] = pattern[..., None] // 2
    return rgb, tir


def test_appearance_ranks_candidates_by_their_likeness_to_the_first_frame():
    """tracker.redetect_appearance: a patch's likeness to the first frame's target decides
    between whole-frame candidates, so a look-alike the network scores higher loses."""
    rng = np.random.default_rng(2)
    tracker = with_settings(CKDTracker.from_weights(DEMO_MODEL), **{**LOCAL_ONLY, "redetect_appearance": 1.0})
    first = striped_frame([(40, 40, "vertical")], rng)
    tracker.init(*first, (40, 40, 12, 30))
    assert tracker._rank(*first, [40, 40, 12, 30], 0.0) > 0.99
    assert tracker._rank(*first, [200, 150, 12, 30], 1.0) < 0.3
    assert with_settings(tracker, redetect_appearance=0.0)._rank(*first, [200, 150, 12, 30], 0.7) == 0.7

    later = striped_frame([(250, 40, "horizontal"), (60, 180, "vertical")], rng)
    found = {}
    for weight in (0.0, 1.0):
        x, y, w, h = with_settings(tracker, redetect_appearance=weight)._redetect(*later)[0]
        found[weight] = (x + w / 2, y + h / 2)
    assert abs(found[0.0][0] - 256) < 10, found  # the network alone prefers the look-alike ...
    assert abs(found[1.0][0] - 66) < 10 and abs(found[1.0][1] - 195) < 10, found  # ... its likeness does not


def test_hold_size_below_keeps_the_box_size_and_follows_the_centre():
    rng = np.random.default_rng(3)
    tracker = with_settings(CKDTracker.from_weights(DEMO_MODEL), **{**LOCAL_ONLY, "hold_size_below": 1.0})
    tracker.init(*jump_frame(40, 40, rng), (40, 40, 12, 30))
    for step in range(1, 6):
        box = tracker.update(*jump_frame(40 + 4 * step, 40 + 2 * step, rng)).box
        assert box[2:] == [12, 30]
        assert abs(box[0] + 6 - (46 + 4 * step)) < 4 and abs(box[1] + 15 - (55 + 2 * step)) < 4
    free = with_settings(CKDTracker.from_weights(DEMO_MODEL), **LOCAL_ONLY)
    free.init(*jump_frame(40, 40, rng), (40, 40, 12, 30))
    assert free.update(*jump_frame(44, 42, rng)).box[2:] != [12, 30]


def test_a_window_budget_spreads_the_whole_frame_search_over_frames_nearest_first():
    """tracker.redetect_windows: each lost frame runs at most that many windows, nearest to the
    last box first, and the next frame goes on with the rest (nothing may be accepted here); a
    confident frame ends the pass."""
    rng = np.random.default_rng(4)
    tracker = with_settings(CKDTracker.from_weights(DEMO_MODEL), **{**LOCAL_ONLY, "redetect_threshold": 1.0,
                                                                   "redetect_accept": 1.0, "redetect_windows": 3})
    tracker.init(*jump_frame(40, 40, rng), (40, 40, 12, 30))
    empty = rng.integers(60, 90, (240, 320, 3), dtype=np.uint8), rng.integers(40, 60, (240, 320, 3), dtype=np.uint8)
    tracker.update(*empty)
    total = len(tracker.unsearched) + 3
    nearest = tracker.unsearched[0]
    searched = []
    original = tracker._search
    tracker._search = lambda rgb, tir, arounds, motion_prior=True: searched.append(list(arounds)) or original(
        rgb, tir, arounds, motion_prior)
    tracker.update(*empty)
    assert [len(arounds) for arounds in searched] == [1, 3] and searched[1][0] == nearest
    assert len(tracker.unsearched) == total - 6
    with_settings(tracker, redetect_threshold=0.0).update(*empty)
    assert tracker.unsearched == []


def test_a_pause_rests_the_whole_frame_search_after_a_fruitless_pass():
    """tracker.redetect_pause: after a complete pass that replaced nothing, that many unsure
    frames run the local search only; then the next pass starts. A confident frame ends the rest."""
    rng = np.random.default_rng(5)
    tracker = with_settings(CKDTracker.from_weights(DEMO_MODEL), **{**LOCAL_ONLY, "redetect_threshold": 1.0,
                                                                   "redetect_accept": 1.0, "redetect_pause": 2})
    tracker.init(*jump_frame(40, 40, rng), (40, 40, 12, 30))
    empty = rng.integers(60, 90, (240, 320, 3), dtype=np.uint8), rng.integers(40, 60, (240, 320, 3), dtype=np.uint8)
    whole_frame = []
    original = tracker._search
    tracker._search = lambda rgb, tir, arounds, motion_prior=True: whole_frame.append(not motion_prior) or original(
        rgb, tir, arounds, motion_prior)
    passes = []
    for _ in range(6):
        whole_frame.clear()
        tracker.update(*empty)
        passes.append(any(whole_frame))
    assert passes == [True, False, False, True, False, False]
    assert tracker.rest_frames == 0
    tracker.update(*empty)
    assert tracker.rest_frames == 2
    with_settings(tracker, redetect_threshold=0.0).update(*empty)
    assert tracker.rest_frames == 0


def moving_patch_frames(positions, rng, size=(20, 30), textured=False):
    """320x240 thermal/RGB pairs with one random ``size`` patch at each (x, y) of ``positions``,
    on a flat or a smooth random background."""
    w, h = size
    patch = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    background = np.full((240, 320, 3), 40, dtype=np.uint8)
    if textured:
        background = cv2.GaussianBlur(rng.integers(0, 120, background.shape).astype(np.uint8), (0, 0), 3)
    for x, y in positions:
        tir = background.copy()
        tir[y:y + h, x:x + w] = patch
        yield tir.copy(), tir


def test_classical_baselines_follow_a_textured_patch():
    """ncc finds the first frame's patch anywhere in the thermal frame (a jump included) with the
    first box's size; mil follows a patch moving a few pixels per frame over a textured
    background (the median of five runs: its hidden random generator moves on between runs)."""
    rng = np.random.default_rng(6)
    jumps = [(30, 40), (34, 42), (250, 180), (100, 20)]
    frames = list(moving_patch_frames(jumps, rng))
    ncc = NCCTracker()
    ncc.init(*frames[0], (30, 40, 20, 30))
    assert [ncc.update(*pair) for pair in frames[1:]] == [[x, y, 20, 30] for x, y in jumps[1:]]
    steps = [(30 + 3 * i, 40 + 2 * i) for i in range(12)]
    frames = list(moving_patch_frames(steps, rng, size=(40, 60), textured=True))
    errors = []
    for _ in range(5):
        mil = MILTracker()
        mil.init(*frames[0], (30, 40, 40, 60))
        x, y, w, h = [mil.update(*pair) for pair in frames[1:]][-1]
        assert (w, h) == (40, 60)
        errors.append(max(abs(x - steps[-1][0]), abs(y - steps[-1][1])))
    assert np.median(errors) <= 8  # moved 33 and 22 px; one run in about 70 ends more than 8 px off
