#include "blt/core/log.h"

#include <spdlog/spdlog.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <filesystem>

#include "blt/core/error.h"

namespace blt {

void init_logging(const LogOptions& options) {
  std::vector<spdlog::sink_ptr> sinks;
  if (options.rank == 0 || options.all_ranks_console) {
    sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  }
  if (!options.dir.empty()) {
    std::filesystem::create_directories(options.dir);
    const auto path = fmt::format("{}/rank{}.log", options.dir, options.rank);
    sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/false));
  }
  auto logger = std::make_shared<spdlog::logger>("blt", sinks.begin(), sinks.end());
  const auto level = spdlog::level::from_str(options.level);
  if (level == spdlog::level::off && options.level != "off") fail("unknown log level '{}'", options.level);
  logger->set_level(level);
  const auto rank_tag = options.world_size > 1 ? fmt::format(" [rank {}]", options.rank) : std::string();
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$" + rank_tag + " %v");
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

}  // namespace blt
