"""Bring your own network: the plumbing around a change-detection ONNX model.

Tiny networks are built here with ``onnx.helper`` (no downloads) and their answers computed in
numpy: a pointwise network ``sigmoid(k * sum_c |after - before| - b)`` in every input and output
convention, 3x3 convolutions for the seams, a 1x1 convolution with one weight per band for the
band order, and a "show me the after date's first channel" network for the normalisations.
"""
from __future__ import annotations

import multiprocessing
import pickle
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import dask.array as da
import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the test extra installs onnx")
ort = pytest.importorskip("onnxruntime", reason="the test extra installs onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from detection.onnx_model import (  # noqa: E402
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
    INSTALL_HINT,
    ModelError,
    band_stats,
    blend_window,
    load_change_model,
    predict_array,
    predict_block,
)

BANDS = ("blue", "green", "red", "nir")
K, B0 = 6.0, 1.5
OPSET = 17
IR_VERSION = 8  # old enough for every onnxruntime the 'onnx' extra allows


# -- building tiny networks ------------------------------------------------------------------


def _save(path: Path, nodes, inputs, outputs, inits=(), metadata=None) -> Path:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    if metadata:
        helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _const(name: str, value) -> TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def _inputs(convention: str, c: int, n="N", h="H", w="W", names=("before", "after")):
    """Graph inputs and the nodes giving tensors 'B' (before) and 'A' (after)."""
    if convention == "pair":
        ins = [helper.make_tensor_value_info(nm, TensorProto.FLOAT, [n, c, h, w]) for nm in names]
        return ins, [helper.make_node("Identity", [names[0]], ["B"]),
                     helper.make_node("Identity", [names[1]], ["A"])], []
    ins = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, 2 * c, h, w])]
    return ins, [helper.make_node("Split", ["x", "split"], ["B", "A"], axis=1)], [
        _const("split", np.array([c, c], dtype=np.int64))]


def diff_model(path: Path, convention="pair", c=4, out="prob", n="N", h="H", w="W", metadata=None,
               names=("before", "after")) -> Path:
    """``Z = K * sum_c |A - B| - B0``; the output ``out`` shows it in one of the conventions."""
    ins, nodes, inits = _inputs(convention, c, n, h, w, names)
    nodes += [
        helper.make_node("Sub", ["A", "B"], ["D"]),
        helper.make_node("Abs", ["D"], ["AD"]),
        helper.make_node("ReduceSum", ["AD", "axes1"], ["S"], keepdims=1),
        helper.make_node("Mul", ["S", "k"], ["KS"]),
        helper.make_node("Sub", ["KS", "b0"], ["Z"]),
        helper.make_node("Sigmoid", ["Z"], ["P"]),
    ]
    inits += [_const("axes1", np.array([1], dtype=np.int64)), _const("k", np.float32(K)),
              _const("b0", np.float32(B0))]
    if out == "prob":
        nodes.append(helper.make_node("Identity", ["P"], ["out"]))
        oshape = [n, 1, h, w]
    elif out == "logit":
        nodes.append(helper.make_node("Identity", ["Z"], ["out"]))
        oshape = [n, 1, h, w]
    elif out == "logit2":  # softmax([-Z/2, Z/2]) channel 1 == sigmoid(Z)
        nodes += [helper.make_node("Mul", ["Z", "half"], ["ZH"]), helper.make_node("Neg", ["ZH"], ["NZH"]),
                  helper.make_node("Concat", ["NZH", "ZH"], ["out"], axis=1)]
        inits.append(_const("half", np.float32(0.5)))
        oshape = [n, 2, h, w]
    elif out == "prob2":
        nodes += [helper.make_node("Sub", ["one", "P"], ["Q"]), helper.make_node("Concat", ["Q", "P"], ["out"], axis=1)]
        inits.append(_const("one", np.float32(1.0)))
        oshape = [n, 2, h, w]
    elif out == "hw":
        nodes.append(helper.make_node("Squeeze", ["P", "axes1"], ["out"]))
        oshape = [n, h, w]
    elif out == "three":
        nodes.append(helper.make_node("Concat", ["P", "P", "P"], ["out"], axis=1))
        oshape = [n, 3, h, w]
    elif out == "pool":  # half-size output
        nodes.append(helper.make_node("MaxPool", ["P"], ["out"], kernel_shape=[2, 2], strides=[2, 2]))
        oshape = [n, 1, None, None]
    else:
        raise AssertionError(out)
    outs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, oshape)]
    meta = {"landcheck.normalize": "none"} if metadata is None else metadata
    return _save(path, nodes, ins, outs, inits, meta)


