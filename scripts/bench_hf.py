#!/usr/bin/env python3
"""Training speed of transformers' BltForCausalLM against `blt bench`, same shapes, same GPU, one call.

Builds a randomly initialised BltForCausalLM with the shapes of one of our presets (no hub access),
times full training steps on --batch x --seq-len bytes with static patches of --patch bytes (the
patch lengths given to forward, as blt's static patching makes them): forward, loss, backward,
gradient clipping at 1.0 and torch.optim.AdamW(fused=True). Two ways a user would train it:
  bf16        bf16 weights and optimizer state (what the HF model runs in when loaded in bf16)
  amp         fp32 weights and AdamW state, bf16 autocast (what `blt train` does)
each eager and, with --compile, under torch.compile. Then runs `blt bench CONFIG` with the same
steps and prints every row and blt's ratio to each.

  python3 scripts/bench_hf.py --blt build-gpu/bin/blt --config configs/blt-1b-gpu.yaml \\
      --shape blt-1b --set data.train=runs/gpu-corpus/train
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_generate_hf import SHAPES, build_config  # noqa: E402


def time_hf(shape, mode, compiled, batch, seq_len, patch, warmup, steps, seed):
    from transformers import BltForCausalLM

    torch.manual_seed(seed)
    config = build_config(shape)
    config.patching_mode = "static"  # lengths come from patch_lengths; the patcher is not run
    config.patch_in_forward = False
    with torch.device("cuda"):  # initialised on the GPU: 4.5 G parameters take minutes on the host
        model = BltForCausalLM(config)
    if mode == "bf16":
        model.to(torch.bfloat16)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=True)
    gen = torch.Generator(device="cuda").manual_seed(seed)
    ids = torch.randint(4, 260, (batch, seq_len + 1), device="cuda", generator=gen)
    inputs, labels = ids[:, :-1], ids[:, 1:]
    patch_lengths = torch.full((batch, seq_len // patch), patch, device="cuda", dtype=torch.long)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=mode == "amp"):
            logits = model(input_ids=inputs, patch_lengths=patch_lengths, use_cache=False).logits
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    run = torch.compile(step) if compiled else step
    for _ in range(warmup):
        run()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(steps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    peak = torch.cuda.max_memory_allocated() / 2**30
    del model, optimizer, params
    torch.cuda.empty_cache()
    ms = statistics.median(times)
    return {"step_ms_median": ms, "bytes_per_s": batch * seq_len / (ms / 1e3), "peak_memory_gib": peak}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blt", default="build-gpu/bin/blt")
    parser.add_argument("--config", default="configs/blt-1b-gpu.yaml")
    parser.add_argument("--set", action="append", default=[], help="override passed to blt bench (repeatable)")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="blt-1b")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=8192)
    parser.add_argument("--patch", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--modes", default="bf16,amp", help="comma list of bf16, amp")
    parser.add_argument("--compile", action="store_true", help="also time each mode under torch.compile")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import transformers

    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.cuda.get_device_name()}, "
          f"{args.shape}, {args.batch} x {args.seq_len} bytes, static patches of {args.patch}", flush=True)
    rows = []
    for mode in args.modes.split(","):
        for compiled in [False, True] if args.compile else [False]:
            name = f"BltForCausalLM {mode}{' compiled' if compiled else ' eager'}"
            try:
                r = time_hf(args.shape, mode, compiled, args.batch, args.seq_len, args.patch, args.warmup, args.steps,
                            args.seed)
            except Exception as e:  # e.g. out of memory, or a graph break torch.compile cannot take
                print(f"{name}: failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}", flush=True)
                torch.cuda.empty_cache()
                continue
            rows.append((name, r))
            print(f"{name}: {r['step_ms_median']:.1f} ms/step, {r['bytes_per_s'] / 1e3:.1f} kB/s, "
                  f"peak {r['peak_memory_gib']:.1f} GiB", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        cmd = [args.blt, "bench", args.config, "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--json", str(out), "--set", f"data.seq_len={args.seq_len}", "--set", f"data.batch_size={args.batch}",
               "--set", "model.patching.mode=static", "--set", f"model.patching.static_size={args.patch}"]
        for s in args.set:
            cmd += ["--set", s]
        print("$ " + " ".join(cmd), flush=True)
        done = subprocess.run(cmd, capture_output=True, text=True)
        print(done.stdout, end="")
        if done.returncode != 0:
            print(done.stderr[-4000:])
            raise SystemExit(f"blt bench failed ({done.returncode})")
        ours = json.loads(out.read_text())

    print(f"\n| | step | bytes/s | peak memory | blt's bytes/s ratio |")
    print("|---|---|---|---|---|")
    print(f"| blt bench {args.config} | {ours['step_ms_median']:.1f} ms | {ours['bytes_per_s'] / 1e3:.1f} k | "
          f"{ours['peak_memory_gib']:.1f} GiB | |")
    for name, r in rows:
        print(f"| {name} | {r['step_ms_median']:.1f} ms | {r['bytes_per_s'] / 1e3:.1f} k | "
              f"{r['peak_memory_gib']:.1f} GiB | {ours['bytes_per_s'] / r['bytes_per_s']:.2f}x |")
    if "mfu" in ours:
        print(f"\nblt: MFU {100 * ours['mfu']:.1f}%, {ours['model_tflops_per_s']:.1f} model TFLOP/s; phases (ms): "
              + ", ".join(f"{k} {v:.1f}" for k, v in ours["phase_ms_median"].items()))


if __name__ == "__main__":
    main()
