#include "blt/config/run_config.h"

namespace blt {

RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides) {
  return config::read<RunConfig>(config::Document::load(path, overrides));
}

}  // namespace blt
