#include "blt/core/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "blt/core/error.h"
#include "blt/core/files.h"

namespace blt::safetensors {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian; blt assumes such a host");

// The reference implementation refuses headers above 100 MB; so do we, before allocating.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
constexpr const char* kMetadataKey = "__metadata__";

struct DTypeEntry {
  DType dtype;
  const char* name;
  std::size_t size;
  torch::ScalarType scalar;
};

const DTypeEntry kDTypes[] = {
    {DType::F32, "F32", 4, torch::kFloat},     {DType::F16, "F16", 2, torch::kHalf},
    {DType::BF16, "BF16", 2, torch::kBFloat16}, {DType::F64, "F64", 8, torch::kDouble},
    {DType::I64, "I64", 8, torch::kLong},       {DType::I32, "I32", 4, torch::kInt},
    {DType::I16, "I16", 2, torch::kShort},      {DType::I8, "I8", 1, torch::kChar},
    {DType::U8, "U8", 1, torch::kByte},         {DType::BOOL, "BOOL", 1, torch::kBool},
};

const DTypeEntry& entry(DType dtype) {
  for (const auto& e : kDTypes)
    if (e.dtype == dtype) return e;
  fail("safetensors: invalid dtype enum value {}", static_cast<int>(dtype));
}

std::string shape_text(const std::vector<int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

// Reads one non-negative integer of the header; `what` names it in errors.
uint64_t header_uint(const nlohmann::json& value, const std::string& file, const std::string& what) {
  // nlohmann stores every non-negative integer literal as unsigned; negatives and floats are not.
  if (!value.is_number_unsigned())
    fail("{}: {} must be a non-negative integer, got {}", file, what, value.dump());
  return value.get<uint64_t>();
}

TensorInfo parse_tensor(const std::string& file, const std::string& name, const nlohmann::json& spec) {
  const std::string where = fmt::format("tensor '{}'", name);
  if (!spec.is_object()) fail("{}: {}: expected an object, got {}", file, where, spec.dump());
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!spec.contains(key)) fail("{}: {}: missing \"{}\"", file, where, key);
  for (const auto& item : spec.items())
    if (item.key() != "dtype" && item.key() != "shape" && item.key() != "data_offsets")
      fail("{}: {}: unknown field \"{}\"", file, where, item.key());

  TensorInfo info;
  info.name = name;
  const auto& dtype = spec["dtype"];
  if (!dtype.is_string()) fail("{}: {}: dtype must be a string, got {}", file, where, dtype.dump());
  bool known = false;
  for (const auto& e : kDTypes)
    if (dtype.get<std::string>() == e.name) {
      info.dtype = e.dtype;
      known = true;
    }
  if (!known)
    fail("{}: {}: unknown dtype \"{}\" (supported: F32 F16 BF16 F64 I64 I32 I16 I8 U8 BOOL)", file, where,
         dtype.get<std::string>());

  const auto& shape = spec["shape"];
  if (!shape.is_array()) fail("{}: {}: shape must be an array, got {}", file, where, shape.dump());
  uint64_t elements = 1;
  bool overflow = false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const uint64_t dim = header_uint(shape[i], file, fmt::format("{}: shape[{}]", where, i));
    if (dim > static_cast<uint64_t>(INT64_MAX)) overflow = true;
    info.shape.push_back(static_cast<int64_t>(dim));
    if (dim != 0 && elements > UINT64_MAX / dim) overflow = true;
    elements *= dim;
  }
  const auto& offsets = spec["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2)
    fail("{}: {}: data_offsets must be [begin, end], got {}", file, where, offsets.dump());
  info.begin = header_uint(offsets[0], file, where + ": data_offsets[0]");
  info.end = header_uint(offsets[1], file, where + ": data_offsets[1]");
  if (info.end < info.begin)
    fail("{}: {}: data_offsets [{}, {}] end before begin", file, where, info.begin, info.end);
  const std::size_t item = entry(info.dtype).size;
  if (overflow || elements > UINT64_MAX / item)
    fail("{}: {}: shape {} is too large", file, where, shape_text(info.shape));
  if (elements * item != info.end - info.begin)
    fail("{}: {}: shape {} x {} bytes ({}) = {} bytes but data_offsets [{}, {}] span {} bytes", file, where,
         shape_text(info.shape), item, entry(info.dtype).name, elements * item, info.begin, info.end,
         info.end - info.begin);
  return info;
}

}  // namespace

const char* dtype_name(DType dtype) { return entry(dtype).name; }
std::size_t dtype_size(DType dtype) { return entry(dtype).size; }
torch::ScalarType to_scalar_type(DType dtype) { return entry(dtype).scalar; }

DType from_scalar_type(torch::ScalarType type) {
  for (const auto& e : kDTypes)
    if (e.scalar == type) return e.dtype;
  fail("safetensors: torch dtype {} has no safetensors equivalent here", c10::toString(type));
}

