// SHA-256 digests for extract files and rows (engine/core/sha256.h).
#include "adapters/csv/digest.h"

#include <cstdint>

#include "engine/core/sha256.h"

namespace cc::csv {

namespace {
// A length before each piece, so that ("ab", "c") and ("a", "bc") differ.
void update_sized(Sha256& sha, std::string_view s) {
  char size[8];
  uint64_t n = s.size();
  for (int i = 7; i >= 0; --i, n >>= 8) size[i] = static_cast<char>(n & 0xff);
  sha.update(std::string_view(size, sizeof size)).update(s);
}
}  // namespace

std::string file_digest(std::string_view file) { return sha256_hex(file); }

std::string row_digest(const Header& header, const Row& row) {
  Sha256 sha;
  sha.update("cc.csv.row.v1");
  for (size_t i : header.by_name()) {
    if (i >= row.values.size() || row.values[i].empty()) continue;
    update_sized(sha, header.name(i));
    update_sized(sha, row.values[i]);
  }
  return sha.hex();
}

}  // namespace cc::csv
