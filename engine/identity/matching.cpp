// See matching.h. The rules are written out for people in docs/identity.md; keep the two together.
#include "engine/identity/matching.h"

#include <cctype>

#include "engine/core/json_member.h"
#include "engine/core/sha256.h"
#include "engine/identity/nhs_number.h"

namespace cc::identity {

namespace {

const rapidjson::Value* chosen_name(const rapidjson::Value& patient) {
  auto names = patient.FindMember("name");
  if (names == patient.MemberEnd() || !names->value.IsArray() || names->value.Empty()) return nullptr;
  for (const char* use : {"official", "usual"})
    for (auto& n : names->value.GetArray())
      if (string_member(n, "use") == use) return &n;
  return &names->value[0];
}

}  // namespace

std::string normalise_name(std::string_view name) {
  std::string out;
  for (unsigned char c : name)
    if (std::isalpha(c)) out += static_cast<char>(std::toupper(c));
  return out;
}

std::string normalise_postcode(std::string_view postcode) {
  std::string out;
  for (unsigned char c : postcode)
    if (std::isalnum(c)) out += static_cast<char>(std::toupper(c));
  return out;
}

Demographics demographics_of(const rapidjson::Value& patient) {
  Demographics d;
  if (!patient.IsObject()) return d;
  if (const rapidjson::Value* name = chosen_name(patient)) {
    d.family = normalise_name(string_member(*name, "family"));
    auto given = name->FindMember("given");
    if (given != name->MemberEnd() && given->value.IsArray() && !given->value.Empty() && given->value[0].IsString())
      d.given = normalise_name(given->value[0].GetString());
  }
  const std::string birth = string_member(patient, "birthDate");
  if (birth.size() >= 10) d.birth_date = birth.substr(0, 10);
  d.gender = string_member(patient, "gender");
  if (d.gender == "unknown") d.gender.clear();
  auto addresses = patient.FindMember("address");
  if (addresses != patient.MemberEnd() && addresses->value.IsArray())
    for (auto& a : addresses->value.GetArray()) {
      std::string pc = normalise_postcode(string_member(a, "postalCode"));
      if (!pc.empty()) {
        d.postcode = std::move(pc);
        break;
      }
    }
  return d;
}

Claim claim_of(const std::string& registration_id, const rapidjson::Value& patient, bool authoritative) {
  Claim c;
  c.registration_id = registration_id;
  c.authoritative = authoritative;
  c.demographics = demographics_of(patient);
  if (!patient.IsObject()) return c;
  auto ids = patient.FindMember("identifier");
  if (ids == patient.MemberEnd() || !ids->value.IsArray()) return c;
  for (auto& id : ids->value.GetArray()) {
    if (string_member(id, "system") != NhsNumber::kSystem) continue;
    auto nhs = NhsNumber::parse(string_member(id, "value"));
    if (!nhs) continue;
    if (string_member(id, "use") == "old") c.superseded.push_back(nhs->str());
    else if (c.nhs_number.empty()) c.nhs_number = nhs->str();
  }
  for (auto it = c.superseded.begin(); it != c.superseded.end();)
    it = *it == c.nhs_number ? c.superseded.erase(it) : it + 1;
  return c;
}

std::vector<std::string> disagreements(const Demographics& record, const Demographics& arriving) {
  std::vector<std::string> out;
  auto differ = [](const std::string& a, const std::string& b) { return !a.empty() && !b.empty() && a != b; };
  if (differ(record.family, arriving.family)) out.emplace_back("family name");
  if (differ(record.birth_date, arriving.birth_date)) out.emplace_back("birth date");
  if (differ(record.gender, arriving.gender)) out.emplace_back("sex");
  return out;
}

namespace {
// Birth dates that differ by a transposed day and month, or in exactly one of day, month, year.
bool near_birth_date(const std::string& a, const std::string& b) {
  if (a.size() != 10 || b.size() != 10) return false;
  const std::string ya = a.substr(0, 4), ma = a.substr(5, 2), da = a.substr(8, 2);
  const std::string yb = b.substr(0, 4), mb = b.substr(5, 2), db = b.substr(8, 2);
  if (ya == yb && ma == db && da == mb) return true;
  return (ya != yb) + (ma != mb) + (da != db) == 1;
}

std::string outward_code(const std::string& postcode) {
  // The inward code is always the last three characters (digit, letter, letter).
  return postcode.size() > 3 ? postcode.substr(0, postcode.size() - 3) : postcode;
}
}  // namespace

MatchScore score(const Demographics& a, const Demographics& b) {
  MatchScore s;
  auto add = [&](int points, const char* why) {
    s.total += points;
    s.reasons.emplace_back(why);
  };
  if (!a.family.empty() && a.family == b.family) add(4, "family name");
  if (!a.given.empty() && a.given == b.given) add(3, "given name");
  else if (!a.given.empty() && !b.given.empty() && a.given[0] == b.given[0]) add(1, "given initial");
  if (!a.birth_date.empty() && a.birth_date == b.birth_date) add(4, "birth date");
  else if (near_birth_date(a.birth_date, b.birth_date)) add(2, "birth date nearly");
  if (!a.gender.empty() && !b.gender.empty()) {
    if (a.gender == b.gender) add(1, "sex");
    else add(-2, "sex differs");
  }
  if (!a.postcode.empty() && a.postcode == b.postcode) add(2, "postcode");
  else if (!a.postcode.empty() && !b.postcode.empty() && outward_code(a.postcode) == outward_code(b.postcode))
    add(1, "postcode district");
  return s;
}

std::string regional_patient_id(std::string_view nhs_number) {
  return Sha256().update("Patient|urn:connecting-care:regional-patient|").update(nhs_number).hex(32);
}

std::string_view to_string(LinkState s) {
  switch (s) {
    case LinkState::kVerified: return "verified";
    case LinkState::kLocal: return "local";
    case LinkState::kHeld: return "held";
    case LinkState::kLinked: return "linked";
    case LinkState::kNew: return "new";
    case LinkState::kRejected: return "rejected";
    case LinkState::kMerged: return "merged";
  }
  return "local";
}

std::optional<LinkState> link_state_from(std::string_view s) {
  for (LinkState st : {LinkState::kVerified, LinkState::kLocal, LinkState::kHeld, LinkState::kLinked, LinkState::kNew,
                       LinkState::kRejected, LinkState::kMerged})
    if (to_string(st) == s) return st;
  return std::nullopt;
}

namespace {
bool same(const Link& a, const Link& b) {
  return a.person_id == b.person_id && a.state == b.state && a.nhs_number == b.nhs_number &&
         a.demographics == b.demographics;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += i + 1 == parts.size() ? " and " : ", ";
    out += parts[i];
  }
  return out;
}
}  // namespace

