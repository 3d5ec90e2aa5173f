// Validator::validate(): runs a compiled Program over an instance.
//
// Two modes share one evaluator: collecting (every violation is recorded, with its
// instance pointer) and quiet (inside anyOf/oneOf/not/if/contains, or is_valid(): stop at
// the first failure). Annotations for unevaluatedProperties/Items are gathered only under
// a schema that has one of those keywords; elsewhere they cost nothing.
#include <algorithm>
#include <cmath>

#include <boost/container/small_vector.hpp>

#include "governance/schema/compiled.hpp"
#include "governance/schema/json_util.hpp"
#include "governance/schema/regex.hpp"

namespace gt::gov::schema {

using json = nlohmann::json;

namespace {

// What a schema evaluated at one instance location (JSON Schema "annotations" for the
// unevaluated* keywords). Property names are pointers to the instance's own keys.
struct Annotations {
  bool all_props = false;
  std::vector<const std::string*> props;
  bool all_items = false;
  std::size_t prefix = 0;
  std::vector<std::size_t> items;

  void merge(const Annotations& o) {
    all_props = all_props || o.all_props;
    if (!all_props) props.insert(props.end(), o.props.begin(), o.props.end());
    all_items = all_items || o.all_items;
    prefix = std::max(prefix, o.prefix);
    if (!all_items) items.insert(items.end(), o.items.begin(), o.items.end());
  }
};

struct PathSeg {
  const std::string* key;  // null: array index
  std::size_t index;
};

std::string type_list(std::uint8_t t) {
  static const std::pair<std::uint8_t, const char*> names[] = {
      {kNull, "null"},     {kBoolean, "boolean"}, {kObject, "object"},  {kArray, "array"},
      {kNumber, "number"}, {kString, "string"},   {kInteger, "integer"}};
  std::string out;
  int n = 0;
  for (auto& [bit, name] : names) {
    if (t & bit) {
      if (n++) out += " or ";
      out += name;
    }
  }
  return out;
}

std::string num(double d) {
  json j = d;
  if (std::floor(d) == d && std::fabs(d) < 1e15) j = static_cast<std::int64_t>(d);
  return j.dump();
}

class Evaluator {
 public:
  Evaluator(const Program& p, Validator::Result* out)
      : p_(p), lim_(p.limits), out_(out), collect_(out != nullptr) {}

  bool run(const json& v) { return eval(p_.root, v, nullptr); }
  bool aborted() const { return aborted_; }
  const std::string& abort_reason() const { return abort_reason_; }

 private:
  struct Quiet {
    explicit Quiet(Evaluator& e) : e_(e), saved_(e.collect_) { e.collect_ = false; }
    ~Quiet() { e_.collect_ = saved_; }
    Evaluator& e_;
    bool saved_;
  };
  struct Step {
    Step(Evaluator& e, const std::string* key, std::size_t idx) : e_(e) {
      e.path_.push_back({key, idx});
    }
    ~Step() { e_.path_.pop_back(); }
    Evaluator& e_;
  };

  bool abort(std::string why) {
    if (!aborted_) {
      aborted_ = true;
      abort_reason_ = std::move(why);
    }
    return false;
  }

  bool charge(std::uint64_t n) {
    steps_ += n;
    if (steps_ > lim_.max_steps) {
      return abort("validation exceeded the work limit of " + std::to_string(lim_.max_steps) +
                   " steps");
    }
    return true;
  }

  std::string pointer() const {
    std::string out;
    for (const auto& seg : path_) {
      if (seg.key) {
        if (seg.key->size() > 256) {
          detail::append_pointer_token(out, detail::quote(*seg.key, 256));
        } else {
          detail::append_pointer_token(out, *seg.key);
        }
      } else {
        out.push_back('/');
        out += std::to_string(seg.index);
      }
    }
    return out;
  }

  // Records a violation (collecting mode only). Always returns false.
  template <class MakeMessage>
  bool fail(const Schema* s, const char* kw, MakeMessage&& make) {
    if (!collect_) return false;
    if (out_->violations.size() >= lim_.max_violations) {
      ++out_->omitted;
      return false;
    }
    Violation v;
    v.instance_pointer = pointer();
    v.keyword = kw;
    v.schema_pointer = s->location + "/" + kw;
    v.message = make();
    out_->violations.push_back(std::move(v));
    return false;
  }

  bool apply(const Schema* sub, const json& v, Annotations* a) {
    if (!a) return eval(sub, v, nullptr);
    Annotations tmp;
    bool ok = eval(sub, v, &tmp);
    if (ok) a->merge(tmp);
    return ok;
  }

