#include "blt/sweep/sweep_config.h"

#include <filesystem>
#include <set>

#include "blt/core/error.h"

namespace blt::sweep {
namespace fs = std::filesystem;

namespace {

std::string resolve(const fs::path& dir, const std::string& path) {
  if (path.empty()) return path;
  return fs::absolute(dir / path).lexically_normal().string();
}

// A list of mappings, each read strictly into a T (the config reader's
// sections are single mappings; the sweep's axes are lists of them).
template <class T>
std::vector<T> read_list(const config::Document& doc, const std::string& key) {
  const YAML::Node node = doc.root()[key];
  if (!node) return {};
  if (!node.IsSequence()) fail("{}: {} must be a list of mappings", doc.origin(key), key);
  std::vector<T> out;
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string path = fmt::format("{}[{}]", key, i);
    if (!node[i].IsMap()) fail("{}: {} must be a mapping of keys", doc.origin(path), path);
    T item{};
    config::Reader reader(doc, node[i], path);
    item.visit(reader);
    reader.reject_unknown_keys();
    out.push_back(std::move(item));
  }
  return out;
}

}  // namespace

SweepConfig load_sweep_config(const std::string& path, const std::vector<std::string>& overrides) {
  const auto doc = config::Document::load(path, overrides);
  SweepConfig c;
  {
    YAML::Node scalars = YAML::Clone(doc.root());
    scalars.remove("sizes");
    scalars.remove("schemes");
    config::Reader reader(doc, scalars, "");
    c.visit(reader);
    reader.reject_unknown_keys();
  }
  c.sizes = read_list<SizePreset>(doc, "sizes");
  c.schemes = read_list<Scheme>(doc, "schemes");
  const fs::path dir = fs::absolute(path).parent_path();
  const auto where = [&](const std::string& key) { return doc.origin(key); };
  if (c.out_dir.empty()) fail("{}: out_dir is required", where("out_dir"));
  if (c.base.empty()) fail("{}: base is required", where("base"));
  c.out_dir = resolve(dir, c.out_dir);
  c.base = resolve(dir, c.base);
  c.entropy_model.model = resolve(dir, c.entropy_model.model);
  if (c.sizes.empty()) fail("{}: sizes needs at least one size", where("sizes"));
  if (c.schemes.empty()) fail("{}: schemes needs at least one scheme", where("schemes"));
  if (c.rule == "flop_budget" && c.flop_budgets.empty())
    fail("{}: rule flop_budget needs flop_budgets", where("rule"));
  if (c.rule == "bytes_per_param" && !c.flop_budgets.empty())
    fail("{}: rule bytes_per_param derives the budgets; remove flop_budgets", where("flop_budgets"));
  for (std::size_t i = 0; i < c.flop_budgets.size(); ++i)
    if (!(c.flop_budgets[i] > 0)) fail("{}: flop_budgets[{}] must be > 0", where(fmt::format("flop_budgets[{}]", i)), i);
  std::set<std::string> names;
  bool needs_blt = false, needs_token = false, needs_entropy = false;
  for (std::size_t i = 0; i < c.schemes.size(); ++i) {
    const auto& s = c.schemes[i];
    const std::string key = fmt::format("schemes[{}]", i);
    if (s.name.empty()) fail("{}: {}.name is required", where(key), key);
    if (!names.insert(s.name).second) fail("{}: scheme name '{}' is used twice", where(key), s.name);
    needs_token |= s.patching == "bpe";
    needs_blt |= s.patching != "bpe";
    needs_entropy |= s.patching == "entropy";
  }
  names.clear();
  for (std::size_t i = 0; i < c.sizes.size(); ++i) {
    auto& s = c.sizes[i];
    const std::string key = fmt::format("sizes[{}]", i);
    if (s.name.empty()) fail("{}: {}.name is required", where(key), key);
    if (!names.insert(s.name).second) fail("{}: size name '{}' is used twice", where(key), s.name);
    if (needs_blt && s.blt.empty()) fail("{}: {}.blt is required by the BLT schemes", where(key), key);
    if (needs_token && s.token.empty()) fail("{}: {}.token is required by the bpe scheme", where(key), key);
    s.blt = resolve(dir, s.blt);
    s.token = resolve(dir, s.token);
  }
  if (needs_entropy && c.entropy_model.model.empty())
    fail("{}: an entropy scheme needs entropy_model.model", where("entropy_model"));
  return c;
}

}  // namespace blt::sweep
