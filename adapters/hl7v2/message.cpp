// HL7 v2 message parsing: delimiters from MSH-1/MSH-2, a flat index of segment and field offsets,
// and on-demand lookup of repetitions, components and subcomponents with escape and charset decoding.
#include "adapters/hl7v2/message.h"

#include <bit>
#include <cstring>
#include <limits>

#include "adapters/hl7v2/charset.h"
#include "adapters/hl7v2/chunk16.h"

namespace cc::hl7v2 {
namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

bool is_upper_or_digit(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return is_upper_or_digit(c) || (c >= 'a' && c <= 'z'); }
bool is_line_end(char c) { return c == '\r' || c == '\n'; }

// A delimiter must be a printable ASCII character other than a letter, a digit or a space.
bool is_legal_delimiter(char c) { return c > ' ' && c < 0x7F && !is_alnum(c); }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Text from the input as a problem report may show it: printable ASCII only, at most `limit` bytes.
std::string printable(std::string_view text, size_t limit) {
  std::string out;
  for (size_t i = 0; i < text.size() && i < limit; ++i) {
    const char c = text[i];
    out.push_back(c >= ' ' && c < 0x7F ? c : '?');
  }
  return out;
}

std::string quoted(std::string_view text, size_t limit) { return '"' + printable(text, limit) + '"'; }

// What an ERR segment can name a malformed segment by: its leading letters and digits (at most 3,
// possibly none), so no delimiter of the reply can slip in.
std::string segment_id_for_report(std::string_view text) {
  std::string id;
  for (size_t i = 0; i < text.size() && i < 3 && is_alnum(text[i]); ++i) id.push_back(text[i]);
  return id;
}

ParseProblem problem(int hl7_code, std::string message, std::string segment = "MSH", int sequence = 1,
                     int field = 0) {
  ParseProblem p;
  p.hl7_code = hl7_code;
  p.message = std::move(message);
  p.where.segment = std::move(segment);
  p.where.sequence = sequence;
  p.where.field = field;
  return p;
}

// One past the line end at `at` and any blank (empty or spaces-and-tabs) lines after it, so that
// those bytes belong to the segment before them and encode() can give them back.
uint32_t skip_line_ends(const char* data, uint32_t at, uint32_t size) {
  uint32_t end = at;
  for (;;) {
    while (end < size && is_line_end(data[end])) ++end;
    uint32_t blank = end;
    while (blank < size && (data[blank] == ' ' || data[blank] == '\t')) ++blank;
    if (blank == end || (blank < size && !is_line_end(data[blank]))) return end;
    end = blank;
  }
}

// Index of the first line end (CR or LF) at or after `at`, or size; records the offset of each
// field separator before it, and ORs into `high` a non-zero value if a byte before it is not ASCII.
uint32_t scan_segment(const char* data, uint32_t from, uint32_t size, const CharSet16<1>& separator,
                      std::vector<uint32_t>& field_ends, uint32_t& high) {
  const CharSet16<2> line_end({'\r', '\n'});
  // Chunk positions are 64-bit: a 32-bit one could wrap past the end of a text near 4 GiB.
  for (uint64_t chunk_at = from; chunk_at < size; chunk_at += 16) {
    const auto at = static_cast<uint32_t>(chunk_at);
    const Chunk16 chunk(data + at, data + size);
    uint32_t in_segment = size - at >= 16 ? 0xFFFF : low_bits(size - at);
    const uint32_t ends = chunk.matches(line_end) & in_segment;
    if (ends != 0) in_segment &= (ends & -ends) - 1;  // only bytes before the line end
    high |= chunk.high_bytes() & in_segment;
    for (uint32_t separators = chunk.matches(separator) & in_segment; separators != 0; separators &= separators - 1) {
      field_ends.push_back(at + std::countr_zero(separators));
    }
    if (ends != 0) return at + std::countr_zero(ends);
  }
  return size;
}

// Reads MSH-1 and MSH-2 from the start of an MSH segment.
std::optional<ParseProblem> read_delimiters(std::string_view msh, Delimiters& d) {
  if (msh.size() < 4 || is_line_end(msh[3])) {
    return problem(101, "The MSH segment ends before MSH-1 (the field separator): the message header must start "
                        "like MSH|^~\\&|.", "MSH", 1, 1);
  }
  const char field = msh[3];
  if (!is_legal_delimiter(field)) {
    return problem(102, "MSH-1, the field separator, is " + quoted(msh.substr(3, 1), 1) +
                            ": it must be a punctuation character such as |.", "MSH", 1, 1);
  }
  std::string_view encoding = msh.substr(4);
  for (size_t i = 0; i < encoding.size(); ++i) {
    if (encoding[i] == field || is_line_end(encoding[i])) {
      encoding = encoding.substr(0, i);
      break;
    }
  }
  if (encoding.empty()) {
    return problem(101, "MSH-2, the encoding characters, is empty: it must hold the component, repetition, escape "
                        "and subcomponent characters, e.g. ^~\\&.", "MSH", 1, 2);
  }
  if (encoding.size() > 5) {
    return problem(102, "MSH-2, the encoding characters, is " + quoted(encoding, 16) +
                            ": it must hold 4 characters such as ^~\\& (5 from HL7 v2.7, e.g. ^~\\&#).", "MSH", 1, 2);
  }
  for (size_t i = 0; i < encoding.size(); ++i) {
    if (!is_legal_delimiter(encoding[i])) {
      return problem(102, "MSH-2, the encoding characters, is " + quoted(encoding, 5) +
                              ": each must be a punctuation character, as in ^~\\&.", "MSH", 1, 2);
    }
    if (encoding.find(encoding[i], i + 1) != std::string_view::npos) {
      return problem(102, "MSH-2, the encoding characters, is " + quoted(encoding, 5) + " and uses " +
                              quoted(encoding.substr(i, 1), 1) + " twice: each delimiter must be a different character.",
                     "MSH", 1, 2);
    }
  }
  // An encoding character missing from a short MSH-2 is '\0': that delimiter is not in use.
  auto encoding_character = [&](size_t i) { return i < encoding.size() ? encoding[i] : '\0'; };
  d.field = field;
  d.component = encoding_character(0);
  d.repetition = encoding_character(1);
  d.escape = encoding_character(2);
  d.subcomponent = encoding_character(3);
  d.truncation = encoding_character(4);
  return std::nullopt;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 'a' + 'A');
    if (x != b[i]) return false;
  }
  return true;
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// The character set values are read in, from MSH-18 (its first repetition) and the bytes themselves.
// MSH-18 empty or ASCII: ASCII while the bytes are, since many senders leave it so and still send
// accented names. 8859/1: Latin-1. UNICODE UTF-8: UTF-8. For an undeclared non-ASCII message, a
// declared UTF-8 message whose bytes are not UTF-8, and any character set this parser does not
// convert (8859/15, ISO IR87, UNICODE UTF-16 ...), the bytes decide: UTF-8 when they are well-formed
// UTF-8, otherwise Latin-1, the usual single-byte set of UK PAS systems.
Charset resolve_charset(std::string_view declared, std::string_view body, bool body_is_ascii) {
  declared = trimmed(declared);
  for (std::string_view latin1 : {"8859/1", "ISO-8859-1", "ISO8859-1", "LATIN1", "LATIN-1"}) {
    if (equals_ignoring_case(declared, latin1)) return Charset::Latin1;
  }
  if ((declared.empty() || equals_ignoring_case(declared, "ASCII")) && body_is_ascii) return Charset::Ascii;
  return body_is_ascii || is_utf8(body) ? Charset::Utf8 : Charset::Latin1;
}

}  // namespace

