#include "blt/kernels/fused_ops_cpu.h"

#include <ATen/Parallel.h>

#include <vector>

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

namespace {

// The shapes of a patch attention and where the k vectors of (row, head) begin.
struct PatchShape {
  int64_t batch, length, patches, k, heads, head_dim;
  explicit PatchShape(const torch::Tensor& keys, int64_t length_)
      : batch(keys.size(0)), length(length_), patches(keys.size(1)), k(keys.size(2)), heads(keys.size(3)),
        head_dim(keys.size(4)) {}
  int64_t kv(int64_t row, int64_t head, int64_t patch, int64_t j) const {
    return (((row / length * patches + patch) * k + j) * heads + head) * head_dim;
  }
};

// The softmax weights of (row, head) over its patch's k keys (the CUDA kernel's patch_weights).
void patch_weights(const float* q, const float* keys, int64_t at, const PatchShape& s, int64_t row, int64_t head,
                   int64_t patch, float scale, float* w) {
  for (int64_t j = 0; j < s.k; ++j) {
    const float* key = keys + s.kv(row, head, patch, j);
    float dot = 0.0f;
    for (int64_t d = 0; d < s.head_dim; ++d) dot += q[at + d] * key[d];
    w[j] = dot * scale;
  }
  kernels::softmax_in_place(w, static_cast<int>(s.k));
}

}  // namespace

void patch_attention_forward(const torch::Tensor& q, const torch::Tensor& keys, const torch::Tensor& values,
                             const torch::Tensor& patch_ids, double scale, torch::Tensor& out) {
  const auto qf = as_float(q), kf = as_float(keys), vf = as_float(values);
  const auto ids = patch_ids.contiguous();
  auto of = torch::empty_like(qf);
  const PatchShape s(kf, q.size(1));
  const float* qp = qf.data_ptr<float>();
  const float* kp = kf.data_ptr<float>();
  const float* vp = vf.data_ptr<float>();
  const int64_t* ip = ids.data_ptr<int64_t>();
  float* op = of.data_ptr<float>();
  at::parallel_for(0, s.batch * s.length * s.heads, 64, [&](int64_t begin, int64_t end) {
    std::vector<float> w(static_cast<std::size_t>(s.k));
    for (int64_t unit = begin; unit < end; ++unit) {  // (row, head), as the CUDA kernel's warps
      const int64_t row = unit / s.heads, head = unit % s.heads, patch = ip[row], at = unit * s.head_dim;
      patch_weights(qp, kp, at, s, row, head, patch, static_cast<float>(scale), w.data());
      for (int64_t d = 0; d < s.head_dim; ++d) {
        float acc = 0.0f;
        for (int64_t j = 0; j < s.k; ++j) acc += w[j] * vp[s.kv(row, head, patch, j) + d];
        op[at + d] = acc;
      }
    }
  });
  out.copy_(of);
}

void patch_attention_backward(const torch::Tensor& dout, const torch::Tensor& q, const torch::Tensor& keys,
                              const torch::Tensor& values, const torch::Tensor& patch_ids, double scale,
                              torch::Tensor& dq, torch::Tensor& dkeys, torch::Tensor& dvalues) {
  const auto gf = as_float(dout), qf = as_float(q), kf = as_float(keys), vf = as_float(values);
  const auto ids = patch_ids.contiguous();
  auto dqf = torch::empty_like(qf);
  const PatchShape s(kf, q.size(1));
  const float sc = static_cast<float>(scale);
  const float* gp = gf.data_ptr<float>();
  const float* qp = qf.data_ptr<float>();
  const float* kp = kf.data_ptr<float>();
  const float* vp = vf.data_ptr<float>();
  const int64_t* ip = ids.data_ptr<int64_t>();
  float* dqp = dqf.data_ptr<float>();
  float* dkp = dkeys.data_ptr<float>();
  float* dvp = dvalues.data_ptr<float>();
  // One sequence per task: its bytes add only into its own patches' key and value gradients.
  at::parallel_for(0, s.batch, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> w(static_cast<std::size_t>(s.k)), ds(static_cast<std::size_t>(s.k));
    for (int64_t unit = begin * s.length * s.heads; unit < end * s.length * s.heads; ++unit) {
      const int64_t row = unit / s.heads, head = unit % s.heads, patch = ip[row], at = unit * s.head_dim;
      patch_weights(qp, kp, at, s, row, head, patch, sc, w.data());
      for (int64_t j = 0; j < s.k; ++j) {
        const float* value = vp + s.kv(row, head, patch, j);
        float dot = 0.0f;
        for (int64_t d = 0; d < s.head_dim; ++d) dot += gp[at + d] * value[d];
        ds[j] = dot;
      }
      kernels::softmax_backward_in_place(w.data(), ds.data(), static_cast<int>(s.k));
      for (int64_t d = 0; d < s.head_dim; ++d) {
        float acc = 0.0f;
        for (int64_t j = 0; j < s.k; ++j) {
          const int64_t kv = s.kv(row, head, patch, j) + d;
          acc += ds[j] * kp[kv];
          dkp[kv] += sc * ds[j] * qp[at + d];
          dvp[kv] += w[j] * gp[at + d];
        }
        dqp[at + d] = sc * acc;
      }
    }
  });
  dq.copy_(dqf);
}

}  // namespace blt::kernels::cpu