def expected_diff(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    z = K * np.abs(after.astype(np.float64) - before).sum(axis=0) - B0
    return 1.0 / (1.0 + np.exp(-z))


def conv_model(path: Path, c=4, layers=1, seed=0, metadata=None) -> Path:
    """``sigmoid(conv3x3^layers(|A - B|))`` with zero padding: receptive-field radius ``layers``."""
    rng = np.random.default_rng(seed)
    ins, nodes, inits = _inputs("pair", c)
    nodes += [helper.make_node("Sub", ["A", "B"], ["D"]), helper.make_node("Abs", ["D"], ["X0"])]
    cin = c
    for i in range(layers):
        cout = 1 if i == layers - 1 else 3
        inits += [_const(f"w{i}", rng.normal(0, 1, (cout, cin, 3, 3)).astype(np.float32)),
                  _const(f"b{i}", rng.normal(0, 0.2, cout).astype(np.float32))]
        nodes.append(helper.make_node("Conv", [f"X{i}", f"w{i}", f"b{i}"], [f"X{i + 1}"], pads=[1, 1, 1, 1]))
        cin = cout
    nodes.append(helper.make_node("Sigmoid", [f"X{layers}"], ["out"]))
    outs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 1, "H", "W"])]
    return _save(path, nodes, ins, outs, inits, metadata or {"landcheck.normalize": "none"})


def band_weight_model(path: Path, weights, metadata) -> Path:
    """``sigmoid(sum_c weights[c] * (A - B)[c])``: a 1x1 convolution telling the channels apart."""
    c = len(weights)
    ins, nodes, inits = _inputs("pair", c)
    inits.append(_const("w", np.asarray(weights, dtype=np.float32).reshape(1, c, 1, 1)))
    nodes += [helper.make_node("Sub", ["A", "B"], ["D"]), helper.make_node("Conv", ["D", "w"], ["Z"]),
              helper.make_node("Sigmoid", ["Z"], ["out"])]
    outs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 1, "H", "W"])]
    return _save(path, nodes, ins, outs, inits, metadata)


def first_after_channel_model(path: Path, c: int, metadata) -> Path:
    """``sigmoid(A[:, 0])``: shows what the network receives for the after date's first band."""
    ins, nodes, inits = _inputs("pair", c)
    inits += [_const("s0", np.array([0], dtype=np.int64)), _const("s1", np.array([1], dtype=np.int64))]
    nodes += [helper.make_node("Slice", ["A", "s0", "s1", "s1"], ["A0"]), helper.make_node("Sigmoid", ["A0"], ["out"])]
    outs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 1, "H", "W"])]
    return _save(path, nodes, ins, outs, inits, metadata)


