// Sensitive and restricted information: which of the policy's sensitive categories an item falls
// in (by the codes it carries or the security labels its source put on it), and what a restricted
// patient's demographics leave out.
#pragma once
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "engine/governance/policy.h"

namespace cc::governance {

// The categories of `policy` this resource falls in: a Coding (system and code) anywhere in it
// outside meta matching a category's code list, or a meta.security Coding matching its security
// list. Unreadable JSON falls in none (it was checked when stored).
std::set<std::string> sensitive_categories(const DisclosurePolicy& policy, std::string_view json);

// A restricted patient (the Personal Demographics Service's "S" flag): a Patient whose
// meta.security carries v3-Confidentiality R (restricted) or V (very restricted).
inline constexpr std::string_view kConfidentialitySystem = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";
bool restricted(std::string_view patient_json);

// A restricted patient's Patient as disclosed: only what confirms who they are (identifiers, name,
// gender, birth date, death, links, meta without provenance, and other sources' differing
// demographics without their postcodes) — no address, telecom, practice, contacts, narrative,
// contained resources or other extensions — labelled R.
std::string redact_restricted(const std::string& patient_json);

// A restricted patient's key contact (RelatedPerson) as disclosed: without their address, which is
// often the patient's; name, relationship and telephone stay, so they can be reached.
std::string redact_contact_address(const std::string& related_person_json);

// Where a stored version says it came from: its provenance's feed and sending facility (MSH-4, or an
// HTTP feed's owner); "" where absent.
struct ItemSource {
  std::string feed;
  std::string facility;
};
ItemSource item_source(const rapidjson::Value& resource);

// A restricted patient's item from their GP practice, as a reader outside that practice sees it
// (`masked` says whether it is one, from where it came): its provenance names no practice (sending
// facility "GP practice", feed "gp", meta.source "urn:connecting-care:feed:gp"), since which
// practice they attend says where they live. The rest of the item, and where it came from by kind,
// stay; an item `masked` refuses is returned as it is.
std::string mask_practice(const std::string& item_json, const std::function<bool(const ItemSource&)>& masked);

// Where an item of `type` names other clinical items of the patient: a report's results
// (DiagnosticReport.result), a panel's members and what a result was derived from
// (Observation.hasMember, derivedFrom), an encounter's diagnoses, reasons, episodes and the encounter
// it is part of (Encounter.diagnosis.condition, reasonReference, episodeOfCare, partOf), the reasons
// for a procedure, medicine, immunisation or appointment (reasonReference), what a care plan
// addresses, rests on and replaces (CarePlan.addresses, supportingInfo, replaces), a condition's
// evidence (Condition.evidence.detail), a document's related items, encounters and the documents it
// replaces (DocumentReference.context.related, context.encounter, relatesTo.target), an appointment's
// supporting information, the encounter (or episode) an item was recorded in (encounter; a
// medicine's context), the plan or request it carries out (basedOn) and the event it is part of
// (partOf).
// A resource the item contains (contained[]) names items by its own type's paths.
// quick_references: the References held by any member named as a path's holder, at any depth (so a
// contained resource's too), read from the text without parsing, as views into it; nullopt where the
// text is not in the form the store writes every item in (compact, each reference the first member
// of its object): then parse. grouped_references: the same References, parsing the item.
std::optional<std::vector<std::string_view>> quick_references(std::string_view type, std::string_view item_json);
std::vector<std::string> grouped_references(std::string_view type, std::string_view item_json);
// The item without the references in `hidden`, on its paths (an encounter's diagnosis entry goes
// with its condition; a list left empty goes; a single reference's member goes) and anywhere else in
// it, labelled (meta.security v3-ObservationValue REDACTED) so the reader knows something of it is
// not shown; as it was when it names none of them.
std::string drop_grouped_references(std::string_view type, const std::string& item_json,
                                    const std::set<std::string>& hidden);

}  // namespace cc::governance
