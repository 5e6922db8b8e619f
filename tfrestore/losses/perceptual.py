"""VGG feature losses: a frozen VGG16/VGG19 feature extractor, perceptual and style losses.

Layer names are Keras' (`block3_conv3`, `block4_pool`, ...). In PyTorch terms, `relu3_3` is
`block3_conv3` with `pre_activation=False` and `conv3_3` is `block3_conv3` with
`pre_activation=True`.

EnlightenGAN's self feature-preserving loss (Jiang et al., IEEE TIP 2021) is VGG16 relu5_1 on
[0, 255] BGR images without mean subtraction, with no pool between relu4_3 and conv5_1 and both
feature maps instance-normalized before the MSE:

    PerceptualLoss(network="vgg16", layers="block5_conv1", skip_pools=("block4_pool",),
                   preprocess="bgr255", input_range=(-1, 1), normalize_features=True)
"""

import os

import h5py
import keras
from keras import ops

from tfrestore.layers import ForwardGradientConv2D, InstanceNormalization
from tfrestore.losses._reduce import per_example_mean

# Convolutions per block and filters per block of the two VGG variants.
_VGG_BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
_VGG_FILTERS = (64, 128, 256, 512, 512)
_PREPROCESS_MODES = ("none", "caffe", "bgr255")
_DISTANCES = ("mse", "l1")
# ImageNet mean in BGR order, on [0, 255] (keras.applications.vgg16.preprocess_input).
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# PyTorch InstanceNorm2d's default epsilon, used by EnlightenGAN on its VGG features.
_FEATURE_NORM_EPSILON = 1e-5


def _vgg_layer_names(network):
    """Keras layer names of a VGG without its classifier, in order."""
    names = []
    for block, num_convs in enumerate(_VGG_BLOCKS[network], start=1):
        names += [f"block{block}_conv{i}" for i in range(1, num_convs + 1)]
        names.append(f"block{block}_pool")
    return names


def _h5_layer_names(path):
    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
        names = group.attrs.get("layer_names", [])
        return {n.decode() if isinstance(n, bytes) else n for n in names}


class VGGWeightsUnavailable(RuntimeError):
    """The ImageNet VGG weights are neither in the Keras cache nor downloadable."""


def keras_weights_file(network):
    """(file name, cache path) where keras.applications looks for the VGG's ImageNet weights."""
    # Keras' cache folder: $KERAS_HOME, else ~/.keras (or /tmp/.keras), read at import; Keras
    # has no public accessor for it.
    from keras.src.backend.config import keras_home

    name = f"{network}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    return name, os.path.join(os.path.expanduser(keras_home()), "models", name)


def _imagenet_vgg(network, app_class):
    try:
        # Downloads the ImageNet weights on first use (then cached, see keras_weights_file).
        return app_class(include_top=False, weights="imagenet")
    except Exception as error:  # Keras raises a bare Exception when the download fails
        name, path = keras_weights_file(network)
        raise VGGWeightsUnavailable(
            f"cannot get the ImageNet {network.upper()} weights of the perceptual loss: "
            f"{name} is not in the Keras cache ({path}) and downloading it failed "
            f"({str(error).splitlines()[0] if str(error) else type(error).__name__}); copy the "
            f"file there, or set the model option vgg_weights to a local {network.upper()} "
            "weights file"
        ) from error


def _load_vgg_weights(network, weights, conv_names):
    """Returns `{conv layer name: [kernel, bias] variables}` of keras.applications' VGG."""
    app_class = {"vgg16": keras.applications.VGG16, "vgg19": keras.applications.VGG19}[network]
    if weights == "imagenet":
        source = _imagenet_vgg(network, app_class)
    else:
        path = os.path.expanduser(os.fspath(weights))
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"VGG weights file not found: {path!r} (the model option vgg_weights): give a "
                f"Keras .weights.h5 or .h5 file of keras.applications.{app_class.__name__}, "
                "'imagenet' or None"
            )
        source = app_class(include_top=False, weights=None)
        if path.endswith(".weights.h5"):
            source.load_weights(path)
        elif path.endswith((".h5", ".hdf5")):
            # Legacy HDF5 (e.g. the keras.applications download, with or without the
            # classifier): load by layer name, but refuse a file that lacks a layer we need.
            missing = sorted(set(conv_names) - _h5_layer_names(path))
            if missing:
                raise ValueError(
                    f"VGG weights file {path!r} has no weights for layers {missing}; "
                    f"is it a {network} weights file?"
                )
            source.load_weights(path, by_name=True)
        else:
            raise ValueError(
                f"Unsupported VGG weights file {path!r}: expected a .weights.h5 or .h5 file."
            )
    return {name: source.get_layer(name).weights for name in conv_names}


