"""Config loading: every value is checked against its field's type and rules, one line per error."""

from __future__ import annotations

import pytest
import yaml

from ckdtrack.cli import main
from ckdtrack.config import Config, load_config

BAD_VALUES = [
    ("model", "depth", "four", "an integer"),
    ("model", "embed_dim", True, "an integer"),
    ("model", "num_heads", 5, "must divide model.embed_dim"),
    ("model", "ce_layers", 3, "a list of integers"),
    ("model", "ce_layers", [3, 12], "block indices 0..11"),
    ("model", "ce_keep_ratio", 1.5, "between 0 and 1"),
    ("model", "patch_size", 0, "at least 1"),
    ("crop", "search_size", 128.5, "an integer"),
    ("crop", "search_size", 250, "multiple of model.patch_size"),
    ("crop", "template_factor", "wide", "a number"),
    ("crop", "search_factor", -4.0, "must be positive"),
    ("tracker", "hann_window", "no", "true or false"),
    ("tracker", "clip_margin", -1, "must not be negative"),
    ("tracker", "redetect_pause", -2, "must not be negative"),
    ("tracker", "redetect_pause", 2.5, "an integer"),
    ("train", "stage", "distil", "one of 'distill', 'head'"),
    ("train", "style_loss_type", "pixel", "one of 'channel', 'token'"),
    ("train", "amp", "fp8", "one of 'fp32', 'fp16', 'bf16'"),
    ("train", "device", "tpu", "unknown device 'tpu'"),
    ("train", "lr_head", "fast", "a number"),
    ("train", "epochs", 0, "at least 1"),
    ("train", "datasets", "lasher", "a list of mappings"),
    ("train", "datasets", [{"name": "lasher", "ratio": 0}], "must be positive"),
    ("train", "batch_size", None, "an integer"),
    ("model", "depth", float("inf"), "an integer"),
    ("train", "lr_head", "nan", "a number"),
]


@pytest.mark.parametrize("section,key,value,expected", BAD_VALUES,
                         ids=[f"{s}.{k}={v!r}" for s, k, v, _ in BAD_VALUES])
def test_every_bad_value_is_one_line_naming_file_and_key(tmp_path, capsys, section, key, value, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({section: {key: value}}))
    assert main(["config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert str(path) in err and f"{section}.{key}" in err and expected in err, err


@pytest.mark.parametrize("text,expected", [
    ("- 1\n- 2\n", "expected a mapping"),
    ("model: [1, 2\n", "invalid YAML"),
    ("model:\n  embed_dims: 3\n", "unknown key(s) model.embed_dims"),
    ("modle: {}\n", "unknown key(s) modle"),
])
def test_malformed_files_are_one_line_errors(tmp_path, capsys, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and expected in err, err


def test_yaml_1_1_exponents_load_as_floats(tmp_path):
    path = tmp_path / "lr.yaml"
    path.write_text("train:\n  lr_head: 5e-5\n  lr_backbone: 1e-3\n  amp: none\nmodel:\n  ce_layers: [3, 6, 9]\n")
    config = load_config(path)
    assert config.train.lr_head == 5e-5 and isinstance(config.train.lr_head, float)
    assert config.train.lr_backbone == 1e-3
    assert config.train.amp == "fp32", "the old name of full precision still loads"
    assert config.model.ce_layers == (3, 6, 9)


def test_bundled_configs_load_check_and_round_trip(capsys):
    assert main(["config"]) == 0
    names = capsys.readouterr().out.split()
    assert {"ckd_vitb", "ckd_vitb_mce", "ckd_small_cpu"} <= set(names)
    for name in names:
        config = load_config(name)
        assert isinstance(config, Config) and config.name == name
        assert main(["config", name]) == 0
        printed = yaml.safe_load(capsys.readouterr().out)
        assert printed["model"]["embed_dim"] == config.model.embed_dim


def test_unknown_config_name_lists_the_bundled_ones(capsys):
    assert main(["config", "ckd_vitx"]) == 2
    err = capsys.readouterr().err
    assert "unknown config 'ckd_vitx'" in err and "ckd_vitb_mce" in err