std::string_view piece(std::string_view s, char sep, int n) {
  if (n < 1) return {};
  if (sep == '\0') return n == 1 ? s : std::string_view{};
  for (; n > 1; --n) {
    const size_t at = s.find(sep);
    if (at == std::string_view::npos) return {};
    s.remove_prefix(at + 1);
  }
  return s.substr(0, s.find(sep));
}

int piece_count(std::string_view s, char sep) {
  if (s.empty()) return 0;
  if (sep == '\0') return 1;
  int count = 1;
  for (const char* p = s.data(), *end = s.data() + s.size();
       (p = static_cast<const char*>(std::memchr(p, sep, end - p))) != nullptr; ++p) {
    ++count;
  }
  return count;
}

Result<Message> Message::parse(std::string raw) {
  auto parsed = parse_detailed(std::move(raw));
  if (auto* problem = std::get_if<ParseProblem>(&parsed)) return make_error("hl7-parse", std::move(problem->message));
  return std::get<Message>(std::move(parsed));
}

std::variant<Message, ParseProblem> Message::parse_detailed(std::string raw) {
  if (raw.empty()) return problem(100, "The message is empty: there is nothing to read.");
  if (raw.size() > std::numeric_limits<uint32_t>::max()) {
    return problem(100, "The message is " + std::to_string(raw.size()) +
                            " bytes long; messages of 4 GiB or more cannot be read. Ask the sender to split it.");
  }
  Message m;
  m.raw_ = std::move(raw);
  const std::string_view whole = m.raw_;
  if (whole.starts_with(kUtf8Bom)) m.body_begin_ = static_cast<uint32_t>(kUtf8Bom.size());
  const std::string_view body = whole.substr(m.body_begin_);
  if (!body.starts_with("MSH")) {
    return problem(100, "This is not an HL7 v2 message: it must start with MSH, but it starts with " +
                            quoted(body, 3) + ".");
  }
  if (auto bad = read_delimiters(body, m.delims_)) return *bad;
  const bool body_is_ascii = m.index_segments();
  if (auto bad = m.check_segment_names()) return *bad;
  if (m.field_raw(0, 9).empty()) {
    return problem(101, "MSH-9 (message type) is empty: the sending system must fill it, e.g. ADT^A01.", "MSH", 1, 9);
  }
  if (m.field_raw(0, 10).empty()) {
    return problem(101, "MSH-10 (message control ID) is empty: the sending system must give every message a "
                        "control ID, which the acknowledgement quotes back.", "MSH", 1, 10);
  }
  m.charset_ = resolve_charset(m.raw_at(0, 18, 1), body, body_is_ascii);
  return m;
}

