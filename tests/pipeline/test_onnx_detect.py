"""Bring your own network, wired in: ``detection.model: x.onnx`` / ``landcheck detect --model``.

Tiny networks are built here with ``onnx.helper``: a pointwise one
``sigmoid(K * sum_c |after - before| - B0)`` on the ``unit`` scale (DN / 255), and a 3x3
convolution of it (receptive radius 1) for the chunked-equals-eager check.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rasterio
import yaml

onnx = pytest.importorskip("onnx", reason="the test extra installs onnx")
pytest.importorskip("onnxruntime", reason="the test extra installs onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from detection.chunked import registered_score_array  # noqa: E402
from detection.compose import Settings, detect_arrays, scene_statistics, score_block, score_depth  # noqa: E402
from detection.onnx_model import band_stats, load_change_model, predict_array  # noqa: E402
from detection.registry import get_method  # noqa: E402
from pipeline.config import DetectionConfig, load_detect_config  # noqa: E402
from pipeline.errors import ConfigError, InputFileError  # noqa: E402
from tests.pipeline.cli_helpers import invoke, one_line_error

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

K, B0 = 6.0, 1.5
SQUARE = (slice(12, 30), slice(20, 44))


def _const(name: str, value) -> TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def tiny_network(path: Path, *, c: int = 3, conv: bool = False, metadata: dict | None = None) -> Path:
    """Two inputs ``before`` / ``after`` (N, c, H, W) -> (N, 1, H, W) change probability."""
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", c, "H", "W"]) for n in ("before", "after")]
    nodes = [helper.make_node("Sub", ["after", "before"], ["D"]),
             helper.make_node("Abs", ["D"], ["AD"]),
             helper.make_node("ReduceSum", ["AD", "axes1"], ["S"], keepdims=1)]
    inits = [_const("axes1", np.array([1], dtype=np.int64)), _const("k", np.float32(K)),
             _const("b0", np.float32(B0))]
    if conv:  # a 3x3 mean: receptive radius 1
        nodes.append(helper.make_node("Conv", ["S", "w"], ["S2"], pads=[1, 1, 1, 1]))
        inits.append(_const("w", np.full((1, 1, 3, 3), 1 / 9, dtype=np.float32)))
        src = "S2"
    else:
        src = "S"
    nodes += [helper.make_node("Mul", [src, "k"], ["KS"]), helper.make_node("Sub", ["KS", "b0"], ["Z"]),
              helper.make_node("Sigmoid", ["Z"], ["out"])]
    outs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 1, "H", "W"])]
    graph = helper.make_graph(nodes, "g", ins, outs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {"landcheck.tile": "32", "landcheck.overlap": "8"}
    meta.update(metadata or {})
    helper.set_model_props(model, meta)
    onnx.save(model, str(path))
    return path


def pair_arrays(h: int = 48, w: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(3, h, w) uint8-valued RGB before / after; the after date has a bright roof on SQUARE."""
    rng = np.random.default_rng(seed)
    before = rng.integers(90, 110, (3, h, w)).astype(np.float32)
    after = before + rng.integers(-3, 4, (3, h, w)).astype(np.float32)
    after[:, SQUARE[0], SQUARE[1]] = 220.0
    return before, after


def write_png(path: Path, rgb: np.ndarray) -> Path:
    with rasterio.open(path, "w", driver="PNG", height=rgb.shape[1], width=rgb.shape[2], count=3,
                       dtype="uint8") as dst:
        dst.write(rgb.astype(np.uint8))
    return path


def expected_mask(h: int = 48, w: int = 64) -> np.ndarray:
    m = np.zeros((h, w), dtype=np.uint8)
    m[SQUARE] = 1
    return m


# ------------------------------------------------------------------------- registry / config
def test_registry_declares_onnx():
    m = get_method("onnx")
    assert m.value_range == (0.0, 1.0) and not m.needs_nir


def test_config_picks_onnx_from_the_suffix_and_checks_the_model(tmp_path):
    net = tiny_network(tmp_path / "net.onnx")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"detection": {"model": "net.onnx"}}))
    d = load_detect_config(cfg, imagery_required=False).detection
    assert d.method == "onnx" and d.model == net
    cfg.write_text(yaml.safe_dump({"detection": {"model": "net.onnx", "method": "learned"}}))
    with pytest.raises(ConfigError, match="run by method 'onnx'"):
        load_detect_config(cfg, imagery_required=False)
    cfg.write_text(yaml.safe_dump({"detection": {"method": "onnx"}}))
    with pytest.raises(ConfigError, match="method 'onnx' runs your own network"):
        load_detect_config(cfg, imagery_required=False)
    (tmp_path / "bad.onnx").write_bytes(b"not a network at all")
    cfg.write_text(yaml.safe_dump({"detection": {"model": "bad.onnx"}}))
    with pytest.raises(InputFileError, match="bad.onnx: is not an ONNX model"):
        load_detect_config(cfg, imagery_required=False)


