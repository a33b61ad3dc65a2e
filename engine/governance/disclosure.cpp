// Disclosure: the one path by which patient data leaves the engine. It fetches what was asked,
// writes the audit record, and only once that is committed hands the resources back.
#include "engine/governance/disclosure.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include <rapidjson/document.h>

#include "engine/fhir/datetime.h"
#include "engine/fhir/reference.h"
#include "engine/governance/sensitive.h"

namespace cc::governance {

namespace {
struct Fetch {
  store::RecordStore& record;
  store::Page operator()(const ReadQuery& q) const {
    store::Page p;
    if (auto r = record.read(q.type, q.id)) p.items.push_back(std::move(*r));
    p.total = static_cast<int64_t>(p.items.size());
    return p;
  }
  store::Page operator()(const VersionQuery& q) const {
    store::Page p;
    if (auto r = record.read_version(q.type, q.id, q.version)) p.items.push_back(std::move(*r));
    p.total = static_cast<int64_t>(p.items.size());
    return p;
  }
  store::Page operator()(const HistoryQuery& q) const { return record.history(q.type, q.id, q.offset, q.count); }
  store::Page operator()(const IdentifierQuery& q) const {
    return record.search_identifier(q.type, q.system, q.value, q.offset, q.count);
  }
  store::Page operator()(const PatientQuery& q) const {
    return record.search_patient(q.type, q.patient_id, q.offset, q.count);
  }
  store::Page operator()(const EverythingQuery&) const { return {}; }  // DisclosureService::disclose_everything
};

const char* action_of(const Query& q) {
  switch (q.index()) {
    case 0: return "read";
    case 1: return "vread";
    case 2: return "history";
    case 5: return "everything";
    default: return "search";
  }
}
// Writes the refusal's audit entry, then answers "forbidden" with `why`.
template <typename T>
void refuse(store::AuditLog& audit, std::shared_ptr<store::AuditEntry> entry, std::string why,
            std::function<void(Result<T>)> done) {
  entry->outcome = "denied";
  audit.append(std::move(*entry), [why = std::move(why), done = std::move(done)](Status) {
    done(make_error("forbidden", why));
  });
}

// What the reader is told when a disclosure's audit record could not be written.
Error nothing_disclosed() {
  return make_error("audit-unavailable", "The audit record could not be written, so nothing was disclosed. Try again shortly.");
}

// Makes the answer (Shape) while the audit record is written; if it cannot, the caller makes it
// itself once the record is durable.
template <typename T>
void make_answer(const std::function<void(T&)>& shape, T& result) {
  if (!shape) return;
  try {
    shape(result);
  } catch (const std::exception& e) {
    spdlog::warn("disclosure: an answer could not be made beside its audit entry ({})", e.what());
  } catch (...) {
    spdlog::warn("disclosure: an answer could not be made beside its audit entry");
  }
}

// Writes the audit entry of a disclosure; once it is durable hands `result` over, and if it could
// not be written, only "audit-unavailable": nothing leaves without its record. `shape` (when given)
// runs on this thread while the entry is written, so making the answer overlaps the wait for the
// disk; whichever of the two ends last hands the result over.
template <typename T>
void disclose_after(store::AuditLog& audit, std::shared_ptr<store::AuditEntry> entry, std::shared_ptr<T> result,
                    std::function<void(Result<T>)> done, const std::function<void(T&)>& shape = {}) {
  struct Join {
    std::atomic<int> left{2};
    Status audited;
    std::function<void(Result<T>)> done;
  };
  auto join = std::make_shared<Join>();
  join->done = std::move(done);
  auto arrive = [join, result] {
    if (join->left.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (!join->audited) {
      join->done(nothing_disclosed());
      return;
    }
    join->done(std::move(*result));
  };
  audit.append(std::move(*entry), [join, arrive](Status st) {
    join->audited = std::move(st);
    arrive();
  });
  make_answer(shape, *result);
  arrive();
}

// When these resources carry `value` for two or more people (`owner` names whose each is) and under
// more than one identifier system, those systems; else none. Two systems on one person's matches
// (two registrations of one patient, two encounters of one) are no wrong-patient risk. Only what is
// disclosed is looked at: a withheld match's system would say that it exists.
std::vector<std::string> systems_carrying(const std::vector<store::StoredResource>& items, const std::string& value,
                                          const std::function<std::string(const store::StoredResource&)>& owner) {
  std::set<std::string> systems, owners;
  for (const auto& r : items) {
    rapidjson::Document doc;
    doc.Parse(r.json.data(), r.json.size());
    if (doc.HasParseError() || !doc.IsObject()) continue;
    auto ids = doc.FindMember("identifier");
    if (ids == doc.MemberEnd() || !ids->value.IsArray()) continue;
    bool carries = false;
    for (const auto& id : ids->value.GetArray()) {
      if (!id.IsObject()) continue;
      auto v = id.FindMember("value");
      if (v == id.MemberEnd() || !v->value.IsString() || value != v->value.GetString()) continue;
      auto sys = id.FindMember("system");
      systems.insert(sys != id.MemberEnd() && sys->value.IsString() ? sys->value.GetString() : "");
      carries = true;
    }
    if (carries) owners.insert(owner(r));
  }
  if (systems.size() < 2 || owners.size() < 2) return {};
  return {systems.begin(), systems.end()};
}

// What an audit entry lists of a disclosure: each version disclosed ("Type/id/_history/n"), then why
// it was disclosed ("basis:" the relationship or the recorded access), space-separated. Made in one
// buffer: a whole record is hundreds of versions.
std::string disclosed_list(const std::vector<store::StoredResource>& items, const std::set<std::string>& bases) {
  std::string out;
  size_t size = 0;
  for (const auto& r : items) size += r.type.size() + r.id.size() + 32;
  out.reserve(size);
  char version[24];
  for (const auto& r : items) {
    if (!out.empty()) out += ' ';
    out.append(r.type).append(1, '/').append(r.id).append("/_history/");
    out.append(version, std::to_chars(version, version + sizeof version, r.version).ptr);
  }
  for (const auto& b : bases) {
    if (!out.empty()) out += ' ';
    out.append("basis:").append(b);
  }
  return out;
}

// Who asked, for what, when: the part of an audit entry every disclosure shares.
store::AuditEntry audit_entry(const DisclosureContext& ctx, const char* action) {
  store::AuditEntry entry;
  entry.time_ms = fhir::now_epoch_ms();
  entry.user = ctx.reader.user;
  entry.role = ctx.reader.role;
  entry.org = ctx.reader.org;
  entry.purpose_of_use = ctx.reader.purpose_of_use;
  entry.action = action;
  entry.query = ctx.request;
  entry.peer = ctx.peer;
  return entry;
}
}  // namespace

Result<std::string> DisclosureService::known_person(const std::string& patient_id) {
  try {
    std::string person = record_.person_of(patient_id);
    if (!record_.read("Patient", person) && !record_.read("Patient", patient_id))
      return make_error("not-found", "No patient has id " + patient_id + ".");
    return person;
  } catch (const std::exception& e) {
    return make_error("store-unavailable", std::string("The record could not be read (") + e.what() + ").");
  }
}

std::string DisclosureService::item_refusal(const AccessDecision& d, const store::StoredResource& r) const {
  return governance::item_refusal(settings_.policy, d, settings_.feed_types, r);
}

bool DisclosureService::might_withhold(const AccessDecision& d) const {
  return !d.withheld_sources.empty() || !d.withheld_source_types.empty() || !d.hidden_categories.empty() ||
         !d.allowed_source_types.empty();
}

void DisclosureService::redact_if_restricted(store::StoredResource& patient) {
  if (patient.type != "Patient") return;
  bool restricted_person = restricted(patient.json);
  // Any registration of the person flagged restricted restricts them all.
  if (!restricted_person) restricted_person = facts_for(record_.person_of(patient.id))->restricted;
  if (restricted_person) patient.json = redact_restricted(patient.json);
}

void DisclosureService::mask_whereabouts(const Reader& reader, store::StoredResource& item) const {
  if (item.type == "RelatedPerson") item.json = redact_contact_address(item.json);
  item.json = mask_practice(item.json, [&](const ItemSource& source) {
    const auto type = settings_.feed_types.find(source.feed);
    const bool from_gp =
        settings_.gp_feeds.count(source.feed) > 0 || (type != settings_.feed_types.end() && type->second == "gp");
    return from_gp && !settings_.organisations.covers(reader.org, source.facility);
  });
}

bool DisclosureService::hide_withheld_results(const Reader& reader, std::vector<store::StoredResource>& items,
                                              int64_t now) {
  // Most items name the encounter they were recorded in, and a report its results, written as the
  // store writes them: read from the text in one pass. Another form is parsed.
  std::deque<std::string> parsed;  // references read by parsing; the views below point into these
  std::vector<std::pair<size_t, std::vector<std::string_view>>> naming;  // item, the references it makes
  for (size_t i = 0; i < items.size(); ++i) {
    auto refs = quick_references(items[i].type, items[i].json);
    if (!refs) {
      refs.emplace();
      for (auto& r : grouped_references(items[i].type, items[i].json)) refs->push_back(parsed.emplace_back(std::move(r)));
    }
    if (!refs->empty()) naming.emplace_back(i, std::move(*refs));
  }
  if (naming.empty()) return false;
  // What each reference names, once; the items named that this answer does not disclose itself.
  std::map<std::string_view, std::string> named;        // reference -> "Type/id" ("" for none)
  std::map<std::string, std::set<std::string>> wanted;  // type -> ids
  for (const auto& [i, refs] : naming)
    for (std::string_view ref : refs) {
      auto [it, added] = named.try_emplace(ref);
      if (!added) continue;
      if (auto ti = fhir::reference_type_and_id(std::string(ref))) {
        it->second = ti->first + "/" + ti->second;
        wanted[ti->first].insert(ti->second);
      }
    }
  for (const auto& r : items)
    if (auto w = wanted.find(r.type); w != wanted.end()) w->second.erase(r.id);
  std::set<std::string> hidden_items;  // "Type/id"
  std::map<std::string, std::string> people;                               // patient id -> person
  std::map<std::pair<std::string, std::string>, AccessDecision> decisions;  // (type, person)
  auto person = [&](const std::string& patient) -> const std::string& {
    auto p = people.find(patient);
    if (p == people.end()) p = people.emplace(patient, record_.person_of(patient)).first;
    return p->second;
  };
  auto judge = [&](const std::string& type, const store::StoredResource& target) {
    if (target.patient_id.empty()) return;  // about no patient: nothing of one to reveal
    const std::string& who = person(target.patient_id);
    auto d = decisions.find({type, who});
    if (d == decisions.end()) d = decisions.emplace(std::pair{type, who}, decide(reader, type, who, now)).first;
    if (!d->second.permitted || !item_refusal(d->second, target).empty()) hidden_items.insert(type + "/" + target.id);
  };
  // The encounters and episodes an item was recorded in are among its patient's governance facts,
  // kept in memory: judged from those, not read again.
  const auto& fact_types = governance_fact_types();
  if (std::any_of(wanted.begin(), wanted.end(), [&](const auto& w) {
        return !w.second.empty() && std::find(fact_types.begin(), fact_types.end(), w.first) != fact_types.end();
      })) {
    std::set<std::string> persons_named;
    for (const auto& [i, refs] : naming)
      if (!items[i].patient_id.empty()) persons_named.insert(person(items[i].patient_id));
    for (const auto& who : persons_named) {
      const auto pf = facts_for(who);  // held while its facts are walked: judging may renew the cache
      for (const auto& f : pf->facts)
        if (auto w = wanted.find(f.type); w != wanted.end() && w->second.erase(f.id)) judge(f.type, f);
    }
  }
  for (const auto& [type, ids] : wanted) {
    if (ids.empty()) continue;
    if (!settings_.policy.may_read_type(reader.role, type)) {  // a type this role never sees
      for (const auto& id : ids) hidden_items.insert(type + "/" + id);
      continue;
    }
    for (const auto& target : record_.read_many(type, {ids.begin(), ids.end()})) judge(type, target);
    // one not (yet) in the record has nothing to reveal
  }
  if (hidden_items.empty()) return false;
  // Every item's hidden references first: the views point into the items' text, changed after.
  std::vector<std::pair<size_t, std::set<std::string>>> changes;
  for (const auto& [i, refs] : naming) {
    std::set<std::string> hidden;
    for (std::string_view ref : refs)
      if (auto n = named.find(ref); n != named.end() && hidden_items.count(n->second)) hidden.emplace(ref);
    if (!hidden.empty()) changes.emplace_back(i, std::move(hidden));
  }
  for (const auto& [i, hidden] : changes) items[i].json = drop_grouped_references(items[i].type, items[i].json, hidden);
  return !changes.empty();
}

std::shared_ptr<DisclosureService::PersonFacts> DisclosureService::facts_for(const std::string& person) {
  // Kept facts stand until a write touches the person (record_store.h, person_stamp); facts are kept
  // only when no such write began while they were read.
  {
    std::lock_guard lock(cache_mutex_);
    auto it = cache_.find(person);
    if (it != cache_.end() && record_.unchanged(it->second->stamp)) return it->second;
  }
  const auto stamp = record_.person_stamp(person);
  auto pf = std::make_shared<PersonFacts>();
  facts_reads_.fetch_add(1, std::memory_order_relaxed);
  for (const std::string& t : governance_fact_types()) {
    auto page = record_.search_patient(t, person, 0, 500);
    for (auto& r : page.items) pf->facts.push_back(std::move(r));
  }
  pf->consent = consent_state(pf->facts);
  pf->restricted = any_restricted(pf->facts);
  if (stamp && record_.unchanged(*stamp)) {
    pf->stamp = *stamp;
    std::lock_guard lock(cache_mutex_);
    if (cache_.size() >= 4096) cache_.clear();  // bounded; a miss costs one reading of the facts
    cache_[person] = pf;
  }
  return pf;
}

std::optional<RecordRelationship> DisclosureService::relationship_for(PersonFacts& pf, const std::string& reader_org) {
  std::lock_guard lock(pf.m);
  auto it = pf.relationship_by_org.find(reader_org);
  if (it == pf.relationship_by_org.end())
    it = pf.relationship_by_org
             .emplace(reader_org, relationship_in_record(pf.facts, reader_org, settings_.organisations,
                                                         settings_.policy, settings_.gp_feeds))
             .first;
  return it->second;
}

AccessDecision DisclosureService::decide(const Reader& reader, const std::string& type, const std::string& person,
                                         int64_t now_ms) {
  auto pf = facts_for(person);
  AccessDecision d = decide_access(settings_.policy, reader.role, type, relationship_for(*pf, reader.org), pf->consent,
                                   [&]() -> std::string {
                                     if (!settings_.grants) return "";
                                     auto g = settings_.grants->active(reader.user, person, now_ms);
                                     return g ? g->kind : "";
                                   });
  d.restricted_patient = pf->restricted;
  return d;
}

namespace {
std::string type_of(const Query& q) {
  return std::visit([](const auto& x) { return x.type; }, q);
}

std::string purpose_sentence(const std::string& purpose) {
  return "The shared care record discloses patient data for direct care; purpose of use " + purpose +
         " is not one the data sharing policy allows.";
}

// Why a patient's clinical data are not shown, in words that name no patient data.
std::string refusal_sentence(const std::string& refusal) {
  if (refusal == "dissent")
    return "This patient has asked that their record not be shared, so it is not shown. In an emergency, record "
           "break-glass with POST /fhir/Patient/{id}/$access and a reason; it is reviewed.";
  if (refusal == "policy")
    return "Some of this patient's information is withheld from your role under the data sharing policy, and this "
           "is part of it.";
  if (refusal == "withheld")
    return "This information is withheld at the patient's request. In an emergency, record break-glass with "
           "POST /fhir/Patient/{id}/$access and a reason; it is reviewed.";
  return "No relationship is recorded between your organisation and this patient, so their clinical record is not "
         "shown (their demographics are, to confirm identity). If you are caring for them, record why with "
         "POST /fhir/Patient/{id}/$access: permission-to-view (they agreed), self-declared, or break-glass in an "
         "emergency.";
}
}  // namespace

DisclosureService::Prepared DisclosureService::prepare(const DisclosureContext& ctx, const Query& q) {
  const std::string type = type_of(q);
  Prepared prepared;
  prepared.entry = std::make_shared<store::AuditEntry>(audit_entry(ctx, action_of(q)));
  const auto& entry = prepared.entry;
  auto deny = [&](const std::string& why, const std::string& patient) {
    entry->outcome = "denied";
    entry->patient_id = patient;
    prepared.refusal = why;
  };
  // 1. Purpose and role: is this a purpose the record is shared for, and may the role read this type
  // at all (the policy's resource types; Patient for clinical roles)?
  if (!settings_.policy.allows_purpose(ctx.reader.purpose_of_use)) {
    deny(purpose_sentence(ctx.reader.purpose_of_use), "");
    return prepared;
  }
  if (!settings_.policy.may_read_type(ctx.reader.role, type)) {
    const RolePolicy* role = settings_.policy.role(ctx.reader.role);
    deny(role && role->clinical
             ? "Role " + ctx.reader.role + " does not see " + type + " resources under the data sharing policy (" +
                   settings_.policy.name() + ")."
             : "Role " + ctx.reader.role + " reads no patient records under the data sharing policy (" +
                   settings_.policy.name() + ").",
         "");
    return prepared;
  }
  auto result = std::make_shared<Disclosure>();
  std::set<std::string> bases;
  try {
    result->page = std::visit(Fetch{record_}, q);
    // 2. Relationship and consent, for clinical data (demographics are open to clinical roles).
    if (type != "Patient") {
      const int64_t now = fhir::now_epoch_ms();
      std::map<std::string, std::string> people;      // patient id as filed -> the person read under
      auto person_for = [&](const std::string& patient_id) -> const std::string& {
        auto it = people.find(patient_id);
        if (it == people.end()) it = people.emplace(patient_id, record_.person_of(patient_id)).first;
        return it->second;
      };
      std::map<std::string, AccessDecision> decided;  // patient id as filed -> decision
      auto decision_for = [&](const std::string& patient_id) -> const AccessDecision& {
        auto it = decided.find(patient_id);
        if (it == decided.end()) it = decided.emplace(patient_id, decide(ctx.reader, type, person_for(patient_id), now)).first;
        return it->second;
      };
      std::string refused_patient, refusal;
      bool withheld = false;  // something matching is not shown (the answer says so, not what)
      if (auto* pq = std::get_if<PatientQuery>(&q)) {
        const AccessDecision& d = decision_for(pq->patient_id);
        if (!d.permitted && d.refusal != "withheld") {
          deny(refusal_sentence(d.refusal), person_for(pq->patient_id));
          return prepared;
        }
        if (!d.permitted) {
          // A type withheld at the patient's request: an empty answer that says something is withheld.
          result->page = store::Page{};
          withheld = true;
        } else {
          bases.insert(d.basis);
          auto refused = [&](const store::StoredResource& r) { return !item_refusal(d, r).empty(); };
          const bool whole = pq->offset == 0 && result->page.total == static_cast<int64_t>(result->page.items.size());
          if (whole) {
            // Everything on one page: leave out what is withheld; the total counts what is shown.
            std::vector<store::StoredResource> shown;
            shown.reserve(result->page.items.size());
            for (auto& r : result->page.items)
              if (!refused(r)) shown.push_back(std::move(r));
            withheld = shown.size() < result->page.items.size();
            result->page.items = std::move(shown);
            result->page.total = static_cast<int64_t>(result->page.items.size());
          } else if (might_withhold(d)) {
            // Several pages: filter the whole list, then page what is left, so totals and paging
            // links count only what is shown.
            store::Page all = record_.search_patient(pq->type, pq->patient_id, 0, 10000);
            std::vector<store::StoredResource> shown;
            for (auto& r : all.items)
              if (!refused(r)) shown.push_back(std::move(r));
            withheld = shown.size() < all.items.size();
            result->page.total = static_cast<int64_t>(shown.size());
            result->page.items.clear();
            for (int64_t i = pq->offset; i < result->page.total && i < pq->offset + pq->count; ++i)
              result->page.items.push_back(std::move(shown[static_cast<size_t>(i)]));
          }
        }
      } else {
        // A version is judged with its resource's current version too: an item now sensitive (or
        // from a withheld source) keeps its earlier versions to itself.
        const bool versions = std::holds_alternative<HistoryQuery>(q) || std::holds_alternative<VersionQuery>(q);
        // A search by identifier is judged whole, then paged, so totals and paging links count only
        // what this reader is shown (whatever page they ask for).
        const auto* iq = std::get_if<IdentifierQuery>(&q);
        if (iq) result->page = record_.search_identifier(iq->type, iq->system, iq->value, 0, 10000);
        std::map<std::string, std::string> current_refusal;  // type/id -> refusal of the current version
        std::vector<store::StoredResource> kept;
        for (auto& r : result->page.items) {
          if (r.patient_id.empty()) {  // supporting data about no patient (a practitioner, an organisation)
            kept.push_back(std::move(r));
            continue;
          }
          const AccessDecision& d = decision_for(r.patient_id);
          std::string why = d.permitted ? item_refusal(d, r) : d.refusal;
          if (why.empty() && versions) {
            const std::string key = r.type + "/" + r.id;
            auto it = current_refusal.find(key);
            if (it == current_refusal.end()) {
              auto current = record_.read(r.type, r.id);
              it = current_refusal.emplace(key, current ? item_refusal(d, *current) : std::string()).first;
            }
            why = it->second;
          }
          if (!why.empty()) {
            refused_patient = person_for(r.patient_id);
            refusal = why;
            continue;
          }
          bases.insert(d.basis);
          kept.push_back(std::move(r));
        }
        withheld = kept.size() < result->page.items.size();
        // A read of one resource (or its versions) is refused outright; a search leaves out and says so.
        if (withheld && !std::holds_alternative<IdentifierQuery>(q)) {
          deny(refusal_sentence(refusal), refused_patient);
          return prepared;
        }
        if (iq && !iq->system)
          result->identifier_systems = systems_carrying(kept, iq->value, [&](const store::StoredResource& r) {
            return r.patient_id.empty() ? r.type + "/" + r.id : person_for(r.patient_id);
          });
        if (iq) {
          result->page.total = static_cast<int64_t>(kept.size());
          result->page.items.clear();
          for (int64_t i = iq->offset; i < result->page.total && i < iq->offset + iq->count; ++i)
            result->page.items.push_back(std::move(kept[static_cast<size_t>(i)]));
        } else {
          result->page.items = std::move(kept);
        }
      }
      for (auto& r : result->page.items)
        if (!r.patient_id.empty() && decision_for(r.patient_id).restricted_patient) mask_whereabouts(ctx.reader, r);
      // What the reader may not see does not show through an item that names it (a report's results).
      if (hide_withheld_results(ctx.reader, result->page.items, now)) withheld = true;
      result->withheld = withheld;
    } else {
      for (auto& r : result->page.items) redact_if_restricted(r);
      // Demographics are open to clinical roles: every match is disclosed, on this page or another.
      const auto* iq = std::get_if<IdentifierQuery>(&q);
      if (iq && !iq->system) {
        const bool one_page = iq->offset == 0 && result->page.total == static_cast<int64_t>(result->page.items.size());
        result->identifier_systems = systems_carrying(
            one_page ? result->page.items : record_.search_identifier(iq->type, std::nullopt, iq->value, 0, 10000).items, iq->value,
            [](const store::StoredResource& r) { return r.id; });  // one Patient a person
      }
    }
  } catch (const std::exception& e) {
    prepared.entry.reset();  // nothing decided, nothing to record
    prepared.unavailable = std::string("The record could not be read (") + e.what() +
                           "); nothing was disclosed. Try again shortly.";
    return prepared;
  }

  entry->resources = disclosed_list(result->page.items, bases);
  std::set<std::string> patients;
  for (auto& r : result->page.items) patients.insert(r.type == "Patient" ? r.id : r.patient_id);
  if (auto* pq = std::get_if<PatientQuery>(&q)) patients.insert(pq->patient_id);
  for (auto& p : patients) {
    if (p.empty()) continue;
    if (!entry->patient_id.empty()) entry->patient_id += ' ';
    entry->patient_id += p;
  }
  entry->outcome = result->page.items.empty() ? "nothing-found" : "disclosed";
  prepared.result = std::move(result);
  return prepared;
}

void DisclosureService::disclose(const DisclosureContext& ctx, const Query& q,
                                 std::function<void(Result<Disclosure>)> done, const Shape& shape) {
  if (auto* eq = std::get_if<EverythingQuery>(&q)) {
    disclose_everything(ctx, *eq, std::move(done), shape);
    return;
  }
  Prepared p = prepare(ctx, q);
  if (!p.unavailable.empty()) {
    done(make_error("store-unavailable", p.unavailable));
    return;
  }
  if (!p.result) {
    audit_.append(std::move(*p.entry), [done = std::move(done), why = std::move(p.refusal)](Status) {
      done(make_error("forbidden", why));
    });
    return;
  }
  disclose_after(audit_, p.entry, p.result, std::move(done), shape);
}

void DisclosureService::disclose_all(std::vector<Batched> batch,
                                     std::function<void(std::vector<Result<Disclosure>>)> done) {
  struct Join {
    std::vector<Result<Disclosure>> results;
    std::vector<std::shared_ptr<Disclosure>> disclosed;  // by position; null where refused or failed
    std::atomic<int> left{0};
    Status audited;
    std::function<void(std::vector<Result<Disclosure>>)> done;
  };
  auto join = std::make_shared<Join>();
  join->done = std::move(done);
  join->disclosed.resize(batch.size());
  std::vector<store::AuditEntry> entries;
  std::vector<size_t> apart;  // $everything: its own disclosure (one reading of the facts for every type)
  for (size_t i = 0; i < batch.size(); ++i) {
    join->results.emplace_back(make_error("pending", ""));
    if (std::holds_alternative<EverythingQuery>(batch[i].query)) {
      apart.push_back(i);
      continue;
    }
    Prepared p = prepare(batch[i].context, batch[i].query);
    if (!p.unavailable.empty()) {
      join->results[i] = make_error("store-unavailable", p.unavailable);
    } else if (!p.result) {
      join->results[i] = make_error("forbidden", p.refusal);
    } else {
      join->disclosed[i] = std::move(p.result);
    }
    if (p.entry) entries.push_back(std::move(*p.entry));
  }
  // Each $everything, the one audited commit of the rest, and the answers made here: the last to end
  // hands the results over.
  join->left = static_cast<int>(apart.size()) + 2;
  auto arrive = [join] {
    if (join->left.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    for (size_t i = 0; i < join->disclosed.size(); ++i) {
      if (!join->disclosed[i]) continue;
      join->results[i] =
          join->audited ? Result<Disclosure>(std::move(*join->disclosed[i])) : Result<Disclosure>(nothing_disclosed());
    }
    join->done(std::move(join->results));
  };
  for (size_t i : apart)
    disclose_everything(batch[i].context, std::get<EverythingQuery>(batch[i].query),
                        [join, arrive, i](Result<Disclosure> d) {
                          join->results[i] = std::move(d);
                          arrive();
                        },
                        batch[i].shape);
  if (entries.empty()) {
    arrive();
  } else {
    audit_.append_all(std::move(entries), [join, arrive](Status st) {
      join->audited = std::move(st);
      arrive();
    });
  }
  // While the entries are written: the answers (a refusal's audit status does not matter to it).
  for (size_t i = 0; i < batch.size(); ++i)
    if (join->disclosed[i]) make_answer(batch[i].shape, *join->disclosed[i]);
  arrive();
}

void DisclosureService::disclose_everything(const DisclosureContext& ctx, const EverythingQuery& q,
                                            std::function<void(Result<Disclosure>)> done, const Shape& shape) {
  auto entry = std::make_shared<store::AuditEntry>(audit_entry(ctx, "everything"));
  auto deny = [&](const std::string& why, const std::string& patient) {
    entry->outcome = "denied";
    entry->patient_id = patient;
    audit_.append(std::move(*entry), [done = std::move(done), why](Status) { done(make_error("forbidden", why)); });
  };
  if (!settings_.policy.allows_purpose(ctx.reader.purpose_of_use)) {
    deny(purpose_sentence(ctx.reader.purpose_of_use), "");
    return;
  }
  const RolePolicy* role = settings_.policy.role(ctx.reader.role);
  if (!role || !role->clinical) {
    deny("Role " + ctx.reader.role + " reads no patient records under the data sharing policy (" +
             settings_.policy.name() + ").",
         "");
    return;
  }
  auto result = std::make_shared<Disclosure>();
  std::set<std::string> bases;
  std::string person;
  try {
    person = record_.person_of(q.patient_id);
    auto patient = record_.read("Patient", q.patient_id);
    if (patient) {
      auto pf = facts_for(person);
      const auto relationship = relationship_for(*pf, ctx.reader.org);
      const ConsentState& consent = pf->consent;
      const int64_t now = fhir::now_epoch_ms();
      std::optional<std::string> access;  // asked once
      auto recorded = [&]() -> std::string {
        if (!access) {
          auto g = settings_.grants ? settings_.grants->active(ctx.reader.user, person, now) : std::nullopt;
          access = g ? g->kind : "";
        }
        return *access;
      };
      if (pf->restricted || restricted(patient->json)) patient->json = redact_restricted(patient->json);
      result->page.items.push_back(std::move(*patient));
      for (const std::string& type : q.types) {
        if (type == "Patient" || !settings_.policy.may_read_type(ctx.reader.role, type)) continue;  // not this role's
        const AccessDecision d = decide_access(settings_.policy, ctx.reader.role, type, relationship, consent, recorded);
        if (!d.permitted && (d.refusal == "relationship" || d.refusal == "dissent")) {
          deny(refusal_sentence(d.refusal), person);
          return;
        }
        if (!d.permitted) {  // a type withheld at the patient's request
          result->withheld = true;
          continue;
        }
        bases.insert(d.basis);
        for (auto& r : record_.search_patient(type, person, 0, 10000).items) {
          if (!item_refusal(d, r).empty()) {
            result->withheld = true;
            continue;
          }
          if (pf->restricted) mask_whereabouts(ctx.reader, r);
          result->page.items.push_back(std::move(r));
        }
      }
    }
    if (hide_withheld_results(ctx.reader, result->page.items, fhir::now_epoch_ms())) result->withheld = true;
    result->page.total = static_cast<int64_t>(result->page.items.size());
  } catch (const std::exception& e) {
    done(make_error("store-unavailable", std::string("The record could not be read (") + e.what() +
                                             "); nothing was disclosed. Try again shortly."));
    return;
  }
  entry->resources = disclosed_list(result->page.items, bases);
  entry->patient_id = person;
  entry->outcome = result->page.items.empty() ? "nothing-found" : "disclosed";
  disclose_after(audit_, entry, result, std::move(done), shape);
}

void DisclosureService::record_access(const DisclosureContext& ctx, const std::string& patient_id,
                                      const std::string& kind_text, const std::string& reason,
                                      std::function<void(Result<AccessGrant>)> done) {
  const auto kind = access_kind_from(kind_text);
  if (!kind) {
    done(make_error("invalid", "kind is permission-to-view, self-declared or break-glass, not \"" + kind_text + "\"."));
    return;
  }
  if (!settings_.grants) {
    done(make_error("unavailable", "This engine records no accesses."));
    return;
  }
  auto entry = std::make_shared<store::AuditEntry>(audit_entry(ctx, "access"));
  entry->resources = "access:" + kind_text;
  if (!reason.empty()) entry->query += " (reason: " + reason + ")";
  if (!settings_.policy.may_record(ctx.reader.role, *kind)) {
    entry->patient_id = patient_id;
    refuse(audit_, entry, "Role " + ctx.reader.role + " may not record " + kind_text + " access under the policy.",
           std::move(done));
    return;
  }
  if (*kind == AccessKind::kBreakGlass && reason.empty()) {
    done(make_error("invalid", "Break-glass needs a reason (Parameters parameter reason, valueString): it is "
                               "reviewed by the information governance officer."));
    return;
  }
  auto known = known_person(patient_id);
  if (!known) {
    done(known.error());
    return;
  }
  const std::string person = *known;
  AccessGrant grant;
  grant.user = ctx.reader.user;
  grant.role = ctx.reader.role;
  grant.org = ctx.reader.org;
  grant.patient_id = person;
  grant.kind = kind_text;
  grant.reason = reason;
  grant.granted_ms = fhir::now_epoch_ms();
  grant.expires_ms = grant.granted_ms + settings_.policy.access_minutes(*kind) * 60'000;
  entry->patient_id = person;
  entry->outcome = "permitted";
  audit_.append(std::move(*entry), [this, grant, done = std::move(done)](Status st) {
    if (!st) {
      done(make_error("audit-unavailable", "The audit record could not be written, so no access was recorded."));
      return;
    }
    auto stored = settings_.grants->record(grant);
    if (stored && stored->kind != "permission-to-view")
      // The reason stays on the audit trail and the review list: a log is not a governed read path,
      // and a reason is free text about a patient ("suspected overdose").
      spdlog::warn("ALERT for the IG officer: {} access {} by {} ({}, {}); see the review list", stored->kind,
                   stored->id, stored->user, stored->role, stored->org);
    done(std::move(stored));
  });
}

void DisclosureService::authorise_consent(const DisclosureContext& ctx, const std::string& patient_id, bool permits,
                                          std::function<void(Result<std::string>)> done) {
  auto entry = std::make_shared<store::AuditEntry>(audit_entry(ctx, "consent"));
  entry->resources = "consent";
  if (!settings_.policy.may_record_consent(ctx.reader.role)) {
    entry->patient_id = patient_id;
    refuse(audit_, entry, "Role " + ctx.reader.role + " may not record consent under the policy.", std::move(done));
    return;
  }
  auto known = known_person(patient_id);
  if (!known) {
    done(known.error());
    return;
  }
  const std::string person = *known;
  entry->patient_id = person;
  if (permits) {
    try {
      auto pf = facts_for(person);
      if (pf->consent.dissent && !relationship_for(*pf, ctx.reader.org) &&
          !(settings_.grants && settings_.grants->active(ctx.reader.user, person, fhir::now_epoch_ms()))) {
        refuse(audit_, entry,
               "This patient has asked that their record not be shared; a consent that lifts that can be recorded "
               "only by someone caring for them (a relationship recorded for your organisation, or an access you "
               "recorded with POST /fhir/Patient/{id}/$access).",
               std::move(done));
        return;
      }
    } catch (const std::exception& e) {
      done(make_error("store-unavailable", std::string("The record could not be read (") + e.what() + ")."));
      return;
    }
  }
  entry->outcome = "permitted";
  audit_.append(std::move(*entry), [person, done = std::move(done)](Status st) {
    if (!st) {
      done(make_error("audit-unavailable", "The audit record could not be written, so the consent was not recorded."));
      return;
    }
    done(person);
  });
}

void DisclosureService::record_feed_consent(const DisclosureContext& ctx, const std::string& feed,
                                            const std::string& patient_id, const std::vector<std::string>& consent_ids,
                                            std::function<void(Status)> done) {
  store::AuditEntry entry = audit_entry(ctx, "consent");
  entry.resources = "consent feed:" + feed;
  for (const std::string& id : consent_ids) entry.resources += " Consent/" + id;
  try {
    entry.patient_id = record_.person_of(patient_id);
  } catch (const std::exception&) {
    entry.patient_id = patient_id;  // the registration itself: the trail must not wait on the record
  }
  entry.outcome = "permitted";
  audit_.append(std::move(entry), [done = std::move(done)](Status st) {
    if (!st) {
      done(make_error("audit-unavailable",
                      "The audit record of the consent could not be written, so the push was not stored. Send it again."));
      return;
    }
    done({});
  });
}

void DisclosureService::access_reviews(const DisclosureContext& ctx, bool awaiting_only,
                                       std::function<void(Result<std::vector<AccessGrant>>)> done) {
  auto entry = std::make_shared<store::AuditEntry>(audit_entry(ctx, "access-review"));
  if (ctx.reader.role != "ig-officer" || !settings_.grants) {
    entry->outcome = "denied";
    const bool role = ctx.reader.role != "ig-officer";
    audit_.append(std::move(*entry), [done = std::move(done), role](Status) {
      done(role ? make_error("forbidden", "Access reviews are for information governance officers (role ig-officer).")
                : make_error("unavailable", "This engine records no accesses."));
    });
    return;
  }
  auto items = std::make_shared<std::vector<AccessGrant>>(settings_.grants->for_review(awaiting_only, 1000));
  std::set<std::string> patients;
  for (auto& g : *items) patients.insert(g.patient_id);
  for (auto& p : patients) entry->patient_id += (entry->patient_id.empty() ? "" : " ") + p;
  entry->outcome = items->empty() ? "nothing-found" : "disclosed";
  disclose_after(audit_, entry, items, std::move(done));
}

void DisclosureService::review_access(const DisclosureContext& ctx, int64_t id, const std::string& note,
                                      std::function<void(Result<AccessGrant>)> done) {
  auto entry = std::make_shared<store::AuditEntry>(audit_entry(ctx, "access-review"));
  entry->resources = "reviewed:" + std::to_string(id);
  if (!note.empty()) entry->query += " (note: " + note + ")";
  const bool permitted = ctx.reader.role == "ig-officer" && settings_.grants;
  entry->outcome = permitted ? "permitted" : "denied";
  audit_.append(std::move(*entry), [this, permitted, id, note, user = ctx.reader.user, done = std::move(done)](Status st) {
    if (!permitted) {
      done(make_error("forbidden", "Access reviews are for information governance officers (role ig-officer)."));
      return;
    }
    if (!st) {
      done(make_error("audit-unavailable", "The audit record could not be written, so nothing was marked."));
      return;
    }
    done(settings_.grants->mark_reviewed(id, user, note, fhir::now_epoch_ms()));
  });
}

void DisclosureService::authorise_admin(const DisclosureContext& ctx, const std::string& action,
                                        std::function<void(Status)> done, const std::string& patient) {
  store::AuditEntry entry = audit_entry(ctx, "admin");
  entry.resources = action;
  entry.patient_id = patient;
  const bool permitted = ctx.reader.role == "integration-admin";
  entry.outcome = permitted ? "permitted" : "denied";
  audit_.append(std::move(entry), [permitted, done = std::move(done)](Status st) {
    if (!permitted) {
      done(make_error("forbidden", "Administration is for integration administrators (role integration-admin)."));
      return;
    }
    if (!st) {
      done(make_error("audit-unavailable", "The audit record could not be written, so nothing was done. Try again shortly."));
      return;
    }
    done({});
  });
}

void DisclosureService::authorise_feed_write(const DisclosureContext& ctx, const std::string& feed,
                                             const std::string& owner_ods, std::function<void(Status)> done) {
  store::AuditEntry entry = audit_entry(ctx, "feed-write");
  entry.resources = "feed:" + feed;
  const bool permitted =
      ctx.reader.role == "feed-system" && !owner_ods.empty() && (owner_ods == "*" || ctx.reader.org == owner_ods);
  entry.outcome = permitted ? "permitted" : "denied";
  audit_.append(std::move(entry), [permitted, feed, owner_ods, done = std::move(done)](Status st) {
    if (!permitted) {
      done(make_error("forbidden", "Feed " + feed + " takes files only from its owner's feed system (role feed-system, "
                                   "organisation " + owner_ods + ")."));
      return;
    }
    if (!st) {
      done(make_error("audit-unavailable", "The audit record could not be written, so nothing was stored. Try again shortly."));
      return;
    }
    done({});
  });
}

void DisclosureService::disclose_audit(
    const DisclosureContext& ctx, const store::AuditFilter& filter, int64_t offset, int64_t count,
    std::function<void(Result<std::pair<std::vector<store::AuditEntry>, int64_t>>)> done) {
  store::AuditEntry entry = audit_entry(ctx, "audit-search");
  entry.patient_id = filter.patient_id;
  if (ctx.reader.role != "ig-officer") {
    entry.outcome = "denied";
    audit_.append(std::move(entry), [done = std::move(done)](Status) {
      done(make_error("forbidden", "The audit trail is for information governance officers (role ig-officer)."));
    });
    return;
  }
  auto found = std::make_shared<Result<std::pair<std::vector<store::AuditEntry>, int64_t>>>(
      audit_.search(filter, offset, count));
  if (!*found) {
    done(found->error());
    return;
  }
  entry.outcome = (*found)->first.empty() ? "nothing-found" : "disclosed";
  // The entries shown name patients (their ids, and queries with NHS numbers): the search is
  // recorded against each of them, so a patient's subject access report shows their trail was read.
  std::set<std::string> patients;
  if (!filter.patient_id.empty()) patients.insert(filter.patient_id);
  for (const store::AuditEntry& shown : (*found)->first)
    for (std::string& p : patients_of(shown)) patients.insert(std::move(p));
  entry.patient_id = id_list(patients);
  audit_.append(std::move(entry), [found, done = std::move(done)](Status st) {
    if (!st) {
      done(nothing_disclosed());
      return;
    }
    done(std::move(*found));
  });
}

void DisclosureService::disclose_worklist(const DisclosureContext& ctx, bool open_only,
                                          std::function<void(Result<std::vector<store::WorklistEntry>>)> done) {
  store::AuditEntry entry = audit_entry(ctx, "worklist");
  if (ctx.reader.role != "integration-admin") {
    entry.outcome = "denied";
    audit_.append(std::move(entry), [done = std::move(done)](Status) {
      done(make_error("forbidden", "The work-list is for integration administrators (role integration-admin)."));
    });
    return;
  }
  auto items = std::make_shared<std::vector<store::WorklistEntry>>();
  try {
    *items = record_.worklist(open_only, 1000);
  } catch (const std::exception& e) {
    done(make_error("store-unavailable", std::string("The work-list could not be read (") + e.what() + ")."));
    return;
  }
  std::set<std::string> patients;
  for (auto& e : *items)
    if (!e.patient_id.empty()) patients.insert(e.patient_id);
  for (auto& p : patients) {
    if (!entry.patient_id.empty()) entry.patient_id += ' ';
    entry.patient_id += p;
  }
  entry.outcome = items->empty() ? "nothing-found" : "disclosed";
  audit_.append(std::move(entry), [items, done = std::move(done)](Status st) {
    if (!st) {
      done(nothing_disclosed());
      return;
    }
    done(std::move(*items));
  });
}

namespace {
// The audit entries of a report are read in one go, up to this many (newest first).
constexpr int64_t kReportLimit = 200'000;
constexpr const char* kReportsForIgOfficers = "Reports are for information governance officers (role ig-officer).";
}  // namespace

void DisclosureService::patient_access_report(const DisclosureContext& ctx, const std::string& patient_id,
                                              int64_t from_ms, int64_t to_ms,
                                              std::function<void(Result<std::vector<store::AuditEntry>>)> done) {
  auto entry = std::make_shared<store::AuditEntry>(audit_entry(ctx, "report"));
  entry->resources = "report:patient-access";
  if (ctx.reader.role != "ig-officer") {
    refuse(audit_, entry, kReportsForIgOfficers, std::move(done));
    return;
  }
  auto rows = std::make_shared<std::vector<store::AuditEntry>>();
  auto known = known_person(patient_id);
  if (!known) {
    done(known.error());
    return;
  }
  const std::string person = *known;
  try {
    // The person and every registration: entries name whichever the reader asked by.
    std::vector<std::string> ids{person};
    if (patient_id != person) ids.push_back(patient_id);
    for (auto& r : record_.search_patient("Patient", person, 0, 500).items)
      if (std::find(ids.begin(), ids.end(), r.id) == ids.end()) ids.push_back(r.id);
    std::vector<std::vector<store::AuditEntry>> lists;
    for (const std::string& id : ids) {
      store::AuditFilter f;
      f.patient_id = id;
      f.from_ms = from_ms;
      f.to_ms = to_ms;
      auto found = audit_.search(f, 0, kReportLimit);
      if (!found) {
        done(found.error());
        return;
      }
      lists.push_back(std::move(found->first));
    }
    *rows = merge_newest_first(std::move(lists));
  } catch (const std::exception& e) {
    done(make_error("store-unavailable", std::string("The record could not be read (") + e.what() + ")."));
    return;
  }
  entry->patient_id = person;
  entry->outcome = rows->empty() ? "nothing-found" : "disclosed";
  disclose_after(audit_, entry, rows, std::move(done));
}

void DisclosureService::unusual_access_report(const DisclosureContext& ctx, int64_t from_ms, int64_t to_ms,
                                              const UnusualAccessThresholds& thresholds,
                                              std::function<void(Result<std::vector<UnusualAccess>>)> done) {
  auto entry = std::make_shared<store::AuditEntry>(audit_entry(ctx, "report"));
  entry->resources = "report:unusual-access";
  if (ctx.reader.role != "ig-officer") {
    refuse(audit_, entry, kReportsForIgOfficers, std::move(done));
    return;
  }
  store::AuditFilter f;
  f.from_ms = from_ms;
  f.to_ms = to_ms;
  auto found = audit_.search(f, 0, kReportLimit);
  if (!found) {
    done(found.error());
    return;
  }
  auto rows = std::make_shared<std::vector<UnusualAccess>>();
  try {
    *rows = unusual_access(found->first, thresholds, [this](const std::string& id) { return record_.person_of(id); });
  } catch (const std::exception& e) {
    done(make_error("store-unavailable", std::string("The record could not be read (") + e.what() + ")."));
    return;
  }
  entry->outcome = rows->empty() ? "nothing-found" : "disclosed";
  disclose_after(audit_, entry, rows, std::move(done));
}

void mask_restricted_postcodes(store::RecordStore& record, std::vector<store::IdentityTask>& tasks) {
  std::map<std::string, bool> known;  // person -> restricted
  auto restricted_person = [&](const std::string& patient_id) {
    const std::string person = record.person_of(patient_id);
    auto it = known.find(person);
    if (it != known.end()) return it->second;
    bool found = any_restricted(record.search_patient("Patient", person, 0, 500).items);
    if (auto own = record.read("Patient", patient_id)) found |= restricted(own->json);
    return known.emplace(person, found).first->second;
  };
  for (store::IdentityTask& t : tasks) {
    if (restricted_person(t.registration_id)) t.demographics.postcode.clear();
    for (store::IdentityCandidate& c : t.candidates)
      if (restricted_person(c.patient_id)) c.demographics.postcode.clear();
  }
}

}  // namespace cc::governance
