"""Exports a trained tfrestore model to a SavedModel folder and/or a TFLite file.

    python export/export_model.py MODEL.keras --saved-model out/saved_model \
        --tflite out/model.tflite [--quantize float16|dynamic|int8 --representative IMAGES...]

Each export is checked against the Keras model (max abs error and PSNR are printed) and
written only if the check passes. All the work is in `tfrestore.export`; `tfrestore export`
does the same.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .keras file saved from a tfrestore model")
    parser.add_argument("--saved-model", help="output SavedModel folder")
    parser.add_argument("--tflite", help="output .tflite file")
    parser.add_argument(
        "--quantize",
        choices=("float32", "float16", "dynamic", "int8"),
        default="float32",
        help="TFLite precision (default float32)",
    )
    parser.add_argument(
        "--representative",
        nargs="+",
        metavar="IMAGES",
        help="image files or folders to calibrate --quantize int8 (center crops of 256 px)",
    )
    parser.add_argument("--no-check", action="store_true", help="skip the parity checks")
    args = parser.parse_args(argv)
    if not (args.saved_model or args.tflite):
        parser.error("give --saved-model DIR and/or --tflite FILE")
    if args.quantize == "int8" and not args.representative:
        parser.error("--quantize int8 needs --representative IMAGES")

    from tfrestore import export
    from tfrestore.inference import load_keras_model

    try:
        model = load_keras_model(args.model)
        if args.saved_model:
            print(export.export_saved_model(model, args.saved_model, check=not args.no_check))
        if args.tflite:
            representative = None
            if args.representative:
                representative = export.representative_images(args.representative)
            report = export.export_tflite(
                model,
                args.tflite,
                quantize=None if args.quantize == "float32" else args.quantize,
                representative_data=representative,
                check=not args.no_check,
                saved_model_dir=args.saved_model,
            )
            print(report)
    except (OSError, ValueError, export.ExportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