def run_whole(path: Path, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The network on the whole image at once, straight through onnxruntime."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, {"before": before[None].astype(np.float32), "after": after[None].astype(np.float32)})
    return out[0, 0]


@pytest.fixture
def pair():
    """Before/after (4, 150, 97): larger than a 64-px tile and no multiple of it."""
    rng = np.random.default_rng(42)
    before = rng.uniform(0, 0.3, (4, 150, 97)).astype(np.float32)
    after = before + rng.normal(0, 0.02, before.shape).astype(np.float32)
    after[:, 40:70, 20:50] += 0.3  # a "building"
    return before, after


# -- the blend window ------------------------------------------------------------------------


@pytest.mark.parametrize("overlap", [0, 1, 4, 8, 13, 32])
def test_blend_windows_of_neighbours_add_up_to_one(overlap):
    size = 64
    w = blend_window(size, overlap)
    stride = size - overlap
    assert w.shape == (size,) and w.min() >= 0 and w.max() == 1
    np.testing.assert_allclose(w[stride:] + w[:overlap], 1.0, atol=1e-12)  # across the overlap
    assert (w[:overlap // 4] == 0).all() and (w[overlap:size - overlap] == 1).all()
    np.testing.assert_array_equal(w, w[::-1])
    with pytest.raises(ValueError):
        blend_window(size, 33)


# -- (1) tiling and blending are exact for a pointwise network -------------------------------


@pytest.mark.parametrize("convention", ["pair", "stacked"])
def test_pointwise_network_tiled_equals_formula(tmp_path, pair, convention):
    before, after = pair
    model = load_change_model(diff_model(tmp_path / "m.onnx", convention), tile=64, overlap=16)
    assert model.convention == convention and model.tile == (64, 64) and model.depth == 16
    prob = model.predict(before, after, bands=BANDS)
    assert prob.dtype == np.float32 and prob.shape == (150, 97)
    np.testing.assert_allclose(prob, expected_diff(before, after), atol=1e-5)


def test_defaults_from_an_unannotated_dynamic_network(tmp_path):
    model = load_change_model(diff_model(tmp_path / "m.onnx", metadata={}))
    assert model.tile == (DEFAULT_TILE, DEFAULT_TILE) and model.overlap == DEFAULT_OVERLAP
    assert model.normalize == "unit" and model.output == "probability" and model.bands is None
    assert model.band_index(BANDS) == (0, 1, 2, 3)


def test_inputs_matched_by_name_not_by_declared_order(tmp_path, pair):
    before, after = pair
    # a network that is NOT symmetric in the dates: sigmoid(A[0]) where A must be the after date
    c = 4
    ins = [helper.make_tensor_value_info(nm, TensorProto.FLOAT, ["N", c, "H", "W"]) for nm in ("img_after", "img_before")]
    nodes = [helper.make_node("Slice", ["img_after", "s0", "s1", "s1"], ["A0"]), helper.make_node("Sigmoid", ["A0"], ["out"])]
    inits = [_const("s0", np.array([0], dtype=np.int64)), _const("s1", np.array([1], dtype=np.int64))]
    outs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 1, "H", "W"])]
    path = _save(tmp_path / "m.onnx", nodes, ins, outs, inits, {"landcheck.normalize": "none"})
    model = load_change_model(path, tile=64, overlap=8)
    assert model.input_names == ("img_before", "img_after")
    np.testing.assert_allclose(model.predict(before, after, bands=BANDS), 1 / (1 + np.exp(-after[0])), atol=1e-6)


def test_fixed_input_shape_fixes_tile_and_batch(tmp_path, pair):
    before, after = pair
    path = diff_model(tmp_path / "m.onnx", n=1, h=32, w=32)
    model = load_change_model(path, overlap=8, batch_size=16)
    assert model.tile == (32, 32) and model.fixed_batch == 1 and model.batch_size == 1
    np.testing.assert_allclose(model.predict(before, after, bands=BANDS), expected_diff(before, after), atol=1e-5)
    with pytest.raises(ModelError, match="fixed at 32x32; it cannot run on 64x64 tiles"):
        load_change_model(path, tile=64)


def test_fixed_batch_larger_than_one_is_filled(tmp_path, pair):
    before, after = pair
    model = load_change_model(diff_model(tmp_path / "m.onnx", n=3, h=48, w=48), overlap=8)
    assert model.batch_size == 3
    np.testing.assert_allclose(model.predict(before, after, bands=BANDS), expected_diff(before, after), atol=1e-5)


