// Byte-level text helpers for HL7 v2 character sets: a UTF-8 check, Latin-1 to UTF-8.
// Message uses them so that every value it hands out is UTF-8 whatever MSH-18 declared.
#pragma once
#include <string>
#include <string_view>

namespace cc::hl7v2 {

// True when bytes are well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
bool is_utf8(std::string_view bytes);
// Appends bytes to out as UTF-8, reading each byte as ISO 8859-1.
void append_latin1_as_utf8(std::string_view bytes, std::string& out);
// Appends bytes to out, copying well-formed UTF-8 sequences and reading every other byte as
// ISO 8859-1, so the result is always UTF-8 (a lone 0xE9 becomes "é").
void append_utf8_repaired(std::string_view bytes, std::string& out);

}  // namespace cc::hl7v2
