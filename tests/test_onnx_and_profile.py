"""ONNX export reproduces PyTorch (tiny models and the golden ViT-B); ``ckdtrack profile`` reports."""

import numpy as np
import pytest
import torch
import yaml

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from ckdtrack.cli import main
from ckdtrack.config import load_config
from ckdtrack.models import CKD
from ckdtrack.models.ckd import example_inputs
from ckdtrack.models.onnx import OnnxNetwork, export_onnx
from ckdtrack.tracking import CKDTracker
from conftest import tiny_config, write_sequence
from golden import deterministic_state_dict, load_golden


def test_tiny_mce_model_exports_and_matches(tmp_path):
    torch.manual_seed(0)
    config = tiny_config(ce_layers=[0, 1])
    model = CKD(config).eval()
    proto = export_onnx(model, tmp_path / "tiny.onnx")
    assert (tmp_path / "tiny.onnx").stat().st_size > 0 and proto.graph.input[4].name == "template_mask"
    assert OnnxNetwork.stored_config(tmp_path / "tiny.onnx")["model"]["ce_layers"] == [0, 1]
    network = OnnxNetwork(tmp_path / "tiny.onnx", model.config)
    inputs = example_inputs(model.config, seed=5)
    with torch.no_grad():
        expected = model(*inputs)
    actual = network(*inputs)
    for key in ("score_map", "size_map", "offset_map"):
        torch.testing.assert_close(actual[key], expected[key], atol=1e-4, rtol=0)


def test_tracking_with_the_onnxruntime_backend_matches_torch(tmp_path, tiny_weights):
    seq = write_sequence(tmp_path / "seq", frames=5)
    assert main(["export-onnx", "--weights", str(tiny_weights), "--out", str(tmp_path / "m.onnx")]) == 0
    outputs = {}
    for backend, weights in (("torch", tiny_weights), ("onnxruntime", tmp_path / "m.onnx")):
        out = tmp_path / f"{backend}.txt"
        assert main(["track", str(seq), "--weights", str(weights), "--backend", backend, "--out", str(out),
                     "--quiet"]) == 0
        outputs[backend] = np.loadtxt(out, delimiter=",")
    assert np.allclose(outputs["torch"], outputs["onnxruntime"], atol=0.011)


def test_onnxruntime_backend_follows_the_torch_thread_count(tmp_path, tiny_weights):
    assert main(["export-onnx", "--weights", str(tiny_weights), "--out", str(tmp_path / "m.onnx")]) == 0
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        tracker = CKDTracker.from_weights(tmp_path / "m.onnx", backend="onnxruntime")
    finally:
        torch.set_num_threads(threads)
    assert tracker.network.session.get_session_options().intra_op_num_threads == 1


def test_onnx_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "bad.onnx").write_bytes(b"nope")
    assert main(["track", str(write_sequence(tmp_path / "s", frames=2)), "--weights", str(tmp_path / "bad.onnx"),
                 "--backend", "onnxruntime", "--config", "ckd_vitb", "--out", str(tmp_path / "o.txt")]) == 2
    assert "bad.onnx" in capsys.readouterr().err


@pytest.mark.golden
@pytest.mark.slow
def test_golden_vitb_mce_onnx_reproduces_pytorch():
    golden = load_golden("forward_ce.pt")
    model = CKD(load_config("ckd_vitb_mce")).eval()
    model.load_state_dict(deterministic_state_dict("manifest_infer.json"))
    network = OnnxNetwork(export_onnx(model).SerializeToString(), model.config)
    out = network(golden["template_rgb"], golden["template_tir"], golden["search_rgb"], golden["search_tir"],
                  golden["ce_template_mask"])
    for key in ("score_map", "size_map", "offset_map"):
        torch.testing.assert_close(out[key], golden[key], atol=1e-4, rtol=0, msg=key)


def test_profile_reports_macs_with_and_without_elimination(tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config(ce_layers=[1]).to_dict()))
    assert main(["profile", "--config", str(path), "--runs", "2", "--frames", "3"]) == 0
    out = capsys.readouterr().out
    macs = [line for line in out.splitlines() if line.startswith("MACs")][0]
    with_ce, without_ce = (float(v) for v in macs.replace("(", " ").split() if v.replace(".", "").isdigit())
    assert 0 < with_ce < without_ce
    assert "FPS end to end" in out and "threads" in out
