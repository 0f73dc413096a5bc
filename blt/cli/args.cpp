#include "blt/cli/args.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "blt/core/error.h"

namespace blt::cli {

ArgParser::ArgParser(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

ArgParser& ArgParser::positional(const char* name, const char* help, std::string* out, bool required) {
  positionals_.push_back({name, help, out, required});
  return *this;
}
ArgParser& ArgParser::positionals(const char* name, const char* help, std::vector<std::string>* out) {
  positionals_.push_back({name, help, out, true});
  return *this;
}
ArgParser& ArgParser::option(const char* name, const char* help, std::string* out) {
  options_.push_back({name, help, out});
  return *this;
}
ArgParser& ArgParser::option(const char* name, const char* help, int64_t* out) {
  options_.push_back({name, help, out});
  return *this;
}
ArgParser& ArgParser::option(const char* name, const char* help, double* out) {
  options_.push_back({name, help, out});
  return *this;
}
ArgParser& ArgParser::flag(const char* name, const char* help, bool* out) {
  options_.push_back({name, help, out});
  return *this;
}
ArgParser& ArgParser::repeated(const char* name, const char* help, std::vector<std::string>* out) {
  options_.push_back({name, help, out});
  return *this;
}

void ArgParser::assign(const Spec& spec, const std::string& value) const {
  const auto bad = [&](const char* what) {
    fail("blt {}: --{} expects {}, got '{}'", command_, spec.name, what, value);
  };
  std::visit(
      [&](auto* target) {
        using T = std::remove_pointer_t<decltype(target)>;
        if constexpr (std::is_same_v<T, std::string>) {
          *target = value;
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          target->push_back(value);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          std::size_t used = 0;
          try {
            *target = std::stoll(value, &used);
          } catch (const std::exception&) {
            bad("an integer");
          }
          if (used != value.size()) bad("an integer");
        } else if constexpr (std::is_same_v<T, double>) {
          std::size_t used = 0;
          try {
            *target = std::stod(value, &used);
          } catch (const std::exception&) {
            bad("a number");
          }
          if (used != value.size()) bad("a number");
          if (!std::isfinite(*target)) bad("a finite number");  // stod reads inf and nan
        } else {
          *target = true;
        }
      },
      spec.target);
}

bool ArgParser::parse(const std::vector<std::string>& args) {
  std::size_t next_positional = 0;
  bool list_given = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage();
      return false;
    }
    if (arg.rfind("--", 0) == 0 && arg.size() > 2) {
      std::string name = arg.substr(2), value;
      bool has_value = false;
      if (const auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      const auto it = std::find_if(options_.begin(), options_.end(), [&](const Spec& s) { return s.name == name; });
      if (it == options_.end()) fail("blt {}: unknown option '--{}' (see blt {} --help)", command_, name, command_);
      if (std::holds_alternative<bool*>(it->target)) {
        if (has_value) fail("blt {}: --{} takes no value", command_, name);
        assign(*it, "");
        continue;
      }
      if (!has_value) {
        if (i + 1 >= args.size()) fail("blt {}: --{} needs a value", command_, name);
        value = args[++i];
      }
      assign(*it, value);
      continue;
    }
    if (next_positional >= positionals_.size())
      fail("blt {}: unexpected argument '{}' (see blt {} --help)", command_, arg, command_);
    const Spec& spec = positionals_[next_positional];
    assign(spec, arg);
    // A list positional keeps taking arguments; it counts as given from its first one.
    if (!std::holds_alternative<std::vector<std::string>*>(spec.target)) ++next_positional;
    else list_given = true;
  }
  for (std::size_t p = next_positional + (list_given ? 1 : 0); p < positionals_.size(); ++p)
    if (positionals_[p].required) fail("blt {}: missing argument {} (see blt {} --help)", command_, positionals_[p].name, command_);
  return true;
}

std::string ArgParser::usage() const {
  std::string out = fmt::format("usage: blt {}", command_);
  for (const auto& p : positionals_) {
    const bool list = std::holds_alternative<std::vector<std::string>*>(p.target);
    out += p.required ? " " + p.name : " [" + p.name + "]";
    if (list) out += "...";
  }
  if (!options_.empty()) out += " [options]";
  out += "\n\n" + summary_ + "\n";
  if (!positionals_.empty()) {
    out += "\narguments:\n";
    for (const auto& p : positionals_) out += fmt::format("  {:<22} {}\n", p.name, p.help);
  }
  out += "\noptions:\n";
  for (const auto& o : options_) {
    const bool is_flag = std::holds_alternative<bool*>(o.target);
    std::string current;
    if (auto* s = std::get_if<std::string*>(&o.target); s && !(*s)->empty()) current = " (default: " + **s + ")";
    if (auto* n = std::get_if<int64_t*>(&o.target)) current = fmt::format(" (default: {})", **n);
    if (auto* d = std::get_if<double*>(&o.target)) current = fmt::format(" (default: {})", **d);
    out += fmt::format("  {:<22} {}{}\n", "--" + o.name + (is_flag ? "" : " V"), o.help, current);
  }
  out += fmt::format("  {:<22} {}\n", "--help", "show this help");
  return out;
}

}  // namespace blt::cli
