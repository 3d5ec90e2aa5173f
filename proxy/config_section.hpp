// Reading one config section that an interceptor or a front parses itself (governance.audit,
// http.auth): the error every problem becomes, and the integer check they share. Each throws
// ConfigError("<where>: <message>").
#pragma once

#include <string>

#include <yaml-cpp/yaml.h>

#include "proxy/config.hpp"

namespace gt::proxy::section {

[[noreturn]] void fail(const std::string& where, const std::string& msg);
// An integer in [lo, hi].
long long integer(const YAML::Node& n, const std::string& where, long long lo, long long hi);

}  // namespace gt::proxy::section
