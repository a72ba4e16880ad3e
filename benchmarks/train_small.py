"""Reproduce the bundled small CKD model (``ckd_small_cpu`` config) on a CPU, in one command.

Steps (each skipped when its output exists, so an interrupted run continues where it stopped):

1. writes the training data: real-imagery sequences from registered RGB-T still pairs
   (``--pairs``, default ``../shared/real_pairs``; its LLVIP part is non-commercial) and
   synthetic sequences, plus held-out sequences of both kinds from seeds never trained on;
2. trains the config from scratch (phase 1), then continues from phase 1 with ten times lower
   learning rates (phase 2, ``--finetune-epochs``); both phases resume from their checkpoints;
3. exports the inference weights in fp16 to ``--out`` with ``--out``.sha256 next to it;
4. scores, with ``ckdtrack test``/``ckdtrack eval`` machinery, the trained model, the same
   network untrained and a static box on the held-out sequences, and the trained model on the
   three annotated TNO clips (test material only: nothing here is chosen by those scores);
5. writes the model card (``--out`` with ``.md``): data and terms, recipe, speed and scores.

    python benchmarks/train_small.py --work runs/ckd_small --threads 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import torch

from ckdtrack.config import load_config
from ckdtrack.data.real_pairs import write_real_pairs_dataset
from ckdtrack.data.synth import write_synthetic_dataset
from ckdtrack.evaluation import evaluate_trackers
from ckdtrack.io import atomic_torch_save, atomic_write_text
from ckdtrack.tracking.baselines import static_box_results
from ckdtrack.models import CKD
from ckdtrack.models.checkpoint import read_checkpoint, sha256_of
from ckdtrack.training import train
from ckdtrack.training.export import export_inference
from ckdtrack.training.trainer import CHECKPOINT_NAME, seed_everything

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from tno_eval import LOCAL_ONLY, evaluate_tno, run_ckd, with_tracker  # noqa: E402 (benchmarks/ on the path first)
FINETUNE_LR_FACTOR = 0.1
NEGATIVE_PAIRS = 0.2  # default share of target-absent search crops in phase 2
# Tracker settings tried on the validation sets ({} is re-detection off). Every whole-frame
# search runs at most 3 windows per frame (tracker.redetect_windows): the most that keeps a lost
# frame within 1/30 s on the 2-core CPU, so the tracker stays real-time; candidates are ranked by
# their likeness to the first frame (tracker.redetect_appearance 1), which beat the network score
# alone at every threshold in an earlier sweep (docs/benchmarks.md). After a complete pass that
# found nothing better, the search rests 10 frames (tracker.redetect_pause), fixed by speed
# too: a tracker that stays unsure then pays for the search on fewer frames.
REAL_TIME_REDETECT = {"redetect_appearance": 1.0, "redetect_windows": 3, "redetect_pause": 10}
REDETECT_SWEEP = ([{}] + [{"hold_size_below": hold} for hold in (0.2, 0.3, 0.4)]
                  + [{"redetect_threshold": threshold, **REAL_TIME_REDETECT} for threshold in (0.4, 0.5, 0.6, 0.7)]
                  + [{"redetect_threshold": 0.6, **REAL_TIME_REDETECT, "hold_size_below": hold}
                     for hold in (0.2, 0.3, 0.4)])
REDETECT_VALIDATION = {"real_mixed_train": "continuous (real_mixed_train validation split)",
                       "real_mixed_cuts_val": "two scene cuts each (real_mixed_cuts_val)"}


@dataclasses.dataclass(frozen=True)
class GeneratedSet:
    """One generated data set of the recipe (``ckdtrack synth`` arguments)."""

    source: str  # "real-pairs" or "synthetic"
    seed: int
    sequences: int
    frames: int
    test_fraction: float
    cuts: int = 0
    frame_steps: tuple[int, ...] = (1,)
    camouflage: float = 0.0


# Real-imagery training sequences mix four frame steps (the same motion seen at 1, 1/2, 1/4 and
# 1/8 of the frame rate: up to about 15 px per frame) and hide 30% of the targets in the visible
# image, so the network learns to size a target from the thermal image alone. The validation
# and held-out seeds are never trained on; the held-out sets of earlier recipes are kept as they
# were, next to a thermal-only (every target hidden in the visible image) and a fast set.
MIXED = dict(frame_steps=(1, 2, 4, 8), camouflage=0.3)
DATASETS = {
    "real_mixed_train": GeneratedSet("real-pairs", 1, 240, 60, 0.1, **MIXED),
    "synth_train": GeneratedSet("synthetic", 2, 64, 60, 0.1),
    "real_mixed_cuts_val": GeneratedSet("real-pairs", 201, 24, 60, 1.0, cuts=2, **MIXED),
    "real_heldout": GeneratedSet("real-pairs", 101, 16, 80, 1.0),
    "synth_heldout": GeneratedSet("synthetic", 102, 16, 80, 1.0),
    "real_cuts_heldout": GeneratedSet("real-pairs", 202, 24, 60, 1.0, cuts=2),
    "real_hidden_heldout": GeneratedSet("real-pairs", 103, 16, 80, 1.0, camouflage=1.0),
    "real_fast_heldout": GeneratedSet("real-pairs", 104, 16, 80, 1.0, frame_steps=(8,)),
}
HELDOUT = ("real_heldout", "synth_heldout", "real_cuts_heldout", "real_hidden_heldout", "real_fast_heldout")


def write_data(data: Path, pairs: Path) -> None:
    for name, spec in DATASETS.items():
        folder = data / name
        if (folder / "synth.json").is_file():  # written last: the folder is complete
            continue
        print(f"writing {spec.sequences} {spec.source} sequences (seed {spec.seed}) -> {folder}", flush=True)
        common = dict(sequences=spec.sequences, frames=spec.frames, size=(320, 256), seed=spec.seed,
                      test_fraction=spec.test_fraction)
        if spec.source == "real-pairs":
            write_real_pairs_dataset(folder, pairs, cuts=spec.cuts, frame_steps=spec.frame_steps,
                                     camouflage=spec.camouflage, **common)
        else:
            write_synthetic_dataset(folder, **common)


def run_phase(config, out: Path, roots: dict, init: Path | None = None) -> list[dict]:
    """Train one phase, resuming from its checkpoint; a finished phase returns its history."""
    checkpoint = out / CHECKPOINT_NAME
    resume = checkpoint.is_file()
    if resume and read_checkpoint(checkpoint).get("epoch", 0) >= config.train.epochs:
        return list(read_checkpoint(checkpoint)["history"])
    return train(config, out, roots, init=None if resume else init, resume=resume)


def fp16_copy(exported: Path, out: Path, config) -> str:
    """The exported weights stored in half precision (loaded back into fp32 networks) with
    ``config``; returns its sha256 (the same for the same weights and config:
    :func:`ckdtrack.io.atomic_torch_save`)."""
    state = read_checkpoint(exported)
    state["config"] = config.to_dict()
    state["net"] = {k: v.half() if v.is_floating_point() else v for k, v in state["net"].items()}
    atomic_torch_save(state, out)
    digest = sha256_of(out)
    atomic_write_text(out.with_suffix(".sha256"), f"{digest}  {out.name}\n")
    return digest


def track_and_score(data: Path, results: Path, trackers: dict) -> dict:
    """Track ``data`` (a LasHeR-layout test split) with each tracker, add a static box, and
    score all with ckdtrack eval (LasHeR protocol): name -> {"SR", "PR"} in percent. A tracker
    whose folder is marked done (by an interrupted earlier call for the same weights) is kept."""
    folders = {}
    for name, tracker in trackers.items():
        folders[name] = results / name
        if not (folders[name] / "done").is_file():
            run_ckd(tracker, data, folders[name], None)
            atomic_write_text(folders[name] / "done", "")
    folders["static box"] = results / "static-box"
    static_box_results(data, folders["static box"])
    evaluation = evaluate_trackers("lasher", list(folders.values()), names=list(folders), gt=data)
    return {t.name: {"SR": t.scores["SR"], "PR": t.scores["PR"]} for t in evaluation.trackers}


def redetect_sweep(work: Path, weights: Path, digest: str) -> tuple[dict, dict]:
    """SR of the tracker settings of ``REDETECT_SWEEP`` on two *validation* sets (never trained
    on, and not the held-out test sets): the real-imagery validation split, continuous, where a
    re-detection can only be a false alarm, and sequences with two scene cuts each, where it is
    needed. Returns the tables and the settings with the best mean SR over both sets: the
    config's ``tracker`` values come from them."""
    tables = {}
    for name in REDETECT_VALIDATION:
        trackers = {setting_label(setting): with_tracker(weights, **{**LOCAL_ONLY, **setting})
                    for setting in REDETECT_SWEEP}
        tables[name] = track_and_score(work / "data" / name, work / "results" / digest[:12] / "redetect" / name,
                                       trackers)
    best = max(REDETECT_SWEEP, key=lambda setting: sum(table[setting_label(setting)]["SR"]
                                                       for table in tables.values()))
    return tables, best


