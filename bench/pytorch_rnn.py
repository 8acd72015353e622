#!/usr/bin/env python3
"""PyTorch CPU anchor: training throughput of recurrent nets on the adding problem, with/without
per-parameter grad-norm logging. The sibling of pytorch_mlp.py: the same flags and the same
JSON-lines fields, for `train bench --config rnn|lstm|gru` and `cargo xtask bench-compare`.

Task (Hochreiter & Schmidhuber 1997, section 5.4; Arjovsky, Shah & Bengio 2016): a sequence of
T steps of 2 features (value, marker); values are U(0, 1); exactly two steps are marked with 1,
one in each half of the sequence (the first in [0, T/2), the second in [T/2, T)), every other
marker is 0; the target is the sum of the two marked values. Always answering 1 gives an MSE of
about 1/6 = 0.167 (the variance of a sum of two U(0, 1)).

Model:
    rnn   nn.RNN(2, H, nonlinearity="tanh", batch_first=True) -> Linear(H, 1) on the last state
          h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
    lstm  nn.LSTM(2, H, batch_first=True) -> Linear(H, 1) on the last state
    gru   nn.GRU(2, H, batch_first=True) -> Linear(H, 1) on the last state (reset gate after
          the recurrent product, as the project's GRU)
One recurrent layer, h_0 = 0, PyTorch default init (uniform(-1/sqrt(H), 1/sqrt(H)) for every
recurrent weight and bias; note PyTorch has two bias vectors per cell, b_ih and b_hh).
Loss: MSE (mean over the batch). Optimizer: Adam, lr 1e-3, eps 1e-8, betas (0.9, 0.999), no wd.
Clipping: torch.nn.utils.clip_grad_norm_(params, 1.0) after backward, before the step.
Data: a pool of --pool-batches adding-problem batches of --batch sequences, made once from a
fixed seed, cycled.

Modes:
  plain     forward, loss, zero_grad, backward, clip, opt.step
  gradnorm  plain + after backward (before clipping): torch.stack([vector_norm(p.grad) for each
            parameter tensor]).tolist()  (one host transfer per step)
  gradnorm_foreach  same numbers via torch._foreach_norm (optional, faster variant)

Timing: as pytorch_mlp.py: --warmup untimed steps, steps per repeat calibrated to ~--target-s
(or --steps), --repeats timed rounds with the modes interleaved, medians reported.

FLOPs per step (estimate): 3 * 2 * batch * T * G * H * (F + H) for the recurrent products
(G = 1 for the RNN, 4 gates for the LSTM, 3 for the GRU; F = 2 input features) plus 3 * 2 * batch * H for the
read-out; elementwise gate work, the loss and the optimizer are ignored.

Output: JSON lines on stdout. kind=rnn_repeat (one per timed repeat), kind=rnn_summary (medians
per config x mode), kind=rnn_env (once).

Examples:
  python3 pytorch_rnn.py                          # rnn, lstm and gru, T = 100, all modes
  python3 pytorch_rnn.py --config lstm --modes plain --steps 20 --repeats 3
  python3 pytorch_rnn.py --custom rnn:50,lstm:50  # the same nets at T = 50
"""
import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# name: (cell, T, hidden)
CONFIGS = {
    "rnn": ("rnn", 100, 128),
    "lstm": ("lstm", 100, 128),
    "gru": ("gru", 100, 128),
}
IN_FEATURES = 2
CLIP = 1.0
ADAM_EPS = 1e-8


class SeqRegressor(nn.Module):
    """One recurrent layer over the whole sequence, a linear read-out from its last state."""

    def __init__(self, cell, hidden):
        super().__init__()
        if cell == "rnn":
            self.rnn = nn.RNN(IN_FEATURES, hidden, nonlinearity="tanh", batch_first=True)
        elif cell == "lstm":
            self.rnn = nn.LSTM(IN_FEATURES, hidden, batch_first=True)
        elif cell == "gru":
            self.rnn = nn.GRU(IN_FEATURES, hidden, batch_first=True)
        else:
            raise ValueError(f"unknown cell {cell!r} (expected rnn, lstm or gru)")
        self.readout = nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.readout(out[:, -1])