  static bool type_ok(std::uint8_t t, const json& v) {
    switch (v.type()) {
      case json::value_t::null:
        return t & kNull;
      case json::value_t::boolean:
        return t & kBoolean;
      case json::value_t::object:
        return t & kObject;
      case json::value_t::array:
        return t & kArray;
      case json::value_t::string:
        return t & kString;
      case json::value_t::number_integer:
      case json::value_t::number_unsigned:
        return t & (kNumber | kInteger);
      case json::value_t::number_float: {
        if (t & kNumber) return true;
        double d = v.get<double>();
        return (t & kInteger) && std::isfinite(d) && std::floor(d) == d;
      }
      default:
        return false;
    }
  }

  bool eval(const Schema* s, const json& v, Annotations* ann) {
    if (aborted_) return false;
    if (!charge(1)) return false;
    if (s->kind == Schema::Kind::True) return true;
    if (s->kind == Schema::Kind::False) {
      return fail(s, "false", [] { return std::string("no value is allowed here"); });
    }
    if (depth_ >= lim_.max_eval_depth) {
      return abort("schema evaluation nests deeper than " + std::to_string(lim_.max_eval_depth) +
                   " levels (a $ref cycle or a very deep instance)");
    }
    struct Depth {
      explicit Depth(Evaluator& e) : e_(e) { ++e.depth_; }
      ~Depth() { --e_.depth_; }
      Evaluator& e_;
    } depth_guard(*this);
    bool pushed = false;
    if (scope_.empty() || scope_.back() != s->resource) {
      scope_.push_back(s->resource);
      pushed = true;
    }
    bool ok = body(s, v, ann);
    if (pushed) scope_.pop_back();
    return ok && !aborted_;
  }

  bool body(const Schema* s, const json& v, Annotations* ann) {
    const bool stop = !collect_;  // quiet: the first failure decides
    bool ok = true;
    Annotations local;
    Annotations* a = s->has_unevaluated ? &local : ann;

#define GT_CHECK(expr)                    \
  do {                                    \
    if (!(expr)) {                        \
      ok = false;                         \
      if (stop || aborted_) return false; \
    }                                     \
  } while (0)

    if (s->ref) GT_CHECK(apply(s->ref, v, a));
    if (s->has_dynamic_ref) GT_CHECK(apply(dynamic_target(s), v, a));

    if (s->types && !type_ok(s->types, v)) {
      GT_CHECK(fail(s, "type", [&] {
        return "expected " + type_list(s->types) + ", got " + detail::type_name(v);
      }));
    }
    if (s->has_const) {
      std::uint64_t work = 0;
      bool eq = detail::json_equal(s->const_value, v, work);
      if (!charge(work)) return false;
      if (!eq) {
        GT_CHECK(
            fail(s, "const", [&] { return "must equal " + detail::short_value(s->const_value); }));
      }
    }
    if (s->has_enum) GT_CHECK(check_enum(s, v));

    switch (v.type()) {
      case json::value_t::number_integer:
      case json::value_t::number_unsigned:
      case json::value_t::number_float:
        if (s->has_number_keywords) GT_CHECK(check_number(s, v));
        break;
      case json::value_t::string:
        if (s->has_string_keywords) GT_CHECK(check_string(s, v.get_ref<const std::string&>()));
        break;
      case json::value_t::array:
        if (s->has_array_keywords) GT_CHECK(check_array(s, v, a));
        break;
      case json::value_t::object:
        if (s->has_object_keywords) GT_CHECK(check_object(s, v, a));
        break;
      default:
        break;
    }

    for (const Schema* sub : s->all_of)
      GT_CHECK(apply(sub, v, a));
    if (!s->any_of.empty()) GT_CHECK(check_any_of(s, v, a));
    if (!s->one_of.empty()) GT_CHECK(check_one_of(s, v, a));
    if (s->not_) {
      bool matched;
      {
        Quiet q(*this);
        matched = eval(s->not_, v, nullptr);
      }
      if (aborted_) return false;
      if (matched)
        GT_CHECK(fail(s, "not", [] { return std::string("must not match the schema in `not`"); }));
    }
    if (s->if_) {
      bool cond;
      Annotations cond_ann;
      {
        Quiet q(*this);
        cond = eval(s->if_, v, a ? &cond_ann : nullptr);
      }
      if (aborted_) return false;
      if (cond) {
        if (a) a->merge(cond_ann);
        if (s->then_) GT_CHECK(apply(s->then_, v, a));
      } else if (s->else_) {
        GT_CHECK(apply(s->else_, v, a));
      }
    }

    if (s->has_unevaluated) {
      if (s->unevaluated_properties && v.is_object())
        GT_CHECK(check_unevaluated_props(s, v, local));
      if (s->unevaluated_items && v.is_array()) GT_CHECK(check_unevaluated_items(s, v, local));
      if (ok && ann) ann->merge(local);
    }
#undef GT_CHECK
    return ok;
  }

