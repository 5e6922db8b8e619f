"""SavedModel and TFLite export: signatures, parity with Keras, quantization, atomicity."""

import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

import tfrestore
from tfrestore import export
from tfrestore.inference import load_restorer, tflite_metadata

# Two sizes: non-square and not multiples of 8 (DeblurGAN pads to 8 in-graph), then even.
SIZES = [(1, 45, 38), (2, 32, 48)]


def images(batch, height, width, seed=0):
    return export.probe_inputs({"image": 3}, (height, width), batch, seed=seed)["image"]


@pytest.fixture(scope="module")
def model(deblur_gan_forms):
    return deblur_gan_forms[0]


@pytest.fixture(scope="module")
def saved_model(deblur_gan_forms):
    _, folder, reports = deblur_gan_forms
    return folder / "saved_model", reports["saved_model"]


@pytest.fixture(scope="module")
def tflite_float32(deblur_gan_forms):
    _, folder, reports = deblur_gan_forms
    return folder / "model.tflite", reports["model.tflite"]


def test_saved_model_signature_has_named_dynamic_inputs(model, saved_model):
    path, report = saved_model
    loaded = tf.saved_model.load(str(path))
    # The generator's weights only: no discriminator, no perceptual network.
    assert len(loaded.serving_variables) == len(model.generator.trainable_variables)
    signature = loaded.signatures["serving_default"]
    _, specs = signature.structured_input_signature
    assert list(specs) == list(model.serving_inputs) == ["image"]
    assert specs["image"].shape.as_list() == [None, None, None, 3]
    assert specs["image"].dtype == tf.float32
    assert list(signature.structured_outputs) == ["restored"]
    assert report.format == "saved_model" and report.quantize is None
    assert report.max_abs_error <= 1e-4 and report.size_bytes > 0
    assert "\n" not in str(report) and str(path) in str(report)


@pytest.mark.slow
def test_saved_model_runs_without_tfrestore_in_a_fresh_process(model, saved_model, tmp_path):
    path, _ = saved_model
    batches = {f"{b}x{h}x{w}": images(b, h, w, seed=b) for b, h, w in SIZES}
    for name, batch in batches.items():
        np.save(tmp_path / f"{name}.npy", batch)
    script = textwrap.dedent(
        f"""
        import json, sys
        import numpy as np
        import tensorflow as tf
        saved = tf.saved_model.load({str(path)!r})
        serve = saved.signatures["serving_default"]
        for name in {list(batches)!r}:
            x = np.load({str(tmp_path)!r} + "/" + name + ".npy")
            np.save({str(tmp_path)!r} + "/" + name + ".out.npy", serve(image=x)["restored"].numpy())
        loaded = any(module.startswith("tfrestore") for module in sys.modules)
        limits = json.loads(tf.io.read_file(saved.tfrestore_input_limits.asset_path).numpy())
        print(json.dumps({{"tfrestore_loaded": loaded, "limits": limits}}))
        """
    )
    # Run outside the repository so `tfrestore` could not even be imported by accident.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    limits = {"model": "DeblurGAN", "multiple": [8, 8]}
    assert printed == {"tfrestore_loaded": False, "limits": limits}
    for name, batch in batches.items():
        restored = np.load(tmp_path / f"{name}.out.npy")
        expected = model.predict(batch, verbose=0)
        assert restored.shape == batch.shape
        np.testing.assert_allclose(restored, expected, atol=1e-4)


def test_tflite_float32_matches_keras_at_two_sizes(model, tflite_float32):
    path, report = tflite_float32
    assert report.format == "tflite" and report.max_abs_error < 1e-4
    interpreter = Interpreter(model_path=str(path), num_threads=2)
    runner = interpreter.get_signature_runner("serving_default")
    details = runner.get_input_details()
    assert list(details) == ["image"]
    assert list(details["image"]["shape_signature"]) == [-1, -1, -1, 3]
    for batch, height, width in SIZES:
        x = images(batch, height, width, seed=height)
        restored = runner(image=x)["restored"]
        np.testing.assert_allclose(restored, model.predict(x, verbose=0), atol=1e-4)


def test_tflite_has_builtin_ops_only(tflite_float32):
    ops = export.tflite_ops(tflite_float32[0])
    assert "CONV_2D" in ops and "MIRROR_PAD" in ops
    assert not [op for op in ops if op.startswith("CUSTOM")], ops


