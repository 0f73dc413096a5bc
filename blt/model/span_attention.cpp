#include "blt/model/span_attention.h"

#include "blt/core/torch_compat.h"

namespace blt::model {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// q, k, v, output [T, H, D]: the spans' positions packed end to end.
class SpanAttentionFunction : public torch::autograd::Function<SpanAttentionFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const torch::Tensor& offsets, int64_t longest, int64_t window,
                               double scale) {
    auto [out, saved] = compat::flash_spans_forward(q, k, v, offsets, longest, window, scale);
    ctx->save_for_backward({q, k, v, out, offsets, saved.logsumexp, saved.rng_state, saved.unused});
    ctx->saved_data["longest"] = longest;
    ctx->saved_data["window"] = window;
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const auto [dq, dk, dv] = compat::flash_spans_backward(
        grads[0].contiguous(), s[0], s[1], s[2], s[3], compat::FlashSpansSaved{s[5], s[6], s[7]}, s[4],
        ctx->saved_data["longest"].toInt(), ctx->saved_data["window"].toInt(), ctx->saved_data["scale"].toDouble());
    return {dq, dk, dv, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

bool span_attention_applies(const torch::Tensor& q, const AttentionPattern& pattern) {
  return compat::kHasFlashSpans && pattern.spans.defined() && !pattern.dense_reference &&
         compat::flash_spans_supported(q);
}

torch::Tensor span_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             const SequenceSpans& spans, int64_t window, double scale) {
  const int64_t B = q.size(0), H = q.size(1), L = q.size(2), D = q.size(3);
  TORCH_CHECK(k.sizes() == q.sizes() && v.sizes() == q.sizes(), "span attention: q ", q.sizes(), ", k ", k.sizes(),
              ", v ", v.sizes(), " must have one shape");
  // [B, H, L, D] -> [B * L, H, D]: free where the heads were a view of [B, L, H, D] (the projections' layout).
  const auto packed = [&](const torch::Tensor& t) { return t.transpose(1, 2).reshape({B * L, H, D}); };
  auto out = SpanAttentionFunction::apply(packed(q), packed(k), packed(v), spans.offsets, spans.longest, window, scale);
  return out.view({B, L, H, D}).transpose(1, 2);
}

}  // namespace blt::model
