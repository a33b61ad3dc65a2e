// See sensitive.h.
#include "engine/governance/sensitive.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/fhir/reference.h"

namespace cc::governance {

namespace {
using rapidjson::Value;

std::string_view sv(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

// Each Coding-shaped object (string system and code) in `v`, depth first.
template <typename F>
void each_coding(const Value& v, const F& f, int depth = 0) {
  if (depth > 64) return;
  if (v.IsObject()) {
    auto system = v.FindMember("system");
    auto code = v.FindMember("code");
    if (system != v.MemberEnd() && code != v.MemberEnd() && system->value.IsString() && code->value.IsString())
      f(sv(system->value), sv(code->value));
    for (auto& m : v.GetObject())
      if (depth > 0 || sv(m.name) != "meta") each_coding(m.value, f, depth + 1);
  } else if (v.IsArray()) {
    for (auto& e : v.GetArray()) each_coding(e, f, depth + 1);
  }
}

const Value* security_of(const Value& d) {
  if (!d.IsObject()) return nullptr;
  auto meta = d.FindMember("meta");
  if (meta == d.MemberEnd() || !meta->value.IsObject()) return nullptr;
  auto security = meta->value.FindMember("security");
  return security != meta->value.MemberEnd() && security->value.IsArray() ? &security->value : nullptr;
}
}  // namespace

std::set<std::string> sensitive_categories(const DisclosurePolicy& policy, std::string_view json) {
  std::set<std::string> found;
  if (policy.sensitive().empty()) return found;
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  if (!d.IsObject()) return found;
  each_coding(d, [&](std::string_view system, std::string_view code) {
    for (const SensitiveCategory& c : policy.sensitive())
      for (const CodeList& l : c.codes)
        if (l.matches(system, code)) found.insert(c.name);
  });
  if (const Value* security = security_of(d))
    for (auto& label : security->GetArray()) {
      if (!label.IsObject() || !label.HasMember("system") || !label.HasMember("code") || !label["system"].IsString() ||
          !label["code"].IsString())
        continue;
      for (const SensitiveCategory& c : policy.sensitive())
        for (const CodeList& l : c.security)
          if (l.matches(sv(label["system"]), sv(label["code"]))) found.insert(c.name);
    }
  return found;
}

bool restricted(std::string_view patient_json) {
  if (patient_json.find(kConfidentialitySystem) == std::string_view::npos) return false;  // the common case
  rapidjson::Document d;
  d.Parse(patient_json.data(), patient_json.size());
  const Value* security = security_of(d);
  if (!security) return false;
  for (auto& label : security->GetArray())
    if (label.IsObject() && label.HasMember("system") && label.HasMember("code") && label["system"].IsString() &&
        label["code"].IsString() && sv(label["system"]) == kConfidentialitySystem &&
        (sv(label["code"]) == "R" || sv(label["code"]) == "V"))
      return true;
  return false;
}

namespace {
// The document as compact JSON text: what a redacted or masked item is disclosed as.
std::string text_of(const rapidjson::Document& d) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  d.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

// Adds a security label to meta.security (making meta and the list where absent).
void add_security_label(rapidjson::Document& d, std::string_view system, const char* code, const char* display) {
  auto& a = d.GetAllocator();
  if (!d.HasMember("meta") || !d["meta"].IsObject()) {
    d.RemoveMember("meta");
    d.AddMember("meta", rapidjson::Value(rapidjson::kObjectType), a);
  }
  auto& meta = d["meta"];
  if (!meta.HasMember("security") || !meta["security"].IsArray()) {
    meta.RemoveMember("security");
    meta.AddMember("security", rapidjson::Value(rapidjson::kArrayType), a);
  }
  rapidjson::Value label(rapidjson::kObjectType);
  label.AddMember("system", rapidjson::Value(system.data(), static_cast<rapidjson::SizeType>(system.size()), a), a);
  label.AddMember("code", rapidjson::StringRef(code), a);
  label.AddMember("display", rapidjson::StringRef(display), a);
  meta["security"].PushBack(label, a);
}
}  // namespace

std::string redact_restricted(const std::string& patient_json) {
  rapidjson::Document d;
  d.Parse(patient_json.c_str(), patient_json.size());
  if (!d.IsObject()) return "{}";  // never the unredacted text
  // Only what confirms who they are is kept; anything else may say where they are (an address in
  // the narrative, a contained practice, a nominated pharmacy, the practice's feed in provenance).
  static const std::set<std::string_view> kept{"resourceType", "id", "meta", "identifier", "active", "name", "gender",
                                                "birthDate", "deceasedBoolean", "deceasedDateTime", "link", "extension"};
  for (auto it = d.MemberBegin(); it != d.MemberEnd();)
    it = kept.count(sv(it->name)) ? it + 1 : d.EraseMember(it);
  if (d.HasMember("meta") && d["meta"].IsObject()) {
    static const std::set<std::string_view> kept_meta{"versionId", "lastUpdated", "profile", "security"};
    Value& meta = d["meta"];
    for (auto it = meta.MemberBegin(); it != meta.MemberEnd();)
      it = kept_meta.count(sv(it->name)) ? it + 1 : meta.EraseMember(it);
  }
  // Of the extensions, only the other sources' differing demographics, without their postcodes.
  auto extensions = d.FindMember("extension");
  if (extensions != d.MemberEnd() && extensions->value.IsArray()) {
    Value& list = extensions->value;
    for (auto e = list.Begin(); e != list.End();) {
      const bool ours = e->IsObject() && e->HasMember("url") && (*e)["url"].IsString() &&
                        sv((*e)["url"]) == "urn:connecting-care:extension:source-demographics";
      if (!ours) {
        e = list.Erase(e);
        continue;
      }
      auto parts = e->FindMember("extension");
      if (parts != e->MemberEnd() && parts->value.IsArray())
        for (auto it = parts->value.Begin(); it != parts->value.End();) {
          if (it->IsObject() && it->HasMember("url") && (*it)["url"].IsString() && sv((*it)["url"]) == "postalCode")
            it = parts->value.Erase(it);
          else
            ++it;
        }
      ++e;
    }
  }
  // Say why they are missing: the label on what is shown (a regional Patient, assembled from
  // registrations, carries none of its own).
  if (!restricted(patient_json)) add_security_label(d, kConfidentialitySystem, "R", "restricted");
  return text_of(d);
}

std::string redact_contact_address(const std::string& related_person_json) {
  rapidjson::Document d;
  d.Parse(related_person_json.c_str(), related_person_json.size());
  if (!d.IsObject()) return "{}";
  d.RemoveMember("address");
  d.RemoveMember("text");  // the narrative may repeat it
  return text_of(d);
}

namespace {
constexpr std::string_view kProvenanceUrl = "urn:connecting-care:extension:provenance";

// The provenance extension's parts on meta, or nullptr (V: Value or const Value).
template <typename V>
V* provenance_parts(V& d) {
  if (!d.IsObject()) return nullptr;
  auto meta = d.FindMember("meta");
  if (meta == d.MemberEnd() || !meta->value.IsObject()) return nullptr;
  auto exts = meta->value.FindMember("extension");
  if (exts == meta->value.MemberEnd() || !exts->value.IsArray()) return nullptr;
  for (auto& e : exts->value.GetArray()) {
    auto url = e.FindMember("url");
    if (url == e.MemberEnd() || !url->value.IsString() || sv(url->value) != kProvenanceUrl) continue;
    auto parts = e.FindMember("extension");
    if (parts != e.MemberEnd() && parts->value.IsArray()) return &parts->value;
  }
  return nullptr;
}

// The valueString of the part named `name`, or nullptr.
template <typename V>
V* part_value(V& parts, std::string_view name) {
  for (auto& p : parts.GetArray()) {
    auto url = p.FindMember("url");
    auto value = p.FindMember("valueString");
    if (url != p.MemberEnd() && url->value.IsString() && sv(url->value) == name && value != p.MemberEnd() &&
        value->value.IsString())
      return &value->value;
  }
  return nullptr;
}
}  // namespace

ItemSource item_source(const rapidjson::Value& resource) {
  ItemSource out;
  const Value* parts = provenance_parts(resource);
  if (!parts) return out;
  if (const Value* v = part_value(*parts, "feed")) out.feed = std::string(sv(*v));
  if (const Value* v = part_value(*parts, "sendingFacility")) out.facility = std::string(sv(*v));
  return out;
}

std::string mask_practice(const std::string& item_json, const std::function<bool(const ItemSource&)>& masked) {
  rapidjson::Document d;
  d.Parse(item_json.c_str(), item_json.size());
  Value* parts = provenance_parts<Value>(d);
  if (!parts || !masked(item_source(d))) return item_json;
  auto& a = d.GetAllocator();
  if (Value* v = part_value(*parts, "sendingFacility")) v->SetString("GP practice", a);
  if (Value* v = part_value(*parts, "feed")) v->SetString("gp", a);
  auto source = d["meta"].FindMember("source");
  if (source != d["meta"].MemberEnd()) source->value.SetString("urn:connecting-care:feed:gp", a);
  return text_of(d);
}

namespace {
// Where an item names other clinical items of the patient: a member that is a list of References
// ("result") or one Reference ("encounter"), a list of objects each with a list of References
// ("evidence" / "detail"), an object with a list ("context" / "related", "context" / "encounter"), or
// a list of objects each naming one ("diagnosis" / "condition", "relatesTo" / "target": the whole
// entry is about that item, so it goes with it).
struct RefPath {
  const char* member;
  const char* inner;  // nullptr: `member` itself holds the Reference(s)
  // The member whose value is the Reference(s): what a Reference's owner is matched by.
  std::string_view holder() const { return inner ? inner : member; }
};
const std::map<std::string_view, std::vector<RefPath>>& all_reference_paths() {
  static const RefPath kEncounter{"encounter", nullptr};
  static const RefPath kContext{"context", nullptr};  // Encounter or EpisodeOfCare
  static const RefPath kReason{"reasonReference", nullptr};
  static const RefPath kBasedOn{"basedOn", nullptr};  // the care plan or request an item carries out
  static const RefPath kPartOf{"partOf", nullptr};
  static const std::map<std::string_view, std::vector<RefPath>> kPaths{
      {"DiagnosticReport", {{"result", nullptr}, kEncounter, kBasedOn}},
      {"Observation", {{"hasMember", nullptr}, {"derivedFrom", nullptr}, kEncounter, kBasedOn, kPartOf}},
      {"Encounter", {{"diagnosis", "condition"}, kReason, {"episodeOfCare", nullptr}, kPartOf, kBasedOn}},
      {"Procedure", {kReason, kEncounter, kBasedOn, kPartOf}},
      {"MedicationRequest", {kReason, kEncounter, kBasedOn}},
      {"MedicationStatement", {kReason, kContext, kBasedOn, kPartOf}},
      {"MedicationAdministration", {kReason, kContext, kPartOf}},
      {"MedicationDispense", {kContext, kPartOf}},
      {"Immunization", {kReason, kEncounter}},
      {"AllergyIntolerance", {kEncounter}},
      {"Flag", {kEncounter}},
      {"CarePlan",
       {{"addresses", nullptr}, {"supportingInfo", nullptr}, kEncounter, kBasedOn, kPartOf, {"replaces", nullptr}}},
      {"Condition", {{"evidence", "detail"}, kEncounter}},
      {"DocumentReference", {{"context", "related"}, {"context", "encounter"}, {"relatesTo", "target"}}},
      {"Appointment", {kReason, {"supportingInformation", nullptr}, kBasedOn}}};
  return kPaths;
}

const std::vector<RefPath>& clinical_reference_paths(std::string_view type) {
  static const std::vector<RefPath> kNone;
  auto it = all_reference_paths().find(type);
  return it == all_reference_paths().end() ? kNone : it->second;
}

// Every member name that holds References on some type's paths ("encounter", "result", "context",
// "condition", ...). An item's references are read by these names at any depth, whatever its type
// and those of the resources it contains: what a contained resource names by its own type's paths
// is read with the rest, without knowing its type.
const std::vector<std::string_view>& reference_holders() {
  static const std::vector<std::string_view> kHolders = [] {
    std::set<std::string_view> names;
    for (const auto& [type, paths] : all_reference_paths())
      for (const RefPath& p : paths) names.insert(p.holder());
    return std::vector<std::string_view>(names.begin(), names.end());
  }();
  return kHolders;
}

bool holds_references(std::string_view member) {
  const auto& holders = reference_holders();
  return std::find(holders.begin(), holders.end(), member) != holders.end();
}

std::string reference_of(const rapidjson::Value& v) {
  if (!v.IsObject()) return {};
  auto r = v.FindMember("reference");
  return r != v.MemberEnd() && r->value.IsString() ? std::string(r->value.GetString(), r->value.GetStringLength())
                                                   : std::string();
}

// Calls list(v) for each array of References the path reaches, one(list, i, ref) for each entry of
// a list of objects naming one item through `inner`, and member(ref) for a member that is one.
template <typename V, typename List, typename One, typename Member>
void on_path(V& item, const RefPath& path, List&& list, One&& one, Member&& member) {
  auto m = item.FindMember(path.member);
  if (m == item.MemberEnd()) return;
  auto& v = m->value;
  if (!path.inner) {
    if (v.IsArray()) list(v);
    else if (v.IsObject()) member(v);
    return;
  }
  if (v.IsObject()) {  // context.related
    auto in = v.FindMember(path.inner);
    if (in != v.MemberEnd() && in->value.IsArray()) list(in->value);
    return;
  }
  if (!v.IsArray()) return;
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    if (!v[i].IsObject()) continue;
    auto in = v[i].FindMember(path.inner);
    if (in == v[i].MemberEnd()) continue;
    if (in->value.IsArray()) list(in->value);  // evidence[].detail[]
    else one(v, i, in->value);                 // diagnosis[].condition
  }
}

// The member name whose value opens just before `at` (`"name":` then `{` or `[{`), or nullopt.
std::optional<std::string_view> member_before(std::string_view text, size_t at) {
  if (at > 0 && text[at - 1] == '[') --at;
  if (at < 3 || text[at - 1] != ':' || text[at - 2] != '"') return std::nullopt;
  const size_t close = at - 2;
  const size_t open = text.rfind('"', close - 1);
  if (open == std::string_view::npos || text[close - 1] == '\\') return std::nullopt;
  return text.substr(open + 1, close - open - 1);
}
}  // namespace

std::optional<std::vector<std::string_view>> quick_references(std::string_view type, std::string_view item_json) {
  std::vector<std::string_view> out;
  if (clinical_reference_paths(type).empty()) return out;
  // Every Reference in the item, in one pass: each "reference" member, the member holding its
  // object (`"encounter":{"reference":...`, `"result":[{"reference":...},{"reference":...}]`), and
  // whether that member's name holds References on some path (reference_holders: at any depth, so a
  // contained resource's are read too). The form the store writes every item in (compact, the
  // reference first); any other, and the item is parsed. drop_grouped_references leaves out a hidden
  // one wherever it is.
  constexpr std::string_view kKey = "\"reference\"";
  std::string_view holder;   // the list of References being read, while it goes on
  size_t list_next = 0;      // where its next entry would begin
  for (size_t from = 0;;) {
    const void* found = memmem(item_json.data() + from, item_json.size() - from, kKey.data(), kKey.size());
    if (!found) break;
    const size_t at = static_cast<size_t>(static_cast<const char*>(found) - item_json.data());
    size_t v = at + kKey.size();
    size_t colon = v;
    while (colon < item_json.size() && (item_json[colon] == ' ' || item_json[colon] == '\n' ||
                                        item_json[colon] == '\r' || item_json[colon] == '\t'))
      ++colon;
    if (colon >= item_json.size() || item_json[colon] != ':') {  // "reference" as a value: not one
      from = v;
      continue;
    }
    if (colon != v || v + 1 >= item_json.size() || item_json[v + 1] != '"') return std::nullopt;  // spaced: parse
    v += 2;
    const size_t end = item_json.find_first_of("\"\\", v);
    if (end == std::string_view::npos || item_json[end] != '"') return std::nullopt;  // an escape
    from = end + 1;
    // Its object begins at `at - 1`: the reference is its first member, or the item is parsed.
    if (at == 0 || item_json[at - 1] != '{') return std::nullopt;
    std::string_view owner;
    if (at - 1 == list_next && !holder.empty()) {
      owner = holder;  // the next entry of the list being read
    } else if (auto name = member_before(item_json, at - 1)) {
      owner = *name;
    } else {
      return std::nullopt;  // another entry of a list whose entries are more than a reference
    }
    // A list goes on when this entry is the reference alone, followed by another entry.
    holder = {};
    if (end + 2 < item_json.size() && item_json[end + 1] == '}' && item_json[end + 2] == ',') {
      holder = owner;
      list_next = end + 3;
    }
    if (holds_references(owner)) out.push_back(item_json.substr(v, end - v));
  }
  return out;
}

namespace {
// Calls f(resource, its type) for the item and each resource it contains (contained[]): a
// contained resource names items by its own type's paths.
template <typename V, typename F>
void with_contained(V& item, std::string_view type, F&& f) {
  f(item, type);
  auto contained = item.FindMember("contained");
  if (contained == item.MemberEnd() || !contained->value.IsArray()) return;
  for (auto& c : contained->value.GetArray()) {
    auto t = c.IsObject() ? c.FindMember("resourceType") : c.MemberEnd();
    if (c.IsObject() && t != c.MemberEnd() && t->value.IsString())
      f(c, std::string_view(t->value.GetString(), t->value.GetStringLength()));
  }
}

// The References `hidden` names, as written and as Type/id (a reference written another way
// elsewhere in the item, an absolute URL or a version's, names the same item).
struct HiddenRefs {
  const std::set<std::string>& as_written;
  std::set<std::string> keys;
  explicit HiddenRefs(const std::set<std::string>& hidden) : as_written(hidden) {
    for (const auto& r : hidden)
      if (auto ti = fhir::reference_type_and_id(r)) keys.insert(ti->first + "/" + ti->second);
  }
  bool names(const rapidjson::Value& v) const {
    const std::string r = reference_of(v);
    if (r.empty()) return false;
    if (as_written.count(r)) return true;
    auto ti = fhir::reference_type_and_id(r);
    return ti && keys.count(ti->first + "/" + ti->second) > 0;
  }
};

// Leaves out, anywhere in `v`, each Reference to a hidden item: a member holding one goes; a list
// entry that is one, or that something was taken from, goes whole (an extension without its value,
// a location entry without its location, would say nothing true); a member left empty goes. The
// entries of `contained` (resources of their own, their paths dealt with already) are swept and
// kept. True when something was left out of `v`.
bool sweep_hidden(rapidjson::Value& v, const HiddenRefs& hidden, bool& dropped, bool keep_entries = false) {
  bool removed = false;
  auto empty = [](const rapidjson::Value& x) {
    return (x.IsObject() && x.ObjectEmpty()) || (x.IsArray() && x.Empty());
  };
  if (v.IsObject()) {
    for (auto m = v.MemberBegin(); m != v.MemberEnd();) {
      if (hidden.names(m->value)) {
        m = v.EraseMember(m);
        removed = dropped = true;
        continue;
      }
      const bool took = (m->value.IsObject() || m->value.IsArray()) &&
                        sweep_hidden(m->value, hidden, dropped, m->name == "contained");
      removed = removed || took;
      m = took && empty(m->value) ? v.EraseMember(m) : m + 1;
    }
  } else if (v.IsArray()) {
    for (auto e = v.Begin(); e != v.End();) {
      if (hidden.names(*e)) {
        e = v.Erase(e);
        removed = dropped = true;
        continue;
      }
      const bool took = (e->IsObject() || e->IsArray()) && sweep_hidden(*e, hidden, dropped);
      removed = removed || took;
      e = took && (!keep_entries || empty(*e)) ? v.Erase(e) : e + 1;
    }
  }
  return removed;
}

// Every Reference held, at any depth, by a member whose name holds References on some path (what
// quick_references reads from the text).
void named_anywhere(const rapidjson::Value& v, std::vector<std::string>& out) {
  if (v.IsArray()) {
    for (const auto& e : v.GetArray()) named_anywhere(e, out);
    return;
  }
  if (!v.IsObject()) return;
  for (const auto& m : v.GetObject()) {
    if (holds_references(std::string_view(m.name.GetString(), m.name.GetStringLength()))) {
      if (auto r = reference_of(m.value); !r.empty()) out.push_back(std::move(r));
      if (m.value.IsArray())
        for (const auto& e : m.value.GetArray())
          if (auto r = reference_of(e); !r.empty()) out.push_back(std::move(r));
    }
    named_anywhere(m.value, out);
  }
}
}  // namespace

std::vector<std::string> grouped_references(std::string_view type, std::string_view item_json) {
  std::vector<std::string> out;
  if (clinical_reference_paths(type).empty()) return out;
  rapidjson::Document d;
  d.Parse(item_json.data(), item_json.size());
  if (!d.IsObject()) return out;
  // The paths' References (a contained resource's by its own type's) are all held by such names.
  named_anywhere(d, out);
  std::set<std::string> seen;  // each once, in the order first found
  out.erase(std::remove_if(out.begin(), out.end(), [&](const std::string& r) { return !seen.insert(r).second; }),
            out.end());
  return out;
}

std::string drop_grouped_references(std::string_view type, const std::string& item_json,
                                    const std::set<std::string>& hidden) {
  rapidjson::Document d;
  d.Parse(item_json.c_str(), item_json.size());
  if (!d.IsObject()) return item_json;
  bool dropped = false;
  const HiddenRefs hidden_refs(hidden);
  auto is_hidden = [&](const rapidjson::Value& ref) {
    const bool h = hidden_refs.names(ref);
    dropped = dropped || h;
    return h;
  };
  // On the paths first: there an entry about the hidden item goes whole (an encounter's diagnosis).
  with_contained<rapidjson::Value>(d, type, [&](rapidjson::Value& r, std::string_view t) {
    for (const RefPath& p : clinical_reference_paths(t)) {
      std::vector<rapidjson::SizeType> entries_gone;  // of a list of objects naming one item each
      rapidjson::Value* entries = nullptr;
      bool member_gone = false;
      on_path(
          r, p,
          [&](rapidjson::Value& list) {
            for (auto it = list.Begin(); it != list.End();) it = is_hidden(*it) ? list.Erase(it) : it + 1;
          },
          [&](rapidjson::Value& list, rapidjson::SizeType i, rapidjson::Value& ref) {
            entries = &list;
            if (is_hidden(ref)) entries_gone.push_back(i);
          },
          [&](rapidjson::Value& ref) { member_gone = is_hidden(ref); });
      if (member_gone) {
        r.RemoveMember(p.member);
        continue;
      }
      for (auto i = entries_gone.rbegin(); i != entries_gone.rend(); ++i) entries->Erase(entries->Begin() + *i);
      // Lists (and objects) left empty go, so no empty list is sent.
      auto m = r.FindMember(p.member);
      if (m == r.MemberEnd()) continue;
      if (p.inner && m->value.IsArray()) {
        for (auto it = m->value.Begin(); it != m->value.End();) {
          if (it->IsObject()) {
            auto in = it->FindMember(p.inner);
            if (in != it->MemberEnd() && in->value.IsArray() && in->value.Empty()) it->RemoveMember(p.inner);
          }
          it = it->IsObject() && it->ObjectEmpty() ? m->value.Erase(it) : it + 1;
        }
      } else if (p.inner && m->value.IsObject()) {
        auto in = m->value.FindMember(p.inner);
        if (in != m->value.MemberEnd() && in->value.IsArray() && in->value.Empty()) m->value.RemoveMember(p.inner);
      }
      if ((m->value.IsArray() && m->value.Empty()) || (m->value.IsObject() && m->value.ObjectEmpty()))
        r.RemoveMember(p.member);
    }
  });
  // Then anywhere else a hidden item is named (quick_references reads a path's name at any depth).
  sweep_hidden(d, hidden_refs, dropped);
  if (!dropped) return item_json;
  add_security_label(d, "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "REDACTED", "redacted");
  return text_of(d);
}

}  // namespace cc::governance
