#!/usr/bin/env bash
# Installs the system packages blt builds against (Debian/Ubuntu, apt). Idempotent:
# does nothing when everything is already installed.
set -euo pipefail

# libopenblas0-openmp: Debian's libtorch calls BLAS through libblas.so.3, which is
# the slow reference BLAS unless an optimised one is installed (OpenBLAS made CPU
# training steps 2-4x faster here; the OpenMP build shares LibTorch's thread pool).
packages=(build-essential cmake ninja-build pkg-config
          libtorch-dev libgloo-dev libyaml-cpp-dev libfmt-dev libspdlog-dev
          catch2 nlohmann-json3-dev zlib1g-dev libsentencepiece-dev libopenblas0-openmp
          python3-matplotlib)  # scripts/plot_metrics.py

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
  cat >&2 <<MSG
blt: scripts/setup.sh knows only Debian/Ubuntu (apt). On this system install by hand:
  a C++17 compiler, CMake >= 3.18, Ninja, LibTorch (>= 1.13), yaml-cpp, fmt, spdlog,
  Catch2 v2, nlohmann-json 3, zlib, SentencePiece — then run: cmake -S . -B build -G Ninja && cmake --build build
MSG
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