# ------------------------------------------------------------------------- chunked == eager
def test_chunked_score_equals_eager_predict(tmp_path):
    net = tiny_network(tmp_path / "conv.onnx", conv=True)
    before, after = pair_arrays(96, 112, seed=3)
    before[1, 5:9, 7:12] = np.nan  # nodata: filled with the scene's band mean, scored 0
    settings = Settings(method="onnx", model=str(net))
    valid = np.isfinite(before).all(0) & np.isfinite(after).all(0)
    stats = scene_statistics(settings, before[:, valid], after[:, valid], dtype="uint8", has_nir=False)
    depth = score_depth(settings, 0.5)
    assert depth == 8  # the model's landcheck.overlap
    eager = score_block(before, after, valid, settings=settings, stats=stats, pixel_size_m=0.5)
    reference = load_change_model(net).predict(before, after, bands=("blue", "green", "red"), scale=255.0,
                                                stats=band_stats(before[:, valid], after[:, valid]))
    np.testing.assert_allclose(eager[valid], reference[valid], rtol=0, atol=1e-6)
    assert (eager[~valid] == 0).all()
    for chunks in ((40, 40), (32, 50), (96, 112)):
        b = da.from_array(before, chunks=(3,) + chunks)
        a = da.from_array(after, chunks=(3,) + chunks)
        v = da.from_array(valid, chunks=chunks)
        chunked = registered_score_array(b, a, v, settings=settings, stats=stats, pixel_size_m=0.5,
                                         depth=depth).compute()
        np.testing.assert_allclose(chunked, eager, rtol=0, atol=1e-6)
        lazy = predict_array(b, a, model_path=net, bands=("blue", "green", "red"), scale=255.0,
                             stats=band_stats(before[:, valid], after[:, valid])).compute()
        np.testing.assert_allclose(np.where(valid, lazy, 0), eager, rtol=0, atol=1e-6)


def test_detect_arrays_threshold_is_half_or_the_models_own(tmp_path):
    before, after = pair_arrays()
    nan = np.full((1,) + before.shape[1:], np.nan, dtype=np.float32)
    b4, a4 = np.concatenate([before, nan]), np.concatenate([after, nan])
    res = detect_arrays(b4, a4, pixel_size_m=1.0, dtype="uint8",
                        settings=Settings(method="onnx", model=str(tiny_network(tmp_path / "n.onnx")),
                                          min_area_m2=4))
    assert res.threshold == 0.5 and "0.5" in res.stats["threshold_method"]
    np.testing.assert_array_equal(res.patches_mask, expected_mask().astype(bool))
    net = tiny_network(tmp_path / "t.onnx", metadata={"landcheck.threshold": "0.99999"})
    res = detect_arrays(b4, a4, pixel_size_m=1.0, dtype="uint8",
                        settings=Settings(method="onnx", model=str(net), min_area_m2=4))
    assert res.threshold == pytest.approx(0.99999) and not res.patches_mask.any()


# ------------------------------------------------------------------------- the command
def test_detect_with_a_tiny_network_end_to_end(tmp_path):
    before, after = pair_arrays()
    a = write_png(tmp_path / "a.png", before)
    b = write_png(tmp_path / "b.png", after)
    net = tiny_network(tmp_path / "tiny.onnx", metadata={"author": "test"})
    out = tmp_path / "out"
    res = invoke("detect", "--before", a, "--after", b, "--model", net, "--out", out, "--quiet")
    assert res.exit_code == 0, res.output
    assert "threshold 0.5" in res.output
    with rasterio.open(out / "change_mask.tif") as src:
        np.testing.assert_array_equal(src.read(1), expected_mask())
    record = json.loads((out / "detection.json").read_text())
    model = record["detector"]["model"]
    assert model["kind"] == "onnx" and model["path"] == str(net)
    assert model["metadata"] == {"author": "test", "landcheck.overlap": "8", "landcheck.tile": "32"}
    import hashlib

    assert model["sha256"] == hashlib.sha256(net.read_bytes()).hexdigest()
    assert record["stats"]["method"] == "onnx" and record["stats"]["score_depth_px"] == 8
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"role": "detection.model", "path": str(net), "bytes": net.stat().st_size,
            "sha256": model["sha256"]} in manifest["inputs"]


