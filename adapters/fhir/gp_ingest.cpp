// GP feed ingest: envelope checks, structure (schema), UK Core patient rules, reference
// resolution, all-or-nothing / per-entry decisions, stable ids and reference rewriting.
#include "adapters/fhir/gp_ingest.h"

#include <map>
#include <optional>
#include <set>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "adapters/fhir/fhir_time.h"
#include "adapters/fhir/resource_rules.h"
#include "adapters/fhir/resource_schema.h"
#include "engine/core/json_input.h"
#include "engine/fhir/reference.h"

namespace cc::fhir_ingest {

std::string default_patient_id(const identity::NhsNumber& nhs_number) {
  return mapping::derive_id("Patient", identity::NhsNumber::kSystem, nhs_number.str());
}

bool IngestResult::accepted_all() const {
  if (entries.empty()) return false;
  for (const EntryOutcome& e : entries)
    if (e.disposition != Disposition::kAccepted && e.disposition != Disposition::kIgnored)
      return false;
  return true;
}

namespace {

using rapidjson::Value;

// How one Reference.reference resolved.
struct Site {
  ReferenceSite ref;
  enum class Kind { kContained, kEntry, kRecord, kUnresolved } kind = Kind::kUnresolved;
  int target = -1;  // kEntry: the target's position in entries_
};

struct Entry {
  int index = -1;          // Bundle.entry index; -1 for a single resource
  std::string base;        // "Bundle.entry[3]"; empty for a single resource
  std::string path;        // "Bundle.entry[3].resource", or the type for a single resource
  Value* resource = nullptr;
  std::string type, source_id, full_url, method;
  Role role = Role::kUnknown;
  bool envelope_broken = false;  // no readable resource or request: 400 rather than 422
  std::vector<Issue> issues;
  std::vector<Site> sites;
  std::vector<std::string> contained_ids;
  std::optional<identity::NhsNumber> nhs;  // a Patient's valid NHS number
  std::string id;                          // derived
  std::string patient_id;
  Disposition disposition = Disposition::kAccepted;
  bool existed = false;

  bool has_error() const { return fhir_ingest::has_error(issues); }

