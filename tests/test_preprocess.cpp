#include <unistd.h>
#include <zlib.h>

#include <fmt/format.h>

#include <set>
#include <string>
#include <vector>

#include "blt/data/corpus_stats.h"
#include "blt/data/preprocess.h"
#include "blt/data/preprocess_output.h"
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

// Entries next to `out` whose names start with out's: staging or moved-aside directories.
std::vector<std::string> left_next_to(const std::string& out) {
  std::vector<std::string> left;
  const std::string prefix = fs::path(out).filename().string() + ".";
  for (const auto& entry : fs::directory_iterator(fs::path(out).parent_path()))
    if (entry.path().filename().string().rfind(prefix, 0) == 0) left.push_back(entry.path().string());
  return left;
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

TEST_CASE("preprocess: a truncated gzip input is an error naming the file, not a shorter document",
          "[preprocess][errors][trust-io]") {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 1500; ++i) text += "line " + std::to_string(i * 7919 % 10007) + " of a document\n";
  write_gzip(dir / "whole.txt.gz", text);
  const auto bytes = blt::test::read_file(dir / "whole.txt.gz");
  // Cut in the middle of the deflate data, and cut only the 8-byte trailer (CRC-32 and length).
  for (const std::size_t keep : {bytes.size() / 2, bytes.size() - 4}) {
    INFO("kept " << keep << " of " << bytes.size() << " bytes");
    write_file(dir / "cut.txt.gz", bytes.substr(0, keep));
    auto o = options_for(dir, {dir / "cut.txt.gz"});
    REQUIRE_THROWS_WITH(preprocess(o), Contains("cut.txt.gz' is truncated") &&
                                           Contains("ends at byte " + std::to_string(keep)));
    CHECK_FALSE(fs::exists(o.out_dir));
  }
  auto o = options_for(dir, {dir / "whole.txt.gz"});
  o.valid_fraction = 0;
  preprocess(o);
  CHECK(all_docs(o.out_dir) == std::multiset<std::string>{text.substr(0, text.size() - 1)});
}

TEST_CASE("preprocess: refuses to replace a directory that is not its own output", "[preprocess][errors]") {
  TempDir dir;
  write_file(dir / "a.txt", "text\n");
  write_file(dir / "out/precious.txt", "keep me");
  auto o = options_for(dir, {dir / "a.txt"});
  REQUIRE_THROWS_WITH(preprocess(o), Contains("is not a blt preprocess output"));
  CHECK(fs::exists(dir / "out/precious.txt"));
}

TEST_CASE("preprocess: replaces only a directory that provably is its own earlier output",
          "[preprocess][errors][trust-io]") {
  TempDir dir;
  write_file(dir / "a.txt", "text\n");
  auto o = options_for(dir, {dir / "a.txt"});
  o.valid_fraction = 0;
  // A directory of the user's that merely holds a file named manifest.json.
  write_file(dir / "out/manifest.json", "{}\n");
  write_file(dir / "out/precious.txt", "keep me");
  REQUIRE_THROWS_WITH(preprocess(o), Contains("manifest.json that does not list what blt preprocess wrote"));
  CHECK(blt::test::read_file(dir / "out/precious.txt") == "keep me");
  fs::remove_all(dir / "out");

  preprocess(o);
  preprocess(o);  // its own earlier output is replaced
  CHECK(all_docs(o.out_dir) == std::multiset<std::string>{"text"});
  // A file of the user's put into an earlier output.
  write_file(dir / "out/train/notes.txt", "mine");
  REQUIRE_THROWS_WITH(preprocess(o), Contains("holds 'train/notes.txt', which blt preprocess did not write"));
  CHECK(blt::test::read_file(dir / "out/train/notes.txt") == "mine");
  fs::remove(dir / "out/train/notes.txt");
  // A shard that is no longer the one written.
  write_file(dir / "out/train/shard-00000.bltshard", "something else");
  REQUIRE_THROWS_WITH(preprocess(o), Contains("holds 'train/shard-00000.bltshard', changed since"));
  fs::remove_all(dir / "out");
  write_file(dir / "out", "a file");
  REQUIRE_THROWS_WITH(preprocess(o), Contains("exists and is not a directory"));
  CHECK(blt::test::read_file(dir / "out") == "a file");
  CHECK(left_next_to(o.out_dir).empty());
}

