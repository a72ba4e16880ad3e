"""The test runner behind ``ckdtrack test``: the tracker over every sequence of a benchmark, resumably.

One result file per sequence (``<seq>.txt``, x,y,w,h per frame, frame 1 = the ground truth)
plus ``<seq>_time.txt`` (seconds per frame), each written atomically by the main process when
the sequence is done; ``run.json`` records the weights (by sha256) and settings that made them.
A re-run into the same folder skips the sequences whose two files are complete (one line per
frame) and refuses other weights or settings, so results of two models never mix. Sequences
are spread over worker processes and devices; a sequence that fails (bad frame, crash, worker
killed) is reported by name while the others go on, and the run then raises
:class:`SequencesFailed`. Workers die with the main process.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from collections import deque
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from multiprocessing.connection import wait
from pathlib import Path

import torch
from tqdm import tqdm

from .. import __version__
from ..boxes import read_box_file
from ..data.benchmarks import open_benchmark
from ..data.sequence import RGBTSequence
from ..errors import InputError
from ..io import atomic_write_text
from ..models.checkpoint import sha256_of
from ..models.runtime import resolve_device
from .frames import sequence_source
from .runner import TrackingRun, format_boxes, run_tracker
from .tracker import CKDTracker

MANIFEST = "run.json"
SUMMARY = "summary.json"
IDENTITY = ("ckdtrack", "weights_sha256", "config", "config_sha256", "precision", "backend", "int_boxes")
"""The manifest fields that must match for earlier results to count (the weights path may move)."""
STOP_SECONDS = 10.0
PR_SET_PDEATHSIG = 1
LISTED_FAILURES = 3


@dataclass
class TrackerSpec:
    """What each worker needs to build its own tracker."""

    weights: str
    config: str | None = None
    precision: str = "fp32"
    threads: int = 1
    backend: str = "torch"
    compile: bool = False

    def build(self, device: str) -> CKDTracker:
        return CKDTracker.from_weights(self.weights, self.config, device, self.precision, backend=self.backend,
                                       compile=self.compile)


@dataclass
class SequenceTiming:
    """Timing of one sequence's tracked frames (its init frame excluded); ``forward_seconds``
    is None for a sequence tracked by an earlier run whose summary did not record it."""

    name: str
    tracked_frames: int
    seconds: float
    forward_seconds: float | None

    @property
    def fps(self) -> float | None:
        return self.tracked_frames / self.seconds if self.tracked_frames and self.seconds else None


class SequencesFailed(InputError):
    """Some sequences were not tracked; the others' results are saved and ``summary.json`` written.

    ``summary`` is that summary (its ``failed`` list names each sequence with its error);
    ``exit_status`` is 2 when every failure is bad input (a corrupt frame...), else 1 (a crash
    or a worker killed, e.g. by the out-of-memory killer).
    """

    def __init__(self, summary: dict, out_dir: Path):
        failed = summary["failed"]
        listed = "; ".join(f"{f['name']}: {f['error']}" for f in failed[:LISTED_FAILURES])
        more = f"; and {len(failed) - LISTED_FAILURES} more" if len(failed) > LISTED_FAILURES else ""
        super().__init__(f"{len(failed)} of {summary['sequences_total']} sequences failed: {listed}{more} "
                         f"(all listed in {out_dir / SUMMARY}; a re-run retries them)")
        self.summary = summary
        self.exit_status = 2 if all(f["bad_input"] for f in failed) else 1


def result_paths(out_dir: Path, name: str) -> tuple[Path, Path]:
    return out_dir / f"{name}.txt", out_dir / f"{name}_time.txt"


def track_sequence(tracker: CKDTracker, sequence: RGBTSequence, videos: Path | None = None,
                   progress: bool = False) -> TrackingRun:
    """Track a benchmark sequence from its init box (writing its video when ``videos`` is set)."""
    video = videos / f"{sequence.name}.mp4" if videos is not None else None
    return run_tracker(tracker, sequence_source(sequence), video=video, progress=progress)


def save_result(out_dir: Path, run: TrackingRun, int_boxes: bool) -> SequenceTiming:
    """Write a sequence's boxes and frame times (times first: the boxes file marks it done)."""
    boxes_path, time_path = result_paths(out_dir, run.name)
    atomic_write_text(time_path, "".join(f"{t:.6f}\n" for t in run.frame_seconds))
    atomic_write_text(boxes_path, format_boxes(run.boxes, integer=int_boxes))
    return SequenceTiming(run.name, run.tracked_frames, run.tracking_seconds, run.step_seconds["forward"])


