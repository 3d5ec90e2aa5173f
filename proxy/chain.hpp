// Builds a tenant's pipeline from its config: the interceptor chain in its fixed order, and
// the recorder. Each interceptor is made by a factory from its own config section.
#pragma once

#include <memory>

#include "proxy/config.hpp"
#include "proxy/pipeline.hpp"

namespace gt::proxy {

// Throws ConfigError (with the interceptor's exact message) when a section is invalid.
std::unique_ptr<Pipeline> build_pipeline(const InterceptorEnv& env);

}  // namespace gt::proxy
