// The proxy's Prometheus metrics: a small registry of counter, gauge and histogram families
// with labels, rendered in the Prometheus text exposition format (version 0.0.4).
//
// Why not a library: Debian 12 packages no Prometheus C++ client (prometheus-cpp is not in
// bookworm), and what is needed here (fixed families, bounded series, one text renderer) is
// about 300 lines.
//
// Bounded: a family holds at most `max_series` label sets. A client can name any tool, so a
// label a client controls (the family's `overflow_label`, e.g. `tool`) is replaced by
// "_other" for new label sets once the family is full; families without one count new label
// sets in a single series with every label "_other". Label values are cut to 128 bytes (at a
// UTF-8 boundary) and escaped. No label ever holds a session or request id.
//
// Thread-safe: a family's series sit behind one mutex. A call costs a few of these lookups,
// against tens of microseconds per call.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace gt::proxy::admin {

using Labels = std::vector<std::string>;  // values, in the family's label order

// A sample the registry does not store: read from its owner when the metrics are rendered
// (a policy store's reload count, the sessions open). `family` names a family declared with
// Registry::collected().
struct Sample {
  std::string family;
  Labels labels;
  double value = 0;
};

enum class Type { Counter, Gauge, Histogram };

class Family {
 public:
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
         std::size_t max_series, int overflow_label);
  virtual ~Family() = default;
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  Type type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  virtual void render(std::string& out) const = 0;

 protected:
  // The series of `labels` in `series` (a map from rendered label pairs), made when absent;
  // a new one is folded into the overflow series once the family is full. Call with mu_ held.
  template <class Map>
  typename Map::mapped_type& slot(Map& series, const Labels& labels) {
    auto it = series.find(pairs(labels));
    if (it == series.end()) it = series.try_emplace(key(labels, series.size())).first;
    return it->second;
  }
  // The existing series of `labels`, or null. Call with mu_ held.
  template <class Map>
  const typename Map::mapped_type* find(const Map& series, const Labels& labels) const {
    auto it = series.find(pairs(labels));
    return it == series.end() ? nullptr : &it->second;
  }
  std::string pairs(const Labels& labels) const;  // `name="value",...`
  // The key for a new series of `labels` when the family holds `size`: its own pairs, or the
  // overflow series' once the family is full.
  std::string key(const Labels& labels, std::size_t size) const;

  std::string name_, help_;
  Type type_;
  std::vector<std::string> label_names_;
  std::size_t max_series_;
  int overflow_label_;
  mutable std::mutex mu_;
};

// One number per label set: what counters and gauges share.
class ScalarFamily : public Family {
 public:
  double value(const Labels& labels) const;  // 0 when absent (tests)
  void render(std::string& out) const override;

 protected:
  using Family::Family;
  std::map<std::string, double> series_;
};

class CounterFamily : public ScalarFamily {
 public:
  CounterFamily(std::string name, std::string help, std::vector<std::string> label_names,
                std::size_t max_series = 2000, int overflow_label = -1);
  void inc(const Labels& labels, double by = 1);
};

class GaugeFamily : public ScalarFamily {
 public:
  GaugeFamily(std::string name, std::string help, std::vector<std::string> label_names,
              std::size_t max_series = 2000);
  void set(const Labels& labels, double v);
};

class HistogramFamily : public Family {
 public:
  // `bounds`: the upper bounds of the buckets, ascending (+Inf is added).
  HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> bounds, std::size_t max_series = 500,
                  int overflow_label = -1);
  void observe(const Labels& labels, double v);
  std::uint64_t count(const Labels& labels) const;  // observations (tests)
  void render(std::string& out) const override;

 private:
  struct Series {
    std::vector<std::uint64_t> buckets;  // per bound, not cumulative; the last is +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  std::vector<double> bounds_;
  std::map<std::string, Series> series_;
};

// Latency buckets in seconds: 25 µs to 10 s.
std::vector<double> latency_buckets();

// The families GlassTape exports. One registry per process (metrics()); tests read values
// and compare before and after.
class Registry {
 public:
  Registry();
  // Prometheus text format: every family, then the collected samples under the collected
  // families they name (a sample for an undeclared family is dropped).
  std::string render(const std::vector<Sample>& collected = {}) const;

  // --- decisions (proxy/pipeline.cpp) ---
  // decision: allow, deny, or would_deny (monitor mode: forwarded); code: the GT- code or "".
  CounterFamily decisions;              // tenant, server, kind, tool, decision, code
  HistogramFamily decide_seconds;       // tenant: the interceptor chain
  HistogramFamily audit_write_seconds;  // tenant: recorder, until the decision is durable
  HistogramFamily upstream_seconds;     // tenant, server: forwarded until its response
  HistogramFamily call_seconds;         // tenant, server: received until its response
  // --- audit log (the log's writer thread) ---
  HistogramFamily audit_batch_records;  // tenant
  HistogramFamily audit_sync_seconds;   // tenant
  // --- sessions and upstreams ---
  GaugeFamily sessions;             // front: http, stdio
  CounterFamily sessions_opened;    // front
  CounterFamily upstream_restarts;  // server
  CounterFamily upstream_exits;     // server, restarting: true|false
  // --- the HTTP front ---
  CounterFamily refused;        // reason
  CounterFamily http_requests;  // endpoint: mcp, healthz, readyz, metrics, other

 private:
  struct Collected {
    std::string name, help;
    Type type;
    std::vector<std::string> label_names;
  };
  std::vector<const Family*> families_;
  std::vector<Collected> collected_;
};

Registry& metrics();

// Appends `v` as a Prometheus sample value ("+Inf", integers without a fraction).
void append_value(std::string& out, double v);
// Escapes a label value (\\, \", \n) after cutting it to 128 bytes at a UTF-8 boundary.
std::string label_value(std::string_view v);

}  // namespace gt::proxy::admin
