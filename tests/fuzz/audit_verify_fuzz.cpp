// Fuzzes everything that reads audit data written by someone else: record lines, DSSE
// envelopes, signed notes and checkpoints, keyrings, timestamps, and the whole verifier over
// the input as a log file. None may crash; a log of arbitrary bytes must never verify.
// The verifier's fast reading of a line (simdjson, no payload) must say what the full reading
// says whenever it answers at all.
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "governance/audit/checkpoint.hpp"
#include "governance/audit/keys.hpp"
#include "governance/audit/records.hpp"
#include "governance/audit/time.hpp"
#include "governance/audit/verifier.hpp"

using namespace gt::gov::audit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 18) return 0;
  std::string text(reinterpret_cast<const char*>(data), size);
  for (auto line : split_lines(text)) {
    std::string full_error, fast_error;
    auto full = parse_record(line, &full_error);
    auto fast = parse_record(line, &fast_error, PayloadNeed::ExceptRoutine);
    if (fast.has_value() != full.has_value()) std::abort();
    if (!fast && fast_error != full_error) std::abort();
    if (fast) {
      const auto &a = fast->fields, &b = full->fields;
      if (fast->seq != full->seq || fast->prev != full->prev || fast->key_id != full->key_id ||
          fast->kind != full->kind || fast->log_id != full->log_id ||
          fast->version != full->version || a.tenant != b.tenant || a.agent != b.agent ||
          a.ts != b.ts || a.signed_by != b.signed_by || a.decision != b.decision || a.id != b.id ||
          a.decision_id != b.decision_id)
        std::abort();
    }
    (void)parse_envelope(line);
    (void)parse_rfc3339(line);
  }
  (void)parse_note(text);
  (void)parse_checkpoint_text(text);
  static const SigningKey key = SigningKey::from_seed(
      reinterpret_cast<const std::uint8_t*>("glasstape-fuzz-seed-32-bytes-...."));
  Keyring ring;
  KeyringEntry e;
  e.key_id = key.key_id();
  e.public_key = key.public_key();
  ring.entries.push_back(e);
  (void)verify_checkpoint_note(text, ring);
  try {
    (void)Keyring::parse(text, "fuzz");
  } catch (const KeyError&) {
  }
  char path[] = "/tmp/gt-audit-fuzz-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) return 0;
  bool written = ::write(fd, data, size) == static_cast<ssize_t>(size);
  ::close(fd);
  if (written) {
    VerifyOptions vo;
    vo.keyring = ring;
    vo.threads = 1;
    vo.checkpoint_note = text;
    auto rep = verify_log({path}, vo);
    // Forging a signature by fuzzing is not expected: an intact report means a real bug.
    if (rep.ok && rep.records > 0) std::abort();
  }
  ::unlink(path);
  return 0;
}