def adding_batch(batch, t, g):
    """One batch of the adding problem: x (batch, t, 2) of (value, marker), y (batch, 1)."""
    if t < 2:
        raise ValueError(f"the adding problem needs T >= 2 (one marker in each half), got {t}")
    values = torch.rand(batch, t, generator=g)
    half = t // 2
    first = torch.randint(0, half, (batch,), generator=g)
    second = torch.randint(half, t, (batch,), generator=g)
    markers = torch.zeros(batch, t)
    rows = torch.arange(batch)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = (values[rows, first] + values[rows, second]).unsqueeze(1)
    return torch.stack([values, markers], dim=2), y


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def grad_norms(params):
    # the specified logging: one vector_norm per parameter grad, stacked, one .tolist()
    return torch.stack([torch.linalg.vector_norm(p.grad) for p in params]).tolist()


def grad_norms_foreach(params):
    return torch.stack(torch._foreach_norm([p.grad for p in params])).tolist()


def make_step(model, opt, mode):
    params = list(model.parameters())

    def step(x, y):
        loss = F.mse_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norms = None
        if mode == "gradnorm":
            norms = grad_norms(params)
        elif mode == "gradnorm_foreach":
            norms = grad_norms_foreach(params)
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        return norms

    return step


# The device the model and batches live on (--device), and a wait for its queued work: CUDA
# runs asynchronously, so a timer read without it would time the launches, not the steps.
DEVICE = torch.device("cpu")


