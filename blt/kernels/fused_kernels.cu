// The fused CUDA kernels behind fused_ops.h: one pass over memory where LibTorch's operators take
// several (RMSNorm: 6 kernels forward; SwiGLU: 2 forward, 4 backward; rotary embedding: 7 forward),
// and outputs written in the type their consumer wants, so that autocast has nothing to re-cast.
// All arithmetic is in float (fused_math.h); bf16 is only how values are stored. These kernels are
// memory-bound: coalesced, no shared-memory tiling. Where the shapes and pointers allow it (sizes a
// multiple of 8 elements, 16-byte aligned: every blt model), RMSNorm and SwiGLU's gate move 8
// elements per thread and access (the *_grouped kernels, kernel_common.cuh's load_group), otherwise
// one (their twins). The rotary embedding keeps one pair per thread: grouped, it ran slower
// (docs/kernels.md).
#include <cuda_runtime.h>

#include <atomic>
#include <stdexcept>
#include <string>

#include "blt/kernels/kernel_common.cuh"
#include "blt/kernels/fused_kernels.h"
#include "blt/kernels/fused_math.h"

namespace blt::kernels::cuda {

int sm_count() {  // per device, asked once: launches must not pay for a driver query
  constexpr int kDevices = 64;
  static std::atomic<int> counts[kDevices] = {};
  int device = 0;
  cudaGetDevice(&device);
  if (device < 0 || device >= kDevices) device = 0;
  if (counts[device] == 0) {
    int count = 0;
    cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device);
    counts[device] = count > 0 ? count : 1;
  }
  return counts[device];
}

namespace {

constexpr int kElementThreads = 256;

template <typename X, typename W, typename Y>
__global__ void rms_norm_forward_kernel(const X* x, const W* w, Y* y, float* rstd, int64_t dim, float eps) {
  __shared__ float scratch[33];
  const int64_t base = static_cast<int64_t>(blockIdx.x) * dim;
  float squares = 0.0f;
  for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
    const float v = load(x, base + c);
    squares += v * v;
  }
  const float r = rsqrtf(block_sum(squares, scratch) / static_cast<float>(dim) + eps);
  if (threadIdx.x == 0) rstd[blockIdx.x] = r;
  for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) store(y, base + c, load(w, c) * (load(x, base + c) * r));
}

// Each block walks rows blockIdx.x, blockIdx.x + gridDim.x, ...; thread t always owns columns
// t, t + blockDim.x, ..., so its dw accumulators in shared memory need no atomics.
template <typename G, typename X, typename W>
__global__ void rms_norm_backward_kernel(const G* dy, const X* x, const W* w, const float* rstd, X* dx,
                                         float* dw_partial, int64_t rows, int64_t dim) {
  extern __shared__ float dw_acc[];
  __shared__ float scratch[33];
  for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) dw_acc[c] = 0.0f;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t base = row * dim;
    const float r = rstd[row];
    float dot = 0.0f;
    for (int64_t c = threadIdx.x; c < dim; c += blockDim.x)
      dot += load(dy, base + c) * load(w, c) * (load(x, base + c) * r);
    const float mean_dot = block_sum(dot, scratch) / static_cast<float>(dim);
    for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
      const float g = load(dy, base + c), xh = load(x, base + c) * r;
      store(dx, base + c, kernels::rms_norm_input_grad(r, load(w, c) * g, xh, mean_dot));
      dw_acc[c] += g * xh;
    }
  }
  for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) dw_partial[blockIdx.x * dim + c] = dw_acc[c];
}

// rms_norm_forward_kernel with group accesses: dim % kGroup == 0, thread t owns groups t, t + blockDim.x, ...
template <typename X, typename W, typename Y>
__global__ void rms_norm_forward_grouped_kernel(const X* x, const W* w, Y* y, float* rstd, int64_t dim, float eps) {
  __shared__ float scratch[33];
  const int64_t base = static_cast<int64_t>(blockIdx.x) * dim;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * kGroup;
  float squares = 0.0f;
  for (int64_t c = threadIdx.x * kGroup; c < dim; c += stride) {
    float v[kGroup];
    load_group(x, base + c, v);
#pragma unroll
    for (int j = 0; j < kGroup; ++j) squares += v[j] * v[j];
  }
  const float r = rsqrtf(block_sum(squares, scratch) / static_cast<float>(dim) + eps);
  if (threadIdx.x == 0) rstd[blockIdx.x] = r;
  for (int64_t c = threadIdx.x * kGroup; c < dim; c += stride) {
    float v[kGroup], wc[kGroup], out[kGroup];
    load_group(x, base + c, v);
    load_group(w, c, wc);
#pragma unroll
    for (int j = 0; j < kGroup; ++j) out[j] = wc[j] * (v[j] * r);
    store_group(y, base + c, out);
  }
}

