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
#include <vector>

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
  std::set<std::string> sensitive;  // the sensitive categories it sees
  std::set<std::string> sources;    // the source organisation types it sees (empty: every one)
};

// Codes of one system: listed exactly, or by prefix (hierarchical systems: ICD-10, Read).
struct CodeList {
  std::string system;
  std::set<std::string> codes;
  std::vector<std::string> prefixes;
  bool matches(std::string_view system, std::string_view code) const;
};

// A category of sensitive or restricted information: items carrying one of its codes anywhere
// (code, reasonCode, valueCodeableConcept, ...) or one of its security labels (meta.security).
struct SensitiveCategory {
  std::string name;
  std::vector<CodeList> codes;
  std::vector<CodeList> security;
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
  const std::vector<SensitiveCategory>& sensitive() const { return sensitive_; }
  // The categories this role does not see (every category, for a role not in the policy).
  std::set<std::string> hidden_categories(const std::string& role) const;
  // Whether data from sources of this organisation type are shown only with the patient's consent.
  bool consent_required(const std::string& source_type) const { return consent_required_.count(source_type) > 0; }
  bool any_consent_required() const { return !consent_required_.empty(); }
  // Whether patient data may be disclosed for this purpose of use ("" reads as direct care).
  bool allows_purpose(const std::string& purpose) const;
  const std::set<std::string>& purposes() const { return purposes_; }
  // Whether some role sees only some source types (then every feed must declare its type).
  bool any_role_limits_sources() const;
  // A quick test on a resource's text: false when no code or label of any category can be in it
  // (most items), so only the rest are parsed (sensitive.h).
  bool may_be_sensitive(std::string_view json) const;

 private:
  std::string name_;
  std::map<std::string, RolePolicy> roles_;
  std::set<RecordRelationship> relationships_;
  std::map<AccessKind, int64_t> minutes_;
  bool dissent_break_glass_ = true;
  std::vector<SensitiveCategory> sensitive_;
  std::set<std::string> consent_required_;
  std::set<std::string> purposes_{"DIRECT_CARE"};
  // Every listed code and prefix, of any category and system, for may_be_sensitive.
  std::set<std::string, std::less<>> any_code_;
  std::set<std::string, std::less<>> any_prefix_;
  std::set<size_t> prefix_lengths_;  // the lengths any_prefix_ holds: a code is tried at these only
  bool any_security_ = false;
};

// The default policy's text (deploy/default-policy.json), compiled in.
extern const char* const kDefaultPolicy;
// schemas/policy.schema.json, compiled in.
extern const char* const kPolicySchema;

}  // namespace cc::governance
