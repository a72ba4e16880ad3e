"""Data-parallel training under torchrun: 2 gloo processes on the CPU."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

import pytest
import torch
import yaml

from ckdtrack.config import load_config
from ckdtrack.data.synth import write_synthetic_dataset
from ckdtrack.training import train

pytestmark = pytest.mark.slow

PER_RANK_BATCH = 4
WORKER = textwrap.dedent("""
    import sys, torch, torch.distributed as dist
    from ckdtrack.config import load_config
    from ckdtrack.training.trainer import Trainer, build_training_model
    from ckdtrack.training.data import build_datasets
    from ckdtrack.training.distributed import setup_distributed, teardown_distributed
    from ckdtrack.training.trainer import seed_everything

    class Recording(torch.utils.data.Dataset):
        def __init__(self, inner):
            self.inner, self.seen = inner, []
        def __len__(self):
            return len(self.inner)
        def set_epoch(self, epoch):
            self.inner.set_epoch(epoch)
        def __getitem__(self, index):
            self.seen.append(index)
            return self.inner[index]

    config_path, root, out = sys.argv[1:4]
    config = load_config(config_path)
    context = setup_distributed("cpu")
    seed_everything(config.train.seed + context.rank)  # rank 0 starts as the single process; DDP syncs the rest
    model = build_training_model(config)
    train_set = Recording(build_datasets(config, {"synthetic": root})[0])
    history = Trainer(config, model, train_set, None, out, context, progress=False).fit()
    torch.save({"net": model.state_dict(), "history": history, "seen": train_set.seen}, f"{out}/rank{context.rank}.pt")
    teardown_distributed(context)
""")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(path, batch_size: int, samples: int):
    path.write_text(yaml.safe_dump({
        "model": {"embed_dim": 32, "depth": 2, "num_heads": 2, "head_channels": 16, "ce_layers": []},
        "crop": {"template_size": 32, "search_size": 64},
        "train": {"stage": "distill", "epochs": 2, "samples_per_epoch": samples, "batch_size": batch_size,
                  "num_workers": 0, "device": "cpu", "lr_head": 1e-3, "lr_backbone": 1e-4, "seed": 7,
                  "mask_probability": 0.0, "max_sample_interval": 10,
                  "datasets": [{"name": "synthetic", "split": "train"}], "val_datasets": []},
    }))
    return path


def test_two_gloo_processes_match_one_process_with_the_doubled_batch(tmp_path):
    root = tmp_path / "synth"
    write_synthetic_dataset(root, sequences=3, frames=10, size=(128, 96), seed=4)
    samples = 2 * PER_RANK_BATCH
    (tmp_path / "worker.py").write_text(WORKER)
    ddp_config = write_config(tmp_path / "ddp.yaml", PER_RANK_BATCH, samples)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(free_port()), str(tmp_path / "worker.py"), str(ddp_config), str(root),
               str(tmp_path / "ddp")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / "ddp" / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for key, value in ranks[0]["net"].items():
        assert torch.equal(ranks[1]["net"][key], value), key
    per_epoch = PER_RANK_BATCH
    for epoch in range(2):
        seen = [set(rank["seen"][epoch * per_epoch:(epoch + 1) * per_epoch]) for rank in ranks]
        assert not seen[0] & seen[1] and seen[0] | seen[1] == set(range(samples))

    single_config = load_config(write_config(tmp_path / "single.yaml", 2 * PER_RANK_BATCH, samples))
    single = train(single_config, tmp_path / "single", {"synthetic": str(root)}, progress=False)
    distributed = ranks[0]["history"]
    # Same weights, same samples: only BatchNorm's per-process batch statistics differ.
    first = distributed[0]["train/Loss/objective"]
    assert first == pytest.approx(single[0]["train/Loss/objective"], rel=5e-2)
    assert distributed[0]["train/Loss/content"] == pytest.approx(single[0]["train/Loss/content"], rel=1e-4)
    assert distributed[0]["train/Loss/style"] == pytest.approx(single[0]["train/Loss/style"], rel=1e-4)