// The grouped backward keeps a thread's dw sums in registers: at most kNormGroupsPerThread groups of
// columns per thread (dim <= 256 threads x 4 x 8 = 8192 columns; wider rows take the twin).
constexpr int kNormGroupsPerThread = 4;

template <typename G, typename X, typename W>
__global__ void rms_norm_backward_grouped_kernel(const G* dy, const X* x, const W* w, const float* rstd, X* dx,
                                                 float* dw_partial, int64_t rows, int64_t dim) {
  __shared__ float scratch[33];
  const int64_t stride = static_cast<int64_t>(blockDim.x) * kGroup;
  float dw[kNormGroupsPerThread][kGroup] = {};
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t base = row * dim;
    const float r = rstd[row];
    float dot = 0.0f;
    for (int64_t c = threadIdx.x * kGroup; c < dim; c += stride) {
      float g[kGroup], v[kGroup], wc[kGroup];
      load_group(dy, base + c, g), load_group(x, base + c, v), load_group(w, c, wc);
#pragma unroll
      for (int j = 0; j < kGroup; ++j) dot += g[j] * wc[j] * (v[j] * r);
    }
    const float mean_dot = block_sum(dot, scratch) / static_cast<float>(dim);
#pragma unroll
    for (int slot = 0; slot < kNormGroupsPerThread; ++slot) {  // unrolled: dw stays in registers
      const int64_t c = (threadIdx.x + static_cast<int64_t>(slot) * blockDim.x) * kGroup;
      if (c >= dim) break;
      float g[kGroup], v[kGroup], wc[kGroup], out[kGroup];
      load_group(dy, base + c, g), load_group(x, base + c, v), load_group(w, c, wc);
#pragma unroll
      for (int j = 0; j < kGroup; ++j) {
        const float xh = v[j] * r;
        out[j] = kernels::rms_norm_input_grad(r, wc[j] * g[j], xh, mean_dot);
        dw[slot][j] += g[j] * xh;
      }
      store_group(dx, base + c, out);
    }
  }
#pragma unroll
  for (int slot = 0; slot < kNormGroupsPerThread; ++slot) {
    const int64_t c = (threadIdx.x + static_cast<int64_t>(slot) * blockDim.x) * kGroup;
    if (c >= dim) break;
#pragma unroll
    for (int j = 0; j < kGroup; ++j) dw_partial[blockIdx.x * dim + c + j] = dw[slot][j];
  }
}

int element_blocks(int64_t n) {
  const int64_t wanted = (n + kElementThreads - 1) / kElementThreads;
  const int64_t cap = static_cast<int64_t>(sm_count()) * 32;  // grid-stride beyond this
  return static_cast<int>(wanted < cap ? wanted : cap);
}

template <typename T>
__global__ void silu_mul_forward_kernel(const T* g, const T* u, T* y, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    store(y, i, kernels::silu_mul(load(g, i), load(u, i)));
}

template <typename T>
__global__ void silu_mul_backward_kernel(const T* dy, const T* g, const T* u, T* dg, T* du, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float a, b;
    kernels::silu_mul_backward(load(g, i), load(u, i), load(dy, i), a, b);
    store(dg, i, a);
    store(du, i, b);
  }
}

template <typename T>
__global__ void silu_mul_forward_grouped_kernel(const T* g, const T* u, T* y, int64_t groups) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < groups;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float a[kGroup], b[kGroup], out[kGroup];
    load_group(g, i * kGroup, a), load_group(u, i * kGroup, b);
