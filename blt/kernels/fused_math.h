// The arithmetic of the fused operations (fused_ops.h), one element or pair at a time, in float.
// The CUDA kernels (fused_kernels.cu) and their CPU twins (fused_ops_cpu.cpp) both call these,
// so the CPU tests of the fused operations check the formulas the GPU runs.
#pragma once
#include <cmath>

#ifdef __CUDACC__
#define BLT_HD __host__ __device__ __forceinline__
#else
#define BLT_HD inline
#endif

namespace blt::kernels {

// SwiGLU's gate: silu(g) * u = g * sigmoid(g) * u.
BLT_HD float silu_mul(float g, float u) { return g / (1.0f + expf(-g)) * u; }

// d/dg [g s(g) u] = u s (1 + g (1 - s)),  d/du = g s(g).
BLT_HD void silu_mul_backward(float g, float u, float dy, float& dg, float& du) {
  const float s = 1.0f / (1.0f + expf(-g));
  dg = dy * u * s * (1.0f + g * (1.0f - s));
  du = dy * g * s;
}

// Rotary embedding of one channel pair (x0, x1) = (x[2i], x[2i+1]) with the table's entries at
// 2i and 2i+1 (rope.h: y = x * cos + rotate(x) * sin, rotate(x)[2i] = -x[2i+1], [2i+1] = x[2i]).
BLT_HD void rope_pair(float x0, float x1, float c0, float c1, float s0, float s1, float& y0, float& y1) {
  y0 = x0 * c0 - x1 * s0;
  y1 = x1 * c1 + x0 * s1;
}

// Its transpose (the map is linear in x): the gradient of x from the gradient of y.
BLT_HD void rope_pair_backward(float g0, float g1, float c0, float c1, float s0, float s1, float& d0, float& d1) {
  d0 = g0 * c0 + g1 * s1;
  d1 = g1 * c1 - g0 * s0;
}

// RMSNorm, with r = 1 / sqrt(mean(x^2) + eps) per row and xh = x r:
//   y = w xh,   dx = r (w dy - xh mean(w dy xh)),   dw = sum over rows of dy xh.
BLT_HD float rms_norm_input_grad(float r, float w_dy, float xh, float mean_w_dy_xh) {
  return r * (w_dy - xh * mean_w_dy_xh);
}

// The local decoder's cross-attention: a byte attends to the k vectors of its patch only, so its
// attention weights are a softmax over k scores. In place: scores s[0..k) -> weights.
BLT_HD void softmax_in_place(float* s, int k) {
  float top = s[0];
  for (int j = 1; j < k; ++j) top = s[j] > top ? s[j] : top;
  float total = 0.0f;
  for (int j = 0; j < k; ++j) total += (s[j] = expf(s[j] - top));
  for (int j = 0; j < k; ++j) s[j] /= total;
}

// Its backward, in place: the gradients of the weights dw[0..k) -> of the scores,
// ds_j = w_j (dw_j - sum_i w_i dw_i).
BLT_HD void softmax_backward_in_place(const float* w, float* dw, int k) {
  float mean = 0.0f;
  for (int j = 0; j < k; ++j) mean += w[j] * dw[j];
  for (int j = 0; j < k; ++j) dw[j] = w[j] * (dw[j] - mean);
}

}  // namespace blt::kernels