  const Schema* dynamic_target(const Schema* s) const {
    if (!s->dynamic_anchor.empty()) {
      // The outermost resource in the dynamic scope that declares the anchor wins.
      for (const Resource* r : scope_) {
        if (!r) continue;
        auto it = r->dynamic_anchors.find(s->dynamic_anchor);
        if (it != r->dynamic_anchors.end()) return it->second;
      }
    }
    return s->dynamic_ref;
  }

  bool check_enum(const Schema* s, const json& v) {
    std::uint64_t work = 0;
    bool found = std::binary_search(
        s->enum_sorted.begin(), s->enum_sorted.end(), v,
        [&](const json& x, const json& y) { return detail::json_compare(x, y, work) < 0; });
    if (!charge(work)) return false;
    if (found) return true;
    return fail(s, "enum", [&] {
      if (s->enum_count == 0) return std::string("no value is allowed (empty `enum`)");
      return "must be one of " + s->enum_preview;
    });
  }

  bool check_number(const Schema* s, const json& v) {
    bool ok = true;
    long double x;
    if (v.is_number_unsigned()) {
      x = static_cast<long double>(v.get<std::uint64_t>());
    } else if (v.is_number_integer()) {
      x = static_cast<long double>(v.get<std::int64_t>());
    } else {
      x = static_cast<long double>(v.get<double>());
    }
    if (s->has_minimum && x < s->minimum) {
      ok = fail(s, "minimum", [&] { return "must be >= " + num(s->minimum); });
      if (!collect_) return false;
    }
    if (s->has_maximum && x > s->maximum) {
      ok = fail(s, "maximum", [&] { return "must be <= " + num(s->maximum); });
      if (!collect_) return false;
    }
    if (s->has_xminimum && x <= s->xminimum) {
      ok = fail(s, "exclusiveMinimum", [&] { return "must be > " + num(s->xminimum); });
      if (!collect_) return false;
    }
    if (s->has_xmaximum && x >= s->xmaximum) {
      ok = fail(s, "exclusiveMaximum", [&] { return "must be < " + num(s->xmaximum); });
      if (!collect_) return false;
    }
    if (s->has_multiple_of) {
      bool multiple;
      if (s->multiple_of_int > 0 && v.is_number_integer() && !v.is_number_unsigned()) {
        multiple = v.get<std::int64_t>() % s->multiple_of_int == 0;
      } else if (s->multiple_of_int > 0 && v.is_number_unsigned()) {
        multiple = v.get<std::uint64_t>() % static_cast<std::uint64_t>(s->multiple_of_int) == 0;
      } else {
        double q = v.get<double>() / s->multiple_of;
        multiple = std::isfinite(q) &&
                   std::fabs(q - std::nearbyint(q)) <= 1e-9 * std::max(1.0, std::fabs(q));
      }
      if (!multiple)
        ok = fail(s, "multipleOf", [&] { return "must be a multiple of " + num(s->multiple_of); });
    }
    return ok;
  }

  bool check_string(const Schema* s, const std::string& str) {
    bool ok = true;
    if (s->min_length != kUnset || s->max_length != kUnset) {
      if (!charge(str.size() >> 8)) return false;
      std::size_t n = detail::utf8_length(str);
      if (s->min_length != kUnset && n < s->min_length) {
        ok = fail(s, "minLength", [&] {
          return "must be at least " + std::to_string(s->min_length) + " characters long (is " +
                 std::to_string(n) + ")";
        });
        if (!collect_) return false;
      }
      if (s->max_length != kUnset && n > s->max_length) {
        ok = fail(s, "maxLength", [&] {
          return "must be at most " + std::to_string(s->max_length) + " characters long (is " +
                 std::to_string(n) + ")";
        });
        if (!collect_) return false;
      }
    }
    if (s->has_pattern) {
      if (!charge(1 + (str.size() >> 6))) return false;
      if (!detail::regex_search(*s->pattern.re, str)) {
        ok = fail(s, "pattern", [&] {
          return "must match the pattern `" + detail::quote(s->pattern.source, 120) + "`";
        });
        if (!collect_) return false;
      }
    }
    if (s->format != detail::Format::None && p_.format_assertion) {
      if (!charge(1 + (str.size() >> 6))) return false;
      if (!detail::check_format(s->format, str)) {
        ok = fail(s, "format", [&] { return "must be a valid `" + s->format_name + "`"; });
      }
    }
    return ok;
  }