#pragma unroll
    for (int j = 0; j < kGroup; ++j) out[j] = kernels::silu_mul(a[j], b[j]);
    store_group(y, i * kGroup, out);
  }
}

template <typename T>
__global__ void silu_mul_backward_grouped_kernel(const T* dy, const T* g, const T* u, T* dg, T* du, int64_t groups) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < groups;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float a[kGroup], b[kGroup], d[kGroup], da[kGroup], db[kGroup];
    load_group(g, i * kGroup, a), load_group(u, i * kGroup, b), load_group(dy, i * kGroup, d);
#pragma unroll
    for (int j = 0; j < kGroup; ++j) kernels::silu_mul_backward(a[j], b[j], d[j], da[j], db[j]);
    store_group(dg, i * kGroup, da), store_group(du, i * kGroup, db);
  }
}

// Pair p of a contiguous [batch, length, heads, head_dim] tensor is elements 2p and 2p + 1; its
// position is (p / (heads * head_dim / 2)) % length.
template <typename T, typename Tab>
__global__ void rope_kernel(const T* x, const Tab* cos, const Tab* sin, T* y, int64_t pairs, int64_t length,
                            int64_t heads, int64_t head_dim, bool inverse) {
  const int64_t half = head_dim / 2;
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < pairs;
       p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t position = (p / (half * heads)) % length;
    const int64_t t = position * head_dim + 2 * (p % half);
    const float c0 = load(cos, t), c1 = load(cos, t + 1), s0 = load(sin, t), s1 = load(sin, t + 1);
    float y0, y1;
    if (inverse) {
      kernels::rope_pair_backward(load(x, 2 * p), load(x, 2 * p + 1), c0, c1, s0, s1, y0, y1);
    } else {
      kernels::rope_pair(load(x, 2 * p), load(x, 2 * p + 1), c0, c1, s0, s1, y0, y1);
    }
    store(y, 2 * p, y0);
    store(y, 2 * p + 1, y1);
  }
}

// Patch attention: one warp per (byte, head); lanes stride over head_dim. Warp-uniform control
// flow, so every lane takes part in the shuffles.
struct PatchAttentionShape {
  int64_t rows, length, patches, k, heads, head_dim;
  float scale;
  // Offset of key/value vector j of the patch that (row, head) reads.
  __device__ int64_t kv_offset(int64_t row, int64_t head, int64_t patch, int64_t j) const {
    return (((row / length * patches + patch) * k + j) * heads + head) * head_dim;
  }
};

template <typename T>
__device__ void patch_weights(const T* q, const T* keys, int64_t q_at, const PatchAttentionShape& s, int64_t row,
                              int64_t head, int64_t patch, int lane, float* w) {
  for (int j = 0; j < s.k; ++j) {
    const int64_t kv = s.kv_offset(row, head, patch, j);
    float dot = 0.0f;
    for (int64_t d = lane; d < s.head_dim; d += 32) dot += load(q, q_at + d) * load(keys, kv + d);
    w[j] = warp_sum(dot) * s.scale;
  }
  kernels::softmax_in_place(w, static_cast<int>(s.k));
}

template <typename T>
__global__ void patch_attention_forward_kernel(const T* q, const T* keys, const T* values, const int64_t* patch_ids,
                                               T* out, PatchAttentionShape s) {
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= s.rows * s.heads) return;
  const int64_t row = warp / s.heads, head = warp % s.heads, patch = patch_ids[row], at = warp * s.head_dim;
  float w[kPatchAttentionMaxK];
  patch_weights(q, keys, at, s, row, head, patch, lane, w);
  for (int64_t d = lane; d < s.head_dim; d += 32) {
    float acc = 0.0f;
    for (int j = 0; j < s.k; ++j) acc += w[j] * load(values, s.kv_offset(row, head, patch, j) + d);
    store(out, at + d, acc);
  }
}

