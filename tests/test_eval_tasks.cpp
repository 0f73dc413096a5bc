// Character-level tasks (`blt eval --tasks`): generated deterministically from a
// word list, right by construction, and scored by continuation likelihood.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <set>

#include "blt/core/error.h"
#include "blt/data/byte_ids.h"
#include "blt/eval/char_tasks.h"
#include "blt/eval/continuation_score.h"
#include "blt/eval/utf8_chars.h"
#include "blt/model/patcher.h"
#include "blt/train/evaluate.h"
#include "helpers.h"
#include "model_test_util.h"

using namespace blt::eval;
using blt::test::TempDir;
using blt::test::write_file;

namespace {

std::vector<std::string> chars(const std::string& text) {
  std::vector<std::string> out;
  for (auto c : utf8_chars(text)) out.emplace_back(c);
  return out;
}

const std::vector<std::string> kWords = {"banana", "house", "Ardèche", "letter", "quiz", "rhythm", "mississippi",
                                         "zebra", "apple", "Kraków", "onion", "strength", "papaya", "jump"};

// The quoted characters of a question, in order: "Swap 'a' and 'b' in: w" -> {a, b}.
std::vector<std::string> quoted(const std::string& question) {
  const std::string head = question.substr(0, question.find(": "));
  std::vector<std::string> out;
  for (std::size_t at = head.find('\''); at != std::string::npos; at = head.find('\'', at + 1)) {
    const std::size_t end = head.find('\'', at + 1);
    out.push_back(head.substr(at + 1, end - at - 1));
    at = end;
  }
  return out;
}

std::string answer_text(const TaskItem& item) {
  const auto& c = item.candidates[item.answer];
  return c.substr(1, c.size() - 2);  // " answer\n"
}

// A model made to know the answers: at every position whose prefix (from BOS)
// matches `known`, it puts 30 logits on the next id of `known`; elsewhere it is
// uniform. Any scorer that reads its likelihoods right picks the known answer.
class OracleLM : public blt::model::CausalLM {
 public:
  explicit OracleLM(std::vector<int64_t> known) : CausalLM(blt::model::ModelConfig{}), known_(std::move(known)) {}
  torch::Tensor forward(const blt::model::ModelInput& input) override {
    const auto tokens = input.tokens.to(torch::kCPU);
    const int64_t B = tokens.size(0), L = tokens.size(1);
    auto logits = torch::zeros({B, L, blt::data::kVocabSize});
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t j = 0; j < L && j + 1 < static_cast<int64_t>(known_.size()); ++j) {
        if (tokens[b][j].item<int64_t>() != known_[j]) break;
        logits[b][j][known_[j + 1]] = 30.0;
      }
    }
    return logits;
  }
  std::vector<blt::model::ComponentCount> parameter_counts() const override { return {}; }

 private:
  std::vector<int64_t> known_;
};

}  // namespace

TEST_CASE("char tasks: deterministic by seed, four distinct candidates, the answer among them once", "[eval-suite][tasks]") {
  for (const auto& task : char_task_names()) {
    CAPTURE(task);
    const auto a = make_task_items(task, kWords, 30, 3, 5), b = make_task_items(task, kWords, 30, 3, 5);
    const auto c = make_task_items(task, kWords, 30, 3, 6);
    REQUIRE(a.size() == 30);
    bool all_same_as_c = true;
    for (std::size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].prompt == b[i].prompt);
      CHECK(a[i].candidates == b[i].candidates);
      CHECK(a[i].answer == b[i].answer);
      all_same_as_c = all_same_as_c && a[i].prompt == c[i].prompt;
      REQUIRE(a[i].candidates.size() == 4);
      CHECK(std::set<std::string>(a[i].candidates.begin(), a[i].candidates.end()).size() == 4);
      for (const auto& cand : a[i].candidates) CHECK((cand.front() == ' ' && cand.back() == '\n'));
      // Three solved examples, then the question, then "Answer:" for the model to continue.
      CHECK(a[i].prompt.size() > a[i].question.size());
      CHECK(a[i].prompt.substr(a[i].prompt.size() - a[i].question.size() - 8) == a[i].question + "\nAnswer:");
      std::size_t answers = 0;
      for (std::size_t at = a[i].prompt.find("Answer:"); at != std::string::npos; at = a[i].prompt.find("Answer:", at + 1))
        ++answers;
      CHECK(answers == 4);
    }
    CHECK_FALSE(all_same_as_c);
  }
  // The right answer is not always in the same place.
  std::set<std::size_t> places;
  for (const auto& item : make_task_items("reverse", kWords, 40, 2, 1)) places.insert(item.answer);
  CHECK(places.size() > 1);
}

