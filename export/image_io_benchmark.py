"""Time of reading and writing photo files with tfrestore.data, on CPU.

    python export/image_io_benchmark.py [--size 3000 4000] [--runs 5] [--files 200]

Writes one synthetic photo of `--size` (height, width; smooth colours plus fine noise, so
encoders have detail to keep) as a JPEG with an EXIF orientation tag, a JPEG without, an 8-bit
PNG and a 16-bit PNG with an ICC profile, and prints the median of `--runs` runs (after one
warm-up) of:

- reading each: `decode_image_tensor` alone (the pixels as stored, what every read costs at
  least) and `read_photo` (header, pixel limit, decoding, EXIF orientation, bit depth, ICC);
- writing the image in each output format `restore` may write (`write_image`);
- building a training pipeline's reader (`upright_reader`) over `--files` small PNG files with
  and without orientation tags: the header parsing added per file.
"""

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmark import median_ms  # noqa: E402 (export/benchmark.py, beside this script)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=(3000, 4000), metavar=("H", "W"))
    parser.add_argument("--runs", type=int, default=5, help="timed runs (median)")
    parser.add_argument("--files", type=int, default=200, help="files for the reader build")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.files < 1 or min(args.size) < 8:
        parser.error("--runs and --files must be >= 1, --size at least 8 8")
    return args


def synthetic_photo(height, width):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    coarse = rng.random((1, max(height // 64, 2), max(width // 64, 2), 3), dtype=np.float32)
    smooth = tf.image.resize(coarse, (height, width)).numpy()[0]
    noise = rng.normal(0.0, 0.03, (height, width, 3)).astype(np.float32)
    return np.clip(smooth + noise, 0.0, 1.0)


def main(argv=None):
    args = parse_args(argv)
    import numpy as np
    import tensorflow as tf
    from PIL import Image, ImageCms

    from tfrestore import data

    height, width = args.size
    photo = synthetic_photo(height, width)
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 6
    pixels = np.round(photo * 255).astype(np.uint8)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        files = {
            "JPEG, EXIF orientation 6": os.path.join(folder, "tagged.jpg"),
            "JPEG": os.path.join(folder, "plain.jpg"),
            "PNG 8-bit": os.path.join(folder, "8.png"),
            "PNG 16-bit + ICC": os.path.join(folder, "16.png"),
        }
        Image.fromarray(pixels).save(files["JPEG, EXIF orientation 6"], quality=95, exif=exif)
        Image.fromarray(pixels).save(files["JPEG"], quality=95)
        data.write_image(files["PNG 8-bit"], photo)
        data.write_image(files["PNG 16-bit + ICC"], photo, bit_depth=16, icc_profile=profile)
        for name, path in files.items():
            contents = tf.constant(open(path, "rb").read())
            decode = median_ms(lambda c=contents: data.decode_image_tensor(c), args.runs, 1)
            read = median_ms(lambda p=path: data.read_photo(p), args.runs, 1)
            rows.append((f"read {name}", f"{decode:.0f} decode only", f"{read:.0f}"))
        for extension, options in (
            (".jpg", {}),
            (".png", {}),
            (".png", {"bit_depth": 16, "icc_profile": profile}),
            (".webp", {}),
            (".tif", {}),
        ):
            path = os.path.join(folder, f"out{extension}")
            write = median_ms(
                lambda p=path, o=options: data.write_image(p, photo, **o), args.runs, 1
            )
            label = f"write {extension}" + (" 16-bit + ICC" if options else "")
            rows.append((label, "", f"{write:.0f}"))
        small = (np.random.default_rng(1).random((32, 48, 3)) * 255).astype(np.uint8)
        for tagged in (False, True):
            paths = [os.path.join(folder, f"small{tagged:d}_{i}.png") for i in range(args.files)]
            for path in paths:
                Image.fromarray(small).save(path, exif=exif if tagged else None)
            build = median_ms(lambda p=paths: data.upright_reader(p), args.runs, 1)
            per_file = 1000 * build / args.files
            label = f"upright_reader, {args.files} PNGs" + (" (tagged)" if tagged else "")
            rows.append((label, "", f"{build:.1f} ({per_file:.0f} us/file)"))
    print(f"{height}x{width} photo, median of {args.runs} runs, milliseconds")
    print(f"{'':38} {'baseline':>18} {'tfrestore':>22}")
    for label, baseline, ours in rows:
        print(f"{label:38} {baseline:>18} {ours:>22}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
