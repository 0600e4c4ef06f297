"""Train the small digits CNN and export it to examples/digits/model.onnx.

Data: scikit-learn's bundled 8x8 digits (no download), pixels scaled to [0, 1] by
dividing by 16, split 75/25 with ``train_test_split(..., test_size=0.25, random_state=0,
stratify=y)`` (the same split tests/test_digits_ptq.py uses).

Deterministic: seeded, single-threaded, ``torch.use_deterministic_algorithms(True)``.
Needs torch and scikit-learn (neither is needed to use the exported model).

    python examples/digits/train.py [--out examples/digits/model.onnx] [--epochs 40]
"""

from __future__ import annotations

import argparse
import os
import random
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

SEED = 0
HERE = Path(__file__).resolve().parent


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, x_test, y_train, y_test); x is float32 [N, 1, 8, 8] in [0, 1]."""
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)


class DigitsCNN(nn.Module):
    """Conv-BN-ReLU x2, max pool, conv-ReLU, global average pool, fully connected."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


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
    logits = model(torch.from_numpy(x))
    return float((logits.argmax(1).numpy() == y).mean())


def train(epochs: int, batch: int = 32, lr: float = 3e-3) -> tuple[nn.Module, float]:
    x_train, x_test, y_train, y_test = load_split()
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    gen = torch.Generator().manual_seed(SEED)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        if (epoch + 1) % 10 == 0 or epoch + 1 == epochs:
            print(f"epoch {epoch + 1:3d}  loss {total / len(xt):.4f}  "
                  f"train {accuracy(model, x_train, y_train):.4f}  "
                  f"held-out {accuracy(model, x_test, y_test):.4f}")
    return model, accuracy(model, x_test, y_test)


def export(model: nn.Module, out: Path) -> None:
    """Batch-1 ONNX, opset 17. The TorchScript exporter (dynamo=False: the new one needs
    onnxscript) with TrainingMode.PRESERVE on the eval-mode model keeps the inference-mode
    BatchNormalization nodes instead of fusing them into the convolutions, so edgeir's
    fold-batchnorm pass has work to do."""
    model.eval()
    dummy = torch.zeros(1, 1, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation, constant-folding note
        torch.onnx.export(model, (dummy,), str(out), input_names=["input"],
                          output_names=["logits"], opset_version=17, dynamo=False,
                          training=torch.onnx.TrainingMode.PRESERVE)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "model.onnx")
    ap.add_argument("--epochs", type=int, default=40)
    args = ap.parse_args()
    seed_everything(SEED)
    model, acc = train(args.epochs)
    export(model, args.out)
    print(f"FP32 held-out accuracy: {acc:.4f} ({args.out}, "
          f"{args.out.stat().st_size} bytes)")
    if acc < 0.97:
        raise SystemExit(f"held-out accuracy {acc:.4f} is below 0.97")


if __name__ == "__main__":
    main()
