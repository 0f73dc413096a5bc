// The token baseline (tokenizer, byte accounting of its loss) and scaling
// sweeps (config, plan, run with a kill in the middle, report).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "blt/data/corpus_stats.h"
#include "blt/data/tokenizer_process.h"
#include "blt/eval/char_tasks.h"
#include "blt/eval/continuation_score.h"
#include "blt/model/model_checkpoint.h"
#include "blt/data/shard_reader.h"
#include "blt/data/shard_writer.h"
#include "blt/data/token_shards.h"
#include "blt/sweep/sweep_config.h"
#include "blt/train/byte_loss.h"
#include "blt/train/checkpoint_model.h"
#include "helpers.h"
#include "model_test_util.h"
#include "train_test_util.h"

using namespace blt;
using namespace blt::test;

namespace {

// blt-tokenizer is built next to blt.
std::string tokenizer_program() { return (std::filesystem::path(BLT_BINARY).parent_path() / "blt-tokenizer").string(); }

RunResult run_tokenizer(const std::string& args) { return run_shell(tokenizer_program() + " " + args); }

std::vector<std::vector<std::string>> read_csv(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> cells;
    std::istringstream cells_in(line);
    for (std::string cell; std::getline(cells_in, cell, ',');) cells.push_back(cell);
    if (!line.empty() && line.back() == ',') cells.emplace_back();
    rows.push_back(cells);
  }
  return rows;
}

}  // namespace

TEST_CASE("blt-tokenizer: token shards stand for exactly the text's bytes", "[sweeps]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  // Text the tokenizer never saw: newlines, runs of spaces, UTF-8, a control byte.
  const std::vector<std::string> unseen = {"the quick fox\n\n  jumps  over\tthe dog.",
                                           "caf\xC3\xA9 \xE2\x82\xAC 42\x01 end\n", " leading space"};
  {
    data::ShardSetWriter w(dir / "unseen", 1 << 20);
    for (const auto& text : unseen) w.add(text);
    w.finish();
  }
  const std::string model = dir / "bpe.model";
  const auto trained = run_tokenizer("train " + (dir / "corpus/train") + " --vocab 300 --threads 1 --out " + model);
  INFO(trained.output);
  REQUIRE(trained.exit_code == 0);
  const auto encoded = run_tokenizer("encode " + model + " --train " + (dir / "corpus/train") + " --valid " +
                                     (dir / "unseen") + " --threads 2 --out " + (dir / "tokens"));
  INFO(encoded.output);
  REQUIRE(encoded.exit_code == 0);

  const data::ShardSet valid(dir / "tokens/valid", true);
  const auto table = data::read_token_table(valid);
  REQUIRE(table != nullptr);
  CHECK(table->vocab_size <= 300);
  REQUIRE(valid.num_docs() == unseen.size());
  for (uint64_t d = 0; d < valid.num_docs(); ++d) {
    std::vector<int64_t> ids(valid.doc_size(d) / data::kTokenIdBytes);
    data::unpack_token_ids(valid.doc(d), 0, ids.size(), ids.data());
    double bytes = 0;
    for (const int64_t id : ids) {
      REQUIRE(id >= 4);  // 0..3 are the special ids, never produced by text
      REQUIRE(id < table->vocab_size);
      bytes += table->bytes_per_id[id];
    }
    CHECK(bytes == double(unseen[d].size()));
  }
  CHECK(table->text_bytes == data::ShardSet(dir / "unseen", true).num_bytes());
  // The training text is 18 words over and over: merges make tokens longer than a byte.
  const auto train_table = data::read_token_table(data::ShardSet(dir / "tokens/train", true));
  REQUIRE(train_table != nullptr);
  CHECK(train_table->bytes_per_token() > 1.0);

  // Byte models refuse token shards, and a token_lm refuses byte shards, naming the data.
  write_file(dir / "blt.yaml", "include: [" + source_path("configs/model/tiny.yaml") + "]\ndata: {train: " +
                                   (dir / "tokens/train") + ", valid: '', seq_len: 32, batch_size: 2}\n"
                                   "train: {device: cpu, steps: 1, out_dir: " + (dir / "runs/blt") + "}\n");
  const auto blt_on_tokens = run_blt("train " + (dir / "blt.yaml"));
  CHECK(blt_on_tokens.exit_code != 0);
  CHECK_THAT(blt_on_tokens.output, Catch::Contains("token shards") && Catch::Contains(dir / "tokens/train"));
  write_file(dir / "token.yaml", "include: [" + source_path("configs/model/token-tiny.yaml") + "]\ndata: {train: " +
                                     (dir / "corpus/train") + ", valid: '', seq_len: 32, batch_size: 2}\n"
                                     "train: {device: cpu, steps: 1, out_dir: " + (dir / "runs/token") + "}\n");
  const auto token_on_bytes = run_blt("train " + (dir / "token.yaml"));
  CHECK(token_on_bytes.exit_code != 0);
  CHECK_THAT(token_on_bytes.output, Catch::Contains("byte shards") && Catch::Contains("blt-tokenizer encode"));
}

