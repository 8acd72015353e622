#!/usr/bin/env python3
"""PyTorch reference for the gradflow CNN example's training step (crates/gradflow/examples/cnn/model.rs).

Model: Conv2d(1, 8, 3) -> ReLU -> MaxPool2d(2) -> Conv2d(8, 16, 3) -> ReLU -> MaxPool2d(2)
       -> flatten (400) -> Linear(400, 64) -> ReLU -> Linear(64, 10)
Loss: cross-entropy (mean over the batch). Optimizer: plain SGD, lr 0.01.
Data: one synthetic batch of --batch standard-normal 1x28x28 images, labels i % 10 (as
examples/cnn_bench.rs uses).

Timing: --warmup steps untimed, then --rounds rounds of --steps steps, each step timed on
its own; prints one JSON line with the median ms per step. Run with 2 threads to compare
with the project: `~/torchenv/bin/python bench/pytorch_cnn.py --threads 2`.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--batch", type=int, default=64, help="examples per step")
    p.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds")
    p.add_argument("--steps", type=int, default=100, help="steps per round")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 64), nn.ReLU(), nn.Linear(64, 10),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(args.batch, 1, 28, 28)
    y = torch.arange(args.batch) % 10

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.rounds):
        for _ in range(args.steps):
            t0 = time.perf_counter()
            step()
            times.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "batch": args.batch, "ms_per_step_median": statistics.median(times)}))


if __name__ == "__main__":
    main()