@keras.saving.register_keras_serializable(package="tfrestore")
class VGGFeatures(keras.Model):
    """Frozen VGG16/VGG19 feature extractor for perceptual, style and feature losses.

    Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
    Recognition", ICLR 2015. Only the layers up to the deepest requested one are built. The
    weights are frozen (`trainable=False`); keep the extractor outside the generator (e.g. as an
    attribute of the training wrapper) so the generator's variables never include it.

    Constructing it never reads or downloads weights: the layers start random and
    `load_pretrained()` loads `weights` once (`RestorationGAN` calls it when training or
    evaluation starts). The `pretrained` variable records that it was done, so a model saved
    after training and loaded again does not fetch them a second time.

    Args:
        network: `"vgg19"` (default) or `"vgg16"`.
        layers: Keras layer names whose outputs are returned, e.g. `("block3_conv3",)`
            (default) or `("block1_conv1", "block2_pool")`; a single name is accepted.
        pre_activation: if True, a requested conv layer returns its output *before* the ReLU
            (DeblurGAN's loss uses VGG19 conv3_3 before ReLU); default False (after ReLU, as in
            Keras). Pool layers are unaffected.
        weights: `"imagenet"` (default; keras.applications downloads them on first
            `load_pretrained()`), None (random initialization) or the path of a `.weights.h5` /
            `.h5` file of the Keras VGG (with or without its classifier).
        preprocess: `"none"` (default) feeds the images as they are, in `input_range` (DeblurGAN
            and MEDFE feed [-1, 1] images without ImageNet normalization); `"caffe"` maps
            `input_range` to [0, 255], converts RGB to BGR and subtracts the ImageNet mean, as
            `keras.applications.vgg19.preprocess_input` does; `"bgr255"` maps `input_range` to
            [0, 255] and converts RGB to BGR *without* subtracting the mean (EnlightenGAN).
        input_range: `(low, high)` value range of the input images; default `(0.0, 1.0)`. Only
            `"caffe"` and `"bgr255"` use it.
        skip_pools: names of pooling layers to leave out, e.g. `("block4_pool",)`; default `()`.
            EnlightenGAN's VGG16 (`vgg_maxpooling=False`) has no pool between relu4_3 and
            conv5_1, so its relu5_1 is at 1/8 of the input size. The conv weights are unchanged
            (pools have none). A skipped pool cannot also be requested in `layers`.
        **kwargs: Keras model arguments (`name`, `dtype`; `dtype` defaults to float32 so the
            loss network stays in float32 under a mixed-precision policy).

    Call arguments:
        images: RGB float tensor `[B, H, W, 3]`; H and W must survive the poolings (those not
            skipped) before the deepest requested layer (>= 2**num_pools pixels).

    Returns:
        A list with one feature map `[B, h, w, c]` per name in `layers`, in that order.

    Example:
        >>> vgg = VGGFeatures("vgg19", ("block3_conv3",), pre_activation=True)
        >>> vgg.load_pretrained()
        >>> (features,) = vgg(images * 2.0 - 1.0)
    """

    def __init__(
        self,
        network="vgg19",
        layers=("block3_conv3",),
        pre_activation=False,
        weights="imagenet",
        preprocess="none",
        input_range=(0.0, 1.0),
        skip_pools=(),
        **kwargs,
    ):
        trainable = kwargs.pop("trainable", False)
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if network not in _VGG_BLOCKS:
            raise ValueError(f"Unknown VGG network {network!r}; expected 'vgg16' or 'vgg19'.")
        if isinstance(layers, str):
            layers = (layers,)
        names = _vgg_layer_names(network)
        unknown = [name for name in layers if name not in names]
        if not layers or unknown:
            raise ValueError(
                f"Unknown {network} layer names {unknown or list(layers)}; "
                f"expected one or more of {names}."
            )
        if isinstance(skip_pools, str):
            skip_pools = (skip_pools,)
        pools = [name for name in names if name.endswith("pool")]
        unknown = [name for name in skip_pools if name not in pools]
        if unknown:
            raise ValueError(
                f"Unknown {network} pooling layers {unknown} in skip_pools; "
                f"expected names from {pools}."
            )
        skipped_features = [name for name in layers if name in skip_pools]
        if skipped_features:
            raise ValueError(
                f"Layers {skipped_features} are both requested as features and skipped in "
                f"skip_pools; drop them from one of the two."
            )
        if preprocess not in _PREPROCESS_MODES:
            raise ValueError(
                f"Unknown preprocess {preprocess!r}; expected one of {_PREPROCESS_MODES}."
            )
        low, high = (float(v) for v in input_range)
        if not high > low:
            raise ValueError(f"input_range must be (low, high) with high > low; got {input_range}.")
        self.network = network
        self.feature_layers = tuple(layers)
        self.pre_activation = bool(pre_activation)
        self.weights_source = None if weights is None else str(weights)
        self.preprocess = preprocess
        self.input_range = (low, high)
        self.skip_pools = tuple(skip_pools)

        depth = max(names.index(name) for name in layers) + 1
        self.vgg_layers = []
        channels = 3
        for name in names[:depth]:
            if name in self.skip_pools:
                continue
            block = int(name[len("block")])
            if name.endswith("pool"):
                layer = keras.layers.MaxPooling2D(2, strides=2, name=name, dtype=self.dtype_policy)
            else:
                # The ReLU is applied in `call`, so the pre-activation output is available.
                filters = _VGG_FILTERS[block - 1]
                layer = ForwardGradientConv2D(
                    filters, 3, padding="same", name=name, dtype=self.dtype_policy
                )
                layer.build((None, None, None, channels))
                channels = filters
            self.vgg_layers.append(layer)
        # 1.0 once `weights` are loaded (a float, so numeric code over get_weights() works).
        self.pretrained = self.add_weight(
            shape=(), dtype="float32", initializer="zeros", trainable=False, name="pretrained"
        )
        self.trainable = trainable
        self.built = True  # every variable exists from here on

    def load_pretrained(self):
        """Loads the `weights` source into the layers, once; a no-op for `weights=None`.

        Raises:
            VGGWeightsUnavailable: `"imagenet"` weights are not cached and cannot be downloaded.
            FileNotFoundError, ValueError: a weights file is missing or not a VGG of this kind.
        """
        if self.weights_source is None or float(self.pretrained):
            return
        conv_layers = [layer for layer in self.vgg_layers if "conv" in layer.name]
        loaded = _load_vgg_weights(
            self.network, self.weights_source, [layer.name for layer in conv_layers]
        )
        for layer in conv_layers:
            for variable, value in zip(layer.weights, loaded[layer.name], strict=True):
                variable.assign(value)
        self.pretrained.assign(1.0)

    def _preprocess_images(self, images):
        if self.preprocess == "none":
            return images
        low, high = self.input_range
        images = (images - low) * (255.0 / (high - low))
        images = ops.flip(images, axis=-1)  # RGB -> BGR
        if self.preprocess == "bgr255":
            return images
        return images - ops.convert_to_tensor(_CAFFE_MEAN_BGR, self.compute_dtype)

    def call(self, images):
        x = self._preprocess_images(ops.cast(images, self.compute_dtype))
        wanted = set(self.feature_layers)
        features = {}
        for layer in self.vgg_layers:
            x = layer(x)
            if layer.name in wanted and (self.pre_activation or "pool" in layer.name):
                features[layer.name] = x
            if "conv" in layer.name:
                x = ops.relu(x)
                if layer.name in wanted and not self.pre_activation:
                    features[layer.name] = x
        return [features[name] for name in self.feature_layers]

    def compute_output_shape(self, input_shape):
        shapes = []
        for name in self.feature_layers:
            index = [layer.name for layer in self.vgg_layers].index(name)
            pools = sum("pool" in layer.name for layer in self.vgg_layers[: index + 1])
            block = int(name[len("block")])
            size = [None if d is None else d // 2**pools for d in input_shape[1:3]]
            shapes.append((input_shape[0], *size, _VGG_FILTERS[block - 1]))
        return shapes

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "name": self.name,
                "network": self.network,
                "layers": list(self.feature_layers),
                "pre_activation": self.pre_activation,
                "weights": self.weights_source,
                "preprocess": self.preprocess,
                "input_range": list(self.input_range),
                "skip_pools": list(self.skip_pools),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _distance(distance):
    if distance not in _DISTANCES:
        raise ValueError(f"Unknown distance {distance!r}; expected one of {_DISTANCES}.")
    return ops.square if distance == "mse" else ops.abs


def _as_list(features):
    return list(features) if isinstance(features, (list, tuple)) else [features]


def _layer_weights(num_layers, layer_weights):
    if layer_weights is None:
        return [1.0] * num_layers
    layer_weights = list(layer_weights)
    if len(layer_weights) != num_layers:
        raise ValueError(f"Got {len(layer_weights)} layer_weights for {num_layers} feature layers.")
    return layer_weights


def _instance_normalize(features):
    """Per-example, per-channel normalization over H and W (PyTorch `InstanceNorm2d`)."""
    norm = InstanceNormalization(
        epsilon=_FEATURE_NORM_EPSILON, affine=False, dtype="float32", name="feature_norm"
    )
    return norm(features)


def perceptual_loss(
    features_true, features_pred, distance="mse", layer_weights=None, normalize_features=False
):
    """Per-example perceptual (feature) loss, shape `[B]`.

    Johnson et al., "Perceptual Losses for Real-Time Style Transfer and Super-Resolution",
    ECCV 2016. For each layer, the mean distance between the feature maps of one example; the
    layers are then summed with `layer_weights`.

    Args:
        features_true: list of feature maps `[B, h, w, c]` of the targets (one per layer), or a
            single feature map.
        features_pred: the same for the restored images.
        distance: `"mse"` (default; DeblurGAN, AttentiveGAN, EnlightenGAN) or `"l1"` (MEDFE).
        layer_weights: optional weight per layer (default 1 each; AttentiveGAN's TF port
            averages its 7 layers: pass `[1 / 7] * 7`).
        normalize_features: if True, instance-normalize both feature maps first (per example
            and channel over H and W, biased variance, epsilon 1e-5; EnlightenGAN's
            `InstanceNorm2d(512, affine=False)`); default False.

    Returns:
        float32 `[B]`.
    """
    features_true, features_pred = _as_list(features_true), _as_list(features_pred)
    if len(features_true) != len(features_pred):
        raise ValueError(
            f"Got {len(features_true)} target and {len(features_pred)} predicted feature maps."
        )
    dist = _distance(distance)
    total = 0.0
    for weight, true, pred in zip(
        _layer_weights(len(features_true), layer_weights), features_true, features_pred, strict=True
    ):
        true, pred = ops.cast(true, "float32"), ops.cast(pred, "float32")
        if normalize_features:
            true, pred = _instance_normalize(true), _instance_normalize(pred)
        diff = pred - true
        total = total + weight * per_example_mean(dist(diff))
    return total


def paired_features(network, y_true, y_pred):
    """Feature maps of targets and predictions from two passes of `network`.

    The targets' pass runs outside the gradient (its input and features are stopped), so a
    backward pass runs the network over the predictions only. One pass over both batches
    concatenated would run the backward over the targets' half too, zeros and all: about
    twice the network's backward work.

    Returns:
        (features_true, features_pred): lists of `[B, h, w, c]` maps; the target features
        carry no gradient (as upstream).
    """
    features_true = [ops.stop_gradient(f) for f in network(ops.stop_gradient(y_true))]
    return features_true, list(network(y_pred))


def gram_matrix(features):
    """Gram matrix `F^T F / (C * H * W)` of feature maps `[B, H, W, C]`, shape `[B, C, C]`."""
    features = ops.cast(features, "float32")
    shape = ops.shape(features)
    h, w, c = shape[1], shape[2], shape[3]
    flat = ops.reshape(features, (shape[0], h * w, c))  # [B, HW, C]
    gram = ops.matmul(ops.transpose(flat, (0, 2, 1)), flat)  # [B, C, C]
    return gram / ops.cast(h * w * c, "float32")


def style_loss(features_true, features_pred, distance="l1", layer_weights=None):
    """Per-example style loss on Gram matrices, shape `[B]`.

    Gatys et al., "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016; with
    Gram matrices normalized by `C * H * W` and an L1 distance as in MEDFE (Liu et al.,
    ECCV 2020, weight 250 there). For each layer, the mean distance between the `[C, C]` Gram
    matrices of one example; layers summed with `layer_weights`.

    Args:
        features_true: list of feature maps `[B, h, w, c]` of the targets, or a single map.
        features_pred: the same for the restored images.
        distance: `"l1"` (default) or `"mse"`.
        layer_weights: optional weight per layer (default 1 each).

    Returns:
        float32 `[B]`.
    """
    grams_true = [gram_matrix(f) for f in _as_list(features_true)]
    grams_pred = [gram_matrix(f) for f in _as_list(features_pred)]
    return perceptual_loss(grams_true, grams_pred, distance, layer_weights)


@keras.saving.register_keras_serializable(package="tfrestore")
class PerceptualLoss(keras.layers.Layer):
    """Perceptual loss layer: VGG features of target and prediction, compared per example.

    Johnson et al., ECCV 2016. DeblurGAN (Kupyn et al., CVPR 2018) uses
    `PerceptualLoss(network="vgg19", layers="block3_conv3", pre_activation=True,
    input_range=(-1, 1))` on [-1, 1] images with weight 100; EnlightenGAN's self
    feature-preserving loss is in the module docstring. The target features are computed
    without gradient (as upstream); both images go through the VGG in one batch.

    Args:
        network, layers, pre_activation, weights, preprocess, input_range, skip_pools: as in
            `VGGFeatures` (defaults `"vgg19"`, `("block3_conv3",)`, False, `"imagenet"`,
            `"none"`, `(0.0, 1.0)`, `()`).
        distance: `"mse"` (default) or `"l1"`.
        layer_weights: optional weight per layer (default 1 each).
        normalize_features: instance-normalize the features before the distance, as in
            `perceptual_loss`; default False.
        **kwargs: Keras layer arguments (`dtype` defaults to float32).

    Call arguments:
        y_true: target images `[B, H, W, 3]`.
        y_pred: restored images, same shape.

    Returns:
        float32 `[B]`: reduce with `tf.nn.compute_average_loss`.

    Example:
        >>> loss_fn = PerceptualLoss(layers="block3_conv3", pre_activation=True)
        >>> per_example = loss_fn(target * 2 - 1, restored * 2 - 1)
    """

    def __init__(
        self,
        network="vgg19",
        layers=("block3_conv3",),
        pre_activation=False,
        weights="imagenet",
        preprocess="none",
        distance="mse",
        layer_weights=None,
        input_range=(0.0, 1.0),
        skip_pools=(),
        normalize_features=False,
        **kwargs,
    ):
        trainable = kwargs.pop("trainable", False)
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        _distance(distance)
        self.features = VGGFeatures(
            network=network,
            layers=layers,
            pre_activation=pre_activation,
            weights=weights,
            preprocess=preprocess,
            input_range=input_range,
            skip_pools=skip_pools,
            dtype=self.dtype_policy,
            name="vgg_features",
        )
        self.distance = distance
        self.normalize_features = bool(normalize_features)
        self.layer_weights = _layer_weights(len(self.features.feature_layers), layer_weights)
        self._layer_weights_arg = None if layer_weights is None else list(layer_weights)
        self.trainable = trainable
        self.built = True

    def call(self, y_true, y_pred):
        features_true, features_pred = paired_features(self.features, y_true, y_pred)
        return perceptual_loss(
            features_true,
            features_pred,
            self.distance,
            self.layer_weights,
            normalize_features=self.normalize_features,
        )

    def compute_output_shape(self, y_true_shape, y_pred_shape=None):
        return (y_true_shape[0],)

    def get_config(self):
        config = super().get_config()
        features = self.features
        config.update(
            {
                "network": features.network,
                "layers": list(features.feature_layers),
                "pre_activation": features.pre_activation,
                "weights": features.weights_source,
                "preprocess": features.preprocess,
                "distance": self.distance,
                "layer_weights": self._layer_weights_arg,
                "input_range": list(features.input_range),
                "skip_pools": list(features.skip_pools),
                "normalize_features": self.normalize_features,
            }
        )
        return config
