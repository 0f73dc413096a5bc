// `blt eval` (noise, character tasks, JSON) and `blt patch` end to end on tiny,
// randomly initialised models, and their refusal of bad input.
#include <nlohmann/json.hpp>

#include <regex>

#include "blt/data/byte_ids.h"
#include "blt/eval/utf8_chars.h"
#include "blt/model/model_checkpoint.h"
#include "blt/model/patcher.h"
#include "blt/model/transformer_lm.h"
#include "model_test_util.h"
#include "train_test_util.h"

using blt::test::read_file;
using blt::test::run_blt;
using blt::test::TempDir;
using blt::test::write_file;
using Catch::Matchers::Contains;

namespace {

std::string random_checkpoint(const TempDir& dir, const std::string& preset) {
  torch::manual_seed(0);
  const auto model = blt::model::build_model(blt::test::load_model_preset(preset));
  const std::string path = dir / ("models/" + preset);
  blt::model::save_model_checkpoint(path, *model);
  return path;
}

nlohmann::json json_of(const std::string& output) { return nlohmann::json::parse(output.substr(output.find('{'))); }

// The patcher's own patch lengths of BOS + text at `threshold`, without BOS's one-byte patch.
std::vector<int64_t> patcher_lengths(const std::string& entropy_model, const std::string& text, double threshold) {
  blt::model::PatchingConfig cfg;
  cfg.mode = "entropy";
  cfg.threshold = threshold;
  const blt::model::Patcher patcher(cfg, blt::model::load_entropy_model(entropy_model, "test"));
  std::vector<int64_t> ids = {blt::data::kBosId};
  for (const char c : text) ids.push_back(blt::data::byte_to_id(static_cast<uint8_t>(c)));
  const auto lengths = patcher.patch(torch::tensor(ids, torch::kLong).view({1, -1}))[0];
  std::vector<int64_t> out;
  for (int64_t p = 1; p < lengths.size(0); ++p)
    if (lengths[p].item<int64_t>() > 0) out.push_back(lengths[p].item<int64_t>());
  return out;
}

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("blt patch: boundaries are the patcher's in JSON, terminal text and HTML", "[eval-suite][patch][e2e]") {
  TempDir dir;
  const auto model = random_checkpoint(dir, "entropy-tiny");
  const std::string ascii = "the quick brown fox jumps over the lazy dog, then the cat sat on the mat.\nline two";
  write_file(dir / "ascii.txt", ascii);
  const auto j = run_blt("patch --file " + (dir / "ascii.txt") + " --entropy-model " + model +
                         " --mean-patch 3 --json --device cpu");
  INFO(j.output);
  REQUIRE(j.exit_code == 0);
  const auto view = json_of(j.output);
  const auto lengths = view["patch_lengths"].get<std::vector<int64_t>>();
  CHECK(lengths == patcher_lengths(model, ascii, view["threshold"].get<double>()));
  CHECK(view["bytes"] == ascii.size());
  CHECK(view["entropies"].size() == ascii.size());
  CHECK(view["mean_patch"].get<double>() == Approx(3.0).margin(1.0));  // a search over one short text

  // Plain terminal text: '|' between patches, nothing else added.
  const std::string fixed = " --threshold " + view["threshold"].dump() + " --device cpu > " + (dir / "stdout");
  REQUIRE(run_blt("patch --file " + (dir / "ascii.txt") + " --entropy-model " + model + fixed + " --color never").exit_code == 0);
  const std::string plain = read_file(dir / "stdout");
  const std::string shown = plain.substr(0, plain.size() - 1);
  std::vector<int64_t> segments = {0};
  for (const char c : shown) c == '|' ? segments.push_back(0) : void(++segments.back());
  CHECK(segments == lengths);
  // Coloured: one colour change per patch, reset at each newline and at the end.
  REQUIRE(run_blt("patch --file " + (dir / "ascii.txt") + " --entropy-model " + model + fixed + " --color always").exit_code == 0);
  const std::string coloured = read_file(dir / "stdout");
  // Each patch switches the background; the two newlines and the end reset it.
  CHECK(occurrences(coloured, "\x1b[30;48;5;153m") + occurrences(coloured, "\x1b[30;48;5;223m") >= lengths.size());
  CHECK(occurrences(coloured, "\x1b[0m") == 2);
  REQUIRE(run_blt("patch the --entropy-model " + model + fixed + " --entropies").exit_code == 0);
  CHECK(occurrences(read_file(dir / "stdout"), "\n") == 4);  // header + 3 bytes
}

TEST_CASE("blt patch: the HTML page is self-contained, escaped, and marks the patcher's boundaries", "[eval-suite][patch][e2e]") {
  TempDir dir;
  const auto model = random_checkpoint(dir, "entropy-tiny");
  const std::string text = "<script>alert('x & y')</script> \"quoted\" ünïcödé 中文 😀\nsecond line";
  write_file(dir / "text.txt", text);
  const auto r = run_blt("patch --file " + (dir / "text.txt") + " --entropy-model " + model +
                         " --mean-patch 2 --html " + (dir / "out.html") + " --json --device cpu");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto view = json_of(r.output);
  const auto lengths = view["patch_lengths"].get<std::vector<int64_t>>();
  CHECK(lengths == patcher_lengths(model, text, view["threshold"].get<double>()));
  const auto html = read_file(dir / "out.html");
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html.substr(html.size() - 8) == "</html>\n");
  CHECK_FALSE(Contains("<script").match(html));
  CHECK_THAT(html, Contains("&lt;") && Contains("&gt;") && Contains("&amp;") && Contains("&#39;") &&
                       Contains("&quot;") && Contains("中") && Contains("😀"));
  CHECK_FALSE(Contains("http").match(html));  // no external resources
  // Well-formed nesting: every span closed; one patch span per patch whose start
  // is not inside a character already holding another start.
  CHECK(occurrences(html, "<span") == occurrences(html, "</span>"));
  // A character belongs to the patch of its last byte (a start inside it shows before it).
  std::vector<int64_t> patch_of;
  for (std::size_t p = 0; p < lengths.size(); ++p) patch_of.insert(patch_of.end(), lengths[p], static_cast<int64_t>(p));
  std::size_t shown_patches = 0, offset = 0;
  int64_t last = -1;
  for (auto c : blt::eval::utf8_chars(text)) {
    const int64_t p = patch_of[offset + c.size() - 1];
    shown_patches += p != last;
    last = p;
    offset += c.size();
  }
  CHECK(occurrences(html, "<span class=\"patch ") == shown_patches);
  // The text, with the markup removed and references decoded, is the input.
  std::string plain = std::regex_replace(html.substr(html.find("<div class=\"text\">")), std::regex("<[^>]*>"), "");
  plain = plain.substr(0, plain.find("\n\n"));
  for (const auto& [ref, c] : std::vector<std::pair<std::string, std::string>>{
           {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&amp;", "&"}})
    plain = std::regex_replace(plain, std::regex(ref), c);
  CHECK(plain.substr(0, text.size()) == text);
}

TEST_CASE("blt patch: bad input gets one clear error and a non-zero exit", "[eval-suite][patch][e2e]") {
  TempDir dir;
  const auto model = random_checkpoint(dir, "entropy-tiny");
  const auto blt_model = random_checkpoint(dir, "tiny");
  write_file(dir / "empty.txt", "");
  write_file(dir / "latin1.txt", "caf\xE9 au lait");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"patch hello --entropy-model " + (dir / "nowhere"), "not a model checkpoint"},
      {"patch hello --entropy-model " + blt_model, "holds a blt model, not a byte_lm"},
      {"patch --file " + (dir / "empty.txt") + " --entropy-model " + model, "is empty"},
      {"patch --file " + (dir / "missing.txt") + " --entropy-model " + model, "cannot read"},
      {"patch --file " + (dir / "latin1.txt") + " --entropy-model " + model, "not UTF-8: invalid byte at offset 3"},
      {"patch hello --file " + (dir / "latin1.txt") + " --entropy-model " + model, "either as TEXT or as --file"},
      {"patch hello --entropy-model " + model + " --threshold 2 --mean-patch 3", "not both"},
      {"patch hello", "--entropy-model CKPT is required"},
  };
  for (const auto& [args, message] : cases) {
    const auto r = run_blt(args + " --device cpu");
    INFO(args << "\n" << r.output);
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.output, Contains(message));
    CHECK(occurrences(r.output, "error") == 1);
  }
}