  void add(const char* severity, const char* code, const char* rule, std::string expression,
           std::string message) {
    issues.push_back(Issue{severity, code, rule, std::move(message), std::move(expression), index});
  }
  void error(const char* code, const char* rule, std::string expression, std::string message) {
    add("error", code, rule, std::move(expression), std::move(message));
  }
};

std::string str(const Value& v) {
  return v.IsString() ? std::string(v.GetString(), v.GetStringLength()) : std::string();
}

std::string member_str(const Value& obj, const char* name) {
  if (!obj.IsObject()) return {};
  auto m = obj.FindMember(name);
  return m == obj.MemberEnd() ? std::string() : str(m->value);
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool is_absolute(std::string_view s) {
  return starts_with(s, "urn:uuid:") || starts_with(s, "urn:oid:") || starts_with(s, "http://") ||
         starts_with(s, "https://");
}

// "Type/id" from "Type/id", "Type/id/_history/2" or "https://host/base/Type/id[/_history/n]",
// of a FHIR R4 resource type.
std::optional<std::pair<std::string, std::string>> type_and_id(std::string_view s) {
  auto ti = fhir::reference_type_and_id(s);
  if (!ti || !is_r4_resource_type(ti->first)) return std::nullopt;
  return ti;
}

std::string json_kind(const Value& v) {
  if (v.IsObject()) return "an object";
  if (v.IsArray()) return "an array";
  if (v.IsString()) return "a string";
  if (v.IsNumber()) return "a number";
  if (v.IsBool()) return "a boolean";
  return "null";
}

const Value* at_path(const Value& root, const std::vector<std::string_view>& path) {
  const Value* v = &root;
  for (std::string_view name : path) {
    if (!v->IsObject()) return nullptr;
    auto m = v->FindMember(Value(rapidjson::StringRef(name.data(), name.size())));
    if (m == v->MemberEnd()) return nullptr;
    v = &m->value;
  }
  return v;
}

// The body-level refusal: one OperationOutcome, nothing accepted.
void refuse_body(IngestResult& result, int status, const char* code, const char* rule,
                 std::string message, std::string expression = {}) {
  result.http_status = status;
  result.issues.push_back(Issue{status == 413 ? "fatal" : "error", code, rule, std::move(message),
                                std::move(expression), -1});
  result.response.SetObject();
  Value outcome = operation_outcome(result.issues, "", result.response.GetAllocator());
  static_cast<Value&>(result.response) = outcome;
}

class Ingest {
 public:
  Ingest(const Request& request, const Feed& feed, IngestResult& result)
      : request_(request), feed_(feed), result_(result) {}

  void run() {
    const JsonLimits limits{feed_.limits.max_body_bytes, feed_.limits.max_depth};
    // A value the practice sent as 1.50 keeps its two places (FHIR decimals carry their precision).
    if (Status parsed = parse_json(request_.body, limits, doc_, DecimalPrecision::kFhirExtension); !parsed) {
      const std::string& code = parsed.error().code;
      const char* advice = code == "too-large"  ? " This is the feed's limit: send the record in several smaller bundles."
                           : code == "too-deep" ? " No FHIR resource a GP system sends needs that: check the extract for "
                                                  "runaway nesting."
                                                : " Send the resource as UTF-8 FHIR JSON.";
      refuse_body(result_, code == "too-large" ? 413 : 400,
                  code == "not-json" ? "structure" : "too-costly", code.c_str(),
                  parsed.error().message + advice);
      return;
    }
    if (!doc_.IsObject()) {
      refuse_body(result_, 400, "structure", "not-a-resource",
                  "The body is " + json_kind(doc_) +
                      ", not a FHIR resource; send a JSON object with a resourceType.");
      return;
    }
    const std::string root_type = member_str(doc_, "resourceType");
    if (root_type.empty()) {
      refuse_body(result_, 400, "structure", "resource-type",
                  "The body has no resourceType; send a FHIR resource (a Bundle to /fhir).",
                  "resourceType");
      return;
    }
    if (request_.kind == Request::Kind::kBundle) {
      if (!read_bundle(root_type)) return;
    } else {
      if (!read_single(root_type)) return;
    }
    for (Entry& e : entries_) check_content(e);
    index_entries();
    for (Entry& e : entries_) resolve_references(e);
    link_patients();
    assign_ids();
    decide();
    build_outputs();
    respond();
  }

 private:
  // ---- the envelope --------------------------------------------------------------------------

  bool read_bundle(const std::string& root_type) {
    if (root_type != "Bundle") {
      refuse_body(result_, 400, "invalid", "not-a-bundle",
                  "POST /fhir takes a Bundle of type transaction or batch, and this body is a " +
                      root_type + "; send a single resource to /fhir/" + root_type + " instead.",
                  root_type);
      return false;
    }
    const std::string type = member_str(doc_, "type");
    if (type == "transaction") {
      result_.shape = IngestResult::Shape::kTransaction;
    } else if (type == "batch") {
      result_.shape = IngestResult::Shape::kBatch;
    } else {
      refuse_body(result_, 400, type.empty() ? "required" : "not-supported", "bundle-type",
                  type.empty() ? "Bundle.type is missing; the GP feed takes Bundles of type "
                                 "transaction (all or nothing) or batch (each entry alone)."
                               : "Bundle.type is '" + type +
                                     "'; the GP feed takes Bundles of type transaction (all or "
                                     "nothing) or batch (each entry alone).",
                  "Bundle.type");
      return false;
    }
    auto entry = doc_.FindMember("entry");
    if (entry == doc_.MemberEnd()) return true;  // an empty transaction: nothing to do
    if (!entry->value.IsArray()) {
      refuse_body(result_, 400, "structure", "json-type",
                  "Bundle.entry is " + json_kind(entry->value) + "; it must be a JSON array.",
                  "Bundle.entry");
      return false;
    }
    if (entry->value.Size() > feed_.limits.max_entries) {
      refuse_body(result_, 413, "too-costly", "too-many-entries",
                  "The Bundle has " + std::to_string(entry->value.Size()) +
                      " entries, over this feed's limit of " +
                      std::to_string(feed_.limits.max_entries) +
                      "; send the record in several smaller bundles.",
                  "Bundle.entry");
      return false;
    }
    entries_.resize(entry->value.Size());
    for (rapidjson::SizeType i = 0; i < entry->value.Size(); ++i)
      read_entry(entry->value[i], static_cast<int>(i), entries_[i]);
    return true;
  }

  void read_entry(Value& v, int index, Entry& e) {
    e.index = index;
    e.base = "Bundle.entry[" + std::to_string(index) + "]";
    e.path = e.base + ".resource";
    if (!v.IsObject()) {
      e.envelope_broken = true;
      e.error("structure", "json-type", e.base,
              e.base + " is " + json_kind(v) + "; each entry must be a JSON object.");
      return;
    }
    static const std::set<std::string, std::less<>> kEntryElements = {
        "id", "extension", "modifierExtension", "link", "fullUrl", "resource", "search",
        "request", "response"};
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
      if (!kEntryElements.count(std::string_view(m->name.GetString(), m->name.GetStringLength())))
        e.error("structure", "unknown-element", e.base + "." + m->name.GetString(),
                e.base + "." + m->name.GetString() +
                    " is not an element of Bundle.entry; check the spelling and case.");
    }
    // fullUrl
    if (auto f = v.FindMember("fullUrl"); f != v.MemberEnd()) {
      e.full_url = str(f->value);
      if (!f->value.IsString() || e.full_url.empty() ||
          e.full_url.find_first_of(" \t\r\n") != std::string::npos || !is_absolute(e.full_url)) {
        e.error("value", "full-url", e.base + ".fullUrl",
                e.base + ".fullUrl must be an absolute URI: urn:uuid:<uuid> for a new resource, "
                         "or the resource's URL (https://.../Type/id).");
        e.full_url.clear();
      }
    }
    // request
    std::string url;
    auto rq = v.FindMember("request");
    if (rq == v.MemberEnd() || !rq->value.IsObject()) {
      e.envelope_broken = true;
      e.error("required", "entry-request", e.base + ".request",
              e.base + ".request is missing; every entry of a transaction or batch needs a "
                       "request with method POST or PUT and a url.");
    } else {
      e.method = member_str(rq->value, "method");
      url = member_str(rq->value, "url");
      if (e.method != "POST" && e.method != "PUT") {
        e.envelope_broken = true;
        e.error(e.method.empty() ? "required" : "not-supported", "entry-method",
                e.base + ".request.method",
                e.method.empty()
                    ? e.base + ".request.method is missing; send POST (create) or PUT (update)."
                    : e.base + ".request.method is " + e.method +
                          "; the GP feed takes POST (create) and PUT (update) only. To withdraw "
                          "a record, send it with PUT and status entered-in-error.");
      }
      if (url.empty()) {
        e.envelope_broken = true;
        e.error("required", "entry-url", e.base + ".request.url",
                e.base + ".request.url is missing; send the resource type for POST "
                         "(e.g. \"Observation\") or type/id for PUT (e.g. \"Observation/123\").");
      }
    }
    // resource
    auto res = v.FindMember("resource");
    if (res == v.MemberEnd() || !res->value.IsObject()) {
      e.envelope_broken = true;
      e.error(res == v.MemberEnd() ? "required" : "structure", "entry-resource", e.path,
              res == v.MemberEnd()
                  ? e.path + " is missing; each entry must carry the resource to create or update."
                  : e.path + " is " + json_kind(res->value) + "; it must be a FHIR resource (a JSON object).");
      return;
    }
    e.resource = &res->value;
    read_resource_type(e);
    if (e.resource && (e.method == "POST" || e.method == "PUT") && !url.empty())
      check_entry_url(e, url);
  }

  void check_entry_url(Entry& e, const std::string& url) {
    const std::string where = e.base + ".request.url";
    if (url.find('?') != std::string::npos) {
      e.error("not-supported", "conditional-request", where,
              where + " is a conditional " + e.method +
                  "; the GP feed does not take conditional creates or updates: send " +
                  (e.method == "POST" ? "the type (\"" + e.type + "\")"
                                      : "type/id (\"" + e.type + "/<id>\")") +
                  ". Resources are matched on their identifiers anyway.");
      return;
    }
    if (e.method == "POST") {
      if (url != e.type && !e.type.empty())
        e.error("value", "entry-url", where,
                where + " must be \"" + e.type + "\" for a POST of a " + e.type + ".");
      return;
    }
    const auto slash = url.find('/');
    const std::string url_type = url.substr(0, slash);
    const std::string url_id = slash == std::string::npos ? "" : url.substr(slash + 1);
    if (url_type != e.type || url_id.empty() || url_id.find('/') != std::string::npos) {
      e.error("value", "entry-url", where,
              where + " must be \"" + e.type + "/<id>\" for a PUT of a " + e.type +
                  ", with <id> the resource's id.");
    } else if (e.source_id != url_id) {
      e.error("value", "entry-id", e.path + ".id",
              e.source_id.empty()
                  ? e.path + ".id is missing; a PUT's resource must carry the id named in " + where + "."
                  : e.path + ".id differs from the id in " + where + "; they must be the same.");
    }
  }

  bool read_single(const std::string& root_type) {
    result_.shape = IngestResult::Shape::kSingle;
    if (root_type != request_.type) {
      refuse_body(result_, 400, "invalid", "resource-type",
                  "The body is a " + root_type + " but the URL names " + request_.type +
                      "; send it to /fhir/" + root_type + ".",
                  root_type + ".resourceType");
      return false;
    }
    entries_.resize(1);
    Entry& e = entries_[0];
    e.index = -1;
    e.path = root_type;
    e.resource = &doc_;
    e.method = request_.kind == Request::Kind::kUpdate ? "PUT" : "POST";
    read_resource_type(e);
    if (e.role == Role::kUnknown) {
      refuse_body(result_, 400, "not-supported", "resource-type",
                  root_type + " is not a FHIR R4 resource type.", root_type + ".resourceType");
      return false;
    }
    if (e.role == Role::kIgnored) {
      // Alone, an unkept type is refused rather than acknowledged and dropped: there is no rest
      // of a bundle to protect, and a 2xx would tell the sender it is in the record.
      e.issues.clear();
      e.disposition = Disposition::kRejected;
      std::string kept;
      const auto& types = kept_types();
      for (size_t i = 0; i < types.size(); ++i)
        kept.append(i == 0 ? "" : i + 1 == types.size() ? " and " : ", ").append(types[i]);
      e.error("not-supported", "type-not-kept", e.path + ".resourceType",
              "The shared care record does not keep " + root_type + " resources from GP feeds; it keeps " + kept + ".");
    }
    if (request_.kind == Request::Kind::kUpdate && e.source_id != request_.id) {
      e.error("value", "entry-id", e.path + ".id",
              e.source_id.empty()
                  ? e.path + ".id is missing; a PUT's resource must carry the id named in the URL."
                  : e.path + ".id differs from the id in the URL; they must be the same.");
    }
    return true;
  }

  void read_resource_type(Entry& e) {
    Value& r = *e.resource;
    e.type = member_str(r, "resourceType");
    e.source_id = member_str(r, "id");
    if (e.type.empty()) {
      e.envelope_broken = true;
      e.error("required", "resource-type", e.path + ".resourceType",
              e.path + ".resourceType is missing; every resource names its type.");
      e.resource = nullptr;
      return;
    }
    e.role = role_of(e.type);
    if (e.role == Role::kUnknown) {
      e.error("not-supported", "resource-type", e.path + ".resourceType",
              e.path + ".resourceType '" + e.type +
                  "' is not a FHIR R4 resource type; check the spelling and case.");
    } else if (e.role == Role::kIgnored) {
      e.disposition = Disposition::kIgnored;
      e.add(is_administrative(e.type) ? "information" : "warning", "informational",
            "type-not-kept", e.path,
            e.path + " is a " + e.type +
                ", which the shared care record does not keep; the entry was read but not "
                "stored (references to it from kept resources keep its identifier and type).");
    }
  }

  // ---- content -------------------------------------------------------------------------------

  void check_content(Entry& e) {
    if (!e.resource || !is_kept(e.role)) return;
    StructureReport report = ResourceSchema::gp_subset().check(*e.resource, e.path, e.index, !feed_.accepted_before);
    for (Issue& issue : report.issues) e.issues.push_back(std::move(issue));
    for (ReferenceSite& ref : report.references) e.sites.push_back(Site{std::move(ref)});
    e.contained_ids = std::move(report.contained_ids);
    if (e.role == Role::kPatient) check_nhs_number(e);
  }

  void check_nhs_number(Entry& e) {
    auto ids = e.resource->FindMember("identifier");
    bool found = false;
    if (ids != e.resource->MemberEnd() && ids->value.IsArray()) {
      for (rapidjson::SizeType i = 0; i < ids->value.Size(); ++i) {
        const Value& id = ids->value[i];
        if (member_str(id, "system") != identity::NhsNumber::kSystem) continue;
        const bool superseded = member_str(id, "use") == "old";
        found = found || !superseded;
        const std::string where = e.path + ".identifier[" + std::to_string(i) + "].value";
        const std::string value = member_str(id, "value");
        if (value.empty()) {
          e.error("required", "nhs-number-empty", where,
                  where + " is missing; an NHS number identifier needs the patient's 10-digit "
                          "NHS number as its value.");
          continue;
        }
        auto nhs = identity::NhsNumber::parse(value);
        if (!nhs) {
          e.error("value", nhs.error().code.c_str(), where,
                  where + ": " + nhs.error().message);
        } else if (superseded) {
          // A superseded NHS number (use "old"): the patient index moves what it holds under it to
          // the current one.
          continue;
        } else if (e.nhs && !(*e.nhs == *nhs)) {
          e.error("business-rule", "nhs-number-conflict", where,
                  where + " is a second, different NHS number for the same Patient; send the "
                          "patient's current NHS number, and any superseded one with use \"old\".");
        } else {
          e.nhs = *nhs;
        }
      }
    }
    if (!found)
      e.error("required", "nhs-number-missing", e.path + ".identifier",
              e.path + " has no NHS number; add an identifier with system "
                       "https://fhir.nhs.uk/Id/nhs-number and the patient's 10-digit NHS number "
                       "(the shared care record files everything under it).");
  }

  // ---- references ----------------------------------------------------------------------------

  void index_entries() {
    std::map<std::string, std::vector<int>> by_url;
    for (Entry& e : entries_) {
      if (!e.full_url.empty()) by_url[e.full_url].push_back(pos(e));
      if (!e.resource || e.role == Role::kUnknown) continue;
      if (!e.full_url.empty()) full_url_[e.full_url] = pos(e);
      if (auto ti = type_and_id(e.full_url); ti && !starts_with(e.full_url, "urn:"))
        add_type_id(ti->first + "/" + ti->second, pos(e));
      if (!e.source_id.empty()) add_type_id(e.type + "/" + e.source_id, pos(e));
    }
    for (auto& [url, holders] : by_url) {
      if (holders.size() < 2) continue;
      full_url_[url] = -2;
      for (int i : holders) {
        Entry& e = entries_[i];
        std::string others;
        for (int j : holders)
          if (j != i) others += (others.empty() ? "" : ", ") + entries_[j].base;
        e.error("duplicate", "duplicate-full-url", e.base + ".fullUrl",
                e.base + ".fullUrl is also the fullUrl of " + others +
                    "; each entry needs its own fullUrl so references are unambiguous.");
      }
    }
  }

  void add_type_id(const std::string& key, int index) {
    auto [it, fresh] = type_id_.emplace(key, index);
    if (!fresh && it->second != index) it->second = -2;
  }

  // In-bundle targets of "Type?identifier=system|value" (or "=value").
  std::vector<int> conditional_targets(const std::string& s) {
    std::vector<int> found;
    const auto q = s.find('?');
    const std::string type = s.substr(0, q);
    const std::string query = s.substr(q + 1);
    if (!starts_with(query, "identifier=") || query.find('&') != std::string::npos) return found;
    const std::string token = query.substr(11);
    const auto bar = token.find('|');
    const std::string system = bar == std::string::npos ? "" : token.substr(0, bar);
    const std::string value = bar == std::string::npos ? token : token.substr(bar + 1);
    for (const Entry& e : entries_) {
      if (!e.resource || e.type != type) continue;
      auto ids = e.resource->FindMember("identifier");
      if (ids == e.resource->MemberEnd() || !ids->value.IsArray()) continue;
      for (const Value& id : ids->value.GetArray()) {
        if (member_str(id, "value") == value &&
            (bar == std::string::npos || member_str(id, "system") == system)) {
          found.push_back(pos(e));
          break;
        }
      }
    }
    return found;
  }

  bool in_record(const std::string& type, const std::string& id) const {
    return feed_.in_record && feed_.in_record(type, id);
  }

  void resolve_references(Entry& e) {
    for (Site& site : e.sites) {
      const std::string s = member_str(*site.ref.value, "reference");
      const std::string where = site.ref.path + ".reference";
      auto unresolved = [&](const char* rule, const std::string& message) {
        site.kind = Site::Kind::kUnresolved;
        e.error("not-found", rule, where, where + " " + message);
      };
      if (s[0] == '#') {
        if (s == "#" || std::find(e.contained_ids.begin(), e.contained_ids.end(), s.substr(1)) !=
                            e.contained_ids.end())
          site.kind = Site::Kind::kContained;
        else
          unresolved("reference-contained",
                     "refers to " + s + ", but the resource has no contained resource with that "
                     "id; add it to contained or correct the reference.");
        continue;
      }
      if (s.find('?') != std::string::npos) {
        const std::vector<int> targets = conditional_targets(s);
        if (targets.size() == 1) {
          site.kind = Site::Kind::kEntry;
          site.target = targets[0];
        } else {
          unresolved("reference-conditional",
                     targets.empty()
                         ? "is a conditional reference (" + s + ") that matches no entry of this "
                           "bundle; the GP feed resolves Type?identifier=system|value references "
                           "within the bundle only: include the resource or refer to its fullUrl."
                         : "is a conditional reference (" + s + ") that matches " +
                               std::to_string(targets.size()) +
                               " entries; it must identify exactly one.");
        }
        continue;
      }
      if (auto it = full_url_.find(s); it != full_url_.end()) {
        if (it->second == -2) {
          unresolved("reference-ambiguous",
                     "refers to " + s + ", the fullUrl of more than one entry; give each entry "
                     "its own fullUrl.");
        } else {
          site.kind = Site::Kind::kEntry;
          site.target = it->second;
        }
        continue;
      }
      if (starts_with(s, "urn:")) {
        unresolved("reference-not-found",
                   "refers to " + s + ", but no entry of this bundle has that fullUrl; include "
                   "the resource in the bundle or correct the reference.");
        continue;
      }
      const auto ti = type_and_id(s);
      if (!ti) {
        unresolved("reference-format",
                   "is not a reference the GP feed can resolve (" + s + "); use an entry's "
                   "fullUrl (urn:uuid:...) or Type/id.");
        continue;
      }
      if (starts_with(s, "http://") || starts_with(s, "https://")) {
        // Absolute: only an entry's fullUrl matches (checked above).
        unresolved("reference-not-found",
                   "is an absolute URL (" + s + ") that is not the fullUrl of any entry; the "
                   "shared care record cannot fetch it: include the resource in the bundle.");
        continue;
      }
      const std::string key = ti->first + "/" + ti->second;
      if (auto it = type_id_.find(key); it != type_id_.end() && it->second != -2) {
        site.kind = Site::Kind::kEntry;
        site.target = it->second;
      } else if (in_record(ti->first, ti->second)) {
        site.kind = Site::Kind::kRecord;
      } else {
        unresolved("reference-not-found",
                   "refers to " + key + ", which is neither an entry of this bundle nor a "
                   "resource in the shared care record; include it in the bundle or correct "
                   "the reference.");
      }
    }
  }

  // ---- the patient ---------------------------------------------------------------------------

  std::string patient_id_for(const identity::NhsNumber& nhs) const {
    return feed_.patient_id_for ? feed_.patient_id_for(nhs) : default_patient_id(nhs);
  }

  void link_patients() {
    // The bundle's patient: its first Patient entry with a valid NHS number.
    int bundle_patient = -1;
    for (Entry& e : entries_) {
      if (e.role != Role::kPatient || !e.nhs) continue;
      e.patient_id = patient_id_for(*e.nhs);
      if (bundle_patient < 0) {
        bundle_patient = pos(e);
        bundle_patient_id_ = e.patient_id;
      } else if (!(*e.nhs == *entries_[bundle_patient].nhs)) {
        e.error("business-rule", "bundle-two-patients", e.path + ".identifier",
                e.path + " is a different patient (another NHS number) from " +
                    entries_[bundle_patient].path +
                    "; a GP push carries one patient's record: send each patient in a bundle "
                    "of its own.");
      }
    }
    for (Entry& e : entries_) {
      if (e.role != Role::kClinical || !e.resource) continue;
      const std::string element(patient_element(e.type));
      const std::string where = e.path + "." + element;
      auto m = e.resource->FindMember(Value(rapidjson::StringRef(element.data(), element.size())));
      if (m == e.resource->MemberEnd()) {
        e.error("required", "patient-reference-missing", where,
                where + " is missing; the GP feed files every " + e.type +
                    " under its patient: refer to the bundle's Patient entry (its fullUrl).");
        continue;
      }
      if (!m->value.IsObject()) continue;  // the schema has reported it
      std::string pid;
      const Site* site = nullptr;
      for (const Site& s : e.sites)
        if (!s.ref.in_contained && s.ref.element == element) site = &s;
      if (site) {
        if (site->kind == Site::Kind::kUnresolved) continue;  // reported already
        if (site->kind == Site::Kind::kEntry) {
          const Entry& target = entries_[site->target];
          if (target.type != "Patient") {
            e.error("business-rule", "patient-reference-type", where + ".reference",
                    where + ".reference refers to a " + target.type + " (" + target.base +
                        "), not a Patient; refer to the bundle's Patient entry.");
            continue;
          }
          pid = target.patient_id;  // empty when that Patient has no valid NHS number
        } else if (site->kind == Site::Kind::kRecord) {
          const auto ti = type_and_id(member_str(*site->ref.value, "reference"));
          if (!ti || ti->first != "Patient") {
            e.error("business-rule", "patient-reference-type", where + ".reference",
                    where + ".reference does not refer to a Patient; refer to the bundle's "
                            "Patient entry.");
            continue;
          }
          pid = ti->second;
        } else {
          e.error("business-rule", "patient-reference-type", where + ".reference",
                  where + ".reference refers to a contained resource; a patient must be its "
                          "own entry.");
          continue;
        }
      } else {
        // A logical reference: the NHS number identifier.
        auto ident = m->value.FindMember("identifier");
        if (ident == m->value.MemberEnd() ||
            member_str(ident->value, "system") != identity::NhsNumber::kSystem) {
          e.error("required", "patient-reference-missing", where + ".reference",
                  where + " names no patient the record can find: give a reference to the "
                          "bundle's Patient entry, or an identifier with the NHS number.");
          continue;
        }
        auto nhs = identity::NhsNumber::parse(member_str(ident->value, "value"));
        if (!nhs) {
          e.error("value", nhs.error().code.c_str(), where + ".identifier.value",
                  where + ".identifier.value: " + nhs.error().message);
          continue;
        }
        pid = patient_id_for(*nhs);
        const bool in_bundle = bundle_patient >= 0 && *entries_[bundle_patient].nhs == *nhs;
        if (!in_bundle && !in_record("Patient", pid)) {
          e.error("not-found", "patient-not-found", where + ".identifier",
                  where + ".identifier names an NHS number with no Patient in this bundle or the "
                          "shared care record; include the Patient in the bundle.");
          continue;
        }
      }
      if (pid.empty()) continue;  // the Patient entry is rejected; the cascade reports it
      e.patient_id = pid;
      if (bundle_patient_id_.empty()) {
        bundle_patient_id_ = pid;
        first_linked_ = pos(e);
      } else if (pid != bundle_patient_id_) {
        const std::string other = bundle_patient >= 0 ? entries_[bundle_patient].base
                                                       : entries_[first_linked_].path + "'s patient";
        e.error("business-rule", "patient-other", where,
                where + " is a different patient from the bundle's (" + other +
                    "); a GP push carries one patient's record: send each patient's resources "
                    "in a bundle of their own.");
      }
    }
    for (Entry& e : entries_)
      if (e.role == Role::kMedication) e.patient_id = bundle_patient_id_;
  }

  // ---- ids -----------------------------------------------------------------------------------

  void assign_ids() {
    std::map<std::string, int> seen;  // "Type/id" -> first entry's position
    for (Entry& e : entries_) {
      if (!e.resource || !is_kept(e.role)) continue;
      if (e.role == Role::kPatient) {
        e.id = e.patient_id;  // empty without a valid NHS number (already an error)
        if (e.id.empty()) continue;
      } else {
        e.id = derive(e);
      }
      auto [it, fresh] = seen.emplace(e.type + "/" + e.id, pos(e));
      if (!fresh && e.role != Role::kPatient) {
        e.error("duplicate", "duplicate-resource", e.path,
                e.path + " is the same resource as " + entries_[it->second].path +
                    " (the same type and identifier, or the same fullUrl); send each resource "
                    "once per bundle.");
      }
      e.existed = in_record(e.type, e.id);
    }
  }

  std::string derive(Entry& e) {
    // A RelatedPerson's identifier names the relative (their NHS number, say), who may be two
    // patients' contact: each patient's contact is a resource of its own, as NK1's are.
    const std::string scope = e.type == "RelatedPerson" ? feed_.name + "|patient:" + e.patient_id : feed_.name;
    auto ids = e.resource->FindMember("identifier");
    if (ids != e.resource->MemberEnd() && ids->value.IsArray()) {
      for (const Value& id : ids->value.GetArray()) {
        const std::string system = member_str(id, "system");
        const std::string value = member_str(id, "value");
        if (!system.empty() && !value.empty())
          return mapping::derive_id(e.type, scope + "|" + system, value);
      }
    }
    if (!e.full_url.empty()) return mapping::derive_id(e.type, feed_.name, e.full_url);
    if (!e.source_id.empty())
      return mapping::derive_id(e.type, feed_.name, e.type + "/" + e.source_id);
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    e.resource->Accept(writer);
    e.add("information", "informational", "id-from-content", e.path,
          e.path + " has no identifier, fullUrl or id, so its record id was derived from its "
                   "content: a corrected resend will be a new resource. Give it an identifier.");
    return mapping::derive_id(e.type, feed_.name + "|content", buffer.GetString());
  }

  // ---- decisions -----------------------------------------------------------------------------

  void decide() {
    for (Entry& e : entries_)
      if (e.has_error()) e.disposition = Disposition::kRejected;
    if (result_.shape == IngestResult::Shape::kBatch) {
      // An entry referring to a rejected entry cannot be stored either; repeat until stable.
      for (bool changed = true; changed;) {
        changed = false;
        for (Entry& e : entries_) {
          if (e.disposition != Disposition::kAccepted) continue;
          for (const Site& site : e.sites) {
            if (site.kind != Site::Kind::kEntry) continue;
            const Entry& target = entries_[site.target];
            if (target.disposition != Disposition::kRejected) continue;
            e.error("not-found", "reference-rejected", site.ref.path + ".reference",
                    site.ref.path + ".reference refers to " + target.base + " (" + target.type +
                        "), which was rejected; correct that entry and send both again.");
            e.disposition = Disposition::kRejected;
            changed = true;
            break;
          }
        }
      }
    } else {
      bool any_error = false;
      for (const Entry& e : entries_) any_error = any_error || e.has_error();
      if (any_error)
        for (Entry& e : entries_)
          if (e.disposition != Disposition::kRejected) e.disposition = Disposition::kNotApplied;
    }
  }

  // ---- outputs -------------------------------------------------------------------------------

  void rewrite_reference(Entry& e, Site& site) {
    auto& alloc = doc_.GetAllocator();
    Value& ref = *site.ref.value;
    if (site.kind != Site::Kind::kEntry) return;
    Entry& target = entries_[site.target];
    if (target.disposition == Disposition::kAccepted) {
      const std::string to = target.type + "/" + target.id;
      ref["reference"].SetString(to.c_str(), static_cast<rapidjson::SizeType>(to.size()), alloc);
      return;
    }
    // An ignored entry: keep what identifies it, drop the reference that would dangle.
    ref.RemoveMember("reference");
    if (!ref.HasMember("type")) ref.AddMember("type", Value(target.type.c_str(), alloc), alloc);
    if (!ref.HasMember("identifier") && target.resource) {
      auto ids = target.resource->FindMember("identifier");
      if (ids != target.resource->MemberEnd() && ids->value.IsArray() && !ids->value.Empty())
        ref.AddMember("identifier", Value(ids->value[0], alloc), alloc);
    }
    if (!ref.HasMember("identifier") && !ref.HasMember("display")) {
      const std::string text = target.type + " sent in the same push; not held in the shared care record";
      ref.AddMember("display", Value(text.c_str(), alloc), alloc);
    }
    e.add("information", "informational", "reference-to-ignored", site.ref.path + ".reference",
          site.ref.path + ".reference referred to " + target.base + " (" + target.type +
              "), which the record does not keep; the reference was replaced by its type and "
              "identifier.");
  }

  int64_t event_time(const Entry& e) const {
    const Value& r = *e.resource;
    if (const Value* lu = at_path(r, {"meta", "lastUpdated"}); lu && lu->IsString())
      if (auto ms = fhir_time_to_epoch_ms(lu->GetString())) return *ms;
    for (const auto& path : event_time_elements(e.type))
      if (const Value* v = at_path(r, path); v && v->IsString())
        if (auto ms = fhir_time_to_epoch_ms(v->GetString())) return *ms;
    return feed_.now_ms;
  }

  void build_outputs() {
    auto& alloc = doc_.GetAllocator();
    for (Entry& e : entries_) {
      if (e.disposition != Disposition::kAccepted || !is_kept(e.role)) continue;
      for (Site& site : e.sites) rewrite_reference(e, site);
      Value& r = *e.resource;
      IngestedResource out;
      out.entry = e.index;
      out.method = e.method;
      out.source_full_url = e.full_url;
      out.source_id = e.source_id;
      out.existed = e.existed;
      out.mapped.type = e.type;
      out.mapped.id = e.id;
      out.mapped.patient_id = e.role == Role::kSupporting ? std::string() : e.patient_id;
      out.mapped.event_time_ms = event_time(e);
      // id, meta, identifiers
      if (auto id = r.FindMember("id"); id != r.MemberEnd())
        id->value.SetString(e.id.c_str(), static_cast<rapidjson::SizeType>(e.id.size()), alloc);
      else
        r.AddMember("id", Value(e.id.c_str(), alloc), alloc);
      if (auto meta = r.FindMember("meta"); meta != r.MemberEnd() && meta->value.IsObject()) {
        meta->value.RemoveMember("versionId");
        meta->value.RemoveMember("lastUpdated");
        meta->value.RemoveMember("source");
        if (meta->value.MemberCount() == 0) r.RemoveMember("meta");
      }
      if (auto ids = r.FindMember("identifier"); ids != r.MemberEnd() && ids->value.IsArray()) {
        for (Value& id : ids->value.GetArray()) {
          std::string system = member_str(id, "system");
          std::string value = member_str(id, "value");
          if (value.empty()) continue;  // one without a system is indexed under "" (identifier=|value)
          if (system == identity::NhsNumber::kSystem) {
            if (auto nhs = identity::NhsNumber::parse(value); nhs && nhs->str() != value) {
              value = nhs->str();
              id["value"].SetString(value.c_str(), static_cast<rapidjson::SizeType>(value.size()), alloc);
            }
          }
          out.mapped.identifiers.emplace_back(std::move(system), std::move(value));
        }
      }
      out.mapped.resource.CopyFrom(r, out.mapped.resource.GetAllocator());
      result_.resources.push_back(std::move(out));
    }
  }

  void respond() {
    const bool single = result_.shape == IngestResult::Shape::kSingle;
    bool any_error = false;
    for (Entry& e : entries_) {
      EntryOutcome outcome;
      outcome.entry = e.index;
      outcome.resource_type = e.type;
      outcome.disposition = e.disposition;
      switch (e.disposition) {
        case Disposition::kAccepted:
          outcome.status = e.existed ? "200 OK" : "201 Created";
          outcome.location = e.type + "/" + e.id;
          break;
        case Disposition::kIgnored:
          outcome.status = "200 OK";
          break;
        case Disposition::kRejected:
          outcome.status = e.envelope_broken ? "400 Bad Request" : "422 Unprocessable Entity";
          break;
        case Disposition::kNotApplied:
          break;
      }
      any_error = any_error || e.has_error();
      outcome.issues = e.issues;
      for (const Issue& issue : e.issues) result_.issues.push_back(issue);
      result_.entries.push_back(std::move(outcome));
    }
    auto& alloc = result_.response.GetAllocator();
    result_.response.SetObject();
    auto status_code = [](const std::string& status) { return std::atoi(status.c_str()); };
    if (single) {
      const EntryOutcome& o = result_.entries[0];
      result_.http_status = status_code(o.status);
      std::string ok_text = o.disposition == Disposition::kAccepted
                                ? "Accepted as " + o.location + "."
                                : "Read; not stored.";
      Value outcome = operation_outcome(result_.issues, ok_text, alloc);
      static_cast<Value&>(result_.response) = outcome;
      return;
    }
    if (result_.shape == IngestResult::Shape::kTransaction && any_error) {
      bool broken = false;
      for (const Entry& e : entries_) broken = broken || e.envelope_broken;
      result_.http_status = broken ? 400 : 422;
      Value outcome = operation_outcome(result_.issues, "", alloc);
      static_cast<Value&>(result_.response) = outcome;
      return;
    }
    result_.http_status = 200;
    result_.response.AddMember("resourceType", "Bundle", alloc);
    result_.response.AddMember(
        "type",
        rapidjson::StringRef(result_.shape == IngestResult::Shape::kTransaction
                                 ? "transaction-response"
                                 : "batch-response"),
        alloc);
    Value list(rapidjson::kArrayType);
    for (const EntryOutcome& o : result_.entries) {
      Value response(rapidjson::kObjectType);
      response.AddMember("status", Value(o.status.c_str(), alloc), alloc);
      if (!o.location.empty()) response.AddMember("location", Value(o.location.c_str(), alloc), alloc);
      if (!o.issues.empty()) response.AddMember("outcome", operation_outcome(o.issues, "", alloc), alloc);
      Value entry(rapidjson::kObjectType);
      entry.AddMember("response", response, alloc);
      list.PushBack(entry, alloc);
    }
    if (!list.Empty()) result_.response.AddMember("entry", list, alloc);
  }

  int pos(const Entry& e) const { return static_cast<int>(&e - entries_.data()); }

  const Request& request_;
  const Feed& feed_;
  IngestResult& result_;
  rapidjson::Document doc_;
  std::vector<Entry> entries_;
  // Entry positions in entries_ (the Bundle.entry index for a bundle); -2: more than one.
  std::map<std::string, int> full_url_;  // fullUrl -> entry
  std::map<std::string, int> type_id_;   // "Type/id" -> entry
  std::string bundle_patient_id_;
  int first_linked_ = -1;
};

}  // namespace

IngestResult ingest(const Request& request, const Feed& feed) {
  IngestResult result;
  result.response.SetObject();
  Ingest(request, feed, result).run();
  return result;
}

}  // namespace cc::fhir_ingest
