// /healthz, /readyz and /metrics as a front serves them, the servers' readiness, the admin
// listener's address parsing, and JSON log lines.
#include "proxy/admin/endpoints.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "proxy/admin/admin_server.hpp"
#include "proxy/logging.hpp"

namespace admin = gt::proxy::admin;

TEST_CASE("admin paths answer GET and HEAD only; others are not theirs", "[admin]") {
  admin::Endpoints e(nullptr);
  auto h = e.handle("GET", "/healthz");
  REQUIRE(h);
  CHECK(h->status == 200);
  CHECK(h->body == "ok\n");
  CHECK(e.handle("HEAD", "/readyz")->status == 200);
  auto post = e.handle("POST", "/metrics");
  REQUIRE(post);
  CHECK(post->status == 405);
  CHECK(post->allow == "GET, HEAD");
  CHECK_FALSE(e.handle("GET", "/mcp"));
  CHECK_FALSE(e.handle("GET", "/metrics/"));
  CHECK_FALSE(e.handle("GET", "/healthz2"));
}

TEST_CASE("readyz is 503 and names the check that failed", "[admin]") {
  bool fail_audit = false;
  admin::Endpoints e([&](admin::Report& r) {
    r.checks.push_back({"policies[t]", true, "3 policies loaded"});
    r.checks.push_back({"audit[t]", !fail_audit, fail_audit ? "cannot be written" : "writable"});
  });
  auto ok = e.handle("GET", "/readyz");
  CHECK(ok->status == 200);
  CHECK(ok->body == "ready\nok    policies[t]: 3 policies loaded\nok    audit[t]: writable\n");
  fail_audit = true;
  auto bad = e.handle("GET", "/readyz");
  CHECK(bad->status == 503);
  CHECK(bad->body ==
        "not ready\nok    policies[t]: 3 policies loaded\nFAIL  audit[t]: cannot be written\n");
  // Liveness does not depend on readiness.
  CHECK(e.handle("GET", "/healthz")->status == 200);
}

TEST_CASE("metrics carry the build info and what the parts report", "[admin]") {
  admin::Endpoints e([](admin::Report& r) {
    r.samples.push_back({"glasstape_policy_set_loaded", {"t"}, 0});
  });
  auto m = e.handle("GET", "/metrics");
  REQUIRE(m);
  CHECK(m->status == 200);
  CHECK(m->content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(m->body.find("glasstape_build_info{version=\"0.1.0\"} 1\n") != std::string::npos);
  CHECK(m->body.find("glasstape_policy_set_loaded{tenant=\"t\"} 0\n") != std::string::npos);
}

TEST_CASE("a server's readiness follows its links' starts, exits and restarts", "[admin]") {
  auto& s = admin::upstream_status();
  s.reset();
  auto check = [&](const std::string& name) {
    admin::Report r;
    s.report({name}, r);
    REQUIRE(r.checks.size() == 1);
    REQUIRE(r.samples.size() == 1);
    return std::make_tuple(r.checks[0].ok, r.checks[0].detail, r.samples[0].value);
  };
  auto [ok0, d0, up0] = check("db");
  CHECK(ok0);  // not started yet: it starts with the first session
  CHECK(d0 == "not started yet (starts with the first session)");
  CHECK(up0 == 0);

  auto a = s.attach("db");
  s.started(a);
  CHECK(check("db") == std::make_tuple(true, std::string("up"), 1.0));
  const double restarts0 = admin::metrics().upstream_restarts.value({"db"});
  s.exited(a, "server `db` exited with status 1", true);
  auto [ok1, d1, up1] = check("db");
  CHECK_FALSE(ok1);
  CHECK(d1 == "restarting after: server `db` exited with status 1");
  CHECK(up1 == 0);
  s.restarted(a);
  CHECK(std::get<0>(check("db")));
  CHECK(admin::metrics().upstream_restarts.value({"db"}) == restarts0 + 1);

  SECTION("a session that ends while its server waits to restart leaves nothing behind") {
    s.exited(a, "server `db` exited with status 3", true);
    CHECK_FALSE(std::get<0>(check("db")));
    s.detach(a);
    CHECK(check("db") == std::make_tuple(true,
                                         std::string("no session runs it now (starts with the "
                                                     "next session)"),
                                         0.0));
  }
  SECTION("no restart left: down until a start succeeds") {
    auto b = s.attach("db");  // another session's server, still up
    s.started(b);
    s.exited(a, "server `db` exited with status 2", false);
    CHECK(std::get<1>(check("db")) == "down: server `db` exited with status 2 (no restart left)");
    CHECK(admin::metrics().upstream_exits.value({"db", "false"}) >= 1);
    s.detach(a);
    CHECK_FALSE(std::get<0>(check("db")));  // the failure is remembered
    auto c = s.attach("db");
    s.start_failed(c, "no such file");
    CHECK(std::get<1>(check("db")) == "down: cannot start: no such file");
    s.detach(c);
    auto d = s.attach("db");
    s.started(d);  // a later session started it
    CHECK(check("db") ==
          std::make_tuple(true, std::string("up (2 processes, one per session)"), 1.0));
  }
  SECTION("events of a detached link are ignored") {
    s.detach(a);
    s.exited(a, "late", false);
    CHECK(std::get<0>(check("db")));
  }
  s.reset();
}

TEST_CASE("admin.listen takes host:port with an IP address", "[admin]") {
  auto a = admin::parse_listen("127.0.0.1:9464");
  CHECK(a.host == "127.0.0.1");
  CHECK(a.port == 9464);
  auto b = admin::parse_listen("[::1]:0");
  CHECK(b.host == "::1");
  CHECK(b.port == 0);
  CHECK_THROWS_WITH(admin::parse_listen("localhost"), Catch::Contains("host:port"));
  CHECK_THROWS_WITH(admin::parse_listen("127.0.0.1:99999"), Catch::Contains("bad port"));
  CHECK_THROWS_WITH(admin::parse_listen("127.0.0.1:9x"), Catch::Contains("bad port"));
  CHECK_THROWS_WITH(admin::parse_listen("example.com:80"), Catch::Contains("not an IP address"));
}

TEST_CASE("a JSON log line is one valid object whatever the message holds", "[admin][logging]") {
  std::string msg = "tool `a\"b` said \x01\n\xff\xfe done";
  auto line = gt::proxy::json_log_line("2026-12-07T10:00:00.123Z", "warning", "glasstape", msg);
  CHECK(line.find('\n') == std::string::npos);
  auto j = nlohmann::json::parse(line);
  CHECK(j["time"] == "2026-12-07T10:00:00.123Z");
  CHECK(j["level"] == "warning");
  CHECK(j["logger"] == "glasstape");
  CHECK(j["msg"].get<std::string>().rfind("tool `a\"b` said \x01\n", 0) == 0);
  // The fields come in the human line's order.
  CHECK(line.rfind(R"({"time":)", 0) == 0);
}
