// Legitimate relationships found in the record: the reader's organisation is the patient's
// registered GP practice, or has an open encounter, an open episode of care, or an active care team
// with them. Organisations roll up through the configured ODS hierarchy (a site to its trust).
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/governance/consent.h"
#include "engine/governance/policy.h"
#include "engine/store/record_store.h"

namespace cc::governance {

// The ODS hierarchy: child organisation (a site, a team) -> parent (its trust, practice, council).
class Organisations {
 public:
  Organisations() = default;
  explicit Organisations(std::map<std::string, std::string> parent) : parent_(std::move(parent)) {}
  // True when `org` is `reader_org` or sits under it (at most 16 levels).
  bool covers(const std::string& reader_org, const std::string& org) const;

 private:
  std::map<std::string, std::string> parent_;
};

// The resource types a decision reads about the patient: relationship_in_record's and Consent.
inline const std::vector<std::string>& governance_fact_types() {
  static const std::vector<std::string> types{"Patient", "Encounter", "EpisodeOfCare", "CareTeam", "Consent"};
  return types;
}

// The first relationship (in the order registered GP, open encounter, open episode, care team) the
// policy counts, between the reader's organisation and the patient whose current Patient
// (every registration), Encounter, EpisodeOfCare and CareTeam resources are `facts`. An
// organisation is read from the resource (generalPractitioner; serviceProvider;
// managingOrganization; the care team's managing organisations and participants' onBehalfOf) and
// from its provenance (the sending facility or feed owner); a Patient counts for the registered
// GP only by its generalPractitioner, or by provenance when it came from one of `gp_feeds`.
std::optional<RecordRelationship> relationship_in_record(const std::vector<store::StoredResource>& facts,
                                                         const std::string& reader_org, const Organisations& orgs,
                                                         const DisclosurePolicy& policy,
                                                         const std::set<std::string>& gp_feeds);

// Whether any of these Patient resources (a person's registrations) is restricted (sensitive.h).
bool any_restricted(const std::vector<store::StoredResource>& facts);

// The decision for one reader, one patient and one resource type, in steps:
//   role — may the role read the type? Patient (demographics, to find a patient) needs no more;
//   relationship — one in the record, else the reader's unexpired recorded access
//     (`recorded_access`, asked only then, returns its kind or "");
//   consent — the patient's consent (their Consent resources among `facts`): dissent refuses
//     everything clinical and a withheld type refuses that type, unless the basis is break-glass and
//     the policy lets break-glass open it; withheld sources are left to the caller, item by item.
// `basis` says why ("demographics", "open-encounter", "access:break-glass", ...); `refusal` is
// "role", "relationship", "dissent" or "withheld" when not permitted.
struct AccessDecision {
  bool permitted = false;
  std::string basis;
  std::string refusal;
  std::set<std::string> withheld_sources;  // ODS codes whose items the caller must leave out
  // Item by item (item_refusal): the sensitive categories this role does not see, and the source
  // organisation types shown only with consent the patient has not recorded.
  std::set<std::string> hidden_categories;
  std::set<std::string> withheld_source_types;
  std::set<std::string> allowed_source_types;  // the role's sources (empty: every source)
  bool restricted_patient = false;  // PDS "S" flag: no address, telephone or registered practice
};

// Why one item, of a type `d` permits, is still not shown: "" (shown); "withheld" (a source the
// patient withheld); "policy" (a sensitive category the role does not see, a source type the role
// does not see, or a source type shown only with consent the patient has not given — an undeclared
// type counts as not seen and as needing consent). `feed_types` gives each feed's organisation type (its provenance names the feed).
std::string item_refusal(const DisclosurePolicy& policy, const AccessDecision& d,
                         const std::map<std::string, std::string>& feed_types, const store::StoredResource& item);

// The same steps on what decide_access reads from the facts: the relationship found in the record
// (nullopt for none), the patient's consent, and the reader's recorded access (asked only when
// there is no relationship). One reading of the facts then serves every type of a whole-record read.
AccessDecision decide_access(const DisclosurePolicy& policy, const std::string& role, const std::string& type,
                             const std::optional<RecordRelationship>& relationship, const ConsentState& consent,
                             const std::function<std::string()>& recorded_access);

AccessDecision decide_access(const DisclosurePolicy& policy, const Organisations& orgs,
                             const std::set<std::string>& gp_feeds, const std::string& role,
                             const std::string& reader_org, const std::string& type,
                             const std::vector<store::StoredResource>& facts,
                             const std::function<std::string()>& recorded_access);

}  // namespace cc::governance