TEST_CASE("blt eval: noise robustness and character tasks on tiny models, text and JSON", "[eval-suite][e2e]") {
  TempDir dir;
  blt::test::write_corpus(dir / "corpus");
  write_file(dir / "words.txt", "banana\nhouse\nletter\nquiz\nrhythm\nzebra\napple\nKraków\nonion\nstrength\n");
  for (const char* preset : {"entropy-tiny", "tiny"}) {
    CAPTURE(preset);
    const auto model = random_checkpoint(dir, preset);
    const std::string common = "eval " + model + " --data " + (dir / "corpus/valid") +
                               " --noise case,delete,repeat,swap --noise-rate 0.1 --tasks cute --words " +
                               (dir / "words.txt") + " --items 3 --shots 1 --seq-len 64 --batch-size 4 --device cpu";
    const auto r = run_blt(common + " --json");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const auto out = json_of(r.output);
    const double clean = out["bpb"].get<double>();
    CHECK(out["noise"]["clean_bpb"].get<double>() == clean);
    REQUIRE(out["noise"]["types"].size() == 4);
    for (const auto& t : out["noise"]["types"]) {
      CAPTURE(t.dump());
      CHECK(t["degradation"].get<double>() == Approx(t["bpb"].get<double>() - clean).margin(1e-12));
      CHECK(t["edits"].get<int64_t>() > 0);
      CHECK(t["edits"].get<int64_t>() < t["candidates"].get<int64_t>());
    }
    // Deleting characters shortens the text, repeating lengthens it, case and swap keep it.
    const auto bytes = [&](int k) { return out["noise"]["types"][k]["bytes"].get<double>(); };
    CHECK(bytes(1) < out["bytes"].get<double>());
    CHECK(bytes(2) > out["bytes"].get<double>());
    CHECK(bytes(3) == out["bytes"].get<double>());
    REQUIRE(out["tasks"]["results"].size() == 6);
    for (const auto& t : out["tasks"]["results"]) {
      CHECK(t["items"] == 3);
      CHECK(t["chance"].get<double>() == Approx(0.25));
    }
    const auto text = run_blt(common);
    REQUIRE(text.exit_code == 0);
    CHECK_THAT(text.output, Contains("over its own bytes") && Contains("swap") && Contains("character tasks") &&
                                Contains("reverse"));
  }
}

