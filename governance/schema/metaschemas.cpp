#include "governance/schema/metaschemas.hpp"

namespace gt::gov::schema {

const nlohmann::json* builtin_metaschema(std::string_view /*uri*/) {
  return nullptr;
}

}  // namespace gt::gov::schema
