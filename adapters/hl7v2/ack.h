// Original-mode HL7 v2 acknowledgements: the ACK's MSH mirrors the sender, MSA carries the code
// and the message's MSH-10, and ERR segments follow the sender's version layout.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "adapters/hl7v2/message.h"

namespace cc::hl7v2 {

struct AckError {
  int hl7_code = 207;    // HL7 table 0357
  std::string message;   // a sentence a PAS analyst can act on
  Location where;        // segment empty when the problem is not in one place
  char severity = 'E';   // E error, W warning, I information (2.5+)
};

// The parts of the inbound MSH an ACK mirrors, still escaped in the sender's delimiters.
struct AckHeader {
  Delimiters delims;
  std::string sending_app, sending_facility, receiving_app, receiving_facility;  // MSH-3..6, whole fields
  std::string trigger;        // MSH-9.2
  std::string control_id;     // MSH-10
  std::string processing_id;  // MSH-11 (whole field)
  std::string version;        // MSH-12.1
};

AckHeader ack_header_from(const Message& msg);
// Best effort for bytes that would not parse: reads what it can of a leading MSH.
AckHeader ack_header_from_bytes(std::string_view bytes);

// HL7 table 0357 description for a code ("Data type error" for 102).
std::string_view hl7_error_text(int code);

// Escapes text for a field in the given delimiters (\F\ \S\ \T\ \R\ \E\; CR/LF become \.br\).
std::string escape(std::string_view text, const Delimiters& d);

// Builds the ACK. `code` is AA, AE or AR; `ack_control_id` becomes the ACK's MSH-10 and
// `timestamp` its MSH-7 (HL7 DTM with offset). Segments end with CR.
std::string build_ack(const AckHeader& h, std::string_view code, const std::vector<AckError>& errors,
                      std::string_view ack_control_id, std::string_view timestamp);

// Whether the sender's version uses the 2.5+ ERR layout (ERR-2/3/4) rather than ERR-1.
bool uses_v25_err_layout(std::string_view version);

}  // namespace cc::hl7v2
