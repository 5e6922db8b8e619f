"""Training-step time of tfrestore against the official PyTorch loop body on CPU (developer script).

    PYTHONPATH=/path/to/torch:. .venv/bin/python benchmarks/official_step.py \\
        --upstream-root ../upstream [--methods deblur_gan context_encoder enlighten_gan]
        [--modes float32 mixed_bfloat16] [--runs 5] [--warmup 8] [--threads 2] [--batch N]
        [--size N]

For each method this builds the official networks, losses and optimizers from the upstream
repository's own code (paper width, the release's training options) and times one iteration of
its training loop body as upstream runs it, interleaved with one `train_step` of tfrestore's
model at the same recipe, batch and crop under each of `--modes` (float32 and mixed_bfloat16
by default; built and timed as `benchmarks/train_step.py` does), and prints the median ms/step
of each and the ratio official / ours (> 1: ours is faster). The official code trains in
float32 only.

- DeblurGAN (KupynOrest/DeblurGAN a6f4ad0, the paper's commit, `deblurgan_a6f4ad0`):
  `ConditionalGAN.optimize_parameters` with the README's options (resnet_9blocks, instance
  norm, dropout, `--learn_residual`, WGAN-GP, perceptual loss on VGG19 conv3_3): one generator
  forward, 5 critic updates with gradient penalty, one generator update. Batch 1 at 256.
- EnlightenGAN (VITA-Group/EnlightenGAN, `enlightengan`): `SingleModel.optimize_parameters`
  with the options of its `scripts/script.py --train` (global and patch discriminators, 5 extra
  patches, relativistic LSGAN, self-feature-preserving VGG16 relu5_1 loss on the image and the
  patches). Batch 1 at 320 by default (the release used 32 on 3 GPUs).
- Context Encoder (BoyuanJiang/context_encoder_pytorch, `context_encoder`): the body of the
  loop of its `train.py` (a script that trains on import, so the body is restated here line for
  line): D on the real centre and on the detached fake, then G on adversarial + weighted L2.
  Batch 64 at 128.
- MEDFE (KumapowerLIU/Rethinking-Inpainting-MEDFE, `medfe`, reconstructed file by file from
  the stored index: see its COMMITS.txt): `MEDFE.optimize_parameters` with its train options'
  defaults (global and local discriminators, L1, perceptual, style and the structure/texture
  losses). Batch 1 at 256. With both models in one process the run peaks at about 7.5 GB
  (a run here was killed by the out-of-memory killer while other jobs filled the 24 GB).
- AttentiveGAN: the official repository (rui1996/DeRaindrop) publishes no training code, so
  there is nothing to compare.

Data are random tensors of the recipe's shape on both sides (step time does not depend on
them); VGG weights are random on both sides (offline), same architecture. Threads: PyTorch
`torch.set_num_threads(N)`, TensorFlow intra- and inter-op N. Each round times one official
step then one of ours in each mode, so a load change on a shared machine hits all alike.
Both sides run untimed warm-up steps first (`--warmup`, 8 by default): on the AVX2 machine the
official DeblurGAN step alone took 9.3 s at its first step and settled at 6.8 s after about 8
(user CPU time 17.7 -> 13.4 s), ours 7.9 -> 6.5-7.0 s; with 2 warm-up steps the official figure
came out 9.3, 8.6 and 7.2 s in three runs.

`--flops` times the official steps only and prints their convolution arithmetic (torch's own
FLOP formulas, forward and backward, the gradient penalty's double backward included), the
rate the official step sustains over it, the rate a step doing the same arithmetic would have
to sustain to be 1.2x faster, and the time and rate of the step's convolutions replayed alone
with its shapes (best of 3 each; isolated calls run colder than in the step, so this can come
out above the step's own time).

Runs with torch installed outside the venv (never a dependency), from the repository root;
it reuses `tests/fixtures/pytorch/compare_official.py` to import the upstream code.
"""

import argparse
import contextlib
import functools
import io
import os
import statistics
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np
import torch

# Before TensorFlow loads: torch's optimizers import torch._dynamo, and with it triton, whose
# import crashes the process (segmentation fault) once TensorFlow is loaded.
import torch._dynamo  # noqa: F401
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map
from torch.utils.flop_counter import flop_registry

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests" / "fixtures" / "pytorch")]

import compare_official  # noqa: E402
import train_step  # noqa: E402

