#include "blt/core/progress.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

namespace blt {

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000.0 && u < 4) bytes /= 1000.0, ++u;
  return fmt::format(u == 0 ? "{:.0f} {}" : "{:.2f} {}", bytes, units[u]);
}

std::string human_duration(double seconds) {
  const auto s = static_cast<long long>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02d}:{:02d}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02d}", s / 60, s % 60);
}

Progress::Progress(std::string what, uint64_t total, std::string unit)
    : what_(std::move(what)), unit_(std::move(unit)), total_(total), tty_(isatty(fileno(stderr)) != 0),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

void Progress::update(uint64_t done, const std::string& detail) {
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_).count();
  if (since < (tty_ ? 0.2 : 5.0)) return;
  last_ = now;
  draw(done, detail, false);
}

void Progress::finish(const std::string& detail) { draw(total_, detail, true); }

void Progress::draw(uint64_t done, const std::string& detail, bool final) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double fraction = total_ ? std::min(1.0, double(done) / double(total_)) : 1.0;
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  const std::string speed = unit_ == "B" ? human_bytes(rate) + "/s" : fmt::format("{:.1f} {}/s", rate, unit_);
  const std::string eta = fraction > 0 && !final ? " ETA " + human_duration(elapsed * (1 - fraction) / fraction) : "";
  if (tty_) {
    const int width = 30, filled = static_cast<int>(fraction * width);
    std::fprintf(stderr, "\r%s [%s%s] %5.1f%% %s%s %s\x1b[K%s", what_.c_str(), std::string(filled, '#').c_str(),
                 std::string(width - filled, ' ').c_str(), 100 * fraction, speed.c_str(), eta.c_str(), detail.c_str(),
                 final ? "\n" : "");
    std::fflush(stderr);
  } else {
    spdlog::info("{} {:.1f}% {}{} {}", what_, 100 * fraction, speed, eta, detail);
  }
}

}  // namespace blt
