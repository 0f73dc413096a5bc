// Fused forms of the model's memory-bound operations, each an autograd function with its own
// backward: RMSNorm, SwiGLU's silu(gate) * up, the rotary embedding, and the local decoder's
// cross-attention to its patch's k vectors. On CUDA they run the
// kernels of fused_kernels.cu; on the CPU a twin of each kernel (fused_ops_cpu.h) runs the same
// formulas (fused_math.h), which is how CI, without a GPU, tests their wiring and arithmetic.
// The reference is the modules' own operator-by-operator LibTorch code (rms_norm.cpp,
// feed_forward.cpp, rope.cpp, cross_attention.cpp); tests/test_fused_ops.cpp checks one against the other, and
// bench/bench_fused_ops.cpp times both (docs/kernels.md).
#pragma once
#include <torch/torch.h>

#include "blt/kernels/fused_kernels.h"

namespace blt::kernels {

// Where the model takes the fused path: kAuto on CUDA tensors when the kernels were built (the
// CPU keeps the reference, which is as fast there); kAlways also on the CPU (tests); kNever
// nowhere (the reference, to compare or to rule the kernels out).
enum class FusedMode { kAuto, kAlways, kNever };
void set_fused_mode(FusedMode mode);
FusedMode fused_mode();

// Whether this build has the CUDA kernels (a CUDA compiler was found; CMakeLists.txt).
bool cuda_kernels_built();

// Whether an operation on x takes the fused path: the mode, x's device, and x being float or bf16.
bool use_fused(const torch::Tensor& x);

// Sets the mode for a scope and restores the previous one.
class ScopedFusedMode {
 public:
  explicit ScopedFusedMode(FusedMode mode) : previous_(fused_mode()) { set_fused_mode(mode); }
  ~ScopedFusedMode() { set_fused_mode(previous_); }
  ScopedFusedMode(const ScopedFusedMode&) = delete;
  ScopedFusedMode& operator=(const ScopedFusedMode&) = delete;

 private:
  FusedMode previous_;
};

// weight * x / sqrt(mean(x^2, -1) + eps), computed in float and stored as out_dtype. x [..., dim]
// with dim <= kMaxNormDim; weight [dim].
constexpr int64_t kMaxNormDim = cuda::kRmsNormMaxDim;
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps, torch::ScalarType out_dtype);

// silu(gate) * up, in their (common) type.
torch::Tensor silu_mul(const torch::Tensor& gate, const torch::Tensor& up);

// The rotary embedding of x [B, L, H, head_dim] with tables cos, sin [L, head_dim] (rope.h's
// RopeTable, no gradient), in x's type. Returns [B, L, H, head_dim], contiguous.
torch::Tensor rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

// Byte queries attending to the k keys and values of their own patch (cross_attention.h,
// read_patches): q [B, L, H, D], keys and values [B, P, k, H, D] (one type), patch_ids int64
// [B, L] in [0, P) -> [B, L, H, D] in q's type: sum_j softmax_j(scale q . key_j) value_j. The
// reference gathers every byte's k keys and values ([B, L, k, H, D] each) and reduces them; this
// reads each once and keeps the k scores in registers. k <= kPatchAttentionMaxK.
constexpr int kPatchAttentionMaxK = cuda::kPatchAttentionMaxK;
torch::Tensor patch_attention(const torch::Tensor& q, const torch::Tensor& keys, const torch::Tensor& values,
                              const torch::Tensor& patch_ids, double scale);

}  // namespace blt::kernels
