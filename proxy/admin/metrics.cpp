#include "proxy/admin/metrics.hpp"

#include <cmath>
#include <cstdio>

namespace gt::proxy::admin {

namespace {

constexpr std::size_t kMaxLabelBytes = 128;
const char* const kOther = "_other";

// Appends `v` cut and escaped (the hot path: no temporary strings).
void append_label_value(std::string& out, std::string_view v) {
  if (v.size() > kMaxLabelBytes) {
    std::size_t cut = kMaxLabelBytes;
    // Back up to the start of a UTF-8 sequence (continuation bytes are 10xxxxxx).
    while (cut > 0 && (static_cast<unsigned char>(v[cut]) & 0xC0) == 0x80)
      --cut;
    v = v.substr(0, cut);
  }
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

const char* type_name(Type t) {
  switch (t) {
    case Type::Counter:
      return "counter";
    case Type::Gauge:
      return "gauge";
    case Type::Histogram:
      return "histogram";
  }
  return "untyped";
}

// `name="value",...` for these values; the series key and its rendered labels at once.
std::string label_pairs(const std::vector<std::string>& names, const Labels& values) {
  std::string out;
  out.reserve(names.size() * 24);
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    out += names[i];
    out += "=\"";
    if (i < values.size()) append_label_value(out, values[i]);
    out += '"';
  }
  return out;
}

void header(std::string& out, const Family& f) {
  out += "# HELP " + f.name() + " " + f.help() + "\n";
  out += "# TYPE " + f.name() + " " + type_name(f.type()) + "\n";
}

void sample(std::string& out, const std::string& name, const std::string& labels, double v) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  append_value(out, v);
  out += '\n';
}

}  // namespace

std::string label_value(std::string_view v) {
  std::string out;
  append_label_value(out, v);
  return out;
}

void append_value(std::string& out, double v) {
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.15g", v);
  }
  out += buf;
}

Family::Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
               std::size_t max_series, int overflow_label)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)),
      max_series_(max_series),
      overflow_label_(overflow_label) {}

std::string Family::pairs(const Labels& labels) const {
  return label_pairs(label_names_, labels);
}

std::string Family::key(const Labels& labels, std::size_t size) const {
  if (size < max_series_) return pairs(labels);
  // Full: a new label set is folded into the overflow series (existing ones still count).
  Labels folded = labels;
  folded.resize(label_names_.size());
  if (overflow_label_ >= 0) {
    folded[static_cast<std::size_t>(overflow_label_)] = kOther;
  } else {
    for (auto& v : folded)
      v = kOther;
  }
  return pairs(folded);
}

// --- counters and gauges ---

double ScalarFamily::value(const Labels& labels) const {
  std::lock_guard lk(mu_);
  const double* v = find(series_, labels);
  return v ? *v : 0;
}

void ScalarFamily::render(std::string& out) const {
  header(out, *this);
  std::lock_guard lk(mu_);
  for (const auto& [labels, v] : series_)
    sample(out, name_, labels, v);
}

CounterFamily::CounterFamily(std::string name, std::string help,
                             std::vector<std::string> label_names, std::size_t max_series,
                             int overflow_label)
    : ScalarFamily(std::move(name), std::move(help), Type::Counter, std::move(label_names),
                   max_series, overflow_label) {}

void CounterFamily::inc(const Labels& labels, double by) {
  std::lock_guard lk(mu_);
  slot(series_, labels) += by;
}

GaugeFamily::GaugeFamily(std::string name, std::string help, std::vector<std::string> label_names,
                         std::size_t max_series)
    : ScalarFamily(std::move(name), std::move(help), Type::Gauge, std::move(label_names),
                   max_series, -1) {}

void GaugeFamily::set(const Labels& labels, double v) {
  std::lock_guard lk(mu_);
  slot(series_, labels) = v;
}

// --- histograms ---

