#!/usr/bin/env python3
"""Where a traced training step's GPU time goes: `blt bench CONFIG --trace FILE`, then

  python3 scripts/trace_summary.py FILE [--top 30]

Reads the Chrome trace (Kineto) and sums the duration of every CUDA kernel, memcpy and memset
by name, by kind of work (matrix multiply, attention, normalisation, elementwise, reduction,
embedding, optimizer, communication, copies), and by the operator that launched it (the
innermost `aten::` op, through the trace's "External id"): which LibTorch calls a fusion removes. Kernels of different streams can overlap, so the
sum may exceed the step's wall time; the share is of the summed GPU time.
"""
import argparse
import collections
import json
import re

# First match wins: a kernel's name says what it computes.
KINDS = [
    ("communication", r"nccl"),
    ("optimizer", r"adam|multi_tensor_apply"),
    ("attention", r"flash|fmha|attention|sdpa|efficient_attention|cutlassF|cutlassB"),
    ("matrix multiply", r"gemm|cutlass|cublas|sm90_xmma|nvjet|matmul|ampere_|sm80_"),
    ("embedding", r"embedding|index_select|indexing_backward|index_put|scatter|gather"),
    ("normalisation", r"norm|rsqrt"),
    ("reduction", r"reduce|sum_kernel|max_kernel|softmax|logsumexp|nll_loss|cross_entropy"),
    ("copies", r"memcpy|memset|copy|cat|fill"),
    ("elementwise", r"elementwise|vectorized|unrolled|pointwise|silu|mul|add|where"),
]


def kind_of(name):
    low = name.lower()
    for kind, pattern in KINDS:
        if re.search(pattern, low):
            return kind
    return "other"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trace")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--gaps", type=int, default=10,
                        help="list the N longest stretches where no kernel ran (the GPU waiting for the host), "
                             "with the operators on either side")
    args = parser.parse_args()
    with open(args.trace) as f:
        events = json.load(f)["traceEvents"]
    op_of = {e["args"]["External id"]: e["name"] for e in events
             if e.get("ph") == "X" and e.get("cat") == "cpu_op" and "External id" in e.get("args", {})}
    by_name, by_kind, by_op = collections.Counter(), collections.Counter(), collections.Counter()
    count = collections.Counter()
    first, last = None, None
    spans = []  # (start, end, operator) of every kernel/copy, for the idle stretches
    for e in events:
        if e.get("ph") != "X" or e.get("cat") not in ("kernel", "gpu_memcpy", "gpu_memset"):
            continue
        name, dur = e["name"], float(e["dur"])  # microseconds
        by_name[name] += dur
        by_kind[kind_of(name)] += dur
        by_op[op_of.get(e.get("args", {}).get("External id"), "(no operator)")] += dur
        count[name] += 1
        start, end = float(e["ts"]), float(e["ts"]) + dur
        spans.append((start, end, op_of.get(e.get("args", {}).get("External id"), name)))
        first = start if first is None else min(first, start)
        last = end if last is None else max(last, end)
    total = sum(by_name.values())
    if not total:
        raise SystemExit(f"{args.trace}: no GPU kernels in the trace")
    print(f"{args.trace}: {sum(count.values())} GPU kernels/copies, {total / 1e3:.1f} ms of GPU time, "
          f"{(last - first) / 1e3:.1f} ms from the first to the last")
    # Idle stretches: no kernel of any stream running.
    spans.sort()
    gaps, busy_until, before = [], spans[0][1], spans[0][2]
    for start, end, op in spans[1:]:
        if start > busy_until:
            gaps.append((start - busy_until, before, op))
        if end > busy_until:
            busy_until, before = end, op
    idle = sum(g[0] for g in gaps)
    print(f"GPU idle (no kernel running) {idle / 1e3:.1f} ms in {len(gaps)} stretches")
    for dur, before, after in sorted(gaps, reverse=True)[:args.gaps]:
        print(f"  {dur / 1e3:8.2f} ms idle  after {before[:60]}  before {after[:60]}")
    print("\nby kind of work:")
    for kind, dur in by_kind.most_common():
        print(f"  {kind:<16} {dur / 1e3:9.2f} ms  {100 * dur / total:5.1f}%")
    print(f"\ntop {args.top} launching operators:")
    for name, dur in by_op.most_common(args.top):
        print(f"  {dur / 1e3:9.2f} ms  {100 * dur / total:5.1f}%  {name[:110]}")
    print(f"\ntop {args.top} kernels:")
    for name, dur in by_name.most_common(args.top):
        print(f"  {dur / 1e3:9.2f} ms  {100 * dur / total:5.1f}%  x{count[name]:<5} {name[:110]}")


if __name__ == "__main__":
    main()