def redetect_sentence(tracker) -> str:
    """The model card's words for the stored tracker settings."""
    if tracker.redetect_threshold == 0:
        sentence = ("Whole-frame re-detection is off in its stored config (`tracker.redetect_threshold: 0`): "
                    "no setting tried beat it on the validation sets below.")
    else:
        sentence = (f"Its stored config searches the whole frame when the score falls below "
                    f"{tracker.redetect_threshold:g} (`tracker.redetect_threshold`), at most "
                    f"{tracker.redetect_windows} search windows per frame, nearest to the last box first "
                    f"(`tracker.redetect_windows`, so that a lost frame stays real-time), rests "
                    f"{tracker.redetect_pause} frames after a complete pass that found nothing better "
                    f"(`tracker.redetect_pause`), and takes the "
                    f"candidate that looks most like the first frame's target "
                    f"(`tracker.redetect_appearance: {tracker.redetect_appearance:g}`): the best setting on "
                    "the validation sets below.")
    if tracker.hold_size_below > 0:
        sentence += (f" Below a score of {tracker.hold_size_below:g} the box keeps its size "
                     "(`tracker.hold_size_below`).")
    return sentence


def setting_label(setting: dict) -> str:
    """A sweep setting in words, as the tables show it."""
    parts = ["no re-detection"]
    if setting.get("redetect_threshold"):
        parts = [f"below {setting['redetect_threshold']:g}"]
        if setting.get("redetect_accept"):
            parts.append(f"accept from {setting['redetect_accept']:g}")
        if setting.get("redetect_appearance"):
            parts.append(f"appearance {setting['redetect_appearance']:g}")
        if setting.get("redetect_windows"):
            parts.append(f"{setting['redetect_windows']} windows per frame")
        if setting.get("redetect_pause"):
            parts.append(f"rest {setting['redetect_pause']} frames")
    if setting.get("hold_size_below"):
        parts.append(f"size held below {setting['hold_size_below']:g}")
    return ", ".join(parts)


