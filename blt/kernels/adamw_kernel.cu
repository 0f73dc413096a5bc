// blt's AdamW kernel: the arithmetic of LibTorch's fused AdamW (and of train/adamw.cpp's
// reference loop) for one float32 tensor per launch. LibTorch's multi-tensor kernel moved blt-1b's
// 4.53 G parameters (28 bytes each per step) at ~2.5 TB/s, half the H200's bandwidth: it walks
// 64 K-element chunks with a few hundred blocks per launch. Here every thread streams float4s
// through the whole tensor, which is what a memory-bound update wants (docs/kernels.md).
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "blt/kernels/adamw_kernel.h"
#include "blt/kernels/kernel_common.cuh"
#include "blt/kernels/fused_kernels.h"

namespace blt::kernels::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ void adamw_element(float& value, float grad, float& m, float& v, const AdamWScalars& s,
                                              float clip) {
  const float g = grad * clip;
  value *= s.decay;
  m = s.beta1 * m + (1.0f - s.beta1) * g;
  v = s.beta2 * v + (1.0f - s.beta2) * g * g;
  value -= s.step_size * m / (sqrtf(v) / s.bias2_sqrt + s.eps);
}

// Four gradient elements from element 4 i: one 16-byte load of float32, one 8-byte load of bf16.
__device__ __forceinline__ float4 load4(const float* grad, int64_t i) { return reinterpret_cast<const float4*>(grad)[i]; }
__device__ __forceinline__ float4 load4(const bf16* grad, int64_t i) {
  const uint2 raw = reinterpret_cast<const uint2*>(grad)[i];
  const auto lo = *reinterpret_cast<const __nv_bfloat162*>(&raw.x), hi = *reinterpret_cast<const __nv_bfloat162*>(&raw.y);
  return make_float4(__low2float(lo), __high2float(lo), __low2float(hi), __high2float(hi));
}

// Four values rounded to bf16 into elements 4 i.. of `copy`: one 8-byte store.
__device__ __forceinline__ void store4(bf16* copy, int64_t i, const float4& p) {
  uint2 raw;
  *reinterpret_cast<__nv_bfloat162*>(&raw.x) = __floats2bfloat162_rn(p.x, p.y);
  *reinterpret_cast<__nv_bfloat162*>(&raw.y) = __floats2bfloat162_rn(p.z, p.w);
  reinterpret_cast<uint2*>(copy)[i] = raw;
}

template <typename G>
__global__ void adamw_vec4_kernel(float4* value, const G* grad, float4* m, float4* v, bf16* copy, int64_t n4,
                                  AdamWScalars s, const float* clip, const bool* skip) {
  if (skip != nullptr && *skip) return;
  const float c = clip != nullptr ? *clip : 1.0f;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n4;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float4 p = value[i], a = m[i], b = v[i];
    const float4 g = load4(grad, i);
    adamw_element(p.x, g.x, a.x, b.x, s, c);
    adamw_element(p.y, g.y, a.y, b.y, s, c);
    adamw_element(p.z, g.z, a.z, b.z, s, c);
    adamw_element(p.w, g.w, a.w, b.w, s, c);
    value[i] = p;
    m[i] = a;
    v[i] = b;
    if (copy != nullptr) store4(copy, i, p);
  }
}

template <typename G>
__global__ void adamw_scalar_kernel(float* value, const G* grad, float* m, float* v, bf16* copy, int64_t n,
                                    AdamWScalars s, const float* clip, const bool* skip) {
  if (skip != nullptr && *skip) return;
  const float c = clip != nullptr ? *clip : 1.0f;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    adamw_element(value[i], load(grad, i), m[i], v[i], s, c);
    if (copy != nullptr) store(copy, i, value[i]);
  }
}

// The applied steps of `history` in (from, through] with a zero gradient: what the dense update
// did to an element that the sparse updates left behind (train/adamw_rows.h).
__device__ __forceinline__ void missed_steps(float& p, float& a, float& b, int64_t from, int64_t through,
                                             const double* history, float beta1, float beta2, float eps,
                                             bool decays) {
  for (int64_t s = from + 1; s <= through; ++s) {
    const double* h = history + 4 * s;
    if (h[3] == 0.0) continue;
    const AdamWScalars sc{beta1, beta2, eps, decays ? static_cast<float>(h[0]) : 1.0f, static_cast<float>(h[1]),
                          static_cast<float>(h[2])};
    adamw_element(p, 0.0f, a, b, sc, 1.0f);
  }
}

