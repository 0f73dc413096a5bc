#!/usr/bin/python3
"""Draws the training curves of blt runs to a PNG.

usage: scripts/plot_metrics.py RUN_DIR_OR_METRICS_JSONL... [--out curves.png] [--x step|bytes|flops]

Each run's metrics.jsonl holds one JSON object per logged step (loss, bpb, lr, ...)
and one per validation (valid_bpb). The figure has three panels: training bits per
byte, validation bits per byte, and the learning rate, one line per run. Several runs
on one figure (e.g. entropy vs static patching) share the x axis, which can be the
step, the bytes seen or the training FLOPs (for FLOP-matched comparisons).
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402

X_KEYS = {"step": ("step", "step"), "bytes": ("bytes_total", "bytes seen"), "flops": ("flops_total", "training FLOPs")}


def read_metrics(path):
    """Training and validation records of one run, in file order."""
    metrics = os.path.join(path, "metrics.jsonl") if os.path.isdir(path) else path
    train, valid = [], []
    with open(metrics, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"plot_metrics: {metrics}:{number}: not JSON ({e.msg})")
            if "valid_bpb" in record:
                valid.append(record)
            elif "bpb" in record:
                train.append(record)
    if not train and not valid:
        sys.exit(f"plot_metrics: {metrics} holds no training or validation records")
    return metrics, train, valid


def label_of(path):
    return os.path.basename(os.path.normpath(os.path.dirname(path) if path.endswith(".jsonl") else path))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories or metrics.jsonl files")
    parser.add_argument("--out", default="curves.png", help="PNG to write")
    parser.add_argument("--x", choices=sorted(X_KEYS), default="step", help="x axis")
    args = parser.parse_args()

    key, x_label = X_KEYS[args.x]
    fig, (ax_train, ax_valid, ax_lr) = plt.subplots(1, 3, figsize=(15, 4.2))
    for run in args.runs:
        metrics, train, valid = read_metrics(run)
        label = label_of(run)
        steps_x = {}
        for r in train:
            if key not in r:
                sys.exit(f"plot_metrics: {metrics}: a training record has no '{key}' (choose another --x)")
            steps_x[r["step"]] = r[key]
        if train:
            ax_train.plot([steps_x[r["step"]] for r in train], [r["bpb"] for r in train], label=label)
            ax_lr.plot([steps_x[r["step"]] for r in train], [r["lr"] for r in train], label=label)
        # Validation records carry only the step: place them at the nearest logged step's x.
        logged = sorted(steps_x)
        xs = []
        for r in valid:
            nearest = min(logged, key=lambda s: abs(s - r["step"])) if logged else None
            xs.append(r["step"] if args.x == "step" or nearest is None else steps_x[nearest])
        if valid:
            ax_valid.plot(xs, [r["valid_bpb"] for r in valid], marker="o", label=label)
    for ax, title in ((ax_train, "training bits per byte"), (ax_valid, "validation bits per byte"),
                      (ax_lr, "learning rate")):
        ax.set_title(title)
        ax.set_xlabel(x_label)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"plot_metrics: wrote {args.out}")


if __name__ == "__main__":
    main()
