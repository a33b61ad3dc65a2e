// Original-mode HL7 v2 acknowledgements: the ACK's MSH mirrors the sender, MSA carries the code
// and the message's MSH-10, and ERR segments follow the sender's version layout.
#include "adapters/hl7v2/ack.h"

#include <charconv>
#include <system_error>

namespace cc::hl7v2 {

AckHeader ack_header_from(const Message& msg) {
  AckHeader h;
  h.delims = msg.delimiters();
  h.sending_app = msg.field_raw(0, 3);
  h.sending_facility = msg.field_raw(0, 4);
  h.receiving_app = msg.field_raw(0, 5);
  h.receiving_facility = msg.field_raw(0, 6);
  h.trigger = msg.raw_at(0, 9, 1, 2);
  h.control_id = msg.field_raw(0, 10);
  h.processing_id = msg.field_raw(0, 11);
  h.version = msg.raw_at(0, 12, 1, 1);
  return h;
}

AckHeader ack_header_from_bytes(std::string_view bytes) {
  AckHeader h;
  if (bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xEF) bytes.remove_prefix(3);  // BOM
  if (bytes.size() < 8 || bytes.substr(0, 3) != "MSH") return h;
  Delimiters d;
  d.field = bytes[3];
  if (d.field == '\r' || d.field == '\n' || d.field == 0) return h;
  d.component = bytes[4];
  d.repetition = bytes[5];
  d.escape = bytes[6];
  d.subcomponent = bytes[7];
  // Only the first segment, and only what looks like delimiters we can reuse safely.
  auto end = bytes.find_first_of("\r\n");
  std::string_view msh = bytes.substr(0, end == std::string_view::npos ? std::min<size_t>(bytes.size(), 4096) : end);
  auto field = [&](int n) -> std::string {
    // Split on the field separator, piece 1 is "MSH" and piece n is MSH-n.
    return std::string(piece(msh, d.field, n));
  };
  h.delims = d;
  h.sending_app = field(3);
  h.sending_facility = field(4);
  h.receiving_app = field(5);
  h.receiving_facility = field(6);
  h.trigger = std::string(piece(field(9), d.component, 2));
  h.control_id = field(10);
  h.processing_id = field(11);
  h.version = std::string(piece(field(12), d.component, 1));
  return h;
}

std::string_view hl7_error_text(int code) {
  switch (code) {
    case 0: return "Message accepted";
    case 100: return "Segment sequence error";
    case 101: return "Required field missing";
    case 102: return "Data type error";
    case 103: return "Table value not found";
    case 104: return "Value too long";
    case 200: return "Unsupported message type";
    case 201: return "Unsupported event code";
    case 202: return "Unsupported processing id";
    case 203: return "Unsupported version id";
    case 204: return "Unknown key identifier";
    case 205: return "Duplicate key identifier";
    case 206: return "Application record locked";
    default: return "Application internal error";
  }
}

std::string escape(std::string_view text, const Delimiters& d) {
  std::string out;
  out.reserve(text.size() + 8);
  auto esc = [&](char c) {
    out += d.escape;
    out += c;
    out += d.escape;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == d.escape) esc('E');
    else if (c == d.field) esc('F');
    else if (c == d.component) esc('S');
    else if (c == d.subcomponent) esc('T');
    else if (c == d.repetition) esc('R');
    else if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out += d.escape;
      out += ".br";
      out += d.escape;
    } else out += c;
  }
  return out;
}

namespace {
// At most `max` bytes of `s`, never cutting a UTF-8 character in two.
std::string utf8_prefix(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}
}  // namespace

bool uses_v25_err_layout(std::string_view version) {
  // "2.5", "2.5.1", "2.6" ... ; unknown or empty versions get the newer layout.
  if (version.size() < 3 || version[0] != '2' || version[1] != '.') return true;
  // The minor version's digits, read without overflow: "2.10" is after 2.5, "2.4.1" before it.
  int minor = 0;
  const auto [end, error] = std::from_chars(version.data() + 2, version.data() + version.size(), minor);
  (void)end;
  if (error == std::errc::result_out_of_range) return true;
  return minor >= 5;
}

