// Fuzzes everything that reads audit data written by someone else: record lines, DSSE
// envelopes, signed notes and checkpoints, keyrings, timestamps, and the whole verifier over
// the input as a log file. None may crash; a log of arbitrary bytes must never verify.
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
    (void)parse_record(line);
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
