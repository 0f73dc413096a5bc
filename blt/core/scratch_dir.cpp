#include "blt/core/scratch_dir.h"

#include <cstdlib>
#include <filesystem>

#include "blt/core/error.h"

namespace blt {

ScratchDir::ScratchDir(const std::string& prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (!mkdtemp(pattern.data())) fail("cannot create a temporary directory like {}", pattern);
  path_ = pattern;
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace blt