TEST_CASE("char tasks: answers right by construction", "[eval-suite][tasks]") {
  for (const auto& item : make_task_items("spell", kWords, 40, 1, 9)) {
    auto a = answer_text(item);
    a.erase(std::remove(a.begin(), a.end(), ' '), a.end());
    CHECK(a == item.word);
  }
  for (const auto& item : make_task_items("reverse", kWords, 40, 1, 9)) {
    auto back = chars(answer_text(item));
    std::reverse(back.begin(), back.end());
    CHECK(back == chars(item.word));  // reverse(reverse(w)) == w
  }
  for (const auto& item : make_task_items("insert", kWords, 40, 1, 9)) {
    const auto q = quoted(item.question);  // {inserted, after}
    REQUIRE(q.size() == 2);
    std::string expected;
    for (const auto& c : chars(item.word)) expected += c + (c == q[1] ? q[0] : "");
    CHECK(answer_text(item) == expected);
  }
  for (const auto& item : make_task_items("delete", kWords, 40, 1, 9)) {
    const auto q = quoted(item.question);
    REQUIRE(q.size() == 1);
    auto w = chars(item.word);
    CHECK(std::count(w.begin(), w.end(), q[0]) > 0);
    w.erase(std::remove(w.begin(), w.end(), q[0]), w.end());
    std::string expected;
    for (const auto& c : w) expected += c;
    CHECK(answer_text(item) == expected);
  }
  for (const auto& item : make_task_items("swap", kWords, 40, 1, 9)) {
    const auto q = quoted(item.question);
    REQUIRE(q.size() == 2);
    const auto w = chars(item.word), a = chars(answer_text(item));
    REQUIRE(a.size() == w.size());
    std::vector<std::size_t> differ;
    for (std::size_t i = 0; i < w.size(); ++i)
      if (w[i] != a[i]) differ.push_back(i);
    REQUIRE(differ.size() == 2);
    const std::set<std::string> swapped = {w[differ[0]], w[differ[1]]}, asked = {q[0], q[1]};
    CHECK(swapped == asked);
    CHECK((a[differ[0]] == w[differ[1]] && a[differ[1]] == w[differ[0]]));
  }
  for (const auto& item : make_task_items("count", kWords, 40, 1, 9)) {
    const auto q = quoted(item.question);
    REQUIRE(q.size() == 1);
    const auto w = chars(item.word);
    CHECK(std::stoi(answer_text(item)) == std::count(w.begin(), w.end(), q[0]));
  }
}

TEST_CASE("char tasks: word list filtering and errors", "[eval-suite][tasks]") {
  TempDir dir;
  write_file(dir / "words.txt", "a\nab\nabc\ncat's\nAardvark\nx-ray\nthree words here\nArdèche\nabcdefghijklm\nR2D2\n");
  const std::vector<std::string> usable = {"abc", "Aardvark", "Ardèche"};
  CHECK(load_task_words(dir / "words.txt") == usable);
  CHECK_THROWS_WITH(load_task_words(dir / "missing.txt"), Catch::Contains("missing.txt"));
  write_file(dir / "empty.txt", "");
  CHECK_THROWS_WITH(load_task_words(dir / "empty.txt"), Catch::Contains("empty.txt") && Catch::Contains("no usable word"));
  write_file(dir / "latin1.txt", "caf\xE9\n");
  CHECK_THROWS_WITH(load_task_words(dir / "latin1.txt"), Catch::Contains("not UTF-8 at byte offset 3"));
  CHECK(parse_char_tasks("cute") == char_task_names());
  CHECK_THROWS_WITH(parse_char_tasks("spell,rhyme"), Catch::Contains("unknown character task 'rhyme'"));
  CHECK_THROWS_WITH(make_task_items("spell", {"abc"}, 1, 3, 0), Catch::Contains("too few"));
}

