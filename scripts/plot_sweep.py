#!/usr/bin/python3
"""Draws a sweep's CSV (blt sweep report) to two PNGs.

usage: scripts/plot_sweep.py SWEEP_CSV OUT_DIR

OUT_DIR/bpb_vs_train_flops.png: final validation bits per byte against training
FLOPs, and OUT_DIR/bpb_vs_inference_flops.png: against inference FLOPs per byte;
one line per scheme (entropy, space, static-k, bpe) and model size. Runs without a
result (unfinished) are left out.
"""
import csv
import os
import sys
from collections import defaultdict

try:
    import matplotlib
except ImportError:
    sys.exit("plot_sweep: needs matplotlib (Debian: apt-get install python3-matplotlib)")

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402

PLOTS = [("train_flops", "training FLOPs", "bpb_vs_train_flops.png"),
         ("inference_flops_per_byte", "inference FLOPs per byte", "bpb_vs_inference_flops.png")]


def read_rows(path):
    with open(path, encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("valid_bpb")]
    if not rows:
        sys.exit(f"plot_sweep: {path} has no finished runs")
    return rows


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    path, out_dir = sys.argv[1], sys.argv[2]
    rows = read_rows(path)
    for x_key, x_label, name in PLOTS:
        lines = defaultdict(list)
        for r in rows:
            lines[(r["scheme"], r["size"])].append((float(r[x_key]), float(r["valid_bpb"])))
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for (scheme, size), points in sorted(lines.items()):
            points.sort()
            label = scheme if len({k[1] for k in lines}) == 1 else f"{scheme} ({size})"
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
        ax.set_xscale("log")
        ax.set_xlabel(x_label)
        ax.set_ylabel("validation bits per byte")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        out = os.path.join(out_dir, name)
        fig.savefig(out + ".tmp.png", dpi=120)
        os.replace(out + ".tmp.png", out)
        print(out)


if __name__ == "__main__":
    main()