TEST_CASE("blt eval: bad input gets one clear error and a non-zero exit", "[eval-suite][e2e]") {
  TempDir dir;
  blt::test::write_corpus(dir / "corpus");
  const auto model = random_checkpoint(dir, "entropy-tiny");
  write_file(dir / "empty.txt", "");
  const std::string data = " --data " + (dir / "corpus/valid");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"eval " + (dir / "nowhere") + data, "not a model checkpoint"},
      {"eval " + model, "give --data"},
      {"eval " + model + data + " --noise case --noise-rate 0", "--noise-rate must be in (0, 1]"},
      {"eval " + model + data + " --noise case --noise-rate 1.5", "--noise-rate must be in (0, 1]"},
      {"eval " + model + data + " --noise shout", "unknown noise type 'shout'"},
      {"eval " + model + " --noise case --tasks cute --words " + (dir / "empty.txt"), "--noise needs --data"},
      {"eval " + model + " --tasks cute", "--tasks needs --words"},
      {"eval " + model + " --tasks rhyme --words " + (dir / "empty.txt"), "unknown character task 'rhyme'"},
      {"eval " + model + " --tasks cute --words " + (dir / "empty.txt"), "no usable word"},
      {"eval " + model + " --tasks cute --words " + (dir / "missing.txt"), "cannot read"},
  };
  for (const auto& [args, message] : cases) {
    const auto r = run_blt(args + " --device cpu");
    INFO(args << "\n" << r.output);
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.output, Contains(message));
    CHECK(occurrences(r.output, "error") == 1);
  }
}