TEST_CASE("preprocess: two runs into one output stage apart, and the later one to publish fails",
          "[preprocess][errors][trust-io]") {
  TempDir dir;
  const std::string out = dir / "out";
  const auto stage = [](const PreprocessOutput& output, const std::string& text) {
    write_file(output.staging() + "/train/doc.txt", text);
  };
  {
    PreprocessOutput first(out), second(out);
    CHECK(first.staging() != second.staging());
    stage(first, "first");
    stage(second, "second");
    first.publish({});
    REQUIRE_THROWS_WITH(second.publish({}), Contains("another process published '" + out + "'"));
  }
  CHECK(blt::test::read_file(out + "/train/doc.txt") == "first");
  CHECK(left_next_to(out).empty());
  // Both replacing that output: the second finds it is no longer the one it started from.
  {
    PreprocessOutput first(out), second(out);
    stage(first, "first again");
    stage(second, "second again");
    first.publish({});
    REQUIRE_THROWS_WITH(second.publish({}), Contains("'" + out + "' changed while this preprocess ran"));
  }
  CHECK(blt::test::read_file(out + "/train/doc.txt") == "first again");
  std::string run_id;
  CHECK(why_not_replaceable(out, &run_id).empty());
  CHECK(left_next_to(out).empty());
}

TEST_CASE("preprocess: leaves the staging of other runs alone and removes that of exited ones",
          "[preprocess][trust-io]") {
  TempDir dir;
  write_file(dir / "a.txt", "text\n");
  char host[256] = {};
  REQUIRE(gethostname(host, sizeof host - 1) == 0);
  const auto exited = blt::test::run_shell("sh -c 'echo $$'");
  const std::string dead_pid = exited.output.substr(0, exited.output.find('\n'));
  const std::string other = dir / "out.partial";  // what every run used to share
  const std::string running = fmt::format("{}.partial-{}-{}-0000abcd", dir / "out", host, getpid());
  const std::string interrupted = fmt::format("{}.partial-{}-{}-0000abcd", dir / "out", host, dead_pid);
  for (const auto& staging : {other, running, interrupted}) write_file(staging + "/train/shard-00000.bltshard", "x");
  auto o = options_for(dir, {dir / "a.txt"});
  o.valid_fraction = 0;
  preprocess(o);
  CHECK(all_docs(o.out_dir) == std::multiset<std::string>{"text"});
  CHECK(fs::exists(other + "/train/shard-00000.bltshard"));
  CHECK(fs::exists(running + "/train/shard-00000.bltshard"));
  CHECK_FALSE(fs::exists(interrupted));
}

TEST_CASE("preprocess: directory walks skip binary files and report them; named binary files are refused",
          "[preprocess][errors][trust-io]") {
  TempDir dir;
  write_file(dir / "tree/a.py", "print('hello')\n");
  const std::string latin1 = "caf\xc3\xa9, and in Latin-1 caf\xe9";  // text with one invalid UTF-8 byte
  write_file(dir / "tree/b.txt", latin1 + "\n");
  const std::string pyc = std::string("\xa7\x0d\x0d\x0a\0\0\0\0", 8) + "code";
  write_file(dir / "tree/__pycache__/a.cpython-311.pyc", pyc);
  const std::string elf = std::string("\x7f" "ELF\x02\x01\x01\0", 8) + std::string(5000, 'x');
  write_file(dir / "tree/lib.so", elf);
  std::string noise;  // no NUL, but not UTF-8 at all: continuation bytes only
  for (int i = 0; i < 4096; ++i) noise += static_cast<char>(0x80 + i % 64);
  write_file(dir / "tree/noise.bin", noise);
  write_gzip(dir / "tree/packed.so.gz", elf);  // judged by its decompressed bytes

  auto o = options_for(dir, {dir / "tree"});
  o.valid_fraction = 0;
  const auto report = preprocess(o);
  CHECK(all_docs(o.out_dir) == std::multiset<std::string>{"print('hello')", latin1});
  CHECK(report.skipped_binary.files == 4);
  CHECK(report.skipped_binary.bytes == pyc.size() + elf.size() + noise.size() + fs::file_size(dir / "tree/packed.so.gz"));
  CHECK(report.skipped_binary.examples ==
        std::vector<std::string>{dir / "tree/__pycache__/a.cpython-311.pyc", dir / "tree/lib.so",
                                 dir / "tree/noise.bin", dir / "tree/packed.so.gz"});
  o.source.keep_binary = true;
  CHECK(preprocess(o).train_docs == 6);

  o = options_for(dir, {dir / "tree/lib.so"});
  REQUIRE_THROWS_WITH(preprocess(o), Contains("input '" + (dir / "tree/lib.so") + "' looks binary (a NUL byte at offset 7)") &&
                                         Contains("--keep-binary"));
  o = options_for(dir, {dir / "tree/noise.bin"});
  REQUIRE_THROWS_WITH(preprocess(o), Contains("looks binary (100% of its first 4096 bytes are not UTF-8)"));
  o.source.keep_binary = true;
  o.valid_fraction = 0;
  CHECK(preprocess(o).train_docs == 1);

  const auto cli = run_blt("preprocess " + (dir / "tree") + " --out " + (dir / "cli") + " --valid-fraction 0");
  CHECK(cli.exit_code == 0);
  CHECK_THAT(cli.output, Contains("skipped 4 binary files") && Contains("lib.so") && Contains("--keep-binary"));
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