def test_image_smaller_than_a_tile(tmp_path, pair):
    before, after = (x[:, :5, :3] for x in pair)
    model = load_change_model(diff_model(tmp_path / "m.onnx"), tile=64, overlap=16)
    np.testing.assert_allclose(model.predict(before, after, bands=BANDS), expected_diff(before, after), atol=1e-5)


# -- (2) a neighbourhood network has no seams -------------------------------------------------


@pytest.mark.parametrize("layers, overlap", [(1, 4), (1, 8), (2, 8), (3, 16)])
def test_conv_network_has_no_seams(tmp_path, pair, layers, overlap):
    before, after = pair
    path = conv_model(tmp_path / "m.onnx", layers=layers)
    whole = run_whole(path, before, after)
    tiled = load_change_model(path, tile=32, overlap=overlap).predict(before, after, bands=BANDS)
    r = layers  # within the receptive field of the image border the network itself zero-pads
    np.testing.assert_allclose(tiled[r:-r, r:-r], whole[r:-r, r:-r], atol=1e-5)
    # the same tiles without overlap show the seams this test is there to catch
    naive = load_change_model(path, tile=32, overlap=0).predict(before, after, bands=BANDS)
    assert np.abs(naive[r:-r, r:-r] - whole[r:-r, r:-r]).max() > 1e-3


def test_image_edges_are_padded_by_reflection(tmp_path, pair):
    before, after = pair
    path = conv_model(tmp_path / "m.onnx", layers=2)
    o = 8
    tiled = load_change_model(path, tile=32, overlap=o).predict(before, after, bands=BANDS)
    pad = ((0, 0), (o, o), (o, o))
    whole = run_whole(path, np.pad(before, pad, mode="reflect"), np.pad(after, pad, mode="reflect"))[o:-o, o:-o]
    np.testing.assert_allclose(tiled, whole, atol=1e-5)  # every pixel, the image border too


# -- (3) output conventions ------------------------------------------------------------------


@pytest.mark.parametrize("out, kind", [("prob", None), ("logit", "logit"), ("logit2", "logit"),
                                       ("prob2", "probability"), ("hw", None)])
@pytest.mark.parametrize("convention", ["pair", "stacked"])
def test_output_conventions(tmp_path, pair, out, kind, convention):
    before, after = pair
    meta = {"landcheck.normalize": "none"} | ({"landcheck.output": kind} if kind else {})
    model = load_change_model(diff_model(tmp_path / "m.onnx", convention, out=out, metadata=meta),
                              tile=64, overlap=16)
    assert model.output == (kind or "probability")
    prob = model.predict(before, after, bands=BANDS)
    np.testing.assert_allclose(prob, expected_diff(before, after), atol=1e-5)
    assert 0 <= prob.min() and prob.max() <= 1


def test_logits_are_never_read_as_probabilities(tmp_path, pair):
    before, after = pair
    path = diff_model(tmp_path / "m.onnx", out="logit")  # no 'landcheck.output'
    with pytest.raises(ModelError, match="not a probability: if the network returns logits, set the metadata "
                                         "'landcheck.output' to 'logit'"):
        load_change_model(path, tile=64, overlap=16).predict(before, after, bands=BANDS)
    # the caller (a config key) may say so instead of the metadata
    model = load_change_model(path, tile=64, overlap=16, output_kind="logit")
    np.testing.assert_allclose(model.predict(before, after, bands=BANDS), expected_diff(before, after), atol=1e-5)


# -- (4) band selection and order ------------------------------------------------------------


