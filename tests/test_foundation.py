"""Shared pieces: box formats and files, crop geometry, configs, checkpoint reading."""

import math

import numpy as np
import pytest
import torch

from ckdtrack.boxes import corners_to_xywh, read_box_file, validate_box, xyxy_to_xywh
from ckdtrack.config import load_config, resolve_config_path
from ckdtrack.errors import InputError
from ckdtrack.geometry import CropWindow, box_from_crop, box_to_crop, clip_box, crop_window, sample_crop
from ckdtrack.io import atomic_write_text
from ckdtrack.models import CKD
from ckdtrack.models.checkpoint import read_checkpoint
from conftest import tiny_config


def test_xyxy_boxes_become_xywh():
    boxes = np.array([[10.5, 20, 40.5, 60], [0, 0, 1, 2]])
    assert xyxy_to_xywh(boxes).tolist() == [[10.5, 20, 30, 40], [0, 0, 1, 2]]


def test_corner_polygons_become_their_bounding_box():
    corners = np.array([[10, 20, 50, 20, 50, 60, 10, 60], [5, 5, 9, 3, 11, 7, 7, 9]])
    assert np.allclose(corners_to_xywh(corners), [[10, 20, 40, 40], [5, 3, 6, 6]])
    inclusive = corners_to_xywh(corners.astype(np.float32), extent=1)
    assert inclusive.dtype == np.float32 and inclusive.tolist() == [[10, 20, 41, 41], [5, 3, 7, 7]]


@pytest.mark.parametrize("text", ["1,2,3,4\n5,6,7,8\n", "1\t2\t3\t4\n5\t6\t7\t8", "1 2 3 4\n5  6 7 8\n\n"])
def test_box_files_with_any_delimiter(tmp_path, text):
    path = tmp_path / "gt.txt"
    path.write_text(text)
    assert read_box_file(path).tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]


