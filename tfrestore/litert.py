"""Running a `.tflite` file on LiteRT's CompiledModel API, with the XNNPACK options that keep
its memory at or below the Keras graph's.

Imports no TensorFlow (only numpy and `ai_edge_litert`), so a benchmark can measure LiteRT
alone, as on a phone. `tfrestore.inference.TFLiteRestorer` runs every `.tflite` file with it.

Two XNNPACK options that the Python `Interpreter` cannot set (measured at paper width, 2
threads, peak RSS of the process):
- A weights cache in memory (`WEIGHT_CACHE`): every signature of a file is a subgraph of its
  own, and XNNPACK packs the weights of each; the cache packs each weight buffer once for all.
  MEDFE (three signatures, 413 MB of weights) at 256x256: 2109 MB -> 644 MB.
- Transient indirection buffers (`TRANSIENT_INDIRECTION_BUFFER`): XNNPACK keeps a pointer per
  kernel tap and output pixel for each convolution, for the whole run, unless this flag lets it
  rebuild them per call. AttentiveGAN at 720x1280: 5449 MB -> 1016 MB, the same output, about
  as fast.

CompiledModel does not report an output's shape after its inputs are resized (it keeps the
shapes it was built with, and buffers it creates for them are too small), so outputs go into
numpy arrays of the shape `output_shape` infers from the signature and the inputs, bound
without a copy (LiteRT writes into host memory aligned as it requires).
"""

import contextlib

import numpy as np

from tfrestore.quiet import native_stderr_captured

# XNNPACK delegate flags (tflite/delegates/xnnpack/xnnpack_delegate.h): LiteRT's default
# (signed and unsigned 8-bit kernels), plus transient indirection buffers.
QS8 = 0x1
QU8 = 0x2
TRANSIENT_INDIRECTION_BUFFER = 0x20
XNNPACK_FLAGS = QS8 | QU8 | TRANSIENT_INDIRECTION_BUFFER
# XNNPACK's name for a weights cache kept in memory rather than in a file.
WEIGHT_CACHE = ":memory:"
# LiteRT binds host memory in place only at this alignment (in bytes); it copies other arrays.
ALIGNMENT = 64


def aligned_array(shape):
    """A float32 array of zeros of `shape`, starting at an `ALIGNMENT` address."""
    size = int(np.prod(shape))
    raw = np.zeros(size + ALIGNMENT // 4, np.float32)
    start = (-raw.ctypes.data % ALIGNMENT) // 4
    return raw[start : start + size].reshape(shape)


def output_shape(signature_shape, batch, height, width):
    """The shape of an output whose signature shape is `signature_shape` (-1 = dynamic) for
    inputs of `batch` x `height` x `width`: dynamic batch, height and width take the inputs'
    (tfrestore's outputs are [B, H, W, C] images of the input's size, or [B, K] statistics).

    Raises:
        ValueError: a dynamic dimension other than those (no rule gives its size).
    """
    shape = [int(d) for d in signature_shape]
    known = (batch, height, width) if len(shape) == 4 else (batch,)
    for index, size in enumerate(known):
        if shape[index] == -1:
            shape[index] = size
    if min(shape) < 0:
        raise ValueError(f"cannot tell the size of an output of shape {list(signature_shape)}")
    return shape


class LiteRTModel:
    """A `.tflite` file compiled for the CPU with `XNNPACK_FLAGS` and a `WEIGHT_CACHE`.

    `model(key, {input name: array})` runs signature `key` on float32 NHWC arrays of any
    height and width (resizing its inputs when their shapes change) and returns {output name:
    array}, new arrays (LiteRT wrote into them).

    Attributes:
        signatures: {key: {"inputs": {name: shape}, "outputs": {name: shape}}}, shapes as the
            file declares them (-1 = dynamic).
    """

    def __init__(self, path, num_threads=None):
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.interpreter import Interpreter
        from ai_edge_litert.options import CpuOptions, Options

        # The interpreter only describes the file (it is never allocated, so it costs little):
        # CompiledModel does not report which dimensions are dynamic.
        described = Interpreter(model_path=path)
        self.signatures = {}
        for key in described.get_signature_list():
            runner = described.get_signature_runner(key)
            self.signatures[key] = {
                part: {name: [int(d) for d in details["shape_signature"]] for name, details in got}
                for part, got in (
                    ("inputs", runner.get_input_details().items()),
                    ("outputs", runner.get_output_details().items()),
                )
            }
        cpu = CpuOptions(
            num_threads=num_threads or 0,  # 0: LiteRT's choice
            xnnpack_flags=XNNPACK_FLAGS,
            xnnpack_weight_cache_path=WEIGHT_CACHE,
        )
        options = Options(cpu_options=cpu)  # on the CPU only, LiteRT's default
        # LiteRT logs its accelerator and plugin search (no NPU here, ...) straight to fd 2.
        with native_stderr_captured():
            self.model = CompiledModel.from_file(path, options=options)
        listed = self.model.get_signature_list()
        # key -> (signature index, input names and output names in LiteRT's order)
        self._order = {
            key: (self.model.get_signature_index(key), listed[key]) for key in self.signatures
        }
        self.shapes = {}  # key -> {input name: shape} it was last resized to

    def close(self):
        """Releases the compiled model and its LiteRT environment (which logs its accelerators
        being destroyed to fd 2, kept off the terminal here). Called when garbage-collected."""
        model, self.model = getattr(self, "model", None), None
        if model is not None:
            with native_stderr_captured():
                environment = model.environment
                model.close()
                environment.close()
                del model, environment

    def __del__(self):
        try:
            self.close()
        except Exception:  # at interpreter exit, modules it needs may be gone
            pass

    def __call__(self, key, arrays):
        from ai_edge_litert.tensor_buffer import TensorBuffer

        shapes = {name: list(np.shape(array)) for name, array in arrays.items()}
        index, order = self._order[key]
        resized = self.shapes.get(key) != shapes
        # LiteRT logs straight to fd 2 when it prepares a signature at a new size (and creates
        # its process-wide buffer environment on the first call, a resize too); runs at a size
        # it has seen, the windows of a tiled image, log nothing and skip the capture.
        with native_stderr_captured() if resized else contextlib.nullcontext():
            if resized:
                for name, shape in shapes.items():
                    self.model.resize_input_tensor_by_name(key, name, shape)
                self.shapes[key] = shapes
            # Buffers LiteRT makes for the resized inputs (one bound to host memory has no
            # shape, so LiteRT would try to resize the input to its flat length).
            inputs = self.model.create_input_buffers(index)
            for name, buffer in zip(order["inputs"], inputs):
                buffer.write(np.asarray(arrays[name], np.float32))
            batch, height, width = next(s for s in shapes.values() if len(s) == 4)[:3]
            outputs = {
                name: aligned_array(output_shape(shape, batch, height, width))
                for name, shape in self.signatures[key]["outputs"].items()
            }
            bound = [TensorBuffer.create_from_host_memory(outputs[n]) for n in order["outputs"]]
            self.model.run_by_index(index, inputs, bound)
        return outputs