def test_metadata_bands_are_selected_and_reordered(tmp_path, pair):
    before, after = pair  # blue, green, red, nir
    weights = (1.0, 10.0, 100.0)  # red, green, blue
    path = band_weight_model(tmp_path / "m.onnx", weights,
                             {"landcheck.bands": "red,green,blue", "landcheck.normalize": "none"})
    model = load_change_model(path, tile=64, overlap=16, available_bands=BANDS)
    assert model.bands == ("red", "green", "blue") and model.band_index(BANDS) == (2, 1, 0)
    d = (after.astype(np.float64) - before)
    z = weights[0] * d[2] + weights[1] * d[1] + weights[2] * d[0]
    np.testing.assert_allclose(model.predict(before, after, bands=BANDS), 1 / (1 + np.exp(-z)), atol=1e-5)
    # band names are matched whatever their case or the data's order
    perm = [3, 0, 2, 1]
    names = tuple(BANDS[i].upper() for i in perm)
    np.testing.assert_allclose(model.predict(before[perm], after[perm], bands=names),
                               1 / (1 + np.exp(-z)), atol=1e-5)


def test_three_channel_network_defaults_to_rgb(tmp_path, pair):
    before, after = pair
    path = band_weight_model(tmp_path / "m.onnx", (1.0, 10.0, 100.0), {"landcheck.normalize": "none"})
    model = load_change_model(path, tile=64, overlap=16)
    assert model.bands == ("red", "green", "blue")
    d = after.astype(np.float64) - before
    z = d[2] + 10 * d[1] + 100 * d[0]
    np.testing.assert_allclose(model.predict(before, after, bands=BANDS), 1 / (1 + np.exp(-z)), atol=1e-5)


# -- normalisations --------------------------------------------------------------------------


@pytest.mark.parametrize("normalize, extra, scale, expected", [
    ("none", {}, None, lambda a, s: a[2]),
    ("unit", {}, 255.0, lambda a, s: a[2] / 255.0),
    ("imagenet", {}, 255.0, lambda a, s: (a[2] / 255.0 - 0.485) / 0.229),
    ("meanstd", {"landcheck.mean": "0.5,0.4,0.3", "landcheck.std": "0.25,0.2,0.1"}, 255.0,
     lambda a, s: (a[2] / 255.0 - 0.5) / 0.25),
    ("zscore", {}, None, lambda a, s: (a[2] - s.after_mean[2]) / s.after_std[2]),
])
def test_normalisations(tmp_path, normalize, extra, scale, expected):
    rng = np.random.default_rng(3)
    before = rng.uniform(0, 255, (4, 40, 30)).astype(np.float32)
    after = rng.uniform(0, 255, (4, 40, 30)).astype(np.float32)
    meta = {"landcheck.bands": "red,green,blue", "landcheck.normalize": normalize} | extra
    model = load_change_model(first_after_channel_model(tmp_path / "m.onnx", 3, meta), tile=32, overlap=8)
    stats = band_stats(before, after)
    x = expected(after.astype(np.float64), stats)
    np.testing.assert_allclose(model.predict(before, after, bands=BANDS, scale=scale, stats=stats),
                               1 / (1 + np.exp(-x)), atol=1e-5)
    if scale is not None:
        with pytest.raises(ValueError, match="pass scale="):
            model.predict(before, after, bands=BANDS)


# -- (5) nodata ------------------------------------------------------------------------------