TEST_CASE("blt eval on a token_lm: its tokenizer encodes the text, the noised text and the task items",
          "[sweeps][eval-suite]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  const std::string bpe = dir / "bpe.model";
  REQUIRE(run_tokenizer("train " + (dir / "corpus/train") + " --vocab 300 --threads 1 --out " + bpe).exit_code == 0);
  REQUIRE(run_tokenizer("encode " + bpe + " --train " + (dir / "corpus/valid") + " --threads 1 --out " + (dir / "tokens"))
              .exit_code == 0);

  // encode-texts gives the ids that encode gives the same text as a document.
  const std::vector<std::string> texts = {"the quick fox\n\n  jumps", "caf\xC3\xA9 \xE2\x82\xAC 42\x01 end\n", " x"};
  {
    data::ShardSetWriter w(dir / "texts", 1 << 20);
    for (const auto& text : texts) w.add(text);
    w.finish();
  }
  REQUIRE(run_tokenizer("encode " + bpe + " --train " + (dir / "texts") + " --threads 1 --out " + (dir / "texts-tokens"))
              .exit_code == 0);
  std::filesystem::create_directories(dir / "work");
  const auto ids = data::encode_texts(bpe, texts, dir / "work");
  const data::ShardSet encoded(dir / "texts-tokens/train", true);
  REQUIRE(ids.size() == texts.size());
  for (uint64_t d = 0; d < texts.size(); ++d) {
    std::vector<int64_t> expected(encoded.doc_size(d) / data::kTokenIdBytes);
    data::unpack_token_ids(encoded.doc(d), 0, expected.size(), expected.data());
    CHECK(ids[d] == expected);
  }

  torch::manual_seed(0);
  const std::string ckpt = dir / "token-model";
  model::save_model_checkpoint(ckpt, *model::build_model(load_model_preset("token-tiny")));
  write_file(dir / "words.txt", "banana\nhouse\nletter\nquiz\nrhythm\nzebra\napple\nKrak\xC3\xB3w\nonion\nstrength\n");
  const std::string common = " --seq-len 64 --batch-size 4 --device cpu --json";
  const auto json_of = [](const std::string& out) { return nlohmann::json::parse(out.substr(out.find('{'))); };
  const auto on_tokens = run_blt("eval " + ckpt + " --data " + (dir / "tokens/train") + common);
  const auto on_bytes = run_blt("eval " + ckpt + " --data " + (dir / "corpus/valid") + " --tokenizer " + bpe +
                                " --noise case,swap --tasks cute --words " + (dir / "words.txt") + " --items 8 --shots 1" +
                                common);
  INFO(on_tokens.output << on_bytes.output);
  REQUIRE(on_tokens.exit_code == 0);
  REQUIRE(on_bytes.exit_code == 0);
  const auto a = json_of(on_tokens.output), b = json_of(on_bytes.output);
  // Byte shards encoded on the way are the encoded shards: the same ids, so the same sums.
  CHECK(b["bpb"].get<double>() == a["bpb"].get<double>());
  CHECK(b["bytes"] == a["bytes"]);
  CHECK(b["bytes_per_token"].get<double>() > 1.0);
  CHECK(b["unigram_entropy_bits"].get<double>() > 0.0);
  REQUIRE(b["noise"]["types"].size() == 2);
  for (const auto& t : b["noise"]["types"]) {
    CHECK(std::isfinite(t["bpb"].get<double>()));
    CHECK(t["edits"].get<int64_t>() > 0);
    CHECK(t["bpb"].get<double>() != b["bpb"].get<double>());  // other text, other ids
  }
  // The tasks are scored on the tokenizer's ids: the same choices as scoring them here.
  std::vector<eval::TaskItem> items;
  const auto words = eval::load_task_words(dir / "words.txt");
  for (const auto& task : eval::parse_char_tasks("cute")) {
    const auto made = eval::make_task_items(task, words, 8, 1, 0);
    items.insert(items.end(), made.begin(), made.end());
  }
  std::vector<std::string> item_texts;
  for (const auto& item : items) {
    item_texts.push_back(item.prompt);
    item_texts.insert(item_texts.end(), item.candidates.begin(), item.candidates.end());
  }
  const auto item_ids = data::encode_texts(bpe, item_texts, dir / "work");
  std::map<std::string, std::vector<int64_t>> table;
  for (std::size_t i = 0; i < item_texts.size(); ++i) table.emplace(item_texts[i], item_ids[i]);
  auto loaded = train::load_checkpoint_model(ckpt);
  const eval::ContinuationScorer scorer(*loaded, nullptr, [&](std::string_view t) { return table.at(std::string(t)); },
                                        torch::kCPU);
  const auto expected = eval::score_task_items(
      items, [&](const eval::TaskItem& item) { return scorer.choose(item.prompt, item.candidates); });
  REQUIRE(b["tasks"]["results"].size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto& got = b["tasks"]["results"][i];
    INFO(expected[i].task);
    CHECK(got["task"] == expected[i].task);
    CHECK(got["items"].get<int64_t>() == 8);
    CHECK(got["correct"].get<int64_t>() == expected[i].correct);
  }

  // What a token_lm cannot do without its tokenizer, and a byte model with one, is named.
  const std::string blt_ckpt = dir / "blt-model";
  model::save_model_checkpoint(blt_ckpt, *model::build_model(load_model_preset("tiny")));
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"eval " + ckpt + " --data " + (dir / "corpus/valid"), "--tokenizer MODEL"},
      {"eval " + ckpt + " --tasks cute --words " + (dir / "words.txt"), "--tokenizer MODEL"},
      {"eval " + ckpt + " --data " + (dir / "corpus/valid") + " --tokenizer " + (dir / "missing.model"), "no such file"},
      {"eval " + ckpt + " --data " + (dir / "tokens/train") + " --noise case --tokenizer " + bpe, "holds token shards"},
      {"eval " + blt_ckpt + " --data " + (dir / "corpus/valid") + " --tokenizer " + bpe, "is for a token_lm"}};
  for (const auto& [command, message] : refused) {
    const auto r = run_blt(command + " --device cpu");
    INFO(command << "\n" << r.output);
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.output, Catch::Contains(message));
  }
}