// The backward in two passes, so that no two threads add into one gradient element (atomics would
// sum a patch's bytes in an order that changes from run to run, and so would the trained model).
// Pass 1, per (byte, head): dq, and the byte's softmax weights w_j and score gradients ds_j (times
// the scale), kept in `coefficients` [rows, heads, k, 2].
template <typename T>
__global__ void patch_attention_backward_rows_kernel(const T* dout, const T* q, const T* keys, const T* values,
                                                     const int64_t* patch_ids, T* dq, float* coefficients,
                                                     PatchAttentionShape s) {
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= s.rows * s.heads) return;
  const int64_t row = warp / s.heads, head = warp % s.heads, patch = patch_ids[row], at = warp * s.head_dim;
  float w[kPatchAttentionMaxK], ds[kPatchAttentionMaxK];
  patch_weights(q, keys, at, s, row, head, patch, lane, w);
  for (int j = 0; j < s.k; ++j) {  // dw_j = dout . v_j
    const int64_t kv = s.kv_offset(row, head, patch, j);
    float dot = 0.0f;
    for (int64_t d = lane; d < s.head_dim; d += 32) dot += load(dout, at + d) * load(values, kv + d);
    ds[j] = warp_sum(dot);
  }
  kernels::softmax_backward_in_place(w, ds, static_cast<int>(s.k));
  for (int64_t d = lane; d < s.head_dim; d += 32) {
    float acc = 0.0f;
    for (int j = 0; j < s.k; ++j) acc += ds[j] * load(keys, s.kv_offset(row, head, patch, j) + d);
    store(dq, at + d, s.scale * acc);
  }
  if (lane < s.k) {
    float* c = coefficients + (warp * s.k + lane) * 2;
    for (int j = 0; j < s.k; ++j)  // registers are indexed statically: select lane's j
      if (j == lane) {
        c[0] = w[j];
        c[1] = s.scale * ds[j];
      }
  }
}

// Pass 2, per (patch, head): the patch's key and value gradients (all k of them: a byte's q and
// dout are read once), summed over its bytes in their order. `order` [batch, length] lists each
// sequence's bytes sorted by patch (stably), and `bounds` [batch, patches + 1] where each patch's
// run of them begins; a patch no byte reads gets zeros.
template <typename T>
__global__ void patch_attention_backward_patches_kernel(const T* dout, const T* q, const int64_t* order,
                                                        const int64_t* bounds, const float* coefficients, T* dkeys,
                                                        T* dvalues, PatchAttentionShape s) {
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  const int64_t batch = s.rows / s.length;
  if (warp >= batch * s.patches * s.heads) return;
  const int64_t head = warp % s.heads, patch = warp / s.heads % s.patches, b = warp / (s.heads * s.patches);
  const int64_t begin = bounds[b * (s.patches + 1) + patch], end = bounds[b * (s.patches + 1) + patch + 1];
  for (int64_t d = lane; d < s.head_dim; d += 32) {
    float dk[kPatchAttentionMaxK] = {}, dv[kPatchAttentionMaxK] = {};
    for (int64_t i = begin; i < end; ++i) {
      const int64_t row = b * s.length + order[b * s.length + i], at = (row * s.heads + head) * s.head_dim + d;
      const float* c = coefficients + (row * s.heads + head) * s.k * 2;
      const float g = load(dout, at), qd = load(q, at);
#pragma unroll
      for (int j = 0; j < kPatchAttentionMaxK; ++j)
        if (j < s.k) {
          dv[j] += c[2 * j] * g;
          dk[j] += c[2 * j + 1] * qd;
        }
    }
#pragma unroll
    for (int j = 0; j < kPatchAttentionMaxK; ++j)
      if (j < s.k) {
        const int64_t kv = s.kv_offset(b * s.length, head, patch, j) + d;
        store(dkeys, kv, dk[j]);
        store(dvalues, kv, dv[j]);
      }
  }
}

// The launchers' shape; k bounds the kernels' per-lane arrays of scores.
PatchAttentionShape patch_shape(int64_t batch, int64_t length, int64_t patches, int64_t k, int64_t heads,
                                int64_t head_dim, float scale) {
  if (k < 1 || k > kPatchAttentionMaxK) throw std::runtime_error("patch_attention: k = " + std::to_string(k));
  return {batch * length, length, patches, k, heads, head_dim, scale};
}

unsigned warp_blocks(int64_t warps) {
  const int64_t per_block = kElementThreads / 32;
  return static_cast<unsigned>((warps + per_block - 1) / per_block);
}

}  // namespace