// Sorted rows: a run of equal entries is one row, done by the block of its first entry.
__device__ __forceinline__ bool repeats_previous(const int64_t* rows, int64_t i) {
  return i > 0 && rows[i - 1] == rows[i];
}

// A run of equal rows is summed in two levels, so that a frequent row (a common n-gram: hundreds
// of lookups) costs no block more than a few dozen sequential loads: pieces of at most kPiece
// entries (a piece starts at every kPiece-th entry and at the first entry of every run), then the
// pieces of the run. Both in sorted order, which a stable sort makes the lookups' own order: the
// same sums on every call.
constexpr int64_t kPiece = 32;

// Column `c` of the gradient of the row whose run starts at sorted entry `first`, from the piece sums.
__device__ __forceinline__ float run_gradient(const float* pieces, const int64_t* rows, int64_t count, int64_t first,
                                              int64_t dim, int64_t c) {
  float g = pieces[first * dim + c];
  for (int64_t k = (first / kPiece + 1) * kPiece; k < count && rows[k] == rows[first]; k += kPiece)
    g += pieces[k * dim + c];
  return g;
}

// One block per sorted entry; an entry that starts a piece writes the sum of the piece's gradient
// rows (row order[j] of `grads` for entry j) to its own row of `pieces`.
__global__ void sum_row_pieces_kernel(const float* grads, const int64_t* rows, const int64_t* order, int64_t count,
                                      int64_t dim, float* pieces) {
  const int64_t i = blockIdx.x;
  if (i % kPiece != 0 && repeats_previous(rows, i)) return;
  const int64_t next_piece = (i / kPiece + 1) * kPiece, end = next_piece < count ? next_piece : count;
  for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
    float g = 0.0f;
    for (int64_t j = i; j < end && rows[j] == rows[i]; ++j) g += grads[order[j] * dim + c];
    pieces[i * dim + c] = g;
  }
}

// One block per entry of `rows`, threads across the row; the steps in the inner loop, so each
// element stays in registers through all the steps it missed. Moments stored as M (float or bf16).
template <typename M>
__global__ void adamw_catch_up_kernel(float* value, M* m, M* v, int64_t dim, const int64_t* rows, const int32_t* last,
                                      const double* history, int64_t through, float beta1, float beta2, float eps,
                                      bool decays) {
  const int64_t i = blockIdx.x;
  if (repeats_previous(rows, i)) return;
  const int64_t row = rows[i], from = last[row];
  if (from >= through) return;
  for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
    const int64_t at = row * dim + c;
    float p = value[at], a = load(m, at), b = load(v, at);
    missed_steps(p, a, b, from, through, history, beta1, beta2, eps, decays);
    value[at] = p;
    store(m, at, a);
    store(v, at, b);
  }
}

// One block per sorted entry: the first of each run writes its row's squared gradient norm, the
// others zero (a block-uniform branch: block_sum's barriers see every thread).
__global__ void rows_squared_norm_kernel(const float* pieces, const int64_t* rows, int64_t count, int64_t dim,
                                         float* out) {
  __shared__ float scratch[33];
  const int64_t i = blockIdx.x;
  if (repeats_previous(rows, i)) {
    if (threadIdx.x == 0) out[i] = 0.0f;
    return;
  }
  float squares = 0.0f;
  for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
    const float g = run_gradient(pieces, rows, count, i, dim, c);
    squares += g * g;
  }
  const float total = block_sum(squares, scratch);
  if (threadIdx.x == 0) out[i] = total;
}

// One block per sorted entry, the first of each run does its row in place: the steps the row
// missed, then this step with the run's summed gradient (unless *skip). Moments stored as M.
template <typename M>
__global__ void adamw_rows_kernel(float* value, M* m, M* v, int64_t dim, const int64_t* rows, int64_t count,
                                  const float* pieces, const int32_t* last, const double* history, int64_t step,
                                  AdamWScalars s, bool decays, const float* clip, const bool* skip) {
  const int64_t i = blockIdx.x;
  if (repeats_previous(rows, i)) return;
  const int64_t row = rows[i], from = last[row];
  const bool apply = skip == nullptr || !*skip;
  const float scale = clip != nullptr ? *clip : 1.0f;
  for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
    const int64_t at = row * dim + c;
    float p = value[at], a = load(m, at), b = load(v, at);
    missed_steps(p, a, b, from, step - 1, history, s.beta1, s.beta2, s.eps, decays);
    if (apply) adamw_element(p, run_gradient(pieces, rows, count, i, dim, c), a, b, s, scale);
    value[at] = p;
    store(m, at, a);
    store(v, at, b);
  }
}

