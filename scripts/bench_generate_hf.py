#!/usr/bin/env python3
"""Greedy generation speed of transformers' BltForCausalLM, for comparison with `blt generate`.

Builds a randomly initialised BltForCausalLM of the given shapes from a BltConfig (no hub
access), sets the entropy threshold so that the patcher's mean patch on the prompt is about
--mean-patch bytes (random weights give near-uniform entropies otherwise, i.e. one byte
per patch), times `generate` (greedy, exactly --new-bytes new bytes: EOS is suppressed by
min_new_tokens), and prints bytes/s. With --save DIR it also writes the model with
save_pretrained, so that `blt import DIR CKPT` gives blt the same weights and threshold.

  python3 scripts/bench_generate_hf.py --shape blt-1b --dtype bf16 --device cuda --new-bytes 256 --save /tmp/hf-1b
"""
import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hf_parity import randomise, rope_kwargs  # noqa: E402

PROMPT = "The Byte Latent Transformer reads raw bytes instead of tokens. A small entropy model decides where"

# Our presets (configs/model/blt-1b.yaml, blt-400m.yaml, small.yaml; the entropy model of entropy-100m.yaml /
# entropy-tiny.yaml).
SHAPES = {
    "blt-1b": dict(local=1024, heads=16, ffn=2816, enc_layers=1, dec_layers=9, global_dim=2048, global_layers=25,
                   global_heads=16, global_ffn=5632, hash_vocab=500002,
                   patcher=dict(hidden_size=768, num_attention_heads=12, num_hidden_layers=14, intermediate_size=2048)),
    "blt-400m": dict(local=512, heads=8, ffn=1536, enc_layers=1, dec_layers=7, global_dim=1024, global_layers=24,
                     global_heads=16, global_ffn=2816, hash_vocab=500002,
                     patcher=dict(hidden_size=768, num_attention_heads=12, num_hidden_layers=14, intermediate_size=2048)),
    "small": dict(local=256, heads=4, ffn=768, enc_layers=1, dec_layers=3, global_dim=512, global_layers=4,
                  global_heads=8, global_ffn=1536, hash_vocab=4096,
                  patcher=dict(hidden_size=64, num_attention_heads=4, num_hidden_layers=2, intermediate_size=176)),
}


