// libFuzzer target: the batch splitter. Any bytes go to split_messages; every text it hands back
// must be a non-empty, non-overlapping slice of the input, in order, and each is then parsed (as
// the file and batch paths do) without a crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "adapters/hl7v2/message.h"

namespace {
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "split_messages_fuzzer: property broken: %s\n", what);
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto messages = cc::hl7v2::split_messages(text);
  size_t at = 0;
  for (const std::string& m : messages) {
    if (m.empty()) fail("an empty text was handed back");
    // Each text is the next slice of the input: it is found at or after the end of the last one.
    // (A leading byte-order mark is skipped only when nothing else is before the first text.)
    const size_t found = text.find(m, at);
    if (found == std::string_view::npos) fail("a text is not a slice of the input after the previous one");
    at = found + m.size();
    auto parsed = cc::hl7v2::Message::parse_detailed(m);
    if (auto* msg = std::get_if<cc::hl7v2::Message>(&parsed)) {
      if (msg->encode() != m) fail("a split message does not encode back to its text");
      if (msg->segment_name(0) != "MSH") fail("a parsed split message does not start with MSH");
    }
  }
  if (at > size) fail("texts run past the input");
  return 0;
}
