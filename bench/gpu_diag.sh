#!/usr/bin/env bash
# Which shared object serves the std::filesystem symbols of the GPU build (diagnosis).
source .device/env.sh
/opt/gcc/bin/g++ --version | head -1
for lib in $(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')/lib/libtorch_cpu.so \
           $(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')/lib/libc10.so; do
  echo "$lib exports $(nm -D --defined-only "$lib" | grep -c '_ZNSt10filesystem') std::filesystem symbols"
done
LD_DEBUG=bindings build-gpu/bin/blt_tests "config: includes merge*" 2>&1 | grep -E "filesystem" | head -8
which gdb && gdb -batch -ex run -ex bt --args build-gpu/bin/blt_tests "config: includes merge*" 2>&1 | tail -25