def build_config(shape, patcher_of=None):
    """BltConfig of one of SHAPES; `patcher_of` takes the patcher (entropy model) shapes of another."""
    from transformers import BltConfig
    from transformers.models.blt.configuration_blt import (
        BltGlobalTransformerConfig,
        BltLocalDecoderConfig,
        BltLocalEncoderConfig,
        BltPatcherConfig,
    )

    s = SHAPES[shape]
    local = dict(hidden_size=s["local"], num_attention_heads=s["heads"], intermediate_size=s["ffn"], cross_attn_k=2,
                 hidden_size_global=s["global_dim"], rms_norm_eps=1e-5)
    return BltConfig(
        vocab_size=260,
        patch_in_forward=True,
        patching_mode="entropy",
        patching_threshold=1.335442066192627,
        max_patch_length=None,
        cross_attn_k=2,
        encoder_hash_byte_group_size=[3, 4, 5, 6, 7, 8],
        encoder_hash_byte_group_vocab=s["hash_vocab"],
        encoder_hash_byte_group_nb_functions=1,
        tie_word_embeddings=False,
        encoder_config=dict(local, num_hidden_layers=s["enc_layers"], cross_attn_all_layers=False,
                            **rope_kwargs(BltLocalEncoderConfig, 500000.0)),
        decoder_config=dict(local, num_hidden_layers=s["dec_layers"], cross_attn_all_layers=True,
                            **rope_kwargs(BltLocalDecoderConfig, 500000.0)),
        global_config=dict(hidden_size=s["global_dim"], num_attention_heads=s["global_heads"],
                           num_hidden_layers=s["global_layers"], intermediate_size=s["global_ffn"],
                           **rope_kwargs(BltGlobalTransformerConfig, 500000.0)),
        patcher_config=dict(SHAPES[patcher_of or shape]["patcher"], **rope_kwargs(BltPatcherConfig, 10000.0)),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="blt-1b")
    parser.add_argument("--dtype", choices=["bf16", "fp32"], default="bf16")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--new-bytes", type=int, default=256)
    parser.add_argument("--prompt", default=PROMPT)
    parser.add_argument("--mean-patch", type=float, default=4.5, help="target mean patch size on the prompt (bytes)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs after one warm-up run; the best is reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default=None, help="save_pretrained the model here (fp32) for `blt import`")
    parser.add_argument("--no-cache", action="store_true", help="generate with use_cache=False")
    args = parser.parse_args()

    import transformers
    from transformers import BltForCausalLM

    torch.manual_seed(args.seed)
    model = BltForCausalLM(build_config(args.shape)).float().eval()
    randomise(model, args.seed)
    model.to(args.device)
    ids = torch.tensor([[1] + [b + 4 for b in args.prompt.encode("utf-8")]], device=args.device)  # BOS, byte + 4

    # Threshold at the entropy quantile that starts a patch at about 1 / mean_patch of the positions.
    with torch.no_grad():
        entropies, _, _ = model.model.patcher(ids, patch_size=4, threshold=1e9, max_patch_length=None)
    threshold = float(torch.quantile(entropies[0, 1:].double().cpu(), 1.0 - 1.0 / args.mean_patch))
    for cfg in {id(model.config): model.config, id(model.model.config): model.model.config}.values():
        cfg.patching_threshold = threshold
    if args.save:
        model.save_pretrained(args.save)
        print(f"saved to {args.save} (patching_threshold {threshold:.6f})")

    if args.dtype == "bf16":
        model.to(torch.bfloat16)
    n = args.new_bytes
    kwargs = dict(max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0)
    # BltModel.forward builds its cross-attention cache with DynamicCache(config=BltConfig), which
    # reads config.num_hidden_layers; BltConfig has none (transformers 5.17: AttributeError inside
    # generate). The cache holds the local decoder's layers: give the config that count. Greedy
    # output with the cache must equal output without it; checked below on the first bytes.
    # --no-cache measures generate() re-running the whole prefix for every byte.
    for cfg in {id(model.config): model.config, id(model.model.config): model.model.config}.values():
        if not hasattr(cfg, "num_hidden_layers"):
            cfg.num_hidden_layers = cfg.decoder_config.num_hidden_layers
    if not args.no_cache:
        check = dict(kwargs, max_new_tokens=16, min_new_tokens=16)
        with torch.no_grad():
            cached = model.generate(ids, **check)
            uncached = model.generate(ids, **check, use_cache=False)
        same = torch.equal(cached, uncached)
        print(f"cached generate == uncached on the first 16 bytes: {same}")
        if not same:
            raise SystemExit("BltForCausalLM.generate with its cache differs from without: timing it would mislead")

    def cache_kwargs():
        return dict(use_cache=False) if args.no_cache else {}

    best = None
    for run in range(args.repeats + 1):
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.no_grad():
            out = model.generate(ids, **kwargs, **cache_kwargs())
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        new = out.shape[1] - ids.shape[1]
        if run > 0:
            best = seconds if best is None else min(best, seconds)
        print(f"run {run}{' (warm-up)' if run == 0 else ''}: {new} bytes in {seconds:.2f} s ({new / seconds:.1f} bytes/s)")
    # Speed follows the number of patches (the global model runs once per patch): how HF's patcher,
    # in the dtype it ran in, cuts the final sequence.
    with torch.no_grad():
        _, lengths, _ = model.model.patcher(out, patch_size=4, threshold=threshold, max_patch_length=None)
    patches = int((lengths > 0).sum())
    print(f"patches of the final {out.shape[1]} ids: {patches} ({out.shape[1] / patches:.2f} ids per patch)")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {args.shape}, {args.dtype}, "
          f"{args.device}{', no cache' if args.no_cache else ''}: BltForCausalLM.generate greedy {n} new bytes after {ids.shape[1]} prompt ids: "
          f"{n / best:.1f} bytes/s (best of {args.repeats})")


if __name__ == "__main__":
    main()
