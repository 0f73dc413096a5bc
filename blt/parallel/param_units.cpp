#include "blt/parallel/param_units.h"

#include <regex>

namespace blt::parallel {
namespace {

bool is_embedding_table(const std::string& module) {
  const std::string last = module.substr(module.rfind('.') + 1);  // npos + 1 = 0: the whole name
  const std::string suffix = "_embedding";
  return last.rfind("embed_", 0) == 0 ||
         (last.size() >= suffix.size() && last.compare(last.size() - suffix.size(), suffix.size(), suffix) == 0);
}

std::string unit_of(const std::string& name) {
  static const std::regex block(R"(^(.*layers\.[0-9]+)\.)");
  std::smatch m;
  if (std::regex_search(name, m, block)) return m[1];
  const std::string module = name.substr(0, name.rfind('.'));
  return is_embedding_table(module) ? module : "rest";
}

}  // namespace

std::vector<ParamUnit> split_into_units(const std::vector<std::pair<std::string, torch::Tensor>>& named) {
  std::vector<ParamUnit> units;
  for (const auto& [name, tensor] : named) {
    const std::string unit = unit_of(name);
    auto it = std::find_if(units.begin(), units.end(), [&](const ParamUnit& u) { return u.name == unit; });
    if (it == units.end()) it = units.insert(units.end(), ParamUnit{unit, {}});
    it->params.emplace_back(name, tensor);
  }
  return units;
}

}  // namespace blt::parallel
