// DisclosurePolicy: the data sharing agreement in machine form (schemas/policy.schema.json) — which
// roles read clinical data and of which types, which record facts make a relationship, and how long
// an access a reader records lasts. Loaded and checked once at start-up; the default ships compiled in.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "engine/core/result.h"

namespace cc::governance {

// What a reader records with POST /fhir/Patient/{id}/$access.
enum class AccessKind { kPermissionToView, kSelfDeclared, kBreakGlass };
std::string_view to_string(AccessKind k);
std::optional<AccessKind> access_kind_from(std::string_view s);

// The facts in the record that make a relationship.
enum class RecordRelationship { kRegisteredGp, kOpenEncounter, kOpenEpisode, kCareTeam };
std::string_view to_string(RecordRelationship r);

struct RolePolicy {
  bool clinical = false;
  bool all_types = false;
  std::set<std::string> types;  // besides Patient
  std::set<AccessKind> access;
  bool consent = false;  // may record consent (POST /fhir/Consent)
};

class DisclosurePolicy {
 public:
  // The policy compiled into the binary (deploy/default-policy.json).
  static DisclosurePolicy default_policy();
  static Result<DisclosurePolicy> load(const std::string& path);
  static Result<DisclosurePolicy> parse(const std::string& json, const std::string& origin);

  const std::string& name() const { return name_; }
  // nullptr: the role reads nothing.
  const RolePolicy* role(const std::string& name) const;
  // Patient (demographics) for any clinical role; other types as the role's list says.
  bool may_read_type(const std::string& role, const std::string& type) const;
  bool may_record(const std::string& role, AccessKind kind) const;
  bool counts(RecordRelationship r) const { return relationships_.count(r) > 0; }
  bool may_record_consent(const std::string& role) const;
  // Whether break-glass opens what a patient's consent withholds.
  bool dissent_break_glass() const { return dissent_break_glass_; }
  int64_t access_minutes(AccessKind kind) const;

 private:
  std::string name_;
  std::map<std::string, RolePolicy> roles_;
  std::set<RecordRelationship> relationships_;
  std::map<AccessKind, int64_t> minutes_;
  bool dissent_break_glass_ = true;
};

// The default policy's text (deploy/default-policy.json), compiled in.
extern const char* const kDefaultPolicy;
// schemas/policy.schema.json, compiled in.
extern const char* const kPolicySchema;

}  // namespace cc::governance
