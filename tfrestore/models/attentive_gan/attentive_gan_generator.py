"""AttentiveGAN's generator: an attentive-recurrent network and a contextual autoencoder."""

import keras
import tensorflow as tf

from tfrestore.layers import DilatedConv2D, SubpixelConv2DTranspose, reflect_pad
from tfrestore.layers.convolution import stored_as
from tfrestore.models.network import Network

NUM_STEPS = 4  # upstream ITERATION


def _conv(filters, name, kernel_size=3, strides=1, dilation_rate=1, activation="relu", dtype=None):
    """A conv with PyTorch's padding (k // 2 * dilation); stride 2 pads explicitly."""
    return (DilatedConv2D if dilation_rate != 1 else keras.layers.Conv2D)(
        filters,
        kernel_size,
        strides=strides,
        dilation_rate=dilation_rate,
        padding="same" if strides == 1 else "valid",
        activation=activation,
        dtype=dtype,
        name=name,
    )


@keras.saving.register_keras_serializable(package="tfrestore", name="ZeroStateConv2D")
@stored_as(keras.layers.Conv2D)
class ZeroStateConv2D(keras.layers.Conv2D):
    """A ConvLSTM gate: `keras.layers.Conv2D` over features and hidden state concatenated,
    which also takes the features alone when the state is zero (the first recurrent step).

    Build it for the concatenation (`build((None, None, None, features + hidden))`). Called on
    fewer channels than its kernel has, it convolves them with the leading part of the kernel:
    the same values, since the channels left out are zeros, at a fraction of the work. Stored
    as a `Conv2D` (`stored_as`): same weights and files.

    Example:
        >>> gate = ZeroStateConv2D(4, 3, padding="same")
        >>> gate.build((None, None, None, 8))
        >>> gate(tf.zeros([1, 5, 5, 6])).shape
        TensorShape([1, 5, 5, 4])
    """

    def build(self, input_shape):
        super().build(input_shape)
        # Any number of leading channels, up to the kernel's.
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def convolution_op(self, inputs, kernel):
        channels = inputs.shape[-1]
        if channels is None or channels > kernel.shape[2]:
            raise ValueError(
                f"{self.name}: inputs need at most the kernel's {kernel.shape[2]} channels, "
                f"known statically; got shape {tuple(inputs.shape)}"
            )
        return super().convolution_op(inputs, kernel[:, :, :channels, :])


def _strided(x, filters, name):
    x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
    return _conv(filters, name, strides=2)(x)


def _upsample(x, filters, name):
    """ConvTranspose 4x4 s2 p1, then upstream's ReflectionPad((1, 0, 1, 0)) + AvgPool(2, 1)
    smoothing and ReLU (`deconv<i>`)."""
    x = SubpixelConv2DTranspose(filters, 4, strides=2, padding="same", name=f"{name}_0")(x)
    x = _top_left_reflection(x, name)
    x = keras.layers.AveragePooling2D(2, strides=1, name=f"{name}_2")(x)
    return keras.layers.ReLU(name=f"{name}_3")(x)


def _top_left_reflection(x, name):
    # ReflectionPad2d((1, 0, 1, 0)): one reflected row on top and one column on the left.
    return keras.layers.Lambda(lambda t: reflect_pad(t, ((1, 0), (1, 0))), name=f"{name}_1")(x)


