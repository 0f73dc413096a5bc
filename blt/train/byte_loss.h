// Next-id cross-entropy and its bits-per-byte accounting, shared by training
// and evaluation.
//
// BPB = (nats of every byte and EOS target) / ln 2 / (number of byte targets).
// A token LM (BPE baseline) is priced the same way over the same text: every
// token target counts the bytes it stands for (data/token_shards.h bytes_per_id),
// so its BPB is total nats / ln 2 / total bytes, comparable with the byte models.
// EOS is predicted and priced (knowing where a document ends is part of
// modelling it) but is not a byte; BOS targets (always after EOS) are left
// out of both; padding (-1) carries nothing.
#pragma once
#include <cstdint>

#include <torch/torch.h>

namespace blt::train {

struct LossSums {
  double nats = 0;        // over all non-padding targets (what training minimises)
  double targets = 0;
  double text_nats = 0;   // over byte and EOS targets (numerator of BPB, in nats)
  double bytes = 0;       // byte targets (denominator of BPB)

  void add(const LossSums& o) { nats += o.nats, targets += o.targets, text_nats += o.text_nats, bytes += o.bytes; }
  double mean_loss() const { return targets > 0 ? nats / targets : 0.0; }
  double bits_per_byte() const;
  // From the first four numbers of a float64 tensor in this order (token_loss's stats, on any device).
  static LossSums read(const torch::Tensor& stats);
};

struct TokenLoss {
  torch::Tensor loss_sum;  // scalar, differentiable: summed nats over non-padding targets
  // The batch's LossSums as a float64 [4] tensor on the logits' device (nats, targets,
  // text_nats, bytes): summed there over micro-batches and ranks, read on the host only when
  // the numbers are needed, so that a training step never waits for the device.
  torch::Tensor stats;
};

// logits [B, L, V], targets int64 [B, L] (-1 = padding). `bytes_per_id` (float
// [V] on the logits' device) gives each id's bytes for token LMs; undefined
// means byte ids (one byte each from id 4 on).
TokenLoss token_loss(const torch::Tensor& logits, const torch::Tensor& targets,
                     const torch::Tensor& bytes_per_id = {});

}  // namespace blt::train