int blocks_for(int64_t work) {  // enough blocks to fill every SM several times, no more
  const int64_t wanted = (work + kThreads - 1) / kThreads, cap = static_cast<int64_t>(sm_count()) * 8;
  return static_cast<int>(wanted < cap ? wanted : cap);
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

void adamw(float* value, const void* grad, DType grad_type, float* exp_avg, float* exp_avg_sq, void* copy_out,
           int64_t n, const AdamWScalars& s, const float* clip, const bool* skip, void* stream) {
  if (n == 0) return;
  const auto st = static_cast<cudaStream_t>(stream);
  auto* copy = static_cast<bf16*>(copy_out);
  with_types(
      [&](auto tag) {
        using G = type_of<decltype(tag)>;
        const auto* g = static_cast<const G*>(grad);
        int64_t done = 0;
        // A group of four gradients is 16 bytes of float32 or 8 of bf16, four copy values 8 bytes.
        const bool grad_aligned = reinterpret_cast<uintptr_t>(g) % (4 * sizeof(G)) == 0;
        const bool copy_aligned = reinterpret_cast<uintptr_t>(copy) % (4 * sizeof(bf16)) == 0;
        if (aligned16(value) && grad_aligned && aligned16(exp_avg) && aligned16(exp_avg_sq) && copy_aligned) {
          const int64_t n4 = n / 4;
          if (n4 > 0)
            adamw_vec4_kernel<G><<<blocks_for(n4), kThreads, 0, st>>>(
                reinterpret_cast<float4*>(value), g, reinterpret_cast<float4*>(exp_avg),
                reinterpret_cast<float4*>(exp_avg_sq), copy, n4, s, clip, skip);
          done = n4 * 4;
        }
        if (done < n)
          adamw_scalar_kernel<G><<<blocks_for(n - done), kThreads, 0, st>>>(
              value + done, g + done, exp_avg + done, exp_avg_sq + done, copy != nullptr ? copy + done : nullptr,
              n - done, s, clip, skip);
      },
      grad_type);
  check_launch("adamw");
}

void adamw_catch_up(float* value, void* exp_avg, void* exp_avg_sq, DType moments, int64_t dim, const int64_t* rows,
                    int64_t count, const int32_t* last, const double* history, int64_t through, float beta1,
                    float beta2, float eps, bool decays, void* stream) {
  if (count == 0 || dim == 0) return;
  const auto st = static_cast<cudaStream_t>(stream);
  with_types(
      [&](auto tag) {
        using M = type_of<decltype(tag)>;
        adamw_catch_up_kernel<M><<<static_cast<unsigned>(count), row_threads(dim), 0, st>>>(
            value, static_cast<M*>(exp_avg), static_cast<M*>(exp_avg_sq), dim, rows, last, history, through, beta1,
            beta2, eps, decays);
      },
      moments);
  check_launch("adamw_catch_up");
}

void sum_row_pieces(const float* grads, const int64_t* rows, const int64_t* order, int64_t count, int64_t dim,
                    float* pieces, void* stream) {
  if (count == 0 || dim == 0) return;
  sum_row_pieces_kernel<<<static_cast<unsigned>(count), row_threads(dim), 0, static_cast<cudaStream_t>(stream)>>>(
      grads, rows, order, count, dim, pieces);
  check_launch("sum_row_pieces");
}

void rows_squared_norm(const float* pieces, const int64_t* rows, int64_t count, int64_t dim, float* out, void* stream) {
  if (count == 0 || dim == 0) return;
  rows_squared_norm_kernel<<<static_cast<unsigned>(count), row_threads(dim), 0, static_cast<cudaStream_t>(stream)>>>(
      pieces, rows, count, dim, out);
  check_launch("rows_squared_norm");
}

void adamw_rows(float* value, void* exp_avg, void* exp_avg_sq, DType moments, int64_t dim, const int64_t* rows,
                int64_t count, const float* pieces, const int32_t* last, const double* history, int64_t step,
                const AdamWScalars& s, bool decays, const float* clip, const bool* skip, void* stream) {
  if (count == 0 || dim == 0) return;
  const auto st = static_cast<cudaStream_t>(stream);
  with_types(
      [&](auto tag) {
        using M = type_of<decltype(tag)>;
        adamw_rows_kernel<M><<<static_cast<unsigned>(count), row_threads(dim), 0, st>>>(
            value, static_cast<M*>(exp_avg), static_cast<M*>(exp_avg_sq), dim, rows, count, pieces, last, history,
            step, s, decays, clip, skip);
      },
      moments);
  check_launch("adamw_rows");
}

}  // namespace blt::kernels::cuda
