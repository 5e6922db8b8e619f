"""Converting PyTorch checkpoints of the upstream methods into tfrestore models.

`load_checkpoint` reads a `torch.save` file into numpy arrays without torch and without running
code from it; `state_dict` finds the weights in it; `strip_prefix` removes DataParallel's
`module.`.
"""

from tfrestore.convert.checkpoint import CheckpointError, load_checkpoint, state_dict, strip_prefix

__all__ = ["CheckpointError", "load_checkpoint", "state_dict", "strip_prefix"]