METHODS = ("deblur_gan", "enlighten_gan", "context_encoder", "medfe", "attentive_gan")
# (crop, batch) of each comparison unless --size / --batch override them.
RECIPES = {
    "deblur_gan": (256, 1),
    "enlighten_gan": (320, 1),
    "context_encoder": (128, 64),
    "medfe": (256, 1),
}
# EnlightenGAN's release training flags (its scripts/script.py --train, without the data and
# display ones).
ENLIGHTEN_TRAIN_FLAGS = (
    "--dataroot . --no_dropout --name enlightening --model single --dataset_mode unaligned "
    "--which_model_netG sid_unet_resize --which_model_netD no_norm_4 --patchD --patch_vgg "
    "--patchD_3 5 --n_layers_D 5 --n_layers_patchD 4 --patchSize 32 --skip 1 --self_attention "
    "--use_norm 1 --use_wgan 0 --use_ragan --hybrid_loss --times_residual --instance_norm 0 "
    "--vgg 1 --vgg_choose relu5_1"
).split()


# torchvision's VGG `features` configurations (D: VGG16, E: VGG19); "M" is a 2x2 max pool.
VGG_FEATURES = {
    "vgg16": (64, 64, "M", 128, 128, "M", *[256] * 3, "M", *[512] * 3, "M", *[512] * 3, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", *[256] * 4, "M", *[512] * 4, "M", *[512] * 4, "M"),
}


def torchvision_vgg(name, pretrained=False, **kwargs):
    """torchvision's `models.<name>` with random weights (its `features`, all upstream uses);
    torchvision is not installed here and ImageNet weights cannot be downloaded."""
    layers, channels = [], 3
    for width in VGG_FEATURES[name]:
        if width == "M":
            layers.append(torch.nn.MaxPool2d(2, 2))
        else:
            layers += [torch.nn.Conv2d(channels, width, 3, padding=1), torch.nn.ReLU(True)]
            channels = width
    return types.SimpleNamespace(features=torch.nn.Sequential(*layers))


def nchw(rng, batch, channels, size, low=-1.0, high=1.0):
    return torch.from_numpy(rng.uniform(low, high, (batch, channels, size, size)).astype("f4"))


def deblur_gan(root, size, batch, rng):
    """One `ConditionalGAN.optimize_parameters` of DeblurGAN a6f4ad0 as a callable."""
    with compare_official.upstream(root / "deblurgan_a6f4ad0"):
        from models.conditional_gan_model import ConditionalGAN
        from options.train_options import TrainOptions

        options = TrainOptions()
        options.initialize()
        flags = f"--dataroot . --learn_residual --fineSize {size} --batchSize {batch}"
        opt = options.parser.parse_args(flags.split())
        opt.isTrain, opt.gpu_ids = True, []
        model = ConditionalGAN()
        model.initialize(opt)
    data = {"A": nchw(rng, batch, 3, size), "B": nchw(rng, batch, 3, size), "A_paths": ["a"]}

    def step():
        model.set_input(data)
        model.optimize_parameters()

    return step


def enlighten_gan(root, size, batch, rng):
    """One `SingleModel.optimize_parameters` of EnlightenGAN's release recipe as a callable."""
    with compare_official.upstream(root / "enlightengan"):
        from models import networks
        from models.single_model import SingleModel
        from options.train_options import TrainOptions

        networks.load_vgg16 = lambda model_dir, gpu_ids: networks.Vgg16()  # random weights
        options = TrainOptions()
        options.initialize()
        flags = [*ENLIGHTEN_TRAIN_FLAGS, "--fineSize", str(size), "--batchSize", str(batch)]
        opt = options.parser.parse_args(flags)
        opt.isTrain, opt.gpu_ids = True, compare_official.NoGPU()
        model = SingleModel()
        model.initialize(opt)
    dark = nchw(rng, batch, 3, size)
    r, g, b = dark[:, 0:1] + 1, dark[:, 1:2] + 1, dark[:, 2:3] + 1
    data = {
        "A": dark,
        "B": nchw(rng, batch, 3, size),
        "input_img": dark,
        "A_gray": 1.0 - (0.299 * r + 0.587 * g + 0.114 * b) / 2.0,
        "A_paths": ["a"],
    }

    def step():
        model.set_input(data)
        model.optimize_parameters(epoch=1)

    return step


def context_encoder(root, size, batch, rng):
    """One iteration of the loop in the Context Encoder's train.py as a callable."""
    checkout = root / "context_encoder"
    with compare_official.upstream(checkout):
        from model import _netG, _netlocalD

    # train.py's defaults.
    opt = types.SimpleNamespace(
        ngpu=1, nc=3, nef=64, ngf=64, ndf=64, nBottleneck=4000, imageSize=size, overlapPred=4,
        wtl2=0.998, lr=0.0002, beta1=0.5,
    )  # fmt: skip
    weights_init = compare_official.upstream_function(checkout / "train.py", "weights_init")
    netG, netD = _netG(opt), _netlocalD(opt)
    netG.apply(weights_init)
    netD.apply(weights_init)
    criterion = torch.nn.BCELoss()
    optimizerD = torch.optim.Adam(netD.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
    real_cpu = nchw(rng, batch, 3, size)
    quarter, half, overlap, wtl2 = size // 4, size // 2, opt.overlapPred, opt.wtl2
    hole = slice(quarter + overlap, quarter + half - overlap)

    def step():
        # train.py, the body of `for i, data in enumerate(dataloader, 0)` (without printing).
        real_center = real_cpu[:, :, quarter : quarter + half, quarter : quarter + half].clone()
        input_cropped = real_cpu.clone()
        for channel, value in enumerate((117.0, 104.0, 123.0)):
            input_cropped[:, channel, hole, hole] = 2 * value / 255.0 - 1.0
        netD.zero_grad()
        label = torch.full((batch,), 1.0)
        output = netD(real_center)
        errD_real = criterion(output, label.view(-1, 1))
        errD_real.backward()
        fake = netG(input_cropped)
        label.fill_(0.0)
        output = netD(fake.detach())
        errD_fake = criterion(output, label.view(-1, 1))
        errD_fake.backward()
        optimizerD.step()
        netG.zero_grad()
        label.fill_(1.0)
        output = netD(fake)
        errG_D = criterion(output, label.view(-1, 1))
        wtl2Matrix = real_center.clone()
        wtl2Matrix.fill_(wtl2 * 10)
        wtl2Matrix[:, :, overlap : half - overlap, overlap : half - overlap] = wtl2
        errG_l2 = ((fake - real_center).pow(2) * wtl2Matrix).mean()
        errG = (1 - wtl2) * errG_D + wtl2 * errG_l2
        errG.backward()
        optimizerG.step()

    return step


def medfe(root, size, batch, rng):
    """One `MEDFE.optimize_parameters` (its train.py loop body) as a callable."""
    with compare_official.upstream(root / "medfe"):
        from models.MEDFE import MEDFE
        from options.train_options import TrainOptions

        options = TrainOptions()
        opt = options.initialize(argparse.ArgumentParser()).parse_args([])
        opt.isTrain, opt.gpu_ids = True, []
        opt.fineSize, opt.batchSize = size, batch
        model = MEDFE(opt)
    model.device = torch.device("cpu")  # set to 'cuda' in MEDFE.__init__
    detail, structure = nchw(rng, batch, 3, size), nchw(rng, batch, 3, size)
    mask = torch.zeros([batch, 1, size, size])
    mask[..., size // 4 : -size // 4, size // 4 : -size // 4] = 1.0  # 1 = hole

    def step():
        # set_input fills the hole of its first argument in place: fresh tensors, as the
        # DataLoader gives every iteration.
        model.set_input(detail.clone(), structure.clone(), mask)
        model.optimize_parameters()

    return step


OFFICIAL = {
    "deblur_gan": deblur_gan,
    "enlighten_gan": enlighten_gan,
    "context_encoder": context_encoder,
    "medfe": medfe,
}


def ours(name, size, batch, mode):
    """One `train_step` of tfrestore's `name` under `mode` (a `benchmarks/train_step.py` mode)
    at size x size, batch `batch`, as a callable (as that script builds and times it)."""
    _, _, kwargs = train_step.recipe(name, size, batch)
    model = train_step.build(name, mode, kwargs)
    step = train_step.step_function(model, train_step.synthetic_batch(name, size, batch))
    return functools.partial(train_step.timed, step)


def timed_torch(step):
    start = time.perf_counter()
    step()  # PyTorch on CPU runs eagerly: the step is done when the call returns
    return time.perf_counter() - start


def official(name, args):
    """(size, batch, one official step as a callable) of one method at its recipe's crop and
    batch, or `--size` / `--batch`."""
    size, batch = RECIPES[name]
    size, batch = args.size or size, args.batch or batch
    rng = np.random.default_rng(args.seed)
    with contextlib.redirect_stdout(io.StringIO()):  # upstream prints options and networks
        return size, batch, OFFICIAL[name](args.upstream_root, size, batch, rng)


def compare(name, args):
    """(size, batch, {"official" or mode: median s}) of one method."""
    size, batch, official_step = official(name, args)
    steps = {"official": functools.partial(timed_torch, official_step)}
    steps.update({mode: ours(name, size, batch, mode) for mode in args.modes})
    for _ in range(args.warmup):
        for step in steps.values():
            step()
    times = {key: [] for key in steps}
    for _ in range(args.runs):
        for key, step in steps.items():
            times[key].append(step())
    return size, batch, {key: statistics.median(values) for key, values in times.items()}


CONVOLUTIONS = (torch.ops.aten.convolution, torch.ops.aten.convolution_backward)


class ConvolutionRecorder(TorchDispatchMode):
    """Records the convolutions (forward and backward) run under it: copies of their arguments
    and their FLOPs by torch's own formulas (`torch.utils.flop_counter`, which count only the
    gradients asked for)."""

    def __init__(self):
        super().__init__()
        self.calls = []  # (op, args, kwargs, flops)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func._overloadpacket in CONVOLUTIONS:
            shapes = functools.partial(tree_map, lambda x: x.shape if torch.is_tensor(x) else x)
            flops = flop_registry[func._overloadpacket](
                *shapes(args), **shapes(kwargs), out_val=shapes(out)
            )
            copies = tree_map(lambda x: x.detach().clone() if torch.is_tensor(x) else x, args)
            self.calls.append((func, copies, kwargs, flops))
        return out


def official_flops(name, args):
    """(size, batch, official step s, its convolutions' GFLOP, their s replayed alone)."""
    size, batch, step = official(name, args)
    for _ in range(args.warmup):
        step()
    step_time = statistics.median(timed_torch(step) for _ in range(args.runs))
    recorder = ConvolutionRecorder()
    with recorder:
        step()
    alone = 0.0
    with torch.no_grad():
        for func, call_args, kwargs, _ in recorder.calls:
            call = functools.partial(func, *call_args, **kwargs)
            call()  # warm
            alone += min(timed_torch(call) for _ in range(3))
    flops = sum(call[-1] for call in recorder.calls)
    return size, batch, step_time, flops / 1e9, alone


def print_flops(args):
    print(
        f"official training steps, median of {args.runs} after {args.warmup} warm-up steps, "
        f"{args.threads} threads: GFLOP of their convolutions, GFLOP/s over the whole step, "
        "what a step 1.2x faster would need, and the convolutions' rate replayed alone"
    )
    print(
        f"{'method':<17}{'crop':>5}{'batch':>6}{'step ms':>9}{'conv GFLOP':>11}"
        f"{'GFLOP/s':>9}{'at 1.2x':>9}{'alone ms':>10}{'alone GFLOP/s':>14}"
    )
    for name in (name for name in args.methods if name in OFFICIAL):  # AttentiveGAN: none
        size, batch, step, gflop, alone = official_flops(name, args)
        print(
            f"{name:<17}{size:>5}{batch:>6}{1000 * step:>9.0f}{gflop:>11.1f}"
            f"{gflop / step:>9.0f}{1.2 * gflop / step:>9.0f}{1000 * alone:>10.0f}"
            f"{gflop / alone:>14.0f}",
            flush=True,
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream-root", type=Path, required=True)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=train_step.MODES,
        default=("float32", "mixed_bfloat16"),
        help="how ours trains (benchmarks/train_step.py's modes)",
    )
    parser.add_argument("--size", type=int, help="square crop (default: each recipe's)")
    parser.add_argument("--batch", type=int, help="batch size (default: each recipe's)")
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (median)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=8,
        help="untimed steps of each first (PyTorch's step time settles over about 8 steps)",
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of each framework")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--flops",
        action="store_true",
        help="time the official steps only and print their convolution arithmetic and rate",
    )
    args = parser.parse_args(argv)
    if not args.upstream_root.is_dir():
        parser.error(f"--upstream-root {args.upstream_root}: not a directory")
    if args.runs < 1 or args.warmup < 1 or args.threads < 1:
        parser.error("--runs, --warmup and --threads must be >= 1")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    compare_official.patch_torch_for_cpu()
    for vgg in VGG_FEATURES:  # DeblurGAN's and MEDFE's losses build torchvision's VGGs
        setattr(sys.modules["torchvision.models"], vgg, functools.partial(torchvision_vgg, vgg))
    warnings.simplefilter("ignore")  # upstream's deprecated calls (Variable, F.upsample, ...)
    if args.flops:
        print_flops(args)
        return

    from tfrestore.cli import use_bfc_cpu_allocator

    use_bfc_cpu_allocator()  # as the `tfrestore` command trains
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    print(
        f"ms per training step (official: float32), median of {args.runs} interleaved rounds "
        f"after {args.warmup} warm-up steps, paper width, {args.threads} threads each"
    )
    header = f"{'method':<17}{'crop':>6}{'batch':>6}{'official':>10}"
    print(header + "".join(f"{mode:>22}" for mode in args.modes))
    for name in args.methods:
        if name == "attentive_gan":
            print(f"{name:<17}  no training code upstream (DeRaindrop): nothing to compare")
            continue
        try:
            size, batch, medians = compare(name, args)
        except Exception as error:  # one method's failure must not hide the others
            message = " ".join(str(error).split())[:200]
            print(f"{name:<17}  failed: {type(error).__name__}: {message}", flush=True)
            continue
        official = medians["official"]
        row = f"{name:<17}{size:>6}{batch:>6}{1000 * official:>10.0f}"
        for mode in args.modes:
            row += f"{1000 * medians[mode]:>14.0f} ({official / medians[mode]:.2f}x)"
        print(row, flush=True)
        keras.backend.clear_session()


if __name__ == "__main__":
    main()
