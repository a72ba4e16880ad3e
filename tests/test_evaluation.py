"""Evaluation protocols on hand-made sequences, result-folder parsing, strictness and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import hide_matplotlib

from ckdtrack.boxes import read_box_rows
from ckdtrack.cli import main
from ckdtrack.data.sequence import RGBTSequence
from ckdtrack.errors import InputError
from ckdtrack.evaluation import evaluate, evaluate_trackers
from ckdtrack.evaluation.results import detect_prefix, list_result_files


def sequence(name, boxes, thermal=None, stride=1, **attributes) -> RGBTSequence:
    boxes = np.asarray(boxes, dtype=np.float64)
    thermal = boxes if thermal is None else np.asarray(thermal, dtype=np.float64)
    flags = {key: np.array([int(value)]) for key, value in attributes.items()}
    return RGBTSequence(name, [], [], visible_boxes=boxes, thermal_boxes=thermal, attributes=flags,
                        annotation_stride=stride)


def write(folder: Path, name: str, boxes, delimiter=","):
    folder.mkdir(parents=True, exist_ok=True)
    np.savetxt(folder / f"{name}.txt", np.asarray(boxes, dtype=np.float64), fmt="%g", delimiter=delimiter)


def still_target(frames=10, box=(50, 40, 20, 10)):
    return np.tile(np.asarray(box, dtype=np.float64), (frames, 1))


def shifted(boxes, dx):
    moved = np.array(boxes, dtype=np.float64)
    moved[:, 0] += dx
    return moved


PERFECT_SUCCESS = 100 * np.mean(1 > np.linspace(0, 1, 21))  # IoU 1 is not above the threshold 1


def scores(benchmark, folder, truth, **options):
    return evaluate_trackers(benchmark, [folder], names=["T"], ground_truth=truth, **options).trackers[0]


# --- protocols -------------------------------------------------------------------------------


@pytest.mark.parametrize("benchmark_name, shift, expected", [
    ("rgbt234", 20, 100.0),  # 20 px is within the 20 px threshold (<=)
    ("rgbt234", 21, 0.0),
    ("gtot", 4, 100.0),
    ("gtot", 5, 0.0),  # GTOT: strictly below 5 px
])
def test_precision_threshold_and_comparison(tmp_path, benchmark_name, shift, expected):
    truth = still_target()
    write(tmp_path, "a", shifted(truth, shift))
    result = scores(benchmark_name, tmp_path, [sequence("a", truth)])
    assert result.scores["MPR"] == pytest.approx(expected)


def test_dual_truth_takes_the_better_modality_per_frame(tmp_path):
    visible = still_target(4)
    infrared = shifted(visible, 30)
    results = np.concatenate([visible[:2], infrared[2:]])  # each half matches one modality
    write(tmp_path, "a", results)
    result = scores("rgbt234", tmp_path, [sequence("a", visible, infrared)])
    assert result.scores == pytest.approx({"MPR": 100.0, "MSR": PERFECT_SUCCESS})
    single = scores("rgbt210", tmp_path, [sequence("a", visible, infrared)])
    assert single.scores["PR"] == pytest.approx(50.0)  # only frames 1 (replaced) and 2 match


def test_success_is_the_mean_over_21_thresholds_with_inclusive_pixels(tmp_path):
    truth = still_target(2, (0, 0, 10, 10))
    # half the width: inclusive-pixel IoU = 50 / 100 = 0.5 exactly, success for t < 0.5
    write(tmp_path, "a", [[0, 0, 10, 10], [0, 0, 5, 10]])
    result = scores("rgbt234", tmp_path, [sequence("a", truth)])
    thresholds = np.linspace(0, 1, 21)
    frame2 = (0.5 > thresholds).mean()
    assert result.scores["MSR"] == pytest.approx(100 * ((1 > thresholds).mean() + frame2) / 2)


def test_first_frame_is_replaced_only_where_the_protocol_says(tmp_path):
    truth = still_target(4)
    write(tmp_path, "a", shifted(truth, 100))
    assert scores("rgbt210", tmp_path, [sequence("a", truth)]).scores["PR"] == pytest.approx(25.0)
    assert scores("rgbt234", tmp_path, [sequence("a", truth)]).scores["MPR"] == pytest.approx(0.0)


def test_lasher_validity_rules(tmp_path):
    truth = still_target(4)
    truth[3] = 0  # target absent: passes PR / NPR, fails SR, stays in the denominator
    results = truth.copy()
    results[1] = [500, 500, 20, 10]  # far away
    results[2] = [0, 0, 0, 10]  # zero width: takes the (far away) previous box
    write(tmp_path, "a", results)
    result = scores("lasher", tmp_path, [sequence("a", truth)])
    assert result.scores["PR"] == pytest.approx(50.0)
    assert result.scores["NPR"] == pytest.approx(50.0)
    assert result.scores["SR"] == pytest.approx(PERFECT_SUCCESS / 4)


def test_gtot_pools_frames_while_others_average_sequences(tmp_path):
    long, short = still_target(9), still_target(1)
    write(tmp_path, "long", long)
    write(tmp_path, "short", shifted(short, 50))
    truth = [sequence("long", long), sequence("short", short)]
    assert scores("gtot", tmp_path, truth).scores["MPR"] == pytest.approx(90.0)
    assert scores("rgbt234", tmp_path, truth).scores["MPR"] == pytest.approx(50.0)


def test_vtuav_scores_every_tenth_frame(tmp_path):
    frames = 25
    truth = still_target(3)
    results = shifted(still_target(frames), 100)
    results[::10] = truth[0]  # correct exactly on the annotated frames 1, 11, 21
    write(tmp_path, "a", results)
    result = scores("vtuav-st", tmp_path, [sequence("a", truth, stride=10)])
    assert result.scores == pytest.approx({"MPR": 100.0, "MSR": PERFECT_SUCCESS})
    assert result.warnings == []


def test_results_are_rounded_half_to_even_before_scoring(tmp_path):
    truth = still_target(2, (10, 10, 10, 10))
    # 10.5 rounds to 10 (exact match); 11.5 rounds to 12 (2 px off) -> IoU 80 / 120
    write(tmp_path, "a", [[10.5, 10, 10, 10], [11.5, 10, 10, 10]])
    result = scores("rgbt234", tmp_path, [sequence("a", truth)])
    thresholds = np.linspace(0, 1, 21)
    assert result.scores["MSR"] == pytest.approx(100 * ((1 > thresholds).mean() + (2 / 3 > thresholds).mean()) / 2)


def test_attribute_scores_use_the_sequences_with_the_attribute(tmp_path):
    good, bad = still_target(), still_target()
    write(tmp_path, "good", good)
    write(tmp_path, "bad", shifted(bad, 100))
    truth = [sequence("good", good, NO=1, FM=0), sequence("bad", bad, NO=0, FM=1)]
    result = scores("rgbt234", tmp_path, truth)
    assert result.attributes["NO"]["MPR"] == pytest.approx(100.0)
    assert result.attributes["FM"]["MPR"] == pytest.approx(0.0)
    assert result.scores["MPR"] == pytest.approx(50.0)


# --- result folders --------------------------------------------------------------------------


def test_prefix_detection_prefers_the_prefix_matching_most_sequences():
    names = ["car", "bluecar", "man"]
    assert detect_prefix(["JMMAC_234_final_car", "JMMAC_234_final_bluecar", "JMMAC_234_final_man"], names) == "JMMAC_234_final_"
    assert detect_prefix(["car", "bluecar", "man"], names) == ""
    assert detect_prefix(["our_car", "our_man"], names) == "our_"


def test_folder_layouts_delimiters_and_corners(tmp_path):
    truth = still_target(3)
    corners = np.array([[50, 40, 70, 40, 70, 50, 50, 50]] * 3)
    write(tmp_path / "res", "our_a", truth, delimiter="\t")
    write(tmp_path / "res", "our_a_time", [[0.01]] * 3)
    write(tmp_path / "res" / "b", "b", corners, delimiter=" ")  # nested <seq>/<seq>.txt, no prefix
    files = list_result_files(tmp_path / "res")
    assert set(files) == {"our_a", "b"}
    result = scores("rgbt234", tmp_path / "res", [sequence("a", truth)])
    assert result.scores["MSR"] == pytest.approx(PERFECT_SUCCESS)
    nested = scores("rgbt234", tmp_path / "res", [sequence("b", truth)], prefix="")
    assert nested.scores["MSR"] == pytest.approx(result.scores["MSR"])


@pytest.mark.parametrize("text, problem", [
    ("1,2,3,4\n1,2,x,4\n", ":2: not a row of numbers"),
    ("1,2,3,4\n1,2,3\n", ":2: expected 4"),
    ("1,2,3,4\n\n1,2,3,4\n", ":2: expected 4"),
    ("1 2 3 4\n1 2 3 4 5 6 7 8\n", ":2: 8 values where the lines above have 4"),
])
def test_unparsable_result_files_are_refused_with_file_and_line(tmp_path, text, problem):
    path = tmp_path / "a.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=problem) as error:
        read_box_rows(path)
    assert str(path) in str(error.value)


def test_nan_boxes_and_wrong_lengths_warn_by_default_and_fail_when_strict(tmp_path):
    truth = still_target(4)
    results = truth[:3].copy()
    results[2] = np.nan
    write(tmp_path, "a", results)
    write(tmp_path, "b", still_target(6))
    seqs = [sequence("a", truth), sequence("b", truth), sequence("c", truth)]
    result = scores("rgbt234", tmp_path, seqs)
    text = "\n".join(result.warnings)
    assert "a.txt: 3 boxes but the ground truth has 4" in text
    assert "a.txt:3: 1 box(es) with NaN" in text
    assert "b.txt: 6 boxes" in text and "no result for sequence c" in text
    # missing frames, NaN boxes and missing sequences are failures: a 2/4, b 4/4, c 0/4
    assert result.scores["MPR"] == pytest.approx(100 * (0.5 + 1 + 0) / 3)
    with pytest.raises(InputError, match="a.txt: 3 boxes"):
        scores("rgbt234", tmp_path, seqs, strict=True)


def test_bad_folders_names_and_benchmarks_are_refused(tmp_path):
    truth = [sequence("a", still_target())]
    with pytest.raises(InputError, match="results folder not found"):
        scores("rgbt234", tmp_path / "missing", truth)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no result file matches"):
        scores("rgbt234", tmp_path / "empty", truth)
    with pytest.raises(InputError, match="unknown benchmark 'otb'"):
        scores("otb", tmp_path, truth)
    with pytest.raises(InputError, match="2 tracker names for 1"):
        evaluate_trackers("gtot", [tmp_path], names=["x", "y"], ground_truth=truth)


# --- report and command line -----------------------------------------------------------------


@pytest.fixture
def gtot_runs(tmp_path):
    """Two trackers on the real GTOT ground truth: a perfect one and one 3 px off in x."""
    sequences = pytest.importorskip("ckdtrack.data.benchmarks").open_benchmark("gtot", annotations_only=True)
    for seq in sequences:
        write(tmp_path / "Perfect", seq.name, seq.boxes)
        write(tmp_path / "Shifted", f"our_{seq.name}", shifted(seq.boxes, 3), delimiter=" ")
    return tmp_path


def test_json_report_contract(gtot_runs):
    report = evaluate("gtot", [gtot_runs / "Shifted", gtot_runs / "Perfect"])
    assert report["benchmark"] == "gtot"
    assert list(report["trackers"]) == ["Shifted", "Perfect"]
    perfect = report["trackers"]["Perfect"]
    assert set(perfect) == {"MPR", "MSR", "attributes", "warnings"}
    assert perfect["MPR"] == pytest.approx(100.0) and perfect["warnings"] == []
    assert 0 < report["trackers"]["Shifted"]["MSR"] < perfect["MSR"] <= 100


def test_cli_table_json_csv_and_markdown(gtot_runs, capsys):
    out = gtot_runs / "report.json"
    status = main(["eval", "gtot", str(gtot_runs / "Shifted"), str(gtot_runs / "Perfect"), "--name", "S", "P",
                   "--json", str(out), "--csv", str(gtot_runs / "table.csv")])
    assert status == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].split() == ["Tracker", "MPR", "MSR"]
    assert [line.split()[0] for line in table[2:]] == ["P", "S"]  # best first
    assert set(json.loads(out.read_text())["trackers"]) == {"S", "P"}
    assert (gtot_runs / "table.csv").read_text().splitlines()[0] == "tracker,MPR,MSR"
    assert main(["eval", "gtot", str(gtot_runs / "Perfect"), "--markdown"]) == 0
    assert capsys.readouterr().out.startswith("| Tracker | MPR | MSR |")


def test_cli_strict_exits_2_naming_the_file(gtot_runs, capsys):
    first = sorted((gtot_runs / "Perfect").glob("*.txt"))[0]
    first.write_text(first.read_text() + "1,2,3,4\n")
    assert main(["eval", "gtot", str(gtot_runs / "Perfect")]) == 0
    assert f"warning: Perfect: {first}" in capsys.readouterr().err
    assert main(["eval", "gtot", str(gtot_runs / "Perfect"), "--strict"]) == 2
    assert str(first) in capsys.readouterr().err


def test_plots_write_curves_and_radars(tmp_path):
    pytest.importorskip("matplotlib")
    from ckdtrack.evaluation.plots import write_plots

    truth = [sequence(name, still_target(), NO=i % 2, FM=i % 3 == 0, PO=1) for i, name in enumerate("abcd")]
    for i, seq in enumerate(truth):
        write(tmp_path / "A", seq.name, shifted(seq.boxes, i))
        write(tmp_path / "B", seq.name, shifted(seq.boxes, 3 * i))
    evaluation = evaluate_trackers("lasher", [tmp_path / "A", tmp_path / "B"], ground_truth=truth)
    paths = write_plots(evaluation, tmp_path / "plots")
    expected = {f"lasher_{metric}_{kind}.{fmt}" for metric in ("PR", "NPR", "SR")
                for kind in ("curves", "radar") for fmt in ("png", "pdf")}
    assert {path.name for path in paths} == expected
    assert all(path.stat().st_size > 1000 for path in paths)
    assert not list((tmp_path / "plots").glob(".*.tmp"))


def test_eval_plots_without_matplotlib_fail_in_one_line_before_scoring(gtot_runs, capsys, monkeypatch):
    hide_matplotlib(monkeypatch)
    plots, report = gtot_runs / "plots", gtot_runs / "scores.json"
    assert main(["eval", "gtot", str(gtot_runs / "Perfect"), "--plots", str(plots), "--json", str(report)]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == ["ckdtrack eval: error: plots need matplotlib: pip install 'ckdtrack[plots]'"]
    assert not captured.out and not plots.exists() and not report.exists()


def test_dataset_label_names_the_data_in_tables_and_plots(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from ckdtrack.evaluation import plots
    from ckdtrack.evaluation.report import format_table

    truth = [sequence(name, still_target(), NO=i % 2, FM=i % 3 == 0, PO=1) for i, name in enumerate("abcd")]
    for seq in truth:
        write(tmp_path / "A", seq.name, seq.boxes)
    default = evaluate_trackers("lasher", [tmp_path / "A"], ground_truth=truth)
    labelled = evaluate_trackers("lasher", [tmp_path / "A"], ground_truth=truth,
                                 dataset_label="synthetic (LasHeR protocol)")
    assert format_table(default).splitlines()[0] == "LasHeR (4 sequences)"
    assert format_table(labelled).splitlines()[0] == "synthetic (LasHeR protocol) (4 sequences)"
    titles = []
    monkeypatch.setattr(plots, "_save", lambda figure, folder, stem: titles.append(figure.axes[0].get_title()) or [])
    plots.write_plots(labelled, tmp_path / "plots")
    assert titles and all(title.endswith("on synthetic (LasHeR protocol)") for title in titles)


def test_default_tracker_names_tell_alike_folders_apart(tmp_path):
    truth = [sequence("a", still_target())]
    for tracker in ("MTNet", "DFAT"):
        write(tmp_path / tracker / "LasHeR", "a", still_target())
    evaluation = evaluate_trackers("rgbt234", [tmp_path / "MTNet" / "LasHeR", tmp_path / "DFAT" / "LasHeR"],
                                   ground_truth=truth)
    assert [tracker.name for tracker in evaluation.trackers] == ["MTNet/LasHeR", "DFAT/LasHeR"]
