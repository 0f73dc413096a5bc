#include "blt/core/safetensors.h"

#include <cstring>
#include <filesystem>

#include "blt/core/error.h"
#include "helpers.h"

using blt::test::read_file;
using blt::test::TempDir;
using blt::test::write_file;
using Catch::Matchers::Contains;
namespace st = blt::safetensors;

namespace {

// A file from a literal header and data region, as a corrupt-file fixture.
std::string raw_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

torch::Tensor sample(torch::ScalarType type, std::vector<int64_t> shape) {
  auto x = torch::randn(shape, torch::kDouble) * 100;
  if (type == torch::kBool) return x.gt(0);
  if (type == torch::kByte) return x.abs().remainder(256).to(type);
  return x.to(type);
}

}  // namespace

TEST_CASE("safetensors: every dtype round-trips with metadata", "[safetensors]") {
  TempDir dir;
  const std::vector<torch::ScalarType> types{torch::kFloat, torch::kHalf,  torch::kBFloat16, torch::kDouble,
                                             torch::kLong,  torch::kInt,   torch::kShort,    torch::kChar,
                                             torch::kByte,  torch::kBool};
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (std::size_t i = 0; i < types.size(); ++i)
    tensors.emplace_back(fmt::format("t{}.{}", i, c10::toString(types[i])), sample(types[i], {3, static_cast<int64_t>(i) + 1}));
  tensors.emplace_back("scalar", torch::tensor(2.5));
  tensors.emplace_back("empty", torch::zeros({0, 4}));
  tensors.emplace_back("strided", torch::arange(12, torch::kFloat).view({3, 4}).t());  // non-contiguous input
  const std::map<std::string, std::string> metadata{{"format", "pt"}, {"note", "x"}};
  st::write(dir / "a.safetensors", tensors, metadata);

  st::Reader reader(dir / "a.safetensors");
  REQUIRE(reader.tensors().size() == tensors.size());
  CHECK(reader.metadata() == metadata);
  for (const auto& [name, tensor] : tensors) {
    INFO(name);
    auto loaded = reader.load(name);
    CHECK(loaded.scalar_type() == tensor.scalar_type());
    CHECK(loaded.sizes() == tensor.sizes());
    CHECK(torch::equal(loaded, tensor));
  }
  CHECK(reader.info("t4.Long").dtype == st::DType::I64);
  REQUIRE_THROWS_WITH(reader.load("nope"), Contains("a.safetensors") && Contains("no tensor named 'nope'"));

  // Header length is a multiple of 8, so the data region starts aligned.
  const auto bytes = read_file(dir / "a.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);
}

TEST_CASE("safetensors: streamed tensors are loaded one at a time in name order", "[safetensors]") {
  TempDir dir;
  std::vector<std::string> order;
  std::vector<st::PendingTensor> pending;
  for (const char* name : {"z", "m", "a"})
    pending.push_back({name, torch::kLong, {2}, [&order, name] {
                         order.push_back(name);
                         return torch::full({2}, static_cast<int64_t>(name[0]), torch::kLong);
                       }});
  st::write(dir / "s.safetensors", std::move(pending));
  CHECK(order == std::vector<std::string>{"a", "m", "z"});
  st::Reader reader(dir / "s.safetensors");
  CHECK(reader.load("m")[1].item<int64_t>() == 'm');
}

TEST_CASE("safetensors: writing is deterministic and sorted by name", "[safetensors]") {
  TempDir dir;
  auto a = torch::arange(6, torch::kFloat).view({2, 3});
  auto b = torch::ones({4}, torch::kLong);
  st::write(dir / "x.safetensors", {{"b", b}, {"a", a}});
  st::write(dir / "y.safetensors", {{"a", a}, {"b", b}});
  const auto x = read_file(dir / "x.safetensors");
  CHECK(x == read_file(dir / "y.safetensors"));
  st::Reader reader(dir / "x.safetensors");
  CHECK(reader.info("a").begin == 0);
  CHECK(reader.info("b").begin == 24);
  CHECK(reader.tensors().front().name == "a");
}

TEST_CASE("safetensors: a failed write leaves the old file and no temporary", "[safetensors]") {
  TempDir dir;
  const std::string path = dir / "m.safetensors";
  st::write(path, {{"a", torch::ones({2})}});
  const auto before = read_file(path);
  REQUIRE_THROWS_WITH(st::write(path, {{"a", torch::ones({2})}, {"a", torch::zeros({2})}}),
                      Contains("tensor 'a' given twice"));
  REQUIRE_THROWS_WITH(st::write(path, {{"c", torch::ones({2}, torch::kComplexFloat)}}),
                      Contains("no safetensors equivalent"));
  // Tensors streamed from a loader: a loader that breaks its declaration aborts the write.
  std::vector<st::PendingTensor> pending;
  pending.push_back({"a", torch::kFloat, {2}, [] { return torch::ones({3}); }});
  REQUIRE_THROWS_WITH(st::write(path, std::move(pending)),
                      Contains("tensor 'a' was declared Float [2] but loaded as Float [3]"));
  CHECK(read_file(path) == before);
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.str())) {
    (void)e;
    ++files;
  }
  CHECK(files == 1);
  REQUIRE_THROWS_AS(st::write(dir / "missing/dir/m.safetensors", {{"a", torch::ones({2})}}), blt::Error);
}

