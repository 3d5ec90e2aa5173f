// Numeric and map-literal semantics checked against CEL (cel-spec doc/langdef.md and the
// conformance data of @bufbuild/cel-spec): each case here once differed from CEL.
#include <catch2/catch.hpp>

#include "helpers.hpp"

using gt_test::compile_error;
using gt_test::run_expr;
using nlohmann::json;

namespace {

bool is_error(const json& r) {
  return r.is_object() && r.contains("error");
}

}  // namespace

TEST_CASE("int() of a double accepts exactly the open range (-2^63, 2^63)", "[lang][cel]") {
  // cel-spec conversions.textproto: double_int_min_range and double_int_max_range are errors.
  CHECK(run_expr("int(-9223372036854775808.0)")["error"] ==
        "int() of -9.223372036854776e+18 is out of range");
  CHECK(is_error(run_expr("int(9223372036854775807.0)")));  // the double is 2^63
  CHECK(is_error(run_expr("int(1e99)")));
  CHECK(is_error(run_expr("int(-1e99)")));
  // The largest doubles inside the range convert exactly.
  CHECK(run_expr("int(-9223372036854774784.0)") == json(int64_t{-9223372036854774784}));
  CHECK(run_expr("int(9223372036854774784.0)") == json(int64_t{9223372036854774784}));
  CHECK(run_expr("int(-3.5)") == json(-3));
  CHECK(run_expr("int(11.5)") == json(11));
  // NaN and the infinities are errors, with CEL's spelling in the message.
  CHECK(run_expr("int(double('NaN'))")["error"] == "int() of NaN is out of range");
  CHECK(run_expr("int(double('inf'))")["error"] == "int() of Infinity is out of range");
  CHECK(run_expr("int(-double('inf'))")["error"] == "int() of -Infinity is out of range");
  json args = {{"x", -9223372036854775808.0}};
  CHECK(is_error(run_expr("int(args.x)", args)));
}

TEST_CASE("the literal -9223372036854775808 is INT64_MIN", "[lang][cel]") {
  CHECK(run_expr("-9223372036854775808") == json(std::numeric_limits<int64_t>::min()));
  CHECK(run_expr("-9223372036854775808 == -9223372036854775807 - 1") == json(true));
  CHECK(run_expr("-0x8000000000000000") == json(std::numeric_limits<int64_t>::min()));
  // Its magnitude alone is no int64, and negating it again overflows.
  CHECK(compile_error("9223372036854775808 == 0") ==
        "p.yaml:3:16: parse error: integer literal `9223372036854775808` is out of range (only "
        "`-9223372036854775808` is an int)");
  CHECK(compile_error("0x8000000000000000 == 0") ==
        "p.yaml:3:16: parse error: integer literal `0x8000000000000000` is out of range (only "
        "`-0x8000000000000000` is an int)");
  CHECK(compile_error("-9223372036854775809 == 0") ==
        "p.yaml:3:17: syntax error: integer literal `9223372036854775809` is out of range");
  CHECK(run_expr("-(-9223372036854775808)")["error"] == "integer overflow in `-`");
}

TEST_CASE("string() of NaN and the infinities uses CEL's spelling", "[lang][cel]") {
  // langdef.md, JSON data conversion: "NaN", "Infinity", "-Infinity".
  CHECK(run_expr("string(double('NaN'))") == json("NaN"));
  CHECK(run_expr("string(double('Infinity'))") == json("Infinity"));
  CHECK(run_expr("string(double('-Infinity'))") == json("-Infinity"));
  CHECK(run_expr("string(1.0 / 0.0)") == json("Infinity"));
  CHECK(run_expr("string(-1.0 / 0.0)") == json("-Infinity"));
  CHECK(run_expr("string(123.456)") == json("123.456"));
  CHECK(run_expr("string(-4.5e-3)") == json("-0.0045"));
}

TEST_CASE("int and double do not mix in arithmetic", "[lang][cel]") {
  // Statically known: a type error at load.
  CHECK(compile_error("1 + 1.5 > 0") ==
        "p.yaml:3:18: type error: `+` needs two ints or two doubles (convert with int() or "
        "double()), got int and double");
  CHECK(compile_error("2.0 * 3 > 0").find("`*` needs two ints or two doubles") !=
        std::string::npos);
  CHECK(compile_error("2.0 - 3 > 0").find("`-` needs two ints or two doubles") !=
        std::string::npos);
  CHECK(compile_error("6 / 2.0 > 0").find("`/` needs two ints or two doubles") !=
        std::string::npos);
  // Known only at evaluation (a JSON argument): no such overload.
  json args = {{"i", 100}, {"d", 1.5}};
  CHECK(run_expr("args.i + 1.5", args)["error"] == "no such overload: `+` on int and double");
  CHECK(run_expr("args.d * 2", args)["error"] == "no such overload: `*` on double and int");
  CHECK(run_expr("args.i - args.d", args)["error"] == "no such overload: `-` on int and double");
  CHECK(run_expr("args.i / args.d", args)["error"] == "no such overload: `/` on int and double");
  // Explicit conversion works, and comparison across int and double stays allowed.
  CHECK(run_expr("double(args.i) * args.d", args) == json(150.0));
  CHECK(run_expr("args.i + int(args.d)", args) == json(101));
  CHECK(run_expr("args.i < args.d * 100.0", args) == json(true));
  CHECK(run_expr("1 == 1.0") == json(true));
  CHECK(run_expr("1.5 + 1.5") == json(3.0));
  CHECK(run_expr("1 + 2") == json(3));
}

TEST_CASE("double division follows IEEE 754; int division by zero is an error", "[lang][cel]") {
  // cel-spec fp_math.textproto divide_zero: 15.75 / 0.0 is Infinity.
  CHECK(run_expr("15.75 / 0.0 == double('Infinity')") == json(true));
  CHECK(run_expr("-1.0 / 0.0 == -double('Infinity')") == json(true));
  CHECK(run_expr("string(0.0 / 0.0)") == json("NaN"));
  CHECK(run_expr("1 / 0")["error"] == "division by zero");
  CHECK(run_expr("1 % 0")["error"] == "modulus by zero");
}

TEST_CASE("a repeated map-literal key is an error", "[lang][cel]") {
  // Literal keys: refused at load.
  CHECK(compile_error("{'a': 1, 'a': 2}.size() == 1") ==
        "p.yaml:3:25: parse error: repeated map key `a`");
  CHECK(compile_error(R"({"a": 1, "b": 2, "a": 3}["a"] == 3)") ==
        "p.yaml:3:33: parse error: repeated map key `a`");
  // Keys computed at evaluation: an evaluation error.
  json args = {{"k", "a"}};
  CHECK(run_expr("{args.k: 1, 'a': 2}", args)["error"] == "repeated map key `a`");
  CHECK(run_expr("{'a': 1, args.k: 2}", args)["error"] == "repeated map key `a`");
  CHECK(run_expr("{'a': 1, 'b': args.k}", args) == json({{"a", 1}, {"b", "a"}}));
  CHECK(run_expr("{args.k: 1, 'b': 2}", args) == json({{"a", 1}, {"b", 2}}));
}
