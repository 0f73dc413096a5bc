#include "blt/data/tokenizer_process.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "blt/core/child_process.h"
#include "blt/core/error.h"
#include "blt/core/files.h"

namespace blt::data {
namespace fs = std::filesystem;

namespace {

void run_tokenizer(const std::string& arguments, const std::string& log) {
  const int status = run_child(shell_quote(tokenizer_program()) + " " + arguments, log);
  if (status != 0) fail("blt-tokenizer failed (exit status {}); its output is in {}", status, log);
}

}  // namespace

std::string tokenizer_program() {
  const std::string program = (fs::path(this_program()).parent_path() / "blt-tokenizer").string();
  if (!fs::exists(program))
    fail("the bpe tokenizer needs {} (built with blt; cmake --build BUILD --target blt-tokenizer)", program);
  return program;
}

void train_tokenizer_model(const std::string& shards, int64_t vocab, int64_t sample_mb, const std::string& model,
                           const std::string& log) {
  run_tokenizer("train " + shell_quote(shards) + " --vocab " + std::to_string(vocab) + " --sample-mb " +
                    std::to_string(sample_mb) + " --out " + shell_quote(model),
                log);
}

void encode_token_shards(const std::string& model, const std::string& train, const std::string& valid,
                         const std::string& out, const std::string& log) {
  run_tokenizer("encode " + shell_quote(model) + " --train " + shell_quote(train) +
                    (valid.empty() ? "" : " --valid " + shell_quote(valid)) + " --out " + shell_quote(out),
                log);
}

std::vector<std::vector<int64_t>> encode_texts(const std::string& model, const std::vector<std::string>& texts,
                                               const std::string& work_dir) {
  const std::string request = work_dir + "/texts.json", answer = work_dir + "/ids.json";
  write_file_atomic(request, nlohmann::json(texts).dump());
  run_tokenizer("encode-texts " + shell_quote(model) + " --in " + shell_quote(request) + " --out " + shell_quote(answer),
                work_dir + "/blt-tokenizer.log");
  const auto ids = nlohmann::json::parse(read_text_file(answer)).get<std::vector<std::vector<int64_t>>>();
  if (ids.size() != texts.size())
    fail("{}: blt-tokenizer answered {} id lists for {} texts", answer, ids.size(), texts.size());
  return ids;
}

}  // namespace blt::data
