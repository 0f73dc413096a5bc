// blt reports every user-facing failure (bad config, bad shard, bad checkpoint)
// as blt::Error with a message that names the file, key or offset at fault. The
// CLI turns it into one log line and a non-zero exit.
#pragma once
#include <fmt/format.h>
#include <fmt/ranges.h>  // messages name shapes (sizes(), vectors)
#include <stdexcept>
#include <string>
#include <utility>

namespace blt {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace blt