@keras.saving.register_keras_serializable(package="tfrestore")
class AttentiveGANGenerator(Network):
    """AttentiveGAN's generator, layer for layer as the official rui1996/DeRaindrop model.

    Qian et al., "Attentive Generative Adversarial Network for Raindrop Removal from a Single
    Image", CVPR 2018 (https://arxiv.org/abs/1711.10098). The attentive-recurrent network runs
    4 weight-shared steps, each on the image concatenated with the previous attention map
    (the first is 0.5): a conv and 5 residual blocks, a convolutional LSTM (gates i, f, o with
    sigmoid, g with tanh, on the features and the hidden state), and a linear conv to a
    1-channel map. The contextual autoencoder takes the image and the last map: convs with
    skip connections, 4 dilated convs (rates 2, 4, 8, 16), and outputs at 1/4, 1/2 and full
    scale. 6,244,362 parameters at the defaults. The ConvLSTM is written with plain
    convolutions and unrolled, so TFLite export needs only builtin ops; its state starts at
    zero as upstream's, so the first step's gates convolve the features alone and skip the
    forget gate (`ZeroStateConv2D`: same values, 5 of that step's 8 gate-convolution halves
    saved). Layers are named after the upstream `state_dict` keys (`conv_i.0` -> `conv_i_0`).

    Args:
        filters: int, width of the recurrent network (default 32); the autoencoder uses 2x,
            4x and 8x it.

    Inputs are BGR images in [0, 1] (upstream reads with OpenCV), H and W multiples of 4 (the
    `AttentiveGAN` wrapper converts RGB and pads any size). Outputs a list: the 4 attention
    maps [B, H, W, 1], the 1/4 and 1/2 scale images, and the restored image (no activation,
    as upstream; the wrapper clips).

    Example:
        >>> outputs = AttentiveGANGenerator(filters=4)(tf.zeros([1, 32, 48, 3]))
        >>> [tuple(o.shape) for o in outputs[-3:]]
        [(1, 8, 12, 3), (1, 16, 24, 3), (1, 32, 48, 3)]
    """

    config_names = ("filters",)

    def __init__(self, filters=32, **kwargs):
        f = filters
        inputs = keras.Input(shape=(None, None, 3), name="rainy")
        # Layers created once and called at every step: the steps share their weights.
        det_conv0 = _conv(f, "det_conv0_0")
        blocks = [(_conv(f, f"det_conv{k}_0"), _conv(f, f"det_conv{k}_2")) for k in range(1, 6)]
        gates = {}
        for gate in "ifgo":
            activation = "tanh" if gate == "g" else "sigmoid"
            gates[gate] = ZeroStateConv2D(
                f, 3, padding="same", activation=activation, name=f"conv_{gate}_0"
            )
            gates[gate].build((None, None, None, 2 * f))  # features and hidden state
        # The output convs (attention maps, images) compute in float32 under a mixed policy
        # (`tfrestore.models.precision`): 1 and 3 channels, a negligible cost.
        det_conv_mask = _conv(1, "det_conv_mask_0", activation=None, dtype="float32")

        mask = keras.layers.Lambda(
            lambda t: tf.fill(tf.concat([tf.shape(t)[:3], [1]], 0), 0.5), name="mask_init"
        )(inputs)
        # The state starts at zero: the first step's gates read the features alone
        # (`ZeroStateConv2D`) and its cell is i * g, f * 0 left out.
        hidden = cell = None
        masks = []
        for step in range(NUM_STEPS):
            x = keras.layers.Concatenate(name=f"step{step}_input")([inputs, mask])
            x = det_conv0(x)
            for k, (first, second) in enumerate(blocks, start=1):
                y = second(first(x))
                x = keras.layers.ReLU(name=f"step{step}_res{k}")(
                    keras.layers.Add(name=f"step{step}_add{k}")([y, x])
                )
            if hidden is not None:
                x = keras.layers.Concatenate(name=f"step{step}_x_h")([x, hidden])
            i, g, o = gates["i"](x), gates["g"](x), gates["o"](x)
            ig = keras.layers.Multiply(name=f"step{step}_ig")([i, g])
            if cell is None:
                cell = ig
            else:
                f_gate = gates["f"](x)
                fc = keras.layers.Multiply(name=f"step{step}_fc")([f_gate, cell])
                cell = keras.layers.Add(name=f"step{step}_cell")([fc, ig])
            hidden = keras.layers.Multiply(name=f"step{step}_hidden")(
                [o, keras.layers.Activation("tanh", name=f"step{step}_tanh_c")(cell)]
            )
            mask = det_conv_mask(hidden)
            masks.append(mask)

        x = keras.layers.Concatenate(name="autoencoder_input")([inputs, mask])
        x = res1 = _conv(2 * f, "conv1_0", kernel_size=5)(x)
        x = _strided(x, 4 * f, "conv2_0")
        x = res2 = _conv(4 * f, "conv3_0")(x)
        x = _strided(x, 8 * f, "conv4_0")
        x = _conv(8 * f, "conv5_0")(x)
        x = _conv(8 * f, "conv6_0")(x)
        for k, rate in enumerate((2, 4, 8, 16), start=1):
            x = _conv(8 * f, f"diconv{k}_0", dilation_rate=rate)(x)
        x = _conv(8 * f, "conv7_0")(x)
        x = _conv(8 * f, "conv8_0")(x)
        frame1 = _conv(3, "outframe1_0", dtype="float32")(x)
        x = _upsample(x, 4 * f, "deconv1")
        x = keras.layers.Add(name="skip2")([x, res2])
        x = _conv(4 * f, "conv9_0")(x)
        frame2 = _conv(3, "outframe2_0", dtype="float32")(x)
        x = _upsample(x, 2 * f, "deconv2")
        x = keras.layers.Add(name="skip1")([x, res1])
        x = _conv(f, "conv10_0")(x)
        output = _conv(3, "output_0", activation=None, dtype="float32")(x)
        super().__init__(inputs, [*masks, frame1, frame2, output], **kwargs)
        self.filters = filters
        # Keras stores each layer's weights under its class name, numbered in the model's layer
        # order, which follows each layer's first call. The forget gate's first call is now at
        # step 1, after `det_conv_mask_0`: put it back before the other gates, where the files
        # written while step 0 called it have its weights.
        self._operations.remove(gates["f"])
        self._operations.insert(self._operations.index(gates["i"]), gates["f"])

    def start_as_identity(self, offset=0.01):
        """Sets the autoencoder's full-resolution path so that the restored image equals the
        input image: a warm start for short training runs (not in the paper or upstream).

        Trained from scratch, the whole-image output first has to learn to reproduce the photo
        before removing drops can raise its PSNR. Here `conv1_0`'s first three channels copy
        the image (centre tap 1), `conv10_0`'s first three copy those on, and `output_0`
        reads only them. `deconv2`, added to `conv1_0` by the skip connection, gives those
        three channels a constant `offset` (weights 0, bias `offset`), which `conv10_0`'s bias
        takes off again: they add nothing yet stay trainable (a ReLU at exactly 0 passes no
        gradient). All other weights keep their initialization (the attention maps are
        unchanged) and every weight trains as usual.

        Args:
            offset: float > 0 (default 0.01).
        """

        def update(name, change):
            layer = self.get_layer(name)
            kernel, bias = (weight.numpy() for weight in layer.weights)
            change(kernel, bias)
            layer.set_weights([kernel, bias])

        def copy_image(kernel, bias, bias_value=0.0):
            # kernel [kh, kw, in, out]: output channel c = centre tap of input channel c.
            kernel[..., :3] = 0.0
            kernel[kernel.shape[0] // 2, kernel.shape[1] // 2, range(3), range(3)] = 1.0
            bias[:3] = bias_value

        def constant_offset(kernel, bias):
            kernel[:, :, :3, :] = 0.0  # Conv2DTranspose kernel [kh, kw, out, in]
            bias[:3] = offset

        update("conv1_0", copy_image)
        update("deconv2_0", constant_offset)
        update("conv10_0", lambda kernel, bias: copy_image(kernel, bias, -offset))
        update("output_0", copy_image)  # 3 output channels: reads nothing else
