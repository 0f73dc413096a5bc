// Character-level tasks in the spirit of CUTE (Edman et al. 2024, "CUTE: Measuring
// LLMs' Understanding of Their Tokens"): spell a word, reverse it, insert, delete
// or swap characters, count a letter. Items are generated from a word list with a
// seed, each a few-shot prompt, the right answer and wrong candidates; a model
// answers by which candidate continuation it finds most likely.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace blt::eval {

struct TaskItem {
  std::string task;
  std::string word;
  std::string question;                 // e.g. "Delete every 'a' from: banana"
  std::string prompt;                   // instruction, solved examples, the question, "Answer:"
  std::vector<std::string> candidates;  // continuations: " " + answer text + "\n"; all distinct
  std::size_t answer = 0;               // index of the right one
};

// spell, reverse, insert, delete, swap, count.
const std::vector<std::string>& char_task_names();
// "cute" (all of them) or a comma-separated list of names; unknown names are errors.
std::vector<std::string> parse_char_tasks(const std::string& list);

// The words of a word list file (one a line) that the tasks use: 3 to 12
// characters, letters only (no apostrophes, digits or spaces), in file order.
// Errors name the file: missing, not UTF-8, or no usable word.
std::vector<std::string> load_task_words(const std::string& path);

// `items` items of `task`, each with `shots` solved examples from other words and
// 4 candidates (chance 1/4). Deterministic in (words, task, items, shots, seed).
std::vector<TaskItem> make_task_items(const std::string& task, const std::vector<std::string>& words, int64_t items,
                                      int64_t shots, uint64_t seed);

struct TaskAccuracy {
  std::string task;
  int64_t items = 0;
  int64_t correct = 0;
  double chance = 0;  // mean over items of 1 / candidates
  double accuracy() const { return items > 0 ? static_cast<double>(correct) / items : 0.0; }
};

// Accuracy per task (in the order tasks first appear) of `choose`, which returns
// the index of the candidate a model picks for an item.
std::vector<TaskAccuracy> score_task_items(const std::vector<TaskItem>& items,
                                           const std::function<std::size_t(const TaskItem&)>& choose);

}  // namespace blt::eval