def test_nodata_pixels_are_nan_and_filled_with_the_band_mean(tmp_path, pair):
    before, after = (x.copy() for x in pair)
    after[2, 10:14, 20:25] = np.nan
    before[0, 100, 50] = np.nan
    after[3, 60:62, 60:62] = np.nan  # nir: unused by an RGB network
    invalid = ~(np.isfinite(before).all(0) & np.isfinite(after).all(0))

    point = load_change_model(diff_model(tmp_path / "p.onnx"), tile=64, overlap=16)
    prob = point.predict(before, after, bands=BANDS)
    assert np.isnan(prob[invalid]).all() and np.isfinite(prob[~invalid]).all()
    np.testing.assert_allclose(prob[~invalid], expected_diff(before, after)[~invalid], atol=1e-5)

    # a neighbourhood network sees the date's band mean in the gaps
    conv = load_change_model(conv_model(tmp_path / "c.onnx"), tile=64, overlap=16)
    filled_b, filled_a = before.copy(), after.copy()
    for x in (filled_b, filled_a):
        for band in x:
            band[np.isnan(band)] = np.nanmean(band)
    got = conv.predict(before, after, bands=BANDS)
    want = conv.predict(filled_b, filled_a, bands=BANDS)
    np.testing.assert_allclose(got[~invalid], want[~invalid], atol=1e-6)

    rgb = load_change_model(band_weight_model(tmp_path / "r.onnx", (1, 1, 1),
                                              {"landcheck.bands": "red,green,blue", "landcheck.normalize": "none"}),
                            tile=64, overlap=16)
    assert np.isfinite(rgb.predict(before, after, bands=BANDS)[60:62, 60:62]).all()

    empty = np.full_like(before, np.nan)
    assert np.isnan(point.predict(empty, after, bands=BANDS)).all()


# -- (6) errors: one line, "<path>: <problem>" -----------------------------------------------


def _check_error(exc_info, path, fragment):
    text = str(exc_info.value)
    assert text.startswith(f"{path}: "), text
    assert fragment in text, text
    assert "\n" not in text
    assert exc_info.value.path == str(path)
    assert isinstance(exc_info.value, ValueError)


def _three_inputs(p):
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 4, "H", "W"]) for n in "abc"]
    nodes = [helper.make_node("Sum", ["a", "b", "c"], ["out"])]
    return _save(p, nodes, ins, [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 4, "H", "W"])])


def _rank3_input(p):
    ins = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, "H", "W"])]
    return _save(p, [helper.make_node("Identity", ["x"], ["out"])], ins,
                 [helper.make_tensor_value_info("out", TensorProto.FLOAT, [8, "H", "W"])])


def _int_input(p):
    ins = [helper.make_tensor_value_info("x", TensorProto.INT64, ["N", 8, "H", "W"])]
    nodes = [helper.make_node("Cast", ["x"], ["out"], to=TensorProto.FLOAT)]
    return _save(p, nodes, ins, [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 8, "H", "W"])])


def _odd_stacked(p):
    ins = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 7, "H", "W"])]
    nodes = [helper.make_node("Sigmoid", ["x"], ["y"]), helper.make_node("ReduceMean", ["y"], ["out"], keepdims=1, axes=[1])]
    return _save(p, nodes, ins, [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 1, "H", "W"])])


