#include <iostream>

#include "blt/cli/args.h"
#include "blt/cli/commands.h"
#include "blt/config/run_config.h"
#include "blt/core/error.h"
#include "blt/model/causal_lm.h"
#include "blt/model/parameter_count.h"

namespace blt::cli {

int model_info(const Args& args) {
  std::string path;
  std::vector<std::string> overrides;
  bool build = false;
  ArgParser parser("model info", "Print a model config's parameter counts per component (from its shapes).");
  parser.positional("CONFIG", "YAML config file with a model: section", &path)
      .repeated("set", "override a key: --set model.global.layers=4", &overrides)
      .flag("build", "also build the model and count its parameters (needs the memory to hold it)", &build);
  if (!parser.parse(args)) return 0;
  const auto config = load_run_config(path, overrides).model;
  config.validate();
  const auto counts = model::parameter_counts_from_shapes(config);
  const int64_t total = model::total_parameters(counts);
  std::cout << fmt::format("model type: {}\n", config.type);
  for (const auto& c : counts)
    std::cout << fmt::format("  {:<16} {:>15L}  {:6.2f}%\n", c.component, c.parameters,
                             total > 0 ? 100.0 * static_cast<double>(c.parameters) / static_cast<double>(total) : 0.0);
  std::cout << fmt::format("  {:<16} {:>15L}\n", "total", total);
  if (config.type == "blt") {
    int64_t hash = 0;
    for (const auto& c : counts)
      if (c.component == "hash_embeddings" || c.component == "embeddings") hash += c.parameters;
    std::cout << fmt::format("  {:<16} {:>15L}  (total without byte and hash embeddings)\n", "non-embedding", total - hash);
  }
  if (build) {
    auto model = model::build_model_for_load(config);  // shapes only
    const auto built = model->parameter_counts();
    bool same = built.size() == counts.size();
    for (std::size_t i = 0; same && i < built.size(); ++i)
      same = built[i].component == counts[i].component && built[i].parameters == counts[i].parameters;
    if (!same) fail("built model's parameter counts differ from the shape computation (total {} vs {})",
                    model::total_parameters(built), total);
    std::cout << "built model: counts agree\n";
  }
  return 0;
}

}  // namespace blt::cli
