#include "blt/kernels/fused_ops.h"

#include <atomic>

#include "blt/kernels/fused_ops_cpu.h"

#ifdef BLT_WITH_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace blt::kernels {

namespace {

std::atomic<FusedMode> g_mode{FusedMode::kAuto};

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

#ifdef BLT_WITH_CUDA_KERNELS
cuda::DType dtype_of(const torch::Tensor& t) {
  TORCH_CHECK(t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kBFloat16,
              "fused CUDA kernels take float or bfloat16, not ", t.scalar_type());
  return t.scalar_type() == torch::kFloat ? cuda::DType::kFloat : cuda::DType::kBFloat16;
}

void* stream_of(const torch::Tensor& t) { return c10::cuda::getCurrentCUDAStream(t.device().index()).stream(); }
#endif

// Fails where a CUDA tensor reaches a build without the kernels (use_fused said no: a caller bug).
void require_kernels(const torch::Tensor& t) {
  TORCH_CHECK(!t.is_cuda() || cuda_kernels_built(), "blt was built without its CUDA kernels (no CUDA compiler)");
}

class RmsNormFunction : public torch::autograd::Function<RmsNormFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight, double eps,
                               torch::ScalarType out_dtype) {
    require_kernels(x);
    const int64_t dim = x.size(-1);
    TORCH_CHECK(dim <= kMaxNormDim, "fused rms_norm: rows of ", dim, " > ", kMaxNormDim);
    TORCH_CHECK(weight.dim() == 1 && weight.size(0) == dim, "fused rms_norm: weight ", weight.sizes(), " for rows of ",
                dim);
    const auto x2 = x.contiguous().view({-1, dim});
    const auto w = weight.contiguous();
    auto y = torch::empty(x2.sizes(), x.options().dtype(out_dtype));
    auto rstd = torch::empty({x2.size(0)}, x.options().dtype(torch::kFloat));
    if (x.is_cuda()) {
#ifdef BLT_WITH_CUDA_KERNELS
      const c10::cuda::CUDAGuard guard(x.device());
      cuda::rms_norm_forward(x2.data_ptr(), dtype_of(x2), w.data_ptr(), dtype_of(w), y.data_ptr(), dtype_of(y),
                             rstd.data_ptr<float>(), x2.size(0), dim, static_cast<float>(eps), stream_of(x));
#endif
    } else {
      cpu::rms_norm_forward(x2, w, eps, y, rstd);
    }
    ctx->save_for_backward({x2, w, rstd});
    return y.view(x.sizes());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x2 = saved[0], &w = saved[1], &rstd = saved[2];
    const auto dy = grads[0].contiguous().view(x2.sizes());
    auto dx = torch::empty_like(x2);
    torch::Tensor dw;
    if (x2.is_cuda()) {
#ifdef BLT_WITH_CUDA_KERNELS
      const c10::cuda::CUDAGuard guard(x2.device());
      const int64_t rows = x2.size(0), dim = x2.size(1);
      auto partial = torch::empty({cuda::rms_norm_partial_rows(rows), dim}, x2.options().dtype(torch::kFloat));
      cuda::rms_norm_backward(dy.data_ptr(), dtype_of(dy), x2.data_ptr(), dtype_of(x2), w.data_ptr(), dtype_of(w),
                              rstd.data_ptr<float>(), dx.data_ptr(), partial.data_ptr<float>(), rows, dim,
                              stream_of(x2));
      dw = partial.sum(0);
#endif
    } else {
      dw = cpu::rms_norm_backward(dy, x2, w, rstd, dx);
    }
    return {dx.view(grads[0].sizes()), dw.to(w.scalar_type()), {}, {}};  // the output's shape is x's
  }
};