void rms_norm_forward(const void* x, DType x_type, const void* w, DType w_type, void* y, DType y_type, float* rstd,
                      int64_t rows, int64_t dim, float eps, void* stream) {
  if (rows == 0) return;
  const auto s = static_cast<cudaStream_t>(stream);
  with_types(
      [&](auto xt, auto wt, auto yt) {
        using X = type_of<decltype(xt)>;
        using W = type_of<decltype(wt)>;
        using Y = type_of<decltype(yt)>;
        if (dim % kGroup == 0 && group_aligned(x, w, y))
          rms_norm_forward_grouped_kernel<X, W, Y><<<static_cast<unsigned>(rows), row_threads(dim / kGroup), 0, s>>>(
              static_cast<const X*>(x), static_cast<const W*>(w), static_cast<Y*>(y), rstd, dim, eps);
        else
          rms_norm_forward_kernel<X, W, Y><<<static_cast<unsigned>(rows), row_threads(dim), 0, s>>>(
              static_cast<const X*>(x), static_cast<const W*>(w), static_cast<Y*>(y), rstd, dim, eps);
      },
      x_type, w_type, y_type);
  check_launch("rms_norm_forward");
}

int64_t rms_norm_partial_rows(int64_t rows) {
  const int64_t cap = static_cast<int64_t>(sm_count()) * 4;
  return rows < cap ? rows : cap;
}

void rms_norm_backward(const void* dy, DType dy_type, const void* x, DType x_type, const void* w, DType w_type,
                       const float* rstd, void* dx, float* dw_partial, int64_t rows, int64_t dim, void* stream) {
  if (rows == 0) return;
  if (dim > kRmsNormMaxDim)
    throw std::runtime_error("rms_norm_backward: dim " + std::to_string(dim) + " > " + std::to_string(kRmsNormMaxDim));
  const auto s = static_cast<cudaStream_t>(stream);
  const auto blocks = static_cast<unsigned>(rms_norm_partial_rows(rows));
  const size_t shared = static_cast<size_t>(dim) * sizeof(float);
  with_types(
      [&](auto gt, auto xt, auto wt) {
        using G = type_of<decltype(gt)>;
        using X = type_of<decltype(xt)>;
        using W = type_of<decltype(wt)>;
        const int grouped_threads = row_threads(dim / kGroup);
        if (dim % kGroup == 0 && dim <= static_cast<int64_t>(grouped_threads) * kGroup * kNormGroupsPerThread &&
            group_aligned(dy, x, w, dx))
          rms_norm_backward_grouped_kernel<G, X, W><<<blocks, grouped_threads, 0, s>>>(
              static_cast<const G*>(dy), static_cast<const X*>(x), static_cast<const W*>(w), rstd,
              static_cast<X*>(dx), dw_partial, rows, dim);
        else
          rms_norm_backward_kernel<G, X, W><<<blocks, row_threads(dim), shared, s>>>(
              static_cast<const G*>(dy), static_cast<const X*>(x), static_cast<const W*>(w), rstd,
              static_cast<X*>(dx), dw_partial, rows, dim);
      },
      dy_type, x_type, w_type);
  check_launch("rms_norm_backward");
}

void silu_mul_forward(const void* g, const void* u, void* y, DType type, int64_t n, void* stream) {
  if (n == 0) return;
  const auto s = static_cast<cudaStream_t>(stream);
  with_types(
      [&](auto tag) {
        using T = type_of<decltype(tag)>;
        if (n % kGroup == 0 && group_aligned(g, u, y))
          silu_mul_forward_grouped_kernel<T><<<element_blocks(n / kGroup), kElementThreads, 0, s>>>(
              static_cast<const T*>(g), static_cast<const T*>(u), static_cast<T*>(y), n / kGroup);
        else
          silu_mul_forward_kernel<T><<<element_blocks(n), kElementThreads, 0, s>>>(
              static_cast<const T*>(g), static_cast<const T*>(u), static_cast<T*>(y), n);
      },
      type);
  check_launch("silu_mul_forward");
}

