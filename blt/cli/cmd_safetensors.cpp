#include <iostream>

#include <fmt/format.h>

#include "blt/cli/args.h"
#include "blt/cli/commands.h"
#include "blt/core/safetensors.h"

namespace blt::cli {

int safetensors_info(const Args& args) {
  std::string path;
  ArgParser parser("safetensors info", "Validate a .safetensors file and list its tensors and metadata.");
  parser.positional("FILE", ".safetensors file", &path);
  if (!parser.parse(args)) return 0;
  const safetensors::Reader reader(path);
  for (const auto& [key, value] : reader.metadata()) std::cout << fmt::format("metadata {} = {}\n", key, value);
  for (const auto& t : reader.tensors())
    std::cout << fmt::format("{} {} [{}] [{}, {}]\n", t.name, safetensors::dtype_name(t.dtype), fmt::join(t.shape, ", "),
                             t.begin, t.end);
  return 0;
}

int safetensors_copy(const Args& args) {
  std::string in, out;
  ArgParser parser("safetensors copy",
                   "Read a .safetensors file with blt's reader and write it again with blt's writer "
                   "(cross-checks against other implementations).");
  parser.positional("IN", "file to read", &in).positional("OUT", "file to write", &out);
  if (!parser.parse(args)) return 0;
  const safetensors::Reader reader(in);
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& t : reader.tensors()) tensors.emplace_back(t.name, reader.load(t.name));
  safetensors::write(out, tensors, reader.metadata());
  return 0;
}

}  // namespace blt::cli
