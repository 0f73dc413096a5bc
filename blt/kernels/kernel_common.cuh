// What the CUDA kernels of fused_kernels.cu and adamw_kernel.cu share: float loads and stores of
// float32 or bf16 storage, the dispatch from DType to the kernels' template types, sums across a
// warp and a block, the block size of row kernels, the launch check.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "blt/kernels/fused_kernels.h"  // DType

namespace blt::kernels::cuda {

using bf16 = __nv_bfloat16;

// Arithmetic is in float; bf16 is only how values are stored (rounded to nearest even).
inline __device__ float load(const float* p, int64_t i) { return p[i]; }
inline __device__ float load(const bf16* p, int64_t i) { return __bfloat162float(p[i]); }
inline __device__ void store(float* p, int64_t i, float v) { p[i] = v; }
inline __device__ void store(bf16* p, int64_t i, float v) { p[i] = __float2bfloat16_rn(v); }

// Eight consecutive elements as one access: 16 bytes of bf16 (one 128-bit load) or 32 of float
// (two). A thread that moves 16 bytes at a time keeps more bytes in flight than one moving 2 or 4,
// which is what memory-bound kernels need to come near the GPU's bandwidth. Conversions round as
// load/store above, so a grouped kernel stores the very values of its one-element twin.
constexpr int kGroup = 8;
inline __device__ void load_group(const float* p, int64_t i, float* out) {
  const float4 a = *reinterpret_cast<const float4*>(p + i), b = *reinterpret_cast<const float4*>(p + i + 4);
  out[0] = a.x, out[1] = a.y, out[2] = a.z, out[3] = a.w, out[4] = b.x, out[5] = b.y, out[6] = b.z, out[7] = b.w;
}
inline __device__ void load_group(const bf16* p, int64_t i, float* out) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p + i);
  const auto* pairs = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int k = 0; k < kGroup / 2; ++k) {
    const float2 f = __bfloat1622float2(pairs[k]);
    out[2 * k] = f.x, out[2 * k + 1] = f.y;
  }
}
inline __device__ void store_group(float* p, int64_t i, const float* v) {
  *reinterpret_cast<float4*>(p + i) = make_float4(v[0], v[1], v[2], v[3]);
  *reinterpret_cast<float4*>(p + i + 4) = make_float4(v[4], v[5], v[6], v[7]);
}
inline __device__ void store_group(bf16* p, int64_t i, const float* v) {
  uint4 raw;
  auto* pairs = reinterpret_cast<__nv_bfloat162*>(&raw);
#pragma unroll
  for (int k = 0; k < kGroup / 2; ++k) pairs[k] = __floats2bfloat162_rn(v[2 * k], v[2 * k + 1]);
  *reinterpret_cast<uint4*>(p + i) = raw;
}

// Whether every pointer allows group accesses at multiples of kGroup elements (16-byte aligned).
inline bool group_aligned() { return true; }
template <typename... Rest>
bool group_aligned(const void* p, Rest... rest) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0 && group_aligned(rest...);
}

// Calls f with one null pointer per DType argument, each of the C++ type that DType names (the
// kernels' template arguments): with_types(f, kFloat, kBFloat16) calls f((float*)0, (bf16*)0).
template <typename F>
void with_types(F&& f) {
  f();
}
template <typename F, typename... Rest>
void with_types(F&& f, DType first, Rest... rest) {
  const auto bind = [&](auto tag) { with_types([&](auto... tags) { f(tag, tags...); }, rest...); };
  if (first == DType::kFloat) {
    bind(static_cast<float*>(nullptr));
  } else {
    bind(static_cast<bf16*>(nullptr));
  }
}
template <typename Tag>
using type_of = std::remove_pointer_t<Tag>;

// Every lane of a full warp gets the warp's total.
inline __device__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
inline __device__ float block_sum(float v, float* scratch /* [33] */) {
  v = warp_sum(v);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = warp_sum(lane < warps ? scratch[lane] : 0.0f);
    if (lane == 0) scratch[32] = v;
  }
  __syncthreads();
  const float total = scratch[32];
  __syncthreads();  // scratch is reused by the next call
  return total;
}

constexpr int kRowThreads = 256;

// A block for one row of `dim` elements: the row's width in whole warps, at most kRowThreads.
inline int row_threads(int64_t dim) {
  const int64_t warps = (dim + 31) / 32;
  return static_cast<int>(warps >= kRowThreads / 32 ? kRowThreads : warps * 32);
}

// Throws CUDA's message for a failed launch.
inline void check_launch(const char* what) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

}  // namespace blt::kernels::cuda
