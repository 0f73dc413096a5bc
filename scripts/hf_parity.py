#!/usr/bin/env python3
"""Parity of blt with transformers' BltForCausalLM (float32).

Builds a small, randomly initialised BltConfig model in transformers, saves it with
save_pretrained, imports it with `blt import`, and compares logits on a paragraph of
English (with some multi-byte UTF-8) in three settings:
  given   explicit patch lengths (patch_lengths=..., use_cache=False)
  marker  the same lengths followed by a zero-length patch
  entropy no lengths: HF patches with its patcher, blt with the imported entropy model;
          the boundaries must be identical.
  patcher the entropy model's own logits (HF BltPatcher vs blt's imported byte_lm).
Pass: max |logit difference| < --tol (1e-4) everywhere and identical entropy boundaries.

Usage (from the repository root, after building blt):
  python3 scripts/hf_parity.py [--blt build/bin/blt] [--work DIR] [--device cpu|cuda]
Needs torch and transformers (>= the version with models/blt; written against 5.x).
"""
import argparse
import inspect
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

TEXT = (
    "The Byte Latent Transformer reads raw bytes instead of tokens. A small entropy model decides where "
    "each patch ends: where the next byte is hard to predict, a new patch begins, so predictable runs of "
    "text are grouped into long patches and the large global model runs less often. Words such as naïve, "
    "café and Zürich take more than one byte each in UTF-8, and the model has to handle them all the same."
)


def rope_kwargs(config_class, theta):
    params = inspect.signature(config_class.__init__).parameters
    if "rope_parameters" in params:
        return {"rope_parameters": {"rope_type": "default", "rope_theta": theta}}
    return {"rope_theta": theta}


def build_config(threshold):
    from transformers import BltConfig
    from transformers.models.blt.configuration_blt import (
        BltGlobalTransformerConfig,
        BltLocalDecoderConfig,
        BltLocalEncoderConfig,
        BltPatcherConfig,
    )

    local = dict(hidden_size=64, num_attention_heads=4, intermediate_size=176, cross_attn_k=2, hidden_size_global=128,
                 rms_norm_eps=1e-5)
    return BltConfig(
        vocab_size=260,
        patch_in_forward=True,
        patch_size=4,
        patching_mode="entropy",
        patching_threshold=threshold,
        max_patch_length=None,
        cross_attn_k=2,
        encoder_hash_byte_group_size=[3, 4, 5, 6, 7, 8],
        encoder_hash_byte_group_vocab=1009,
        encoder_hash_byte_group_nb_functions=2,
        tie_word_embeddings=False,
        encoder_config=dict(local, num_hidden_layers=2, cross_attn_all_layers=False,
                            **rope_kwargs(BltLocalEncoderConfig, 500000.0)),
        decoder_config=dict(local, num_hidden_layers=3, cross_attn_all_layers=True,
                            **rope_kwargs(BltLocalDecoderConfig, 500000.0)),
        global_config=dict(hidden_size=128, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=2,
                           intermediate_size=352, **rope_kwargs(BltGlobalTransformerConfig, 500000.0)),
        patcher_config=dict(hidden_size=64, num_attention_heads=4, num_hidden_layers=2, intermediate_size=176,
                            **rope_kwargs(BltPatcherConfig, 10000.0)),
    )


