#include "governance/policy/yaml_json.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace gt::gov::policy {

namespace {

bool all_digits(const std::string& s, size_t from) {
  if (from >= s.size()) return false;
  for (size_t i = from; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

nlohmann::json plain_scalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  size_t sign = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (all_digits(s, sign)) {
    errno = 0;
    long long v = std::strtoll(s.c_str(), nullptr, 10);
    if (errno != ERANGE) return static_cast<int64_t>(v);
  }
  if (s.size() > 2 && s[0] == '0' && s[1] == 'x') {
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s.c_str() + 2, &end, 16);
    if (errno != ERANGE && end && *end == '\0' &&
        v <= static_cast<unsigned long long>(std::numeric_limits<int64_t>::max())) {
      return static_cast<int64_t>(v);
    }
  }
  if (s == ".inf" || s == "+.inf" || s == ".Inf") return std::numeric_limits<double>::infinity();
  if (s == "-.inf" || s == "-.Inf") return -std::numeric_limits<double>::infinity();
  // float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
  {
    size_t i = sign;
    size_t digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9')
      ++i, ++digits;
    if (i < s.size() && s[i] == '.') {
      ++i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9')
        ++i, ++digits;
    }
    if (digits > 0 && i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
      ++i;
      if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
      size_t e = 0;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9')
        ++i, ++e;
      if (e == 0) digits = 0;
    }
    if (digits > 0 && i == s.size()) return std::strtod(s.c_str(), nullptr);
  }
  return s;
}

}  // namespace

nlohmann::json yaml_plain_scalar(const std::string& text) {
  return plain_scalar(text);
}

nlohmann::json yaml_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return nullptr;
    case YAML::NodeType::Scalar:
      if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return node.Scalar();
      return plain_scalar(node.Scalar());
    case YAML::NodeType::Sequence: {
      auto arr = nlohmann::json::array();
      for (const auto& n : node)
        arr.push_back(yaml_to_json(n));
      return arr;
    }
    case YAML::NodeType::Map: {
      auto obj = nlohmann::json::object();
      for (const auto& kv : node)
        obj[kv.first.as<std::string>()] = yaml_to_json(kv.second);
      return obj;
    }
  }
  return nullptr;
}

}  // namespace gt::gov::policy
