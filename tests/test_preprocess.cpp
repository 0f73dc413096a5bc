#include <zlib.h>

#include "blt/data/corpus_stats.h"
#include "blt/data/preprocess.h"
#include "blt/data/shard_reader.h"
#include "blt/data/shard_writer.h"
#include "helpers.h"

using namespace blt::data;
using blt::test::run_blt;
using blt::test::TempDir;
using blt::test::write_file;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

void write_gzip(const std::string& path, const std::string& contents) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  gzwrite(f, contents.data(), static_cast<unsigned>(contents.size()));
  gzclose(f);
}

std::multiset<std::string> all_docs(const std::string& out) {
  std::multiset<std::string> docs;
  for (const char* split : {"train", "valid"}) {
    if (fs::is_empty(out + "/" + split)) continue;
    const ShardSet set(out + "/" + split, true);
    for (uint64_t d = 0; d < set.num_docs(); ++d) docs.emplace(set.doc(d));
  }
  return docs;
}

PreprocessOptions options_for(const TempDir& dir, std::vector<std::string> inputs) {
  PreprocessOptions o;
  o.inputs = std::move(inputs);
  o.out_dir = dir / "out";
  o.valid_fraction = 0.25;
  return o;
}

}  // namespace

TEST_CASE("preprocess: text files, directories, JSON lines and gzip all become documents", "[preprocess]") {
  TempDir dir;
  write_file(dir / "in/a.txt", "first paragraph\nstill first\n\nsecond paragraph\n");
  write_file(dir / "in/sub/b.txt", "a whole file\n");
  write_file(dir / "in/.hidden", "never read\n");
  write_gzip(dir / "c.jsonl.gz", "{\"text\": \"json one\", \"id\": 1}\n\n{\"text\": \"json \\u00e9 two\"}\n");
  auto o = options_for(dir, {dir / "in", dir / "c.jsonl.gz"});
  o.source.doc_split = "blank-line";
  const auto report = preprocess(o);
  CHECK(report.train_docs + report.valid_docs == 5);
  const std::multiset<std::string> expected = {"first paragraph\nstill first", "second paragraph", "a whole file",
                                               "json one", "json \xc3\xa9 two"};
  CHECK(all_docs(o.out_dir) == expected);
  CHECK(fs::exists(o.out_dir + "/manifest.json"));
  CHECK_FALSE(fs::exists(o.out_dir + ".partial"));
}

TEST_CASE("preprocess: the split is deterministic and by content", "[preprocess]") {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 400; ++i) text += "line " + std::to_string(i) + "\n";
  write_file(dir / "a.txt", text);
  auto o = options_for(dir, {dir / "a.txt"});
  o.source.doc_split = "line";
  const auto first = preprocess(o);
  const auto train1 = blt::test::read_file(o.out_dir + "/train/shard-00000.bltshard");
  const auto second = preprocess(o);  // replaces its own earlier output
  CHECK(blt::test::read_file(o.out_dir + "/train/shard-00000.bltshard") == train1);
  CHECK(first.valid_docs == second.valid_docs);
  // About a quarter goes to validation, and each document's side depends only on its content.
  CHECK(first.valid_docs > 60);
  CHECK(first.valid_docs < 140);
  const ShardSet valid(o.out_dir + "/valid", true);
  for (uint64_t d = 0; d < valid.num_docs(); ++d) CHECK(is_valid_document(valid.doc(d), 0.25, 0));
  o.seed = 1;
  const auto reseeded = preprocess(o);
  CHECK(reseeded.valid_docs != first.valid_docs);
}

TEST_CASE("preprocess: oversized documents are cut at line ends within the cap", "[preprocess]") {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 300; ++i) text += "a line of about forty bytes of text " + std::to_string(i) + "\n";
  write_file(dir / "big.txt", text);
  auto o = options_for(dir, {dir / "big.txt"});
  o.valid_fraction = 0.0;
  o.source.max_doc_bytes = 1024;
  preprocess(o);
  const ShardSet set(o.out_dir + "/train", true);
  REQUIRE(set.num_docs() > 5);
  std::string joined;
  for (uint64_t d = 0; d < set.num_docs(); ++d) {
    CHECK(set.doc_size(d) <= 1024);
    joined += std::string(set.doc(d)) + "\n";
  }
  CHECK(joined == text);
}

TEST_CASE("preprocess: missing and empty inputs are errors and write nothing", "[preprocess][errors]") {
  TempDir dir;
  auto o = options_for(dir, {dir / "missing.txt"});
  REQUIRE_THROWS_WITH(preprocess(o), Contains("missing.txt' does not exist"));
  write_file(dir / "empty.txt", "");
  write_file(dir / "blank.txt", "\n  \n\n");
  o = options_for(dir, {dir / "empty.txt", dir / "blank.txt"});
  REQUIRE_THROWS_WITH(preprocess(o), Contains("hold no documents"));
  CHECK_FALSE(fs::exists(o.out_dir));
  CHECK_FALSE(fs::exists(o.out_dir + ".partial"));
  fs::create_directories(dir / "emptydir");
  o = options_for(dir, {dir / "emptydir"});
  REQUIRE_THROWS_WITH(preprocess(o), Contains("contain no files"));
}

