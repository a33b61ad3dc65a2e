// libFuzzer target: the HL7 v2 parser. Any bytes go to Message::parse_detailed; a message that
// parses must encode back to exactly those bytes, and every accessor must answer on every segment
// and field (including out-of-range ones) without a crash, a sanitizer report or a hang.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <variant>

#include "adapters/hl7v2/message.h"

using cc::hl7v2::Message;
using cc::hl7v2::ParseProblem;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "hl7v2_message_fuzzer: property broken: %s\n", what);
  std::abort();
}

// Keeps the optimiser from dropping accessor calls whose results are otherwise unused.
volatile size_t sink;

void use(std::string_view s) { sink = sink + s.size(); }

// Bounds for the accessor walk, so a message of many fields costs linear, not quadratic, time.
constexpr int kMaxFieldsWalked = 32;

void walk(const Message& m) {
  use(m.sending_application());
  use(m.sending_facility());
  use(m.receiving_application());
  use(m.receiving_facility());
  use(m.message_time());
  use(m.message_code());
  use(m.trigger_event());
  use(m.control_id());
  use(m.processing_id());
  use(m.version());
  sink = sink + static_cast<size_t>(m.charset());
  const auto& d = m.delimiters();

  const size_t segments = m.segment_count();
  if (segments == 0) fail("a parsed message has no segments");
  if (m.segment_name(0) != "MSH") fail("a parsed message does not start with MSH");
  for (size_t seg = 0; seg <= segments; ++seg) {  // one past the end must be safe too
    const std::string_view name = m.segment_name(seg);
    const std::string_view text = m.segment_text(seg);
    use(name);
    use(text);
    if (seg == segments) {
      if (!name.empty() || !text.empty()) fail("a segment past the end is not empty");
      continue;
    }
    if (auto found = m.find(name, seg); !found || *found > seg) fail("find() misses a segment by its own name");
    const int fields = m.field_count(seg);
    const int walked = fields < kMaxFieldsWalked ? fields : kMaxFieldsWalked;
    for (int f = -1; f <= walked + 1; ++f) {
      const std::string_view raw = m.field_raw(seg, f);
      use(raw);
      if (raw.size() > text.size()) fail("a field is longer than its segment");
      const int reps = m.repetition_count(seg, f);
      if (reps < 0) fail("negative repetition count");
      // A few positions a field: the first repetition's whole, components and subcomponents,
      // the last repetition and one past it (the walker below covers every piece once).
      use(m.raw_at(seg, f, 1, 0, 0));
      use(m.raw_at(seg, f, 1, 2, 0));
      use(m.value(seg, f, 1, 1, 1));
      use(m.value(seg, f, 1, 2, 2));
      use(m.raw_at(seg, f, reps, 1, 1));
      use(m.value(seg, f, reps, 1, 1));
      use(m.raw_at(seg, f, reps + 1, 1, 1));
    }
    m.for_each_subcomponent(seg, [&](const Message::Piece& p) {
      use(p.raw);
      if (p.field < 1) fail("a walked piece has no field number");
      const bool delimiter_field = seg == 0 && p.field <= 2;  // MSH-1 and MSH-2 hold the delimiters
      if (!delimiter_field && d.escape != 0 && !p.escaped && p.raw.find(d.escape) != std::string_view::npos)
        fail("a piece holding the escape character is not flagged as escaped");
      use(m.decode(p.raw));
    });
    if (seg == 0 || seg + 1 == segments) use(m.find_all(name).empty() ? "" : "x");  // O(segments) each
  }
  use(m.find("ZZZ").has_value() ? "x" : "");
  // Helpers on the raw text.
  use(cc::hl7v2::piece(m.segment_text(0), d.component, 2));
  sink = sink + static_cast<size_t>(cc::hl7v2::piece_count(m.segment_text(0), d.field));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  auto parsed = Message::parse_detailed(input);
  const bool parses = Message::parse(input).ok();
  if (auto* problem = std::get_if<ParseProblem>(&parsed)) {
    if (parses) fail("parse accepts what parse_detailed rejects");
    if (problem->message.empty()) fail("a rejection without a sentence");
    return 0;
  }
  if (!parses) fail("parse rejects what parse_detailed accepts");
  const Message& m = std::get<Message>(parsed);
  if (m.raw() != input) fail("raw() is not the input");
  if (m.encode() != input) fail("encode() does not give back the input bytes");
  static const bool skip_walk = std::getenv("CC_FUZZ_NO_WALK") != nullptr;  // for timing the walk
  if (!skip_walk) walk(m);
  // Decoding arbitrary text (escapes included) in the message's charset.
  use(m.decode(input.substr(0, 4096)));
  return 0;
}