def finished_timing(out_dir: Path, sequence: RGBTSequence, recorded: dict[str, dict]) -> SequenceTiming | None:
    """The timing of an earlier run's result if both its files have one line per frame, else None.

    ``recorded`` holds the previous ``summary.json`` rows, the only place the model time lives.
    """
    boxes_path, time_path = result_paths(out_dir, sequence.name)
    try:
        boxes = read_box_file(boxes_path)
        seconds = [float(value) for value in time_path.read_text().split()]
    except (InputError, OSError, ValueError):
        return None
    if len(boxes) != len(sequence) or len(seconds) != len(sequence):
        return None
    tracked, total = len(seconds) - 1, sum(seconds[1:])
    row = recorded.get(sequence.name, {})
    recorded_seconds = row.get("seconds")
    same = (row.get("tracked_frames") == tracked and isinstance(recorded_seconds, (int, float))
            and abs(recorded_seconds - total) <= 1e-5 * (tracked + 1))
    return SequenceTiming(sequence.name, tracked, total, row.get("forward_seconds") if same else None)


def run_manifest(spec: TrackerSpec, int_boxes: bool) -> dict:
    """What makes two runs' results interchangeable: weights content, settings and ckdtrack version."""
    weights = Path(spec.weights)
    if not weights.is_file():
        raise InputError(f"{weights}: weights file not found")
    config_file = spec.config is not None and Path(spec.config).is_file()
    return {"ckdtrack": __version__, "weights": str(weights.resolve()), "weights_sha256": sha256_of(weights),
            "config": spec.config, "config_sha256": sha256_of(spec.config) if config_file else None,
            "precision": spec.precision, "backend": spec.backend, "int_boxes": int_boxes}


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _difference(previous: dict, manifest: dict) -> str | None:
    changed = [key for key in IDENTITY if previous.get(key) != manifest.get(key)]
    if not changed:
        return None
    if "weights_sha256" in changed:
        return (f"other weights ({previous.get('weights')}, sha256 {str(previous.get('weights_sha256'))[:12]}; "
                f"now {manifest['weights']}, sha256 {manifest['weights_sha256'][:12]})")
    return "other " + ", ".join(f"{key} ({previous.get(key)!r}; now {manifest[key]!r})" for key in changed)


def prepare_out_dir(out_dir: Path, manifest: dict, overwrite: bool) -> None:
    """Refuse a folder with results of other weights or settings (or, with ``overwrite``, delete
    them), then record this run's manifest; an unwritable folder is found here, before any work."""
    time_files = sorted(out_dir.glob("*_time.txt")) if out_dir.is_dir() else []
    if overwrite:
        for time_path in time_files:
            time_path.with_name(time_path.name.removesuffix("_time.txt") + ".txt").unlink(missing_ok=True)
            time_path.unlink()
        (out_dir / SUMMARY).unlink(missing_ok=True)
    elif time_files:
        previous = _read_json(out_dir / MANIFEST)
        difference = _difference(previous, manifest) if previous is not None else None
        if previous is None or difference:
            problem = (f"its results were made with {difference}" if difference
                       else f"it holds results but no readable {MANIFEST} saying which weights made them")
            raise InputError(f"{out_dir}: {problem}; use another --out, or --overwrite to re-run every sequence")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out_dir / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    except OSError as exc:
        raise InputError(f"{out_dir}: cannot write results there ({exc.strerror or exc})") from None


def _describe(exc: BaseException) -> str:
    """One line for a sequence's error: an InputError's message, else the exception type and message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text if isinstance(exc, InputError) else f"{type(exc).__name__}: {text}".rstrip(": ")


def _describe_exit(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        return f"worker process killed by {name}" + (" (out of memory?)" if -exitcode == signal.SIGKILL else "")
    return f"worker process exited with status {exitcode}"


def _follow_parent(parent_pid: int) -> None:
    """Worker set-up: die with the main process, and leave Ctrl-C and SIGTERM handling to it.

    On Linux the kernel sends SIGKILL when the parent dies (PR_SET_PDEATHSIG); the ``getppid``
    check covers a parent that died before that was set. Elsewhere the worker stops at its next
    message, when the pipe to the parent is closed.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)