void silu_mul_backward(const void* dy, const void* g, const void* u, void* dg, void* du, DType type, int64_t n,
                       void* stream) {
  if (n == 0) return;
  const auto s = static_cast<cudaStream_t>(stream);
  with_types(
      [&](auto tag) {
        using T = type_of<decltype(tag)>;
        if (n % kGroup == 0 && group_aligned(dy, g, u, dg, du))
          silu_mul_backward_grouped_kernel<T><<<element_blocks(n / kGroup), kElementThreads, 0, s>>>(
              static_cast<const T*>(dy), static_cast<const T*>(g), static_cast<const T*>(u), static_cast<T*>(dg),
              static_cast<T*>(du), n / kGroup);
        else
          silu_mul_backward_kernel<T><<<element_blocks(n), kElementThreads, 0, s>>>(
              static_cast<const T*>(dy), static_cast<const T*>(g), static_cast<const T*>(u), static_cast<T*>(dg),
              static_cast<T*>(du), n);
      },
      type);
  check_launch("silu_mul_backward");
}

void rope(const void* x, DType x_type, const void* cos, const void* sin, DType table_type, void* y, int64_t batch,
          int64_t length, int64_t heads, int64_t head_dim, bool inverse, void* stream) {
  const int64_t pairs = batch * length * heads * (head_dim / 2);
  if (pairs == 0) return;
  const auto s = static_cast<cudaStream_t>(stream);
  with_types(
      [&](auto xt, auto tt) {
        using T = type_of<decltype(xt)>;
        using Tab = type_of<decltype(tt)>;
        rope_kernel<T, Tab><<<element_blocks(pairs), kElementThreads, 0, s>>>(
            static_cast<const T*>(x), static_cast<const Tab*>(cos), static_cast<const Tab*>(sin), static_cast<T*>(y),
            pairs, length, heads, head_dim, inverse);
      },
      x_type, table_type);
  check_launch("rope");
}

void patch_attention_forward(const void* q, const void* keys, const void* values, const int64_t* patch_ids, void* out,
                             DType type, int64_t batch, int64_t length, int64_t patches, int64_t k, int64_t heads,
                             int64_t head_dim, float scale, void* stream) {
  if (batch * length * heads == 0) return;
  const auto shape = patch_shape(batch, length, patches, k, heads, head_dim, scale);
  with_types(
      [&](auto tag) {
        using T = type_of<decltype(tag)>;
        patch_attention_forward_kernel<T><<<warp_blocks(shape.rows * heads), kElementThreads, 0,
                                            static_cast<cudaStream_t>(stream)>>>(
            static_cast<const T*>(q), static_cast<const T*>(keys), static_cast<const T*>(values), patch_ids,
            static_cast<T*>(out), shape);
      },
      type);
  check_launch("patch_attention_forward");
}

void patch_attention_backward(const void* dout, const void* q, const void* keys, const void* values,
                              const int64_t* patch_ids, const int64_t* order, const int64_t* bounds,
                              float* coefficients, void* dq, void* dkeys, void* dvalues, DType type, int64_t batch,
                              int64_t length, int64_t patches, int64_t k, int64_t heads, int64_t head_dim, float scale,
                              void* stream) {
  if (batch * length * heads == 0) return;
  const auto shape = patch_shape(batch, length, patches, k, heads, head_dim, scale);
  const auto s = static_cast<cudaStream_t>(stream);
  with_types(
      [&](auto tag) {
        using T = type_of<decltype(tag)>;
        patch_attention_backward_rows_kernel<T><<<warp_blocks(shape.rows * heads), kElementThreads, 0, s>>>(
            static_cast<const T*>(dout), static_cast<const T*>(q), static_cast<const T*>(keys),
            static_cast<const T*>(values), patch_ids, static_cast<T*>(dq), coefficients, shape);
        check_launch("patch_attention_backward (bytes)");
        if (patches == 0) return;
        patch_attention_backward_patches_kernel<T><<<warp_blocks(batch * patches * heads), kElementThreads, 0, s>>>(
            static_cast<const T*>(dout), static_cast<const T*>(q), order, bounds, coefficients,
            static_cast<T*>(dkeys), static_cast<T*>(dvalues), shape);
        check_launch("patch_attention_backward (patches)");
      },
      type);
}

}  // namespace blt::kernels::cuda
