// Launchers of the fused CUDA kernels (fused_kernels.cu), built only when a CUDA compiler is
// found (BLT_WITH_CUDA_KERNELS). Plain pointers and this file's DType, so that nvcc never sees
// LibTorch's headers; fused_ops.cpp turns tensors into these calls. Every pointer is to a
// contiguous buffer on the current CUDA device; `stream` is a cudaStream_t. Errors throw
// std::runtime_error with CUDA's message.
#pragma once
#include <cstdint>

namespace blt::kernels::cuda {

enum class DType { kFloat, kBFloat16 };

// The current device's multiprocessor count (sizes grids), asked of the driver once per device.
int sm_count();

// The largest row the RMSNorm backward takes: its per-block dw accumulators are 4 bytes per column
// of shared memory, 48 KiB at most without opting in to more.
constexpr int64_t kRmsNormMaxDim = 12 * 1024;

// y[r, :] = w * x[r, :] * rstd[r], rstd[r] = 1 / sqrt(mean(x[r, :]^2) + eps); rstd is float.
void rms_norm_forward(const void* x, DType x_type, const void* w, DType w_type, void* y, DType y_type, float* rstd,
                      int64_t rows, int64_t dim, float eps, void* stream);

// dx (x's type) and per-block partial sums of dw, float [partial_rows(rows), dim]: dw is their column sum.
int64_t rms_norm_partial_rows(int64_t rows);
void rms_norm_backward(const void* dy, DType dy_type, const void* x, DType x_type, const void* w, DType w_type,
                       const float* rstd, void* dx, float* dw_partial, int64_t rows, int64_t dim, void* stream);

// y = silu(g) * u, and its gradients; all of one type.
void silu_mul_forward(const void* g, const void* u, void* y, DType type, int64_t n, void* stream);
void silu_mul_backward(const void* dy, const void* g, const void* u, void* dg, void* du, DType type, int64_t n,
                       void* stream);

// Rotary embedding of x [batch, length, heads, head_dim] with tables cos, sin [length, head_dim];
// `inverse` applies the transpose (the backward). y has x's type, the tables their own.
void rope(const void* x, DType x_type, const void* cos, const void* sin, DType table_type, void* y, int64_t batch,
          int64_t length, int64_t heads, int64_t head_dim, bool inverse, void* stream);

// Byte queries attending to the k keys and values of their own patch (the local decoder's
// cross-attention): q [batch * length, heads, head_dim], keys and values [batch, patches, k, heads,
// head_dim], patch_ids int64 [batch * length] (each in [0, patches)); out like q. One type for all.
// k <= kPatchAttentionMaxK.
constexpr int kPatchAttentionMaxK = 8;
void patch_attention_forward(const void* q, const void* keys, const void* values, const int64_t* patch_ids, void* out,
                             DType type, int64_t batch, int64_t length, int64_t patches, int64_t k, int64_t heads,
                             int64_t head_dim, float scale, void* stream);
// Its backward: dq, dkeys and dvalues (q's type; dkeys and dvalues [batch, patches, k, heads,
// head_dim]), with no atomics: the same inputs give the same gradients bit for bit. `order`
// [batch, length] holds each sequence's byte positions sorted stably by patch id, `bounds` [batch,
// patches + 1] where each patch's bytes begin in it (searchsorted of 0..patches in the sorted ids);
// `coefficients` is scratch of batch * length * heads * k * 2 floats.
void patch_attention_backward(const void* dout, const void* q, const void* keys, const void* values,
                              const int64_t* patch_ids, const int64_t* order, const int64_t* bounds,
                              float* coefficients, void* dq, void* dkeys, void* dvalues, DType type, int64_t batch,
                              int64_t length, int64_t patches, int64_t k, int64_t heads, int64_t head_dim, float scale,
                              void* stream);

}  // namespace blt::kernels::cuda
