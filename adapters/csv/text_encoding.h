// Encoding checks shared by the CSV and JSON-lines readers: the byte-order mark at the start of a
// file, and whether a value is clean UTF-8 (with a sentence a data officer can act on when not).
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "engine/core/result.h"

namespace cc::csv {

// The file's text after a leading UTF-8 byte-order mark, if any. Fails with code "encoding" for a
// UTF-16 or UTF-32 byte-order mark (the file must be exported as UTF-8).
Result<std::string_view> strip_byte_order_mark(std::string_view file);

// nullopt when `text` is well-formed UTF-8 without NUL bytes (no overlong forms, no surrogates,
// nothing above U+10FFFF); otherwise what is wrong, e.g. "is not valid UTF-8 (byte 0xA3 at
// position 12 of the value); the file looks like it was saved as Windows-1252 / Latin-1: export it as UTF-8".
std::optional<std::string> utf8_problem(std::string_view text);

}  // namespace cc::csv