def _worker_main(spec: TrackerSpec, device: str, parent_pid: int, conn, videos: Path | None) -> None:
    """A worker process: one tracker; tracks each sequence the parent sends until ``None``."""
    _follow_parent(parent_pid)
    torch.set_num_threads(spec.threads)
    try:
        try:
            tracker = spec.build(device)
        except Exception as exc:
            conn.send(("setup-error", _describe(exc), isinstance(exc, InputError)))
            return
        conn.send(("ready",))
        while (sequence := conn.recv()) is not None:
            try:
                message = ("done", track_sequence(tracker, sequence, videos))
            except Exception as exc:
                if not isinstance(exc, InputError):
                    traceback.print_exc()
                message = ("failed", _describe(exc), isinstance(exc, InputError))
            conn.send(message)
    except (EOFError, OSError):
        return  # the parent is gone


@contextmanager
def _sigint_ignored():
    """Start workers with SIGINT ignored: the setting survives exec, so Ctrl-C reaches only the
    main process, which then stops them (``ckdtrack`` turns SIGTERM into the same interrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: multiprocessing.connection.Connection
    device: str
    ready: bool = False
    sequence: RGBTSequence | None = None


def _stop(pool: list[_Worker]) -> None:
    """Terminate workers (SIGTERM, then SIGKILL after ``STOP_SECONDS``) and wait for them."""
    for worker in pool:
        if worker.process.is_alive():
            worker.process.terminate()
    for worker in pool:
        worker.process.join(STOP_SECONDS)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.conn.close()


def _track_in_workers(pending: list[RGBTSequence], spec: TrackerSpec, devices: list[str], workers: int,
                      videos: Path | None, on_done, on_failed) -> None:
    """Track ``pending`` in worker processes, one sequence at a time each, so a worker's death
    costs only the sequence it held (reported as failed; a new worker takes its place)."""
    context = multiprocessing.get_context("spawn")
    queue = deque(pending)
    pool: list[_Worker] = []

    def start(device: str) -> None:
        parent_end, child_end = context.Pipe()
        process = context.Process(target=_worker_main, args=(spec, device, os.getpid(), child_end, videos),
                                  name=f"ckdtrack-test-{device}", daemon=True)
        with _sigint_ignored():
            process.start()
        child_end.close()
        pool.append(_Worker(process, parent_end, device))

    def give_work(worker: _Worker) -> None:
        worker.sequence = queue.popleft() if queue else None
        try:
            worker.conn.send(worker.sequence)
        except OSError:  # it died: the sequence goes back, the main loop buries the worker
            if worker.sequence is not None:
                queue.appendleft(worker.sequence)
            worker.sequence = None

    def handle(worker: _Worker, message: tuple) -> None:
        kind, *payload = message
        if kind == "setup-error":
            error, bad_input = payload
            if bad_input:
                raise InputError(error)
            raise RuntimeError(f"worker on {worker.device} could not start: {error}")
        if kind == "done":
            on_done(payload[0])
        elif kind == "failed":
            on_failed(worker.sequence.name, *payload)
        worker.ready = True
        give_work(worker)

    def bury(worker: _Worker) -> None:
        pool.remove(worker)
        _stop([worker])
        if worker.sequence is not None:
            on_failed(worker.sequence.name, _describe_exit(worker.process.exitcode), False)
        if worker.ready and queue:
            start(worker.device)
        elif not worker.ready and not pool:
            raise RuntimeError(f"worker on {worker.device} died while starting "
                               f"({_describe_exit(worker.process.exitcode)})")

    try:
        for index in range(min(workers, len(pending))):
            start(devices[index % len(devices)])
        while pool:
            ready = set(wait([w.conn for w in pool] + [w.process.sentinel for w in pool]))
            for worker in list(pool):
                if worker.conn not in ready and worker.process.sentinel not in ready:
                    continue
                messages, connected = [], True
                try:
                    while worker.conn.poll():
                        messages.append(worker.conn.recv())
                except (EOFError, OSError):
                    connected = False
                for message in messages:
                    handle(worker, message)
                if not connected or not worker.process.is_alive():
                    bury(worker)
    finally:
        _stop(pool)


def run_benchmark(benchmark: str, data_root: str | Path, spec: TrackerSpec, out_dir: str | Path,
                  workers: int = 1, devices: list[str] | None = None, sequences: list[str] | None = None,
                  int_boxes: bool = False, videos: str | Path | None = None, progress: bool = True,
                  overwrite: bool = False) -> dict:
    """Track all (remaining) sequences; returns the summary of every finished sequence.

    With ``videos`` a side-by-side MP4 per sequence is written into that folder. Results of
    other weights or settings in ``out_dir`` raise :class:`InputError` unless ``overwrite``
    (which deletes them). If any sequence fails the others still run, ``summary.json`` is
    written, and :class:`SequencesFailed` is raised.
    """
    out_dir = Path(out_dir)
    videos = Path(videos) if videos is not None else None
    devices = devices or ["cpu"]
    manifest = run_manifest(spec, int_boxes)
    all_sequences = open_benchmark(benchmark, data_root, split="test", sequences=sequences)
    prepare_out_dir(out_dir, manifest, overwrite)
    recorded = {row.get("name"): row for row in (_read_json(out_dir / SUMMARY) or {}).get("per_sequence", [])
                if isinstance(row, dict)}
    finished = {s.name: t for s in all_sequences if (t := finished_timing(out_dir, s, recorded)) is not None}
    pending = [s for s in all_sequences if s.name not in finished]
    tracked: set[str] = set()
    failed: list[dict] = []
    bar = tqdm(total=len(all_sequences), initial=len(finished), desc=f"{benchmark} sequences", unit="seq",
               disable=not progress)

    def on_done(run: TrackingRun) -> None:
        finished[run.name] = save_result(out_dir, run, int_boxes)
        tracked.add(run.name)
        bar.update()

    def on_failed(name: str, error: str, bad_input: bool) -> None:
        failed.append({"name": name, "error": error, "bad_input": bad_input})
        tqdm.write(f"{name}: FAILED: {error}", file=sys.stderr)
        bar.update()

    with bar:
        if workers <= 1 and pending:
            torch.set_num_threads(spec.threads)
            tracker = spec.build(devices[0])
            for sequence in pending:
                try:
                    run = track_sequence(tracker, sequence, videos, progress=progress)
                except Exception as exc:
                    if not isinstance(exc, InputError):
                        traceback.print_exc()
                    on_failed(sequence.name, _describe(exc), isinstance(exc, InputError))
                else:
                    on_done(run)
        elif pending:
            _track_in_workers(pending, spec, devices, workers, videos, on_done, on_failed)
    summary = summarise(benchmark, [finished[s.name] for s in all_sequences if s.name in finished], tracked,
                        sorted(failed, key=lambda f: f["name"]), len(all_sequences))
    atomic_write_text(out_dir / SUMMARY, json.dumps(summary, indent=1, allow_nan=False) + "\n")
    if failed:
        raise SequencesFailed(summary, out_dir)
    return summary


def summarise(benchmark: str, finished: list[SequenceTiming], tracked: set[str], failed: list[dict],
              total: int) -> dict:
    """Every finished sequence (``this_run`` marks the ones tracked now); no FPS is given as null."""
    frames = sum(t.tracked_frames for t in finished)
    seconds = sum(t.seconds for t in finished)
    timed = [t for t in finished if t.forward_seconds]
    forward = sum(t.forward_seconds for t in timed)
    return {
        "benchmark": benchmark,
        "sequences_total": total,
        "sequences_done": len(finished),
        "sequences_already_done": len(finished) - len(tracked),
        "sequences_tracked": len(tracked),
        "sequences_failed": len(failed),
        "tracked_frames": frames,
        "fps_end_to_end": frames / seconds if frames and seconds else None,
        "fps_model": sum(t.tracked_frames for t in timed) / forward if forward else None,
        "failed": failed,
        "per_sequence": [dict(asdict(t), fps=t.fps, this_run=t.name in tracked) for t in finished],
    }


def format_summary(summary: dict, out_dir: str | Path) -> str:
    """What ``ckdtrack test`` prints: a line per sequence (FPS "n/a" without tracked frames), failures, totals."""
    lines = []
    for row in summary["per_sequence"]:
        fps = f"{row['fps']:.1f}" if row["fps"] is not None else "n/a"
        lines.append(f"  {row['name']:<32} {row['tracked_frames']:>6} frames {fps:>8} FPS")
    lines += [f"  {row['name']:<32} FAILED: {row['error']}" for row in summary["failed"]]
    fps = summary["fps_end_to_end"]
    lines.append(f"{summary['benchmark']}: tracked {summary['sequences_tracked']} sequences "
                 f"({summary['sequences_already_done']} already done) of {summary['sequences_total']}"
                 + (f", {summary['sequences_failed']} FAILED" if summary["sequences_failed"] else "")
                 + f", {summary['tracked_frames']} frames" + (f", {fps:.1f} FPS end to end" if fps else "")
                 + f" -> {out_dir}")
    return "\n".join(lines)


def default_threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(workers, 1))


def parse_devices(text: str) -> list[str]:
    devices = [d.strip() for d in text.split(",") if d.strip()]
    if not devices:
        raise InputError("--devices: give cpu or a comma-separated list such as cuda:0,cuda:1")
    return [str(resolve_device(device, "--devices")) for device in devices]