class SiluMulFunction : public torch::autograd::Function<SiluMulFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& gate, const torch::Tensor& up) {
    require_kernels(gate);
    TORCH_CHECK(gate.sizes() == up.sizes() && gate.scalar_type() == up.scalar_type(),
                "fused silu_mul: gate ", gate.sizes(), " ", gate.scalar_type(), " and up ", up.sizes(), " ",
                up.scalar_type(), " differ");
    const auto g = gate.contiguous(), u = up.contiguous();
    auto y = torch::empty_like(g);
    if (g.is_cuda()) {
#ifdef BLT_WITH_CUDA_KERNELS
      const c10::cuda::CUDAGuard guard(g.device());
      cuda::silu_mul_forward(g.data_ptr(), u.data_ptr(), y.data_ptr(), dtype_of(g), g.numel(), stream_of(g));
#endif
    } else {
      cpu::silu_mul_forward(g, u, y);
    }
    ctx->save_for_backward({g, u});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &g = saved[0], &u = saved[1];
    const auto dy = grads[0].contiguous();
    auto dg = torch::empty_like(g), du = torch::empty_like(u);
    if (g.is_cuda()) {
#ifdef BLT_WITH_CUDA_KERNELS
      const c10::cuda::CUDAGuard guard(g.device());
      TORCH_CHECK(dy.scalar_type() == g.scalar_type(), "fused silu_mul: gradient ", dy.scalar_type(), " for ",
                  g.scalar_type());
      cuda::silu_mul_backward(dy.data_ptr(), g.data_ptr(), u.data_ptr(), dg.data_ptr(), du.data_ptr(), dtype_of(g),
                              g.numel(), stream_of(g));
#endif
    } else {
      cpu::silu_mul_backward(dy, g, u, dg, du);
    }
    return {dg, du};
  }
};

torch::Tensor rope_apply(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin, bool inverse) {
  auto y = torch::empty_like(x);
  if (x.is_cuda()) {
#ifdef BLT_WITH_CUDA_KERNELS
    const c10::cuda::CUDAGuard guard(x.device());
    cuda::rope(x.data_ptr(), dtype_of(x), cos.data_ptr(), sin.data_ptr(), dtype_of(cos), y.data_ptr(), x.size(0),
               x.size(1), x.size(2), x.size(3), inverse, stream_of(x));
#endif
  } else {
    cpu::rope(x, cos, sin, inverse, y);
  }
  return y;
}

class RopeFunction : public torch::autograd::Function<RopeFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& cos,
                               const torch::Tensor& sin) {
    require_kernels(x);
    TORCH_CHECK(x.dim() == 4 && x.size(3) % 2 == 0, "fused rope: x must be [B, L, H, even head_dim], not ", x.sizes());
    TORCH_CHECK(cos.dim() == 2 && cos.size(0) == x.size(1) && cos.size(1) == x.size(3) && sin.sizes() == cos.sizes() &&
                    sin.scalar_type() == cos.scalar_type(),
                "fused rope: tables ", cos.sizes(), " and ", sin.sizes(), " for x ", x.sizes());
    TORCH_CHECK(!cos.requires_grad() && !sin.requires_grad(), "fused rope: the tables take no gradient");
    const auto c = cos.contiguous(), s = sin.contiguous();
    ctx->save_for_backward({c, s});
    return rope_apply(x.contiguous(), c, s, /*inverse=*/false);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    return {rope_apply(grads[0].contiguous(), saved[0], saved[1], /*inverse=*/true), {}, {}};
  }
};