bool Message::index_segments() {
  const char* data = raw_.data();
  const auto size = static_cast<uint32_t>(raw_.size());
  const CharSet16<1> separator({delims_.field});
  uint32_t high = 0;
  // Typical messages run about 80 bytes a segment and 8 a field; reserving a little more avoids regrowth.
  segs_.reserve(size / 64 + 4);
  field_ends_.reserve(size / 6 + 16);
  uint32_t pos = body_begin_;
  while (pos < size) {
    Segment seg;
    seg.begin = pos;
    seg.first_field = static_cast<uint32_t>(field_ends_.size());
    const uint32_t at = scan_segment(data, pos, size, separator, field_ends_, high);
    field_ends_.push_back(at);
    seg.end = at;
    seg.field_count = static_cast<uint32_t>(field_ends_.size()) - seg.first_field;
    seg.term_end = skip_line_ends(data, at, size);
    segs_.push_back(seg);
    pos = seg.term_end;
  }
  return high == 0;  // line ends and blank lines between segments are ASCII by definition
}

std::optional<ParseProblem> Message::check_segment_names() const {
  for (size_t i = 1; i < segs_.size(); ++i) {
    const std::string_view name = piece_of(segs_[i], 0);
    const int sequence = static_cast<int>(i + 1);
    const bool well_formed = name.size() == 3 && is_upper_or_digit(name[0]) && is_upper_or_digit(name[1]) &&
                             is_upper_or_digit(name[2]);
    if (!well_formed) {
      const std::string_view text = segment_text(i);
      return problem(100, "Segment " + std::to_string(sequence) + " starts with " + quoted(text, 12) +
                              ", which is not a segment name: each segment must start with 3 capital letters or "
                              "digits (a line break inside a field, or text that is not HL7, causes this).",
                     segment_id_for_report(text), sequence);
    }
    if (name == "MSH") {
      return problem(100, "Segment " + std::to_string(sequence) + " is a second MSH: the input holds more than one "
                              "message and must be split into single messages first.", "MSH", sequence);
    }
  }
  return std::nullopt;
}