  bool check_array(const Schema* s, const json& v, Annotations* a) {
    const bool stop = !collect_;
    bool ok = true;
    const std::size_t n = v.size();
    if (s->min_items != kUnset && n < s->min_items) {
      ok = fail(s, "minItems", [&] {
        return "must have at least " + std::to_string(s->min_items) + " items (has " +
               std::to_string(n) + ")";
      });
      if (stop) return false;
    }
    if (s->max_items != kUnset && n > s->max_items) {
      ok = fail(s, "maxItems", [&] {
        return "must have at most " + std::to_string(s->max_items) + " items (has " +
               std::to_string(n) + ")";
      });
      if (stop) return false;
    }
    if (s->unique_items && n > 1) {
      // Sort pointers by the JSON total order, then compare neighbours: O(n log n), with
      // no hash that an attacker could collide.
      std::vector<std::size_t> idx(n);
      for (std::size_t i = 0; i < n; ++i)
        idx[i] = i;
      std::uint64_t work = 0;
      std::stable_sort(idx.begin(), idx.end(), [&](std::size_t x, std::size_t y) {
        return detail::json_compare(v[x], v[y], work) < 0;
      });
      if (!charge(work)) return false;
      for (std::size_t i = 1; i < n; ++i) {
        std::uint64_t w2 = 0;
        if (detail::json_equal(v[idx[i - 1]], v[idx[i]], w2)) {
          std::size_t first = std::min(idx[i - 1], idx[i]), second = std::max(idx[i - 1], idx[i]);
          ok = fail(s, "uniqueItems", [&] {
            return "items " + std::to_string(first) + " and " + std::to_string(second) +
                   " are equal; items must be unique";
          });
          if (stop) return false;
          break;
        }
      }
    }
    const std::size_t np = s->prefix_items.size();
    for (std::size_t i = 0; i < n && i < np; ++i) {
      Step st(*this, nullptr, i);
      if (!eval(s->prefix_items[i], v[i], nullptr)) {
        ok = false;
        if (stop || aborted_) return false;
      }
    }
    if (a && np) a->prefix = std::max(a->prefix, std::min(n, np));
    if (s->items) {
      for (std::size_t i = np; i < n; ++i) {
        Step st(*this, nullptr, i);
        if (!eval(s->items, v[i], nullptr)) {
          ok = false;
          if (stop || aborted_) return false;
        }
      }
      if (a) a->all_items = true;
    }
    if (s->contains) {
      std::size_t count = 0;
      const bool need_all = a != nullptr || s->max_contains != kUnset;
      {
        Quiet q(*this);
        for (std::size_t i = 0; i < n; ++i) {
          Step st(*this, nullptr, i);
          if (eval(s->contains, v[i], nullptr)) {
            ++count;
            if (a) a->items.push_back(i);
            if (!need_all && count >= s->min_contains) break;
          }
          if (aborted_) return false;
        }
      }
      if (count < s->min_contains) {
        ok = fail(s, s->min_contains == 1 ? "contains" : "minContains", [&] {
          if (s->min_contains == 1)
            return std::string("must contain at least one item that matches `contains`");
          return "must contain at least " + std::to_string(s->min_contains) +
                 " items that match `contains` (has " + std::to_string(count) + ")";
        });
        if (stop) return false;
      }
      if (s->max_contains != kUnset && count > s->max_contains) {
        ok = fail(s, "maxContains", [&] {
          return "must contain at most " + std::to_string(s->max_contains) +
                 " items that match `contains` (has " + std::to_string(count) + ")";
        });
        if (stop) return false;
      }
    }
    return ok;
  }

