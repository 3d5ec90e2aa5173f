// Fuzzes the compactor every client message passes through (transport/compact.hpp): for any
// input, the compact text is valid JSON exactly when the input is, parses to the same value,
// has no whitespace between tokens and no raw LF or CR; a refusal is either a repeated member
// name (which a parser keeping the last copy silently accepts) or an input that is not JSON.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "transport/compact.hpp"
#include "transport/inspect.hpp"

namespace {

// Counts repeated member names the way a parser that keeps every member would see them.
struct DuplicateFinder : nlohmann::json_sax<nlohmann::json> {
  std::vector<std::vector<std::string>> names;
  bool duplicate = false;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    names.emplace_back();
    return true;
  }
  bool key(string_t& k) override {
    for (const auto& n : names.back()) {
      if (n == k) duplicate = true;
    }
    names.back().push_back(k);
    return true;
  }
  bool end_object() override {
    names.pop_back();
    return true;
  }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 16) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string out;
  auto err = gt::transport::compact(in, out, 64);
  const bool in_valid =
      gt::transport::inspect(in, 64).shape != gt::transport::Inspection::Shape::Malformed;
  if (err) {
    if (err.message.find("nesting") != std::string::npos) return 0;
    if (err.message.find("malformed") != std::string::npos) {
      if (in_valid) std::abort();  // called a valid document malformed
      return 0;
    }
    if (!in_valid) return 0;
    DuplicateFinder d;
    if (!nlohmann::json::sax_parse(std::string(in), &d)) return 0;  // nlohmann refuses it
    if (!d.duplicate) std::abort();  // refused a valid document without a repeated name
    return 0;
  }
  if (out.size() > in.size()) std::abort();
  const bool out_valid =
      gt::transport::inspect(out, 64).shape != gt::transport::Inspection::Shape::Malformed;
  if (in_valid != out_valid) std::abort();  // compaction changed whether it is JSON
  if (!in_valid) return 0;
  if (!gt::transport::is_compact(out)) std::abort();
  if (out.find_first_of("\r\n") != std::string::npos) std::abort();
  auto a = nlohmann::json::parse(std::string(in), nullptr, false);
  auto b = nlohmann::json::parse(out, nullptr, false);
  if (a.is_discarded() != b.is_discarded()) std::abort();
  if (!a.is_discarded() && a != b) std::abort();  // the same value, member for member
  DuplicateFinder d;
  nlohmann::json::sax_parse(out, &d);
  if (d.duplicate) std::abort();  // a repeated name got through
  return 0;
}
