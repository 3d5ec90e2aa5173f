#include "proxy/pipeline.hpp"

#include <spdlog/spdlog.h>

namespace gt::proxy {

Pipeline::Pipeline(std::vector<std::unique_ptr<Interceptor>> chain,
                   std::unique_ptr<Recorder> recorder)
    : chain_(std::move(chain)), recorder_(std::move(recorder)) {}

void Pipeline::on_tools_listed(std::string_view server, const nlohmann::json& tools) {
  for (auto& i : chain_) {
    try {
      i->on_tools_listed(server, tools);
    } catch (const std::exception& e) {
      // The interceptor keeps no state for these tools, so their calls will be denied.
      spdlog::error("{}: cannot process tools/list from `{}`: {}", i->name(), server, e.what());
    }
  }
}

void Pipeline::decide(std::shared_ptr<CallContext> ctx, const Post& post, Done done) {
  // 1-2. The chain: the first Deny stops it. An exception is a Deny (fail closed).
  for (auto& i : chain_) {
    Verdict v;
    try {
      v = i->on_call(*ctx);
    } catch (const std::exception& e) {
      ctx->decision.effect = Effect::Deny;
      ctx->decision.code = "GT-INTERNAL";
      ctx->decision.reason = std::string(i->name()) + " failed: " + e.what();
      v = Verdict::Deny;
    }
    if (v == Verdict::Deny) {
      ctx->decision.effect = Effect::Deny;
      if (ctx->decision.decided_by.empty()) ctx->decision.decided_by = std::string(i->name());
      if (ctx->decision.reason.empty())
        ctx->decision.reason = "denied by " + std::string(i->name());
      break;
    }
  }
  // 3. The recorder: every decision is made durable before anything else happens.
  if (!recorder_) {
    decided(*ctx);
    done(std::move(ctx));
    return;
  }
  auto finish = [this, ctx, done = std::move(done)](Recorder::Outcome out) mutable {
    if (!out.receipt_id.empty()) ctx->decision.receipt_id = out.receipt_id;
    if (!out.ok) {
      // Fail closed: a decision that cannot be recorded is not acted on.
      ctx->decision.effect = Effect::Deny;
      ctx->decision.code = "GT-AUDIT-WRITE";
      ctx->decision.decided_by = "audit";
      ctx->decision.reason = "the audit log cannot be written: " + out.error;
    }
    decided(*ctx);
    done(std::move(ctx));
  };
  try {
    recorder_->record_decision(*ctx,
                               [post, finish = std::move(finish)](Recorder::Outcome out) mutable {
                                 post([finish = std::move(finish), out = std::move(out)]() mutable {
                                   finish(std::move(out));
                                 });
                               });
  } catch (const std::exception& e) {
    finish(Recorder::Outcome{false, e.what(), {}});
  }
}

void Pipeline::decided(const CallContext& ctx) {
  const bool forwarded = ctx.decision.effect == Effect::Allow;
  for (auto& i : chain_) {
    try {
      i->on_decided(ctx, forwarded);
    } catch (const std::exception& e) {
      spdlog::error("{}: on_decided for `{}` failed: {}", i->name(), ctx.tool, e.what());
    }
  }
}

const nlohmann::json& Response::json() const {
  if (!parsed_ok_) {
    parsed_ = nlohmann::json::parse(raw_.begin(), raw_.end());
    parsed_ok_ = true;
  }
  return parsed_;
}

void Pipeline::on_result(const CallContext& ctx, Response& response) {
  for (auto& i : chain_) {
    try {
      i->on_result(ctx, response);
    } catch (const std::exception& e) {
      spdlog::error("{}: cannot process the result of `{}`: {}", i->name(), ctx.tool, e.what());
    }
  }
}

void Pipeline::record_result(const CallContext& ctx, const Response& response) {
  if (recorder_) {
    try {
      recorder_->record_result(ctx, response);
    } catch (const std::exception& e) {
      spdlog::error("audit: cannot record the result of `{}`: {}", ctx.tool, e.what());
    }
  }
}

}  // namespace gt::proxy