@pytest.mark.parametrize("make, fragment", [
    (lambda p: p, "model file not found"),
    (lambda p: (p.mkdir(), p)[1], "is a folder, not an ONNX model file"),
    (lambda p: (p.write_text("name,value\nfoo,1\n"), p)[1], "is not an ONNX model"),
    (lambda p: (p.write_bytes(b""), p)[1], "is not an ONNX model"),
    (_three_inputs, "has 3 inputs; a change model takes two dates"),
    (_rank3_input, "input 'x' has shape (8, ?, ?); expected (N, C, H, W)"),
    (_int_input, "input 'x' is tensor(int64); only float32 inputs are supported"),
    (_odd_stacked, "input 'x' has 7 channels (?, 7, ?, ?); one input must stack both dates"),
    (lambda p: diff_model(p, out="three"), "output 'out' has shape (?, 3, ?, ?); expected (N, 1, H, W)"),
    (lambda p: diff_model(p, c=4, h=32, w=32, out="pool"), "only same-size change maps are supported"),
    (lambda p: diff_model(p, metadata={"landcheck.normalise": "unit"}),
     "unknown metadata key 'landcheck.normalise' (allowed: landcheck.bands, landcheck.normalize"),
    (lambda p: diff_model(p, metadata={"landcheck.normalize": "minmax"}),
     "metadata 'landcheck.normalize' is 'minmax' (allowed: unit, imagenet, meanstd, zscore, none)"),
    (lambda p: diff_model(p, metadata={"landcheck.output": "odds"}), "metadata 'landcheck.output' is 'odds'"),
    (lambda p: diff_model(p, metadata={"landcheck.tile": "big"}), "metadata 'landcheck.tile' must be an integer"),
    (lambda p: diff_model(p, metadata={"landcheck.overlap": "200"}), "overlap 200 must be between 0 and half"),
    (lambda p: diff_model(p, metadata={"landcheck.bands": "red,green,blue"}),
     "metadata 'landcheck.bands' lists 3 bands (red,green,blue) but the network takes 4 channels per date"),
    (lambda p: diff_model(p, metadata={"landcheck.bands": "red,red,green,blue"}), "names a band twice"),
    (lambda p: diff_model(p, c=2, metadata={"landcheck.bands": "red,nir", "landcheck.normalize": "imagenet"}),
     "'imagenet' normalisation is defined for red, green and blue bands only"),
    (lambda p: diff_model(p, c=2, metadata={"landcheck.bands": "red,nir", "landcheck.normalize": "meanstd"}),
     "'meanstd' but 'landcheck.bands', 'landcheck.mean' and 'landcheck.std' are not all given"),
    (lambda p: diff_model(p, h=32, w=32, metadata={"landcheck.tile": "64"}),
     "metadata 'landcheck.tile' is 64 but the network's input is fixed at 32x32"),
])
def test_load_errors(tmp_path, make, fragment):
    path = tmp_path / "model.onnx"
    make(path)
    with pytest.raises(ModelError) as info:
        load_change_model(path)
    _check_error(info, path, fragment)


def test_output_size_checked_at_run_time_when_the_graph_does_not_say(tmp_path, pair):
    path = diff_model(tmp_path / "m.onnx", out="pool")
    model = load_change_model(path, tile=32, overlap=8)
    with pytest.raises(ModelError) as info:
        model.predict(*pair, bands=BANDS)
    _check_error(info, path, "output 'out' has shape (4, 1, 16, 16) for an input batch of (4, 8, 32, 32)")


def test_band_errors(tmp_path, pair):
    before, after = pair
    path = diff_model(tmp_path / "m.onnx", c=4, metadata={"landcheck.bands": "red,green,blue,swir",
                                                         "landcheck.normalize": "none"})
    with pytest.raises(ModelError) as info:
        load_change_model(path, available_bands=BANDS)
    _check_error(info, path, "the network needs bands red, green, blue, swir; the imagery has blue, green, red, "
                             "nir (missing: swir)")
    with pytest.raises(ModelError) as info:  # the same at prediction, for a caller that did not say
        load_change_model(path).predict(before, after, bands=BANDS)
    _check_error(info, path, "missing: swir")

    path5 = diff_model(tmp_path / "m5.onnx", c=5)
    with pytest.raises(ModelError) as info:
        load_change_model(path5, available_bands=BANDS)
    _check_error(info, path5, "the network takes 5 channels per date and declares no 'landcheck.bands'; the "
                              "imagery has 4 bands (blue, green, red, nir): add 'landcheck.bands'")


