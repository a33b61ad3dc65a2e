// RFC 4180 CSV reading over a whole extract file held in memory: a header row, then data rows,
// each good row kept and each bad row reported (row, line, column) without losing the others.
#pragma once
#include <string_view>

#include "adapters/csv/extract.h"
#include "engine/core/result.h"

namespace cc::csv {

struct CsvOptions {
  char delimiter = ',';  // ',' by default; some councils send ';' or '\t'
};

// Reads `file` (the whole file's bytes) as CSV with a header row.
//
// Accepts: a leading UTF-8 byte-order mark; quoted values with doubled quotes ("") and embedded
// delimiters and line breaks; CRLF, LF or lone CR record ends, mixed; blank lines and records
// whose every field is unquoted and empty or spaces (e.g. ",,,," from Excel) anywhere, skipped;
// an optional line end after the last record. Header names are trimmed of spaces and tabs; data
// values are kept exactly, except that a line break inside a quoted value becomes "\n".
//
// Fails (the file is unusable) with code:
//   "empty-file"  no header row;
//   "encoding"    a UTF-16/UTF-32 byte-order mark, or a header name that is not UTF-8;
//   "header"      an empty or repeated column name, or a quoting problem in the header row;
//   "options"     a delimiter that is '"', CR or LF.
// Otherwise returns an Extract. Row-level problems reject that row only, with a RowError:
// a field count different from the header's; a '"' inside an unquoted value; text after a closing
// quote; a value that is not UTF-8 or holds a NUL byte; a quote left open on a line when reading
// on to the next '"' does not give a valid row (the row is rejected and reading resumes on the
// next physical line). A quote still open at the end of the file rejects that row and sets
// Extract::incomplete naming the line where it opened (the rest of the file cannot be read); so
// does a last record with too few fields and no line end (the file looks cut short).
Result<Extract> read_csv(std::string_view file, const CsvOptions& options = {});

}  // namespace cc::csv
