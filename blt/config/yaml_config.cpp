#include "blt/config/yaml_config.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

namespace blt::config {
namespace fs = std::filesystem;

namespace {

std::string location(const std::string& file, const YAML::Mark& mark) {
  return mark.is_null() ? file : fmt::format("{}:{}", file, mark.line + 1);
}

YAML::Node load_yaml_file(const std::string& path) {
  if (!fs::exists(path)) fail("config file '{}' does not exist", path);
  try {
    return YAML::LoadFile(path);
  } catch (const YAML::ParserException& e) {
    fail("config file {}:{}:{}: YAML syntax error: {}", path, e.mark.line + 1, e.mark.column + 1, e.msg);
  } catch (const YAML::BadFile&) {
    fail("cannot read config file '{}': {}", path, std::strerror(errno));
  }
}

// The spellings yaml-cpp reads as infinity or NaN (YAML's core schema). No setting
// has a use for them, and the check has to be here, where the file and line are
// known: a number field would take them. (A string setting cannot be one of these
// words: an acceptable price.)
bool is_non_finite_number(const YAML::Node& node) {
  if (!node.IsScalar()) return false;
  static const std::set<std::string> spellings = {".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf", "+.INF",
                                                  "-.inf", "-.Inf", "-.INF", ".nan",  ".NaN",  ".NAN"};
  return spellings.count(node.Scalar()) > 0;
}

bool contains_null(const YAML::Node& node) {
  if (node.IsNull()) return true;
  if (node.IsMap()) {
    for (const auto& kv : node)
      if (contains_null(kv.second)) return true;
  } else if (node.IsSequence()) {
    for (const auto& item : node)
      if (contains_null(item)) return true;
  }
  return false;
}

}  // namespace

Document Document::load(const std::string& path, const std::vector<std::string>& overrides) {
  Document doc;
  std::vector<std::string> stack;
  doc.include_file(path, stack);
  for (const auto& o : overrides) doc.apply_override(o);
  return doc;
}

Document Document::parse(const std::string& text, const std::string& name,
                         const std::vector<std::string>& overrides) {
  Document doc;
  YAML::Node node;
  try {
    node = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    fail("config {}:{}:{}: YAML syntax error: {}", name, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  if (node["include"]) fail("config {}: 'include' needs a file to resolve paths against", name);
  doc.merge_file_node(node, name);
  for (const auto& o : overrides) doc.apply_override(o);
  return doc;
}

void Document::include_file(const std::string& path, std::vector<std::string>& stack) {
  const std::string canonical = fs::weakly_canonical(path).string();
  if (std::find(stack.begin(), stack.end(), canonical) != stack.end())
    fail("config file '{}' includes itself (through {})", path, fmt::join(stack, " -> "));
  stack.push_back(canonical);
  const YAML::Node node = load_yaml_file(path);
  if (node.IsMap() && node["include"]) {
    const YAML::Node includes = node["include"];
    std::vector<std::string> files;
    if (includes.IsScalar()) {
      files.push_back(includes.Scalar());
    } else if (includes.IsSequence()) {
      for (const auto& item : includes) {
        if (!item.IsScalar()) fail("{}: 'include' entries must be file names", location(path, item.Mark()));
        files.push_back(item.Scalar());
      }
    } else {
      fail("{}: 'include' must be a file name or a list of them", location(path, includes.Mark()));
    }
    const fs::path dir = fs::path(path).parent_path();
    for (const auto& f : files) {
      const fs::path resolved = fs::path(f).is_absolute() ? fs::path(f) : dir / f;
      if (!fs::exists(resolved))
        fail("{}: included file '{}' does not exist", location(path, includes.Mark()), resolved.string());
      include_file(resolved.string(), stack);
    }
  }
  merge_file_node(node, path);
  stack.pop_back();
}

void Document::merge_file_node(const YAML::Node& node, const std::string& file) {
  if (!node.IsDefined() || node.IsNull()) return;  // an empty file sets nothing
  if (!node.IsMap()) fail("{}: a config file must be a mapping of keys", location(file, node.Mark()));
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    if (key == "include") continue;
    merge(root_, key, kv.second, key, file, kv.first.Mark());
  }
}

void Document::merge(YAML::Node parent, const std::string& key, const YAML::Node& src, const std::string& path,
                     const std::string& file, const YAML::Mark& key_mark) {
  YAML::Node existing = parent[key];
  if (src.IsMap() && existing.IsDefined() && existing.IsMap()) {
    origins_[path] = location(file, key_mark);
    for (const auto& kv : src) {
      const std::string child = kv.first.as<std::string>();
      merge(existing, child, kv.second, path + "." + child, file, kv.first.Mark());
    }
    return;
  }
  forget_origins_under(path);
  parent[key] = YAML::Clone(src);
  record_origins(src, path, file, key_mark);
}

// A key's origin is the line of the key itself (a mapping value starts a line later).
void Document::record_origins(const YAML::Node& node, const std::string& path, const std::string& file,
                              const YAML::Mark& mark) {
  origins_[path] = location(file, mark);
  if (is_non_finite_number(node))
    fail("config key '{}' ({}): expected a finite number, got '{}'", path, origins_[path], node.Scalar());
  if (node.IsMap()) {
    for (const auto& kv : node)
      record_origins(kv.second, path + "." + kv.first.as<std::string>(), file, kv.first.Mark());
  } else if (node.IsSequence()) {
    for (std::size_t i = 0; i < node.size(); ++i)
      record_origins(node[i], fmt::format("{}[{}]", path, i), file, node[i].Mark());
  }
}

void Document::forget_origins_under(const std::string& path) {
  for (auto it = origins_.lower_bound(path); it != origins_.end() && it->first.rfind(path, 0) == 0;) {
    const char next = it->first.size() > path.size() ? it->first[path.size()] : '\0';
    if (next == '\0' || next == '.' || next == '[') {
      it = origins_.erase(it);
    } else {
      ++it;
    }
  }
}

void Document::apply_override(const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    fail("override '--set {}' must have the form key.path=value", assignment);
  const std::string key_path = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  YAML::Node value;
  try {
    value = YAML::Load(text);
  } catch (const YAML::ParserException&) {
    value = YAML::Node(text);  // not YAML: take it as a plain string
  }
  if (!value.IsDefined()) value = YAML::Node(text);
  // An empty value, ~ or null would quietly mean "the built-in default" (an unset
  // shell variable in `--set key=$X` would change the run unnoticed).
  if (contains_null(value))
    fail("override '--set {}' gives '{}' no value (empty, ~ or null); give one, or '\"\"' for an empty string",
         assignment, assignment.substr(0, eq));

  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    const auto dot = key_path.find('.', start);
    parts.push_back(key_path.substr(start, dot - start));
    if (parts.back().empty()) fail("override '--set {}': empty key in '{}'", assignment, key_path);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  YAML::Node node = root_;
  std::string path;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    path += (i ? "." : "") + parts[i];
    YAML::Node child = node[parts[i]];
    if (child.IsDefined() && !child.IsNull() && !child.IsMap())
      fail("override '--set {}': '{}' is a value, not a section ({})", assignment, path, origin(path));
    if (!child.IsDefined() || child.IsNull()) {
      node[parts[i]] = YAML::Node(YAML::NodeType::Map);
      origins_[path] = "--set " + assignment;
    }
    node.reset(node[parts[i]]);  // plain '=' would overwrite the parent's contents
  }
  forget_origins_under(key_path);
  node[parts.back()] = value;
  record_origins(value, key_path, "--set " + assignment, YAML::Mark::null_mark());
  // Marks of a value parsed from the command line mean nothing; name the argument.
  for (auto it = origins_.lower_bound(key_path); it != origins_.end() && it->first.rfind(key_path, 0) == 0; ++it)
    it->second = "--set " + assignment;
}

std::string Document::origin(const std::string& path) const {
  std::string p = path;
  while (!p.empty()) {
    const auto it = origins_.find(p);
    if (it != origins_.end()) return it->second;
    const auto cut = p.find_last_of(".[");
    if (cut == std::string::npos) break;
    p = p.substr(0, cut);
  }
  return "defaults";
}

Check<std::string> one_of(std::vector<std::string> choices) {
  return [choices](const std::string& v) {
    if (std::find(choices.begin(), choices.end(), v) != choices.end()) return std::string();
    return fmt::format("must be one of: {}", fmt::join(choices, ", "));
  };
}

Reader::Reader(const Document& doc, YAML::Node node, std::string path)
    : doc_(doc), node_(std::move(node)), path_(std::move(path)) {}

void Reader::reject_unknown_keys() const {
  if (!node_.IsMap()) return;
  for (const auto& kv : node_) {
    const std::string key = kv.first.as<std::string>();
    if (seen_.count(key)) continue;
    const std::string path = join(key.c_str());
    fail("unknown config key '{}' ({}); known keys{}: {}", path, doc_.origin(path),
         path_.empty() ? std::string() : " under '" + path_ + "'", fmt::join(seen_, ", "));
  }
}

void Reader::fail_at(const std::string& path, const std::string& message) const {
  fail("config key '{}' ({}): {}", path, doc_.origin(path), message);
}

std::string Reader::describe(const YAML::Node& node) {
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "nothing";
}

}  // namespace blt::config