std::string Message::encode() const {
  std::string out;
  out.reserve(raw_.size());
  out.append(raw_, 0, body_begin_);
  for (const Segment& seg : segs_) out.append(raw_, seg.begin, seg.term_end - seg.begin);
  return out;
}

std::string_view Message::piece_of(const Segment& seg, uint32_t index) const {
  if (index >= seg.field_count) return {};
  const uint32_t begin = index == 0 ? seg.begin : field_ends_[seg.first_field + index - 1] + 1;
  const uint32_t end = field_ends_[seg.first_field + index];
  return std::string_view(raw_).substr(begin, end - begin);
}

std::string_view Message::segment_name(size_t seg) const {
  return seg < segs_.size() ? piece_of(segs_[seg], 0) : std::string_view{};
}

std::string_view Message::segment_text(size_t seg) const {
  if (seg >= segs_.size()) return {};
  return std::string_view(raw_).substr(segs_[seg].begin, segs_[seg].end - segs_[seg].begin);
}

std::optional<size_t> Message::find(std::string_view name, size_t from) const {
  for (size_t i = from; i < segs_.size(); ++i) {
    if (segment_name(i) == name) return i;
  }
  return std::nullopt;
}

std::vector<size_t> Message::find_all(std::string_view name) const {
  std::vector<size_t> found;
  for (size_t i = 0; i < segs_.size(); ++i) {
    if (segment_name(i) == name) found.push_back(i);
  }
  return found;
}

// Segment 0 is always the MSH: parse rejects anything else and any second MSH.
int Message::field_count(size_t seg) const {
  if (seg >= segs_.size()) return 0;
  const auto pieces = static_cast<int>(segs_[seg].field_count);
  return seg == 0 ? pieces : pieces - 1;
}

std::string_view Message::field_raw(size_t seg, int field) const {
  if (seg >= segs_.size() || field < 1) return {};
  const Segment& s = segs_[seg];
  if (seg != 0) return piece_of(s, static_cast<uint32_t>(field));
  if (field == 1) return std::string_view(raw_).substr(s.begin + 3, 1);
  return piece_of(s, static_cast<uint32_t>(field - 1));
}

// MSH-1 and MSH-2 hold the delimiters themselves, so they are never split or unescaped.
// Elsewhere each level of rep / comp / sub narrows the one above; a 0 stops there.
std::string_view Message::raw_at(size_t seg, int field, int rep, int comp, int sub) const {
  const std::string_view whole = field_raw(seg, field);
  if (seg == 0 && field <= 2) {
    const auto whole_or_first = [](int n) { return n == 0 || n == 1; };
    return whole_or_first(rep) && whole_or_first(comp) && whole_or_first(sub) ? whole : std::string_view{};
  }
  if (rep == 0) return whole;
  std::string_view repetition;
  if (rep < kIndexRepetitionsFrom || delims_.repetition == '\0') {
    repetition = piece(whole, delims_.repetition, rep);
  } else if (const RepetitionIndex* index = repetition_index(seg, field, whole)) {
    const auto& starts = index->starts;
    if (static_cast<size_t>(rep) >= starts.size()) return {};
    repetition = whole.substr(starts[rep - 1], starts[rep] - starts[rep - 1] - 1);
  } else {
    return {};  // fewer repetitions than that
  }
  if (comp == 0) return repetition;
  const std::string_view component = piece(repetition, delims_.component, comp);
  if (sub == 0) return component;
  return piece(component, delims_.subcomponent, sub);
}