class PatchAttentionFunction : public torch::autograd::Function<PatchAttentionFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q, const torch::Tensor& keys,
                               const torch::Tensor& values, const torch::Tensor& patch_ids, double scale) {
    require_kernels(q);
    TORCH_CHECK(q.dim() == 4 && keys.dim() == 5 && keys.sizes() == values.sizes() && keys.size(0) == q.size(0) &&
                    keys.size(3) == q.size(2) && keys.size(4) == q.size(3) && keys.size(2) >= 1 &&
                    keys.size(2) <= kPatchAttentionMaxK,
                "fused patch_attention: q ", q.sizes(), " with keys ", keys.sizes(), " and values ", values.sizes());
    TORCH_CHECK(keys.scalar_type() == q.scalar_type() && values.scalar_type() == q.scalar_type(),
                "fused patch_attention: q, keys and values of one type, not ", q.scalar_type(), ", ",
                keys.scalar_type(), ", ", values.scalar_type());
    TORCH_CHECK(patch_ids.scalar_type() == torch::kLong && patch_ids.dim() == 2 && patch_ids.size(0) == q.size(0) &&
                    patch_ids.size(1) == q.size(1),
                "fused patch_attention: patch_ids int64 [B, L], not ", patch_ids.sizes(), " ", patch_ids.scalar_type());
    const auto qc = q.contiguous(), kc = keys.contiguous(), vc = values.contiguous(), ids = patch_ids.contiguous();
    auto out = torch::empty_like(qc);
    if (q.is_cuda()) {
#ifdef BLT_WITH_CUDA_KERNELS
      const c10::cuda::CUDAGuard guard(q.device());
      cuda::patch_attention_forward(qc.data_ptr(), kc.data_ptr(), vc.data_ptr(), ids.data_ptr<int64_t>(),
                                    out.data_ptr(), dtype_of(qc), q.size(0), q.size(1), keys.size(1), keys.size(2),
                                    q.size(2), q.size(3), static_cast<float>(scale), stream_of(q));
#endif
    } else {
      cpu::patch_attention_forward(qc, kc, vc, ids, scale, out);
    }
    ctx->save_for_backward({qc, kc, vc, ids});
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &keys = saved[1], &values = saved[2], &ids = saved[3];
    const double scale = ctx->saved_data["scale"].toDouble();
    const auto dout = grads[0].to(q.scalar_type()).contiguous();
    auto dq = torch::empty_like(q);
    if (q.is_cuda()) {
      auto dkeys = torch::empty_like(keys), dvalues = torch::empty_like(values);
#ifdef BLT_WITH_CUDA_KERNELS
      const c10::cuda::CUDAGuard guard(q.device());
      // Each patch's bytes, for the kernel that sums them per patch: the byte positions sorted by
      // patch (stably: the sums then run in byte order), and where each patch's run begins.
      const int64_t B = q.size(0), L = q.size(1), P = keys.size(1);
      const auto sorted = ids.sort(/*stable=*/true, /*dim=*/1, /*descending=*/false);
      const auto patches = torch::arange(P + 1, ids.options()).expand({B, P + 1}).contiguous();
      const auto bounds = torch::searchsorted(std::get<0>(sorted), patches).contiguous();
      const auto order = std::get<1>(sorted).contiguous();
      auto coefficients = torch::empty({B * L * q.size(2) * keys.size(2) * 2}, q.options().dtype(torch::kFloat));
      cuda::patch_attention_backward(dout.data_ptr(), q.data_ptr(), keys.data_ptr(), values.data_ptr(),
                                     ids.data_ptr<int64_t>(), order.data_ptr<int64_t>(), bounds.data_ptr<int64_t>(),
                                     coefficients.data_ptr<float>(), dq.data_ptr(), dkeys.data_ptr(),
                                     dvalues.data_ptr(), dtype_of(q), B, L, P, keys.size(2), q.size(2), q.size(3),
                                     static_cast<float>(scale), stream_of(q));
#endif
      return {dq, dkeys, dvalues, {}, {}};
    }
    auto dkeys = torch::zeros(keys.sizes(), keys.options().dtype(torch::kFloat)), dvalues = torch::zeros_like(dkeys);
    cpu::patch_attention_backward(dout, q, keys, values, ids, scale, dq, dkeys, dvalues);
    return {dq, dkeys.to(keys.scalar_type()), dvalues.to(values.scalar_type()), {}, {}};
  }
};

}  // namespace

void set_fused_mode(FusedMode mode) { g_mode = mode; }
FusedMode fused_mode() { return g_mode; }

bool cuda_kernels_built() {
#ifdef BLT_WITH_CUDA_KERNELS
  return true;
#else
  return false;
#endif
}

bool use_fused(const torch::Tensor& x) {
  const auto type = x.scalar_type();
  if (type != torch::kFloat && type != torch::kBFloat16) return false;
  switch (fused_mode()) {
    case FusedMode::kNever: return false;
    case FusedMode::kAuto: return x.is_cuda() && cuda_kernels_built();
    case FusedMode::kAlways: return x.is_cuda() ? cuda_kernels_built() : x.is_cpu();
  }
  return false;
}

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps, torch::ScalarType out_dtype) {
  return RmsNormFunction::apply(x, weight, eps, out_dtype);
}

torch::Tensor silu_mul(const torch::Tensor& gate, const torch::Tensor& up) { return SiluMulFunction::apply(gate, up); }

torch::Tensor rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  return RopeFunction::apply(x, cos, sin);
}

torch::Tensor patch_attention(const torch::Tensor& q, const torch::Tensor& keys, const torch::Tensor& values,
                              const torch::Tensor& patch_ids, double scale) {
  return PatchAttentionFunction::apply(q, keys, values, patch_ids, scale);
}

}  // namespace blt::kernels
