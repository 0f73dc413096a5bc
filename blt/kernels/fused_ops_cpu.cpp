#include "blt/kernels/fused_ops_cpu.h"

#include <ATen/Parallel.h>

#include "blt/kernels/fused_math.h"

namespace blt::kernels::cpu {

namespace {
torch::Tensor as_float(const torch::Tensor& t) { return t.to(torch::kFloat).contiguous(); }
}  // namespace

void rms_norm_forward(const torch::Tensor& x, const torch::Tensor& weight, double eps, torch::Tensor& y,
                      torch::Tensor& rstd) {
  const auto xf = as_float(x), wf = as_float(weight);
  auto yf = torch::empty_like(xf);
  const int64_t rows = xf.size(0), dim = xf.size(1);
  const float* xp = xf.data_ptr<float>();
  const float* wp = wf.data_ptr<float>();
  float* yp = yf.data_ptr<float>();
  float* rp = rstd.data_ptr<float>();
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = xp + r * dim;
      float squares = 0.0f;
      for (int64_t c = 0; c < dim; ++c) squares += xr[c] * xr[c];
      const float inv = 1.0f / std::sqrt(squares / static_cast<float>(dim) + static_cast<float>(eps));
      rp[r] = inv;
      for (int64_t c = 0; c < dim; ++c) yp[r * dim + c] = wp[c] * (xr[c] * inv);
    }
  });
  y.copy_(yf);
}

torch::Tensor rms_norm_backward(const torch::Tensor& dy, const torch::Tensor& x, const torch::Tensor& weight,
                                const torch::Tensor& rstd, torch::Tensor& dx) {
  const auto gf = as_float(dy), xf = as_float(x), wf = as_float(weight);
  auto dxf = torch::empty_like(xf);
  const int64_t rows = xf.size(0), dim = xf.size(1);
  const float* gp = gf.data_ptr<float>();
  const float* xp = xf.data_ptr<float>();
  const float* wp = wf.data_ptr<float>();
  const float* rp = rstd.data_ptr<float>();
  float* dp = dxf.data_ptr<float>();
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* g = gp + r * dim;
      const float* xr = xp + r * dim;
      float dot = 0.0f;
      for (int64_t c = 0; c < dim; ++c) dot += g[c] * wp[c] * (xr[c] * rp[r]);
      const float mean_dot = dot / static_cast<float>(dim);
      for (int64_t c = 0; c < dim; ++c)
        dp[r * dim + c] = kernels::rms_norm_input_grad(rp[r], wp[c] * g[c], xr[c] * rp[r], mean_dot);
    }
  });
  dx.copy_(dxf);
  // dw = sum over rows of dy * xh: one reduction over rows, in float.
  return (gf * xf * rstd.unsqueeze(1)).sum(0);
}

void silu_mul_forward(const torch::Tensor& gate, const torch::Tensor& up, torch::Tensor& y) {
  const auto gf = as_float(gate), uf = as_float(up);
  auto yf = torch::empty_like(gf);
  const float* gp = gf.data_ptr<float>();
  const float* up_ = uf.data_ptr<float>();
  float* yp = yf.data_ptr<float>();
  at::parallel_for(0, gf.numel(), 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) yp[i] = kernels::silu_mul(gp[i], up_[i]);
  });
  y.copy_(yf.view(y.sizes()));
}

void silu_mul_backward(const torch::Tensor& dy, const torch::Tensor& gate, const torch::Tensor& up, torch::Tensor& dgate,
                       torch::Tensor& dup) {
  const auto df = as_float(dy), gf = as_float(gate), uf = as_float(up);
  auto dgf = torch::empty_like(gf), duf = torch::empty_like(gf);
  const float* dp = df.data_ptr<float>();
  const float* gp = gf.data_ptr<float>();
  const float* up_ = uf.data_ptr<float>();
  float* dgp = dgf.data_ptr<float>();
  float* dup_ = duf.data_ptr<float>();
  at::parallel_for(0, gf.numel(), 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) kernels::silu_mul_backward(gp[i], up_[i], dp[i], dgp[i], dup_[i]);
  });
  dgate.copy_(dgf.view(dgate.sizes()));
  dup.copy_(duf.view(dup.sizes()));
}

void rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin, bool inverse, torch::Tensor& y) {
  const auto xf = as_float(x), cf = as_float(cos), sf = as_float(sin);
  auto yf = torch::empty_like(xf);
  const int64_t length = xf.size(1), heads = xf.size(2), head_dim = xf.size(3), half = head_dim / 2;
  const float* xp = xf.data_ptr<float>();
  const float* cp = cf.data_ptr<float>();
  const float* sp = sf.data_ptr<float>();
  float* yp = yf.data_ptr<float>();
  at::parallel_for(0, xf.numel() / 2, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {  // pair p: elements 2p, 2p + 1 (as the CUDA kernel counts)
      const int64_t t = ((p / (half * heads)) % length) * head_dim + 2 * (p % half);
      if (inverse) {
        kernels::rope_pair_backward(xp[2 * p], xp[2 * p + 1], cp[t], cp[t + 1], sp[t], sp[t + 1], yp[2 * p], yp[2 * p + 1]);
      } else {
        kernels::rope_pair(xp[2 * p], xp[2 * p + 1], cp[t], cp[t + 1], sp[t], sp[t + 1], yp[2 * p], yp[2 * p + 1]);
      }
    }
  });
  y.copy_(yf);
}

}  // namespace blt::kernels::cpu
