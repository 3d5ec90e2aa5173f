// The compiled form of a schema: a graph of Schema nodes with typed keyword fields and
// resolved references. Private to gt_schema (compile.cpp builds it, evaluate.cpp runs it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <re2/re2.h>
#include <nlohmann/json.hpp>

#include "governance/schema/format.hpp"
#include "governance/schema/validator.hpp"

namespace gt::gov::schema {

enum TypeBit : std::uint8_t {
  kNull = 1,
  kBoolean = 2,
  kObject = 4,
  kArray = 8,
  kNumber = 16,
  kString = 32,
  kInteger = 64,
};

struct Regex {
  std::shared_ptr<const RE2> re;
  std::string source;  // the schema's ECMA-262 text, for messages
};

struct Schema;

// A schema resource (a document or a subschema with $id): the unit of the dynamic scope.
struct Resource {
  std::string uri;
  std::unordered_map<std::string, const Schema*> dynamic_anchors;
};

constexpr std::size_t kUnset = static_cast<std::size_t>(-1);

struct Schema {
  enum class Kind : std::uint8_t { True, False, Object };
  Kind kind = Kind::Object;
  std::string location;  // "#/properties/path" (prefixed by the document URI when remote)
  const Resource* resource = nullptr;

  std::uint8_t types = 0;  // TypeBit mask; 0 = no `type` keyword

  // References.
  const Schema* ref = nullptr;
  const Schema* dynamic_ref = nullptr;  // statically resolved target of $dynamicRef
  std::string dynamic_anchor;           // non-empty: the target may be replaced dynamically
  bool has_dynamic_ref = false;

  // In-place applicators.
  std::vector<const Schema*> all_of, any_of, one_of;
  const Schema* not_ = nullptr;
  const Schema* if_ = nullptr;
  const Schema* then_ = nullptr;
  const Schema* else_ = nullptr;

  // Numbers (doubles: instance integers are compared exactly as long double).
  bool has_minimum = false, has_maximum = false, has_xminimum = false, has_xmaximum = false;
  double minimum = 0, maximum = 0, xminimum = 0, xmaximum = 0;
  bool has_multiple_of = false;
  double multiple_of = 0;
  std::int64_t multiple_of_int = 0;  // > 0 when multipleOf is an integer

  // Strings.
  std::size_t min_length = kUnset, max_length = kUnset;
  bool has_pattern = false;
  Regex pattern;
  detail::Format format = detail::Format::None;
  std::string format_name;

  // Arrays.
  std::vector<const Schema*> prefix_items;
  const Schema* items = nullptr;  // items after prefix_items
  const Schema* contains = nullptr;
  std::size_t min_contains = 1, max_contains = kUnset;
  std::size_t min_items = kUnset, max_items = kUnset;
  bool unique_items = false;
  const Schema* unevaluated_items = nullptr;

  // Objects.
  std::vector<std::pair<std::string, const Schema*>> properties;  // sorted by name
  std::vector<std::pair<Regex, const Schema*>> pattern_properties;
  const Schema* additional_properties = nullptr;
  const Schema* property_names = nullptr;
  const Schema* unevaluated_properties = nullptr;
  std::vector<std::string> required;
  std::vector<std::pair<std::string, std::vector<std::string>>> dependent_required;
  std::vector<std::pair<std::string, const Schema*>> dependent_schemas;
  std::size_t min_properties = kUnset, max_properties = kUnset;

  // Any type.
  bool has_const = false;
  nlohmann::json const_value;
  bool has_enum = false;
  std::vector<nlohmann::json> enum_sorted;  // sorted by json_compare, duplicates removed
  std::size_t enum_count = 0;               // as written, for messages
  std::string enum_preview;                 // first values, for messages

  // Bookkeeping.
  bool has_object_keywords = false;  // any keyword that applies to objects
  bool has_array_keywords = false;
  bool has_string_keywords = false;
  bool has_number_keywords = false;
  bool has_unevaluated = false;  // unevaluatedProperties or unevaluatedItems
};

struct Program {
  std::deque<Schema> nodes;  // stable addresses
  std::deque<Resource> resources;
  const Schema* root = nullptr;
  Limits limits;
  bool format_assertion = false;
  std::string dialect;
};

}  // namespace gt::gov::schema
