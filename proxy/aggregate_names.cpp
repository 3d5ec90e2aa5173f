#include "proxy/aggregate_names.hpp"

#include <set>

namespace gt::proxy {

std::optional<PrefixMode> parse_prefix_mode(std::string_view s) {
  if (s == "always") return PrefixMode::Always;
  if (s == "on-collision") return PrefixMode::OnCollision;
  if (s == "never") return PrefixMode::Never;
  return std::nullopt;
}

MergedNames merge_names(const std::vector<ServerNames>& servers, std::string_view separator) {
  MergedNames out;
  // Which plain names more than one server has: those are prefixed in on-collision mode.
  std::map<std::string, std::set<std::string>> owners;
  for (const auto& s : servers)
    for (const auto& n : s.names)
      owners[n].insert(s.server);
  std::map<std::string, std::string> first_owner;  // exposed → "server `x` (tool `y`)"
  std::set<std::string> reported;
  for (const auto& s : servers) {
    const std::string prefix = s.prefix.empty() ? s.server : s.prefix;
    // A server listing one name twice: which definition the server runs is its own secret,
    // so the name is neither shown nor routed (as for two servers with one name).
    std::set<std::string> seen, twice;
    for (const auto& n : s.names)
      if (!seen.insert(n).second && twice.insert(n).second)
        out.errors.push_back("server `" + s.server + "` lists `" + n +
                             "` more than once; it is neither shown nor routed");
    for (const auto& n : s.names) {
      if (twice.count(n)) continue;
      bool prefixed = s.mode == PrefixMode::Always ||
                      (s.mode == PrefixMode::OnCollision && owners[n].size() > 1);
      std::string exposed = prefixed ? prefix + std::string(separator) + n : n;
      if (exposed.size() > kMaxExposedName) {
        out.errors.push_back("server `" + s.server + "`: `" + exposed + "` is longer than " +
                             std::to_string(kMaxExposedName) + " bytes");
        continue;
      }
      std::string who = "server `" + s.server + "` (`" + n + "`)";
      auto [it, fresh] = first_owner.emplace(exposed, who);
      if (!fresh) {
        if (reported.insert(exposed).second) {
          out.errors.push_back("`" + exposed + "` is exposed by both " + it->second + " and " +
                               who + "; give one of them a prefix (prefix_mode: always)");
        }
        out.routes.erase(exposed);  // neither wins
        continue;
      }
      if (!reported.count(exposed)) out.routes[exposed] = Route{s.server, n};
    }
  }
  return out;
}

}  // namespace gt::proxy
