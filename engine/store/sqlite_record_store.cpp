// SQLite implementation of RecordStore: one writer (the mapper), a pool of read-only
// connections for the API threads, WAL so readers never wait for the writer.
#include "engine/store/sqlite_record_store.h"

#include <algorithm>
#include <iterator>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>


#include "engine/core/sha256.h"
#include "engine/store/version_text.h"
#include "engine/fhir/datetime.h"
#include "engine/fhir/identifier.h"
#include "engine/identity/nhs_number.h"

namespace cc::store {

namespace {
constexpr const char* kSchema = R"SQL(
-- Queries joining these tables use CROSS JOIN to fix the join order: SQLite's planner, without
-- statistics, may otherwise walk every version of a type to find one patient's resources.
CREATE TABLE IF NOT EXISTS resource_version (
  type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
  event_time_ms INTEGER NOT NULL, last_updated_ms INTEGER NOT NULL,
  inbox_id INTEGER NOT NULL, feed TEXT NOT NULL, sending_facility TEXT NOT NULL, control_id TEXT NOT NULL,
  json TEXT NOT NULL,
  prev_row INTEGER NOT NULL DEFAULT 0);  -- the rowid of the resource's version before this one (0: none)
-- A message mapped again finds what it wrote before by its inbox id (appended in order).
CREATE INDEX IF NOT EXISTS resource_version_by_inbox ON resource_version(inbox_id);
CREATE TABLE IF NOT EXISTS resource_current (
  type TEXT NOT NULL, id TEXT NOT NULL,
  version INTEGER NOT NULL,         -- the version shown: latest by event time
  latest_version INTEGER NOT NULL,  -- the highest version number stored
  event_time_ms INTEGER NOT NULL,
  patient_id TEXT NOT NULL,
  identifiers TEXT NOT NULL DEFAULT '[]',  -- what identifier_index holds for it: [[system, value], ...]
  current_row INTEGER NOT NULL DEFAULT 0,  -- resource_version rowid of the version shown...
  latest_row INTEGER NOT NULL DEFAULT 0,   -- ...and of the latest, where the chain of versions starts
  PRIMARY KEY (type, id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS current_by_patient ON resource_current(patient_id, type);
CREATE TABLE IF NOT EXISTS identifier_index (
  system TEXT NOT NULL, value TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL,
  PRIMARY KEY (value, system, type, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mapping_outcome (
  inbox_id INTEGER PRIMARY KEY, outcome TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mapping_cursor (
  one INTEGER PRIMARY KEY CHECK (one = 1), inbox_id INTEGER NOT NULL);
INSERT OR IGNORE INTO mapping_cursor(one, inbox_id) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS worklist (
  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, patient_id TEXT NOT NULL, inbox_id INTEGER NOT NULL,
  feed TEXT NOT NULL, detail TEXT NOT NULL, created_ms INTEGER NOT NULL, resolved_ms INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS worklist_open ON worklist(patient_id, kind, resolved_ms);
CREATE INDEX IF NOT EXISTS worklist_by_inbox ON worklist(inbox_id);
CREATE TABLE IF NOT EXISTS unmapped_code (
  feed TEXT NOT NULL, code_table TEXT NOT NULL, system TEXT NOT NULL, code TEXT NOT NULL, display TEXT NOT NULL,
  messages INTEGER NOT NULL, first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL,
  last_inbox_id INTEGER NOT NULL,
  PRIMARY KEY (feed, code_table, system, code)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS identity_event (
  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, patient_id TEXT NOT NULL, retired_system TEXT NOT NULL,
  retired_value TEXT NOT NULL, retired_patient_id TEXT NOT NULL, inbox_id INTEGER NOT NULL, feed TEXT NOT NULL,
  detail TEXT NOT NULL, created_ms INTEGER NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
  UNIQUE (inbox_id, kind, patient_id, retired_system, retired_value));
-- The patient index: each source Patient (registration) and the patient its data are read under
-- (person_id: a regional patient's id, or its own id while it stands alone). Demographics
-- normalised as engine/identity compares them.
CREATE TABLE IF NOT EXISTS patient_link (
  registration_id TEXT PRIMARY KEY, person_id TEXT NOT NULL, state TEXT NOT NULL, nhs_number TEXT NOT NULL,
  family TEXT NOT NULL, given TEXT NOT NULL, birth_date TEXT NOT NULL, gender TEXT NOT NULL, postcode TEXT NOT NULL,
  feed TEXT NOT NULL, joined_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS link_by_person ON patient_link(person_id, joined_ms);
CREATE INDEX IF NOT EXISTS link_by_birth_date ON patient_link(birth_date);
CREATE INDEX IF NOT EXISTS link_by_family ON patient_link(family);
-- Only registrations waiting for a person: a small index the work-list reads, not one per patient.
CREATE INDEX IF NOT EXISTS link_waiting ON patient_link(updated_ms) WHERE state IN ('local','held');
CREATE TABLE IF NOT EXISTS regional_patient (person_id TEXT PRIMARY KEY, nhs_number TEXT NOT NULL) WITHOUT ROWID;
-- NHS numbers replaced by another (a GP record's use "old"): a claim under the old number is read as the new.
CREATE TABLE IF NOT EXISTS nhs_number_superseded (
  old_number TEXT PRIMARY KEY, new_number TEXT NOT NULL, inbox_id INTEGER NOT NULL, created_ms INTEGER NOT NULL) WITHOUT ROWID;
-- Every change of a registration's patient: who or what did it and why; merges name their event,
-- so an unmerge undoes exactly what the merge did.
CREATE TABLE IF NOT EXISTS identity_history (
  id INTEGER PRIMARY KEY, registration_id TEXT NOT NULL, from_person TEXT NOT NULL, from_state TEXT NOT NULL,
  to_person TEXT NOT NULL, to_state TEXT NOT NULL, action TEXT NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL,
  event_id INTEGER NOT NULL, inbox_id INTEGER NOT NULL, created_ms INTEGER NOT NULL, undone_ms INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS history_by_registration ON identity_history(registration_id, id);
CREATE INDEX IF NOT EXISTS history_by_event ON identity_history(event_id);
)SQL";

bool has_column(Database& db, const std::string& table, std::string_view column) {
  bool found = false;
  auto& cols = db.prepare("PRAGMA table_info(" + table + ")");
  while (cols.step()) found = found || cols.text(1) == column;
  cols.reset();
  return found;
}

// Columns added after the first release, for record stores created before them.
void migrate(Database& db) {
  // The SHA-256 of the version's content before meta was stamped: a message mapped again (replay,
  // re-map) adds a version only when what it says has changed.
  if (!has_column(db, "resource_version", "content_hash"))
    db.exec("ALTER TABLE resource_version ADD COLUMN content_hash TEXT NOT NULL DEFAULT ''");

  // Each resource's versions chained from its current row (resource_current.current_row, latest_row;
  // resource_version.prev_row) in place of an index of every version by (type, id, version): a
  // version written then touches one spread-out B-tree page fewer, and reads join by rowid.
  if (!has_column(db, "resource_current", "current_row")) {
    Transaction tx(db);
    db.exec("ALTER TABLE resource_version ADD COLUMN prev_row INTEGER NOT NULL DEFAULT 0");
    db.exec("ALTER TABLE resource_current ADD COLUMN current_row INTEGER NOT NULL DEFAULT 0");
    db.exec("ALTER TABLE resource_current ADD COLUMN latest_row INTEGER NOT NULL DEFAULT 0");
    // A store made before: its index by (type, id, version) finds the rows, then goes.
    db.exec(
        "UPDATE resource_version SET prev_row = coalesce((SELECT p.rowid FROM resource_version p WHERE "
        "p.type = resource_version.type AND p.id = resource_version.id AND p.version = resource_version.version - 1), 0) "
        "WHERE version > 1");
    db.exec(
        "UPDATE resource_current SET "
        "current_row = (SELECT v.rowid FROM resource_version v WHERE v.type = resource_current.type AND "
        "v.id = resource_current.id AND v.version = resource_current.version), "
        "latest_row = (SELECT v.rowid FROM resource_version v WHERE v.type = resource_current.type AND "
        "v.id = resource_current.id AND v.version = resource_current.latest_version)");
    db.exec("DROP INDEX IF EXISTS resource_version_key");
    tx.commit();
  }

  // Each resource's indexed identifiers kept beside it, in place of an index of identifier_index by
  // resource: a write then reads them with the current version and changes the index by its key.
  if (!has_column(db, "resource_current", "identifiers")) {
    Transaction tx(db);
    db.exec("ALTER TABLE resource_current ADD COLUMN identifiers TEXT NOT NULL DEFAULT '[]'");
    db.exec(
        "UPDATE resource_current SET identifiers = (SELECT json_group_array(json_array(system, value)) FROM "
        "identifier_index i WHERE i.type = resource_current.type AND i.id = resource_current.id) "
        "WHERE EXISTS (SELECT 1 FROM identifier_index i WHERE i.type = resource_current.type AND i.id = resource_current.id)");
    db.exec("DROP INDEX IF EXISTS identifier_by_resource");
    tx.commit();
  }

  // user_version 1: identifiers sent without a system are indexed under "" (identifier=|VALUE);
  // a store written before left them out. Each current version's are added once, and the
  // resource's indexed list with them, so a later write keeps the index exact.
  auto& version = db.prepare("PRAGMA user_version");
  const int64_t user_version = version.step() ? version.int64(0) : 0;
  version.reset();
  if (user_version < 1) {
    Transaction tx(db);
    // No system: absent, not a string, or "" (the writer indexes each of those under "").
    db.exec(
        "INSERT OR IGNORE INTO identifier_index(system, value, type, id) "
        "SELECT '', json_extract(j.value, '$.value'), c.type, c.id FROM resource_current c "
        "CROSS JOIN resource_version v ON v.rowid = c.current_row, json_each(v.json, '$.identifier') j "
        "WHERE json_valid(v.json) AND j.type = 'object' AND (coalesce(json_type(j.value, '$.system'), '') <> 'text' "
        "OR json_extract(j.value, '$.system') = '') "
        "AND json_type(j.value, '$.value') = 'text' AND json_extract(j.value, '$.value') <> ''");
    // The index is keyed by value: for rewriting each resource's list, one by resource, while it is needed.
    db.exec("CREATE INDEX identifier_backfill ON identifier_index(type, id, system)");
    db.exec(
        "UPDATE resource_current SET identifiers = (SELECT json_group_array(json_array(system, value)) FROM "
        "identifier_index i WHERE i.type = resource_current.type AND i.id = resource_current.id) "
        "WHERE EXISTS (SELECT 1 FROM identifier_index i WHERE i.type = resource_current.type AND "
        "i.id = resource_current.id AND i.system = '')");
    db.exec("DROP INDEX identifier_backfill");
    db.exec("PRAGMA user_version = 1");
    tx.commit();
  }
}

using IdentifierSet = std::vector<std::pair<std::string, std::string>>;

// resource_current.identifiers: a JSON array of [system, value] pairs.
std::string encode_identifiers(const IdentifierSet& ids) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartArray();
  for (const auto& [system, value] : ids) {
    w.StartArray();
    w.String(system.data(), static_cast<rapidjson::SizeType>(system.size()));
    w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
    w.EndArray();
  }
  w.EndArray();
  return std::string(sb.GetString(), sb.GetSize());
}

// Sorted, as the write compares them.
IdentifierSet decode_identifiers(std::string_view text) {
  IdentifierSet out;
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  if (!d.IsArray()) return out;
  for (const auto& pair : d.GetArray())
    if (pair.IsArray() && pair.Size() == 2 && pair[0].IsString() && pair[1].IsString())
      out.emplace_back(pair[0].GetString(), pair[1].GetString());
  std::sort(out.begin(), out.end());
  return out;
}

// A resource's versions (?1 type, ?2 id), down the chain from the latest to version ?3 (0: all):
// columns type, id, version, json, patient_id; the caller adds its WHERE or ORDER BY.
constexpr std::string_view kVersionChain =
    "WITH RECURSIVE chain(row) AS (SELECT latest_row FROM resource_current WHERE type=?1 AND id=?2 "
    "UNION ALL SELECT v.prev_row FROM chain CROSS JOIN resource_version v ON v.rowid=chain.row "
    "WHERE v.prev_row<>0 AND v.version>?3) "
    "SELECT v.type, v.id, v.version, v.json, c.patient_id FROM chain CROSS JOIN resource_version v "
    "ON v.rowid=chain.row CROSS JOIN resource_current c ON c.type=v.type AND c.id=v.id ";

// Columns: type, id, version, json, patient_id.
StoredResource stored_from(Statement& st) {
  return StoredResource{std::string(st.text(0)), std::string(st.text(1)), st.int64(2), std::string(st.text(3)),
                        std::string(st.text(4))};
}
}  // namespace

Result<std::unique_ptr<SqliteRecordStore>> SqliteRecordStore::open(const std::string& data_dir, bool read_only) {
  std::string path = data_dir + "/record.db";
  try {
    std::unique_ptr<SqliteRecordStore> s(new SqliteRecordStore(path));
    if (read_only) {
      s->lease();  // fails now, with a clear message, if there is no record to read
      return s;
    }
    // The record is rebuilt from the inbox after a power loss (the mapping cursor moves in the same
    // transaction as the resources), so it does not need an fsync per commit.
    s->writer_ = std::make_unique<Database>(path, Database::Mode::ReadWrite, Database::Durability::Normal);
    s->writer_->exec(kSchema);
    migrate(*s->writer_);
    // The writer touches index pages all over a large record (about 1 GB of indexes at 750,000
    // patients): a cache that holds them saves a read system call for most page visits.
    s->writer_->exec("PRAGMA cache_size=-1048576");
    // The record is written behind the ACK: so is its log copied.
    s->checkpointer_ = std::make_unique<Checkpointer>(path, *s->writer_, 4096, /*behind_ack=*/true);
    return s;
  } catch (const SqliteError& e) {
    return make_error("record-open", "Cannot open the record store at " + path + ": " + e.what());
  }
}

SqliteRecordStore::Lease::~Lease() {
  std::lock_guard lk(s_.pool_mu_);
  s_.pool_.push_back(std::move(db_));
}

SqliteRecordStore::Lease SqliteRecordStore::lease() {
  {
    std::lock_guard lk(pool_mu_);
    if (!pool_.empty()) {
      auto db = std::move(pool_.back());
      pool_.pop_back();
      return Lease(*this, std::move(db));
    }
  }
  return Lease(*this, std::make_unique<Database>(path_, Database::Mode::ReadOnly));
}

bool SqliteRecordStore::keep_identifiers(ResourceWrite& w, int64_t current_row) {
  auto& a = w.resource.GetAllocator();
  bool kept = false;
  for (auto& system : w.keep_identifier_systems) {
    bool has = false;
    if (w.resource.HasMember("identifier"))
      for (auto& id : w.resource["identifier"].GetArray())
        has = has || (id.HasMember("system") && system == id["system"].GetString());
    if (has) continue;
    auto& st = writer_->prepare("SELECT json FROM resource_version WHERE rowid=?1");
    st.bind(1, current_row);
    rapidjson::Document current;
    if (st.step()) current.Parse(st.text(0).data(), st.text(0).size());
    st.reset();
    if (!current.IsObject() || !current.HasMember("identifier")) continue;
    for (auto& id : current["identifier"].GetArray()) {
      if (!id.HasMember("system") || system != id["system"].GetString()) continue;
      if (!w.resource.HasMember("identifier")) w.resource.AddMember("identifier", rapidjson::Value(rapidjson::kArrayType), a);
      w.resource["identifier"].PushBack(rapidjson::Value(id, a), a);
      kept = true;
      if (id.HasMember("value")) w.identifiers.emplace_back(system, id["value"].GetString());
    }
  }
  return kept;
}

void SqliteRecordStore::write_resource(ResourceWrite& w, const Provenance& p, int64_t now_ms) {
  auto& db = *writer_;
  auto& cur = db.prepare(
      "SELECT version, latest_version, event_time_ms, patient_id, identifiers, current_row, latest_row "
      "FROM resource_current WHERE type=?1 AND id=?2");
  cur.bind(1, w.type).bind(2, w.id);
  bool exists = cur.step();
  int64_t latest = exists ? cur.int64(1) : 0;
  const int64_t current_row = exists ? cur.int64(5) : 0;
  const int64_t latest_row = exists ? cur.int64(6) : 0;
  int64_t current_event = exists ? cur.int64(2) : 0;
  bool same_patient = exists && cur.text(3) == w.patient_id;
  const std::string filed_before = exists && !same_patient ? std::string(cur.text(3)) : std::string();
  std::string indexed_text = exists ? std::string(cur.text(4)) : std::string();
  cur.reset();
  if (exists && w.only_if_absent) return;
  // What readers keep about the patient (and one the resource leaves) is out of date from here on.
  touch(w.patient_id);
  if (!filed_before.empty()) touch(filed_before);
  // A version older (by event time) than the current one is history only: a late A08
  // must not overwrite newer data.
  bool becomes_current = !exists || w.event_time_ms >= current_event;
  if (becomes_current && exists && keep_identifiers(w, current_row)) w.text.reset();
  if (!w.text) prepare_text(w, p);
  const std::string& hash = w.text->hash;
  if (exists) {
    // The same inbox message mapped to the same content before: nothing has changed.
    auto& prior = db.prepare(
        "SELECT content_hash FROM resource_version WHERE inbox_id=?3 AND type=?1 AND id=?2 ORDER BY version DESC "
        "LIMIT 1");
    prior.bind(1, w.type).bind(2, w.id).bind(3, p.inbox_id);
    bool unchanged = prior.step() && prior.text(0) == hash;
    prior.reset();
    if (unchanged) return;
  }
  int64_t version = latest + 1;
  const std::string json = version_json(w, p, version, now_ms);
  auto& ins = db.prepare(
      "INSERT INTO resource_version(type, id, version, event_time_ms, last_updated_ms, inbox_id, feed, "
      "sending_facility, control_id, json, content_hash, prev_row) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)");
  ins.bind(1, w.type).bind(2, w.id).bind(3, version).bind(4, w.event_time_ms).bind(5, now_ms);
  ins.bind(6, p.inbox_id).bind(7, p.feed).bind(8, p.sending_facility).bind(9, p.control_id);
  ins.bind(10, json).bind(11, hash).bind(12, latest_row);
  ins.run();
  const int64_t row = db.last_insert_id();

  if (!becomes_current) {
    auto& up = db.prepare("UPDATE resource_current SET latest_version=?3, latest_row=?4 WHERE type=?1 AND id=?2");
    up.bind(1, w.type).bind(2, w.id).bind(3, version).bind(4, row);
    up.run();
    return;
  }
  // Most versions carry the same identifiers as the one before: the index is left alone then. A new
  // resource has none indexed yet (most results carry none at all).
  const IdentifierSet indexed = exists ? decode_identifiers(indexed_text) : IdentifierSet{};
  IdentifierSet wanted = w.identifiers;
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  const bool identifiers_changed = indexed != wanted;
  if (identifiers_changed || !exists) indexed_text = encode_identifiers(wanted);
  if (same_patient) {
    // patient_id is left out of the SET list so SQLite leaves the by-patient index alone.
    auto& up = db.prepare(
        "UPDATE resource_current SET version=?3, latest_version=?3, event_time_ms=?4, identifiers=?5, current_row=?6, "
        "latest_row=?6 WHERE type=?1 AND id=?2");
    up.bind(1, w.type).bind(2, w.id).bind(3, version).bind(4, w.event_time_ms).bind(5, indexed_text).bind(6, row);
    up.run();
  } else {
    auto& up = db.prepare(
        "INSERT INTO resource_current(type, id, version, latest_version, event_time_ms, patient_id, identifiers, "
        "current_row, latest_row) VALUES (?1,?2,?3,?3,?4,?5,?6,?7,?7) ON CONFLICT(type, id) DO UPDATE SET "
        "version=?3, latest_version=?3, event_time_ms=?4, patient_id=?5, identifiers=?6, current_row=?7, latest_row=?7");
    up.bind(1, w.type).bind(2, w.id).bind(3, version).bind(4, w.event_time_ms).bind(5, w.patient_id);
    up.bind(6, indexed_text).bind(7, row);
    up.run();
  }
  if (!identifiers_changed) return;
  IdentifierSet gone, added;
  std::set_difference(indexed.begin(), indexed.end(), wanted.begin(), wanted.end(), std::back_inserter(gone));
  std::set_difference(wanted.begin(), wanted.end(), indexed.begin(), indexed.end(), std::back_inserter(added));
  auto& del = db.prepare("DELETE FROM identifier_index WHERE value=?1 AND system=?2 AND type=?3 AND id=?4");
  for (auto& [system, value] : gone) {
    del.reset();
    del.bind(1, value).bind(2, system).bind(3, w.type).bind(4, w.id);
    del.run();
  }
  auto& idx = db.prepare("INSERT OR IGNORE INTO identifier_index(system, value, type, id) VALUES (?1,?2,?3,?4)");
  for (auto& [system, value] : added) {
    idx.reset();
    idx.bind(1, system).bind(2, value).bind(3, w.type).bind(4, w.id);
    idx.run();
  }
}

Status SqliteRecordStore::apply(std::vector<MappedBatchItem>& batch) { return write_batch(batch, true); }

Status SqliteRecordStore::apply_remap(std::vector<MappedBatchItem>& batch) { return write_batch(batch, false); }

Status SqliteRecordStore::write_batch(std::vector<MappedBatchItem>& batch, bool move_cursor) {
  if (batch.empty()) return {};
  if (!writer_) return make_error("record-read-only", "This record store was opened read-only.");
  try {
    auto& db = *writer_;
    TouchedScope touched(*this);
    Transaction tx(db);
    int64_t now = fhir::now_epoch_ms();
    for (auto& item : batch) {
      // Each source Patient is a registration in the patient index.
      std::vector<identity::Claim> claims;
      for (auto& w : item.writes)
        if (w.type == "Patient") claims.push_back(identity::claim_of(w.id, w.resource, !w.only_if_absent));
      for (auto& w : item.writes) write_resource(w, item.provenance, now);
      for (auto& c : claims) apply_claim(c, item, now);
      for (auto& e : item.identity_events) {
        auto& st = db.prepare(
            "INSERT OR IGNORE INTO identity_event(kind, patient_id, retired_system, retired_value, retired_patient_id, "
            "inbox_id, feed, detail, created_ms) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)");
        st.bind(1, e.kind).bind(2, e.patient_id).bind(3, e.retired_system).bind(4, e.retired_value);
        st.bind(5, e.retired_patient_id).bind(6, item.inbox_id).bind(7, item.provenance.feed).bind(8, e.detail);
        st.bind(9, now);
        st.run();
        // A message mapped again (re-map) does not merge again: an unmerge since then stands.
        if (db.changes() == 1 && e.kind == "merge") apply_merge(db.last_insert_id(), e, item, now);
      }
      // A re-map of an old snapshot must not end what later files added: snapshots end only live.
      if (item.snapshot && move_cursor) {
        const int64_t ended = end_absent(*item.snapshot, item.provenance, now);
        if (ended > 0) item.detail += "; " + std::to_string(ended) + " item(s) absent from this snapshot ended";
      }
      for (auto& [patient, kind] : item.worklist_resolve) {
        if (patient.empty()) continue;
        auto& st = db.prepare("UPDATE worklist SET resolved_ms=?3 WHERE patient_id=?1 AND kind=?2 AND resolved_ms=0");
        st.bind(1, patient).bind(2, kind).bind(3, now);
        st.run();
      }
      for (auto& e : item.worklist_add) {
        // One open item a patient and kind; and a message mapped again lists nothing twice. Two
        // lookups, each by an index (one query with OR between them read the whole work-list for
        // every item added: at 750,000 patients, a few thousand of them without an NHS number, the
        // record builder slowed to a third).
        bool already = false;
        if (!e.patient_id.empty()) {
          auto& open = db.prepare("SELECT 1 FROM worklist WHERE patient_id=?1 AND kind=?2 AND resolved_ms=0");
          open.bind(1, e.patient_id).bind(2, e.kind);
          already = open.step();
          open.reset();
        }
        if (!already) {
          auto& again = db.prepare(
              "SELECT 1 FROM worklist WHERE inbox_id=?1 AND kind=?2 AND detail=?3 AND resolved_ms=0");
          again.bind(1, item.inbox_id).bind(2, e.kind).bind(3, e.detail);
          already = again.step();
          again.reset();
        }
        if (already) continue;
        auto& st = db.prepare(
            "INSERT INTO worklist(kind, patient_id, inbox_id, feed, detail, created_ms) VALUES (?1,?2,?3,?4,?5,?6)");
        st.bind(1, e.kind).bind(2, e.patient_id).bind(3, item.inbox_id).bind(4, item.provenance.feed);
        st.bind(5, e.detail).bind(6, now);
        st.run();
      }
      for (auto& u : item.unmapped_codes) {
        // Counted once a message: a message mapped again is not counted again.
        auto& st = db.prepare(
            "INSERT INTO unmapped_code(feed, code_table, system, code, display, messages, first_seen_ms, last_seen_ms, "
            "last_inbox_id) VALUES (?1,?2,?3,?4,?5,1,?6,?6,?7) ON CONFLICT(feed, code_table, system, code) DO UPDATE "
            "SET messages = messages + (excluded.last_inbox_id > last_inbox_id), "
            "last_seen_ms = max(last_seen_ms, excluded.last_seen_ms), "
            "last_inbox_id = max(last_inbox_id, excluded.last_inbox_id), "
            "display = CASE WHEN excluded.display <> '' THEN excluded.display ELSE display END");
        st.bind(1, item.provenance.feed).bind(2, u.code_table).bind(3, u.system).bind(4, u.code).bind(5, u.display);
        st.bind(6, item.provenance.received_ms).bind(7, item.inbox_id);
        st.run();
      }
      auto& out = db.prepare("INSERT OR REPLACE INTO mapping_outcome(inbox_id, outcome, detail) VALUES (?1,?2,?3)");
      out.bind(1, item.inbox_id).bind(2, item.outcome).bind(3, item.detail);
      out.run();
    }
    if (move_cursor) {
      auto& cursor = db.prepare("UPDATE mapping_cursor SET inbox_id=?1 WHERE one=1");
      cursor.bind(1, mapped_through(batch));
      cursor.run();
    }
    if (before_commit_) before_commit_();
    tx.commit();
    // The touched stripes finish when `touched` ends, after this. (Finishing them here, before the
    // log is folded back, measured about 10% slower on the GP feed benchmark; bench/README.md.)
    checkpointer_->restart_log_if_long();
    return {};
  } catch (const SqliteError& e) {
    return make_error("record-write", std::string("Could not write mapped resources: ") + e.what());
  }
}

int64_t SqliteRecordStore::end_absent(const SnapshotEnd& snapshot, const Provenance& p, int64_t now_ms) {
  int64_t ended = 0;
  for (const auto& [type, patch_text] : snapshot.patch_by_type) {
    rapidjson::Document patch;
    patch.Parse(patch_text.c_str());
    if (!patch.IsObject()) continue;
    // Current resources of this type whose current version came from this feed.
    struct Absent {
      std::string id, patient_id, json;
      int64_t event_time_ms;
    };
    std::vector<Absent> absent;
    auto& st = writer_->prepare(
        "SELECT c.id, c.patient_id, c.event_time_ms, v.json FROM resource_current c CROSS JOIN resource_version v "
        "ON v.rowid=c.current_row WHERE c.type=?1 AND v.feed=?2");
    st.bind(1, type).bind(2, p.feed);
    while (st.step()) {
      std::string id(st.text(0));
      if (snapshot.kept.count({type, id})) continue;
      absent.push_back({std::move(id), std::string(st.text(1)), std::string(st.text(3)), st.int64(2)});
    }
    st.reset();
    for (auto& a : absent) {
      ResourceWrite w;
      w.type = type;
      w.id = a.id;
      w.patient_id = a.patient_id;
      w.resource.Parse(a.json.c_str());
      if (!w.resource.IsObject()) continue;
      auto& alloc = w.resource.GetAllocator();
      bool changes = false;
      for (auto& m : patch.GetObject()) {
        auto it = w.resource.FindMember(m.name);
        if (it != w.resource.MemberEnd() && it->value == m.value) continue;
        changes = true;
        if (it != w.resource.MemberEnd()) it->value.CopyFrom(m.value, alloc);
        else w.resource.AddMember(rapidjson::Value(m.name, alloc), rapidjson::Value(m.value, alloc), alloc);
      }
      if (!changes) continue;  // ended already
      if (w.resource.HasMember("meta")) w.resource.RemoveMember("meta");  // stamped afresh
      w.identifiers = fhir::indexed_identifiers(w.resource);
      // At the current version's own time: it becomes current now, and a row that brings the item
      // back in a later file (with its own time, often earlier than today) is current again.
      w.event_time_ms = a.event_time_ms;
      write_resource(w, p, now_ms);
      ++ended;
    }
  }
  return ended;
}

int64_t SqliteRecordStore::mapping_cursor() {
  auto db = lease();
  auto& st = db->prepare("SELECT inbox_id FROM mapping_cursor WHERE one=1");
  int64_t v = st.step() ? st.int64(0) : 0;
  st.reset();
  return v;
}

std::optional<StoredResource> SqliteRecordStore::read(const std::string& type, const std::string& id) {
  auto db = lease();
  auto& st = db->prepare(
      "SELECT v.type, v.id, v.version, v.json, c.patient_id FROM resource_current c CROSS JOIN resource_version v "
      "ON v.rowid=c.current_row WHERE c.type=?1 AND c.id=?2");
  st.bind(1, type).bind(2, id);
  std::optional<StoredResource> r;
  if (st.step()) r = stored_from(st);
  st.reset();
  // A regional patient is made from its registrations when read.
  if (!r && type == "Patient") r = read_regional(*db, id);
  return r;
}

std::vector<StoredResource> SqliteRecordStore::read_many(const std::string& type, const std::vector<std::string>& ids) {
  std::vector<StoredResource> out;
  if (ids.empty()) return out;
  // The ids as one JSON array parameter: one statement, whatever their number.
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartArray();
  for (const auto& id : ids) w.String(id.c_str(), static_cast<rapidjson::SizeType>(id.size()));
  w.EndArray();
  auto db = lease();
  auto& st = db->prepare(
      "SELECT v.type, v.id, v.version, v.json, c.patient_id FROM resource_current c CROSS JOIN resource_version v "
      "ON v.rowid=c.current_row WHERE c.type=?1 AND c.id IN (SELECT value FROM json_each(?2))");
  st.bind(1, type).bind(2, std::string(sb.GetString(), sb.GetSize()));
  while (st.step()) out.push_back(stored_from(st));
  st.reset();
  return out;
}

std::optional<StoredResource> SqliteRecordStore::read_version(const std::string& type, const std::string& id,
                                                              int64_t version) {
  auto db = lease();
  auto& st = db->prepare(std::string(kVersionChain) + "WHERE v.version=?3");
  st.bind(1, type).bind(2, id).bind(3, version);
  std::optional<StoredResource> r;
  if (st.step()) r = stored_from(st);
  st.reset();
  return r;
}

Page SqliteRecordStore::history(const std::string& type, const std::string& id, int64_t offset, int64_t count) {
  auto db = lease();
  Page page;
  // Versions are numbered 1, 2, ... without gaps: the latest number is how many there are.
  auto& n = db->prepare("SELECT latest_version FROM resource_current WHERE type=?1 AND id=?2");
  n.bind(1, type).bind(2, id);
  if (n.step()) page.total = n.int64(0);
  n.reset();
  auto& st = db->prepare(std::string(kVersionChain) + "ORDER BY v.version DESC LIMIT ?4 OFFSET ?5");
  st.bind(1, type).bind(2, id).bind(3, int64_t(0)).bind(4, count).bind(5, offset);
  while (st.step()) page.items.push_back(stored_from(st));
  st.reset();
  return page;
}

Page SqliteRecordStore::search_identifier(const std::string& type, const std::optional<std::string>& system,
                                          const std::string& value, int64_t offset, int64_t count) {
  auto db = lease();
  Page page;
  // ?2 NULL matches any system (a bare value such as a hospital number); '' only identifiers sent
  // without one.
  auto bind_system = [&](Statement& st) -> Statement& { return system ? st.bind(2, *system) : st.bind_null(2); };
  if (type == "Patient") {
    // Patients, not registrations: each registration carrying the identifier stands for the patient it
    // is read under (a regional patient answers for all its registrations, once).
    std::vector<std::string> people;
    auto& ids = db->prepare(
        "SELECT DISTINCT id FROM identifier_index WHERE value=?1 AND (?2 IS NULL OR system=?2) AND +type='Patient' ORDER BY id");
    bind_system(ids.bind(1, value));
    std::vector<std::string> registrations;
    while (ids.step()) registrations.emplace_back(ids.text(0));
    ids.reset();
    for (const std::string& r : registrations) {
      std::string p = person_of(*db, r);
      if (std::find(people.begin(), people.end(), p) == people.end()) people.push_back(std::move(p));
    }
    page.total = static_cast<int64_t>(people.size());
    for (int64_t i = offset; i < page.total && i < offset + count; ++i) {
      const std::string& p = people[static_cast<size_t>(i)];
      std::optional<StoredResource> r = read_regional(*db, p);
      if (!r) {
        auto& st = db->prepare(
            "SELECT v.type, v.id, v.version, v.json, c.patient_id FROM resource_current c CROSS JOIN resource_version v "
            "ON v.rowid=c.current_row WHERE c.type='Patient' AND c.id=?1");
        st.bind(1, p);
        if (st.step()) r = stored_from(st);
        st.reset();
      }
      if (r) page.items.push_back(std::move(*r));
    }
    return page;
  }
  auto& n = db->prepare(
      "SELECT count(DISTINCT id) FROM identifier_index WHERE value=?1 AND (?2 IS NULL OR system=?2) AND +type=?3");
  bind_system(n.bind(1, value)).bind(3, type);
  if (n.step()) page.total = n.int64(0);
  n.reset();
  auto& st = db->prepare(
      "SELECT v.type, v.id, v.version, v.json, c.patient_id FROM (SELECT DISTINCT id FROM identifier_index WHERE value=?1 AND "
      "(?2 IS NULL OR system=?2) AND +type=?3 ORDER BY id LIMIT ?4 OFFSET ?5) i CROSS JOIN resource_current c ON c.type=?3 AND "
      "c.id=i.id CROSS JOIN resource_version v ON v.rowid=c.current_row ORDER BY i.id");
  bind_system(st.bind(1, value)).bind(3, type).bind(4, count).bind(5, offset);
  while (st.step()) page.items.push_back(stored_from(st));
  st.reset();
  return page;
}

Page SqliteRecordStore::search_patient(const std::string& type, const std::string& patient_id, int64_t offset,
                                       int64_t count) {
  auto db = lease();
  Page page;
  // Everything filed under any registration read under the same patient.
  const std::string person = person_of(*db, patient_id);
  constexpr const char* kFiledUnder =
      "c.patient_id IN (SELECT registration_id FROM patient_link WHERE person_id=?1 UNION SELECT ?1)";
  auto& n = db->prepare(std::string("SELECT count(*) FROM resource_current c INDEXED BY current_by_patient WHERE ") +
                        kFiledUnder + " AND c.type=?2");
  n.bind(1, person).bind(2, type);
  if (n.step()) page.total = n.int64(0);
  n.reset();
  auto& st = db->prepare(
      std::string("SELECT v.type, v.id, v.version, v.json, c.patient_id FROM resource_current c INDEXED BY "
                  "current_by_patient CROSS JOIN resource_version v ON v.rowid=c.current_row WHERE ") +
      kFiledUnder + " AND c.type=?2 ORDER BY c.event_time_ms DESC, c.id LIMIT ?3 OFFSET ?4");
  st.bind(1, person).bind(2, type).bind(3, count).bind(4, offset);
  while (st.step()) page.items.push_back(stored_from(st));
  st.reset();
  return page;
}

std::vector<WorklistEntry> SqliteRecordStore::worklist(bool open_only, int64_t limit) {
  auto db = lease();
  std::vector<WorklistEntry> out;
  auto& st = db->prepare(
      "SELECT id, kind, patient_id, inbox_id, feed, detail, created_ms, resolved_ms FROM worklist "
      "WHERE (?1=0 OR resolved_ms=0) ORDER BY id DESC LIMIT ?2");
  st.bind(1, int64_t(open_only ? 1 : 0)).bind(2, limit);
  while (st.step()) {
    out.push_back(WorklistEntry{st.int64(0), std::string(st.text(1)), std::string(st.text(2)), st.int64(3),
                                std::string(st.text(4)), std::string(st.text(5)), st.int64(6), st.int64(7)});
  }
  st.reset();
  return out;
}

std::vector<RecordStore::UnmappedMessages> SqliteRecordStore::unmapped_messages(int64_t limit) {
  auto db = lease();
  std::vector<UnmappedMessages> out;
  auto& st = db->prepare(
      "SELECT detail, count(*), min(inbox_id), max(inbox_id) FROM mapping_outcome WHERE outcome='unmapped' "
      "GROUP BY detail ORDER BY max(inbox_id) DESC LIMIT ?1");
  st.bind(1, limit);
  while (st.step()) out.push_back(UnmappedMessages{std::string(st.text(0)), st.int64(1), st.int64(2), st.int64(3)});
  st.reset();
  return out;
}

std::vector<UnmappedCodeRow> SqliteRecordStore::unmapped_codes(int64_t limit) {
  auto db = lease();
  std::vector<UnmappedCodeRow> out;
  auto& st = db->prepare(
      "SELECT feed, code_table, system, code, display, messages, first_seen_ms, last_seen_ms, last_inbox_id "
      "FROM unmapped_code ORDER BY last_seen_ms DESC, code LIMIT ?1");
  st.bind(1, limit);
  while (st.step()) {
    out.push_back(UnmappedCodeRow{std::string(st.text(0)), std::string(st.text(1)), std::string(st.text(2)),
                                  std::string(st.text(3)), std::string(st.text(4)), st.int64(5), st.int64(6),
                                  st.int64(7), st.int64(8)});
  }
  st.reset();
  return out;
}

}  // namespace cc::store
