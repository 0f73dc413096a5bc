#!/usr/bin/env python3
"""Cross-check blt's safetensors reader and writer against the Python `safetensors` package.

1. Python writes a file with every dtype blt supports (plus a scalar, an empty tensor and metadata).
2. `blt safetensors info` validates and lists it; `blt safetensors copy` reads it with blt's reader
   and writes it again with blt's writer.
3. Python reads blt's file and checks every tensor bit for bit, and the metadata.

Usage: python3 scripts/check_safetensors.py [--blt build/bin/blt]   (needs torch and safetensors)
Exit code 0 when everything matches.
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

DTYPES = {
    "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}


def sample(dtype, shape, gen):
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * 100
    if dtype == torch.bool:
        return x > 0
    if dtype == torch.uint8:
        return x.abs().remainder(256).to(dtype)
    return x.to(dtype)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blt", default="build/bin/blt", help="path of the blt program")
    args = parser.parse_args()

    gen = torch.Generator().manual_seed(0)
    tensors = {f"t.{name}": sample(dtype, (3, i + 2), gen) for i, (name, dtype) in enumerate(DTYPES.items())}
    tensors["scalar"] = torch.tensor(2.5)
    tensors["empty"] = torch.zeros(0, 4)
    tensors["big.weight"] = torch.randn(257, 33, generator=gen)
    metadata = {"format": "pt", "source": "python safetensors"}

    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        py_file, blt_file = Path(tmp) / "python.safetensors", Path(tmp) / "blt.safetensors"
        save_file(tensors, str(py_file), metadata=metadata)

        info = subprocess.run([args.blt, "safetensors", "info", str(py_file)], capture_output=True, text=True)
        if info.returncode != 0:
            failures.append(f"blt safetensors info failed on the Python file:\n{info.stdout}{info.stderr}")
        else:
            for name, t in tensors.items():
                dtype = next(k for k, v in DTYPES.items() if v == t.dtype)
                shape = ", ".join(str(d) for d in t.shape)
                if f"{name} {dtype} [{shape}]" not in info.stdout:
                    failures.append(f"blt safetensors info does not list {name} {dtype} [{shape}]:\n{info.stdout}")

        copy = subprocess.run([args.blt, "safetensors", "copy", str(py_file), str(blt_file)], capture_output=True, text=True)
        if copy.returncode != 0:
            failures.append(f"blt safetensors copy failed:\n{copy.stdout}{copy.stderr}")
        else:
            back = load_file(str(blt_file))
            if set(back) != set(tensors):
                failures.append(f"tensor names differ: {sorted(set(back) ^ set(tensors))}")
            for name, t in tensors.items():
                b = back.get(name)
                if b is None:
                    continue
                if b.dtype != t.dtype or b.shape != t.shape or not torch.equal(b, t):
                    failures.append(f"{name}: blt wrote {b.dtype} {tuple(b.shape)}, expected {t.dtype} {tuple(t.shape)} (or values differ)")
            with safe_open(str(blt_file), framework="pt") as f:
                if f.metadata() != metadata:
                    failures.append(f"metadata: blt wrote {f.metadata()}, expected {metadata}")
            header_len = int.from_bytes(blt_file.read_bytes()[:8], "little")
            if header_len % 8:
                failures.append(f"blt's header length {header_len} is not a multiple of 8")

    for f in failures:
        print("FAIL:", f)
    print("safetensors cross-check:", "OK" if not failures else f"{len(failures)} failure(s)",
          f"({len(tensors)} tensors, dtypes {' '.join(DTYPES)})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
