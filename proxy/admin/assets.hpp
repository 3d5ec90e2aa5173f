// The decisions page's files (proxy/admin/assets/), built into the binary at compile time
// (embed_assets.cmake).
#pragma once

#include <string_view>
#include <vector>

namespace gt::proxy::admin {

struct Asset {
  std::string_view name;  // "decisions.html", "app.js", "app.css"
  std::string_view content_type;
  std::string_view body;
};

const std::vector<Asset>& assets();

}  // namespace gt::proxy::admin
