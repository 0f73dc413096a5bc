#include "blt/parallel/grad_sync.h"

#include <limits>

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include "blt/core/error.h"

namespace blt::parallel {
namespace {
constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
}  // namespace

// The hooks outlive nothing: they reach this object through a target that the destructor clears.
struct GradSync::HookTarget {
  GradSync* sync;
};

// After a parameter's AccumulateGrad node ran: its gradient for this backward pass is complete
// (autograd sums every use of a leaf before accumulating it, so the node runs once per pass).
class GradSync::GradReady : public torch::autograd::FunctionPostHook {
 public:
  GradReady(std::shared_ptr<HookTarget> target, std::size_t param) : target_(std::move(target)), param_(param) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    if (target_->sync) target_->sync->on_grad_ready(param_);
    return outputs;
  }

 private:
  std::shared_ptr<HookTarget> target_;
  std::size_t param_;
};

GradSync::GradSync(std::vector<Param> params, Comm& comm, std::optional<c10::ScalarType> reduce_dtype,
                   int64_t bucket_bytes)
    : params_(std::move(params)),
      bucket_of_(params_.size(), kNone),
      ready_(params_.size(), false),
      comm_(comm),
      reduce_dtype_(reduce_dtype),
      target_(std::make_shared<HookTarget>(HookTarget{this})) {
  if (!comm_.distributed()) return;
  int64_t filled = 0;
  for (std::size_t i = params_.size(); i-- > 0;) {  // backward meets the last modules first
    const auto& p = params_[i].value;
    if (params_[i].row_sparse) continue;
    const int64_t bytes = p.numel() * static_cast<int64_t>(p.element_size());
    const bool fits = !buckets_.empty() && filled + bytes <= bucket_bytes &&
                      params_[buckets_.back().members.front()].value.options().type_equal(p.options());
    if (!fits) {
      buckets_.emplace_back();
      filled = 0;
    }
    buckets_.back().members.push_back(i);
    bucket_of_[i] = buckets_.size() - 1;
    filled += bytes;
    auto accumulator = torch::autograd::impl::grad_accumulator(p);
    if (!accumulator) fail("ddp: parameter '{}' is not a leaf that requires a gradient", params_[i].name);
    const auto key = accumulator->add_post_hook(std::make_unique<GradReady>(target_, i));
    hooks_.emplace_back(std::move(accumulator), key);
  }
}

GradSync::~GradSync() {
  target_->sync = nullptr;
  for (auto& [accumulator, key] : hooks_) accumulator->del_post_hook(key);
}

void GradSync::reduce_in_next_backward() {
  if (!comm_.distributed()) return;
  armed_ = true;
  std::fill(ready_.begin(), ready_.end(), false);
  for (auto& b : buckets_) b.ready = 0;
}

void GradSync::on_grad_ready(std::size_t param) {
  const auto b = bucket_of_[param];
  if (!armed_ || b == kNone) return;
  if (buckets_[b].work)
    fail("ddp: parameter '{}' received a second gradient after its bucket's all-reduce had started "
         "(a parameter used in two separately differentiated parts of the model)",
         params_[param].name);
  if (!ready_[param]) {
    ready_[param] = true;
    ++buckets_[b].ready;
  }
  while (next_start_ < buckets_.size() && buckets_[next_start_].ready == buckets_[next_start_].members.size())
    start(buckets_[next_start_++]);
}

void GradSync::start(Bucket& bucket) {
  torch::NoGradGuard no_grad;
  const auto& first = params_[bucket.members.front()].value;
  int64_t total = 0;
  for (const auto i : bucket.members) total += params_[i].value.numel();
  bucket.flat = torch::empty({total}, first.options().dtype(reduce_dtype_.value_or(first.scalar_type())));
  int64_t offset = 0;
  // Member by member (copy_ converts to the reduce dtype; cat's out= need not accept another
  // dtype); the summed values land in the views: no copy back.
  for (const auto i : bucket.members) {
    auto& p = params_[i].value;
    auto slot = bucket.flat.narrow(0, offset, p.numel());
    if (p.grad().defined())
      slot.copy_(p.grad().reshape({-1}));
    else
      slot.zero_();
    p.mutable_grad() = slot.view(p.sizes());
    offset += p.numel();
  }
  bucket.work = comm_.all_reduce_sum_async(bucket.flat);
}

void GradSync::all_reduce_grads() {
  if (!comm_.distributed()) return;
  torch::NoGradGuard no_grad;
  armed_ = false;
  while (next_start_ < buckets_.size()) start(buckets_[next_start_++]);
  for (auto& p : params_) {
    if (!p.row_sparse || !p.value.grad().defined()) continue;
    if (!p.value.grad().is_sparse()) fail("ddp: parameter '{}' should have a row-sparse gradient, got a dense one", p.name);
    p.value.mutable_grad() = gather_rows(p.value.grad());
  }
  for (auto& b : buckets_) {
    comm_.wait(b.work);
    b.work.reset();
  }
  next_start_ = 0;
}

void GradSync::clear_grads() {
  for (auto& p : params_) p.value.mutable_grad() = torch::Tensor();
  for (auto& b : buckets_) b.flat = torch::Tensor();
}

// Ranks hold different numbers of rows (autograd may coalesce a sparse gradient it accumulates),
// so the counts go first: the one place a step waits for the device, and only with sparse rows on
// more than one rank. Each rank's rows are then padded to the largest count, gathered, and the
// padding is cut off again; the global gradient is the sum of all ranks' rows.
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

}  // namespace blt::parallel
