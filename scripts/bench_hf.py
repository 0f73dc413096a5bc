#!/usr/bin/env python3
"""Training speed of transformers' BltForCausalLM against `blt bench`, same shapes, same GPU, one call.

Builds a randomly initialised BltForCausalLM with the shapes of one of our presets (no hub access) and
times full training steps on --batch x --seq-len bytes: forward, loss, backward, gradient clipping at
1.0 and torch.optim.AdamW(fused=True). Two ways a user would train it:
  bf16        bf16 weights and optimizer state (what the HF model runs in when loaded in bf16)
  amp         fp32 weights and AdamW state, bf16 autocast (what `blt train` does)
each eager and, with --compile, under torch.compile. Then runs `blt bench CONFIG` with the same
steps and prints every row and blt's ratio to each.

Patching (--patching):
  static      patches of --patch bytes: the patch lengths are given to forward, as blt's static
              patching makes them; no patcher runs.
  entropy     the entropy model (the preset's patcher shapes: entropy-100m for blt-1b) runs inside
              every step on both sides: HF's patcher in forward (patch_in_forward), blt's through
              model.patching.entropy_model. Both get the same weights: with --entropy-checkpoint DIR
              a trained blt byte_lm (its tensors are HF's patcher's, docs/hf-layout.md), else random
              weights of a trained-looking scale (HF's init makes every entropy near-uniform): HF's
              patcher is randomised, saved with save_pretrained and converted by `blt import`.
              Random weights give bf16 entropies too coarse to reach every mean patch; a trained
              model's spread lets both sides come near it. Each side's threshold is set for a
              mean patch of --mean-patch bytes on its own input (HF: the quantile of its entropies
              on the timed batch; blt: `blt patching threshold` on the shards), and the mean patch
              each reached is printed: speed follows the number of patches. HF's bf16 entropies
              take few distinct values, so its mean patch can only come near --mean-patch;
              blt's threshold then aims at the mean patch HF reached.
HF reads its bytes from the first shard of --data (the corpus blt trains on), byte + 4 as blt's ids.

  python3 scripts/bench_hf.py --blt build-gpu/bin/blt --config configs/blt-1b-gpu.yaml \\
      --shape blt-1b --data data/shards/english/train --patching entropy --mean-patch 4.5 \\
      --entropy-checkpoint runs/entropy-100m-nowindow/model
"""
import argparse
import json
import struct
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_generate_hf import SHAPES, build_config  # noqa: E402
from hf_parity import randomise  # noqa: E402


def shard_ids(data_dir, count):
    """The first `count` payload bytes of the first *.bltshard in data_dir, as blt's ids (byte + 4)."""
    shards = sorted(Path(data_dir).glob("*.bltshard"))
    if not shards:
        raise SystemExit(f"--data {data_dir}: no *.bltshard files")
    with open(shards[0], "rb") as f:
        header = f.read(64)
        if header[:8] != b"BLTSHARD":
            raise SystemExit(f"{shards[0]}: not a blt shard (magic {header[:8]!r})")
        payload_offset, payload_bytes = struct.unpack_from("<QQ", header, 24)
        if payload_bytes < count:
            raise SystemExit(f"{shards[0]}: {payload_bytes} payload bytes, the batch needs {count}")
        f.seek(payload_offset)
        data = f.read(count)
    return torch.tensor(list(data), dtype=torch.long) + 4


def set_threshold(model, threshold):
    for cfg in {id(model.config): model.config, id(model.model.config): model.model.config}.values():
        cfg.patching_threshold = threshold


def calibrate_hf_patcher(model, inputs, mean_patch, autocast):
    """The threshold whose patches of `inputs` come closest to a mean of mean_patch bytes; returns it and
    the mean patch it gives on `inputs`.

    HF's patcher computes its entropies in the model's dtype: in bf16 they take few distinct values
    (steps of 2^-5 near 5 nats), so a quantile would land on a value many positions share, and the
    strict `entropy > threshold` would skip them all. Thresholds between neighbouring distinct values
    avoid that; the one whose start count is closest to the target wins."""
    patcher = model.model.patcher
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        entropies, _, _ = patcher(inputs, patch_size=4, threshold=1e9, max_patch_length=None)
        values = entropies[:, 1:].float().flatten().sort().values
        distinct = torch.unique(values)
        between = (distinct[1:] + distinct[:-1]) / 2
        above = values.numel() - torch.searchsorted(values, between, right=True)  # starts past the first two
        patches = above + 2 * inputs.shape[0]
        best = int((inputs.numel() / patches.double() - mean_patch).abs().argmin())
        threshold = float(between[best])
        _, lengths, _ = patcher(inputs, patch_size=4, threshold=threshold, max_patch_length=None)
    set_threshold(model, threshold)
    return threshold, inputs.numel() / int((lengths > 0).sum())


