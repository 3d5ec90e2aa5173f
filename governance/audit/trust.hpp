// Files GlassTape trusts: signing keys, keyrings, policy public keys. A key is only as safe as
// the file it is read from, and the directories above that file: whoever can write any of
// them can put in a key of their own, and then sign receipts or policies that verify. So,
// as ssh's StrictModes does for ~/.ssh, such a file is refused unless
//   - it is owned by the current user or by root, and no group or other user can write it;
//   - for a private key, no group or other user can read it either (mode 0600 or stricter);
//   - every directory above it, up to `/` (for the path as given, and for its real path when
//     symbolic links lead elsewhere), is owned by the current user or by root, and no group or
//     other user can write it. One exception: a root-owned directory with the sticky bit
//     (such as /tmp), where others cannot rename or remove what they do not own.
// Each refusal names the path and the command that fixes it.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace gt::gov::audit {

struct UntrustedFile : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class Trust {
  Public,  // keyrings and public keys: others may read, nobody else may write
  Secret,  // private keys: nobody else may read or write
};

// Why the directories that lead to `file` cannot be trusted (empty: they can). `what` names
// the file in the message ("keyring", "key file", ...).
std::string untrusted_dirs(const std::filesystem::path& file, const std::string& what);
// Why a file with status `st` cannot be trusted, the file alone (empty: it can).
std::string untrusted_file(const std::filesystem::path& file, const struct stat& st, Trust trust,
                           const std::string& what);
// Both, for a file that is open as `fd`: throws UntrustedFile.
void check_trusted(int fd, const std::filesystem::path& file, Trust trust, const std::string& what);
// Throws UntrustedFile when the directories that would hold `file` cannot be trusted: before
// a key is written there.
void check_trusted_dirs(const std::filesystem::path& file, const std::string& what);

// Opens and reads a trusted file of at most `max_bytes` (a larger one is an error). A secret
// is never read through a symbolic link (the link itself may be anyone's); a public file may
// be, since its real path is checked too. Throws UntrustedFile, or std::system_error when it
// cannot be read (ENOENT when it does not exist).
std::string read_trusted(const std::filesystem::path& file, Trust trust, const std::string& what,
                         std::size_t max_bytes);

}  // namespace gt::gov::audit