TEST_CASE("blt-tokenizer links neither LibTorch nor protobuf (they clash with SentencePiece's)", "[sweeps]") {
  const auto ldd = run_shell("ldd " + tokenizer_program());
  INFO(ldd.output);
  REQUIRE(ldd.exit_code == 0);
  CHECK_THAT(ldd.output, Catch::Contains("libsentencepiece"));
  CHECK_THAT(ldd.output, !Catch::Contains("libtorch") && !Catch::Contains("libc10") && !Catch::Contains("libprotobuf"));
}

TEST_CASE("token_loss: a token target counts the bytes it stands for", "[sweeps]") {
  // Uniform logits over V ids cost ln V nats per target; tokens of 3 and 1
  // bytes plus an EOS (0 bytes, priced) and a padding target (ignored).
  const int64_t V = 8;
  const auto logits = torch::zeros({1, 4, V});
  const auto targets = torch::tensor({5, 6, 2, -1}, torch::kLong).view({1, 4});
  auto bytes = torch::zeros({V});
  bytes[5] = 3;
  bytes[6] = 1;
  const auto sums = train::LossSums::read(train::token_loss(logits, targets, bytes).stats);
  CHECK(sums.bytes == 4);
  CHECK(sums.targets == 3);
  // 3 priced targets over 4 bytes; float32 log-softmax: relative error ~1e-7.
  CHECK(sums.bits_per_byte() == Approx(3 * std::log2(double(V)) / 4).epsilon(1e-6));
  // Without a table every id >= 4 is one byte.
  CHECK(train::LossSums::read(train::token_loss(logits, targets).stats).bytes == 2);
}

