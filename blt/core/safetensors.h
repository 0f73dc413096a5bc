// The safetensors file format (the format of Hugging Face checkpoints and of blt's own):
//   8 bytes   little-endian uint64 N
//   N bytes   JSON object: name -> {"dtype", "shape", "data_offsets": [begin, end]},
//             plus an optional "__metadata__" object of string -> string
//   the rest  raw little-endian tensor data; offsets are relative to its start.
// The reader memory-maps the file and validates the whole header before anything
// is loaded, so a multi-GB checkpoint is read one tensor at a time without a
// second copy in memory. The writer is deterministic (tensors sorted by name) and
// atomic (temporary file, then rename).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace blt::safetensors {

enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL };

const char* dtype_name(DType dtype);
std::size_t dtype_size(DType dtype);
torch::ScalarType to_scalar_type(DType dtype);
// Throws blt::Error for a torch dtype safetensors cannot hold here (e.g. complex).
DType from_scalar_type(torch::ScalarType type);

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data region
  uint64_t end = 0;
};

class Reader {
 public:
  // Maps and validates `path`; throws blt::Error naming the file and the tensor or offset at fault.
  explicit Reader(const std::string& path);
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  const std::string& path() const { return path_; }
  // Every tensor, sorted by name.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const;
  // Throws blt::Error naming the file when `name` is absent.
  const TensorInfo& info(const std::string& name) const;
  // A fresh CPU tensor holding a copy of the tensor's data.
  torch::Tensor load(const std::string& name) const;

 private:
  std::string path_;
  const unsigned char* map_ = nullptr;
  std::size_t size_ = 0;
  std::size_t data_start_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// A tensor to be written whose data is produced only when the writer reaches it,
// so that a whole checkpoint never has to sit in memory at once. `load` must
// return a tensor of exactly `dtype` and `shape`.
struct PendingTensor {
  std::string name;
  torch::ScalarType dtype;
  std::vector<int64_t> shape;
  std::function<torch::Tensor()> load;
};

// Writes the tensors one at a time in name order, loading each just before it is written.
void write(const std::string& path, std::vector<PendingTensor> tensors,
           const std::map<std::string, std::string>& metadata = {});

// Writes `tensors` (any device; names unique and not "__metadata__") to `path`:
// sorted by name, header padded with spaces to a multiple of 8 bytes, written to a
// temporary file in the same directory and renamed into place.
void write(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
           const std::map<std::string, std::string>& metadata = {});

}  // namespace blt::safetensors
