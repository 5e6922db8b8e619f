"""RestorationGAN: the one training step shared by every tfrestore method.

A method subclasses `RestorationGAN`, builds its generator and discriminator, and overrides
small hooks: `generator_losses` and `discriminator_losses` return one per-example tensor ([B])
per loss term, already weighted; the step sums them, reduces them over the *global* batch
(so N replicas make the same update as one replica with the whole batch) and logs each term
under its name.
"""

import keras
import tensorflow as tf

from tfrestore import losses
from tfrestore import metrics as restore_metrics
from tfrestore.layers import crop_to_size, pad_to_multiple
from tfrestore.models import limits
from tfrestore.models.schedules import ConstantThenLinearDecay


def random_bits(count, step, salt):
    """`count` pseudo-random integers in [0, 2^32) (int64 [count]) from a step and a salt.

    A counter-based integer hash (Wellons' "lowbias32" on the index mixed with the seed), so
    the numbers are the same with and without XLA and on every device. TensorFlow's stateless
    random ops are not: under XLA they derive their Philox key from the seed differently
    (measured: other numbers for the same seed), so an XLA-compiled step would train on other
    draws than the same step without it.
    """
    seed = _hash32(_hash32(tf.cast(step, tf.int64)) + tf.cast(salt, tf.int64))
    return _hash32(tf.range(count, dtype=tf.int64) * 0x9E3779B9 + seed)


def _hash32(x):
    # int64 holds each 32 x 32-bit product's low 32 bits exactly (overflow wraps modulo 2^64).
    mask = tf.constant(0xFFFFFFFF, tf.int64)
    for shift, factor in ((16, 0x7FEB352D), (15, 0x846CA68B)):
        x = tf.bitwise.bitwise_and(x, mask)
        x = tf.bitwise.bitwise_and(
            tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, shift)) * factor, mask
        )
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def _image_and_mask(inputs):
    """(image, mask or None) from the public inputs: an image, or an (image, mask) pair."""
    return tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs, None)


def _replica_info():
    context = tf.distribute.get_replica_context()
    if context is None:  # cross-replica context, e.g. eager calls outside strategy.run
        return 0, 1
    return context.replica_id_in_sync_group, context.num_replicas_in_sync


