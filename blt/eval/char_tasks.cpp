#include "blt/eval/char_tasks.h"

#include <algorithm>
#include <map>

#include "blt/core/error.h"
#include "blt/core/files.h"
#include "blt/eval/seeded_random.h"
#include "blt/eval/utf8_chars.h"

namespace blt::eval {

namespace {

using Chars = std::vector<std::string>;
constexpr std::size_t kCandidates = 4;

Chars chars_of(const std::string& word) {
  Chars out;
  for (auto c : utf8_chars(word)) out.emplace_back(c);
  return out;
}

std::string join(const Chars& chars, const std::string& separator = "") {
  std::string out;
  for (std::size_t i = 0; i < chars.size(); ++i) out += (i ? separator : "") + chars[i];
  return out;
}

std::string random_ascii_letter(SeededRandom& r) { return std::string(1, static_cast<char>('a' + r.below(26))); }

// One random slip of the kind the tasks test: two neighbours swapped, a character
// dropped, doubled or replaced by another letter. May return `w` unchanged.
Chars slip(Chars w, SeededRandom& r) {
  const std::size_t i = r.below(w.size());
  switch (r.below(4)) {
    case 0:
      if (i + 1 < w.size()) std::swap(w[i], w[i + 1]);
      break;
    case 1:
      if (w.size() > 1) w.erase(w.begin() + static_cast<std::ptrdiff_t>(i));
      break;
    case 2: w.insert(w.begin() + static_cast<std::ptrdiff_t>(i), w[i]); break;
    default: w[i] = random_ascii_letter(r); break;
  }
  return w;
}

struct Instance {
  std::string question, answer;
  std::vector<std::string> wrong;  // plausible mistakes first; may repeat or equal the answer
  std::function<std::string(SeededRandom&)> more_wrong;  // fills up when those run out
};

std::size_t count_of(const Chars& w, const std::string& c) { return static_cast<std::size_t>(std::count(w.begin(), w.end(), c)); }

// The instance of `task` for `word`; false when the word does not suit it (e.g.
// swap needs two different characters that occur once each).
bool make_instance(const std::string& task, const std::string& word, SeededRandom& r, Instance& in) {
  const Chars w = chars_of(word);
  const std::string x = w[r.below(w.size())];
  if (task == "spell") {
    in.question = "Word: " + word;
    in.answer = join(w, " ");
    in.more_wrong = [w](SeededRandom& rr) { return join(slip(w, rr), " "); };
  } else if (task == "reverse") {
    const Chars back(w.rbegin(), w.rend());
    in.question = "Word: " + word;
    in.answer = join(back);
    in.wrong = {word};
    in.more_wrong = [back](SeededRandom& rr) { return join(slip(back, rr)); };
  } else if (task == "insert") {
    std::string c = random_ascii_letter(r);
    while (c == x) c = random_ascii_letter(r);
    Chars after, before, first_only;
    for (const auto& ch : w) {
      after.push_back(ch);
      before.push_back(ch);
      first_only.push_back(ch);
      if (ch != x) continue;
      after.push_back(c);
      before.insert(before.end() - 1, c);
      if (count_of(first_only, x) == 1) first_only.push_back(c);
    }
    in.question = "Insert '" + c + "' after every '" + x + "' in: " + word;
    in.answer = join(after);
    in.wrong = {join(before), join(first_only), word};
    in.more_wrong = [after](SeededRandom& rr) { return join(slip(after, rr)); };
  } else if (task == "delete") {
    Chars kept, first_gone;
    bool gone = false;
    for (const auto& ch : w) {
      if (ch != x) kept.push_back(ch);
      if (ch != x || gone) first_gone.push_back(ch);
      else gone = true;
    }
    if (kept.empty()) return false;
    in.question = "Delete every '" + x + "' from: " + word;
    in.answer = join(kept);
    in.wrong = {word, join(first_gone)};
    in.more_wrong = [kept](SeededRandom& rr) { return join(slip(kept, rr)); };
  } else if (task == "swap") {
    std::vector<std::size_t> once;
    for (std::size_t i = 0; i < w.size(); ++i)
      if (count_of(w, w[i]) == 1) once.push_back(i);
    if (once.size() < 2) return false;
    const std::size_t a = once[r.below(once.size())];
    std::size_t b = a;
    while (b == a) b = once[r.below(once.size())];
    Chars swapped = w;
    std::swap(swapped[a], swapped[b]);
    in.question = "Swap '" + w[a] + "' and '" + w[b] + "' in: " + word;
    in.answer = join(swapped);
    in.wrong = {word};
    in.more_wrong = [swapped](SeededRandom& rr) { return join(slip(swapped, rr)); };
  } else if (task == "count") {
    const auto n = static_cast<int64_t>(count_of(w, x));
    in.question = "How many '" + x + "' in: " + word;
    in.answer = std::to_string(n);
    for (const int64_t d : {1, -1, 2, -2, 3, 4})
      if (n + d >= 0) in.wrong.push_back(std::to_string(n + d));
    in.more_wrong = [](SeededRandom&) { return std::string(); };  // the list above always has 3 others
  } else {
    fail("unknown character task '{}'", task);
  }
  return true;
}

std::string instruction(const std::string& task) {
  if (task == "spell") return "Spell each word with a space between its characters.";
  if (task == "reverse") return "Write each word backwards.";
  if (task == "insert") return "Insert the first letter after every occurrence of the second.";
  if (task == "delete") return "Delete every occurrence of the letter.";
  if (task == "swap") return "Swap the two letters.";
  return "Count how often the letter occurs in the word.";
}

std::string continuation(const std::string& answer) { return " " + answer + "\n"; }

}  // namespace

const std::vector<std::string>& char_task_names() {
  static const std::vector<std::string> names = {"spell", "reverse", "insert", "delete", "swap", "count"};
  return names;
}

std::vector<std::string> parse_char_tasks(const std::string& list) {
  if (list == "cute") return char_task_names();
  std::vector<std::string> tasks;
  std::size_t from = 0;
  while (from <= list.size()) {
    const std::size_t comma = std::min(list.find(',', from), list.size());
    const std::string name = list.substr(from, comma - from);
    const auto& known = char_task_names();
    if (std::find(known.begin(), known.end(), name) == known.end())
      fail("unknown character task '{}' in '{}' (known: cute = all of spell, reverse, insert, delete, swap, count)",
           name, list);
    if (std::find(tasks.begin(), tasks.end(), name) != tasks.end())
      fail("character task '{}' is listed twice in '{}'", name, list);
    tasks.push_back(name);
    from = comma + 1;
  }
  return tasks;
}

std::vector<std::string> load_task_words(const std::string& path) {
  const std::string text = read_text_file(path);
  if (const auto bad = first_invalid_utf8(text)) fail("{}: not UTF-8 at byte offset {}", path, *bad);
  std::vector<std::string> words;
  std::size_t from = 0;
  while (from < text.size()) {
    const std::size_t end = std::min(text.find('\n', from), text.size());
    const std::string word = text.substr(from, end - from);
    from = end + 1;
    const auto chars = utf8_chars(word);
    if (chars.size() < 3 || chars.size() > 12) continue;
    // ASCII letters, or non-ASCII characters from U+00C0 on (accented letters in
    // the word lists; no punctuation, digits or spaces).
    const bool letters = std::all_of(chars.begin(), chars.end(), [](std::string_view c) {
      const int32_t cp = decode_char(c);
      return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp >= 0xC0;
    });
    if (letters) words.push_back(word);
  }
  if (words.empty()) fail("{}: no usable word (3 to 12 letters, one word a line)", path);
  return words;
}

std::vector<TaskItem> make_task_items(const std::string& task, const std::vector<std::string>& words, int64_t items,
                                      int64_t shots, uint64_t seed) {
  if (words.size() < static_cast<std::size_t>(shots) + 1)
    fail("character tasks: {} words are too few for {} examples per prompt", words.size(), shots);
  const auto& names = char_task_names();
  const auto task_index = static_cast<uint64_t>(std::find(names.begin(), names.end(), task) - names.begin());
  SeededRandom r(derive_seed(seed, task_index));
  // Draws words until one suits the task; a word list where almost none does
  // (e.g. only one-letter-kind words for swap) is an error rather than a hang.
  const auto draw = [&](Instance& in, std::string& word) {
    for (int attempt = 0; attempt < 1000; ++attempt) {
      word = words[r.below(words.size())];
      in = Instance{};
      if (make_instance(task, word, r, in)) return;
    }
    fail("character task {}: 1000 words in a row did not suit it", task);
  };
  std::vector<TaskItem> out;
  int64_t unsuitable = 0;
  for (int64_t k = 0; k < items; ++k) {
    TaskItem item;
    item.task = task;
    Instance in;
    draw(in, item.word);
    std::string prompt = instruction(task) + "\n\n";
    for (int64_t s = 0; s < shots; ++s) {
      Instance example;
      std::string example_word;
      do draw(example, example_word);
      while (example_word == item.word);
      prompt += example.question + "\nAnswer: " + example.answer + "\n\n";
    }
    item.question = in.question;
    item.prompt = prompt + in.question + "\nAnswer:";
    std::vector<std::string> answers = {in.answer};
    const auto offer = [&](const std::string& a) {
      if (!a.empty() && answers.size() < kCandidates && std::find(answers.begin(), answers.end(), a) == answers.end())
        answers.push_back(a);
    };
    for (const auto& a : in.wrong) offer(a);
    for (int attempt = 0; attempt < 100 && answers.size() < kCandidates; ++attempt) offer(in.more_wrong(r));
    if (answers.size() < kCandidates) {  // a word too short to go wrong in enough ways: draw another
      if (++unsuitable > 1000 + 10 * items) fail("character task {}: too few words give {} distinct candidates", task, kCandidates);
      --k;
      continue;
    }
    // The right answer at a random place among the candidates.
    item.answer = r.below(kCandidates);
    std::swap(answers[0], answers[item.answer]);
    for (const auto& a : answers) item.candidates.push_back(continuation(a));
    out.push_back(std::move(item));
  }
  return out;
}

std::vector<TaskAccuracy> score_task_items(const std::vector<TaskItem>& items,
                                           const std::function<std::size_t(const TaskItem&)>& choose) {
  std::vector<TaskAccuracy> out;
  std::map<std::string, std::size_t> slot;
  for (const auto& item : items) {
    auto [it, added] = slot.emplace(item.task, out.size());
    if (added) out.push_back(TaskAccuracy{item.task});
    auto& acc = out[it->second];
    ++acc.items;
    acc.correct += choose(item) == item.answer;
    acc.chance += 1.0 / static_cast<double>(item.candidates.size());
  }
  for (auto& acc : out) acc.chance /= static_cast<double>(acc.items);
  return out;
}

}  // namespace blt::eval