  bool check_object(const Schema* s, const json& v, Annotations* a) {
    const bool stop = !collect_;
    bool ok = true;
    const std::size_t n = v.size();
    if (s->min_properties != kUnset && n < s->min_properties) {
      ok = fail(s, "minProperties", [&] {
        return "must have at least " + std::to_string(s->min_properties) + " properties";
      });
      if (stop) return false;
    }
    if (s->max_properties != kUnset && n > s->max_properties) {
      ok = fail(s, "maxProperties", [&] {
        return "must have at most " + std::to_string(s->max_properties) + " properties";
      });
      if (stop) return false;
    }
    for (const auto& name : s->required) {
      if (v.find(name) == v.end()) {
        ok = fail(s, "required",
                  [&] { return "missing required property `" + detail::quote(name) + "`"; });
        if (stop) return false;
      }
    }
    for (const auto& dep : s->dependent_required) {
      const std::string& prop = dep.first;  // not a structured binding: lambdas capture it
      if (v.find(prop) == v.end()) continue;
      for (const auto& name : dep.second) {
        if (v.find(name) == v.end()) {
          ok = fail(s, "dependentRequired", [&] {
            return "missing property `" + detail::quote(name) + "`, required when `" +
                   detail::quote(prop) + "` is present";
          });
          if (stop) return false;
        }
      }
    }
    const bool walk = !s->properties.empty() || !s->pattern_properties.empty() ||
                      s->additional_properties || s->property_names;
    if (walk) {
      if (!charge(n)) return false;
      for (auto it = v.begin(); it != v.end(); ++it) {
        const std::string& key = it.key();
        Step st(*this, &key, 0);
        if (s->property_names) {
          bool good;
          {
            Quiet q(*this);
            good = eval(s->property_names, json(key), nullptr);
          }
          if (aborted_) return false;
          if (!good) {
            ok = fail(s, "propertyNames", [&] {
              return "property name `" + detail::quote(key) + "` is not allowed by `propertyNames`";
            });
            if (stop) return false;
          }
        }
        bool matched = false;
        if (!s->properties.empty()) {
          auto pit =
              std::lower_bound(s->properties.begin(), s->properties.end(), key,
                               [](const auto& p, const std::string& k) { return p.first < k; });
          if (pit != s->properties.end() && pit->first == key) {
            matched = true;
            if (!eval(pit->second, it.value(), nullptr)) {
              ok = false;
              if (stop || aborted_) return false;
            }
          }
        }
        for (const auto& [re, sub] : s->pattern_properties) {
          if (!charge(1 + (key.size() >> 6))) return false;
          if (detail::regex_search(*re.re, key)) {
            matched = true;
            if (!eval(sub, it.value(), nullptr)) {
              ok = false;
              if (stop || aborted_) return false;
            }
          }
        }
        if (!matched && s->additional_properties) {
          if (s->additional_properties->kind == Schema::Kind::False) {
            ok = fail(s, "additionalProperties",
                      [&] { return "property `" + detail::quote(key) + "` is not allowed"; });
            if (stop) return false;
          } else if (!eval(s->additional_properties, it.value(), nullptr)) {
            ok = false;
            if (stop || aborted_) return false;
          }
        }
        if (a && matched) a->props.push_back(&key);
      }
      if (a && s->additional_properties) a->all_props = true;
    }
    for (const auto& [prop, sub] : s->dependent_schemas) {
      if (v.find(prop) == v.end()) continue;
      if (!apply(sub, v, a)) {
        ok = false;
        if (stop || aborted_) return false;
      }
    }
    return ok;
  }

  bool check_any_of(const Schema* s, const json& v, Annotations* a) {
    bool any = false;
    {
      Quiet q(*this);
      for (const Schema* sub : s->any_of) {
        if (apply(sub, v, a)) {
          any = true;
          if (!a) break;  // annotations need every matching branch
        }
        if (aborted_) return false;
      }
    }
    if (any) return true;
    return fail(s, "anyOf", [&] {
      return "must match at least one of the " + std::to_string(s->any_of.size()) +
             " schemas in `anyOf`";
    });
  }

  bool check_one_of(const Schema* s, const json& v, Annotations* a) {
    std::size_t matches = 0, first = 0, second = 0;
    Annotations chosen;
    {
      Quiet q(*this);
      for (std::size_t i = 0; i < s->one_of.size(); ++i) {
        Annotations tmp;
        if (eval(s->one_of[i], v, a ? &tmp : nullptr)) {
          if (matches == 0) {
            first = i;
            if (a) chosen = std::move(tmp);
          } else {
            second = i;
          }
          if (++matches > 1) break;
        }
        if (aborted_) return false;
      }
    }
    if (matches == 1) {
      if (a) a->merge(chosen);
      return true;
    }
    if (matches == 0) {
      return fail(s, "oneOf", [&] {
        return "must match exactly one of the " + std::to_string(s->one_of.size()) +
               " schemas in `oneOf`, matches none";
      });
    }
    return fail(s, "oneOf", [&] {
      return "must match exactly one schema in `oneOf`, matches both " + std::to_string(first) +
             " and " + std::to_string(second);
    });
  }