TEST_CASE("preprocess: malformed JSON lines name the file and line", "[preprocess][errors]") {
  TempDir dir;
  write_file(dir / "bad.jsonl", "{\"text\": \"ok\"}\n{\"text\": \"unterminated}\n");
  auto o = options_for(dir, {dir / "bad.jsonl"});
  REQUIRE_THROWS_WITH(preprocess(o), Contains("bad.jsonl:2: invalid JSON"));
  CHECK_FALSE(fs::exists(o.out_dir + ".partial"));
  write_file(dir / "nofield.jsonl", "{\"text\": \"ok\"}\n{\"body\": \"x\"}\n");
  o = options_for(dir, {dir / "nofield.jsonl"});
  REQUIRE_THROWS_WITH(preprocess(o), Contains("nofield.jsonl:2: no field 'text'"));
  write_file(dir / "number.jsonl", "{\"text\": 5}\n");
  o = options_for(dir, {dir / "number.jsonl"});
  REQUIRE_THROWS_WITH(preprocess(o), Contains("number.jsonl:1: field 'text' is not a string"));
}

TEST_CASE("preprocess: a corrupt gzip input is reported with its name", "[preprocess][errors]") {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "some compressible text " + std::to_string(i) + "\n";
  write_gzip(dir / "x.txt.gz", text);
  auto bytes = blt::test::read_file(dir / "x.txt.gz");
  for (std::size_t i = bytes.size() / 2; i < bytes.size() / 2 + 64; ++i) bytes[i] ^= 0x55;
  write_file(dir / "x.txt.gz", bytes);
  auto o = options_for(dir, {dir / "x.txt.gz"});
  REQUIRE_THROWS_WITH(preprocess(o), Contains("x.txt.gz' is corrupt near byte"));
  CHECK_FALSE(fs::exists(o.out_dir));
}

TEST_CASE("preprocess: refuses to replace a directory that is not its own output", "[preprocess][errors]") {
  TempDir dir;
  write_file(dir / "a.txt", "text\n");
  write_file(dir / "out/precious.txt", "keep me");
  auto o = options_for(dir, {dir / "a.txt"});
  REQUIRE_THROWS_WITH(preprocess(o), Contains("is not a blt preprocess output"));
  CHECK(fs::exists(dir / "out/precious.txt"));
}

TEST_CASE("cli: preprocess and data stats run end to end and fail with non-zero exit", "[preprocess][cli]") {
  TempDir dir;
  write_file(dir / "a.txt", "aaaa bbbb\n\nabab\n");
  auto ok = run_blt("preprocess " + (dir / "a.txt") + " --out " + (dir / "out") + " --doc-split blank-line --valid-fraction 0");
  CHECK(ok.exit_code == 0);
  auto stats = run_blt("data stats " + (dir / "out/train") + " --json");
  CHECK(stats.exit_code == 0);
  CHECK_THAT(stats.output, Contains("\"documents\": 2") && Contains("\"bytes\": 13"));
  auto missing = run_blt("preprocess " + (dir / "nope.txt") + " --out " + (dir / "o2"));
  CHECK(missing.exit_code != 0);
  CHECK_THAT(missing.output, Contains("nope.txt' does not exist"));
  auto bad_shard = run_blt("data stats " + (dir / "a.txt"));
  CHECK(bad_shard.exit_code != 0);
  CHECK_THAT(bad_shard.output, Contains("not a blt shard: bad magic at offset 0"));
}

TEST_CASE("stats: entropy, counts and script mix of a known corpus", "[stats]") {
  TempDir dir;
  blt::data::ShardSetWriter w(dir / "s", 1 << 20);
  w.add("abab");                                   // a, b equally likely so far
  w.add("\xd0\x9f\xd0\x9f");                        // two Cyrillic letters: bytes D0 9F D0 9F
  w.add(std::string("\xff", 1));                   // invalid UTF-8
  w.finish();
  const ShardSet set(dir / "s", true);
  const auto s = compute_stats(set);
  CHECK(s.docs == 3);
  CHECK(s.bytes == 9);
  CHECK(s.min_doc_bytes == 1);
  CHECK(s.max_doc_bytes == 4);
  CHECK(s.invalid_utf8_bytes == 1);
  CHECK(s.chars == 6);
  // Byte distribution: a 2, b 2, D0 2, 9F 2, FF 1 over 9 bytes.
  const double expected = -(4 * (2.0 / 9) * std::log2(2.0 / 9) + (1.0 / 9) * std::log2(1.0 / 9));
  CHECK(s.unigram_entropy_bits() == Approx(expected).epsilon(1e-12));
  REQUIRE(s.script_chars.size() == 2);
  CHECK(s.script_chars[0] == std::make_pair(std::string("Latin"), uint64_t(4)));
  CHECK(s.script_chars[1] == std::make_pair(std::string("Cyrillic"), uint64_t(2)));
  CHECK(std::string(script_of(0x4E2D)) == "Han");
  CHECK(std::string(script_of(' ')) == "Common");
  CHECK(std::string(script_of(0x05D0)) == "Hebrew");
}