void Message::walk_segment(size_t seg, void (*visit)(void* visitor, const Piece& piece), void* visitor) const {
  if (seg >= segs_.size()) return;
  const Segment& s = segs_[seg];
  uint32_t first_piece = 1;  // the first piece after the segment name that is split
  if (seg == 0) {
    visit(visitor, Piece{1, 1, 1, 1, field_raw(0, 1), false});
    visit(visitor, Piece{2, 1, 1, 1, field_raw(0, 2), false});
    first_piece = 2;
  }
  const char* data = raw_.data();
  const char* const text_end = data + raw_.size();
  const Delimiters d = delims_;  // a local copy stays in registers across the visitor calls
  // A delimiter not in use ('\0') is looked for as the field separator, which never occurs in a field.
  const auto in_use = [&](char delimiter) { return delimiter != '\0' ? delimiter : d.field; };
  const CharSet16<3> delimiter({in_use(d.repetition), in_use(d.component), in_use(d.subcomponent)});
  const CharSet16<1> escape({in_use(d.escape)});
  const uint32_t* ends = field_ends_.data() + s.first_field;
  for (uint32_t i = first_piece; i < s.field_count; ++i) {
    const uint32_t field_begin = ends[i - 1] + 1;
    const uint32_t field_end = ends[i];
    if (field_begin == field_end) continue;  // an empty field has no pieces
    const int field = static_cast<int>(seg == 0 ? i + 1 : i);
    int rep = 1, comp = 1, sub = 1;
    uint32_t start = field_begin;
    bool escaped_before = false;  // an escape character in the current piece, in an earlier chunk
    for (uint64_t chunk_at = field_begin; chunk_at < field_end; chunk_at += 16) {  // 64-bit: see scan_segment
      const auto base = static_cast<uint32_t>(chunk_at);
      const Chunk16 chunk(data + base, text_end);
      const uint32_t in_field = field_end - base >= 16 ? 0xFFFF : low_bits(field_end - base);
      uint32_t delimiters = chunk.matches(delimiter) & in_field;
      uint32_t escapes = chunk.matches(escape) & in_field;
      for (; delimiters != 0; delimiters &= delimiters - 1) {
        const auto bit = static_cast<uint32_t>(std::countr_zero(delimiters));
        const uint32_t at = base + bit;
        const bool escaped = escaped_before || (escapes & low_bits(bit)) != 0;
        visit(visitor, Piece{field, rep, comp, sub, std::string_view(data + start, at - start), escaped});
        escapes &= ~low_bits(bit + 1);
        escaped_before = false;
        start = at + 1;
        // Without branches: which delimiter comes next is unpredictable.
        const char c = data[at];
        const bool new_comp = c == d.repetition || c == d.component;
        rep += c == d.repetition;
        comp = c == d.repetition ? 1 : comp + (c == d.component);
        sub = new_comp ? 1 : sub + 1;
      }
      escaped_before = escaped_before || escapes != 0;
    }
    visit(visitor, Piece{field, rep, comp, sub, std::string_view(data + start, field_end - start), escaped_before});
  }
}

std::string Message::value(size_t seg, int field, int rep, int comp, int sub) const {
  const std::string_view raw = raw_at(seg, field, rep, comp, sub);
  if (seg == 0 && field <= 2) return std::string(raw);
  std::string out;
  append_decoded(raw, out, true);
  return out;
}

int Message::repetition_count(size_t seg, int field) const {
  const std::string_view whole = field_raw(seg, field);
  if (seg == 0 && field <= 2) return whole.empty() ? 0 : 1;
  for (const RepetitionIndex& index : repetition_indexes_)
    if (index.seg == seg && index.field == field) return static_cast<int>(index.starts.size() - 1);
  return piece_count(whole, delims_.repetition);
}

