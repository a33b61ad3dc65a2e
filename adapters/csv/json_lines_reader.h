// JSON-lines reading (one JSON object a line) into the same rows as CSV: each line's top-level
// members become the row's fields, each bad line reported without losing the others.
#pragma once
#include <string_view>

#include "adapters/csv/extract.h"
#include "engine/core/result.h"

namespace cc::csv {

// Reads `file` (the whole file's bytes) as JSON lines.
//
// Lines end in LF or CRLF; a leading UTF-8 byte-order mark, whitespace-only lines and an optional
// line end after the last line are accepted. The header is every top-level member name seen in a
// good line, in order of first appearance; every row has one value a column. A member's value is:
// a string as it is (unescaped); a number as its JSON text exactly as written (9991234578, 1.50);
// true/false as "true"/"false"; an object or array as its compact JSON text; null (or a missing
// member, or "") as absent (empty).
//
// Fails with code "empty-file" when there is no line with content, or "encoding" for a UTF-16 or
// UTF-32 byte-order mark. Otherwise returns an Extract; a line is rejected with a RowError when
// it is not valid JSON (with RapidJSON's reason and position, and the member being read where
// known), is JSON but not an object, is not UTF-8, or names a member twice or with an empty name.
// A last line that is not valid JSON and has no line end also sets Extract::incomplete (the file
// looks cut short).
Result<Extract> read_json_lines(std::string_view file);

}  // namespace cc::csv
