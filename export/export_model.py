"""Export entry: `python export/export_model.py MODEL.keras [--saved-model DIR] [--tflite FILE]
[--quantize float16|dynamic|int8 --representative IMAGES...] [--no-check]`.

The same as `tfrestore export ...` (each export is checked against the Keras model and written
only if the check passes); all logic lives in `tfrestore.export`.
"""

import sys

from tfrestore.cli import main

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))
