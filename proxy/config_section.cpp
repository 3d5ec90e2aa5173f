#include "proxy/config_section.hpp"

namespace gt::proxy::section {

void fail(const std::string& where, const std::string& msg) {
  throw ConfigError(where + ": " + msg);
}

long long integer(const YAML::Node& n, const std::string& where, long long lo, long long hi) {
  long long v = 0;
  try {
    v = n.as<long long>();
  } catch (const YAML::Exception&) {
    fail(where, "must be an integer");
  }
  if (v < lo || v > hi)
    fail(where, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return v;
}

}  // namespace gt::proxy::section
