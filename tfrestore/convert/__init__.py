"""Converting PyTorch checkpoints of the upstream methods into tfrestore models.

`load_checkpoint` reads a `torch.save` file into numpy arrays without torch and without running
code from it; `state_dict` finds the weights in it; `strip_prefix` removes DataParallel's
`module.`; `from_pytorch` turns an official checkpoint into the tfrestore model, its
architecture options read from the file.
"""

from tfrestore.convert.checkpoint import CheckpointError, load_checkpoint, state_dict, strip_prefix
from tfrestore.convert.pytorch import Conversion, convert_pytorch, convert_state_dict, from_pytorch

__all__ = [
    "convert_state_dict",
    "CheckpointError",
    "Conversion",
    "convert_pytorch",
    "from_pytorch",
    "load_checkpoint",
    "state_dict",
    "strip_prefix",
]