TEST_CASE("sweep config: unknown keys and missing budgets name the file and line", "[sweeps]") {
  TempDir dir;
  write_file(dir / "s.yaml", "out_dir: out\nbase: b.yaml\nflop_budgets: [1.0e9]\nsizes: [{name: a, blt: m.yaml}]\n"
                             "schemes:\n  - {name: s, patching: static, size: 4}\n");
  try {
    sweep::load_sweep_config(dir / "s.yaml");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("schemes[0].size") && Catch::Contains("s.yaml:6"));
  }
  write_file(dir / "t.yaml", "out_dir: out\nbase: b.yaml\nsizes: [{name: a, blt: m.yaml}]\n"
                             "schemes: [{name: s, patching: static}]\n");
  CHECK_THROWS_WITH(sweep::load_sweep_config(dir / "t.yaml"), Catch::Contains("flop_budgets"));
}

TEST_CASE("sweep: cpu-mini end to end, a run killed mid-checkpoint resumes, the CSV matches the plan", "[sweeps][e2e]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  const std::string sweep = source_path("configs/sweeps/cpu-mini.yaml");
  // The test corpus instead of the default one; a vocabulary its 18 words can fill.
  const std::string sets = " --set out_dir=" + (dir / "sweep") + " --set 'set=[data.train=" + (dir / "corpus/train") +
                           ", data.valid=" + (dir / "corpus/valid") + "]' --set tokenizer.vocab=300";

  const auto plan = run_blt("sweep plan " + sweep + sets);
  INFO(plan.output);
  REQUIRE(plan.exit_code == 0);
  CHECK_THAT(plan.output, Catch::Contains("tiny-entropy-4e10") && Catch::Contains("tiny-bpe-8e10"));

  // The first training process to write checkpoint 50 dies half-way through it
  // (the entropy model has 40 steps, so a sweep run); the sweep stops with it.
  const auto killed = run_blt("sweep run " + sweep + sets, "BLT_FAULT_KILL_IN_CHECKPOINT=50");
  INFO(killed.output);
  REQUIRE(killed.exit_code != 0);
  CHECK_THAT(killed.output, Catch::Contains("exit status 137"));

  const auto resumed = run_blt("sweep run " + sweep + sets);
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  CHECK_THAT(resumed.output, Catch::Contains("finished earlier, skipped"));
  CHECK_THAT(read_file(dir / "sweep/entropy-model/train.log"), !Catch::Contains("resumed from"));
  int resumed_runs = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "sweep/runs"))
    resumed_runs += read_file(entry.path().string() + "/train.log").find("resumed from") != std::string::npos;
  CHECK(resumed_runs == 1);

  const auto report = run_blt("sweep report " + sweep + sets + " --no-plots");
  INFO(report.output);
  REQUIRE(report.exit_code == 0);
  // Plots need python3 + matplotlib; without them the CSV is still written and the command says why it failed.
  std::filesystem::remove(dir / "sweep/sweep.csv");
  const auto no_python = run_blt("sweep report " + sweep + sets, "PATH=" + (dir / "no-python"));
  INFO(no_python.output);
  CHECK(no_python.exit_code != 0);
  CHECK_THAT(no_python.output, Catch::Contains("sweep.csv is written") && Catch::Contains("matplotlib"));
  const auto rows = read_csv(dir / "sweep/sweep.csv");
  REQUIRE(rows.size() == 1 + 6);  // header + 2 budgets x 3 schemes
  const auto& header = rows[0];
  const auto column = [&](const std::string& name) {
    const auto it = std::find(header.begin(), header.end(), name);
    REQUIRE(it != header.end());
    return static_cast<std::size_t>(it - header.begin());
  };
  const double unigram = data::compute_stats(data::ShardSet(dir / "corpus/valid", true)).unigram_entropy_bits();
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto& row = rows[i];
    INFO(row[column("run")]);
    REQUIRE(row.size() == header.size());
    const double planned = std::stod(row[column("planned_train_flops")]);
    const double counted = std::stod(row[column("train_flops")]);
    // The plan measures patches per sequence on the batches the run trains on
    // (patch_sample_batches >= steps); only the float sums differ.
    CHECK(std::abs(counted / planned - 1) < 0.01);
    const double bpb = std::stod(row[column("valid_bpb")]);
    CHECK(std::isfinite(bpb));
    CHECK(bpb < unigram);
    CHECK(std::stod(row[column("wall_s")]) > 0);
  }
}