def test_tflite_float32_runs_in_few_delegate_partitions(tflite_float32):
    # Measured on this tiny DeblurGAN: 3 partitions (input scaling, the network, output
    # scaling) and 20 scalar ops of the dynamic pad-to-a-multiple logic outside (its MIRROR_PAD
    # and RESHAPE of the 3-channel input among them); before the layers were lowered, 21
    # MIRROR_PADs and 2 TRANSPOSE_CONVs ran outside, splitting the graph into many partitions.
    path, report = tflite_float32
    split = report.delegation
    assert split.partitions <= 3 and split.ops_outside <= 20, split
    assert split.ops_outside == sum(split.outside.values()) < split.ops
    assert split.outside.get("MIRROR_PAD", 0) <= 1 and "TRANSPOSE_CONV" not in split.outside
    heavy = {"CONV_2D", "MEAN", "CONCATENATION", "DEPTH_TO_SPACE", "RSQRT"}
    assert not heavy & set(split.outside), split
    assert f"{split.ops_outside} of {split.ops} ops outside the XNNPACK delegate" in str(report)
    # The same count at another size, as `delegation` documents.
    assert export.delegation(path, {"image": images(1, 32, 40)}) == split


@pytest.mark.parametrize(("quantize", "atol"), [(None, 1e-4), ("float16", 1e-2)])
def test_fixed_size_tflite_has_static_shapes_and_matches_keras(model, tmp_path, quantize, atol):
    path = tmp_path / "fixed.tflite"
    report = export.export_tflite(model, path, quantize=quantize, input_size=(40, 28))
    assert report.input_size == (40, 28) and report.max_abs_error < atol
    # Static shapes fold the pad-to-a-multiple logic away: one partition, nothing outside
    # (measured on this tiny DeblurGAN).
    assert report.delegation.partitions == 1 and report.delegation.outside == {}
    interpreter = Interpreter(model_path=str(path))
    (details,) = interpreter.get_input_details()
    assert list(details["shape"]) == list(details["shape_signature"]) == [1, 40, 28, 3]
    interpreter.allocate_tensors()
    x = images(1, 40, 28, seed=5)
    interpreter.set_tensor(details["index"], x)
    interpreter.invoke()
    restored = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    assert np.abs(restored - model.predict(x, verbose=0)).max() < atol
    description = export.read_model_description(path)
    assert description["input_size"] == [40, 28] and description["quantize"] == quantize
    with pytest.raises(ValueError, match=r"fixed input size: 'image' must be \[1, 40, 28, 3\]"):
        load_restorer(path)(image=images(1, 40, 32), tile=0)
    assert description["inputs"][0]["shape"] == description["outputs"][0]["shape"] == [1, 40, 28, 3]


def test_tflite_describes_itself_for_app_developers(tflite_float32):
    path = tflite_float32[0]
    description = export.read_model_description(path)

    def rgb(name):
        entry = {"name": name, "shape": [-1, -1, -1, 3], "dtype": "float32", "layout": "NHWC"}
        return {**entry, "range": [0.0, 1.0], "channels": "RGB"}

    assert description == {
        "version": 1,
        "model": "DeblurGAN",
        "method": "deblur_gan",
        "signature": "serving_default",
        "inputs": [rgb("image")],
        "outputs": [rgb("restored")],
        "input_size": None,
        "quantize": None,
        "limits": {"model": "DeblurGAN", "multiple": [8, 8]},
    }
    # the signature names it gives are the ones LiteRT exposes
    runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
    assert list(runner.get_input_details()) == ["image"]
    assert list(runner.get_output_details()) == ["restored"]
    snippet = export.integration_snippet(path).splitlines()
    assert snippet[1:3] == [
        '  input  "image": [?, ?, ?, 3] RGB in [0, 1]',
        '  output "restored": [?, ?, ?, 3] RGB in [0, 1]',
    ]
    assert "height and width are dynamic" in snippet[3]