def randomise(model, seed):
    """Weights of a trained-looking scale (HF's init uses std 0.02, which makes every output near uniform)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("embed_tokens.weight") or name.endswith("encoder_hash_tok_embedding.weight"):
                p.copy_(torch.randn(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1]))


def set_robust_threshold(model, input_ids):
    """Sets and returns an entropy threshold near the median of the patcher's entropies on `input_ids`
    (patches of several lengths), in the widest gap between neighbouring values so that rounding cannot
    move a boundary."""
    with torch.no_grad():
        entropies, _, _ = model.model.patcher(input_ids, patch_size=4, threshold=1e9, max_patch_length=None)
    values = entropies[0, 1:].double().cpu().sort().values
    n = values.numel()
    gaps = values[n // 3 + 1: 2 * n // 3] - values[n // 3: 2 * n // 3 - 1]
    i = n // 3 + int(gaps.argmax())
    threshold = float((values[i] + values[i + 1]) / 2)
    for cfg in {id(model.config): model.config, id(model.model.config): model.model.config}.values():
        cfg.patching_threshold = threshold
    return threshold


def run(cmd):
    print("$", " ".join(cmd), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr, sep="\n")
        raise SystemExit(f"command failed ({r.returncode}): {' '.join(cmd)}")
    return r


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blt", default="build/bin/blt", help="path of the blt program")
    parser.add_argument("--work", default=None, help="keep the files here (default: a temporary directory)")
    parser.add_argument("--device", default="cpu", help="device for the transformers model")
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import transformers
    from transformers import BltForCausalLM

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, device {args.device}")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="blt-parity-"))
    work.mkdir(parents=True, exist_ok=True)

    ids = [1] + [b + 4 for b in TEXT.encode("utf-8")]  # BOS, then byte + 4 (blt model logits --bos)
    L = len(ids)
    input_ids = torch.tensor([ids], device=args.device)

    torch.manual_seed(args.seed)
    model = BltForCausalLM(build_config(threshold=0.0)).float().eval()
    randomise(model, args.seed)
    model.to(args.device)

    threshold = set_robust_threshold(model, input_ids)
    with torch.no_grad():
        entropies, hf_entropy_lengths, hf_patcher_logits = model.model.patcher(
            input_ids, patch_size=4, threshold=threshold, max_patch_length=None)
    hf_entropy_lengths = hf_entropy_lengths.long().cpu()

    hf_dir, ckpt = work / "hf", work / "blt"
    model.save_pretrained(hf_dir)
    print("config.json:", (hf_dir / "config.json").read_text())
    run([args.blt, "import", str(hf_dir), str(ckpt)])

    gen = torch.Generator().manual_seed(args.seed + 1)
    given = [1]
    while sum(given) < L:
        given.append(min(L - sum(given), int(torch.randint(1, 9, (1,), generator=gen))))
    settings = {"given": given, "marker": given + [0]}

    text_file = work / "text.txt"
    text_file.write_bytes(TEXT.encode("utf-8"))
    results, ok = {}, True
    for name, lengths in list(settings.items()) + [("entropy", None)]:
        out = work / f"blt_{name}.safetensors"
        cmd = [args.blt, "model", "logits", str(ckpt), "--text-file", str(text_file), "--bos", "--out", str(out)]
        if lengths is not None:
            lengths_file = work / f"lengths_{name}.txt"
            lengths_file.write_text(" ".join(map(str, lengths)) + "\n")
            cmd += ["--patch-lengths", str(lengths_file)]
        run(cmd)
        blt_out = load_file(str(out))
        if list(blt_out["tokens"][0].tolist()) != ids:
            raise SystemExit("blt's tokens differ from the ids given to transformers")
        with torch.no_grad():
            kwargs = {"use_cache": False}
            if lengths is not None:
                kwargs["patch_lengths"] = torch.tensor([lengths], device=args.device)
            hf_logits = model(input_ids=input_ids, **kwargs).logits.float().cpu()
        diff = (hf_logits - blt_out["logits"]).abs().max().item()
        entry = {"max_abs_logit_diff": diff, "patches": len(lengths) if lengths is not None else None}
        if lengths is None:
            blt_lengths = blt_out["patch_lengths"].long()
            same = torch.equal(blt_lengths, hf_entropy_lengths)
            entropy_diff = (entropies.float().cpu() - blt_out["entropies"]).abs().max().item()
            margin = (entropies[0, 1:].float().cpu() - threshold).abs().min().item()
            entry.update(patches=hf_entropy_lengths.shape[1], identical_boundaries=same,
                         max_abs_entropy_diff=entropy_diff, threshold=threshold, closest_entropy_to_threshold=margin,
                         mean_patch_length=L / int((hf_entropy_lengths > 0).sum()))
            if not same:
                ok = False
                print("HF lengths :", hf_entropy_lengths.tolist())
                print("blt lengths:", blt_lengths.tolist())
        ok = ok and diff < args.tol
        results[name] = entry
        print(f"{name}: {json.dumps(entry)}", flush=True)

    # The patcher alone (a plain byte transformer): isolates RoPE/attention/norm differences
    # from the BLT-specific parts when the settings above disagree.
    out = work / "blt_patcher.safetensors"
    run([args.blt, "model", "logits", str(ckpt / "entropy"), "--text-file", str(text_file), "--bos", "--out", str(out)])
    patcher_out = load_file(str(out))
    diff = (hf_patcher_logits.float().cpu() - patcher_out["logits"]).abs().max().item()
    results["patcher"] = {"max_abs_logit_diff": diff}
    ok = ok and diff < args.tol
    print(f"patcher: {json.dumps(results['patcher'])}", flush=True)

    summary = {"bytes": L, "tol": args.tol, "torch": torch.__version__, "transformers": transformers.__version__,
               "device": args.device, "results": results, "pass": ok}
    (work / "parity.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    print("PARITY", "PASS" if ok else "FAIL", f"(files in {work})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
