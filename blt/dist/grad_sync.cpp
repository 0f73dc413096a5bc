#include "blt/dist/grad_sync.h"

namespace blt::dist {

GradSync::GradSync(std::vector<torch::Tensor> params, Comm& comm, int64_t bucket_bytes)
    : params_(std::move(params)), comm_(comm) {
  int64_t filled = 0;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const auto& p = params_[i];
    const int64_t bytes = p.numel() * static_cast<int64_t>(p.element_size());
    const bool fits = !buckets_.empty() && filled + bytes <= bucket_bytes &&
                      params_[buckets_.back().front()].options().type_equal(p.options());
    if (!fits) {
      buckets_.emplace_back();
      filled = 0;
    }
    buckets_.back().push_back(i);
    filled += bytes;
  }
}

void GradSync::all_reduce_grads() {
  if (!comm_.distributed()) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> flats;
  std::vector<c10::intrusive_ptr<compat::CommWork>> works;
  for (const auto& bucket : buckets_) {
    std::vector<torch::Tensor> grads;
    for (const auto i : bucket) {
      auto& p = params_[i];
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      // Row-sparse gradients (hash tables) hold different rows on every rank; summed here as the
      // dense tables they stand for. Exchanging only the rows touched is issue 11's.
      if (p.grad().is_sparse()) p.mutable_grad() = p.grad().to_dense();
      grads.push_back(p.grad().reshape({-1}));
    }
    flats.push_back(torch::cat(grads));
    works.push_back(comm_.all_reduce_sum_async(flats.back()));
  }
  for (std::size_t b = 0; b < buckets_.size(); ++b) {
    comm_.wait(works[b]);
    int64_t offset = 0;
    for (const auto i : buckets_[b]) {
      auto& grad = params_[i].mutable_grad();
      grad.copy_(flats[b].narrow(0, offset, grad.numel()).view_as(grad));
      offset += grad.numel();
    }
  }
}

}  // namespace blt::dist