def time_hf(shape, mode, compiled, ids, patching, warmup, steps, seed):
    from transformers import BltForCausalLM

    torch.manual_seed(seed)
    config = build_config(shape)
    entropy = patching["mode"] == "entropy"
    config.patching_mode = "entropy" if entropy else "static"
    config.patch_in_forward = entropy  # static: lengths come from patch_lengths; the patcher is not built
    config.max_patch_length = None
    config.patch_size = 4  # forward cuts patches only when patch_size is set
    with torch.device("cuda"):  # initialised on the GPU: 4.5 G parameters take minutes on the host
        model = BltForCausalLM(config)
    if entropy and patching["checkpoint"]:
        load_blt_entropy_model(model.model.patcher, patching["checkpoint"])
    elif entropy:
        randomise(model.model.patcher, seed)  # the weights blt gets through `blt import` (see main)
    if mode == "bf16":
        model.to(torch.bfloat16)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]  # the patcher is frozen: not among them
    optimizer = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=True)
    ids = ids.to("cuda")
    inputs, labels = ids[:, :-1], ids[:, 1:]
    batch, seq_len = inputs.shape
    extra = {}
    if entropy:  # the patcher runs in every forward
        extra["threshold"], extra["mean_patch"] = calibrate_hf_patcher(model, inputs, patching["mean_patch"],
                                                                       mode == "amp")
        patch_lengths = None
    else:
        patch_lengths = torch.full((batch, seq_len // patching["patch"]), patching["patch"], device="cuda",
                                   dtype=torch.long)
        extra["mean_patch"] = float(patching["patch"])

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
    return dict(extra, step_ms_median=ms, bytes_per_s=batch * seq_len / (ms / 1e3), peak_memory_gib=peak)


def load_blt_entropy_model(patcher, checkpoint):
    """A blt byte_lm checkpoint's weights into HF's patcher. The tensor names are the same
    (docs/hf-layout.md) and the load is strict, so other layer counts or widths fail here; what the
    tensors do not say (RoPE theta, window) is compared with the checkpoint's config.yaml."""
    import yaml
    from safetensors.torch import load_file

    config = yaml.safe_load((Path(checkpoint) / "config.yaml").read_text())["model"]
    stack = config["transformer"]
    if config.get("type") != "byte_lm":
        raise SystemExit(f"--entropy-checkpoint {checkpoint}: model.type is {config.get('type')}, not byte_lm")
    if stack.get("sliding_window", 0) > 0:
        raise SystemExit(f"--entropy-checkpoint {checkpoint}: sliding_window {stack['sliding_window']}, but HF's "
                         "patcher attends over the whole sequence: train it with model.transformer.sliding_window=0")
    theta = patcher.config.rope_parameters["rope_theta"] if hasattr(patcher.config, "rope_parameters") \
        else patcher.config.rope_theta
    if float(stack.get("rope_theta", 10000.0)) != float(theta):
        raise SystemExit(f"--entropy-checkpoint {checkpoint}: rope_theta {stack.get('rope_theta')}, HF's patcher "
                         f"{theta}")
    tensors = load_file(str(Path(checkpoint) / "model.safetensors"))
    first = next(patcher.parameters())
    patcher.load_state_dict({k: v.to(first.dtype) for k, v in tensors.items()}, strict=True)


def blt_random_entropy_model(blt, shape, seed, tmp):
    """blt's copy of the random patcher weights the HF runs use.

    The patcher is randomised exactly as in time_hf (same seed, same parameter order), inside a small
    carrier BltForCausalLM (`small` shapes, this shape's patcher) that save_pretrained writes quickly;
    `blt import` turns its patcher into a byte_lm checkpoint (OUT/entropy)."""
    from transformers import BltForCausalLM

    torch.manual_seed(seed)
    carrier = BltForCausalLM(build_config("small", patcher_of=shape))
    randomise(carrier.model.patcher, seed)
    carrier.save_pretrained(tmp / "hf")
    run([blt, "import", str(tmp / "hf"), str(tmp / "imported")])
    return tmp / "imported" / "entropy"


def blt_threshold(blt, entropy_model, data, mean_patch, seq_len, precision):
    """The threshold `blt patching threshold` picks for mean_patch on `data`."""
    found = json.loads(run([blt, "patching", "threshold", str(entropy_model), "--data", data, "--mean-patch",
                            str(mean_patch), "--seq-len", str(seq_len), "--sequences", "8", "--device", "cuda",
                            "--precision", precision, "--json"]))
    return found["threshold"]


def run(cmd):
    print("$ " + " ".join(cmd), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-4000:])
        raise SystemExit(f"{cmd[0]} {cmd[1]} failed ({done.returncode})")
    return done.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blt", default="build-gpu/bin/blt")
    parser.add_argument("--config", default="configs/blt-1b-gpu.yaml")
    parser.add_argument("--set", action="append", default=[], help="override passed to blt bench (repeatable)")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="blt-1b")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=8192)
    parser.add_argument("--data", default="data/shards/english/train",
                        help="byte shards: blt's data.train, HF's input (the first shard's text)")
    parser.add_argument("--patching", choices=["static", "entropy"], default="static")
    parser.add_argument("--patch", type=int, default=4, help="static patch size")
    parser.add_argument("--mean-patch", type=float, default=4.5, help="entropy: the wanted mean patch (bytes)")
    parser.add_argument("--entropy-checkpoint", default="",
                        help="entropy: a trained blt byte_lm checkpoint without a window (both sides' patcher); "
                             "default: random weights")
    parser.add_argument("--entropy-precision", choices=["fp32", "bf16"], default="bf16",
                        help="entropy: blt's model.patching.entropy_precision (HF's patcher runs in the model's "
                             "dtype: bf16 in both modes)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--modes", default="bf16,amp", help="comma list of bf16, amp")
    parser.add_argument("--compile", action="store_true", help="also time each mode under torch.compile")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import transformers

    patching = {"mode": args.patching, "patch": args.patch, "mean_patch": args.mean_patch,
                "checkpoint": args.entropy_checkpoint}
    how = (f"static patches of {args.patch}" if args.patching == "static"
           else f"entropy patching (mean patch ~{args.mean_patch}), {args.shape}'s patcher shapes, "
                f"{args.entropy_checkpoint or 'random weights'}")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.cuda.get_device_name()}, "
          f"{args.shape}, {args.batch} x {args.seq_len} bytes, {how}", flush=True)
    ids = shard_ids(args.data, args.batch * (args.seq_len + 1)).view(args.batch, args.seq_len + 1)
    rows = []
    for mode in args.modes.split(","):
        for compiled in [False, True] if args.compile else [False]:
            name = f"BltForCausalLM {mode}{' compiled' if compiled else ' eager'}"
            try:
                r = time_hf(args.shape, mode, compiled, ids, patching, args.warmup, args.steps, args.seed)
            except Exception as e:  # e.g. out of memory, or a graph break torch.compile cannot take
                print(f"{name}: failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}", flush=True)
                torch.cuda.empty_cache()
                continue
            rows.append((name, r))
            print(f"{name}: {r['step_ms_median']:.1f} ms/step, {r['bytes_per_s'] / 1e3:.1f} kB/s, "
                  f"peak {r['peak_memory_gib']:.1f} GiB, mean patch {r['mean_patch']:.2f} bytes"
                  + (f" (threshold {r['threshold']:.4f})" if "threshold" in r else ""), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        out = tmp / "bench.json"
        cmd = [args.blt, "bench", args.config, "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--json", str(out), "--set", f"data.seq_len={args.seq_len}", "--set", f"data.batch_size={args.batch}",
               "--set", f"data.train={args.data}", "--set", f"model.patching.mode={args.patching}"]
        if args.patching == "static":
            cmd += ["--set", f"model.patching.static_size={args.patch}"]
        else:
            # HF's bf16 entropies cannot hit every mean patch (see calibrate_hf_patcher): blt aims at the
            # one HF reached, so that both run the same number of patches.
            target = rows[0][1]["mean_patch"] if rows else args.mean_patch
            entropy_model = args.entropy_checkpoint or blt_random_entropy_model(args.blt, args.shape, args.seed, tmp)
            threshold = blt_threshold(args.blt, entropy_model, args.data, target, args.seq_len, args.entropy_precision)
            cmd += ["--set", f"model.patching.entropy_model={entropy_model}", "--set",
                    f"model.patching.threshold={threshold}", "--set", "model.patching.max_patch_length=0",
                    "--set", f"model.patching.entropy_precision={args.entropy_precision}"]
        for s in args.set:
            cmd += ["--set", s]
        print(run(cmd), end="")
        ours = json.loads(out.read_text())
    ours_patch = ours["bytes_per_s"] / ours["patches_per_s"]

    print("\n| | step | bytes/s | mean patch | peak memory | blt's bytes/s ratio |")
    print("|---|---|---|---|---|---|")
    print(f"| blt bench {args.config} | {ours['step_ms_median']:.1f} ms | {ours['bytes_per_s'] / 1e3:.1f} k | "
          f"{ours_patch:.2f} | {ours['peak_memory_gib']:.1f} GiB | |")
    for name, r in rows:
        print(f"| {name} | {r['step_ms_median']:.1f} ms | {r['bytes_per_s'] / 1e3:.1f} k | {r['mean_patch']:.2f} | "
              f"{r['peak_memory_gib']:.1f} GiB | {ours['bytes_per_s'] / r['bytes_per_s']:.2f}x |")
    if "mfu" in ours:
        phases = ours["phase_ms_median"]
        print(f"\nblt: MFU {100 * ours['mfu']:.1f}%, {ours['model_tflops_per_s']:.1f} model TFLOP/s; phases (ms): "
              + ", ".join(f"{k} {v:.1f}" for k, v in phases.items()))
        if args.patching == "entropy" and "data" in phases:
            print(f"blt: the data phase (batch to the GPU, entropy model, patch lengths) takes "
                  f"{100 * phases['data'] / ours['step_ms_median']:.1f}% of the step")

if __name__ == "__main__":
    main()
