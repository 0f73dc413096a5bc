#!/usr/bin/env python3
"""Parity of `blt export --format hf` with transformers' BltForCausalLM (float32).

A blt checkpoint is exported with `blt export CKPT OUT --format hf`, loaded with
BltForCausalLM.from_pretrained(OUT) (every tensor must load: no missing, unexpected or
mis-shaped keys) and run on the same text as `blt model logits`:
  given    blt's patch lengths passed to HF (the BLT alone, independent of patching)
  auto     no lengths: HF patches with the exported patcher, blt with its entropy model;
           for entropy patching the boundaries must be identical
Pass: max |logit difference| < --tol (1e-4) in both, identical boundaries.

The checkpoint: --ckpt DIR (a model checkpoint, or a training step directory such as
runs/X/checkpoints/step-N of a short `blt train`; a model trained with a sliding window
or document masks needs --full-attention, and agrees with HF only on text shorter than
the window), or by default a small random BltForCausalLM built in transformers (the
model of scripts/hf_parity.py) brought in with `blt import`: its export must then also
give back the transformers tensors bit for bit.

Usage (from the repository root, after building blt):
  python3 scripts/hf_export_parity.py [--blt build/bin/blt] [--ckpt DIR] [--full-attention]
                                      [--work DIR] [--device cpu|cuda]
Needs torch and transformers (>= the version with models/blt; written against 5.x).
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

from hf_parity import TEXT, build_config, randomise, run, set_robust_threshold


def model_from_transformers(blt, work, input_ids, seed):
    """A random BltForCausalLM saved with save_pretrained and imported into blt: (blt dir, HF tensors)."""
    from transformers import BltForCausalLM

    torch.manual_seed(seed)
    model = BltForCausalLM(build_config(threshold=0.0)).float().eval()
    randomise(model, seed)
    set_robust_threshold(model, input_ids)
    source = work / "source"
    model.save_pretrained(source)
    ckpt = work / "blt"
    run([blt, "import", str(source), str(ckpt)])
    return ckpt, load_file(str(source / "model.safetensors"))


def load_exported(path, device):
    from transformers import BltForCausalLM

    try:
        model, info = BltForCausalLM.from_pretrained(path, dtype=torch.float32, output_loading_info=True)
    except TypeError:  # transformers 4.x spells it torch_dtype
        model, info = BltForCausalLM.from_pretrained(path, torch_dtype=torch.float32, output_loading_info=True)
    problems = {k: v for k, v in info.items() if v}
    if problems:
        raise SystemExit(f"from_pretrained({path}) did not load every tensor: {problems}")
    return model.float().to(device).eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blt", default="build/bin/blt", help="path of the blt program")
    parser.add_argument("--ckpt", default=None, help="blt checkpoint to export (default: a random model from transformers)")
    parser.add_argument("--full-attention", action="store_true", help="pass --full-attention to blt export")
    parser.add_argument("--work", default=None, help="keep the files here (default: a temporary directory)")
    parser.add_argument("--device", default="cpu", help="device for the transformers model")
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import transformers

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, device {args.device}")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="blt-export-parity-"))
    work.mkdir(parents=True, exist_ok=True)
    ids = [1] + [b + 4 for b in TEXT.encode("utf-8")]  # BOS, then byte + 4 (blt model logits --bos)
    input_ids = torch.tensor([ids], device=args.device)
    text_file = work / "text.txt"
    text_file.write_bytes(TEXT.encode("utf-8"))

    source_tensors = None
    if args.ckpt:
        ckpt = Path(args.ckpt)
    else:
        ckpt, source_tensors = model_from_transformers(args.blt, work, input_ids.cpu(), args.seed)
    # blt model logits reads model checkpoints; a training step directory is consolidated first.
    logits_ckpt = ckpt
    if (ckpt / "run.yaml").exists():
        logits_ckpt = work / "native"
        run([args.blt, "export", str(ckpt), str(logits_ckpt), "--force"])

    exported = work / "hf"
    run([args.blt, "export", str(ckpt), str(exported), "--format", "hf", "--force"] +
        (["--full-attention"] if args.full_attention else []))
    config = json.loads((exported / "config.json").read_text())
    print("config.json:", json.dumps(config, indent=1))
    results, ok = {}, True

    if source_tensors is not None:  # HF -> blt import -> blt export: the same tensors, bit for bit
        back = load_file(str(exported / "model.safetensors"))
        same_names = set(back) == set(source_tensors)
        differing = [n for n in sorted(source_tensors) if n in back and not (
            back[n].dtype == source_tensors[n].dtype and torch.equal(back[n], source_tensors[n]))]
        results["round_trip"] = {"tensors": len(source_tensors), "same_names": same_names, "differing": differing}
        ok = ok and same_names and not differing
        print(f"round_trip: {json.dumps(results['round_trip'])}", flush=True)

    model = load_exported(exported, args.device)

    out = work / "blt_auto.safetensors"
    run([args.blt, "model", "logits", str(logits_ckpt), "--text-file", str(text_file), "--bos", "--out", str(out)])
    blt_auto = load_file(str(out))
    if blt_auto["tokens"][0].tolist() != ids:
        raise SystemExit("blt's tokens differ from the ids given to transformers")
    blt_lengths = blt_auto["patch_lengths"].long()

    with torch.no_grad():
        given = model(input_ids=input_ids, patch_lengths=blt_lengths.to(args.device), use_cache=False).logits
        auto = model(input_ids=input_ids, use_cache=False).logits
    for name, hf_logits in (("given", given), ("auto", auto)):
        diff = (hf_logits.float().cpu() - blt_auto["logits"]).abs().max().item()
        results[name] = {"max_abs_logit_diff": diff, "patches": int(blt_lengths.shape[1])}
        ok = ok and diff < args.tol

    if config.get("patch_in_forward") and config.get("patching_mode") == "entropy":
        with torch.no_grad():
            entropies, hf_lengths, _ = model.model.patcher(
                input_ids, patch_size=config.get("patch_size"), threshold=config["patching_threshold"],
                max_patch_length=config.get("max_patch_length"))
        hf_lengths = hf_lengths.long().cpu()
        same = torch.equal(hf_lengths, blt_lengths)
        margin = (entropies[0, 1:].float().cpu() - config["patching_threshold"]).abs().min().item()
        results["auto"].update(identical_boundaries=same, closest_entropy_to_threshold=margin,
                               max_abs_entropy_diff=(entropies.float().cpu() - blt_auto["entropies"]).abs().max().item())
        if not same:
            ok = False
            print("HF lengths :", hf_lengths.tolist())
            print("blt lengths:", blt_lengths.tolist())
    for name in ("given", "auto"):
        print(f"{name}: {json.dumps(results[name])}", flush=True)

    summary = {"bytes": len(ids), "tol": args.tol, "checkpoint": str(ckpt), "torch": torch.__version__,
               "transformers": transformers.__version__, "device": args.device, "results": results, "pass": ok}
    (work / "export_parity.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    print("EXPORT PARITY", "PASS" if ok else "FAIL", f"(files in {work})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
