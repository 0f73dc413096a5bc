#include <iostream>

#include "blt/cli/args.h"
#include "blt/cli/commands.h"
#include "blt/config/run_config.h"

namespace blt::cli {

int config_show(const Args& args) {
  std::string path;
  std::vector<std::string> overrides;
  ArgParser parser("config show", "Print the fully resolved config: includes merged, --set applied, defaults filled in.");
  parser.positional("CONFIG", "YAML config file", &path).repeated("set", "override a key: --set a.b=value", &overrides);
  if (!parser.parse(args)) return 0;
  std::cout << config::to_yaml(load_run_config(path, overrides));
  return 0;
}

}  // namespace blt::cli
