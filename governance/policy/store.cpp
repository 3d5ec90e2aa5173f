#include "governance/policy/store.hpp"

#include <spdlog/spdlog.h>

#include <new>

#include "governance/policy/manifest.hpp"

namespace gt::gov::policy {

namespace fs = std::filesystem;

PolicyStore::PolicyStore(fs::path dir, SetOptions options)
    : dir_(std::move(dir)), options_(std::move(options)) {}

PolicyStore::~PolicyStore() {
  stop_watching();
}

std::string PolicyStore::fingerprint() const {
  std::string fp;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir_, fs::directory_options::skip_permission_denied, ec), end;
  if (ec) return "unreadable:" + ec.message();
  std::vector<std::string> parts;
  for (; it != end; it.increment(ec)) {
    if (ec) return "unreadable:" + ec.message();
    fs::path rel = it->path().lexically_relative(dir_);
    std::string name = rel.filename().string();
    bool relevant =
        is_policy_file(rel) || is_test_file(rel) || name == kManifestFile || name == kSignatureFile;
    if (!relevant || !it->is_regular_file(ec)) continue;
    auto size = it->file_size(ec);
    auto mtime = it->last_write_time(ec).time_since_epoch().count();
    parts.push_back(rel.generic_string() + "\t" + std::to_string(size) + "\t" +
                    std::to_string(mtime));
  }
  std::sort(parts.begin(), parts.end());
  for (auto& p : parts)
    fp += p + "\n";
  return fp;
}

bool PolicyStore::poll_changed() {
  std::string fp = fingerprint();
  std::lock_guard<std::mutex> g(mu_);
  if (fp == last_fingerprint_) return false;
  last_fingerprint_ = std::move(fp);
  return true;
}

bool PolicyStore::reload() {
  std::string fp;
  LoadReport rep;
  // However hostile the directory, a failed load only keeps the last good set: an exception
  // (out of memory, no thread) is a load error like any other, never the end of the process.
  try {
    fp = fingerprint();
    rep = load_policy_dir(dir_, options_);
  } catch (const std::exception& e) {
    rep = LoadReport{};
    rep.errors.push_back(
        {dir_.string(), 0, 0,
         std::string("cannot load the policy directory: ") +
             (dynamic_cast<const std::bad_alloc*>(&e) ? "out of memory" : e.what())});
  }
  auto now = std::chrono::system_clock::now();
  std::lock_guard<std::mutex> g(mu_);
  last_fingerprint_ = fp;
  if (!rep.set) {
    std::string msg;
    for (size_t i = 0; i < rep.errors.size() && i < 5; ++i)
      msg += (i ? "; " : "") + rep.errors[i].str();
    if (rep.errors.size() > 5) msg += "; and " + std::to_string(rep.errors.size() - 5) + " more";
    status_.last_error = msg;
    status_.last_error_time = now;
    status_.failures += 1;
    if (current_) {
      spdlog::error("policy reload of `{}` failed; keeping the last good version ({} policies): {}",
                    dir_.string(), current_->policies.size(), msg);
    } else {
      spdlog::error("policy load of `{}` failed; every governed call is denied: {}", dir_.string(),
                    msg);
    }
    return false;
  }
  for (const auto& w : rep.warnings)
    spdlog::warn("policy: {}", w.str());
  status_.loaded = true;
  status_.policies = rep.set->policies.size();
  status_.reloads += 1;
  status_.last_load_time = now;
  status_.last_error.clear();
  status_.rejected_files = rep.set->rejected_files;
  status_.warnings.clear();
  for (const auto& w : rep.warnings)
    status_.warnings.push_back(w.str());
  current_ = std::move(rep.set);
  spdlog::info("policy: loaded {} policies from `{}`", status_.policies, dir_.string());
  return true;
}

std::shared_ptr<const PolicySet> PolicyStore::current() const {
  std::lock_guard<std::mutex> g(mu_);
  return current_;
}

PolicyStore::Status PolicyStore::status() const {
  std::lock_guard<std::mutex> g(mu_);
  return status_;
}

void PolicyStore::set_listener(std::function<void()> listener) {
  std::lock_guard<std::mutex> g(listener_mu_);
  listener_ = std::move(listener);
}

void PolicyStore::start_watching(std::chrono::milliseconds interval) {
  if (watcher_.joinable()) return;
  {
    std::lock_guard<std::mutex> g(watch_mu_);
    stop_ = false;
  }
  watcher_ = std::thread([this, interval] {
    std::unique_lock<std::mutex> lk(watch_mu_);
    while (!stop_) {
      watch_cv_.wait_for(lk, interval, [this] { return stop_; });
      if (stop_) break;
      lk.unlock();
      if (poll_changed()) {
        spdlog::info("policy: change detected in `{}`, reloading", dir_.string());
        if (reload()) {
          std::lock_guard<std::mutex> g(listener_mu_);
          if (listener_) {
            try {
              listener_();
            } catch (const std::exception& e) {
              spdlog::error("policy: after the reload of `{}`: {}", dir_.string(), e.what());
            }
          }
        }
      }
      lk.lock();
    }
  });
}

void PolicyStore::stop_watching() {
  {
    std::lock_guard<std::mutex> g(watch_mu_);
    stop_ = true;
  }
  watch_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

}  // namespace gt::gov::policy
