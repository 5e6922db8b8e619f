"""The base of tfrestore's generators and discriminators."""

import keras


class Network(keras.Model):
    """A functional Keras model whose config is its constructor arguments.

    Subclasses build their graph in `__init__`, store each constructor argument as an
    attribute of the same name and list the names in `config_names`; `get_config` and
    `from_config` follow from that.
    """

    config_names = ()

    def get_config(self):
        config = {name: getattr(self, name) for name in self.config_names}
        return {"name": self.name, "trainable": self.trainable, **config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
