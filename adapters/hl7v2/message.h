// A parsed HL7 v2 message: the raw bytes plus a flat index of segment and field offsets.
// No per-field heap objects; components, repetitions and escapes are resolved on read.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "engine/core/result.h"

namespace cc::hl7v2 {

struct Delimiters {
  char field = '|';
  char component = '^';
  char repetition = '~';
  char escape = '\\';
  char subcomponent = '&';
  char truncation = 0;  // 2.7+ fifth encoding character; 0 when absent
};

// MSH-18 character set. Values are always delivered as UTF-8.
enum class Charset { Ascii, Latin1, Utf8 };

// Where a problem is (for ERR segments): segment id, segment sequence (1-based),
// field, repetition, component, subcomponent (0 = not applicable).
struct Location {
  std::string segment;
  int sequence = 1;
  int field = 0;
  int repetition = 0;
  int component = 0;
  int subcomponent = 0;
};

// Why a message could not be parsed at all (leads to AR).
struct ParseProblem {
  int hl7_code = 100;  // HL7 table 0357: 100 segment sequence, 101 required field missing, 102 data type ...
  std::string message; // a sentence a PAS analyst can act on
  Location where;
};

// The nth piece (1-based) of s split on sep; empty when absent.
// A sep of '\0' stands for a delimiter the message does not use: s is then one piece.
std::string_view piece(std::string_view s, char sep, int n);
// How many pieces s has when split on sep (0 for an empty string).
int piece_count(std::string_view s, char sep);

// A Message is read-only once parsed, but not safe to read from several threads at once: reading a
// field's later repetitions fills a small cache (see RepetitionIndex).
class Message {
 public:
  // Parses one message. Accepts a leading UTF-8 BOM, CR / LF / CRLF segment ends,
  // any legal delimiter set from MSH-1/MSH-2. Rejects input that does not start with MSH
  // or whose MSH cannot be read.
  static Result<Message> parse(std::string raw);
  // Same, but with the reason for rejection in HL7 terms (for the ERR segment).
  static std::variant<Message, ParseProblem> parse_detailed(std::string raw);

  // The exact bytes the message was parsed from, rebuilt from the parsed segments.
  std::string encode() const;
  const std::string& raw() const { return raw_; }

  const Delimiters& delimiters() const { return delims_; }
  Charset charset() const { return charset_; }

  // Segments, in order (Z-segments included).
  size_t segment_count() const { return segs_.size(); }
  std::string_view segment_name(size_t seg) const;
  // The segment's text without its terminator.
  std::string_view segment_text(size_t seg) const;
  // Index of the first segment named `name` at or after `from`, or nullopt.
  std::optional<size_t> find(std::string_view name, size_t from = 0) const;
  // Every segment named `name`, in order.
  std::vector<size_t> find_all(std::string_view name) const;

  // Number of fields in the segment (the highest field number present).
  int field_count(size_t seg) const;
  // Field `field` (HL7 numbering; for MSH, MSH-1 is the field separator and MSH-2 the
  // encoding characters) still escaped, all repetitions included.
  std::string_view field_raw(size_t seg, int field) const;
  // One repetition / component / subcomponent (1-based), still escaped. 0 means "the whole".
  std::string_view raw_at(size_t seg, int field, int rep = 1, int comp = 0, int sub = 0) const;
  // Same, unescaped and converted to UTF-8. Empty when absent.
  std::string value(size_t seg, int field, int rep = 1, int comp = 1, int sub = 1) const;
  // Number of repetitions of a field (0 when empty).
  int repetition_count(size_t seg, int field) const;

  // One subcomponent of a segment, as for_each_subcomponent hands them out.
  struct Piece {
    int field = 0;  // HL7 numbering, as field_raw
    int rep = 1;
    int comp = 1;
    int sub = 1;
    std::string_view raw;  // still escaped, in the message's charset
    // raw holds the escape character. When it does not and charset() is not Latin1, raw already
    // is the value; otherwise read it with value() or decode().
    bool escaped = false;
  };
  // Calls visit(piece) for every subcomponent of every non-empty field of a segment, in order,
  // in one pass over the segment text: the quick way to walk a whole message. MSH-1 and MSH-2
  // come as one piece each.
  template <class Visit>
  void for_each_subcomponent(size_t seg, Visit&& visit) const;

