"""Train the tiny CKD on synthetic RGB-T sequences and show that it learned to track.

Writes synthetic sequences, tracks the held-out ones with the untrained network, trains
``configs/tiny_synthetic.yaml`` on the training ones, exports the inference model, tracks the
held-out sequences again and prints the success rate (area under the IoU success curve, as in
RGBT234) of: the untrained network, the trained network, and a "box stays where it started"
baseline.

    python benchmarks/train_tiny.py --work runs/train_tiny
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from ckdtrack.config import load_config
from ckdtrack.data.benchmarks import open_benchmark, valid_box_mask
from ckdtrack.data.synth import write_synthetic_dataset
from ckdtrack.evaluation.metrics import SUCCESS_AXIS, overlaps
from ckdtrack.tracking.tracker import CKDTracker
from ckdtrack.training import export_inference, load_inference_model, train
from ckdtrack.training.trainer import build_training_model, seed_everything


def success_rate(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean over IoU thresholds of the share of annotated frames (after the first) above it."""
    valid = valid_box_mask(truth)
    valid[0] = False
    iou = np.nan_to_num(overlaps(predicted[valid], truth[valid]), nan=0.0)
    return float(np.mean([(iou > t).mean() for t in SUCCESS_AXIS]))


def track(model, config, sequences) -> list[np.ndarray]:
    """Track each sequence from its first annotated box; one thread suits a batch-1 tiny model."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    results = []
    for seq in sequences:
        tracker = CKDTracker(model, config)
        rgb, tir = seq.frame_pair(0)
        tracker.init(rgb, tir, seq.boxes[0])
        boxes = [np.asarray(seq.boxes[0], dtype=np.float64)]
        for index in range(1, len(seq)):
            boxes.append(np.asarray(tracker.update(*seq.frame_pair(index)).box))
        results.append(np.stack(boxes))
    torch.set_num_threads(threads)
    return results


def mean_success(results, sequences) -> float:
    return float(np.mean([success_rate(pred, np.asarray(seq.boxes)) for pred, seq in zip(results, sequences)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="runs/train_tiny", help="folder for data, checkpoints and results")
    parser.add_argument("--config", default="tiny_synthetic")
    parser.add_argument("--sequences", type=int, default=32)
    parser.add_argument("--frames", type=int, default=80)
    parser.add_argument("--epochs", type=int, help="override train.epochs")
    parser.add_argument("--threads", type=int, help="CPU threads for training (default: PyTorch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    work = Path(args.work)
    data = work / "synthetic"
    if not (data / "train.txt").is_file():
        write_synthetic_dataset(data, sequences=args.sequences, frames=args.frames, size=(320, 256), seed=2024)
    config = load_config(args.config)
    if args.epochs is not None:
        config.train.epochs = args.epochs
    held_out = open_benchmark("lasher", root=data, split="test")

    seed_everything(config.train.seed)
    untrained = build_training_model(config)
    static = [np.repeat(np.asarray(seq.boxes[:1], dtype=np.float64), len(seq), axis=0) for seq in held_out]
    scores = {"static box": mean_success(static, held_out),
              "untrained": mean_success(track(untrained, config, held_out), held_out)}

    start = time.perf_counter()
    out = work / "run"
    resume = (out / "checkpoint.pt").is_file()
    history = train(config, out, {"synthetic": str(data)}, resume=resume)
    train_seconds = time.perf_counter() - start
    exported = export_inference(out / "checkpoint.pt", work / "tiny_ckd.pth")
    model, model_config = load_inference_model(exported)
    scores["trained"] = mean_success(track(model, model_config, held_out), held_out)

    report = {"held_out_sequences": len(held_out), "success_rate": scores, "train_seconds": train_seconds,
              "epochs": config.train.epochs, "samples_per_epoch": config.train.samples_per_epoch,
              "final_train_loss": history[-1]["train/Loss/objective"],
              "final_val_loss": history[-1].get("val/Loss/objective")}
    (work / "results.json").write_text(json.dumps(report, indent=1))
    print(f"held-out synthetic sequences: {len(held_out)}; training took {train_seconds / 60:.1f} min")
    for name in ("static box", "untrained", "trained"):
        print(f"  SR {name:<11} {scores[name]:.3f}")


if __name__ == "__main__":
    main()
