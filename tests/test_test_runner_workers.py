"""``ckdtrack test --workers 2`` as a user runs it: a process that fails, is killed or is
interrupted never hangs the run nor leaves workers behind. Each run is a real ``ckdtrack``
process with a deadline, so a regression fails here instead of hanging the suite."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ckdtrack.data.synth import write_synthetic_dataset
from ckdtrack.tracking.test_runner import SequencesFailed

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]

DEADLINE = 120.0
SEQUENCES, FRAMES = 8, 60


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    names = write_synthetic_dataset(root, sequences=SEQUENCES, frames=FRAMES, size=(128, 96), seed=3,
                                    test_fraction=1.0)
    return root, names


@pytest.fixture(scope="module")
def long_dataset(tmp_path_factory):
    """Enough work (about 10 s for two workers) that a run interrupted after its first sequence
    still has workers busy for longer than the deadlines below."""
    root = tmp_path_factory.mktemp("synth_long")
    write_synthetic_dataset(root, sequences=12, frames=150, size=(128, 96), seed=4, test_fraction=1.0)
    return root


@pytest.fixture
def no_stray_workers():
    """Pids of workers a test recorded; any still running at the end are killed (and the test fails)."""
    recorded: list[int] = []
    yield recorded
    stray = [pid for pid in recorded if running(pid)]
    for pid in stray:
        os.kill(pid, signal.SIGKILL)
    assert not stray, f"workers {stray} outlived the test"


def start_test_run(root, weights, out, *extra) -> subprocess.Popen:
    """``ckdtrack test`` in its own session (so a terminal's Ctrl-C can be sent to its group),
    with SIGINT handled as in a terminal's foreground job even where the suite itself runs in
    the background of a script (which starts it with SIGINT ignored)."""
    command = [sys.executable, "-m", "ckdtrack", "test", "lasher", "--data-root", str(root), "--weights", str(weights),
               "--out", str(out), "--workers", "2", "--threads", "1", "--quiet", *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def finish(process: subprocess.Popen, timeout: float = DEADLINE) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"ckdtrack test hung (killed after {timeout:.0f} s); stderr:\n{err[-2000:]}")
    return process.returncode, out, err


def stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie may wait for a reaper that never comes)."""
    fields = stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def worker_pids(parent: int) -> list[int]:
    """The parent's multiprocessing workers (the resource tracker excluded)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = stat_fields(int(entry.name))
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if fields is not None and int(fields[1]) == parent and b"--multiprocessing-fork" in cmdline:
            pids.append(int(entry.name))
    return pids


def wait_for(condition, what: str, timeout: float = DEADLINE):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def results(out: Path) -> dict[str, int]:
    """Finished sequences and their line counts."""
    return {p.stem: len(p.read_text().splitlines()) for p in out.glob("synth_*.txt") if not p.stem.endswith("_time")}


def wait_until_tracking(process: subprocess.Popen, out: Path) -> list[int]:
    """Both workers running and at least one sequence saved; returns the workers' pids."""
    wait_for(lambda: results(out) or process.poll() is not None, "a first finished sequence")
    assert process.poll() is None, "the run ended before the test could interrupt it"
    return wait_for(lambda: len(worker_pids(process.pid)) == 2 and worker_pids(process.pid), "two workers")


def test_corrupt_frame_with_two_workers_fails_that_sequence_only(tmp_path, tiny_weights):
    root = tmp_path / "data"
    names = write_synthetic_dataset(root, sequences=SEQUENCES, frames=FRAMES, size=(128, 96), seed=3,
                                    test_fraction=1.0)
    bad = names[1]
    broken = sorted((root / bad / "visible").iterdir())[10]
    broken.write_bytes(b"not a jpeg")
    out = tmp_path / "results"

    started = time.monotonic()
    status, stdout, stderr = finish(start_test_run(root, tiny_weights, out))
    seconds = time.monotonic() - started

    assert status == 2, stderr
    assert f"{bad}: FAILED: {broken}: corrupt or unreadable image" in stderr
    assert results(out) == {name: FRAMES for name in names if name != bad}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sequences_done"] == SEQUENCES - 1 and summary["sequences_failed"] == 1
    assert summary["failed"] == [{"name": bad, "error": f"{broken}: corrupt or unreadable image", "bad_input": True}]
    print(f"corrupt frame, 2 workers, {SEQUENCES}x{FRAMES} frames: exit {status} after {seconds:.1f} s")


def test_sigkilled_worker_loses_only_its_sequence(tmp_path, dataset, tiny_weights, no_stray_workers):
    root, names = dataset
    out = tmp_path / "results"
    process = start_test_run(root, tiny_weights, out)
    no_stray_workers += wait_until_tracking(process, out)
    victim = no_stray_workers[0]
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    status, stdout, stderr = finish(process)

    assert status == 1, stderr
    summary = json.loads((out / "summary.json").read_text())
    [lost] = summary["failed"]
    assert lost["error"] == "worker process killed by SIGKILL (out of memory?)" and not lost["bad_input"]
    assert f"{lost['name']}: FAILED: worker process killed by SIGKILL" in stderr
    assert results(out) == {name: FRAMES for name in names if name != lost["name"]}
    assert summary["sequences_done"] == SEQUENCES - 1
    assert SequencesFailed(summary, out).exit_status == 1
    assert not running(victim)
    print(f"SIGKILLed worker: run ended {time.monotonic() - killed_at:.1f} s later, exit {status}")


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_killed_parent_leaves_no_worker(tmp_path, long_dataset, tiny_weights, signum, no_stray_workers):
    out = tmp_path / "results"
    process = start_test_run(long_dataset, tiny_weights, out)
    no_stray_workers += wait_until_tracking(process, out)
    process.send_signal(signum)
    killed_at = time.monotonic()
    finish(process, timeout=30)

    wait_for(lambda: not any(running(pid) for pid in no_stray_workers), "the workers to exit", timeout=5)
    gone_after = time.monotonic() - killed_at
    saved = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    time.sleep(2.0)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == saved, "something still writes results"
    assert not (out / "summary.json").exists(), "the run finished before it was killed: nothing was tested"
    print(f"parent killed by {signal.Signals(signum).name}: workers gone {gone_after:.2f} s later")


def test_ctrl_c_stops_workers_and_exits_130(tmp_path, long_dataset, tiny_weights, no_stray_workers):
    out = tmp_path / "results"
    process = start_test_run(long_dataset, tiny_weights, out)
    no_stray_workers += wait_until_tracking(process, out)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
    interrupted_at = time.monotonic()
    status, stdout, stderr = finish(process, timeout=30)

    assert status == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not any(running(pid) for pid in no_stray_workers)
    assert not (out / "summary.json").exists(), "the run finished before Ctrl-C: nothing was tested"
    print(f"Ctrl-C: exit 130 after {time.monotonic() - interrupted_at:.2f} s, workers gone")