const Message::RepetitionIndex* Message::repetition_index(size_t seg, int field, std::string_view whole) const {
  for (const RepetitionIndex& index : repetition_indexes_)
    if (index.seg == seg && index.field == field) return &index;
  RepetitionIndex index{seg, field, {0}};
  for (const char* p = whole.data(), *end = whole.data() + whole.size();
       (p = static_cast<const char*>(std::memchr(p, delims_.repetition, static_cast<size_t>(end - p)))) != nullptr; ++p)
    index.starts.push_back(static_cast<uint32_t>(p - whole.data() + 1));
  index.starts.push_back(static_cast<uint32_t>(whole.size() + 1));
  if (index.starts.size() - 1 < static_cast<size_t>(kIndexRepetitionsFrom)) return nullptr;
  constexpr size_t kKept = 4;
  if (repetition_indexes_.size() < kKept) {
    repetition_indexes_.push_back(std::move(index));
    return &repetition_indexes_.back();
  }
  RepetitionIndex& slot = repetition_indexes_[next_repetition_index_++ % kKept];
  slot = std::move(index);
  return &slot;
}

std::string Message::decode(std::string_view raw) const {
  std::string out;
  append_decoded(raw, out, false);
  return out;
}

void Message::append_decoded(std::string_view raw, std::string& out, bool from_raw) const {
  const char escape = delims_.escape;
  const bool escaped = escape != '\0' && raw.find(escape) != std::string_view::npos;
  if (!escaped && charset_ != Charset::Latin1 && from_raw) {
    out.append(raw);
    return;
  }
  std::string unescaped;
  if (escaped) {
    unescaped.reserve(raw.size());
    size_t at = 0;
    while (at < raw.size()) {
      const size_t open = raw.find(escape, at);
      if (open == std::string_view::npos) {
        unescaped.append(raw.substr(at));
        break;
      }
      unescaped.append(raw.substr(at, open - at));
      const size_t close = raw.find(escape, open + 1);
      if (close == std::string_view::npos) {  // unterminated: kept as written
        unescaped.append(raw.substr(open));
        break;
      }
      if (!append_escape(raw.substr(open + 1, close - open - 1), unescaped)) {
        unescaped.append(raw.substr(open, close - open + 1));
      }
      at = close + 1;
    }
    raw = unescaped;
  }
  // Unescaped \Xhh\ bytes are in the message's character set like the rest, so they are converted too.
  if (charset_ == Charset::Latin1) {
    append_latin1_as_utf8(raw, out);
  } else {
    append_utf8_repaired(raw, out);
  }
}

bool Message::append_escape(std::string_view content, std::string& out) const {
  if (content.size() == 1) {
    char delimiter = '\0';
    switch (content[0]) {
      case 'F': delimiter = delims_.field; break;
      case 'S': delimiter = delims_.component; break;
      case 'T': delimiter = delims_.subcomponent; break;
      case 'R': delimiter = delims_.repetition; break;
      case 'E': delimiter = delims_.escape; break;
      case 'P': delimiter = delims_.truncation; break;  // v2.7+
      default: break;
    }
    if (delimiter == '\0') return false;
    out.push_back(delimiter);
    return true;
  }
  if (content == ".br") {
    out.push_back('\n');
    return true;
  }
  if (content.size() >= 3 && content[0] == 'X' && content.size() % 2 == 1) {
    const size_t before = out.size();
    for (size_t i = 1; i < content.size(); i += 2) {
      const int high = hex_digit(content[i]);
      const int low = hex_digit(content[i + 1]);
      if (high < 0 || low < 0) {
        out.resize(before);
        return false;
      }
      out.push_back(static_cast<char>(high * 16 + low));
    }
    return true;
  }
  return false;
}

std::string Message::sending_application() const { return value(0, 3); }
std::string Message::sending_facility() const { return value(0, 4); }
std::string Message::receiving_application() const { return value(0, 5); }
std::string Message::receiving_facility() const { return value(0, 6); }
std::string Message::message_time() const { return value(0, 7); }
std::string Message::message_code() const { return value(0, 9); }
std::string Message::trigger_event() const { return value(0, 9, 1, 2); }
std::string Message::control_id() const { return value(0, 10); }
std::string Message::processing_id() const { return value(0, 11); }
std::string Message::version() const { return value(0, 12); }

}  // namespace cc::hl7v2