def test_detect_config_model_and_small_chunks_match(tmp_path):
    before, after = pair_arrays(150, 170, seed=5)
    a = write_png(tmp_path / "a.png", before)
    b = write_png(tmp_path / "b.png", after)
    tiny_network(tmp_path / "conv.onnx", conv=True)
    masks = []
    for chunk in (64, 1024):
        cfg = tmp_path / f"c{chunk}.yaml"
        cfg.write_text(yaml.safe_dump({"detection": {"model": "conv.onnx", "chunk_px": chunk}}))
        out = tmp_path / f"out{chunk}"
        res = invoke("detect", "--before", a, "--after", b, "--config", cfg, "--out", out, "--quiet")
        assert res.exit_code == 0, res.output
        with rasterio.open(out / "change_mask.tif") as src:
            masks.append(src.read(1))
    np.testing.assert_array_equal(masks[0], masks[1])
    assert masks[0][SQUARE].mean() > 0.9 and masks[0].sum() < 1.2 * masks[0][SQUARE].size


def test_bad_networks_are_one_line_errors_before_any_pixel(tmp_path, monkeypatch):
    before, after = pair_arrays()
    a = write_png(tmp_path / "a.png", before)
    b = write_png(tmp_path / "b.png", after)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    one_line_error(invoke("detect", "--before", a, "--after", b, "--model", bad, "--out", tmp_path / "o1"),
                   3, str(bad), "not an ONNX model")
    four = tiny_network(tmp_path / "four.onnx", c=4)
    import pipeline.detect as stage

    def no_pixels(*args, **kwargs):
        raise AssertionError("pixels were read")

    monkeypatch.setattr(stage, "_detect_on_imagery", no_pixels)
    one_line_error(invoke("detect", "--before", a, "--after", b, "--model", four, "--out", tmp_path / "o2"),
                   3, str(four), "4 channels")
    one_line_error(invoke("detect", "--before", a, "--after", b, "--model", tmp_path / "none.onnx",
                          "--out", tmp_path / "o3"), 2, "none.onnx", "not found")
    one_line_error(invoke("detect", "--before", a, "--after", b, "--model", tmp_path / "m.pt",
                          "--out", tmp_path / "o4"), 2, "--model", ".onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    one_line_error(invoke("detect", "--before", a, "--after", b, "--model", four, "--out", tmp_path / "o5"),
                   3, str(four), "onnxruntime is not installed")
    for name in ("o1", "o2", "o3", "o4", "o5"):
        assert not (tmp_path / name).exists()


def test_logits_read_as_probabilities_are_a_one_line_error(tmp_path):
    """A network whose output is not a probability fails inside the compute: still one line, exit 3."""
    before, after = pair_arrays()
    a = write_png(tmp_path / "a.png", before)
    b = write_png(tmp_path / "b.png", after)
    path = tmp_path / "logit.onnx"
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3, "H", "W"]) for n in ("before", "after")]
    nodes = [helper.make_node("Sub", ["after", "before"], ["D"]),
             helper.make_node("ReduceSum", ["D", "axes1"], ["S"], keepdims=1),
             helper.make_node("Mul", ["S", "k"], ["out"])]
    inits = [_const("axes1", np.array([1], dtype=np.int64)), _const("k", np.float32(10.0))]
    graph = helper.make_graph(nodes, "g", ins, [helper.make_tensor_value_info("out", TensorProto.FLOAT,
                                                                             ["N", 1, "H", "W"])],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    one_line_error(invoke("detect", "--before", a, "--after", b, "--model", path, "--out", tmp_path / "o",
                          "--quiet"), 3, str(path), "not a probability")
    assert not (tmp_path / "o").exists()


def test_detection_config_default_is_unchanged():
    assert DetectionConfig().method == "learned" and DetectionConfig().model is None


def test_model_files_are_run_inputs(tmp_path):
    from pipeline.manifest import model_files

    net = tiny_network(tmp_path / "n.onnx")
    assert model_files(DetectionConfig(method="onnx", model=net)) == [("detection.model", net)]
    txt = tmp_path / "m.txt"
    txt.write_text("tree\n")
    txt.with_suffix(".json").write_text("{}")
    assert model_files(DetectionConfig(method="learned", model=txt)) == [
        ("detection.model", txt), ("detection.model_card", txt.with_suffix(".json"))]
    assert model_files(DetectionConfig()) == []