class RestorationGAN(keras.Model):
    """Base class of the tfrestore GANs: one `train_step` and `test_step` for all methods.

    Subclasses set `generator`, `discriminator` (before calling `super().__init__` returns is
    fine: they are passed in), declare their loss-term names in `generator_loss_names` and
    `discriminator_loss_names`, and override the hooks. Images at the public boundary are
    float32 RGB in [0, 1]; `to_generator_range` / `from_generator_range` convert to the
    convention the upstream generator was trained with ([-1, 1] by default).

    Loss networks (the VGG of perceptual losses) are built with random weights and get their
    pretrained ones when training or evaluation starts (`load_loss_networks`), so building,
    loading, exporting and restoring never download anything.

    Args:
        generator: keras.Model mapping degraded to restored images (generator range).
        discriminator: keras.Model scoring images (generator range).
        local_discriminator: optional keras.Model scoring local patches (EnlightenGAN, MEDFE);
            the discriminator optimizer updates it with `discriminator`.
        discriminator_steps: int, discriminator updates per generator update (default 1;
            5 for WGAN-GP as DeblurGAN). All of them score the same generated batch, as
            upstream does.
    """

    generator_loss_names = ()
    discriminator_loss_names = ()
    # Constructor arguments, stored as attributes of the same names: the model's config.
    config_names = ()
    # H and W must be multiples of this inside the generator: `call` reflect-pads and crops.
    pad_multiple = 1
    # H x W of the images export parity checks run (None: the exporter's default probe size;
    # fixed-size or large-minimum models set their own).
    serving_size = None
    # The paper's Adam settings, the defaults of `compile`; `constant_fraction` of the run at
    # `learning_rate`, then linear decay to 0 when `compile(total_steps=...)` is given.
    learning_rate = 2e-4
    generator_learning_rate_scale = 1.0  # Context Encoder's generator learns 10x faster
    beta_1 = 0.5
    beta_2 = 0.999
    constant_fraction = 0.5

    def __init__(
        self, generator, discriminator, local_discriminator=None, discriminator_steps=1, **kwargs
    ):
        # float32 whatever the global policy: the public boundary takes and returns float32
        # images; the networks inside take the policy they were built under (`precision`).
        super().__init__(dtype="float32", **kwargs)
        if int(discriminator_steps) < 1:
            raise ValueError(f"discriminator_steps must be >= 1, got {discriminator_steps}")
        self.generator = generator
        self.discriminator = discriminator
        self.local_discriminator = local_discriminator
        self.discriminator_steps = int(discriminator_steps)
        self.generator_optimizer = None
        self.discriminator_optimizer = None
        self.total_steps = None
        names = ("g_loss", *self.generator_loss_names, "d_loss", *self.discriminator_loss_names)
        self.loss_trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.psnr_metric = restore_metrics.PSNR(name="psnr")
        self.ssim_metric = restore_metrics.SSIM(name="ssim")
        self.built = True  # the sub-networks are functional models, built when constructed

    # -- conventions -------------------------------------------------------------------------

    def to_generator_range(self, images):
        """Maps public [0, 1] images to what the generator takes (default [-1, 1])."""
        return tf.convert_to_tensor(images, tf.float32) * 2.0 - 1.0

    def inputs_to_generator(self, inputs):
        """Maps the public inputs (an image, or e.g. (image, mask)) to the generator's."""
        return self.to_generator_range(inputs)

    def from_generator_range(self, outputs):
        """Maps generator outputs back to [0, 1]."""
        return tf.clip_by_value((outputs + 1.0) * 0.5, 0.0, 1.0)

    def generate(self, degraded, training=False):
        """Runs the generator on generator-range images of any H x W (pads and crops)."""
        if self.pad_multiple == 1:
            return self.generator(degraded, training=training)
        padded, size = pad_to_multiple(degraded, self.pad_multiple)
        return crop_to_size(self.generator(padded, training=training), size)

    def build(self, input_shape=None):
        # Nothing to build (see __init__), and safe to call again: `.keras` loading calls it
        # before restoring the optimizer state.
        self.built = True

    def compose(self, degraded, restored):
        """The public [0, 1] result from the inputs and the generator's output (inpainting
        models paste the prediction into the known pixels here)."""
        return self.from_generator_range(restored)

    def input_limits(self):
        """What inputs must satisfy beyond their dtype and channels, as JSON-able data (keys
        in `tfrestore.models.limits`, e.g. {"min_size": [65, 65]}); none by default. `call`
        asserts them, `check_inputs` raises on them, and exports record them so that every
        form of the model refuses the same inputs (exported graphs cannot assert)."""
        return {}

    def input_requirements(self, inputs):
        """The checks of `input_limits` on `inputs`: a list of (ok, message), `ok` a scalar
        bool tensor."""
        return limits.requirements(limits.model_limits(self), *_image_and_mask(inputs))

    def check_inputs(self, inputs):
        """Raises ValueError with the message of the first requirement `inputs` fail (eager:
        the CLI checks each file before running the model)."""
        limits.check(limits.model_limits(self), *_image_and_mask(inputs))

    def unchecked_call(self, inputs, training=False):
        """`call` without the input requirements (what exported graphs run)."""
        restored = self.generate(self.inputs_to_generator(inputs), training=training)
        return self.compose(inputs, restored)

    def call(self, inputs, training=False):
        checks = [
            tf.debugging.assert_equal(ok, True, message=message)
            for ok, message in self.input_requirements(inputs)
        ]
        with tf.control_dependencies(checks):
            return self.unchecked_call(inputs, training=training)

    # What exported graphs take and return: each input is float32 NHWC with dynamic batch,
    # height and width (images 3 channels, masks 1); `serving_outputs` names the outputs.
    serving_inputs = {"image": 3}

    def serving_outputs(self, *inputs):
        """{name: tensor} returned by exported signatures (default: the restored image)."""
        inputs = inputs[0] if len(inputs) == 1 else inputs
        return {"restored": self.unchecked_call(inputs, training=False)}

    def panel_images(self, inputs):
        """Images shown between degraded and target in TensorBoard panels ([B, H, W, 3] each)."""
        return [self(inputs, training=False)]

    # -- hooks -------------------------------------------------------------------------------

    def generator_losses(self, degraded, restored, target):
        """Weighted per-example generator loss terms {name: [B]} (generator range)."""
        raise NotImplementedError

    def discriminator_losses(self, degraded, restored, target):
        """Weighted per-example discriminator loss terms {name: [B]} (generator range)."""
        raise NotImplementedError

    def per_example_uniform(self, batch_size, salt=0):
        """U(0, 1) values of shape [B, 1, 1, 1], one per example of the *global* batch.

        Drawn statelessly from the training step and the example's global index, so one
        replica with the whole batch and N replicas with a slice each draw the same numbers
        (upstream code that draws per batch cannot be checked that way).
        """
        replica_id, num_replicas = _replica_info()
        bits = random_bits(batch_size * num_replicas, self.discriminator_optimizer.iterations, salt)
        values = tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32) / 2.0**24  # [0, 1)
        local = values[replica_id * batch_size : (replica_id + 1) * batch_size]
        return tf.reshape(local, [-1, 1, 1, 1])

    def same_random_patches(self, images, num_patches, size, salt=7):
        """The same `num_patches` random size x size patch positions cut from each batch.

        Args:
            images: sequence of [B, H, W, C] batches of one size, H and W >= size.
            num_patches: int; size: int; salt: int, separates independent draws.

        Returns:
            One [num_patches * B, size, size, C] tensor per batch (patch-major). Positions are
            drawn statelessly from the generator's step, so the discriminator and generator
            updates of one step, and all replicas, cut the same patches.
        """
        shape = tf.shape(images[0])
        limits = tf.cast(tf.stack([shape[1], shape[2]]) - size + 1, tf.int64)
        bits = random_bits(2 * num_patches, self.generator_optimizer.iterations, salt)
        corners = tf.cast(tf.reshape(bits, [num_patches, 2]) % limits, tf.int32)
        patches = [[] for _ in images]
        for index in range(num_patches):
            top, left = corners[index, 0], corners[index, 1]
            for batch, image in zip(patches, images, strict=True):
                batch.append(image[:, top : top + size, left : left + size])
        return [tf.concat(batch, axis=0) for batch in patches]

    def get_config(self):
        return {"name": self.name, **{name: getattr(self, name) for name in self.config_names}}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # -- training ----------------------------------------------------------------------------

    def compile(
        self,
        generator_optimizer=None,
        discriminator_optimizer=None,
        total_steps=None,
        learning_rate=None,
        beta_1=None,
        beta_2=None,
        constant_fraction=None,
        **kwargs,
    ):
        """Configures training; `None` optimizers mean the paper's Adam.

        Args:
            generator_optimizer: keras optimizer for the generator (default: the paper's Adam).
            discriminator_optimizer: keras optimizer for the discriminator(s) (default: idem).
            total_steps: int, generator steps of the whole run; with the default optimizers
                the learning rate is constant for `constant_fraction` of it, then decays
                linearly to 0.
            learning_rate, beta_1, beta_2, constant_fraction: floats overriding the paper's
                values (class attributes of the same names) in the default optimizers; the
                Context Encoder's generator keeps its 10x `generator_learning_rate_scale`.
            **kwargs: passed to `keras.Model.compile` (e.g. `run_eagerly`, `jit_compile`).

        Networks built under the `mixed_float16` policy get dynamic loss scaling: each of their
        optimizers is wrapped in a `keras.optimizers.LossScaleOptimizer` (unless it is one),
        so a step whose gradients are not finite is skipped and the scale halved. The training
        logs then carry each optimizer's current scale as `g_loss_scale` and `d_loss_scale`
        (in the fit history and on TensorBoard).
        """
        self.total_steps = total_steps
        adam = {
            "learning_rate": self.learning_rate if learning_rate is None else learning_rate,
            "beta_1": self.beta_1 if beta_1 is None else beta_1,
            "beta_2": self.beta_2 if beta_2 is None else beta_2,
            "constant_fraction": (
                self.constant_fraction if constant_fraction is None else constant_fraction
            ),
        }
        self.generator_optimizer = _loss_scaled(
            generator_optimizer
            or _adam(total_steps, scale=self.generator_learning_rate_scale, **adam),
            self.generator,
        )
        self.discriminator_optimizer = _loss_scaled(
            discriminator_optimizer or _adam(total_steps, **adam), self.discriminator
        )
        super().compile(optimizer=self.generator_optimizer, **kwargs)
        # Built here, on their own variables: under MirroredStrategy a custom train_step with
        # two optimizers otherwise fails at its first step, and `.keras` loading would drop
        # their state.
        self.generator_optimizer.build(self.generator.trainable_variables)
        self.discriminator_optimizer.build(self.discriminator_trainable_variables)

    @property
    def discriminator_trainable_variables(self):
        """Variables the discriminator optimizer updates (all discriminators of the method)."""
        networks = [self.discriminator, self.local_discriminator]
        return [v for net in networks if net is not None for v in net.trainable_variables]

    def load_loss_networks(self):
        """Loads the pretrained weights of the loss networks that do not hold them yet.

        `fit` and `evaluate` call it before their first step (and `tfrestore.multiworker`
        before its loop); a loop of your own that calls `train_step` must call it first. It is
        the only place the ImageNet VGG weights are fetched.

        Raises:
            tfrestore.losses.VGGWeightsUnavailable: offline with no cached weights (the
                message names the file, the Keras cache path and the `vgg_weights` option).
        """
        for layer in self._flatten_layers(include_self=False):
            if isinstance(layer, losses.VGGFeatures):
                layer.load_pretrained()

    def make_train_function(self, force=False):
        self.load_loss_networks()
        return super().make_train_function(force)

    def make_test_function(self, force=False):
        self.load_loss_networks()
        return super().make_test_function(force)

    def get_compile_config(self):
        if self.generator_optimizer is None:  # never compiled: nothing to restore
            return None
        return {
            "generator_optimizer": keras.saving.serialize_keras_object(self.generator_optimizer),
            "discriminator_optimizer": keras.saving.serialize_keras_object(
                self.discriminator_optimizer
            ),
            "total_steps": self.total_steps,
        }

    def compile_from_config(self, config):
        self.compile(
            generator_optimizer=keras.saving.deserialize_keras_object(
                config["generator_optimizer"]
            ),
            discriminator_optimizer=keras.saving.deserialize_keras_object(
                config["discriminator_optimizer"]
            ),
            total_steps=config.get("total_steps"),
        )

    @property
    def metrics(self):
        return [*self.loss_trackers.values(), self.psnr_metric, self.ssim_metric]

    def _reduce(self, terms):
        """Sums per-example terms and averages over the global batch: (total, {name: value})."""
        scalars = {name: tf.nn.compute_average_loss(value) for name, value in terms.items()}
        return tf.add_n(list(scalars.values())), scalars

    def _track(self, total_name, total, scalars):
        # compute_average_loss gives this replica's share of the global mean; scale back so
        # the logged value is the true mean once the trackers average over replicas.
        num_replicas = _replica_info()[1]
        self.loss_trackers[total_name].update_state(total * num_replicas)
        for name, value in scalars.items():
            self.loss_trackers[name].update_state(value * num_replicas)

    def unpack_batch(self, data):
        """Splits a batch into (degraded, target) in [0, 1]. The target's first 3 channels are
        the image; a method may append more (MEDFE's structure image)."""
        degraded, target, _ = keras.utils.unpack_x_y_sample_weight(data)
        if target is None:
            raise ValueError(f"{type(self).__name__} trains on (degraded, target) pairs")
        return degraded, target

    def train_step(self, data):
        degraded, target = self.unpack_batch(data)
        degraded = self.inputs_to_generator(degraded)
        target = self.to_generator_range(target)
        with tf.GradientTape() as generator_tape:
            restored = self.generate(degraded, training=True)
            with generator_tape.stop_recording():
                fake = tf.nest.map_structure(tf.stop_gradient, restored)
                for _ in range(self.discriminator_steps):
                    d_total, d_scalars = self._discriminator_update(degraded, fake, target)
            g_terms = self.generator_losses(degraded, restored, target)
            g_total, g_scalars = self._reduce(g_terms)
            # Multiplied by the loss scale under mixed_float16 (the optimizer divides the
            # gradients by it again), unchanged otherwise.
            g_scaled = self.generator_optimizer.scale_loss(g_total)
        variables = self.generator.trainable_variables
        gradients = generator_tape.gradient(g_scaled, variables)
        self.generator_optimizer.apply_gradients(zip(gradients, variables))
        self._track("d_loss", d_total, d_scalars)
        self._track("g_loss", g_total, g_scalars)
        logs = {name: tracker.result() for name, tracker in self.loss_trackers.items()}
        return {**logs, **self._loss_scales()}

    def _loss_scales(self):
        """{"g_loss_scale": ..., "d_loss_scale": ...}: the current dynamic scale of each
        optimizer that is a `LossScaleOptimizer` (mixed_float16), as float32 scalars."""
        optimizers = {"g": self.generator_optimizer, "d": self.discriminator_optimizer}
        return {
            f"{prefix}_loss_scale": tf.convert_to_tensor(optimizer.dynamic_scale, tf.float32)
            for prefix, optimizer in optimizers.items()
            if isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        }

    def _discriminator_update(self, degraded, fake, target):
        variables = self.discriminator_trainable_variables
        with tf.GradientTape() as tape:
            total, scalars = self._reduce(self.discriminator_losses(degraded, fake, target))
            scaled = self.discriminator_optimizer.scale_loss(total)
        gradients = tape.gradient(scaled, variables)
        self.discriminator_optimizer.apply_gradients(zip(gradients, variables))
        return total, scalars

    def test_step(self, data):
        degraded, target = self.unpack_batch(data)
        degraded_g = self.inputs_to_generator(degraded)
        target_g = self.to_generator_range(target)
        restored_g = self.generate(degraded_g, training=False)
        d_total, d_scalars = self._reduce(
            self.discriminator_losses(degraded_g, restored_g, target_g)
        )
        g_total, g_scalars = self._reduce(self.generator_losses(degraded_g, restored_g, target_g))
        self._track("d_loss", d_total, d_scalars)
        self._track("g_loss", g_total, g_scalars)
        restored = self.compose(degraded, restored_g)
        self.psnr_metric.update_state(target[..., :3], restored)
        self.ssim_metric.update_state(target[..., :3], restored)
        return {metric.name: metric.result() for metric in self.metrics}


def _loss_scaled(optimizer, network):
    """`optimizer` wrapped in a dynamic LossScaleOptimizer if `network` computes in float16
    (float16 gradients underflow without it), else `optimizer` itself."""
    if network.compute_dtype != "float16" or isinstance(
        optimizer, keras.optimizers.LossScaleOptimizer
    ):
        return optimizer
    return keras.optimizers.LossScaleOptimizer(optimizer)


def _adam(total_steps, learning_rate, beta_1, beta_2, constant_fraction, scale=1.0):
    """Adam at `learning_rate * scale`, constant then linearly decaying to 0 when the run's
    steps are known (`total_steps`)."""
    learning_rate = float(learning_rate) * scale
    if total_steps:
        constant = int(total_steps * float(constant_fraction))
        learning_rate = ConstantThenLinearDecay(
            learning_rate, constant, max(total_steps - constant, 1)
        )
    return keras.optimizers.Adam(learning_rate, beta_1=float(beta_1), beta_2=float(beta_2))