  // Unescape (\F\ \S\ \T\ \R\ \E\ \Xhh..\ \.br\ -> newline; \H\ \N\ and unknown escapes are
  // passed through) and convert from the message's charset to UTF-8.
  std::string decode(std::string_view raw) const;

  // MSH shortcuts, decoded.
  std::string sending_application() const;   // MSH-3.1
  std::string sending_facility() const;      // MSH-4.1
  std::string receiving_application() const; // MSH-5.1
  std::string receiving_facility() const;    // MSH-6.1
  std::string message_time() const;          // MSH-7.1
  std::string message_code() const;          // MSH-9.1  e.g. ADT
  std::string trigger_event() const;         // MSH-9.2  e.g. A01
  std::string control_id() const;            // MSH-10
  std::string processing_id() const;         // MSH-11.1 P, T or D
  std::string version() const;               // MSH-12.1 e.g. 2.4

 private:
  struct Segment {
    uint32_t begin = 0;       // offset of the segment text in raw_
    uint32_t end = 0;         // one past the last byte of the text (terminator excluded)
    uint32_t term_end = 0;    // one past the terminator bytes (and any blank lines after)
    uint32_t first_field = 0; // index into field_ends_ of this segment's first field end
    uint32_t field_count = 0; // number of separators + 1 (segment name counts as field 0)
  };
  // Piece `index` of a segment split on the field separator (0 is the segment name).
  std::string_view piece_of(const Segment& seg, uint32_t index) const;
  // Builds segs_ and field_ends_ from raw_ (delims_ already read); true when the text is all ASCII.
  bool index_segments();
  std::optional<ParseProblem> check_segment_names() const;
  // for_each_subcomponent without the template: visit(visitor, piece) for each piece.
  void walk_segment(size_t seg, void (*visit)(void* visitor, const Piece& piece), void* visitor) const;
  // Appends raw unescaped and as UTF-8. `from_raw` says raw is a slice of raw_, whose bytes
  // parse already checked against charset_, so an escape-free slice can be copied as it is.
  void append_decoded(std::string_view raw, std::string& out, bool from_raw) const;
  // Appends what the escape sequence with this content (between the escape characters) stands
  // for; false when the sequence is one that is passed through unchanged.
  bool append_escape(std::string_view content, std::string& out) const;

  // Where each repetition of a field begins, found in one pass, for a field of many repetitions:
  // a loop over them (PID-3, a mapping's "each") then reads each in constant time rather than
  // scanning the field from its start every time, which made a field of 30,000 repetitions cost
  // minutes. The last few such fields are kept.
  struct RepetitionIndex {
    size_t seg = static_cast<size_t>(-1);
    int field = 0;
    std::vector<uint32_t> starts;  // each repetition's offset in the field, then the field's size + 1
  };
  static constexpr int kIndexRepetitionsFrom = 8;  // fewer are scanned directly
  const RepetitionIndex* repetition_index(size_t seg, int field, std::string_view whole) const;

  std::string raw_;
  uint32_t body_begin_ = 0;          // 3 when a BOM leads the message
  Delimiters delims_;
  Charset charset_ = Charset::Ascii;
  std::vector<Segment> segs_;
  std::vector<uint32_t> field_ends_; // for each segment, the end offset of each field
  mutable std::vector<RepetitionIndex> repetition_indexes_;  // at most 4, the oldest replaced
  mutable size_t next_repetition_index_ = 0;
};

template <class Visit>
void Message::for_each_subcomponent(size_t seg, Visit&& visit) const {
  using Visitor = std::remove_reference_t<Visit>;
  walk_segment(
      seg, [](void* visitor, const Piece& piece) { (*static_cast<Visitor*>(visitor))(piece); },
      const_cast<void*>(static_cast<const void*>(std::addressof(visit))));
}

// Splits a file or stream that may hold several messages (and FHS/BHS/BTS/FTS batch
// envelopes) into individual message texts. Envelope segments are dropped.
std::vector<std::string> split_messages(std::string_view text);

}  // namespace cc::hl7v2
