// Meta-schemas known without a schema_dir, so that a schema may `$ref` its own dialect's
// meta-schema (e.g. to accept a schema as an argument) without any network access.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

namespace gt::gov::schema {

// The document for `uri` (no fragment), or null.
const nlohmann::json* builtin_metaschema(std::string_view uri);

}  // namespace gt::gov::schema
