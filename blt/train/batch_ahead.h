// Training batches, each loaded and patched one micro-batch before it is used.
//
// Patching sizes the global model's input by the batch's patch count, which the host must
// read from the device. Read right before the forward, that count waits behind everything
// queued so far (the previous step's backward and update), and the device idles while the
// host then queues the next forward. Here batch n+1 is loaded, copied and patched on the
// device before batch n's forward is queued, so when the host needs batch n+1's count the
// device computed it long ago and is still busy with batch n's work (docs/perf.md).
#pragma once
#include <optional>

#include <torch/torch.h>

#include "blt/data/loader.h"
#include "blt/model/patcher.h"
#include "blt/train/evaluate.h"
#include "blt/train/step_timer.h"

namespace blt::train {

class BatchAhead {
 public:
  // `patcher` (null for models without patches) and `timer` (may be null) must outlive this.
  BatchAhead(data::Loader& loader, const model::Patcher* patcher, const torch::Device& device, StepTimer* timer);
  // The next batch; queues the one after it. Fails if the loader has no more batches.
  StepBatch next();
  // Where the loader stands after the batches next() handed out, not counting the one
  // ahead: what a checkpoint saves, so that a resumed run sees exactly the batches after them.
  data::LoaderState loader_state() const;

 private:
  std::optional<PendingBatch> load();

  data::Loader& loader_;
  const model::Patcher* patcher_;
  torch::Device device_;
  StepTimer* timer_;
  std::optional<PendingBatch> ahead_;
  data::LoaderState before_ahead_;  // the loader's state before it gave the batch ahead
};

}  // namespace blt::train
