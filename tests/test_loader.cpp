#include <map>
#include <set>

#include "blt/data/byte_ids.h"
#include "blt/data/loader.h"
#include "blt/data/shard_writer.h"
#include "helpers.h"

using namespace blt::data;
using blt::test::TempDir;
using Catch::Matchers::Contains;

namespace {

// 61 documents of 1..~300 bytes over several shards, with every byte value present.
std::vector<std::string> make_corpus(const TempDir& dir, const std::string& name = "corpus") {
  std::vector<std::string> docs;
  uint64_t x = 12345;
  for (int d = 0; d < 61; ++d) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    std::string doc(1 + (x >> 33) % 300, '\0');
    for (auto& c : doc) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      c = static_cast<char>(x >> 56);
    }
    docs.push_back(doc);
  }
  ShardSetWriter w(dir / name, 2000);
  for (const auto& d : docs) w.add(d);
  w.finish();
  return docs;
}

std::shared_ptr<const ShardSet> open(const TempDir& dir, const std::string& name = "corpus") {
  return std::make_shared<const ShardSet>(dir / name, true);
}

LoaderOptions opts(int64_t L, int64_t b, int rank, int world, int workers, bool repeat, uint64_t seed = 7) {
  LoaderOptions o;
  o.seq_len = L;
  o.batch_size = b;
  o.rank = rank;
  o.world_size = world;
  o.workers = workers;
  o.prefetch = 3;
  o.repeat = repeat;
  o.seed = seed;
  return o;
}

std::vector<int64_t> row(const Batch& batch, int64_t r) {
  const auto t = batch.tokens[r].contiguous();
  return {t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel()};
}

// Splits an id stream into documents; every document must be BOS, bytes, EOS.
std::multiset<std::string> documents_of(const std::vector<int64_t>& ids) {
  std::multiset<std::string> docs;
  std::size_t i = 0;
  while (i < ids.size()) {
    REQUIRE(ids[i] == kBosId);
    std::string doc;
    for (++i; i < ids.size() && ids[i] != kEosId; ++i) {
      REQUIRE(ids[i] >= kByteOffset);
      REQUIRE(ids[i] < kVocabSize);
      doc += static_cast<char>(ids[i] - kByteOffset);
    }
    REQUIRE(i < ids.size());
    ++i;
    docs.insert(doc);
  }
  return docs;
}

}  // namespace

TEST_CASE("loader: (rank, worker) slices are disjoint and jointly the whole corpus", "[loader]") {
  TempDir dir;
  const auto docs = make_corpus(dir);
  const auto corpus = open(dir);
  const int64_t L = 32, b = 2;
  std::vector<std::vector<int64_t>> reference_rows;  // world 1, one worker
  for (int world = 1; world <= 4; ++world) {
    for (int workers = 1; workers <= 3; ++workers) {
      std::map<uint64_t, std::vector<int64_t>> by_sequence;
      std::size_t batches_rank0 = 0;
      for (int rank = 0; rank < world; ++rank) {
        Loader loader(corpus, opts(L, b, rank, world, workers, /*repeat=*/false));
        std::size_t batches = 0;
        while (auto batch = loader.next()) {
          ++batches;
          for (int64_t r = 0; r < b; ++r) {
            const uint64_t s = batch->first_sequence + r;
            CAPTURE(world, workers, rank, s);
            REQUIRE(by_sequence.count(s) == 0);  // disjoint
            by_sequence[s] = row(*batch, r);
          }
        }
        if (rank == 0) batches_rank0 = batches;
        CHECK(batches == batches_rank0);  // every rank stops after the same number of batches
      }
      // Jointly complete: sequences 0..N-1 all present; anything past N is padding only.
      const uint64_t n = Loader(corpus, opts(L, b, 0, world, 1, false)).sequences_per_epoch();
      std::vector<int64_t> stream;
      for (uint64_t s = 0; s < n; ++s) {
        REQUIRE(by_sequence.count(s) == 1);
        const auto& r = by_sequence[s];
        if (s == 0) stream.push_back(r[0]);
        for (int64_t k = 1; k <= L && r[k] != kIgnoreId; ++k) stream.push_back(r[k]);
      }
      for (const auto& [s, r] : by_sequence)
        if (s >= n) CHECK(std::all_of(r.begin(), r.end(), [](int64_t id) { return id == kIgnoreId; }));
      CHECK(documents_of(stream) == std::multiset<std::string>(docs.begin(), docs.end()));
      // The same sequences whatever the world size and worker count.
      std::vector<std::vector<int64_t>> rows;
      for (uint64_t s = 0; s < n; ++s) rows.push_back(by_sequence[s]);
      if (reference_rows.empty()) reference_rows = rows;
      CHECK(rows == reference_rows);
    }
  }
}

TEST_CASE("loader: same seed gives the same batches and another seed another order", "[loader]") {
  TempDir dir;
  make_corpus(dir);
  const auto corpus = open(dir);
  const auto take = [&](uint64_t seed, bool shuffle) {
    auto o = opts(64, 3, 0, 1, 2, true, seed);
    o.shuffle = shuffle;
    Loader loader(corpus, o);
    std::vector<std::vector<int64_t>> rows;
    for (int i = 0; i < 12; ++i) {
      const auto batch = loader.next();
      for (int r = 0; r < 3; ++r) rows.push_back(row(*batch, r));
    }
    return rows;
  };
  CHECK(take(1, true) == take(1, true));
  CHECK(take(1, true) != take(2, true));
  CHECK(take(1, false) == take(2, false));  // corpus order ignores the seed
}

