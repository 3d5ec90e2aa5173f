// YAML → JSON with YAML 1.2 core-schema scalars: plain `null`/`~`, `true`/`false`, ints,
// floats are typed; quoted scalars are always strings.
#pragma once

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

namespace gt::gov::policy {

nlohmann::json yaml_to_json(const YAML::Node& node);

}  // namespace gt::gov::policy