def test_onnxruntime_missing(tmp_path, monkeypatch):
    path = diff_model(tmp_path / "m.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    with pytest.raises(ModelError) as info:
        load_change_model(path)
    _check_error(info, path, f"onnxruntime is not installed; {INSTALL_HINT}")
    assert INSTALL_HINT == "pip install 'landcheck[onnx]'"


def test_model_error_pickles():
    err = pickle.loads(pickle.dumps(ModelError("/x/m.onnx", "model file not found")))
    assert isinstance(err, ModelError) and str(err) == "/x/m.onnx: model file not found"


def test_pixel_size_warning(tmp_path):
    model = load_change_model(diff_model(tmp_path / "m.onnx", metadata={"landcheck.pixel_size_m": "0.5"}))
    assert model.pixel_size_m == 0.5
    assert model.pixel_size_warning(0.55) is None
    assert "trained on 0.5 m pixels, the imagery has 2 m" in model.pixel_size_warning(2.0)


# -- (7) chunk by chunk with dask, (8) tasks pickle ------------------------------------------


@pytest.mark.parametrize("chunk", [(40, 35), (64, 97), (150, 30), (10, 50), (6, 45)])
def test_dask_map_overlap_equals_eager(tmp_path, pair, chunk):
    before, after = (x.copy() for x in pair)
    after[1, 30:33, 40:44] = np.nan
    path = conv_model(tmp_path / "m.onnx", layers=2)
    stats = band_stats(before, after)  # whole-image statistics, as the pipeline's sample gives
    eager = load_change_model(path, tile=32, overlap=8).predict(before, after, bands=BANDS, stats=stats)
    chunks = (4,) + chunk
    lazy = predict_array(da.from_array(before, chunks=chunks), da.from_array(after, chunks=chunks),
                         model_path=path, bands=BANDS, tile=32, overlap=8, stats=stats)
    assert lazy.chunks == da.from_array(before, chunks=chunks).chunks[1:]
    got = lazy.compute(scheduler="threads")
    np.testing.assert_array_equal(np.isnan(got), np.isnan(eager))
    np.testing.assert_allclose(got, eager, atol=1e-6)


def test_hand_written_map_overlap_equals_eager(tmp_path, pair):
    before, after = pair
    path = diff_model(tmp_path / "m.onnx")
    model = load_change_model(path, tile=32, overlap=8)
    b, a = (da.from_array(x, chunks=(4, 50, 40)) for x in (before, after))
    lazy = da.map_overlap(predict_block, b, a, depth={0: 0, 1: model.depth, 2: model.depth}, boundary="none",
                          drop_axis=0, dtype=np.float32, meta=np.empty((0, 0), np.float32),
                          model_path=str(path), bands=BANDS, tile=32, overlap=8)
    np.testing.assert_allclose(lazy.compute(scheduler="sync"), model.predict(before, after, bands=BANDS), atol=1e-6)


def _run_pickled(payload: bytes) -> np.ndarray:
    kwargs = pickle.loads(payload)
    return predict_block(**kwargs)


def test_task_arguments_pickle_and_run_in_another_process(tmp_path, pair):
    before, after = pair
    path = conv_model(tmp_path / "m.onnx")
    stats = band_stats(before, after)
    kwargs = dict(before=before[:, :60, :50], after=after[:, :60, :50], model_path=str(path), bands=BANDS,
                  tile=32, overlap=8, scale=None, stats=stats, batch_size=2, threads=1, output_kind=None)
    payload = pickle.dumps(kwargs)
    assert pickle.loads(payload)["stats"] == stats
    # the whole dask graph pickles too: it holds the path, never an onnxruntime session
    lazy = predict_array(da.from_array(before, chunks=(4, 50, 50)), da.from_array(after, chunks=(4, 50, 50)),
                         model_path=path, bands=BANDS, tile=32, overlap=8, stats=stats)
    graph = pickle.dumps(dict(lazy.__dask_graph__()))
    assert b"InferenceSession" not in graph
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        remote = pool.submit(_run_pickled, payload).result(timeout=60)
    np.testing.assert_allclose(remote, predict_block(**kwargs), atol=1e-7)


def test_model_file_replaced_is_reloaded(tmp_path, pair):
    before, after = (x[:, :40, :40] for x in pair)
    path = tmp_path / "m.onnx"
    diff_model(path)
    first = predict_block(before, after, model_path=path, bands=BANDS, tile=32, overlap=8)
    conv_model(path)  # another network under the same name: new size/mtime
    second = predict_block(before, after, model_path=path, bands=BANDS, tile=32, overlap=8)
    assert not np.allclose(first, second)
    np.testing.assert_allclose(first, expected_diff(before, after), atol=1e-5)