  bool check_unevaluated_props(const Schema* s, const json& v, Annotations& local) {
    if (local.all_props) return true;
    const bool stop = !collect_;
    bool ok = true;
    std::sort(local.props.begin(), local.props.end());
    if (!charge(v.size())) return false;
    for (auto it = v.begin(); it != v.end(); ++it) {
      const std::string* key = &it.key();
      if (std::binary_search(local.props.begin(), local.props.end(), key)) continue;
      Step st(*this, key, 0);
      if (s->unevaluated_properties->kind == Schema::Kind::False) {
        ok = fail(s, "unevaluatedProperties",
                  [&] { return "property `" + detail::quote(*key) + "` is not allowed"; });
        if (stop) return false;
      } else if (!eval(s->unevaluated_properties, it.value(), nullptr)) {
        ok = false;
        if (stop || aborted_) return false;
      }
    }
    if (ok) local.all_props = true;
    return ok;
  }

  bool check_unevaluated_items(const Schema* s, const json& v, Annotations& local) {
    if (local.all_items) return true;
    const bool stop = !collect_;
    bool ok = true;
    std::sort(local.items.begin(), local.items.end());
    if (!charge(v.size())) return false;
    for (std::size_t i = local.prefix; i < v.size(); ++i) {
      if (std::binary_search(local.items.begin(), local.items.end(), i)) continue;
      Step st(*this, nullptr, i);
      if (s->unevaluated_items->kind == Schema::Kind::False) {
        ok = fail(s, "unevaluatedItems",
                  [&] { return "item " + std::to_string(i) + " is not allowed"; });
        if (stop) return false;
      } else if (!eval(s->unevaluated_items, v[i], nullptr)) {
        ok = false;
        if (stop || aborted_) return false;
      }
    }
    if (ok) local.all_items = true;
    return ok;
  }

  const Program& p_;
  const Limits& lim_;
  Validator::Result* out_;
  bool collect_;
  std::uint64_t steps_ = 0;
  std::size_t depth_ = 0;
  bool aborted_ = false;
  std::string abort_reason_;
  // Inline storage: the happy path of a typical call allocates nothing.
  boost::container::small_vector<const Resource*, 8> scope_;
  boost::container::small_vector<PathSeg, 16> path_;
};

Validator::Result limit_result(std::string why) {
  Validator::Result r;
  r.valid = false;
  r.aborted = true;
  r.violations.push_back({"", "limit", "", std::move(why)});
  return r;
}

}  // namespace

Validator::Result Validator::validate(const json& instance) const {
  const Limits& l = program_->limits;
  auto m =
      detail::measure(instance, l.max_depth, l.max_nodes, l.max_string_bytes, l.max_instance_bytes);
  if (!m.exceeded.empty()) return limit_result(m.exceeded);
  Result r;
  Evaluator e(*program_, &r);
  bool ok = e.run(instance);
  if (e.aborted()) {
    Result lr = limit_result(e.abort_reason());
    return lr;
  }
  r.valid = ok;
  if (!ok && r.violations.empty() && r.omitted == 0) {
    r.violations.push_back({"", "schema", "#", "does not match the schema"});
  }
  return r;
}

bool Validator::is_valid(const json& instance) const {
  const Limits& l = program_->limits;
  auto m =
      detail::measure(instance, l.max_depth, l.max_nodes, l.max_string_bytes, l.max_instance_bytes);
  if (!m.exceeded.empty()) return false;
  Evaluator e(*program_, nullptr);
  return e.run(instance) && !e.aborted();
}

std::string_view Validator::dialect() const {
  return program_->dialect;
}

std::string summarize(const Validator::Result& r, std::size_t max_chars) {
  std::string out;
  for (const auto& v : r.violations) {
    std::string line = "`" + (v.instance_pointer.empty() ? std::string("") : v.instance_pointer) +
                       "` " + v.keyword + ": " + v.message;
    if (v.instance_pointer.empty()) line = "(root) " + v.keyword + ": " + v.message;
    if (!out.empty()) out += "; ";
    if (out.size() + line.size() > max_chars) {
      out += "...";
      return out;
    }
    out += line;
  }
  if (r.omitted) out += "; and " + std::to_string(r.omitted) + " more";
  return out;
}

}  // namespace gt::gov::schema