Decision decide(const Claim& claim, const std::optional<Link>& current, const std::optional<Demographics>& record) {
  Decision d;
  Link next = current ? *current : Link{claim.registration_id, LinkState::kLocal, "", claim.demographics};
  // A copy written only when absent does not speak for the registration's demographics.
  if (claim.authoritative) next.demographics = claim.demographics;
  auto finish = [&] {
    d.change = !current || !same(*current, next);
    d.link = std::move(next);
    return d;
  };
  if (claim.nhs_number.empty()) return finish();  // goes wherever the registration already is
  const std::string person = regional_patient_id(claim.nhs_number);
  // A registration a person refused: its NHS number is noted, nothing is joined.
  if (current && current->state == LinkState::kRejected) {
    if (claim.authoritative) next.nhs_number = claim.nhs_number;
    return finish();
  }
  if (current && current->person_id == person) {
    if (claim.authoritative) next.nhs_number = claim.nhs_number;
    return finish();
  }
  const bool joined_elsewhere = current && current->person_id != claim.registration_id;
  if (joined_elsewhere) {
    if (!claim.authoritative) return finish();  // a copy never moves a registration
    if (current->state != LinkState::kVerified) {
      // Joined by a person or a hospital merge, and now the source names another NHS number.
      next.nhs_number = claim.nhs_number;
      d.open_conflict = "The source now sends NHS number " + claim.nhs_number +
                        " for this registration, which a person or a hospital merge joined to another "
                        "patient; it was not moved. Check the NHS number at source, then link or unmerge.";
      return finish();
    }
  }
  const std::vector<std::string> differ =
      record ? disagreements(*record, next.demographics) : std::vector<std::string>{};
  if (!differ.empty()) {
    const bool already_held = current && current->state == LinkState::kHeld && current->nhs_number == claim.nhs_number;
    next.person_id = claim.registration_id;
    next.state = LinkState::kHeld;
    next.nhs_number = claim.nhs_number;
    if (!already_held)
      d.open_conflict = "The source sent NHS number " + claim.nhs_number + ", but its " + join(differ) +
                        " disagree" + (differ.size() == 1 ? "s" : "") +
                        " with the record for that NHS number, so this registration was kept apart, not "
                        "joined. Check the NHS number and demographics at source; once corrected the next "
                        "message joins it, or a person can link it.";
    if (joined_elsewhere) d.history = "held: NHS number changed to " + claim.nhs_number + " (demographics disagree)";
    return finish();
  }
  if (!current) d.history = "joined by NHS number";
  else if (current->state == LinkState::kVerified)
    d.history = "NHS number changed from " + current->nhs_number + " to " + claim.nhs_number;
  else if (current->state == LinkState::kHeld)
    d.history = "joined by NHS number: demographics now agree";
  else
    d.history = "joined by NHS number sent later";
  d.resolve_conflict = current && current->state == LinkState::kHeld;
  next.person_id = person;
  next.state = LinkState::kVerified;
  next.nhs_number = claim.nhs_number;
  return finish();
}

}  // namespace cc::identity