std::vector<double> latency_buckets() {
  return {0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
          0.025,    0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
}

HistogramFamily::HistogramFamily(std::string name, std::string help,
                                 std::vector<std::string> label_names, std::vector<double> bounds,
                                 std::size_t max_series, int overflow_label)
    : Family(std::move(name), std::move(help), Type::Histogram, std::move(label_names), max_series,
             overflow_label),
      bounds_(std::move(bounds)) {}

void HistogramFamily::observe(const Labels& labels, double v) {
  std::size_t b = 0;
  while (b < bounds_.size() && v > bounds_[b])
    ++b;
  std::lock_guard lk(mu_);
  auto& s = slot(series_, labels);
  if (s.buckets.empty()) s.buckets.assign(bounds_.size() + 1, 0);
  ++s.buckets[b];
  s.sum += v;
  ++s.count;
}

std::uint64_t HistogramFamily::count(const Labels& labels) const {
  std::lock_guard lk(mu_);
  const Series* s = find(series_, labels);
  return s ? s->count : 0;
}

void HistogramFamily::render(std::string& out) const {
  header(out, *this);
  std::lock_guard lk(mu_);
  for (const auto& [labels, s] : series_) {
    std::uint64_t cumulative = 0;
    std::string sep = labels.empty() ? "" : ",";
    for (std::size_t b = 0; b <= bounds_.size(); ++b) {
      cumulative += s.buckets[b];
      std::string le;
      if (b == bounds_.size()) {
        le = "+Inf";
      } else {
        append_value(le, bounds_[b]);
      }
      sample(out, name_ + "_bucket", labels + sep + "le=\"" + le + "\"",
             static_cast<double>(cumulative));
    }
    sample(out, name_ + "_sum", labels, s.sum);
    sample(out, name_ + "_count", labels, static_cast<double>(s.count));
  }
}

// --- the registry ---

Registry::Registry()
    : decisions(
          "glasstape_decisions_total",
          "Judged requests by outcome (allow, deny, would_deny), error code, tool and server.",
          {"tenant", "server", "kind", "tool", "decision", "code"}, 2000, 3),
      decide_seconds("glasstape_decide_duration_seconds",
                     "Time the interceptor chain took to judge a request.", {"tenant"},
                     latency_buckets()),
      audit_write_seconds("glasstape_audit_write_duration_seconds",
                          "Time from a decision to its record being durable (per the fsync mode).",
                          {"tenant"}, latency_buckets()),
      upstream_seconds("glasstape_upstream_duration_seconds",
                       "Time from forwarding an allowed request to the server's response.",
                       {"tenant", "server"}, latency_buckets(), 500, 1),
      call_seconds("glasstape_call_duration_seconds",
                   "Time from receiving an allowed request to its response: governance, audit "
                   "and upstream.",
                   {"tenant", "server"}, latency_buckets(), 500, 1),
      audit_batch_records("glasstape_audit_batch_records",
                          "Records written per audit log batch (one write, at most one sync).",
                          {"tenant"}, {1, 2, 4, 8, 16, 32, 64, 128, 256, 512}),
      audit_sync_seconds("glasstape_audit_sync_duration_seconds",
                         "Time one fdatasync of the audit log took.", {"tenant"},
                         latency_buckets()),
      sessions("glasstape_sessions", "Client sessions open.", {"front"}),
      sessions_opened("glasstape_sessions_opened_total", "Client sessions opened.", {"front"}),
      upstream_restarts("glasstape_upstream_restarts_total",
                        "Servers started again after they ended or became unreachable.",
                        {"server"}),
      upstream_exits("glasstape_upstream_exits_total",
                     "Servers that ended or became unreachable, by whether a restart followed.",
                     {"server", "restarting"}),
      refused("glasstape_http_refused_total",
              "HTTP requests refused before reaching a session, by reason.", {"reason"}),
      http_requests("glasstape_http_requests_total", "HTTP requests received, by endpoint.",
                    {"endpoint"}) {
  families_ = {&decisions,       &decide_seconds,      &audit_write_seconds, &upstream_seconds,
               &call_seconds,    &audit_batch_records, &audit_sync_seconds,  &sessions,
               &sessions_opened, &upstream_restarts,   &upstream_exits,      &refused,
               &http_requests};
  collected_ = {
      {"glasstape_build_info", "GlassTape's version (the value is 1).", Type::Gauge, {"version"}},
      {"glasstape_policy_set_loaded",
       "1 when the tenant's policy directory has a loaded policy set, else 0 (every call "
       "denied).",
       Type::Gauge,
       {"tenant"}},
      {"glasstape_policies_loaded",
       "Policies in the tenant's loaded policy set.",
       Type::Gauge,
       {"tenant"}},
      {"glasstape_policy_reloads_total",
       "Policy directory loads, by result (ok: installed; error: the previous set was kept).",
       Type::Counter,
       {"tenant", "result"}},
      {"glasstape_policy_last_reload_timestamp_seconds",
       "When the tenant's policy set was last installed (Unix time).",
       Type::Gauge,
       {"tenant"}},
      {"glasstape_audit_records_total",
       "Audit records written by this process.",
       Type::Counter,
       {"tenant"}},
      {"glasstape_audit_write_failures_total",
       "Audit log batches that could not be written (their calls were denied).",
       Type::Counter,
       {"tenant"}},
      {"glasstape_audit_log_writable",
       "1 while the tenant's audit log can be written, 0 while writes fail (calls denied).",
       Type::Gauge,
       {"tenant"}},
      {"glasstape_upstream_up",
       "1 when the server's last start succeeded and it is running.",
       Type::Gauge,
       {"server"}},
  };
}

std::string Registry::render(const std::vector<Sample>& collected) const {
  std::string out;
  out.reserve(16 * 1024);
  for (const auto* f : families_)
    f->render(out);
  for (const auto& c : collected_) {
    out += "# HELP " + c.name + " " + c.help + "\n";
    out += "# TYPE " + c.name + " " + type_name(c.type) + "\n";
    // Duplicate label sets (two owners reporting the same series) are summed, since the
    // format allows each series once.
    std::map<std::string, double> series;
    for (const auto& s : collected) {
      if (s.family == c.name) series[label_pairs(c.label_names, s.labels)] += s.value;
    }
    for (const auto& [labels, v] : series)
      sample(out, c.name, labels, v);
  }
  return out;
}

Registry& metrics() {
  static Registry r;
  return r;
}

}  // namespace gt::proxy::admin
