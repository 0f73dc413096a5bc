#!/usr/bin/env python3
"""Compare two `blt train` runs: per-step losses (metrics.jsonl) and final parameters (model/model.safetensors).

    python3 scripts/compare_runs.py REFERENCE OTHER [--first-loss-rel X] [--loss-rel Y] [--param-abs Z] [--steps A-B]

Prints the largest relative loss difference at OTHER's first logged step and over the rest, and the largest absolute
parameter difference (with the tensor holding it); exits 1 when one exceeds its tolerance. The steps compared are
those OTHER logged (a resumed run logs only the steps after its checkpoint). Pure Python (no torch or numpy), so it
runs wherever the runs were made.
"""
import argparse
import array
import json
import operator
import struct
import sys
from pathlib import Path


def losses(run):
    out = {}
    for line in (Path(run) / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "loss" in record:
            out[record["step"]] = record["loss"]
    return out


def tensors(path):
    data = Path(path).read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    base = 8 + size
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[base + begin:base + end]
        if info["dtype"] == "F32":
            values = array.array("f", raw)
        elif info["dtype"] == "F64":
            values = array.array("d", raw)
        elif info["dtype"] == "BF16":  # bf16 is the top half of an fp32
            halves = array.array("H", raw)
            values = array.array("f", struct.pack(f"<{len(halves)}I", *(h << 16 for h in halves)))
        else:
            sys.exit(f"{path}: tensor {name} has dtype {info['dtype']}, not a float")
        out[name] = values
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("reference")
    p.add_argument("other")
    p.add_argument("--first-loss-rel", type=float, default=1e-5, help="tolerance at OTHER's first logged step")
    p.add_argument("--loss-rel", type=float, default=1e-3, help="tolerance at the later steps")
    p.add_argument("--param-abs", type=float, default=None, help="tolerance of the final parameters (skip if unset)")
    a = p.parse_args()

    want, got = losses(a.reference), losses(a.other)
    if not got:
        sys.exit(f"{a.other}: no losses logged")
    first = min(got)
    rel = {s: abs(got[s] - want[s]) / abs(want[s]) for s in got if s in want}
    if len(rel) != len(got):
        sys.exit(f"{a.reference} lacks steps {sorted(set(got) - set(rel))} of {a.other}")
    later = max((v for s, v in rel.items() if s != first), default=0.0)
    ok = rel[first] <= a.first_loss_rel and later <= a.loss_rel
    line = f"loss rel diff: step {first} {rel[first]:.3g} (<= {a.first_loss_rel:g}), later {later:.3g} (<= {a.loss_rel:g})"
    if a.param_abs is not None:
        ref, oth = tensors(Path(a.reference) / "model/model.safetensors"), tensors(Path(a.other) / "model/model.safetensors")
        if ref.keys() != oth.keys():
            sys.exit(f"parameter names differ: {sorted(ref.keys() ^ oth.keys())[:5]}")
        worst, where = 0.0, ""
        for name in ref:
            if len(ref[name]) != len(oth[name]):
                sys.exit(f"parameter {name}: {len(ref[name])} vs {len(oth[name])} elements")
            d = max(map(abs, map(operator.sub, ref[name], oth[name])), default=0.0)
            if d > worst:
                worst, where = d, name
        ok = ok and worst <= a.param_abs
        line += f"; param abs diff {worst:.3g} in {where} (<= {a.param_abs:g})"
    print(("ok   " if ok else "FAIL ") + f"{a.other} vs {a.reference}: {line}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
