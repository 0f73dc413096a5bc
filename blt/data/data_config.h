// What the training/evaluation data path reads: shards, sequence length, batch, shuffling.
#pragma once
#include <cstdint>
#include <string>

#include "blt/config/yaml_config.h"

namespace blt::data {

struct DataConfig {
  std::string train = "data/shards/english/train";
  std::string valid = "data/shards/english/valid";
  int64_t seq_len = 4096;
  int64_t batch_size = 8;
  int64_t seed = 1234;
  int64_t workers = 1;
  int64_t prefetch = 4;
  bool verify_checksums = true;

  template <class V>
  void visit(V& v) {
    using namespace blt::config;
    v.field("train", train, "training shards: a directory of *.bltshard files, a file, or a glob");
    v.field("valid", valid, "validation shards, same forms as 'train'");
    v.field("seq_len", seq_len, "ids (bytes + BOS/EOS) per training sequence", in_range<int64_t>(2, 1 << 24));
    v.field("batch_size", batch_size, "sequences per micro-batch on each rank", in_range<int64_t>(1, 1 << 20));
    v.field("seed", seed, "seed of the document shuffle", at_least<int64_t>(0));
    v.field("workers", workers, "loader threads per rank", in_range<int64_t>(1, 64));
    v.field("prefetch", prefetch, "batches prepared ahead of the trainer", in_range<int64_t>(1, 1024));
    v.field("verify_checksums", verify_checksums, "check every shard's payload checksum when it is opened");
  }
};

}  // namespace blt::data
