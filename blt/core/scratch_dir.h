// A new, empty directory under the system's temporary directory that this
// process alone created (mkdtemp), removed with everything in it when the
// object goes, on success and on an error alike.
#pragma once
#include <string>

namespace blt {

class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix);  // e.g. "blt-bench" -> /tmp/blt-bench-XXXXXX
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace blt
