"""Train the channel-sparse vibration CNN and export it to examples/vibration/model.onnx.

Data: ``data.generate`` beside this file (synthetic CNC-spindle accelerometer windows,
float32 [1, 1024] in g at 8 kHz, 5 classes; see data.py). Training uses seed 1 (12000
windows, generated once); calib.npz is seed 2 and val.npz seed 3, so none of them overlap.
The validation accuracy printed here is measured on the seed-3 windows rounded to float16
and cast back to float32, exactly what val.npz holds.

Channel sparsity as in network slimming (Liu et al. 2017): an L1 penalty on every
BatchNorm scale gamma, applied as a proximal (soft-thresholding) step after each optimizer
step, gamma <- sign(gamma) * max(|gamma| - lr * lambda, 0), so gammas reach exactly 0.
Then a short fine-tuning phase keeps the dead channels dead: their gamma and beta are held
at exactly 0 (gradients masked and the values re-zeroed after every step), so a dead
channel outputs exactly 0 after its ReLU and can be removed without changing the model.
An unregularised baseline is trained first with the same recipe for comparison
(``--no-baseline`` skips it).

Deterministic: seeded, single-threaded, ``torch.use_deterministic_algorithms(True)``;
two runs give byte-identical model.onnx files (checked with torch 2.13.0 on x86-64 CPU).
Needs torch (``pip install torch==2.13.0``; not needed to use the exported model) and,
for the export check, onnxruntime.

    python examples/vibration/train.py [--out examples/vibration/model.onnx] [--epochs 40]
        [--finetune 10] [--lam 2.5e-2] [--no-baseline]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import data  # noqa: E402  (beside this file, not a package)

SEED = 0
TRAIN_SEED, TRAIN_N = 1, 12000


class VibrationCNN(nn.Module):
    """Three strided conv-BN-ReLU, max pool, a depthwise-separable block, conv-BN-ReLU,
    global average pool, fully connected. Input [1, 1, 1024], output [1, 5]."""

    def __init__(self, n_classes: int = len(data.CLASSES)) -> None:
        super().__init__()

        def cbr(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> list:
            return [nn.Conv1d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                    nn.BatchNorm1d(cout), nn.ReLU()]

        self.features = nn.Sequential(
            *cbr(1, 16, 9, 2),
            *cbr(16, 32, 5, 2),
            *cbr(32, 64, 5, 2),
            nn.MaxPool1d(2),
            *cbr(64, 64, 5, groups=64),  # depthwise
            *cbr(64, 80, 1),  # pointwise
            *cbr(80, 80, 3),
            nn.AdaptiveAvgPool1d(1),
        )
        self.classifier = nn.Linear(80, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def conv_bn_pairs(model: VibrationCNN) -> list[tuple[nn.Conv1d, nn.BatchNorm1d]]:
    mods = list(model.features)
    return [(m, mods[i + 1]) for i, m in enumerate(mods) if isinstance(m, nn.Conv1d)]


def layer_macs(model: VibrationCNN) -> list[tuple[str, int, int, int]]:
    """(name, MACs, per-(output, input)-channel-pair MACs, output length) of every conv and
    the linear layer, for a batch-1 [1, 1, N] input."""
    rows = []
    length = data.N
    for i, m in enumerate(model.features):
        if isinstance(m, nn.Conv1d):
            length = (length + 2 * m.padding[0] - m.kernel_size[0]) // m.stride[0] + 1
            cell = m.kernel_size[0] * length
            macs = m.out_channels * (m.in_channels // m.groups) * cell
            rows.append((f"features.{i}", macs, cell, length))
        elif isinstance(m, nn.MaxPool1d):
            length //= 2
    lin = model.classifier
    rows.append(("classifier", lin.in_features * lin.out_features, 1, 1))
    return rows


def removable_macs(model: VibrationCNN) -> tuple[int, int, list[float]]:
    """(removable conv MACs, total conv MACs, dead fraction per conv layer). A channel is
    dead when its BN gamma is exactly 0. A conv weight's MACs are removable when its output
    channel is dead or the input channel it reads is dead (counted once)."""
    pairs = conv_bn_pairs(model)
    macs = layer_macs(model)
    removable = total = 0
    dead_in = None
    fractions = []
    for (conv, bn), (_, layer_total, cell, _) in zip(pairs, macs):
        dead_out = (bn.weight.detach() == 0).numpy()
        fractions.append(float(dead_out.mean()))
        cin = conv.in_channels // conv.groups
        if conv.groups == 1:
            reads_dead = np.zeros((conv.out_channels, cin), bool)
            if dead_in is not None:
                reads_dead |= dead_in[None, :]
        else:  # depthwise: output channel c reads input channel c only
            reads_dead = dead_in[:, None].copy()
        cells = dead_out[:, None] | reads_dead
        removable += int(cells.sum()) * cell
        total += layer_total
        dead_in = dead_out
    return removable, total, fractions


def seed_everything(seed: int) -> None:
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


@torch.no_grad()
def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    preds = [model(torch.from_numpy(x[i:i + 500])).argmax(1) for i in range(0, len(x), 500)]
    return float((torch.cat(preds).numpy() == y).mean())


class Trainer:
    """SGD with Nesterov momentum and a cosine learning rate; optional proximal L1 step on
    the BN gammas (``lam``) and optional masks that hold dead channels at 0."""

    def __init__(self, model: VibrationCNN, epochs: int, lr: float, lam: float = 0.0,
                 dead: list[torch.Tensor] | None = None) -> None:
        self.model, self.epochs, self.lam, self.dead = model, epochs, lam, dead
        bns = [bn for _, bn in conv_bn_pairs(model)]
        self.bns = bns
        bn_params = {id(p) for bn in bns for p in (bn.weight, bn.bias)}
        decay = [p for p in model.parameters() if id(p) not in bn_params]
        no_decay = [p for p in model.parameters() if id(p) in bn_params]
        self.opt = torch.optim.SGD([{"params": decay, "weight_decay": 1e-4},
                                    {"params": no_decay, "weight_decay": 0.0}],
                                   lr=lr, momentum=0.9, nesterov=True)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, epochs)

    @torch.no_grad()
    def _after_step(self) -> None:
        if self.lam > 0:
            thr = self.opt.param_groups[0]["lr"] * self.lam
            for bn in self.bns:
                g = bn.weight
                g.copy_(torch.sign(g) * torch.clamp(g.abs() - thr, min=0.0))
        if self.dead is not None:
            for bn, mask in zip(self.bns, self.dead):
                bn.weight[mask] = 0.0
                bn.bias[mask] = 0.0

    def run(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
            tag: str, batch: int = 64) -> float:
        loss_fn = nn.CrossEntropyLoss()
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        gen = torch.Generator().manual_seed(SEED)
        for epoch in range(self.epochs):
            self.model.train()
            order = torch.randperm(len(xt), generator=gen)
            total = 0.0
            for i in range(0, len(order) - batch + 1, batch):
                idx = order[i:i + batch]
                # Random polarity: the sign of a radial accelerometer depends on mounting.
                sign = torch.randint(0, 2, (len(idx), 1, 1), generator=gen) * 2.0 - 1.0
                self.opt.zero_grad()
                loss = loss_fn(self.model(xt[idx] * sign), yt[idx])
                loss.backward()
                if self.dead is not None:
                    for bn, mask in zip(self.bns, self.dead):
                        bn.weight.grad[mask] = 0.0
                        bn.bias.grad[mask] = 0.0
                self.opt.step()
                self._after_step()
                total += loss.item() * len(idx)
            self.sched.step()
            if (epoch + 1) % 4 == 0 or epoch + 1 == self.epochs:
                _, _, fr = removable_macs(self.model)
                dead = sum(f * bn.num_features for f, bn in zip(fr, self.bns))
                print(f"{tag} epoch {epoch + 1:3d}  loss {total / len(xt):.4f}  "
                      f"val {accuracy(self.model, x_val, y_val):.4f}  "
                      f"dead channels {int(round(dead))}", flush=True)
        return accuracy(self.model, x_val, y_val)


def export(model: nn.Module, out: Path) -> None:
    """Batch-1 ONNX, opset 17, TorchScript exporter (dynamo=False), keeping the inference
    BatchNormalization nodes (TrainingMode.PRESERVE on the eval-mode model)."""
    model.eval()
    dummy = torch.zeros(1, 1, data.N)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation, constant-folding note
        torch.onnx.export(model, (dummy,), str(out), input_names=["input"],
                          output_names=["logits"], opset_version=17, dynamo=False,
                          training=torch.onnx.TrainingMode.PRESERVE)


def check_export(model: nn.Module, out: Path, x: np.ndarray) -> float:
    """Max |onnxruntime - torch| over the given samples (batch 1 each)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    model.eval()
    diff = 0.0
    with torch.no_grad():
        for s in x:
            ref = model(torch.from_numpy(s[None])).numpy()
            got = sess.run(["logits"], {"input": s[None]})[0]
            diff = max(diff, float(np.abs(ref - got).max()))
    return diff


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "model.onnx")
    ap.add_argument("--epochs", type=int, default=40, help="baseline and sparse training")
    ap.add_argument("--finetune", type=int, default=10, help="fine-tuning epochs")
    ap.add_argument("--lam", type=float, default=2.5e-2, help="L1 weight on BN gammas")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()
    start = time.perf_counter()

    x, y = data.generate(TRAIN_N, TRAIN_SEED)
    x_val, y_val = data.generate(data.VAL_N, data.VAL_SEED)
    x_val = x_val.astype(np.float16).astype(np.float32)  # what val.npz holds
    print(f"data: {len(x)} training windows (seed {TRAIN_SEED}), {len(x_val)} validation "
          f"(seed {data.VAL_SEED}), {time.perf_counter() - start:.1f} s")

    seed_everything(SEED)
    model = VibrationCNN()
    params = sum(p.numel() for p in model.parameters())
    macs = layer_macs(model)
    print(f"parameters {params}, MACs {sum(m for _, m, _, _ in macs)} "
          f"(convolutions {sum(m for n, m, _, _ in macs if n != 'classifier')})")

    if not args.no_baseline:
        seed_everything(SEED)
        base = VibrationCNN()
        t0 = time.perf_counter()
        base_acc = Trainer(base, args.epochs, args.lr).run(x, y, x_val, y_val, "baseline")
        print(f"baseline (no sparsity) validation accuracy {base_acc:.4f} "
              f"({time.perf_counter() - t0:.0f} s)")

    seed_everything(SEED)
    model = VibrationCNN()
    t0 = time.perf_counter()
    sparse_acc = Trainer(model, args.epochs, args.lr, lam=args.lam).run(
        x, y, x_val, y_val, "sparse")
    dead = [(bn.weight.detach() == 0) for _, bn in conv_bn_pairs(model)]
    print(f"after sparse training: validation accuracy {sparse_acc:.4f} "
          f"({time.perf_counter() - t0:.0f} s)")
    t0 = time.perf_counter()
    with torch.no_grad():
        for (_, bn), mask in zip(conv_bn_pairs(model), dead):
            bn.bias[mask] = 0.0
    acc = Trainer(model, args.finetune, args.lr / 5, dead=dead).run(
        x, y, x_val, y_val, "finetune")
    print(f"after fine-tuning: validation accuracy {acc:.4f} "
          f"({time.perf_counter() - t0:.0f} s)")

    removable, conv_total, fractions = removable_macs(model)
    print("dead channels (BN gamma exactly 0) per layer:")
    for (conv, bn), frac in zip(conv_bn_pairs(model), fractions):
        kind = "depthwise" if conv.groups > 1 else f"k={conv.kernel_size[0]}"
        print(f"  conv {conv.in_channels:2d}->{conv.out_channels:2d} {kind:9s}  "
              f"{int((bn.weight == 0).sum()):2d}/{bn.num_features:2d} = {frac:.1%}")
    print(f"removable convolution MACs: {removable}/{conv_total} = "
          f"{removable / conv_total:.1%}")

    export(model, args.out)
    diff = check_export(model, args.out, x_val[:8])
    print(f"onnxruntime vs torch on 8 validation windows: max abs diff {diff:.2e}")
    print(f"final validation accuracy: {acc:.4f} ({args.out}, {args.out.stat().st_size} "
          f"bytes); total time {time.perf_counter() - start:.0f} s")
    if diff > 1e-4:
        raise SystemExit(f"export mismatch {diff:.2e}")


if __name__ == "__main__":
    main()