std::string build_ack(const AckHeader& h, std::string_view code, const std::vector<AckError>& errors,
                      std::string_view ack_control_id, std::string_view timestamp) {
  const Delimiters& d = h.delims;
  const char f = d.field;
  const char c = d.component;
  std::string out;
  out.reserve(256);
  out += "MSH";
  out += f;
  out += d.component;
  out += d.repetition;
  out += d.escape;
  out += d.subcomponent;
  if (d.truncation) out += d.truncation;
  // The ACK goes back to the sender: MSH-3/4 and MSH-5/6 swapped.
  for (const std::string* s : {&h.receiving_app, &h.receiving_facility, &h.sending_app, &h.sending_facility}) {
    out += f;
    out += *s;
  }
  out += f;
  out += timestamp;
  out += f;  // MSH-8 security
  out += f;
  out += "ACK";
  if (!h.trigger.empty()) {
    out += c;
    out += h.trigger;
    out += c;
    out += "ACK";
  }
  out += f;
  out += ack_control_id;
  out += f;
  out += h.processing_id.empty() ? std::string("P") : h.processing_id;
  out += f;
  out += h.version.empty() ? std::string("2.5") : h.version;
  out += '\r';

  const bool v25 = uses_v25_err_layout(h.version);
  out += "MSA";
  out += f;
  out += code;
  out += f;
  out += h.control_id;
  if (!v25 && !errors.empty()) {
    out += f;  // MSA-3 text message: the first sentence, for 2.3/2.4 receivers
    out += escape(utf8_prefix(errors.front().message, 80), d);
  }
  out += '\r';

  if (errors.empty()) return out;
  if (!v25) {
    // 2.3 / 2.4: one ERR, ERR-1 repeats: segment^sequence^field^code&text&HL70357
    out += "ERR";
    out += f;
    bool first = true;
    for (auto& e : errors) {
      if (!first) out += d.repetition;
      first = false;
      out += e.where.segment;
      out += c;
      if (!e.where.segment.empty()) out += std::to_string(e.where.sequence);
      out += c;
      if (e.where.field > 0) out += std::to_string(e.where.field);
      out += c;
      out += std::to_string(e.hl7_code);
      out += d.subcomponent;
      out += escape(e.message, d);
      out += d.subcomponent;
      out += "HL70357";
    }
    out += '\r';
    return out;
  }
  // 2.5+: one ERR a problem: ERR-2 location, ERR-3 code, ERR-4 severity, ERR-8 user message.
  for (auto& e : errors) {
    out += "ERR";
    out += f;  // ERR-1 (not used from 2.5)
    out += f;
    if (!e.where.segment.empty()) {
      out += e.where.segment;
      out += c;
      out += std::to_string(e.where.sequence);
      if (e.where.field > 0) {
        out += c;
        out += std::to_string(e.where.field);
        if (e.where.repetition > 0 || e.where.component > 0) {
          out += c;
          out += std::to_string(e.where.repetition > 0 ? e.where.repetition : 1);
          if (e.where.component > 0) {
            out += c;
            out += std::to_string(e.where.component);
            if (e.where.subcomponent > 0) {
              out += c;
              out += std::to_string(e.where.subcomponent);
            }
          }
        }
      }
    }
    out += f;
    out += std::to_string(e.hl7_code);
    out += c;
    out += escape(hl7_error_text(e.hl7_code), d);
    out += c;
    out += "HL70357";
    out += f;
    out += e.severity;
    out += f;  // ERR-5 application error code
    out += f;  // ERR-6 application error parameter
    out += f;  // ERR-7 diagnostic information
    out += f;
    out += escape(e.message, d);  // ERR-8 user message
    out += '\r';
  }
  return out;
}

}  // namespace cc::hl7v2