TEST_CASE("loader: epochs continue seamlessly with a fresh order", "[loader]") {
  TempDir dir;
  const auto docs = make_corpus(dir);
  const PackedStream stream(open(dir), 3, true);
  const uint64_t T = stream.epoch_ids();
  std::vector<int64_t> two(2 * T), first(T), second(T);
  stream.read(0, 2 * T, two.data());
  stream.read(0, T, first.data());
  stream.read(T, T, second.data());
  CHECK(std::equal(first.begin(), first.end(), two.begin()));
  CHECK(std::equal(second.begin(), second.end(), two.begin() + T));
  const std::multiset<std::string> expected(docs.begin(), docs.end());
  CHECK(documents_of(first) == expected);
  CHECK(documents_of(second) == expected);
  CHECK(first != second);
  // Reads that start anywhere inside a document agree with the full read.
  for (uint64_t start : {uint64_t(1), uint64_t(17), T - 3, T + 250}) {
    std::vector<int64_t> piece(40);
    stream.read(start, piece.size(), piece.data());
    CHECK(std::equal(piece.begin(), piece.end(), two.begin() + start));
  }
}

TEST_CASE("loader: restoring after k batches gives batch k+1 exactly", "[loader][resume]") {
  TempDir dir;
  make_corpus(dir);
  const auto corpus = open(dir);
  const int64_t L = 48;
  const int k = 9;  // enough to cross an epoch boundary of this corpus
  // Uninterrupted run on 2 ranks of 2 sequences each.
  std::vector<std::unique_ptr<Loader>> ranks;
  for (int r = 0; r < 2; ++r) ranks.push_back(std::make_unique<Loader>(corpus, opts(L, 2, r, 2, 2, true)));
  for (int i = 0; i < k; ++i)
    for (auto& l : ranks) l->next();
  const std::string saved = ranks[0]->state().to_json();
  CHECK(saved == ranks[1]->state().to_json());
  std::vector<std::vector<int64_t>> next_rows;  // global order: rank 0 rows, then rank 1 rows
  for (auto& l : ranks) {
    const auto batch = l->next();
    for (int r = 0; r < 2; ++r) next_rows.push_back(row(*batch, r));
  }
  const auto state = LoaderState::from_json(saved);

  SECTION("same world size") {
    for (int r = 0; r < 2; ++r) {
      Loader l(corpus, opts(L, 2, r, 2, 3, true));
      l.restore(state);
      const auto batch = l.next();
      CHECK(row(*batch, 0) == next_rows[2 * r]);
      CHECK(row(*batch, 1) == next_rows[2 * r + 1]);
    }
  }
  SECTION("one process with the same global batch") {
    Loader l(corpus, opts(L, 4, 0, 1, 1, true));
    l.restore(state);
    const auto batch = l.next();
    for (int r = 0; r < 4; ++r) CHECK(row(*batch, r) == next_rows[r]);
  }
  SECTION("four processes with the same global batch") {
    for (int r = 0; r < 4; ++r) {
      Loader l(corpus, opts(L, 1, r, 4, 1, true));
      l.restore(state);
      CHECK(row(*l.next(), 0) == next_rows[r]);
    }
  }
  SECTION("three processes: no sequence lost or repeated") {
    Loader l(corpus, opts(L, 1, 0, 3, 1, true));
    l.restore(state);
    const auto batch = l.next();
    CHECK(batch->first_sequence == state.next_sequence);
    CHECK(row(*batch, 0) == next_rows[0]);
    CHECK(l.state().next_sequence == state.next_sequence + 3);
  }
}

TEST_CASE("loader: state from other data or settings is refused", "[loader][resume][errors]") {
  TempDir dir;
  make_corpus(dir);
  make_corpus(dir, "other");
  {  // change one document of the second corpus so its fingerprint differs
    ShardSetWriter w(dir / "other2", 2000);
    w.add("different");
    w.finish();
  }
  Loader a(open(dir), opts(32, 2, 0, 1, 1, true));
  a.next();
  const auto state = a.state();
  Loader other_seed(open(dir), opts(32, 2, 0, 1, 1, true, 8));
  REQUIRE_THROWS_WITH(other_seed.restore(state), Contains("saved with seed 7"));
  Loader other_len(open(dir), opts(16, 2, 0, 1, 1, true));
  REQUIRE_THROWS_WITH(other_len.restore(state), Contains("seq_len 32") && Contains("data.seq_len is 16"));
  Loader other_data(open(dir, "other2"), opts(32, 2, 0, 1, 1, true));
  REQUIRE_THROWS_WITH(other_data.restore(state), Contains("saved for other data"));
  REQUIRE_THROWS_WITH(LoaderState::from_json("{\"next_sequence\": 1}"), Contains("malformed data loader state"));
}
