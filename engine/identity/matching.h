// Patient matching: the demographics a registration carries, how two sets of them are compared
// (disagreements that stop an NHS-number link; a deterministic score for the matching work-list)
// and the decision the patient index takes when a source's Patient arrives. Pure functions: the
// record store holds the index and applies the decisions inside its own transaction.
// docs/identity.md explains the rules to the people who resolve the work-list.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

namespace cc::identity {

// One source's demographics for a patient, normalised for comparison.
struct Demographics {
  std::string family;      // upper case, letters only
  std::string given;       // first given name, upper case, letters only
  std::string birth_date;  // YYYY-MM-DD, or "" when not known to the day
  std::string gender;      // FHIR administrative gender; "" for unknown
  std::string postcode;    // upper case, no spaces
  bool operator==(const Demographics&) const = default;
};

// Read from a FHIR Patient (its first official or usual name, else the first name; the first
// address with a postal code).
Demographics demographics_of(const rapidjson::Value& patient);

// Upper case, letters only ("O'Neill-Smith" -> "ONEILLSMITH").
std::string normalise_name(std::string_view name);
// Upper case without spaces ("ch1 2ab" -> "CH12AB").
std::string normalise_postcode(std::string_view postcode);

// Where `arriving` contradicts `record`: "family name", "birth date", "sex" (in that order). A
// value missing on either side, or an unknown sex, is no contradiction. Given name and postcode
// differences are kept per source, never a reason to hold.
std::vector<std::string> disagreements(const Demographics& record, const Demographics& arriving);

// The matching score (docs/identity.md): family name 4; given name 3 (same initial 1); birth
// date 4 (day and month transposed, or one of day, month, year different: 2); sex 1 (different: -2);
// postcode 2 (same outward code 1). At most 14.
struct MatchScore {
  int total = 0;
  std::vector<std::string> reasons;  // "family name", "birth date transposed", ...
};
MatchScore score(const Demographics& a, const Demographics& b);
// Candidates at or above this score are listed on the work-list; nothing links automatically.
constexpr int kCandidateScore = 7;
// A listed candidate at or above this score is called "strong" (still a person decides).
constexpr int kStrongScore = 12;

// The regional patient's id for a verified NHS number: lowercase hex of the first 16 bytes of
// SHA-256("Patient|urn:connecting-care:regional-patient|" + NHS number).
std::string regional_patient_id(std::string_view nhs_number);

// How a registration (one source's Patient) stands in the patient index.
enum class LinkState {
  kVerified,  // joined to the regional patient of the NHS number its source sent
  kLocal,     // no NHS number yet: its own patient, on the matching work-list
  kHeld,      // its NHS number's patient has contradicting demographics: its own patient, on the work-list
  kLinked,    // joined to a regional patient by a person
  kNew,       // a person said it matches no one: its own patient, off the work-list
  kRejected,  // a person refused it a place in the regional record: never joined automatically
  kMerged,    // joined by a hospital merge (A40/A34)
};
std::string_view to_string(LinkState s);
std::optional<LinkState> link_state_from(std::string_view s);

struct Link {
  std::string person_id;   // the patient its data are read under (its own id when not joined)
  LinkState state = LinkState::kLocal;
  std::string nhs_number;  // the NHS number its source last sent ("" for none)
  Demographics demographics;
};

// A source's Patient arriving. `authoritative` is false for a Patient written only when absent (a
// results or extract feed's copy): it may join a regional patient but never moves one.
struct Claim {
  std::string registration_id;
  std::string nhs_number;  // verified, or ""
  Demographics demographics;
  bool authoritative = true;
  // Verified NHS numbers the source says this one replaced (a GP record's identifiers with use
  // "old"): what the record holds under them moves to the current one.
  std::vector<std::string> superseded;
};

// The claim a FHIR Patient makes: its first current NHS number that passes Modulus 11, the ones
// marked use "old" as superseded, and its demographics.
Claim claim_of(const std::string& registration_id, const rapidjson::Value& patient, bool authoritative);

struct Decision {
  bool change = false;        // the link row changes (person, state or NHS number)
  Link link;                  // the registration's link after the claim
  std::string history;        // why the person changed ("" when it did not)
  std::string open_conflict;  // a sentence for the work-list: held, not joined
  bool resolve_conflict = false;
};

// The decision for `claim`, given the registration's current link (none when first seen) and the
// demographics of the regional patient its NHS number names (none when that patient has no other
// registration yet).
Decision decide(const Claim& claim, const std::optional<Link>& current, const std::optional<Demographics>& record);

}  // namespace cc::identity
