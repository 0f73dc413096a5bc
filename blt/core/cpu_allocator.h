// glibc's malloc returns large freed blocks to the kernel at once (mmap'd
// chunks, heap trimming). A training step frees and reallocates the same
// hundreds of MB of activations every step, so each step pays again for page
// faults and zeroing: measured 2.3x slower steps of the tiny byte LM on CPU.
// Programs call this first thing to keep that memory in the process instead.
#pragma once

namespace blt {

void keep_freed_memory_in_process();

}  // namespace blt
