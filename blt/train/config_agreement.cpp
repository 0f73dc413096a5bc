#include "blt/train/config_agreement.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "blt/core/checksum.h"
#include "blt/core/error.h"
#include "blt/parallel/text_gather.h"

namespace blt::train {

namespace {

// dotted key -> value as written (a list in flow form), for every leaf of `node`.
void flatten(const YAML::Node& node, const std::string& path, std::map<std::string, std::string>& out) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>();
      flatten(kv.second, path.empty() ? key : path + "." + key, out);
    }
  } else if (node.IsScalar()) {
    out[path] = node.Scalar();
  } else {
    YAML::Emitter e;
    e << YAML::Flow << node;
    out[path] = e.c_str();
  }
}

std::string rank_list(const std::vector<int>& ranks) {
  std::string out = ranks.size() == 1 ? "rank" : "ranks";
  for (std::size_t i = 0; i < ranks.size(); ++i) out += (i ? ", " : " ") + std::to_string(ranks[i]);
  return out;
}

// "key: A on rank 0, B on ranks 1, 2" for every key whose value is not the same on all ranks.
std::vector<std::string> differences(const std::vector<std::string>& texts) {
  std::vector<std::map<std::string, std::string>> flat(texts.size());
  std::set<std::string> keys;
  for (std::size_t r = 0; r < texts.size(); ++r) {
    flatten(YAML::Load(texts[r]), "", flat[r]);
    for (const auto& kv : flat[r]) keys.insert(kv.first);
  }
  std::vector<std::string> out;
  for (const auto& key : keys) {
    std::vector<std::pair<std::string, std::vector<int>>> values;  // in order of first rank
    for (std::size_t r = 0; r < flat.size(); ++r) {
      const auto it = flat[r].find(key);
      const std::string value = it == flat[r].end() ? "(absent)" : it->second;
      auto same = std::find_if(values.begin(), values.end(), [&](const auto& v) { return v.first == value; });
      if (same == values.end()) values.push_back({value, {int(r)}});
      else same->second.push_back(int(r));
    }
    if (values.size() == 1) continue;
    std::string line = key + ":";
    for (std::size_t i = 0; i < values.size(); ++i)
      line += fmt::format("{} {} on {}", i ? "," : "", values[i].first, rank_list(values[i].second));
    out.push_back(line);
  }
  return out;
}

}  // namespace

void check_ranks_agree_on_config(const std::string& resolved_yaml, parallel::Comm& comm) {
  if (!comm.distributed()) return;
  const uint64_t hash = content_hash(resolved_yaml.data(), resolved_yaml.size());
  int64_t as_signed;
  std::memcpy(&as_signed, &hash, sizeof hash);
  const auto hashes =
      comm.all_gather(torch::full({1}, as_signed, torch::TensorOptions().dtype(torch::kLong).device(comm.device()))).cpu();
  if ((hashes == hashes[0]).all().item<bool>()) return;
  const auto diff = differences(parallel::all_gather_text(comm, resolved_yaml));
  std::string listed;
  for (const auto& line : diff) listed += "\n  " + line;
  fail("the ranks were started with different configs (every rank must run the same resolved config; compare their "
       "YAML files and --set options):{}",
       diff.empty() ? "\n  (the texts differ, but no key does)" : listed);
}

}  // namespace blt::train
