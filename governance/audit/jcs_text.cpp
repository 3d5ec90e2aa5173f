#include "governance/audit/jcs_text.hpp"

#include <simdjson.h>

#include <algorithm>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "governance/audit/jcs.hpp"

namespace gt::gov::audit {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// Documents up to this size reuse the parser's buffers; a larger one gets a parser of its own
// that release() frees, so one huge result does not stay resident. (A parser holds about 8
// bytes per byte of capacity once used: a 900 KB result left 7 MB behind at 1 MB.)
constexpr std::size_t kKeepCapacity = 64 * 1024;
// Deeper than JCS accepts, so that canonicalization (not parsing) reports excessive depth,
// with the same message as the nlohmann path.
constexpr std::size_t kParseDepth = kJcsMaxDepth + 8;

// The members of an object in JCS order, a repeated name keeping only its last value.
std::vector<std::pair<std::string_view, element>> sorted_members(simdjson::dom::object obj) {
  std::vector<std::pair<std::string_view, element>> m;
  bool supplementary = false;
  for (auto field : obj) {
    m.emplace_back(field.key, field.value);
    supplementary = supplementary || has_supplementary(field.key);
  }
  // Stable, so that equal names stay in document order and the last one can be kept.
  if (supplementary) {
    std::stable_sort(m.begin(), m.end(),
                     [](const auto& a, const auto& b) { return utf16_less(a.first, b.first); });
  } else {
    std::stable_sort(m.begin(), m.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
  }
  std::size_t w = 0;
  for (std::size_t i = 0; i < m.size(); ++i) {
    if (i + 1 < m.size() && m[i + 1].first == m[i].first) continue;  // a later one wins
    m[w++] = m[i];
  }
  m.resize(w);
  return m;
}

void element_into(element v, std::string& out, int depth) {
  switch (v.type()) {
    case element_type::NULL_VALUE:
      out += "null";
      return;
    case element_type::BOOL:
      out += bool(v) ? "true" : "false";
      return;
    case element_type::INT64:
      jcs_integer_into(std::int64_t(v), out);
      return;
    case element_type::UINT64:
      jcs_integer_into(std::uint64_t(v), out);
      return;
    case element_type::DOUBLE:
      jcs_number_into(double(v), out);
      return;
    case element_type::STRING:
      jcs_string_into(std::string_view(v), out);
      return;
    case element_type::ARRAY: {
      if (depth >= kJcsMaxDepth) throw JcsError("nesting deeper than 512 levels");
      out += '[';
      bool first = true;
      for (element e : simdjson::dom::array(v)) {
        if (!first) out += ',';
        first = false;
        element_into(e, out, depth + 1);
      }
      out += ']';
      return;
    }
    case element_type::OBJECT: {
      if (depth >= kJcsMaxDepth) throw JcsError("nesting deeper than 512 levels");
      out += '{';
      bool first = true;
      for (const auto& [name, value] : sorted_members(simdjson::dom::object(v))) {
        if (!first) out += ',';
        first = false;
        jcs_string_into(name, out);
        out += ':';
        element_into(value, out, depth + 1);
      }
      out += '}';
      return;
    }
  }
}

// root[name], the last one if repeated.
bool find_last(element root, std::string_view name, element& found) {
  if (root.type() != element_type::OBJECT) return false;
  bool any = false;
  for (auto field : simdjson::dom::object(root)) {
    if (field.key == name) {
      found = field.value;
      any = true;
    }
  }
  return any;
}

}  // namespace

struct JcsText::Impl {
  simdjson::dom::parser parser{kKeepCapacity};
  std::unique_ptr<simdjson::dom::parser> big;  // for a document over kKeepCapacity
  element root;
};

JcsText::JcsText() : impl_(new Impl) {
  if (impl_->parser.allocate(kKeepCapacity, kParseDepth) != simdjson::SUCCESS) {
    delete impl_;
    throw std::bad_alloc();
  }
}

JcsText::~JcsText() {
  delete impl_;
}

bool JcsText::parse(std::string_view text) {
  impl_->big.reset();
  simdjson::dom::parser* p = &impl_->parser;
  if (text.size() > kKeepCapacity) {
    impl_->big = std::make_unique<simdjson::dom::parser>(text.size());
    if (impl_->big->allocate(text.size(), kParseDepth) != simdjson::SUCCESS) return false;
    p = impl_->big.get();
  }
  auto doc = p->parse(text.data(), text.size(), true);
  if (doc.error() != simdjson::SUCCESS) return false;
  impl_->root = doc.value_unsafe();
  return true;
}

void JcsText::release() {
  impl_->big.reset();
  impl_->root = element();
}

bool JcsText::root_has(std::string_view name) const {
  element e;
  return find_last(impl_->root, name, e);
}

bool JcsText::root_member_is_true(std::string_view name, std::string_view member) const {
  element e, m;
  return find_last(impl_->root, name, e) && find_last(e, member, m) &&
         m.type() == element_type::BOOL && bool(m);
}

std::string JcsText::canonical_member(std::string_view name) const {
  element e;
  std::string out;
  if (find_last(impl_->root, name, e)) element_into(e, out, 0);
  return out;
}

std::string JcsText::canonical() const {
  std::string out;
  element_into(impl_->root, out, 0);
  return out;
}

}  // namespace gt::gov::audit
