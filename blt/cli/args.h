// Command-line parsing for `blt <command>`: positionals, --options, flags,
// repeatable options (--set), and a generated --help.
#pragma once
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace blt::cli {

class ArgParser {
 public:
  ArgParser(std::string command, std::string summary);

  ArgParser& positional(const char* name, const char* help, std::string* out, bool required = true);
  // All remaining positional arguments (at least one); must be the last positional.
  ArgParser& positionals(const char* name, const char* help, std::vector<std::string>* out);
  ArgParser& option(const char* name, const char* help, std::string* out);
  ArgParser& option(const char* name, const char* help, int64_t* out);
  ArgParser& option(const char* name, const char* help, double* out);
  ArgParser& flag(const char* name, const char* help, bool* out);
  ArgParser& repeated(const char* name, const char* help, std::vector<std::string>* out);

  // Returns false when --help was asked for (usage printed); throws blt::Error on bad arguments.
  bool parse(const std::vector<std::string>& args);
  std::string usage() const;

 private:
  using Target = std::variant<std::string*, int64_t*, double*, bool*, std::vector<std::string>*>;
  struct Spec {
    std::string name, help;
    Target target;
    bool required = false;
  };
  void assign(const Spec& spec, const std::string& value) const;
  std::string command_, summary_;
  std::vector<Spec> positionals_, options_;
};

}  // namespace blt::cli
