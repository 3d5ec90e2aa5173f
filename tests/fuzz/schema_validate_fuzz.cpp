// Fuzzes gt_schema end to end: the input is a schema (first line) and an instance (the
// rest). Both are hostile in production (servers write schemas, models write arguments).
// Properties checked beyond "no crash, no hang": validate() and is_valid() agree whenever
// validation was not cut short by a limit. The first line is also fed to the ECMA-262 ->
// RE2 translator as a raw pattern.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "governance/schema/regex.hpp"
#include "governance/schema/validator.hpp"

namespace gs = gt::gov::schema;
using nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto nl = in.find('\n');
  std::string_view schema_text = in.substr(0, nl);
  std::string_view inst_text =
      nl == std::string_view::npos ? std::string_view("null") : in.substr(nl + 1);

  gs::detail::compile_ecma_regex(schema_text, 1 << 20);

  json schema = json::parse(schema_text, nullptr, false);
  if (schema.is_discarded()) return 0;
  json inst = json::parse(inst_text, nullptr, false);
  if (inst.is_discarded()) inst = json(std::string(inst_text));

  gs::Options o;
  o.limits.max_steps = 200'000;
  o.format_assertion = (size & 1) != 0;
  auto c = gs::compile(schema, o);
  if (!c.validator) return 0;
  auto r = c.validator->validate(inst);
  bool quick = c.validator->is_valid(inst);
  if (!r.aborted && quick != r.valid) std::abort();
  if (!r.valid && r.violations.empty() && r.omitted == 0) std::abort();
  (void)gs::summarize(r);
  return 0;
}
