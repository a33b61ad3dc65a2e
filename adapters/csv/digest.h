// Idempotency digests for extract feeds: one for a delivered file's bytes (the same file delivered
// twice is recognised) and one for a row's content (an unchanged row is recognised in a new file).
#pragma once
#include <string>
#include <string_view>

#include "adapters/csv/extract.h"

namespace cc::csv {

// SHA-256 of the file's exact bytes (byte-order mark and line ends included), as 64 lowercase hex
// characters. Any byte changed, including CRLF vs LF, gives a different digest.
std::string file_digest(std::string_view file);

// SHA-256 of a row's content, as 64 lowercase hex characters: the (column name, value) pairs with a
// value present, ordered by column name, each length-prefixed. So the digest depends only on what
// the row says: not on the row's number or line, the file's line ends (values' line breaks are
// already "\n"), the column order, columns that are absent on the row, or whether the file was CSV
// or JSON lines. Values are taken exactly (no trimming or case folding). The input is prefixed
// with a version tag ("cc.csv.row.v1"): a change to this normalisation must change the tag.
std::string row_digest(const Header& header, const Row& row);

}  // namespace cc::csv