def heldout_scores(work: Path, config, weights: Path, digest: str) -> dict:
    """Per held-out set: the trained model as shipped (its stored tracker settings, chosen by
    :func:`redetect_sweep`) and as the published local-only tracker, the same network
    untrained, and a static box."""
    untrained = work / "untrained.pth"
    if not untrained.is_file():
        seed_everything(config.train.seed)
        atomic_torch_save({"net": CKD(config).state_dict(), "config": config.to_dict()}, untrained)
    scores = {}
    for name in HELDOUT:
        trackers = {"trained, as shipped": with_tracker(weights),
                    "trained, local only": with_tracker(weights, **LOCAL_ONLY),
                    "untrained": with_tracker(untrained, **LOCAL_ONLY)}
        scores[name] = track_and_score(work / "data" / name, work / "results" / digest[:12] / name, trackers)
    return scores


def model_card(config, weights: Path, digest: str, history: list[dict], heldout: dict, sweep: dict, tno: dict,
               train_seconds: float, pairs: Path, negatives: float) -> str:
    m, c, t = config.model, config.crop, config.train
    lines = [
        f"# {weights.name}: small CKD RGB-T tracker for CPUs",
        "",
        f"sha256 `{digest}`. Reproduce with `python benchmarks/train_small.py` (seeded, resumable).",
        "",
        "## Licence of the weights",
        "Trained on sequences generated from RoadScene (FLIR ADAS), TNO Image Fusion stills (CC BY 4.0) "
        "and **LLVIP, which is free for non-commercial use only: these weights inherit that restriction**. "
        "Cite Xu et al. (U2Fusion, TPAMI 2020), Toet (Data in Brief 2017), Jia et al. (LLVIP, ICCVW 2021).",
        "",
        "## Model",
        f"Config `{config.name}`: {m.embed_dim}-d ViT students x {m.depth} blocks, {m.num_heads} heads, "
        f"patch {m.patch_size}, head {m.head_channels} channels, template {c.template_size} px "
        f"(x{c.template_factor:g}), search {c.search_size} px (x{c.search_factor:g}), no candidate elimination. "
        "Stored in fp16, run in fp32. " + redetect_sentence(config.tracker),
        "",
        "## Data",
        f"Generated from `{os.path.relpath(pairs, REPO)}` by `ckdtrack synth --source real-pairs` and `ckdtrack synth` "
        "(`DATASETS` in the script: seeds, sizes): real warm/textured objects moving over real backgrounds "
        "with scale/aspect change, occlusion, same-kind distractors, dark and over-exposed visible images, "
        "thermal crossover, registration offsets, blur, grayscale visible images, motion seen at 1, 1/2, 1/4 "
        "and 1/8 of the frame rate, and 30% of the targets hidden in the visible image. The TNO FEL clips are "
        "test material only and were never trained or tuned on.",
        "",
        "## Recipe",
        f"Stage 1 (distill: four ViTs, coupled distillation, masked modeling) from random initialisation, seed "
        f"{t.seed}, batch {t.batch_size}, AdamW (head lr {t.lr_head:g}, backbone lr {t.lr_backbone:g}, weight decay "
        f"{t.weight_decay:g}), {len(history)} epochs of {t.samples_per_epoch} pairs: {t.epochs} at these rates, "
        f"the rest at {FINETUNE_LR_FACTOR:g}x with {negatives:.0%} target-absent search crops "
        "(`train.negative_pair_ratio`). Mix: " + ", ".join(f"{d.name} x{d.ratio:g}" for d in t.datasets)
        + f". {train_seconds / 60:.0f} min of training steps on a 2-core CPU shared with other jobs. "
        "No distillation from a big CKD teacher.",
        "",
        "## Scores (ckdtrack eval, LasHeR protocol; SR = success AUC, PR = precision at 20 px, percent)",
        "",
        "| sequences | tracker | SR | PR |",
        "|---|---|---:|---:|",
    ]
    tables = {**heldout, **{f"re-detection validation, {REDETECT_VALIDATION[name]}": table
                            for name, table in sweep.items()}}
    for name, table in tables.items():
        for tracker, values in table.items():
            lines.append(f"| {name} | {tracker} | {values['SR']:.1f} | {values['PR']:.1f} |")
    lines += ["", "Real TNO FEL clips (annotated person, from the first annotated box; success = share of frames "
              "with IoU > 0.5, precision = share with centre error <= 20 px; FPS end to end on the shared CPU):",
              "", tno["table"], "",
              "FPS: " + ", ".join(f"{name} {value:.0f}" for name, value in tno["fps"].items()), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="runs/ckd_small", help="folder for data, checkpoints and results")
    parser.add_argument("--pairs", default=str(REPO.parent / "shared" / "real_pairs"),
                        help="registered RGB-T still pairs (<set>/visible, <set>/infrared)")
    parser.add_argument("--config", default="ckd_small_cpu")
    parser.add_argument("--finetune-epochs", type=int, default=6, help="phase-2 epochs at lower learning rates")
    parser.add_argument("--finetune-negatives", type=float, default=NEGATIVE_PAIRS,
                        help="phase-2 share of target-absent search crops (train.negative_pair_ratio)")
    parser.add_argument("--out", default=str(REPO / "ckdtrack" / "assets" / "ckd_small_rgbt.pth"))
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (training and tracking)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work, out = Path(args.work), Path(args.out)
    write_data(work / "data", Path(args.pairs))
    roots = {"real_pairs": str(work / "data" / "real_mixed_train"), "synthetic": str(work / "data" / "synth_train")}

    config = load_config(args.config)
    started = time.perf_counter()
    phase1 = work / "phase1_mixed"  # named after its data: a work folder of an earlier recipe is not resumed
    history = run_phase(config, phase1, roots)
    finetune = dataclasses.replace(config, train=dataclasses.replace(
        config.train, epochs=args.finetune_epochs, lr_head=config.train.lr_head * FINETUNE_LR_FACTOR,
        lr_backbone=config.train.lr_backbone * FINETUNE_LR_FACTOR, negative_pair_ratio=args.finetune_negatives))
    # a longer phase 1 or other negatives start a new phase 2
    phase2 = work / f"phase2_mixed_after_epoch{config.train.epochs}_negatives{args.finetune_negatives:g}"
    history += run_phase(finetune, phase2, roots, init=phase1 / CHECKPOINT_NAME)
    train_seconds = sum(config.train.samples_per_epoch / h["train/samples_per_s"] for h in history
                        if h.get("train/samples_per_s"))
    print(f"training done ({len(history)} epochs, {train_seconds / 60:.0f} min of training steps; this call "
          f"{(time.perf_counter() - started) / 60:.0f} min)", flush=True)

    exported = export_inference(phase2 / CHECKPOINT_NAME, work / "ckd_small_fp32.pth", config)
    digest = fp16_copy(exported, out, config)
    sweep, best = redetect_sweep(work, out, digest)
    chosen = dataclasses.replace(config, tracker=dataclasses.replace(config.tracker, **{**LOCAL_ONLY, **best}))
    if chosen != config:
        print(f"note: the sweep chose '{setting_label(best)}', not the settings of config "
              f"{config.name}; the weights store the sweep's choice", flush=True)
    digest = fp16_copy(exported, out, chosen)
    heldout = heldout_scores(work, config, out, digest)
    tno = evaluate_tno(work / "tno", {"ckd-small": out}, threads=args.threads)
    results = {"sha256": digest, "epochs": len(history), "train_seconds": train_seconds, "heldout": heldout,
               "redetect_sweep": sweep, "tno": tno, "history": history}
    atomic_write_text(work / "results.json", json.dumps(results, indent=1))
    atomic_write_text(out.with_suffix(".md"), model_card(chosen, out, digest, history, heldout, sweep, tno,
                                                         train_seconds, Path(args.pairs), args.finetune_negatives))
    print(json.dumps({"redetect_sweep": sweep, "heldout": heldout}, indent=1))
    print(tno["table"])
    print(f"wrote {out} (sha256 {digest}) and its model card {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
