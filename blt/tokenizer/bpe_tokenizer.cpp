#include "blt/tokenizer/bpe_tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <thread>
#include <unordered_map>

#include "blt/core/error.h"
#include "blt/core/files.h"
#include "blt/data/byte_ids.h"
#include "blt/data/packed_stream.h"
#include "blt/data/shard_writer.h"

namespace blt::tokenizer {
using data::ShardSet;
namespace {

// SentencePiece writes a space as U+2581 inside pieces.
constexpr std::string_view kSpaceMark = "\xE2\x96\x81";

double piece_bytes(const sentencepiece::SentencePieceProcessor& sp, int id) {
  if (sp.IsControl(id) || sp.IsUnknown(id) || sp.IsUnused(id)) return 0;
  if (sp.IsByte(id)) return 1;
  const std::string piece = sp.IdToPiece(id);
  double bytes = 0;
  for (std::size_t i = 0; i < piece.size();) {
    if (piece.compare(i, kSpaceMark.size(), kSpaceMark) == 0) {
      bytes += 1, i += kSpaceMark.size();
    } else {
      bytes += 1, i += 1;
    }
  }
  return bytes;
}

// Lines of sampled documents: SentencePiece trains on "sentences" of at most
// max_sentence_length bytes, and a newline is a piece of its own (user symbol).
class SampleLines : public sentencepiece::SentenceIterator {
 public:
  SampleLines(const ShardSet& corpus, const TrainOptions& o) {
    for (const uint32_t d : data::shuffled_order(corpus.num_docs(), o.seed)) {
      const std::string_view doc = corpus.doc(d);
      for (std::size_t start = 0; start < doc.size();) {
        std::size_t end = doc.find('\n', start);
        if (end == std::string_view::npos) end = doc.size();
        if (end > start) lines_.emplace_back(doc.substr(start, end - start));
        start = end + 1;
      }
      bytes_ += int64_t(doc.size());
      if (bytes_ >= o.sample_bytes) break;
    }
  }
  bool done() const override { return next_ >= lines_.size(); }
  void Next() override { ++next_; }
  const std::string& value() const override { return lines_[next_]; }
  sentencepiece::util::Status status() const override { return {}; }
  int64_t bytes() const { return bytes_; }

 private:
  std::vector<std::string> lines_;
  std::size_t next_ = 0;
  int64_t bytes_ = 0;
};

}  // namespace

BpeTokenizer::BpeTokenizer(const std::string& path)
    : path_(path), processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  const auto status = processor_->Load(path);
  if (!status.ok()) fail("tokenizer '{}': not a SentencePiece model: {}", path, status.ToString());
  const auto& sp = *processor_;
  if (sp.unk_id() != data::kBoeId || sp.bos_id() != data::kBosId || sp.eos_id() != data::kEosId || sp.pad_id() != data::kBpeId)
    fail("tokenizer '{}': special ids are unk={} bos={} eos={} pad={}, expected 0 1 2 3 (train it with blt-tokenizer train)",
         path, sp.unk_id(), sp.bos_id(), sp.eos_id(), sp.pad_id());
  bytes_per_id_.resize(static_cast<std::size_t>(sp.GetPieceSize()));
  for (int id = 0; id < sp.GetPieceSize(); ++id) bytes_per_id_[id] = piece_bytes(sp, id);
}

BpeTokenizer::~BpeTokenizer() = default;

int64_t BpeTokenizer::vocab_size() const { return processor_->GetPieceSize(); }

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  const auto status = processor_->Encode(text, &ids);
  if (!status.ok()) fail("tokenizer '{}': {}", path_, status.ToString());
  return {ids.begin(), ids.end()};
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string text;
  const auto status = processor_->Decode(std::vector<int>(ids.begin(), ids.end()), &text);
  if (!status.ok()) fail("tokenizer '{}': {}", path_, status.ToString());
  return text;
}

int64_t train_tokenizer(const ShardSet& corpus, const TrainOptions& o, const std::string& out_path) {
  if (o.vocab_size < data::kByteOffset + 256 + 2)
    fail("tokenizer vocabulary {} is too small: 4 special ids and 256 byte pieces come first", o.vocab_size);
  SampleLines lines(corpus, o);
  // Identity normalisation, no dummy prefix and kept whitespace make tokens an
  // exact cover of the text (bpe_tokenizer.h); byte fallback leaves no unknowns.
  const std::unordered_map<std::string, std::string> args = {
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(o.vocab_size)},
      {"byte_fallback", "true"},
      {"normalization_rule_name", "identity"},
      {"add_dummy_prefix", "false"},
      {"remove_extra_whitespaces", "false"},
      {"split_digits", "true"},
      {"allow_whitespace_only_pieces", "true"},
      {"user_defined_symbols", "\n"},
      {"unk_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"pad_id", "3"},
      {"num_threads", std::to_string(o.threads)},
      {"minloglevel", "1"},
  };
  std::string model;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &lines, &model);
  if (!status.ok()) fail("tokenizer training on '{}' failed: {}", corpus.spec(), status.ToString());
  write_file_atomic(out_path, model);
  return lines.bytes();
}

data::TokenTable encode_shards(const ShardSet& corpus, const BpeTokenizer& tokenizer, const std::string& out_dir,
                               uint64_t max_shard_bytes, int threads) {
  // Documents are encoded `threads` at a time in chunks and written in order, so
  // memory holds one chunk's ids, not the corpus's.
  const uint64_t n = corpus.num_docs();
  const int workers = std::max(1, threads);
  const uint64_t chunk = 1024 * uint64_t(workers);
  const auto& bytes_per_id = tokenizer.bytes_per_id();
  data::ShardSetWriter writer(out_dir, max_shard_bytes);
  data::TokenTable table;
  table.tokenizer = tokenizer.path();
  table.vocab_size = tokenizer.vocab_size();
  table.bytes_per_id = bytes_per_id;
  std::vector<std::vector<int32_t>> ids(chunk);
  for (uint64_t begin = 0; begin < n; begin += chunk) {
    const uint64_t end = std::min(n, begin + chunk);
    std::vector<std::thread> pool;
    std::vector<std::exception_ptr> errors(workers);
    for (int t = 0; t < workers; ++t)
      pool.emplace_back([&, t] {
        try {
          for (uint64_t d = begin + t; d < end; d += workers) {
            const std::string_view doc = corpus.doc(d);
            auto& doc_ids = ids[d - begin];
            doc_ids = tokenizer.encode(doc);
            double bytes = 0;
            for (const int32_t id : doc_ids) bytes += bytes_per_id[id];
            // The bits/byte of the token LM divides by these bytes: they must be the text's.
            if (bytes != double(doc.size()) || tokenizer.decode(doc_ids) != doc)
              fail("{}: document {} does not round-trip through tokenizer '{}' ({} bytes, its tokens stand for {})",
                   corpus.spec(), d, tokenizer.path(), doc.size(), bytes);
          }
        } catch (...) {
          errors[t] = std::current_exception();
        }
      });
    for (auto& th : pool) th.join();
    for (const auto& e : errors)
      if (e) std::rethrow_exception(e);
    for (uint64_t d = begin; d < end; ++d) {
      writer.add(data::pack_token_ids(ids[d - begin]));
      table.tokens += ids[d - begin].size();
      table.text_bytes += corpus.doc_size(d);
    }
  }
  writer.finish();
  write_file_atomic(out_dir + "/" + data::kTokenTableFile, table.to_json());
  return table;
}

}  // namespace blt::tokenizer