TEST_CASE("safetensors: corrupt files are rejected with the file and the tensor named", "[safetensors]") {
  TempDir dir;
  const std::string path = dir / "bad.safetensors";
  auto expect_error = [&](const std::string& contents, const std::string& message) {
    write_file(path, contents);
    INFO(message);
    REQUIRE_THROWS_WITH(st::Reader(path), Contains("bad.safetensors") && Contains(message));
  };
  const std::string eight(8, 'x');

  expect_error("abc", "shorter than the 8-byte header length");
  {
    std::string f = raw_file("{}", "");
    const uint64_t n = 1000;
    std::memcpy(f.data(), &n, 8);
    expect_error(f, "header length 1000 at offset 0 runs past the end of the file");
  }
  expect_error(raw_file("{\"a\": {\"dtype\": \"F32\", ", ""), "header is not valid JSON");
  expect_error(raw_file("[1, 2]", ""), "header does not start with '{'");
  expect_error(raw_file(R"({"w": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}})", "xx"),
               "tensor 'w': unknown dtype \"F8_E4M3\"");
  expect_error(raw_file(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", eight),
               "tensor 'w': shape [3] x 4 bytes (F32) = 12 bytes but data_offsets [0, 8] span 8 bytes");
  expect_error(raw_file(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", eight),
               "tensor 'w': data_offsets [0, 16] run past the data region (8 bytes)");
  expect_error(raw_file(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                             "v": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                        eight),
               "data_offsets [4, 8] overlap tensor 'w' [0, 8]");
  expect_error(raw_file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", eight),
               "tensor 'w': data_offsets begin at 4 but the previous tensor ends at 0 (gap)");
  expect_error(raw_file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", eight),
               "tensors cover 4 bytes of the data region but it holds 8 bytes");
  expect_error(raw_file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                             "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                        eight),
               "tensor 'w' appears twice in the header");
  expect_error(raw_file(R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", eight),
               "tensor 'w': shape[0] must be a non-negative integer, got -1");
  expect_error(raw_file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})", eight),
               "tensor 'w': data_offsets [8, 4] end before begin");
  expect_error(raw_file(R"({"w": {"dtype": "F32", "shape": [1]}})", ""), "tensor 'w': missing \"data_offsets\"");
  expect_error(raw_file(R"({"__metadata__": {"a": 1}})", ""), "__metadata__ 'a' must be a string");

  // A hand-written valid file with padding spaces and metadata is accepted.
  write_file(path, raw_file(R"({"__metadata__": {"format": "pt"}, "w": {"dtype": "I8", "shape": [2, 4], "data_offsets": [0, 8]}})"
                            "      ",
                            "\x01\x02\x03\x04\x05\x06\x07\xff"));
  st::Reader reader(path);
  CHECK(reader.metadata().at("format") == "pt");
  CHECK(reader.load("w")[1][3].item<int8_t>() == -1);
}

TEST_CASE("safetensors: blt safetensors copy and info", "[safetensors]") {
  TempDir dir;
  st::write(dir / "in.safetensors", {{"b", torch::arange(3, torch::kShort)}, {"a", torch::ones({2, 2}, torch::kBFloat16)}},
            {{"k", "v"}});
  auto result = blt::test::run_blt(fmt::format("safetensors copy {} {}", dir / "in.safetensors", dir / "out.safetensors"));
  REQUIRE(result.exit_code == 0);
  CHECK(read_file(dir / "in.safetensors") == read_file(dir / "out.safetensors"));
  result = blt::test::run_blt(fmt::format("safetensors info {}", dir / "out.safetensors"));
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Contains("metadata k = v") && Contains("a BF16 [2, 2] [0, 8]") && Contains("b I16 [3] [8, 14]"));
  write_file(dir / "bad.safetensors", "abc");
  result = blt::test::run_blt(fmt::format("safetensors info {}", dir / "bad.safetensors"));
  CHECK(result.exit_code == 1);
  CHECK_THAT(result.output, Contains("bad.safetensors: file is 3 bytes"));
}
