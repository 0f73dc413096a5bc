#!/usr/bin/env bash
# Checks that std::filesystem binds to libstdc++, not to the copies libtorch_cpu.so exports.
source .device/env.sh
readelf -d build-gpu/bin/blt_tests | grep NEEDED | head -4
LD_DEBUG=bindings build-gpu/bin/blt_tests "config: includes merge*" 2>&1 | grep -E "remove_all" | head -4