def test_bad_input_size_names_it_and_writes_nothing(tmp_path):
    model = tfrestore.models.ContextEncoder(filters=4)
    with pytest.raises(ValueError, match="input_size 60x64: ContextEncoder takes images of at le"):
        export.export_tflite(model, tmp_path / "m.tflite", input_size=(60, 64))
    for bad in ((0, 64), (64,), "64x64", (64.0, 64)):
        with pytest.raises(ValueError, match="input_size must be"):
            export.export_tflite(model, tmp_path / "m.tflite", input_size=bad)
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_inpainting_description_gives_the_mask_convention_and_limits(tmp_path):
    model = tfrestore.models.ContextEncoder(filters=4)
    path = tmp_path / "context_encoder.tflite"
    export.export_tflite(model, path, input_size=(128, 128))
    description = export.read_model_description(path)
    assert description["method"] == "context_encoder"
    assert description["limits"]["max_hole"] == [64, 64]
    (mask,) = [entry for entry in description["inputs"] if entry["name"] == "mask"]
    assert mask["shape"] == [1, 128, 128, 1] and mask["channels"] == "mask"
    assert mask["mask"] == "1 = missing pixel to fill, 0 = known"
    snippet = export.integration_snippet(path).splitlines()
    assert "  max hole: 64x64" in snippet
    assert (
        '  input  "mask": [1, 128, 128, 1] mask in [0, 1] (1 = missing pixel to fill, 0 = known)'
        in snippet
    )


def test_tflite_records_the_input_limits_as_metadata(tflite_float32):
    recorded = tflite_metadata(tflite_float32[0], "tfrestore_input_limits")
    # No limits beyond its name and the multiple it pads to inside (for tiling).
    assert json.loads(recorded) == {"model": "DeblurGAN", "multiple": [8, 8]}
    assert tflite_metadata(tflite_float32[0], "no such entry") is None


@pytest.mark.slow
@pytest.mark.exhaustive
def test_tflite_from_a_saved_model_probes_at_its_recorded_minimum_size(tmp_path):
    # MEDFE refuses images below 65x65, the default probe is 45x38: the SavedModel's recorded
    # limits give the converter a valid probe.
    medfe = tfrestore.models.get("medfe", filters=4, dilation=1, vgg_weights=None)
    export.export_saved_model(medfe, tmp_path / "saved_model", check=False)
    report = export.export_tflite(tmp_path / "saved_model", tmp_path / "medfe.tflite")
    assert report.max_abs_error < 1e-4
    restorer = load_restorer(tmp_path / "medfe.tflite")
    assert restorer.limits == {"model": "MEDFE", "min_size": [65, 65], "multiple": [64, 64]}


@pytest.mark.parametrize(("quantize", "atol"), [("float16", 1e-2), ("dynamic", 0.1)])
def test_quantized_tflite_runs_with_bounded_error(model, tflite_float32, tmp_path, quantize, atol):
    path = tmp_path / f"{quantize}.tflite"
    report = export.export_tflite(model, path, quantize=quantize)
    assert report.quantize == quantize and report.max_abs_error < atol
    assert report.size_bytes == path.stat().st_size < tflite_float32[0].stat().st_size
    # The residual blocks' Winograd convs (depthwise transforms) in float32 and float16 only
    # (`xnnpack_forms`): a quantized export has plain convolutions.
    winograd = "DEPTHWISE_CONV_2D" in export.tflite_ops(path)
    assert winograd == (quantize == "float16")
    assert "DEPTHWISE_CONV_2D" in export.tflite_ops(tflite_float32[0])
    runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
    x = images(1, 40, 52, seed=3)
    restored = runner(image=x)["restored"]
    assert restored.shape == x.shape
    assert np.abs(restored - model.predict(x, verbose=0)).max() < atol


def test_saved_model_has_tensorflow_convolutions_not_the_winograd_form(saved_model):
    # DeblurGAN's residual blocks are WinogradConv2Ds: their Winograd form (depthwise
    # transforms) is in float .tflite files only (`xnnpack_forms`; see the quantized test).
    graph = tf.saved_model.load(str(saved_model[0])).signatures["serving_default"]
    definition = graph.graph.as_graph_def()
    nodes = [*definition.node, *(n for f in definition.library.function for n in f.node_def)]
    ops = {node.op for node in nodes}
    assert "Conv2D" in ops and "DepthwiseConv2dNative" not in ops


def tflite_outputs_by_op(path):
    """{op name: set of output dtype names} of a `.tflite` file's main graph."""
    interpreter = Interpreter(model_path=str(path))
    dtypes = {t["index"]: t["dtype"].__name__ for t in interpreter.get_tensor_details()}
    found = {}
    for op in interpreter._get_ops_details():
        found.setdefault(op["op_name"], set()).update(dtypes[int(t)] for t in op["outputs"])
    return found


