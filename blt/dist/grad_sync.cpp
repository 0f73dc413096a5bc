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
  std::vector<std::vector<std::size_t>> members;  // the dense gradients in each flat
  std::vector<c10::intrusive_ptr<compat::CommWork>> works;
  for (const auto& bucket : buckets_) {
    std::vector<torch::Tensor> grads;
    std::vector<std::size_t> dense;
    for (const auto i : bucket) {
      auto& p = params_[i];
      if (p.grad().defined() && p.grad().is_sparse()) {
        p.mutable_grad() = gather_rows(p.grad());
        continue;
      }
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      grads.push_back(p.grad().reshape({-1}));
      dense.push_back(i);
    }
    if (grads.empty()) continue;
    flats.push_back(torch::cat(grads));
    members.push_back(std::move(dense));
    works.push_back(comm_.all_reduce_sum_async(flats.back()));
  }
  for (std::size_t b = 0; b < flats.size(); ++b) {
    comm_.wait(works[b]);
    int64_t offset = 0;
    for (const auto i : members[b]) {
      auto& grad = params_[i].mutable_grad();
      grad.copy_(flats[b].narrow(0, offset, grad.numel()).view_as(grad));
      offset += grad.numel();
    }
  }
}

// Ranks hold different numbers of rows (autograd may coalesce a sparse gradient it accumulates),
// so the counts go first: the one place a step waits for the device, and only with sparse rows on
// more than one rank. Each rank's rows are then padded to the largest count, gathered, and the
// padding is cut off again; the global gradient is the sum of all ranks' rows, which coalescing takes.
torch::Tensor GradSync::gather_rows(const torch::Tensor& grad) {
  const auto local = grad.coalesce();
  const auto indices = local.indices().reshape({-1});
  const auto rows = local.values();
  const int64_t count = indices.size(0), width = rows.size(1);
  const auto counts = comm_.all_gather(torch::full({1}, count, indices.options())).cpu();
  const int64_t most = counts.max().item<int64_t>();
  const auto padded_indices = torch::zeros({most}, indices.options());
  const auto padded_rows = torch::zeros({most, width}, rows.options());
  padded_indices.narrow(0, 0, count).copy_(indices);
  padded_rows.narrow(0, 0, count).copy_(rows);
  const auto all_indices = comm_.all_gather(padded_indices);
  const auto all_rows = comm_.all_gather(padded_rows.reshape({-1})).view({-1, width});
  std::vector<torch::Tensor> kept_indices, kept_rows;
  for (int64_t r = 0; r < counts.size(0); ++r) {
    const int64_t n = counts[r].item<int64_t>();
    kept_indices.push_back(all_indices.narrow(0, r * most, n));
    kept_rows.push_back(all_rows.narrow(0, r * most, n));
  }
  return torch::sparse_coo_tensor(torch::cat(kept_indices).unsqueeze(0), torch::cat(kept_rows), grad.sizes());
}

}  // namespace blt::dist
