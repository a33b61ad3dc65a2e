// The patient index in the SQLite record store: the tables patient_link, regional_patient and
// identity_history (schema in sqlite_record_store.cpp). engine/identity decides; this file reads
// what a decision needs and writes what it decided, inside the batch's transaction.
#include <algorithm>
#include <map>

#include "engine/fhir/datetime.h"
#include "engine/identity/nhs_number.h"
#include "engine/identity/regional_patient.h"
#include "engine/store/sqlite_record_store.h"

namespace cc::store {

using identity::Demographics;
using identity::Link;
using identity::LinkState;

namespace {
constexpr const char* kLinkColumns =
    "person_id, state, nhs_number, family, given, birth_date, gender, postcode";

// Columns from `first`: person_id, state, nhs_number, family, given, birth_date, gender, postcode.
Link link_from(Statement& st, int first) {
  Link l;
  l.person_id = std::string(st.text(first));
  l.state = identity::link_state_from(st.text(first + 1)).value_or(LinkState::kLocal);
  l.nhs_number = std::string(st.text(first + 2));
  l.demographics = Demographics{std::string(st.text(first + 3)), std::string(st.text(first + 4)),
                                std::string(st.text(first + 5)), std::string(st.text(first + 6)),
                                std::string(st.text(first + 7))};
  return l;
}

std::string strip_patient(const std::string& ref) { return ref.rfind("Patient/", 0) == 0 ? ref.substr(8) : ref; }
}  // namespace

std::optional<Link> SqliteRecordStore::load_link(Database& db, const std::string& registration) {
  auto& st = db.prepare(std::string("SELECT ") + kLinkColumns + " FROM patient_link WHERE registration_id=?1");
  st.bind(1, registration);
  std::optional<Link> l;
  if (st.step()) l = link_from(st, 0);
  st.reset();
  return l;
}

void SqliteRecordStore::save_link(const std::string& registration, const Link& link, const std::string& feed,
                                  bool person_changed, int64_t now_ms) {
  // The person the registration leaves has it among their registrations (see person_stamp).
  touch(registration);
  touch(link.person_id);
  auto& st = writer_->prepare(
      "INSERT INTO patient_link(registration_id, person_id, state, nhs_number, family, given, birth_date, gender, "
      "postcode, feed, joined_ms, updated_ms) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?11) "
      "ON CONFLICT(registration_id) DO UPDATE SET person_id=excluded.person_id, state=excluded.state, "
      "nhs_number=excluded.nhs_number, family=excluded.family, given=excluded.given, birth_date=excluded.birth_date, "
      "gender=excluded.gender, postcode=excluded.postcode, updated_ms=excluded.updated_ms, "
      "joined_ms=CASE WHEN ?12 THEN excluded.joined_ms ELSE joined_ms END");
  const Demographics& d = link.demographics;
  st.bind(1, registration).bind(2, link.person_id).bind(3, identity::to_string(link.state)).bind(4, link.nhs_number);
  st.bind(5, d.family).bind(6, d.given).bind(7, d.birth_date).bind(8, d.gender).bind(9, d.postcode);
  st.bind(10, feed).bind(11, now_ms).bind(12, int64_t(person_changed ? 1 : 0));
  st.run();
  if (link.state == LinkState::kVerified && !link.nhs_number.empty() &&
      link.person_id == identity::regional_patient_id(link.nhs_number)) {
    auto& rp = writer_->prepare("INSERT OR IGNORE INTO regional_patient(person_id, nhs_number) VALUES (?1,?2)");
    rp.bind(1, link.person_id).bind(2, link.nhs_number);
    rp.run();
  }
}

void SqliteRecordStore::record_history(const std::string& registration, const Link& from, const Link& to,
                                       const std::string& action, const std::string& actor, const std::string& reason,
                                       int64_t event_id, int64_t inbox_id, int64_t now_ms) {
  auto& st = writer_->prepare(
      "INSERT INTO identity_history(registration_id, from_person, from_state, to_person, to_state, action, actor, "
      "reason, event_id, inbox_id, created_ms) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)");
  st.bind(1, registration).bind(2, from.person_id).bind(3, identity::to_string(from.state));
  st.bind(4, to.person_id).bind(5, identity::to_string(to.state)).bind(6, action).bind(7, actor).bind(8, reason);
  st.bind(9, event_id).bind(10, inbox_id).bind(11, now_ms);
  st.run();
}

std::optional<Demographics> SqliteRecordStore::reference_demographics(const std::string& person,
                                                                      const std::string& except) {
  auto& st = writer_->prepare(
      "SELECT family, given, birth_date, gender, postcode FROM patient_link WHERE person_id=?1 AND "
      "registration_id<>?2 ORDER BY joined_ms, registration_id LIMIT 1");
  st.bind(1, person).bind(2, except);
  std::optional<Demographics> d;
  if (st.step())
    d = Demographics{std::string(st.text(0)), std::string(st.text(1)), std::string(st.text(2)),
                     std::string(st.text(3)), std::string(st.text(4))};
  st.reset();
  return d;
}

std::string SqliteRecordStore::regional_nhs_number(Database& db, const std::string& person) {
  auto& st = db.prepare("SELECT nhs_number FROM regional_patient WHERE person_id=?1");
  st.bind(1, person);
  std::string nhs = st.step() ? std::string(st.text(0)) : std::string();
  st.reset();
  return nhs;
}

std::string SqliteRecordStore::person_of(Database& db, const std::string& patient_id) {
  auto& st = db.prepare("SELECT person_id FROM patient_link WHERE registration_id=?1");
  st.bind(1, patient_id);
  std::string person = st.step() ? std::string(st.text(0)) : patient_id;
  st.reset();
  return person;
}

std::string SqliteRecordStore::person_of(const std::string& patient_id) {
  auto db = lease();
  return person_of(*db, patient_id);
}

uint32_t SqliteRecordStore::stripe_of(const std::string& patient_id) {
  return static_cast<uint32_t>(std::hash<std::string>{}(patient_id) % kStripes);
}

void SqliteRecordStore::touch(const std::string& patient_id) {
  if (patient_id.empty()) return;
  const uint32_t s = stripe_of(patient_id);
  if (touched_mark_[s]) return;
  touched_mark_[s] = true;
  touched_.push_back(s);
  stripes_[s].begun.fetch_add(1);
}

SqliteRecordStore::TouchedScope::~TouchedScope() {
  for (uint32_t s : s_.touched_) {
    s_.stripes_[s].finished.fetch_add(1);
    s_.touched_mark_[s] = false;
  }
  s_.touched_.clear();
}

// The person's own id first, then (read after it) their registrations: a registration joining them
// after the person's stripe was read moves that stripe, so the stamp cannot miss it.
std::optional<RecordStore::PersonStamp> SqliteRecordStore::person_stamp(const std::string& person) {
  if (!writer_) return std::nullopt;  // a read-only store: the engine beside it writes unseen
  PersonStamp stamp;
  auto add = [&](const std::string& id) {
    const uint32_t s = stripe_of(id);
    const uint64_t begun = stripes_[s].begun.load();
    if (stripes_[s].finished.load() != begun) return false;
    stamp.stripes.emplace_back(s, begun);
    return true;
  };
  if (!add(person)) return std::nullopt;
  auto db = lease();
  auto& st = db->prepare("SELECT registration_id FROM patient_link WHERE person_id=?1");
  st.bind(1, person);
  bool settled = true;
  while (settled && st.step()) settled = add(std::string(st.text(0)));
  st.reset();
  if (!settled) return std::nullopt;
  // An id that is itself a registration read under someone else (a chain the index left behind)
  // is read as that person, whose other registrations this stamp does not cover: keep nothing.
  if (person_of(*db, person) != person) return std::nullopt;
  return stamp;
}

bool SqliteRecordStore::unchanged(const PersonStamp& stamp) const {
  for (const auto& [s, begun] : stamp.stripes)
    if (stripes_[s].begun.load() != begun || stripes_[s].finished.load() != begun) return false;
  return !stamp.stripes.empty();
}

std::string SqliteRecordStore::current_nhs_number(const std::string& nhs_number) {
  std::string number = nhs_number;
  auto& st = writer_->prepare("SELECT new_number FROM nhs_number_superseded WHERE old_number=?1");
  for (int hops = 0; hops < 8 && !number.empty(); ++hops) {  // a chain of replacements, never a loop
    st.bind(1, number);
    std::string next = st.step() ? std::string(st.text(0)) : std::string();
    st.reset();
    if (next.empty() || next == nhs_number) break;
    number = std::move(next);
  }
  return number;
}

void SqliteRecordStore::apply_claim(const identity::Claim& arriving, MappedBatchItem& item, int64_t now_ms) {
  auto& db = *writer_;
  identity::Claim claim = arriving;
  // A number the record knows was replaced is read as its replacement.
  if (!claim.nhs_number.empty()) claim.nhs_number = current_nhs_number(claim.nhs_number);
  const std::optional<Link> current = load_link(db, claim.registration_id);
  std::optional<Demographics> record;
  if (!claim.nhs_number.empty()) {
    const std::string person = identity::regional_patient_id(claim.nhs_number);
    if (!current || current->person_id != person) record = reference_demographics(person, claim.registration_id);
  }
  identity::Decision d = identity::decide(claim, current, record);
  if (d.change) {
    const bool person_changed = !current || current->person_id != d.link.person_id;
    save_link(claim.registration_id, d.link, item.provenance.feed, person_changed, now_ms);
    // A registration's first link is in its own row (joined_ms, feed); the history keeps changes.
    if (current && !d.history.empty()) {
      const Link from = current.value_or(Link{claim.registration_id, LinkState::kLocal, "", {}});
      record_history(claim.registration_id, from, d.link, "auto", "feed:" + item.provenance.feed, d.history, 0,
                     item.inbox_id, now_ms);
    }
  }
  if (!d.open_conflict.empty())
    item.worklist_add.push_back({0, "identity-conflict", claim.registration_id, item.inbox_id, item.provenance.feed,
                                 "Registration Patient/" + claim.registration_id + ": " + d.open_conflict, 0, 0});
  if (d.resolve_conflict) item.worklist_resolve.emplace_back(claim.registration_id, "identity-conflict");
  // Superseded numbers: only an authoritative source's own, joined registration says so.
  if (claim.authoritative && d.link.state == LinkState::kVerified)
    for (const std::string& old : claim.superseded) supersede(old, claim, item, now_ms);
}

void SqliteRecordStore::supersede(const std::string& old_number, const identity::Claim& claim, MappedBatchItem& item,
                                  int64_t now_ms) {
  auto& db = *writer_;
  if (old_number == claim.nhs_number || current_nhs_number(old_number) == claim.nhs_number) return;
  const std::string old_person = identity::regional_patient_id(old_number);
  const std::string new_person = identity::regional_patient_id(claim.nhs_number);
  if (auto ref = reference_demographics(old_person, claim.registration_id)) {
    const auto differ = identity::disagreements(*ref, claim.demographics);
    if (!differ.empty()) {
      std::string fields;
      for (auto& f : differ) fields += (fields.empty() ? "" : ", ") + f;
      item.worklist_add.push_back(
          {0, "identity-conflict", claim.registration_id, item.inbox_id, item.provenance.feed,
           "Registration Patient/" + claim.registration_id + ": the source says NHS number " + old_number +
               " was replaced by " + claim.nhs_number + ", but the record for " + old_number + " disagrees on " +
               fields + ", so nothing was moved. Check both numbers (PDS) and link by hand if they are one person.",
           0, 0});
      return;
    }
  }
  auto& rec = db.prepare(
      "INSERT OR REPLACE INTO nhs_number_superseded(old_number, new_number, inbox_id, created_ms) VALUES (?1,?2,?3,?4)");
  rec.bind(1, old_number).bind(2, claim.nhs_number).bind(3, item.inbox_id).bind(4, now_ms);
  rec.run();
  move_patient(old_person, new_person, std::nullopt, "auto",
               "NHS number " + old_number + " superseded by " + claim.nhs_number, 0, item, now_ms);
}

void SqliteRecordStore::move_patient(const std::string& from_person, const std::string& to_person,
                                     std::optional<LinkState> state, const std::string& action,
                                     const std::string& reason, int64_t event_id, const MappedBatchItem& item,
                                     int64_t now_ms) {
  auto& db = *writer_;
  std::vector<std::string> moving;
  auto& st = db.prepare("SELECT registration_id FROM patient_link WHERE person_id=?1");
  st.bind(1, from_person);
  while (st.step()) moving.emplace_back(st.text(0));
  st.reset();
  for (const std::string& reg : moving) {
    const Link from = *load_link(db, reg);
    Link to = from;
    to.person_id = to_person;
    if (state) to.state = *state;
    save_link(reg, to, item.provenance.feed, true, now_ms);
    record_history(reg, from, to, action, "feed:" + item.provenance.feed, reason, event_id, item.inbox_id, now_ms);
  }
}

void SqliteRecordStore::apply_merge(int64_t event_id, const IdentityEventRecord& e, MappedBatchItem& item,
                                    int64_t now_ms) {
  auto& db = *writer_;
  auto set_state = [&](const char* state) {
    auto& st = db.prepare("UPDATE identity_event SET state=?2 WHERE id=?1");
    st.bind(1, event_id).bind(2, std::string(state));
    st.run();
  };
  // Registrations the index has not seen (a merge naming a number that never sent data) stand alone.
  for (const std::string* reg : {&e.patient_id, &e.retired_patient_id})
    if (!load_link(db, *reg)) save_link(*reg, Link{*reg, LinkState::kLocal, "", {}}, item.provenance.feed, true, now_ms);
  const std::string surviving = load_link(db, e.patient_id)->person_id;
  const std::string retired = load_link(db, e.retired_patient_id)->person_id;
  if (surviving == retired) {
    set_state("applied");
    return;
  }
  const std::string nhs_surviving = regional_nhs_number(db, surviving);
  const std::string nhs_retired = regional_nhs_number(db, retired);
  if (!nhs_surviving.empty() && !nhs_retired.empty() && nhs_surviving != nhs_retired) {
    set_state("conflict");
    item.worklist_add.push_back({0, "merge-conflict", e.patient_id, item.inbox_id, item.provenance.feed,
                                 e.detail + "; the two registrations belong to patients with different NHS numbers (" +
                                     nhs_surviving + " and " + nhs_retired +
                                     "), so nothing was merged. A person must decide (a hospital merge never joins "
                                     "two NHS numbers).",
                                 0, 0});
    return;
  }
  // The regional patient (the one with an NHS number) is kept; else the surviving registration's.
  const std::string target = !nhs_surviving.empty() ? surviving : !nhs_retired.empty() ? retired : surviving;
  const std::string source = target == surviving ? retired : surviving;
  move_patient(source, target, LinkState::kMerged, "merged", e.detail, event_id, item, now_ms);
  set_state("applied");
}

std::optional<StoredResource> SqliteRecordStore::read_regional(Database& db, const std::string& person_id) {
  const std::string nhs = regional_nhs_number(db, person_id);
  if (nhs.empty()) return std::nullopt;
  std::vector<identity::RegistrationView> regs;
  auto& st = db.prepare(
      "SELECT l.registration_id, l.state, coalesce((SELECT v.json FROM resource_current c CROSS JOIN resource_version v "
      "ON v.rowid=c.current_row WHERE c.type='Patient' AND c.id=l.registration_id), '') "
      "FROM patient_link l WHERE l.person_id=?1 ORDER BY l.joined_ms, l.registration_id");
  st.bind(1, person_id);
  while (st.step())
    regs.push_back({std::string(st.text(0)), std::string(st.text(1)), std::string(st.text(2))});
  st.reset();
  if (regs.empty()) return std::nullopt;  // every registration was moved away (an unmerge)
  return StoredResource{"Patient", person_id, 0, identity::regional_patient_json(person_id, nhs, regs), person_id};
}

std::vector<IdentityTask> SqliteRecordStore::identity_worklist(int64_t limit) {
  auto db = lease();
  std::vector<IdentityTask> tasks;
  auto& st = db->prepare(
      "SELECT registration_id, state, nhs_number, feed, family, given, birth_date, gender, postcode, updated_ms "
      "FROM patient_link WHERE state IN ('local','held') ORDER BY updated_ms DESC, registration_id LIMIT ?1");
  st.bind(1, limit);
  while (st.step()) {
    IdentityTask t;
    t.registration_id = std::string(st.text(0));
    t.state = std::string(st.text(1));
    t.nhs_number = std::string(st.text(2));
    t.feed = std::string(st.text(3));
    t.demographics = Demographics{std::string(st.text(4)), std::string(st.text(5)), std::string(st.text(6)),
                                  std::string(st.text(7)), std::string(st.text(8))};
    t.updated_ms = st.int64(9);
    tasks.push_back(std::move(t));
  }
  st.reset();
  for (IdentityTask& t : tasks) {
    // Anyone sharing the birth date or the family name; scored; the best registration per patient.
    std::map<std::string, IdentityCandidate> best;
    auto& c = db->prepare(
        "SELECT registration_id, person_id, family, given, birth_date, gender, postcode FROM patient_link "
        "WHERE (birth_date=?1 AND ?1<>'') OR (family=?2 AND ?2<>'') LIMIT 1000");
    c.bind(1, t.demographics.birth_date).bind(2, t.demographics.family);
    while (c.step()) {
      std::string person(c.text(1));
      if (c.text(0) == t.registration_id || person == t.registration_id) continue;
      Demographics d{std::string(c.text(2)), std::string(c.text(3)), std::string(c.text(4)), std::string(c.text(5)),
                     std::string(c.text(6))};
      identity::MatchScore s = identity::score(t.demographics, d);
      if (s.total < identity::kCandidateScore) continue;
      auto it = best.find(person);
      if (it != best.end() && it->second.score >= s.total) continue;
      best[person] = IdentityCandidate{person, "", s.total, std::move(s.reasons), std::move(d)};
    }
    c.reset();
    for (auto& [person, cand] : best) {
      cand.nhs_number = regional_nhs_number(*db, person);
      t.candidates.push_back(std::move(cand));
    }
    std::sort(t.candidates.begin(), t.candidates.end(), [](const IdentityCandidate& a, const IdentityCandidate& b) {
      return a.score != b.score ? a.score > b.score : a.patient_id < b.patient_id;
    });
    if (t.candidates.size() > 5) t.candidates.resize(5);
  }
  return tasks;
}

Result<IdentityActionResult> SqliteRecordStore::resolve_identity(const std::string& action,
                                                                 const std::string& registration_ref,
                                                                 const std::string& patient_ref,
                                                                 const std::string& actor, const std::string& reason) {
  if (!writer_) return make_error("record-read-only", "This record store was opened read-only.");
  const std::string registration = strip_patient(registration_ref);
  try {
    auto& db = *writer_;
    TouchedScope touched(*this);
    Transaction tx(db);
    const int64_t now = fhir::now_epoch_ms();
    auto current = load_link(db, registration);
    if (!current)
      return make_error("not-found", "Patient/" + registration + " is not a registration in the patient index.");
    IdentityActionResult result{registration, current->person_id, std::string(identity::to_string(current->state)), 0};
    auto resolve_worklist = [&] {
      auto& st = db.prepare(
          "UPDATE worklist SET resolved_ms=?2 WHERE patient_id=?1 AND kind IN ('identity-conflict','merge-conflict') "
          "AND resolved_ms=0");
      st.bind(1, registration).bind(2, now);
      st.run();
    };
    auto move = [&](const std::string& reg, const Link& from, const std::string& person, LinkState state,
                    const std::string& what, int64_t event_id) {
      Link to = from;
      to.person_id = person;
      to.state = state;
      save_link(reg, to, "", from.person_id != person, now);
      record_history(reg, from, to, what, actor, reason, event_id, 0, now);
      if (from.person_id != person) ++result.moved;
    };
    if (action == "link") {
      std::string target = strip_patient(patient_ref);
      if (regional_nhs_number(db, target).empty()) {
        if (!load_link(db, target))
          return make_error("not-found", "Patient/" + target + " is neither a regional patient nor a registration.");
        target = person_of(db, target);
      }
      if (target == current->person_id)
        return make_error("invalid", "Patient/" + registration + " is already read under Patient/" + target + ".");
      move(registration, *current, target, LinkState::kLinked, "linked", 0);
    } else if (action == "new" || action == "reject") {
      move(registration, *current, registration, action == "new" ? LinkState::kNew : LinkState::kRejected,
           action == "new" ? "new-patient" : "rejected", 0);
    } else if (action == "unmerge") {
      // The registration's latest join still in force: a hospital merge (undone as a whole) or a link.
      auto& last = db.prepare(
          "SELECT id, event_id FROM identity_history WHERE registration_id=?1 AND to_person=?2 AND undone_ms=0 AND "
          "action IN ('merged','linked') ORDER BY id DESC LIMIT 1");
      last.bind(1, registration).bind(2, current->person_id);
      int64_t history_id = 0, event_id = 0;
      if (last.step()) {
        history_id = last.int64(0);
        event_id = last.int64(1);
      }
      last.reset();
      if (!history_id)
        return make_error("not-found", "Patient/" + registration +
                                           " was not joined by a merge or a person's link, so there is nothing to "
                                           "unmerge (a join by the source's own NHS number changes at source).");
      struct Undo {
        int64_t id;
        std::string registration, from_person, from_state, to_person;
      };
      std::vector<Undo> undo;
      auto& rows = db.prepare(
          "SELECT id, registration_id, from_person, from_state, to_person FROM identity_history WHERE "
          "(?1>0 AND event_id=?1 AND action='merged' AND undone_ms=0) OR id=?2 ORDER BY id DESC");
      rows.bind(1, event_id).bind(2, history_id);
      while (rows.step())
        undo.push_back({rows.int64(0), std::string(rows.text(1)), std::string(rows.text(2)), std::string(rows.text(3)),
                        std::string(rows.text(4))});
      rows.reset();
      for (const Undo& u : undo) {
        auto from = load_link(db, u.registration);
        if (from && from->person_id == u.to_person)  // not moved again since
          move(u.registration, *from, u.from_person,
               identity::link_state_from(u.from_state).value_or(LinkState::kLocal), "unmerged", event_id);
        auto& done = db.prepare("UPDATE identity_history SET undone_ms=?2 WHERE id=?1");
        done.bind(1, u.id).bind(2, now);
        done.run();
      }
      if (event_id > 0) {
        auto& ev = db.prepare("UPDATE identity_event SET state='unmerged' WHERE id=?1");
        ev.bind(1, event_id);
        ev.run();
      }
    } else {
      return make_error("invalid", "The action is link, new, reject or unmerge, not \"" + action + "\".");
    }
    if (action != "unmerge") resolve_worklist();
    auto after = load_link(db, registration);
    result.patient_id = after->person_id;
    result.state = std::string(identity::to_string(after->state));
    tx.commit();
    return result;
  } catch (const SqliteError& e) {
    return make_error("record-write", std::string("The patient index could not be changed: ") + e.what());
  }
}

}  // namespace cc::store