@pytest.mark.slow
def test_int8_keeps_the_instance_norms_float32_and_reports_them(model, tmp_path):
    path = tmp_path / "int8.tflite"
    # Calibrated on the sample photos by default, checked on two others.
    report = export.export_tflite(model, path, quantize="int8", min_psnr=30.0)
    norms = export.default_float_layers(model.generator)
    assert norms and all(name.startswith("model_") for name in norms), norms
    # The operators around the generator, then the norms.
    assert report.float_layers == ("not generator", *(f"generator/{name}" for name in norms))
    assert report.checked_on == "2 photos 128x128" and report.psnr > 30.0  # measured 35.1 dB
    assert "8 kept in float32" in str(report) and "generator/model_2" in str(report)
    ops = tflite_outputs_by_op(path)
    # The norms' statistics in float32, the convolutions in int8, converted between them.
    assert ops["RSQRT"] == ops["SQUARED_DIFFERENCE"] == {"float32"}, ops
    assert ops["CONV_2D"] == {"int8"} and {"QUANTIZE", "DEQUANTIZE"} <= set(ops), ops
    assert "DEPTHWISE_CONV_2D" not in ops  # plain convolutions (`direct_convolutions`)
    assert report.delegation.partitions <= 4  # 18 with the norms in int8


def test_int8_keeps_batch_norms_float32_after_activations_not_after_convolutions():
    # The Context Encoder's decoder: transposed convolution, batch norm, ReLU. Kept in float32
    # by mistake until the rule counted transposed convolutions (paper width: a 178 MB int8
    # file, its 131 MB 4000-channel layer in float32; now 71 MB and 1.6x faster).
    context_encoder = tfrestore.models.get("context_encoder", filters=4, bottleneck_channels=8)
    assert export.default_float_layers(context_encoder) == ["not generator"]
    # EnlightenGAN's convolution, LeakyReLU, batch norm: the norm with its activation.
    enlighten_gan = tfrestore.models.get("enlighten_gan", filters=4, vgg_weights=None)
    kept = export.default_float_layers(enlighten_gan)
    assert kept[:3] == ["not generator", "generator/LReLU1_1", "generator/bn1_1"], kept


def test_int8_keeps_the_first_partial_convolution_of_each_chain_float32():
    from tfrestore.layers import PartialConv2D

    image, mask = keras.Input((None, None, 3)), keras.Input((None, None, 1))
    x, m = PartialConv2D(4, 3, name="first")(image, mask)
    x, _ = PartialConv2D(4, 3, name="second")(x, m)  # its inputs come from `first`
    y, _ = PartialConv2D(4, 5, name="alone")(image, mask)
    chains = keras.Model([image, mask], [x, y])
    assert sorted(export.default_float_layers(chains)) == ["alone", "first"]
    # MEDFE: the first of each kernel size (level 0), in both layouts; 12 more stay int8.
    for layout in (False, True):
        medfe = tfrestore.models.get(
            "medfe", filters=4, dilation=1, vgg_weights=None, upstream_layout=layout
        )
        kept = [name for name in export.default_float_layers(medfe) if "conv_input" in name]
        assert kept == [f"generator/pc_block_cov_{k}_0_conv_input_conv" for k in (3, 5, 7)]


@pytest.mark.slow
def test_int8_below_35_db_on_photos_is_refused(model, tmp_path):
    path = tmp_path / "int8.tflite"
    path.write_bytes(b"previous export")
    # Norms in int8 too: measured 23 dB against float32 on the photos.
    with pytest.raises(export.ExportError, match=r"2 photos \(1x128x128\).*PSNR .* < 35 dB"):
        export.export_tflite(model, path, quantize="int8", float_layers=())
    assert path.read_bytes() == b"previous export"


def test_unknown_quantize_names_it_and_the_valid_ones(model, tmp_path):
    with pytest.raises(ValueError, match="int4") as info:
        export.export_tflite(model, tmp_path / "m.tflite", quantize="int4")
    assert all(name in str(info.value) for name in ("float16", "dynamic", "int8"))
    with pytest.raises(ValueError, match="float_layers applies to quantize='int8' only"):
        export.export_tflite(model, tmp_path / "m.tflite", quantize="dynamic", float_layers=[])
    assert not list(tmp_path.iterdir())


