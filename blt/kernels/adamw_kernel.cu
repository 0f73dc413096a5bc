// blt's AdamW kernel: the arithmetic of LibTorch's fused AdamW (and of train/adamw.cpp's
// reference loop) for every float32 tensor of a step in one launch. LibTorch's multi-tensor
// kernel moved blt-1b's 4.53 G parameters (28 bytes each per step) at ~2.5 TB/s, half the H200's
// bandwidth: a few hundred blocks per launch, a launch per ~100 tensors, one element per load.
// Here a full GPU of resident blocks takes 64 K-element chunks of any tensor in turn and streams
// float4s through them, which is what a memory-bound update wants (docs/kernels.md).
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

// Elements [begin, end) of one tensor, by the threads of one block: four at a time where the
// tensor's pointers allow it, the rest (its last n % 4, or all of an unaligned tensor) alone.
template <typename G>
__device__ __forceinline__ void adamw_range(const AdamWTensor& t, int64_t begin, int64_t end, const AdamWScalars& s,
                                            float clip) {
  const auto* grad = static_cast<const G*>(t.grad);
  auto* copy = static_cast<bf16*>(t.copy);
  int64_t alone = begin;
  if (t.vec4) {
    const int64_t end4 = min(end, t.n / 4 * 4);
    auto *value = reinterpret_cast<float4*>(t.value), *m = reinterpret_cast<float4*>(t.exp_avg),
         *v = reinterpret_cast<float4*>(t.exp_avg_sq);
    for (int64_t i = begin / 4 + threadIdx.x; i < end4 / 4; i += blockDim.x) {
      float4 p = value[i], a = m[i], b = v[i];
      const float4 g = load4(grad, i);
      adamw_element(p.x, g.x, a.x, b.x, s, clip);
      adamw_element(p.y, g.y, a.y, b.y, s, clip);
      adamw_element(p.z, g.z, a.z, b.z, s, clip);
      adamw_element(p.w, g.w, a.w, b.w, s, clip);
      value[i] = p;
      m[i] = a;
      v[i] = b;
      if (copy != nullptr) store4(copy, i, p);
    }
    alone = max(begin, end4);
  }
  for (int64_t i = alone + threadIdx.x; i < end; i += blockDim.x) {
    adamw_element(t.value[i], load(grad, i), t.exp_avg[i], t.exp_avg_sq[i], s, clip);
    if (copy != nullptr) store(copy, i, t.value[i]);
  }
}

// A chunk is the elements a block takes at a time: 64 float4s per thread of a 256-thread block,
// long enough that a block streams, short enough that the last tensors' chunks spread over the SMs.
constexpr int64_t kChunk = int64_t{1} << 16;

// The tensor that chunk `chunk` belongs to: the last one whose first chunk is at or before it.
__device__ __forceinline__ int64_t tensor_of(const AdamWTensor* tensors, int64_t count, int64_t chunk) {
  int64_t lo = 0, hi = count - 1;
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (tensors[mid].first_chunk <= chunk) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

// Every tensor's step in one launch: blocks take chunks (of any tensor) in turn.
__global__ void adamw_kernel(const AdamWTensor* tensors, int64_t count, int64_t chunks, AdamWScalars s,
                             const float* clip, const bool* skip) {
  if (skip != nullptr && *skip) return;
  const float c = clip != nullptr ? *clip : 1.0f;
  for (int64_t chunk = blockIdx.x; chunk < chunks; chunk += gridDim.x) {
    const AdamWTensor t = tensors[tensor_of(tensors, count, chunk)];
    const int64_t begin = (chunk - t.first_chunk) * kChunk, end = min(begin + kChunk, t.n);
    s.decay = t.decay;
    if (t.grad_bf16) adamw_range<bf16>(t, begin, end, s, c);
    else adamw_range<float>(t, begin, end, s, c);
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

bool aligned(const void* p, int bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

}  // namespace

int64_t plan_adamw(AdamWTensor* tensors, int64_t count) {
  int64_t chunks = 0;
  for (int64_t i = 0; i < count; ++i) {
    auto& t = tensors[i];
    if (t.n <= 0) throw std::invalid_argument("plan_adamw: an empty tensor");
    // A group of four gradients is 16 bytes of float32 or 8 of bf16, four copy values 8 bytes.
    t.vec4 = aligned(t.value, 16) && aligned(t.exp_avg, 16) && aligned(t.exp_avg_sq, 16) &&
             aligned(t.grad, t.grad_bf16 ? 8 : 16) && aligned(t.copy, 8);
    t.first_chunk = chunks;
    chunks += (t.n + kChunk - 1) / kChunk;
  }
  return chunks;
}

void adamw(const AdamWTensor* tensors, int64_t count, int64_t chunks, const AdamWScalars& s, const float* clip,
           const bool* skip, void* stream) {
  if (count == 0) return;
  const int64_t cap = static_cast<int64_t>(sm_count()) * 8;  // resident blocks, each taking chunks in turn
  adamw_kernel<<<static_cast<unsigned>(chunks < cap ? chunks : cap), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      tensors, count, chunks, s, clip, skip);
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
