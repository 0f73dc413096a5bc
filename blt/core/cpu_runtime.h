// Process-wide CPU settings every blt program makes first thing.
#pragma once

namespace blt {

// 1. Memory: glibc's malloc returns large freed blocks to the kernel at once
//    (mmap'd chunks, heap trimming). A training step frees and reallocates the
//    same hundreds of MB of activations every step, so each step pays again for
//    page faults and zeroing (measured: 2.3x slower steps of the tiny byte LM on
//    CPU). Freed memory is kept in the process instead.
// 2. Threads: the OpenMP runtime of Debian's LibTorch starts with one thread on
//    some machines (omp_get_max_threads() was 1 on a 2-core VM, halving matmul
//    speed). Unless OMP_NUM_THREADS is set, LibTorch gets every CPU this process
//    may run on, divided among the local ranks of a multi-process job
//    (LOCAL_WORLD_SIZE), so that ranks on one machine do not oversubscribe it.
// 3. Waiting: an idle OpenMP thread of libgomp spins for up to 300,000 pause
//    instructions (milliseconds on current x86) before it sleeps. Alone on its
//    cores that is harmless; beside another busy process it burns the time slices
//    the other's threads need (docs/training.md: two tiny runs on 2 cores ran at
//    1/36 of the speed of one). libgomp reads its wait policy once, when it is
//    loaded, before main(): so unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set,
//    the program sets a short spin (kOpenMpSpinCount in cpu_runtime.cpp) and
//    executes itself again in place (/proc/self/exe: same pid, same arguments).
//    `argv` is main()'s; pass nullptr to skip the restart.
void setup_cpu_runtime(char** argv);

}  // namespace blt