def test_failed_tflite_export_keeps_the_old_file(saved_model, tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(b"previous export")
    with pytest.raises(export.ExportError, match="max abs error"):
        # converted from the exported folder, and no error can pass a negative bound
        export.export_tflite(saved_model[0], path, atol=-1.0)
    assert path.read_bytes() == b"previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["model.tflite"]


def test_failed_saved_model_export_keeps_the_old_folder(model, saved_model, tmp_path):
    path = tmp_path / "saved_model"
    path.mkdir()
    (path / "saved_model.pb").write_bytes(b"previous export")
    with pytest.raises(export.ExportError, match="parity check"):
        export.export_saved_model(model, path, atol=-1.0)
    assert [p.name for p in tmp_path.iterdir()] == ["saved_model"]
    assert [p.name for p in path.iterdir()] == ["saved_model.pb"]
    assert (path / "saved_model.pb").read_bytes() == b"previous export"
    # A successful export replaces it, leaving nothing else behind.
    export.export_saved_model(model, path)
    assert [p.name for p in tmp_path.iterdir()] == ["saved_model"]
    assert (path / "saved_model.pb").stat().st_size > len(b"previous export")


def test_saved_model_export_refuses_to_replace_other_folders(model, tmp_path):
    (tmp_path / "notes.txt").write_text("not a SavedModel")
    with pytest.raises(ValueError, match="not a SavedModel"):
        export.export_saved_model(model, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


class HSVModel(keras.Model):
    """Uses tf.image.rgb_to_hsv, which has no TFLite builtin (only a Flex kernel)."""

    def call(self, images, training=False):
        return tf.image.rgb_to_hsv(images)


def test_ops_without_builtin_fail_instead_of_using_flex(tmp_path):
    path = tmp_path / "hsv.tflite"
    with pytest.raises(export.ExportError, match="RGBToHSV"):
        export.export_tflite(HSVModel(), path)
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_tflite_from_an_exported_saved_model(model, saved_model, tmp_path):
    report = export.export_tflite(model, tmp_path / "m.tflite", saved_model_dir=saved_model[0])
    assert report.max_abs_error < 1e-4
    # A SavedModel folder as the model: converted and checked against itself.
    report = export.export_tflite(saved_model[0], tmp_path / "n.tflite", quantize="float16")
    assert report.max_abs_error < 1e-2


@pytest.mark.slow
def test_benchmark_script_prints_a_row_per_form(capsys, tmp_path):
    # A tiny inpainting model: two inputs, the probe builds the image and the mask.
    script = os.path.join(os.path.dirname(__file__), "..", "export", "benchmark.py")
    spec = importlib.util.spec_from_file_location("benchmark", script)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    argv = [
        "--model",
        "context_encoder",
        "--filters",
        "4",
        "--kwargs",
        '{"bottleneck_channels": 8}',
    ]
    argv += ["--size", "128", "128", "--runs", "1", "--quantize", "float32"]
    argv += ["--exports", str(tmp_path), "--no-rss"]
    assert benchmark.main(argv) == 0
    kept = tmp_path / "context_encoder" / "model_float32.tflite"
    written = kept.stat().st_mtime_ns
    # A second run measures the kept exports (the same .keras weights) without exporting again.
    assert benchmark.main(argv) == 0
    assert kept.stat().st_mtime_ns == written
    lines = capsys.readouterr().out.splitlines()
    assert len([line for line in lines if line.startswith("tflite float32 ")]) == 2
    assert lines[0].startswith("context_encoder filters=4 bottleneck_channels=8, 128x128")
    number = r"\d[\d.]*(e[+-]\d+)?"
    forms = {"keras": "-", "saved_model float32": f"{number} MB", "tflite float32": f"{number} MB"}
    for form, size in forms.items():
        row = next(line for line in lines if line.startswith(f"{form}  "))
        partitions = r"\d+ \(\d+ ops out\)" if form.startswith("tflite") else "-"
        assert re.fullmatch(
            rf"{form} +{size} +{number} ms +{number} +({number}|inf) dB +- +{partitions}",
            row,
        ), row
    # Kept exports of another configuration are refused, not measured as this one.
    assert benchmark.main([*argv[:3], "8", *argv[4:]]) == 2
    assert "give each configuration its own --exports folder" in capsys.readouterr().err


@pytest.mark.parametrize("size,side", [((45, 38), 19), ((256, 300), 64)])
def test_probe_mask_is_a_centered_hole_that_fits_every_inpainting_model(size, side):
    mask = export.probe_inputs({"image": 3, "mask": 1}, size)["mask"][0, :, :, 0]
    rows, cols = np.nonzero(mask)
    assert mask.sum() == side * side and set(np.unique(mask)) == {0.0, 1.0}
    assert (rows.min(), cols.min()) == ((size[0] - side) // 2, (size[1] - side) // 2)
