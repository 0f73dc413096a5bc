// `blt eval`: bits per byte on held-out shards, the same under character noise,
// and character-level tasks scored by likelihood (docs/evaluation.md).
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "blt/cli/args.h"
#include "blt/cli/commands.h"
#include "blt/cli/device_option.h"
#include "blt/core/error.h"
#include "blt/core/scratch_dir.h"
#include "blt/data/corpus_stats.h"
#include "blt/data/token_shards.h"
#include "blt/data/tokenizer_process.h"
#include "blt/eval/char_tasks.h"
#include "blt/eval/continuation_score.h"
#include "blt/eval/noised_corpus.h"
#include "blt/model/model_checkpoint.h"
#include "blt/model/patcher.h"
#include "blt/train/checkpoint_model.h"
#include "blt/train/evaluate.h"

namespace blt::cli {
namespace fs = std::filesystem;

namespace {

nlohmann::json bpb_json(const train::EvalResult& r) {
  return {{"bpb", r.sums.bits_per_byte()}, {"loss", r.sums.mean_loss()}, {"bytes", r.sums.bytes},
          {"mean_patch", r.mean_patch_length()}, {"seconds", r.seconds}};
}

// A token_lm's encoder for the task items: every prompt and candidate encoded by
// blt-tokenizer in one call, then looked up.
eval::TextEncoder token_encoder(const std::vector<eval::TaskItem>& items, const std::string& tokenizer,
                                const std::string& work_dir) {
  std::vector<std::string> texts;
  for (const auto& item : items) {
    texts.push_back(item.prompt);
    texts.insert(texts.end(), item.candidates.begin(), item.candidates.end());
  }
  const auto ids = data::encode_texts(tokenizer, texts, work_dir);
  auto table = std::make_shared<std::unordered_map<std::string, std::vector<int64_t>>>();
  for (std::size_t i = 0; i < texts.size(); ++i) table->emplace(texts[i], ids[i]);
  return [table](std::string_view text) {
    const auto found = table->find(std::string(text));
    if (found == table->end()) fail("blt eval: no ids for a text the tasks did not give: '{}'", text);
    return found->second;
  };
}

}  // namespace

int eval(const Args& args) {
  std::string checkpoint, data_spec, device_name = "auto", noise_list, task_list, words_path, tokenizer;
  int64_t seq_len = 4096, batch_size = 8, max_batches = 0, seed = 0, items = 100, shots = 3;
  double noise_rate = 0.05;
  bool json = false;
  ArgParser parser("eval",
                   "Evaluate a model checkpoint (a model checkpoint or a training checkpoint directory step-N):\n"
                   "  --data: bits per byte on held-out shards, every byte, in order, once;\n"
                   "  --noise: the same under character noise, per noise type (the bits/byte of a noised\n"
                   "    text are measured over the noised text's own bytes);\n"
                   "  --tasks: character-level tasks (CUTE-like) from a word list, accuracy of picking the\n"
                   "    right answer among 4 candidates by log-likelihood.\n"
                   "A token_lm (the BPE baseline) reads token shards as --data; with --tokenizer it also takes\n"
                   "byte shards (encoded by blt-tokenizer first), --noise and --tasks.\n"
                   "See docs/evaluation.md.");
  parser.positional("CKPT", "checkpoint directory", &checkpoint)
      .option("data", "held-out shards (directory, file or glob)", &data_spec)
      .option("seq-len", "ids per evaluated sequence", &seq_len)
      .option("batch-size", "sequences per batch", &batch_size)
      .option("max-batches", "stop after this many batches (per text); 0 = all", &max_batches)
      .option("noise", "noise types, comma-separated: case,delete,repeat,swap", &noise_list)
      .option("noise-rate", "probability that each candidate character is edited, in (0, 1]", &noise_rate)
      .option("tasks", "character tasks: cute (all) or some of spell,reverse,insert,delete,swap,count", &task_list)
      .option("words", "word list for --tasks, one word a line (e.g. data/raw/words.txt)", &words_path)
      .option("items", "items per character task", &items)
      .option("shots", "solved examples in each task prompt", &shots)
      .option("seed", "seed of the noise and of the task items", &seed)
      .option("tokenizer", "a token_lm's tokenizer model (blt-tokenizer train; a sweep's bpe.model)", &tokenizer)
      .option("device", "auto, cpu or cuda", &device_name)
      .flag("json", "print the results as JSON", &json);
  if (!parser.parse(args)) return 0;
  if (data_spec.empty() && task_list.empty()) fail("blt eval: give --data (bits per byte, noise) and/or --tasks");
  if (seq_len < 1 || batch_size < 1 || max_batches < 0) fail("blt eval: --seq-len and --batch-size must be >= 1");
  const auto noise_types = noise_list.empty() ? std::vector<eval::NoiseType>{} : eval::parse_noise_types(noise_list);
  if (!noise_types.empty() && data_spec.empty()) fail("blt eval: --noise needs --data (the text to add noise to)");
  if (!(noise_rate > 0.0 && noise_rate <= 1.0)) fail("blt eval: --noise-rate must be in (0, 1], got {}", noise_rate);
  const auto tasks = task_list.empty() ? std::vector<std::string>{} : eval::parse_char_tasks(task_list);
  if (!tasks.empty() && words_path.empty()) fail("blt eval: --tasks needs --words FILE (e.g. data/raw/words.txt)");
  if (items < 1 || shots < 0) fail("blt eval: --items must be >= 1 and --shots >= 0");
  const auto words = tasks.empty() ? std::vector<std::string>{} : eval::load_task_words(words_path);
  const torch::Device device = device_option(device_name);

  auto model = train::load_checkpoint_model(checkpoint);
  model->to(device);
  auto patcher = model::load_checkpoint_patcher(checkpoint, model->config());
  if (!patcher && model->config().type == "blt")  // static or space patching: no entropy model
    patcher = std::make_shared<model::Patcher>(model->config().patching, nullptr);
  if (patcher) patcher->to(device);
  const bool token_lm = model->config().type == "token_lm";
  if (!token_lm && !tokenizer.empty())
    fail("blt eval: --tokenizer is for a token_lm; {} is a {}, which reads bytes", checkpoint, model->config().type);
  if (token_lm && !tasks.empty() && tokenizer.empty())
    fail("blt eval: --tasks on a token_lm ({}) needs its tokenizer: --tokenizer MODEL", checkpoint);
  if (!tokenizer.empty() && !fs::is_regular_file(tokenizer)) fail("blt eval: --tokenizer {}: no such file", tokenizer);
  const ScratchDir scratch("blt-eval");  // noised shards, a token_lm's encoded text; removed when done

  train::EvalOptions o;
  o.seq_len = seq_len;
  o.batch_size = batch_size;
  o.max_batches = max_batches;
  o.bf16 = device.is_cuda();
  parallel::Comm single;
  // The shards `spec`; byte shards given to a token_lm are first encoded by its tokenizer into scratch/`name`.
  const auto bits_per_byte = [&](const std::string& spec, bool byte_shards, const std::string& name) {
    std::string read = spec;
    if (token_lm && byte_shards) {
      data::encode_token_shards(tokenizer, spec, "", scratch.sub(name), scratch.sub("blt-tokenizer.log"));
      read = scratch.sub(name) + "/train";
    }
    return train::evaluate(*model, patcher.get(), std::make_shared<const data::ShardSet>(read, true), o, single, device);
  };

  nlohmann::json out = nlohmann::json::object();
  std::string text;
  if (!data_spec.empty()) {
    const data::ShardSet corpus(data_spec, true);
    // Token shards (a token_lm's) hold ids, not text: no byte statistics, no character noise.
    const bool tokens = data::read_token_table(corpus) != nullptr;
    if (tokens && !noise_types.empty())
      fail("blt eval: --noise edits text, and {} holds token shards; give the byte shards they were encoded from{}",
           data_spec, token_lm ? " and --tokenizer" : "");
    if (token_lm && !tokens && tokenizer.empty())
      fail("blt eval: {} holds byte shards and {} is a token_lm: give its tokenizer (--tokenizer MODEL) to encode "
           "them, or token shards",
           data_spec, checkpoint);
    const auto clean = bits_per_byte(data_spec, !tokens, "clean");
    if (!std::isfinite(clean.sums.bits_per_byte()))
      fail("blt eval: {} gives a non-finite loss ({} bits/byte) on {}: NaN or infinite weights, or outputs that overflow",
           checkpoint, clean.sums.bits_per_byte(), data_spec);
    out = bpb_json(clean);
    std::string unigram_text;
    if (token_lm) {
      out["bytes_per_token"] = clean.bytes_per_token;
      unigram_text = fmt::format("; {:.3f} bytes/token", clean.bytes_per_token);
    }
    if (!tokens) {
      const double unigram = data::compute_stats(corpus).unigram_entropy_bits();
      out["unigram_entropy_bits"] = unigram;
      unigram_text += fmt::format("; byte-unigram entropy {:.4f}", unigram);
    }
    text += fmt::format("{}: {:.4f} bits/byte over {} bytes (loss {:.4f} nats/id{}){}\n", data_spec,
                        clean.sums.bits_per_byte(), static_cast<int64_t>(clean.sums.bytes), clean.sums.mean_loss(),
                        clean.patches > 0 ? fmt::format(", mean patch {:.2f} bytes", clean.mean_patch_length()) : "",
                        unigram_text);
    if (!noise_types.empty()) {
      const double base = clean.sums.bits_per_byte();
      auto noise = nlohmann::json{{"rate", noise_rate}, {"seed", seed}, {"clean_bpb", base},
                                  {"measured_over", "the noised text's own bytes"}, {"types", nlohmann::json::array()}};
      text += fmt::format("noise at rate {} (seed {}); bits/byte of each noised text over its own bytes:\n", noise_rate,
                          seed);
      text += fmt::format("  {:<8} {:>9} {:>17} {:>10}  {}\n", "noise", "bits/byte", "edits/candidates", "bytes",
                          "change from clean");
      text += fmt::format("  {:<8} {:>9.4f} {:>17} {:>10}\n", "clean", base, "", static_cast<int64_t>(clean.sums.bytes));
      for (const auto type : noise_types) {
        const std::string name = eval::noise_name(type);
        const auto counts = eval::write_noised_corpus(corpus, type, noise_rate, static_cast<uint64_t>(seed), scratch.sub(name));
        const auto noised = bits_per_byte(scratch.sub(name), true, name + "-tokens");
        const double bpb = noised.sums.bits_per_byte();
        spdlog::info("noise {}: {:.4f} bits/byte ({} of {} candidate characters edited)", name, bpb, counts.edits,
                     counts.candidates);
        auto entry = bpb_json(noised);
        entry["type"] = name;
        entry["candidates"] = counts.candidates;
        entry["edits"] = counts.edits;
        entry["degradation"] = bpb - base;
        entry["relative_degradation"] = base > 0 ? (bpb - base) / base : 0.0;
        noise["types"].push_back(entry);
        text += fmt::format("  {:<8} {:>9.4f} {:>17} {:>10}  {:+.4f} ({:+.1f}%)\n", name, bpb,
                            fmt::format("{}/{}", counts.edits, counts.candidates), static_cast<int64_t>(noised.sums.bytes),
                            bpb - base, base > 0 ? 100 * (bpb - base) / base : 0.0);
      }
      out["noise"] = noise;
    }
  }

  if (!tasks.empty()) {
    std::vector<eval::TaskItem> all;
    for (const auto& task : tasks) {
      auto made = eval::make_task_items(task, words, items, shots, static_cast<uint64_t>(seed));
      all.insert(all.end(), made.begin(), made.end());
    }
    const eval::ContinuationScorer scorer(*model, patcher.get(),
                                          token_lm ? token_encoder(all, tokenizer, scratch.path()) : eval::byte_ids, device);
    const auto results = eval::score_task_items(
        all, [&](const eval::TaskItem& item) { return scorer.choose(item.prompt, item.candidates); });
    auto entries = nlohmann::json::array();
    text += fmt::format("character tasks from {} ({} usable words; seed {}, {}-shot, 4 candidates scored by "
                        "log-likelihood):\n  {:<8} {:>8} {:>7} {:>7}\n",
                        words_path, words.size(), seed, shots, "task", "accuracy", "items", "chance");
    for (const auto& r : results) {
      entries.push_back({{"task", r.task}, {"accuracy", r.accuracy()}, {"correct", r.correct}, {"items", r.items},
                         {"chance", r.chance}});
      text += fmt::format("  {:<8} {:>8.3f} {:>7} {:>7.3f}\n", r.task, r.accuracy(), r.items, r.chance);
    }
    out["tasks"] = {{"words", words_path}, {"usable_words", words.size()}, {"seed", seed}, {"shots", shots},
                    {"results", entries}};
  }
  std::cout << (json ? out.dump(2) + "\n" : text);
  return 0;
}

}  // namespace blt::cli