def test_box_file_formats_and_errors(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("10 20 50 60\n")
    assert read_box_file(path, fmt="xyxy").tolist() == [[10, 20, 40, 40]]
    path.write_text("10,20,50,20,50,60,10,60\n")
    assert read_box_file(path).tolist() == [[10, 20, 40, 40]]
    for text, message in [("1,2,3\n", "found 3"), ("1,2,3,4\n1,2,3\n", "gt.txt:2: expected 4"),
                          ("1,2,x,4\n", "gt.txt:1"), ("1,2,3,4\nnan,1,1,1\n", "gt.txt:2"), ("", "no boxes")]:
        path.write_text(text)
        with pytest.raises(InputError, match=message):
            read_box_file(path)
    path.write_text("1,2,3,4\nnan,1,1,1\n")
    assert np.isnan(read_box_file(path, allow_nan=True)[1, 0])
    with pytest.raises(InputError, match="not found"):
        read_box_file(tmp_path / "missing.txt")


def test_validate_box():
    assert validate_box(("1", 2, 3.5, 4)) == [1.0, 2.0, 3.5, 4.0]
    for bad in ([1, 2, 0, 4], [1, 2, 3, math.inf], [1, 2, 3]):
        with pytest.raises(InputError):
            validate_box(bad)
    with pytest.raises(InputError, match="outside"):
        validate_box([-20, 0, 10, 10], (100, 100))


def test_crop_window_uses_round_half_to_even_and_ceil():
    window = CropWindow.around([10, 10, 5, 5], 2.0)
    assert window.size == 10 and (window.x1, window.y1) == (8, 8)  # round(7.5) == 8
    window = CropWindow.around([11, 11, 5, 5], 2.0)
    assert (window.x1, window.y1) == (8, 8)  # round(8.5) == 8
    assert CropWindow.around([0, 0, 3, 3], 2.0).size == 6
    with pytest.raises(InputError):
        CropWindow.around([0, 0, 0, 5], 2.0)


def test_crop_pads_with_zeros_outside_the_image():
    image = np.full((20, 30, 3), 100, np.uint8)
    patch = crop_window(image, CropWindow(-5, -5, 10, ), 10)
    assert patch.shape == (10, 10, 3)
    assert (patch[:5] == 0).all() and (patch[:, :5] == 0).all() and (patch[5:, 5:] == 100).all()
    inside = crop_window(image, CropWindow(2, 3, 10), 10)
    assert (inside == 100).all()
    # A window crossing the right border also zeroes the last image column (published behaviour).
    right = crop_window(image, CropWindow(25, 0, 10), 10)
    assert (right[:, :4] == 100).all() and (right[:, 4:] == 0).all()
    far = crop_window(image, CropWindow(100, 100, 10), 5)
    assert far.shape == (5, 5, 3) and not far.any()


def test_crop_resize_and_box_mapping_are_inverse():
    image = np.zeros((200, 300, 3), np.uint8)
    box = [100.0, 80.0, 40.0, 30.0]
    patch, scale = sample_crop(image, box, 4.0, 256)
    assert patch.shape == (256, 256, 3)
    assert scale == pytest.approx(256 / math.ceil(math.sqrt(40 * 30) * 4))
    in_crop = box_to_crop(box, box, scale, 256)
    center = in_crop[:2] + in_crop[2:] / 2
    assert center == pytest.approx([127.5, 127.5])
    predicted = [128.0, 128.0, 40 * scale, 30 * scale]
    assert box_from_crop(predicted, box, scale, 256) == pytest.approx(box)


def test_clip_box_keeps_a_margin_inside():
    assert clip_box([-50, -50, 40, 40], (100, 100), margin=10) == [0, 0, 10, 10]
    assert clip_box([95, 95, 40, 40], (100, 100), margin=10) == [90, 90, 10, 10]
    assert clip_box([10, 20, 30, 40], (100, 100), margin=10) == [10, 20, 30, 40]


def test_shipped_configs_have_the_paper_geometry():
    plain, mce = load_config("ckd_vitb"), load_config("ckd_vitb_mce")
    for config in (plain, mce):
        assert (config.crop.template_size, config.crop.template_factor) == (128, 2.0)
        assert (config.crop.search_size, config.crop.search_factor) == (256, 4.0)
        assert config.search_grid == 16
    assert plain.model.ce_layers == () and mce.model.ce_layers == (3, 6, 9)
    assert mce.model.ce_keep_ratio == 0.7


def test_config_errors(tmp_path):
    with pytest.raises(InputError, match="unknown config"):
        resolve_config_path("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  embed_dims: 3\n")
    with pytest.raises(InputError, match="embed_dims"):
        load_config(bad)
    bad.write_text("model: [1, 2\n")
    with pytest.raises(InputError, match="invalid YAML"):
        load_config(bad)


def test_state_dict_keys_match_the_published_manifest():
    from golden import golden_path
    import json

    manifest = json.loads(golden_path("manifest_infer.json").read_text())
    model = CKD(load_config("ckd_vitb"))
    expected = {name: tuple(shape) for name, shape in manifest}
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected
    train_manifest = json.loads(golden_path("manifest_train.json").read_text())
    teachers = CKD(load_config("ckd_vitb"), with_teachers=True)
    assert {k: tuple(v.shape) for k, v in teachers.state_dict().items()} == {n: tuple(s) for n, s in train_manifest}


def test_checkpoint_reader_checks_sha256_and_weights_only(tmp_path):
    model = CKD(tiny_config())
    path = tmp_path / "w.pth"
    torch.save({"net": model.state_dict()}, path)
    assert "net" in read_checkpoint(path)
    with pytest.raises(InputError, match="sha256"):
        read_checkpoint(path, sha256="0" * 64)

    class Payload:
        def __reduce__(self):
            return (print, ("executed",))

    torch.save({"net": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(InputError, match="evil.pth: holds a pickled Python object"):
        read_checkpoint(tmp_path / "evil.pth")


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out" / "result.txt"
    atomic_write_text(target, "hello\n")
    assert target.read_text() == "hello\n"
    assert [p.name for p in target.parent.iterdir()] == ["result.txt"]
