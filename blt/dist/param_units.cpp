#include "blt/dist/param_units.h"

#include <regex>

namespace blt::dist {
namespace {

std::string unit_of(const std::string& name) {
  static const std::regex block(R"(^(.*layers\.[0-9]+)\.)");
  std::smatch m;
  if (std::regex_search(name, m, block)) return m[1];
  const auto dot = name.rfind('.');
  const std::string module = dot == std::string::npos ? name : name.substr(0, dot);
  if (module.find("embed") != std::string::npos) return module;
  return "rest";
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

}  // namespace blt::dist
