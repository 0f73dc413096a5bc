// The training/evaluation batch loader.
//
// Sequence s of the packed stream (packed_stream.h) is the unit of work. Each
// call to next() on rank r of W, with b sequences per rank, returns sequences
//     base + i*W*b + r*b + [0, b)        for the i-th call,
// so the ranks of one step together read one contiguous run of W*b sequences:
// disjoint, jointly complete, and the same bytes as one process reading W*b.
// Within a rank, `workers` threads build batches i = w, w + K, w + 2K, ...
// ahead of the consumer (at most `prefetch` batches ahead).
//
// The position is one number, the next global sequence index, so a loader can
// be saved and restored exactly, also under another world size or batch size.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "blt/data/packed_stream.h"

namespace blt::data {

struct LoaderOptions {
  int64_t seq_len = 4096;     // L: each sequence holds L + 1 ids
  int64_t batch_size = 8;     // sequences per rank per batch
  uint64_t seed = 0;
  bool shuffle = true;        // false: corpus order
  bool repeat = true;         // false: one pass; the last sequences are padded with kIgnoreId
  int rank = 0;
  int world_size = 1;
  int workers = 1;
  int prefetch = 4;
};

struct Batch {
  torch::Tensor tokens;    // int64 [batch_size, seq_len + 1]; kIgnoreId past the end of a one-pass stream
  uint64_t first_sequence;  // global index of row 0
};

// Everything needed to continue exactly where a loader stopped.
struct LoaderState {
  uint64_t next_sequence = 0;
  uint64_t seed = 0;
  int64_t seq_len = 0;
  bool shuffle = true;
  uint64_t corpus_fingerprint = 0;

  std::string to_json() const;
  static LoaderState from_json(const std::string& text);  // throws blt::Error on malformed input
};

class Loader {
 public:
  Loader(std::shared_ptr<const ShardSet> corpus, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The next batch; std::nullopt once a one-pass loader has handed out every sequence
  // (all ranks stop after the same number of batches).
  std::optional<Batch> next();

  LoaderState state() const;
  // Continue from `state`; fails if it was saved for other data, seed, shuffle or seq_len.
  void restore(const LoaderState& state);

  // Sequences in one pass over the corpus (the last one possibly partial).
  uint64_t sequences_per_epoch() const;
  const LoaderOptions& options() const { return options_; }
  const PackedStream& stream() const { return stream_; }

 private:
  void start_workers();
  void stop_workers();
  void worker_loop(int worker);
  Batch build(uint64_t batch_index) const;
  bool exhausted(uint64_t batch_index) const;

  LoaderOptions options_;
  PackedStream stream_;
  uint64_t base_ = 0;       // global sequence index of batch 0 since the last start/restore
  uint64_t consumed_ = 0;   // batches handed out since then

  std::vector<std::thread> threads_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<uint64_t, Batch> ready_;
  std::exception_ptr error_;
  bool stopping_ = false;
};

}  // namespace blt::data