def sync():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def run_config(cfg_name, cell, t, hidden, modes, args):
    """One model/optimizer; timed repeats interleave the modes so that machine drift hits every
    mode alike. The grad-norm computation does not change the training trajectory."""
    torch.manual_seed(args.seed)
    model = SeqRegressor(cell, hidden).to(DEVICE)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, eps=ADAM_EPS)
    params = list(model.parameters())
    g = torch.Generator().manual_seed(args.seed + 1)
    pool = [tuple(x.to(DEVICE) for x in adding_batch(args.batch, t, g)) for _ in range(args.pool_batches)]
    steps_fn = {m: make_step(model, opt, m) for m in modes}
    nb = len(pool)
    gates = {"lstm": 4, "gru": 3}.get(cell, 1)
    flops_per_step = 3 * 2 * args.batch * (t * gates * hidden * (IN_FEATURES + hidden) + hidden)
    n_params = sum(p.numel() for p in params)

    k = 0
    t0 = time.perf_counter()
    for i in range(args.warmup):
        steps_fn[modes[i % len(modes)]](*pool[k % nb])
        k += 1
    sync()
    warm_s = time.perf_counter() - t0
    if args.steps:
        steps = args.steps
    else:
        per = warm_s / max(args.warmup, 1)
        steps = max(args.min_steps, int(args.target_s / max(per, 1e-6)))

    rates = {m: [] for m in modes}
    last_norms = None
    for r in range(args.repeats):
        for m in modes:
            step = steps_fn[m]
            la = loadavg()
            t0 = time.perf_counter()
            for _ in range(steps):
                out = step(*pool[k % nb])
                k += 1
            sync()
            dt = time.perf_counter() - t0
            if out is not None:
                last_norms = out
            sps = steps / dt
            rates[m].append(sps)
            print(json.dumps({
                "kind": "rnn_repeat", "config": cfg_name, "cell": cell, "seq_len": t, "hidden": hidden,
                "mode": m, "repeat": r, "steps": steps, "seconds": round(dt, 4),
                "steps_per_s": round(sps, 3), "ms_per_step": round(1e3 / sps, 4),
                "loadavg_before": la,
            }), flush=True)

    # isolated cost of the grad-norm logging itself, on real gradients of this net
    opt.zero_grad(set_to_none=True)
    F.mse_loss(model(pool[0][0]), pool[0][1]).backward()
    iso = {}
    for name, fn in (("gradnorm", grad_norms), ("gradnorm_foreach", grad_norms_foreach)):
        for _ in range(20):
            fn(params)
        reps = []
        for _ in range(5):
            n_it = 200
            t0 = time.perf_counter()
            for _ in range(n_it):
                fn(params)
            sync()
            reps.append((time.perf_counter() - t0) / n_it * 1e6)
        iso[name] = round(statistics.median(reps), 2)

    with torch.no_grad():
        final_loss = F.mse_loss(model(pool[0][0]), pool[0][1]).item()
    plain_med = statistics.median(rates["plain"]) if "plain" in rates else None
    out = []
    for m in modes:
        med = statistics.median(rates[m])
        summary = {
            "kind": "rnn_summary", "impl": "pytorch", "config": cfg_name, "cell": cell,
            # depth/width/act as in pytorch_mlp.py's summaries, for readers of both.
            "depth": 1, "width": hidden, "act": "tanh" if cell == "rnn" else cell,
            "seq_len": t, "hidden": hidden, "in_features": IN_FEATURES,
            "mode": m, "batch": args.batch, "lr": args.lr, "adam_eps": ADAM_EPS, "clip_grad_norm": CLIP,
            "threads": torch.get_num_threads(), "flush_denormal": args.flush_denormal,
            "n_params": n_params, "n_grad_norms": len(params),
            "flops_per_step": flops_per_step,
            "steps_per_repeat": steps, "repeats": args.repeats,
            "steps_per_s_median": round(med, 3),
            "steps_per_s_min": round(min(rates[m]), 3), "steps_per_s_max": round(max(rates[m]), 3),
            "ms_per_step_median": round(1e3 / med, 4),
            "samples_per_s_median": round(med * args.batch, 1),
            "gflops_median": round(med * flops_per_step / 1e9, 2),
        }
        if plain_med and m != "plain":
            ratios = [rates["plain"][i] / rates[m][i] - 1.0 for i in range(args.repeats)]
            summary["overhead_vs_plain_paired_median_pct"] = round(100 * statistics.median(ratios), 2)
            summary["overhead_vs_plain_of_medians_pct"] = round(100 * (plain_med / med - 1.0), 2)
            summary["isolated_norm_cost_us_per_step"] = iso.get(m)
            summary["isolated_norm_cost_pct_of_plain_step"] = round(100 * iso.get(m, 0) * 1e-6 * plain_med, 2)
        summary.update({
            "steps_total": k, "final_loss_batch0": round(final_loss, 5),
            "recurrent_weight_gradnorm_last": (round(last_norms[1], 9) if last_norms else None),
            "readout_weight_gradnorm_last": (round(last_norms[-2], 9) if last_norms else None),
            "maxrss_kb_so_far": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "loadavg_after": loadavg(),
        })
        print(json.dumps(summary), flush=True)
        out.append(summary)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="all", help="comma list of rnn,lstm,gru or 'all'")
    ap.add_argument("--custom", default="", help="extra configs, comma list of CELL:T, e.g. rnn:50,lstm:50")
    ap.add_argument("--modes", default="plain,gradnorm,gradnorm_foreach", help="comma list of plain,gradnorm,gradnorm_foreach")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=128, help="hidden size of every config")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pool-batches", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--steps", type=int, default=0, help="fixed steps per repeat (0 = calibrate)")
    ap.add_argument("--min-steps", type=int, default=10)
    ap.add_argument("--target-s", type=float, default=1.5, help="target seconds per repeat when calibrating")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--flush-denormal", action="store_true", help="torch.set_flush_denormal(True) (FTZ/DAZ)")
    ap.add_argument("--device", default="cpu", help="torch device: cpu, or cuda (bench/gpu.sh)")
    args = ap.parse_args()

    global DEVICE
    DEVICE = torch.device(args.device)
    torch.set_num_threads(args.threads)
    fd_ok = torch.set_flush_denormal(args.flush_denormal)
    print(json.dumps({
        "kind": "rnn_env", "torch": torch.__version__, "device": args.device, "python": platform.python_version(),
        "cpu": cpu_model(), "nproc": os.cpu_count(), "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "flush_denormal": args.flush_denormal, "flush_denormal_supported": fd_ok,
        "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if os.environ.get(k) is not None},
        "argv": sys.argv[1:], "loadavg": loadavg(),
    }), flush=True)

    todo = []
    names = list(CONFIGS) if args.config == "all" else [c for c in args.config.split(",") if c]
    for n in names:
        if n not in CONFIGS:
            ap.error(f"--config: unknown config {n!r} (this script has {', '.join(CONFIGS)}; "
                     "a to e are pytorch_mlp.py's)")
        cell, t, _ = CONFIGS[n]
        todo.append((n, cell, t, args.hidden))
    for spec in [s for s in args.custom.split(",") if s]:
        try:
            cell, t = spec.split(":")
            todo.append((spec, cell, int(t), args.hidden))
        except ValueError:
            ap.error(f"--custom: {spec!r} is not CELL:T (e.g. lstm:50)")
    modes = [m for m in args.modes.split(",") if m]
    for (name, cell, t, hidden) in todo:
        run_config(name, cell, t, hidden, modes, args)


if __name__ == "__main__":
    main()
