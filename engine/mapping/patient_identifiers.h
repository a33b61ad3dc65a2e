// PID-3 read once for both the ACK decision and the mapping: which repetition is the
// NHS number (and whether it passes Modulus 11), and each local identifier with its system.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "adapters/hl7v2/message.h"
#include "engine/identity/nhs_number.h"
#include "engine/mapping/types.h"

namespace cc::mapping {

struct LocalIdentifier {
  int repetition = 0;
  std::string system;     // from the CX-4 assigning authority via the feed's configuration
  std::string value;      // CX-1
  std::string type_code;  // CX-5, HL7 table 0203 (MR, PI, ...)
  std::string authority;  // the CX-4 part the system was chosen by
};

// A PID-3 repetition flagged as an NHS number whose value is not a valid one.
struct RejectedNhsNumber {
  int repetition = 0;
  std::string value;
  std::string problem;  // "fails the Modulus 11 check", "is not 10 digits", ...
};

struct PatientIdentifiers {
  std::optional<identity::NhsNumber> nhs_number;  // the first valid NHS number
  std::vector<RejectedNhsNumber> rejected;
  std::vector<LocalIdentifier> local;  // in PID-3 order, duplicates dropped
};

// A repetition is the NHS number when CX-5 is NH (or NHS), or the CX-4 assigning authority is
// NHS by namespace id or by the NHS number OID 2.16.840.1.113883.2.1.4.1.
PatientIdentifiers read_patient_identifiers(const hl7v2::Message& msg, size_t pid,
                                            const FeedContext& feed);

}  // namespace cc::mapping
