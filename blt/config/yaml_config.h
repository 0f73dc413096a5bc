// Strict, composable YAML configuration.
//
// A config file is a YAML mapping. It may list other files under `include:`
// (paths relative to the including file); those are merged first, in order,
// and the file's own keys override them. Maps merge key by key; scalars and
// lists replace. Command-line overrides `--set a.b.c=value` apply last.
// Every node remembers where it was set (file:line or the --set argument) so
// that an error can point at it.
//
// Typed configs are plain structs with a `visit` member that lists their
// fields (see data_config.h for an example). The same list drives reading
// (unknown keys, wrong types and out-of-range values are errors), printing
// (`blt config show`) and saving a run's resolved config.
#pragma once
#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "blt/core/error.h"

namespace blt::config {

class Document {
 public:
  // Loads `path` with its includes, then applies `overrides` ("a.b=value").
  static Document load(const std::string& path, const std::vector<std::string>& overrides = {});
  // Same from a string; `name` stands in for the file name in messages.
  static Document parse(const std::string& text, const std::string& name,
                        const std::vector<std::string>& overrides = {});

  void apply_override(const std::string& assignment);
  const YAML::Node& root() const { return root_; }
  // Where the node at dotted `path` (or its nearest ancestor) was set.
  std::string origin(const std::string& path) const;

 private:
  void include_file(const std::string& path, std::vector<std::string>& stack);
  void merge_file_node(const YAML::Node& node, const std::string& file);
  void merge(YAML::Node parent, const std::string& key, const YAML::Node& src, const std::string& path,
             const std::string& file, const YAML::Mark& key_mark);
  void record_origins(const YAML::Node& node, const std::string& path, const std::string& file,
                      const YAML::Mark& mark);
  void forget_origins_under(const std::string& path);

  YAML::Node root_{YAML::NodeType::Map};
  std::map<std::string, std::string> origins_;
};

// A check returns an empty string when the value is acceptable, else what is wrong.
template <class T>
using Check = std::function<std::string(const T&)>;

template <class T>
Check<T> at_least(T lo) {
  return [lo](const T& v) { return v >= lo ? std::string() : fmt::format("must be >= {}", lo); };
}
template <class T>
Check<T> in_range(T lo, T hi) {
  return [lo, hi](const T& v) {
    return (v >= lo && v <= hi) ? std::string() : fmt::format("must be in [{}, {}]", lo, hi);
  };
}
template <class T>
Check<T> positive() {
  return [](const T& v) { return v > T(0) ? std::string() : std::string("must be > 0"); };
}
Check<std::string> one_of(std::vector<std::string> choices);

template <class T, class V, class = void>
struct is_section : std::false_type {};
template <class T, class V>
struct is_section<T, V, std::void_t<decltype(std::declval<T&>().visit(std::declval<V&>()))>> : std::true_type {};

template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};

// Reads a struct's fields from a YAML mapping, strictly.
class Reader {
 public:
  Reader(const Document& doc, YAML::Node node, std::string path);

  template <class T>
  void field(const char* key, T& value, const char* help, Check<T> check = {}) {
    seen_.insert(key);
    const YAML::Node child = node_.IsMap() ? node_[key] : YAML::Node();
    if (!child.IsDefined() || child.IsNull()) return;  // keep the default
    const std::string path = join(key);
    if constexpr (is_section<T, Reader>::value) {
      if (!child.IsMap()) fail_at(path, "expected a mapping of keys");
      Reader sub(doc_, child, path);
      value.visit(sub);
      sub.reject_unknown_keys();
    } else {
      value = convert<T>(child, path);
    }
    if (check) {
      const std::string problem = check(value);
      if (!problem.empty()) fail_at(path, fmt::format("value {} {}", describe(child), problem));
    }
  }

  void reject_unknown_keys() const;
  [[noreturn]] void fail_at(const std::string& path, const std::string& message) const;

 private:
  std::string join(const char* key) const { return path_.empty() ? std::string(key) : path_ + "." + key; }
  static std::string describe(const YAML::Node& node);

  template <class T>
  T convert(const YAML::Node& node, const std::string& path) const {
    if constexpr (is_vector<T>::value) {
      if (!node.IsSequence()) fail_at(path, fmt::format("expected a list, got {}", describe(node)));
      T out;
      for (std::size_t i = 0; i < node.size(); ++i)
        out.push_back(convert<typename T::value_type>(node[i], fmt::format("{}[{}]", path, i)));
      return out;
    } else {
      if (!node.IsScalar()) fail_at(path, fmt::format("expected {}, got {}", type_name<T>(), describe(node)));
      T out{};
      if (!YAML::convert<T>::decode(node, out) || !scalar_is_exact<T>(node.Scalar()))
        fail_at(path, fmt::format("expected {}, got {}", type_name<T>(), describe(node)));
      return out;
    }
  }
  template <class T>
  static bool scalar_is_exact(const std::string& text) {
    if constexpr (std::is_same_v<T, bool>) {
      return text == "true" || text == "false";
    } else {
      return true;
    }
  }
  template <class T>
  static const char* type_name() {
    if constexpr (std::is_same_v<T, bool>) return "true or false";
    else if constexpr (std::is_integral_v<T>) return "an integer";
    else if constexpr (std::is_floating_point_v<T>) return "a number";
    else return "a string";
  }

  const Document& doc_;
  YAML::Node node_;
  std::string path_;
  std::set<std::string> seen_;
};

// Writes a struct's fields as YAML, each with its help text as a comment.
class Writer {
 public:
  explicit Writer(YAML::Emitter& out) : out_(out) {}
  template <class T>
  void field(const char* key, const T& value, const char* help, Check<T> = {}) {
    out_ << YAML::Key << key << YAML::Value;
    if constexpr (is_section<T, Writer>::value) {
      out_ << YAML::BeginMap;
      T copy = value;  // visit() is shared with Reader and so not const
      copy.visit(*this);
      out_ << YAML::EndMap;
    } else if constexpr (is_vector<T>::value) {
      out_ << YAML::Flow << YAML::BeginSeq;
      for (const auto& item : value) out_ << item;
      out_ << YAML::EndSeq;
    } else if constexpr (std::is_floating_point_v<T>) {
      out_ << fmt::format("{}", value);  // shortest round-trip form
    } else {
      out_ << value;
    }
    if (help && *help && !is_section<T, Writer>::value) out_ << YAML::Comment(help);
  }

 private:
  YAML::Emitter& out_;
};

// Reads a whole typed config from a document: unknown top-level keys are errors too.
template <class T>
T read(const Document& doc) {
  T value{};
  Reader reader(doc, doc.root(), "");
  value.visit(reader);
  reader.reject_unknown_keys();
  return value;
}

template <class T>
std::string to_yaml(const T& value) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  Writer writer(out);
  T copy = value;
  copy.visit(writer);
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace blt::config
