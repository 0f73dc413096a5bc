// Parameters and optimizer state of a checkpoint, saved by every rank in
// parallel and loadable by any number of ranks:
//
//   shards.json                          world size, optimizer step, every parameter's shape
//   shard-RRRRR-of-WWWWW.safetensors     rank R's slices: "range.NAME" = int64 [begin, end) of
//                                        flattened parameter NAME, and for those elements
//                                        "param.NAME", "exp_avg.NAME", "exp_avg_sq.NAME" (1-D fp32)
//
// A loading rank asks for the slices it needs (a sharded strategy: its own chunk
// under the new world size; ddp: whole parameters) and gets them assembled from
// whichever files hold their elements: that is the resharding.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "blt/core/safetensors.h"

namespace blt::parallel {

// Elements [begin, begin + count) of one flattened parameter: kind ("param",
// "exp_avg", "exp_avg_sq") -> a 1-D tensor of count elements. Saving reads
// these tensors; loading writes into them (so they are views of live state).
struct ParamSlice {
  std::string name;
  int64_t begin = 0;
  std::map<std::string, torch::Tensor> parts;
};

using ParamShapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;

// Writes DIR/shard-RRRRR-of-WWWWW.safetensors (atomically).
void write_shard(const std::string& dir, int rank, int world_size, const std::vector<ParamSlice>& slices);
// Writes DIR/shards.json (the main rank, once per checkpoint).
void write_shard_manifest(const std::string& dir, int world_size, int64_t optimizer_steps, const ParamShapes& shapes);

class ShardReader {
 public:
  // Reads DIR/shards.json and maps every shard file it names.
  explicit ShardReader(const std::string& dir);
  ~ShardReader();

  int world_size() const { return static_cast<int>(files_.size()); }
  int64_t optimizer_steps() const { return optimizer_steps_; }
  // The model's parameters must be exactly the checkpoint's, shape for shape;
  // the error names the first that is not.
  void check_shapes(const ParamShapes& model) const;
  // Fills every part of `slice` from the shard files holding its elements.
  void read(ParamSlice& slice) const;

 private:
  struct File {
    std::unique_ptr<safetensors::Reader> reader;
    std::map<std::string, std::pair<int64_t, int64_t>> ranges;  // name -> [begin, end)
  };
  std::string manifest_path_;
  int64_t optimizer_steps_ = 0;
  ParamShapes shapes_;
  std::vector<File> files_;
};

}  // namespace blt::parallel