TEST_CASE("continuation scoring: a model that knows the answers picks them on every task", "[eval-suite][tasks]") {
  std::vector<TaskItem> items;
  for (const auto& task : char_task_names()) {
    const auto made = make_task_items(task, kWords, 5, 2, 3);
    items.insert(items.end(), made.begin(), made.end());
  }
  const auto results = score_task_items(items, [](const TaskItem& item) {
    std::vector<int64_t> known = {blt::data::kBosId};
    for (const auto id : byte_ids(item.prompt + item.candidates[item.answer])) known.push_back(id);
    OracleLM oracle(known);
    const ContinuationScorer scorer(oracle, nullptr, byte_ids, torch::kCPU);
    return scorer.choose(item.prompt, item.candidates);
  });
  REQUIRE(results.size() == char_task_names().size());
  for (const auto& r : results) {
    CAPTURE(r.task);
    CHECK(r.items == 5);
    CHECK(r.correct == 5);
    CHECK(r.chance == Approx(0.25));
  }
  // And a chooser that always says 0 is right exactly where the answer was put first.
  int64_t first = 0;
  for (const auto& item : items) first += item.answer == 0;
  int64_t correct = 0;
  for (const auto& r : score_task_items(items, [](const TaskItem&) { return std::size_t{0}; })) correct += r.correct;
  CHECK(correct == first);
}

TEST_CASE("continuation scoring equals the summed log-probabilities of a direct forward", "[eval-suite][tasks]") {
  torch::manual_seed(0);
  const std::string prompt = "Write each word backwards.\n\nWord: house\nAnswer: esuoh\n\nWord: onion\nAnswer:";
  const std::vector<std::string> continuations = {" noino\n", " onion\n", " nonio\n", " n\n"};
  for (const char* preset : {"entropy-tiny", "tiny"}) {
    CAPTURE(preset);
    auto model = blt::model::build_model(blt::test::load_model_preset(preset));
    model->eval();
    std::unique_ptr<blt::model::Patcher> patcher;
    if (model->config().type == "blt") patcher = std::make_unique<blt::model::Patcher>(model->config().patching, nullptr);
    const ContinuationScorer scorer(*model, patcher.get(), byte_ids, torch::kCPU);
    const auto scores = scorer.nats(prompt, continuations);
    REQUIRE(scores.size() == continuations.size());
    for (std::size_t k = 0; k < continuations.size(); ++k) {
      // One unpadded row: BOS, prompt, continuation.
      std::vector<int64_t> ids = {blt::data::kBosId};
      for (const auto id : byte_ids(prompt + continuations[k])) ids.push_back(id);
      const auto batch = blt::train::prepare_batch(torch::tensor(ids, torch::kLong).view({1, -1}), patcher.get(), torch::kCPU);
      torch::NoGradGuard no_grad;
      const auto logp = torch::log_softmax(model->forward(batch.input).to(torch::kDouble), -1)[0];
      double direct = 0;
      const auto first = static_cast<int64_t>(prompt.size());  // target index of the continuation's first byte
      for (int64_t j = first; j < static_cast<int64_t>(ids.size()) - 1; ++j) direct -= logp[j][ids[j + 1]].item<double>();
      // The scorer's batch has 4 padded rows: the same arithmetic in float32 but
      // on other matrix shapes, so the summation order may differ. Each logit then
      // differs by at most ~dim * eps * |logit| = 128 * 6e-8 * 10 = 8e-5, over at
      // most 7 continuation bytes: 6e-4 nats.
      CHECK(scores[k] == Approx(direct).margin(6e-4));
    }
  }
}
