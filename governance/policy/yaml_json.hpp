// YAML → JSON with YAML 1.2 core-schema scalars: plain `null`/`~`, `true`/`false`, ints,
// floats are typed; quoted scalars are always strings.
#pragma once

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

namespace gt::gov::policy {

nlohmann::json yaml_to_json(const YAML::Node& node);
// The typing of one plain (unquoted) scalar: null, bool, int, float, else string.
nlohmann::json yaml_plain_scalar(const std::string& text);

}  // namespace gt::gov::policy
