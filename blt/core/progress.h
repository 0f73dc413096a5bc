// Progress of a long job over a known amount of work: a redrawn bar on a
// terminal, a log line every few seconds otherwise (CI logs, files).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace blt {

class Progress {
 public:
  Progress(std::string what, uint64_t total, std::string unit = "B");
  // `done` is absolute; `detail` is appended to the line.
  void update(uint64_t done, const std::string& detail = "");
  void finish(const std::string& detail = "");

 private:
  void draw(uint64_t done, const std::string& detail, bool final);
  std::string what_, unit_;
  uint64_t total_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_;
};

// "1.50 GB", "12.0 MB": decimal units, as throughput is usually quoted.
std::string human_bytes(double bytes);
// "1:02:03" or "2:03".
std::string human_duration(double seconds);

}  // namespace blt
