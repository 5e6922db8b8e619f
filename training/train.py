"""Training entry: `python training/train.py CONFIG [--strategy S] [--logdir DIR]`.

The same as `tfrestore train ...`; all logic lives in `tfrestore.train`.
"""

import sys

from tfrestore.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
