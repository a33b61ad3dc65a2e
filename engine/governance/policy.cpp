// See policy.h.
#include "engine/governance/policy.h"

#include <string.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "engine/core/json_schema_check.h"

namespace cc::governance {

std::string_view to_string(AccessKind k) {
  switch (k) {
    case AccessKind::kPermissionToView: return "permission-to-view";
    case AccessKind::kSelfDeclared: return "self-declared";
    case AccessKind::kBreakGlass: return "break-glass";
  }
  return "permission-to-view";
}

std::optional<AccessKind> access_kind_from(std::string_view s) {
  for (AccessKind k : {AccessKind::kPermissionToView, AccessKind::kSelfDeclared, AccessKind::kBreakGlass})
    if (to_string(k) == s) return k;
  return std::nullopt;
}

std::string_view to_string(RecordRelationship r) {
  switch (r) {
    case RecordRelationship::kRegisteredGp: return "registered-gp";
    case RecordRelationship::kOpenEncounter: return "open-encounter";
    case RecordRelationship::kOpenEpisode: return "open-episode";
    case RecordRelationship::kCareTeam: return "care-team";
  }
  return "registered-gp";
}

Result<DisclosurePolicy> DisclosurePolicy::parse(const std::string& json, const std::string& origin) {
  rapidjson::Document doc;
  if (auto st = parse_and_check(json, kPolicySchema, origin, "schemas/policy.schema.json", "policy", doc); !st)
    return st.error();
  DisclosurePolicy p;
  p.name_ = doc["name"].GetString();
  for (auto& r : doc["roles"].GetObject()) {
    RolePolicy role;
    role.clinical = r.value["clinical"].GetBool();
    if (r.value.HasMember("resource_types")) {
      auto& t = r.value["resource_types"];
      if (t.IsString()) role.all_types = true;
      else
        for (auto& v : t.GetArray()) role.types.insert(v.GetString());
    }
    if (r.value.HasMember("access"))
      for (auto& v : r.value["access"].GetArray()) role.access.insert(*access_kind_from(v.GetString()));
    role.consent = r.value.HasMember("consent") && r.value["consent"].GetBool();
    if (r.value.HasMember("sources"))
      for (auto& v : r.value["sources"].GetArray()) role.sources.insert(v.GetString());
    if (r.value.HasMember("sensitive"))
      for (auto& v : r.value["sensitive"].GetArray()) {
        if (!doc.HasMember("sensitive") || !doc["sensitive"].HasMember(v.GetString()))
          return make_error("policy-role", origin + ": role " + std::string(r.name.GetString()) + " sees sensitive category \"" +
                                               v.GetString() + "\", which the policy does not define under \"sensitive\".");
        role.sensitive.insert(v.GetString());
      }
    if (!role.clinical && (role.all_types || !role.types.empty() || !role.access.empty()))
      return make_error("policy-role", origin + ": role " + std::string(r.name.GetString()) +
                                           " is not clinical, so it can have no resource_types or access; make it "
                                           "clinical or remove them.");
    p.roles_[r.name.GetString()] = std::move(role);
  }
  const std::pair<const char*, RecordRelationship> facts[] = {{"registered_gp", RecordRelationship::kRegisteredGp},
                                                              {"open_encounter", RecordRelationship::kOpenEncounter},
                                                              {"open_episode", RecordRelationship::kOpenEpisode},
                                                              {"care_team", RecordRelationship::kCareTeam}};
  for (auto& [name, r] : facts) {
    const bool on = !doc.HasMember("relationships") || !doc["relationships"].HasMember(name) ||
                    doc["relationships"][name].GetBool();
    if (on) p.relationships_.insert(r);
  }
  if (doc.HasMember("sensitive"))
    for (auto& c : doc["sensitive"].GetObject()) {
      SensitiveCategory category;
      category.name = c.name.GetString();
      auto lists = [&](const char* member, std::vector<CodeList>& out) {
        if (!c.value.HasMember(member)) return;
        for (auto& l : c.value[member].GetArray()) {
          CodeList list;
          list.system = l["system"].GetString();
          if (l.HasMember("codes"))
            for (auto& v : l["codes"].GetArray()) {
              list.codes.insert(v.GetString());
              p.any_code_.insert(v.GetString());
            }
          if (l.HasMember("prefixes"))
            for (auto& v : l["prefixes"].GetArray()) {
              list.prefixes.push_back(v.GetString());
              p.any_prefix_.insert(v.GetString());
              p.prefix_lengths_.insert(v.GetStringLength());
            }
          out.push_back(std::move(list));
        }
      };
      lists("codes", category.codes);
      lists("security", category.security);
      if (!category.security.empty()) p.any_security_ = true;
      p.sensitive_.push_back(std::move(category));
    }
  if (doc.HasMember("purposes_of_use")) {
    p.purposes_.clear();
    for (auto& v : doc["purposes_of_use"].GetArray()) p.purposes_.insert(v.GetString());
  }
  if (doc.HasMember("consent_required_sources"))
    for (auto& v : doc["consent_required_sources"].GetArray()) p.consent_required_.insert(v.GetString());
  if (doc.HasMember("dissent_break_glass")) p.dissent_break_glass_ = doc["dissent_break_glass"].GetBool();
  for (AccessKind k : {AccessKind::kPermissionToView, AccessKind::kSelfDeclared, AccessKind::kBreakGlass})
    p.minutes_[k] = doc["access"][std::string(to_string(k)).c_str()].GetInt64();
  return p;
}

DisclosurePolicy DisclosurePolicy::default_policy() {
  auto p = parse(kDefaultPolicy, "the default policy (deploy/default-policy.json)");
  if (!p) throw std::logic_error(p.error().message);  // a build with a broken default fails its tests
  return std::move(p).value();
}

Result<DisclosurePolicy> DisclosurePolicy::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("policy-read", "Cannot read the policy file " + path + ".");
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

const RolePolicy* DisclosurePolicy::role(const std::string& name) const {
  auto it = roles_.find(name);
  return it == roles_.end() ? nullptr : &it->second;
}

bool DisclosurePolicy::may_read_type(const std::string& role_name, const std::string& type) const {
  const RolePolicy* r = role(role_name);
  if (!r || !r->clinical) return false;
  return type == "Patient" || r->all_types || r->types.count(type) > 0;
}

bool DisclosurePolicy::may_record(const std::string& role_name, AccessKind kind) const {
  const RolePolicy* r = role(role_name);
  return r && r->clinical && r->access.count(kind) > 0;
}

bool DisclosurePolicy::may_record_consent(const std::string& role_name) const {
  const RolePolicy* r = role(role_name);
  return r && r->consent;
}

bool DisclosurePolicy::allows_purpose(const std::string& purpose) const {
  return purposes_.count(purpose.empty() ? "DIRECT_CARE" : purpose) > 0;
}

bool DisclosurePolicy::any_role_limits_sources() const {
  for (auto& [name, r] : roles_)
    if (!r.sources.empty()) return true;
  return false;
}

bool CodeList::matches(std::string_view sys, std::string_view code) const {
  if (sys != system) return false;
  if (codes.count(std::string(code))) return true;
  for (const std::string& prefix : prefixes)
    if (code.substr(0, prefix.size()) == prefix) return true;
  return false;
}

std::set<std::string> DisclosurePolicy::hidden_categories(const std::string& role_name) const {
  std::set<std::string> hidden;
  const RolePolicy* r = role(role_name);
  for (const SensitiveCategory& c : sensitive_)
    if (!r || !r->sensitive.count(c.name)) hidden.insert(c.name);
  return hidden;
}

namespace {
// Where `needle` next occurs in `text` from `from` (npos if nowhere). glibc's memmem, not
// string_view::find: that stops at every occurrence of the needle's first byte, and a quote is
// every few bytes of JSON; this is run over every item a search discloses.
size_t find_text(std::string_view text, std::string_view needle, size_t from) {
  if (from >= text.size()) return std::string_view::npos;
  const void* at = memmem(text.data() + from, text.size() - from, needle.data(), needle.size());
  return at ? static_cast<size_t>(static_cast<const char*>(at) - text.data()) : std::string_view::npos;
}
}  // namespace

bool DisclosurePolicy::may_be_sensitive(std::string_view json) const {
  if (sensitive_.empty()) return false;
  if (any_security_ && find_text(json, "\"security\"", 0) != std::string_view::npos) return true;
  // Every "code" member's string value: listed, or beginning with a listed prefix?
  constexpr std::string_view kKey = "\"code\"";
  for (size_t at = find_text(json, kKey, 0); at != std::string_view::npos; at = find_text(json, kKey, at + kKey.size())) {
    size_t i = at + kKey.size();
    while (i < json.size() && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r')) ++i;
    if (i >= json.size() || json[i] != ':') continue;  // "code" as a value, not a key
    ++i;
    while (i < json.size() && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r')) ++i;
    if (i >= json.size() || json[i] != '"') continue;
    const size_t start = ++i;
    while (i < json.size() && json[i] != '"' && json[i] != '\\') ++i;
    if (i >= json.size() || json[i] == '\\') return true;  // an escaped code: let the parse decide
    const std::string_view code = json.substr(start, i - start);
    if (any_code_.count(code)) return true;
    for (size_t n : prefix_lengths_) {
      if (n > code.size()) break;  // the set is in increasing order
      if (any_prefix_.count(code.substr(0, n))) return true;
    }
  }
  return false;
}

int64_t DisclosurePolicy::access_minutes(AccessKind kind) const {
  auto it = minutes_.find(kind);
  return it == minutes_.end() ? 0 : it->second;
}

}  // namespace cc::governance
