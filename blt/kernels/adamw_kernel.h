// The launchers of blt's AdamW kernels (adamw_kernel.cu): the dense step of many float32 tensors
// in one launch, vectorised (16-byte loads where the buffers allow it), and the row-sparse
// step and catch-up of the hash tables. Plain pointers, as in fused_kernels.h, so that nvcc never
// compiles LibTorch's headers.
#pragma once
#include <cstdint>

#include "blt/kernels/fused_kernels.h"  // DType

namespace blt::kernels::cuda {

// The step's scalars, computed once on the host (bias corrections from the step count).
struct AdamWScalars {
  float beta1, beta2, eps;
  float decay;        // 1 - lr * weight_decay (1 without decay)
  float step_size;    // lr / (1 - beta1^step)
  float bias2_sqrt;   // sqrt(1 - beta2^step)
};

// One tensor of a multi-tensor AdamW launch: value, moments (float32), gradient (float32 or bf16:
// a bf16 sum over ranks, dist.reduce_dtype) and compute copy (bf16, may be null: the weight's
// copy, model/linear.h, written in this pass instead of cast by the next forward).
struct AdamWTensor {
  float* value;
  const void* grad;
  float* exp_avg;
  float* exp_avg_sq;
  void* copy;
  int64_t n;
  float decay;      // 1 - lr * weight_decay, or 1 for a tensor without decay
  int32_t grad_bf16;
  // Set by plan_adamw: the tensor's first chunk in the launch, and whether its pointers allow
  // 4-element accesses (16 bytes of float32, 8 of bf16).
  int32_t vec4;
  int64_t first_chunk;
};

// Fills first_chunk and vec4 of `tensors` (on the host, none empty) and returns the launch's chunk
// count: each tensor is cut into chunks of a fixed size that blocks take one at a time.
int64_t plan_adamw(AdamWTensor* tensors, int64_t count);

// One launch over every tensor of `tensors` (device memory, as plan_adamw left them):
// value *= decay; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// value -= step_size * m / (sqrt(v) / bias2_sqrt + eps), with g = grad * *clip (clip may be
// null), s.decay unused (each tensor has its own). Where *skip is true (skip may be null) nothing
// changes. Both are read on the device.
void adamw(const AdamWTensor* tensors, int64_t count, int64_t chunks, const AdamWScalars& s, const float* clip,
           const bool* skip, void* stream);

// The steps that rows of a [rows x dim] table missed (lazy AdamW's catch-up, train/adamw_rows.h):
// for each row r in `rows` (sorted; repeats are done once), every step s in (last[r], through]
// whose history row (float64 [capacity, 4]: 1 - lr * weight_decay, step_size, bias2_sqrt,
// applied) says it was applied runs adamw's arithmetic with a zero gradient, which is exactly
// what the dense update did to r at step s. `decays` picks whether column 0 applies. The
// moments are stored as `moments` (float32 or bf16: the arithmetic is float either way).
void adamw_catch_up(float* value, void* exp_avg, void* exp_avg_sq, DType moments, int64_t dim, const int64_t* rows,
                    int64_t count, const int32_t* last, const double* history, int64_t through, float beta1,
                    float beta2, float eps, bool decays, void* stream);

// A row-sparse gradient of a [rows x dim] table, as the row kernels take it: its `count` entries
// sorted by row (rows, int64; repeats are lookups of one row, whose gradients add), entry j's
// gradient row being row order[j] of `grads` [count, dim]. sum_row_pieces sums it in pieces of
// at most 32 entries of one row (a piece starts at every 32nd entry and at each row's first),
// each piece's sum in the row of `pieces` [count, dim] at the piece's start (other rows unset):
// what the two kernels below read, so that no block sums hundreds of lookups of a frequent row.
void sum_row_pieces(const float* grads, const int64_t* rows, const int64_t* order, int64_t count, int64_t dim,
                    float* pieces, void* stream);
// out[j] (float [count]) = the squared norm of the summed gradient of row rows[j] at the first
// entry of each run of equal rows, 0 at the others: their sum is the norm of the coalesced
// gradient, with no host wait for how many rows are distinct.
void rows_squared_norm(const float* pieces, const int64_t* rows, int64_t count, int64_t dim, float* out, void* stream);
// One AdamW step on the rows such a gradient holds, in place: each row first runs the steps it
// missed (as adamw_catch_up, through step - 1), then, unless *skip, adamw's arithmetic with its
// summed gradient and the scalars `s` of step `step`; moments as in adamw_catch_up. `last` is
// left for the caller to advance.
void adamw_rows(float* value, void* exp_avg, void* exp_avg_sq, DType moments, int64_t dim, const int64_t* rows,
                int64_t count, const float* pieces, const int32_t* last, const double* history, int64_t step,
                const AdamWScalars& s, bool decays, const float* clip, const bool* skip, void* stream);

}  // namespace blt::kernels::cuda
