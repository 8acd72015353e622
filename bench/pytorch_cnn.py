#!/usr/bin/env python3
"""PyTorch reference for the project's CNNs: training throughput, with and without per-layer
gradient-norm logging.

Configurations (--config):
  example  the gradflow CNN example's model (crates/gradflow/examples/cnn/model.rs):
           Conv2d(1, 8, 3) -> ReLU -> MaxPool2d(2) -> Conv2d(8, 16, 3) -> ReLU -> MaxPool2d(2)
           -> flatten (400) -> Linear(400, 64) -> ReLU -> Linear(64, 10); batch 64 by default.
  cnn      `train bench --config cnn` (crates/train/src/bench.rs), the models crate's CNN as
           `kind = "cnn"` builds it: three stages of 8, 16 and 32 channels, two 3x3
           convolutions each (padding 1, bias, ReLU after each), the first convolution of the
           second and third stages with stride 2; global average pooling; Linear(32, 10).
           Batch 128 by default, as every `train bench` configuration.
Loss: cross-entropy (mean over the batch). Optimizer: plain SGD (lr 0.01 for example, 0.1
for cnn, as `train bench`), PyTorch's default initialization.
Data: synthetic standard-normal 1x28x28 images; labels i % 10 (example) or a pool of 16
batches with uniform labels (cnn).

Modes (--modes):
  plain     forward, loss, zero_grad, backward, opt.step
  gradnorm  plain + after backward: torch.stack([vector_norm(p.grad) for every parameter])
            read back to the host, every step

Timing: --warmup untimed steps (which also calibrate the steps per round to about --target-s
seconds, unless --steps is given), then --repeats rounds; in each round every mode runs that
many steps on the same model, so that machine drift hits the modes alike. JSON lines on stdout:
one `cnn_repeat` per round and mode, one `cnn_summary` per mode (the fields that
`cargo xtask bench-compare` reads: config, mode, steps_per_s_median, ms_per_step_median).
Run with 2 threads to compare with the project: `~/torchenv/bin/python bench/pytorch_cnn.py
--config cnn --threads 2`.
"""
import argparse
import json
import os
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# The device the model and batches live on (--device), and a wait for its queued work: CUDA
# runs asynchronously, so a timer read without it would time the launches, not the steps.
DEVICE = torch.device("cpu")


def sync():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def example_model():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 64), nn.ReLU(), nn.Linear(64, 10),
    )


# The `cnn` configuration's stages and convolutions per stage (train bench's CNN_STAGES and
# CNN_DEPTH).
CNN_STAGES = (8, 16, 32)
CNN_DEPTH = 2


def cnn_model():
    layers, c = [], 1
    for s, channels in enumerate(CNN_STAGES):
        for j in range(CNN_DEPTH):
            stride = 2 if s > 0 and j == 0 else 1
            layers += [nn.Conv2d(c, channels, 3, stride=stride, padding=1), nn.ReLU()]
            c = channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10)]
    return nn.Sequential(*layers)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="example", choices=["example", "cnn"], help="which model")
    p.add_argument("--modes", default="plain", help="comma list of plain,gradnorm")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--batch", type=int, default=None, help="examples per step (default: 64 example, 128 cnn)")
    p.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    p.add_argument("--repeats", "--rounds", type=int, default=5, dest="repeats", help="timed rounds")
    p.add_argument("--steps", type=int, default=0, help="steps per round and mode (0: calibrate)")
    p.add_argument("--target-s", type=float, default=1.5, help="seconds per round and mode when calibrating")
    p.add_argument("--flush-denormal", action="store_true", help="torch.set_flush_denormal(True) (FTZ/DAZ)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    args = p.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in ("plain", "gradnorm")]
    if unknown or not modes:
        p.error(f"--modes: expected plain and/or gradnorm, got {args.modes!r}")
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(args.flush_denormal)
    torch.manual_seed(1)
    if args.config == "example":
        batch = args.batch or 64
        model, lr = example_model(), 0.01
        pool = [(torch.randn(batch, 1, 28, 28), torch.arange(batch) % 10)]
    else:
        batch = args.batch or 128
        model, lr = cnn_model(), 0.1
        g = torch.Generator().manual_seed(2)
        pool = [(torch.randn(batch, 1, 28, 28, generator=g), torch.randint(0, 10, (batch,), generator=g)) for _ in range(16)]
    model = model.to(DEVICE)
    pool = [(x.to(DEVICE), y.to(DEVICE)) for x, y in pool]
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=lr)
    k = 0

    def step(mode):
        nonlocal k
        x, y = pool[k % len(pool)]
        k += 1
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if mode == "gradnorm":
            torch.stack([torch.linalg.vector_norm(q.grad) for q in params]).tolist()
        opt.step()

    t0 = time.perf_counter()
    for i in range(args.warmup):
        step(modes[i % len(modes)])
    sync()
    per = (time.perf_counter() - t0) / max(args.warmup, 1)
    steps = args.steps or max(10, int(args.target_s / max(per, 1e-6)))
    rates = {m: [] for m in modes}
    for r in range(args.repeats):
        for mode in modes:
            t0 = time.perf_counter()
            for _ in range(steps):
                step(mode)
            sync()
            dt = time.perf_counter() - t0
            rates[mode].append(steps / dt)
            print(json.dumps({"kind": "cnn_repeat", "config": args.config, "mode": mode, "repeat": r,
                              "steps": steps, "seconds": round(dt, 4),
                              "ms_per_step": round(1e3 * dt / steps, 4)}), flush=True)
    for mode in modes:
        med = statistics.median(rates[mode])
        print(json.dumps({
            "kind": "cnn_summary", "impl": "pytorch", "torch": torch.__version__, "config": args.config,
            "mode": mode, "device": str(DEVICE), "threads": torch.get_num_threads(),
            "flush_denormal": args.flush_denormal, "batch": batch, "lr": lr,
            "n_params": sum(q.numel() for q in params), "steps_per_repeat": steps,
            "repeats": args.repeats, "steps_per_s_median": round(med, 3),
            "ms_per_step_median": round(1e3 / med, 4), "loadavg": [round(x, 2) for x in os.getloadavg()],
        }), flush=True)


if __name__ == "__main__":
    main()
