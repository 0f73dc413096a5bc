#!/usr/bin/env bash
# Stages what a GPU build needs into .device/ (run here, on the CPU machine, once per
# checkout): the shared staging of yaml-cpp/fmt/spdlog/Catch2/json (../shared/device),
# plus gloo's headers from Debian's libgloo-dev, which the torch wheel lacks; with
# them the GPU build also has Gloo for CPU ranks (the multi-process CPU tests).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
bash ../shared/device/stage.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download libgloo-dev >/dev/null 2>&1)
dpkg -x "$tmp"/libgloo-dev_*.deb "$tmp/x"
cp -r "$tmp/x/usr/include/gloo" .device/prefix/usr/include/
echo "staged: gloo headers $(ls .device/prefix/usr/include/gloo | wc -l) files"
