// Splits a file or stream holding several HL7 v2 messages, possibly in FHS/BHS batch envelopes,
// into one text a message, each starting at its MSH segment; envelope segments are dropped.
#include <string>
#include <string_view>
#include <vector>

#include "adapters/hl7v2/message.h"

namespace cc::hl7v2 {
namespace {

bool is_blank(std::string_view line) { return line.find_first_not_of(" \t") == std::string_view::npos; }

bool is_segment(std::string_view line, std::string_view name) {
  if (!line.starts_with(name)) return false;
  if (line.size() == name.size()) return true;
  const char next = line[name.size()];
  return !((next >= 'A' && next <= 'Z') || (next >= 'a' && next <= 'z') || (next >= '0' && next <= '9'));
}

bool is_envelope(std::string_view line) {
  return is_segment(line, "FHS") || is_segment(line, "BHS") || is_segment(line, "BTS") || is_segment(line, "FTS");
}

}  // namespace

// Each message runs from its MSH line to its last non-blank line before the next MSH, envelope
// segment or end of text; blank lines inside it are kept, blank lines around it dropped. A leading
// byte-order mark stays with the first line. Lines outside any message (a batch without MSH,
// comments) are returned as a text of their own, which Message::parse rejects, so nothing is
// dropped silently; an envelope segment therefore also ends the message before it.
std::vector<std::string> split_messages(std::string_view text) {
  std::vector<std::string> messages;
  constexpr size_t kNone = std::string_view::npos;
  size_t begin = kNone;  // start of the message being gathered
  size_t end = 0;        // one past the terminator of its last non-blank line
  auto finish = [&] {
    if (begin != kNone) messages.emplace_back(text.substr(begin, end - begin));
    begin = kNone;
  };
  const size_t bom = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t content = pos == 0 ? bom : pos;
    size_t line_end = text.find_first_of("\r\n", content);
    if (line_end == kNone) line_end = text.size();
    size_t next = line_end;
    if (next < text.size() && text[next] == '\r') ++next;
    if (next < text.size() && text[next] == '\n') ++next;
    const std::string_view line = text.substr(content, line_end - content);
    // A blank line leaves `end` where it is: it joins the message only if another line of it follows.
    if (is_envelope(line)) {
      finish();
    } else if (!is_blank(line)) {
      if (is_segment(line, "MSH")) finish();
      if (begin == kNone) begin = pos;
      end = next;
    }
    pos = next;
  }
  finish();
  return messages;
}

}  // namespace cc::hl7v2