Reader::Reader(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail("{}: cannot stat: {}", path, std::strerror(err));
  }
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ > 0) {
    void* m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      fail("{}: cannot map {} bytes: {}", path, size_, std::strerror(err));
    }
    map_ = static_cast<const unsigned char*>(m);
  }
  ::close(fd);

  try {
    if (size_ < 8) fail("{}: file is {} bytes, shorter than the 8-byte header length", path, size_);
    uint64_t header_len = 0;
    std::memcpy(&header_len, map_, 8);
    if (header_len > size_ - 8)
      fail("{}: header length {} at offset 0 runs past the end of the file ({} bytes)", path, header_len, size_);
    if (header_len > kMaxHeaderBytes) fail("{}: header length {} exceeds the 100 MB limit", path, header_len);
    data_start_ = 8 + static_cast<std::size_t>(header_len);
    const std::string text(reinterpret_cast<const char*>(map_ + 8), static_cast<std::size_t>(header_len));
    if (text.empty() || text[0] != '{') fail("{}: header does not start with '{{'", path);

    // nlohmann keeps the last of duplicate keys silently; catch them while parsing.
    std::set<std::string> seen;
    std::string duplicate;
    nlohmann::json::parser_callback_t on_event = [&](int depth, nlohmann::json::parse_event_t event,
                                                     nlohmann::json& parsed) {
      if (event == nlohmann::json::parse_event_t::key && depth == 1 && duplicate.empty() &&
          !seen.insert(parsed.get<std::string>()).second)
        duplicate = parsed.get<std::string>();
      return true;
    };
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(text, on_event);
    } catch (const nlohmann::json::parse_error& e) {
      fail("{}: header is not valid JSON: {}", path, e.what());
    }
    if (!duplicate.empty()) fail("{}: tensor '{}' appears twice in the header", path, duplicate);
    if (!header.is_object()) fail("{}: header must be a JSON object", path);

    for (const auto& item : header.items()) {
      if (item.key() == kMetadataKey) {
        if (!item.value().is_object()) fail("{}: __metadata__ must be an object of strings", path);
        for (const auto& m : item.value().items()) {
          if (!m.value().is_string()) fail("{}: __metadata__ '{}' must be a string, got {}", path, m.key(), m.value().dump());
          metadata_[m.key()] = m.value().get<std::string>();
        }
        continue;
      }
      tensors_.push_back(parse_tensor(path, item.key(), item.value()));
    }

    // The tensors must tile the data region exactly: no gaps, no overlaps, no trailing bytes.
    const uint64_t data_size = size_ - data_start_;
    std::vector<const TensorInfo*> by_offset;
    for (const auto& t : tensors_) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) {
      return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    uint64_t expected = 0;
    const TensorInfo* previous = nullptr;
    for (const auto* t : by_offset) {
      if (t->end > data_size)
        fail("{}: tensor '{}': data_offsets [{}, {}] run past the data region ({} bytes)", path, t->name, t->begin,
             t->end, data_size);
      if (t->begin < expected)
        fail("{}: tensor '{}': data_offsets [{}, {}] overlap tensor '{}' [{}, {}]", path, t->name, t->begin, t->end,
             previous->name, previous->begin, previous->end);
      if (t->begin > expected)
        fail("{}: tensor '{}': data_offsets begin at {} but the previous tensor ends at {} (gap)", path, t->name,
             t->begin, expected);
      expected = t->end;
      previous = t;
    }
    if (expected != data_size)
      fail("{}: tensors cover {} bytes of the data region but it holds {} bytes (offset {} of the file)", path,
           expected, data_size, data_start_ + expected);

    std::sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
    for (std::size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
  } catch (...) {
    if (map_) ::munmap(const_cast<unsigned char*>(map_), size_);
    map_ = nullptr;
    throw;
  }
}

Reader::~Reader() {
  if (map_) ::munmap(const_cast<unsigned char*>(map_), size_);
}

bool Reader::contains(const std::string& name) const { return index_.count(name) > 0; }

const TensorInfo& Reader::info(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail("{}: no tensor named '{}'", path_, name);
  return tensors_[it->second];
}

torch::Tensor Reader::load(const std::string& name) const {
  const auto& t = info(name);
  auto out = torch::empty(t.shape, torch::TensorOptions().dtype(to_scalar_type(t.dtype)));
  if (t.end > t.begin) std::memcpy(out.data_ptr(), map_ + data_start_ + t.begin, t.end - t.begin);
  return out;
}

void write(const std::string& path, std::vector<PendingTensor> tensors, const std::map<std::string, std::string>& metadata) {
  std::sort(tensors.begin(), tensors.end(), [](const PendingTensor& a, const PendingTensor& b) { return a.name < b.name; });
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  uint64_t offset = 0;
  std::vector<uint64_t> sizes;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (t.name.empty() || t.name == kMetadataKey) fail("{}: invalid tensor name '{}'", path, t.name);
    if (i > 0 && tensors[i - 1].name == t.name) fail("{}: tensor '{}' given twice", path, t.name);
    const DType dtype = from_scalar_type(t.dtype);
    uint64_t bytes = dtype_size(dtype);
    for (int64_t d : t.shape) {
      if (d < 0) fail("{}: tensor '{}' has a negative dimension in {}", path, t.name, shape_text(t.shape));
      bytes *= static_cast<uint64_t>(d);
    }
    header[t.name] = {{"dtype", dtype_name(dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    sizes.push_back(bytes);
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data region 8-byte aligned

  AtomicFileWriter out(path);
  const uint64_t len = text.size();
  out.write(&len, 8);
  out.write(text.data(), text.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    const auto cpu = t.load().detach().to(torch::kCPU).contiguous();
    if (cpu.scalar_type() != t.dtype || cpu.sizes() != c10::IntArrayRef(t.shape))
      fail("{}: tensor '{}' was declared {} {} but loaded as {} {}", path, t.name, c10::toString(t.dtype),
           shape_text(t.shape), c10::toString(cpu.scalar_type()), shape_text(cpu.sizes().vec()));
    if (sizes[i] > 0) out.write(cpu.data_ptr(), sizes[i]);
  }
  out.commit();
}

void write(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
           const std::map<std::string, std::string>& metadata) {
  std::vector<PendingTensor> pending;
  for (const auto& [name, tensor] : tensors) {
    if (!tensor.defined()) fail("{}: tensor '{}' is undefined", path, name);
    pending.push_back({name, tensor.scalar_type(), tensor.sizes().vec(), [tensor] { return tensor; }});
  }
  write(path, std::move(pending), metadata);
}

}  // namespace blt::safetensors
