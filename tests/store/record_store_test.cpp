// SqliteRecordStore tests: versions by event time, history, identifier and patient search, meta
// stamping, the work-list (one open item a patient and kind) and the mapping cursor across reopen.
#include "engine/store/sqlite_record_store.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <regex>
#include <string>
#include <vector>

#include "engine/fhir/datetime.h"
#include "engine/store/sqlite.h"
#include "engine/store/version_text.h"
#include "tests/store/temp_dir.h"

namespace cc::store {
namespace {

using testing::TempDir;

const std::string kNhs = "https://fhir.nhs.uk/Id/nhs-number";
const std::string kMrn = "https://example.nhs.uk/Id/rxx-mrn";

std::unique_ptr<SqliteRecordStore> open_store(const TempDir& dir) {
  auto r = SqliteRecordStore::open(dir.path());
  if (!r) {
    ADD_FAILURE() << r.error().message;
    return nullptr;
  }
  return std::move(r).value();
}

ResourceWrite resource(const std::string& type, const std::string& id, const std::string& marker,
                       int64_t event_ms, const std::string& patient = "pat-1",
                       std::vector<std::pair<std::string, std::string>> identifiers = {}) {
  ResourceWrite w;
  w.type = type;
  w.id = id;
  w.resource.SetObject();
  auto& a = w.resource.GetAllocator();
  w.resource.AddMember("resourceType", rapidjson::Value(type.c_str(), a), a);
  w.resource.AddMember("id", rapidjson::Value(id.c_str(), a), a);
  w.resource.AddMember("marker", rapidjson::Value(marker.c_str(), a), a);
  w.event_time_ms = event_ms;
  w.patient_id = patient;
  w.identifiers = std::move(identifiers);
  return w;
}

MappedBatchItem item(int64_t inbox_id, std::vector<ResourceWrite> writes, const std::string& control_id = "") {
  MappedBatchItem it;
  it.inbox_id = inbox_id;
  it.outcome = "mapped";
  it.provenance.feed = "pas";
  it.provenance.sending_facility = "RXX01";
  it.provenance.control_id = control_id.empty() ? "CTRL" + std::to_string(inbox_id) : control_id;
  it.provenance.received_ms = 1'700'000'000'000 + inbox_id;
  it.provenance.inbox_id = inbox_id;
  it.writes = std::move(writes);
  return it;
}

void apply_one(SqliteRecordStore& s, MappedBatchItem it) {
  std::vector<MappedBatchItem> batch;
  batch.push_back(std::move(it));
  Status st = s.apply(batch);
  ASSERT_TRUE(st.ok()) << st.error().message;
}

void apply_write(SqliteRecordStore& s, int64_t inbox_id, ResourceWrite w) {
  std::vector<ResourceWrite> ws;
  ws.push_back(std::move(w));
  apply_one(s, item(inbox_id, std::move(ws)));
}

rapidjson::Document parse(const std::string& json) {
  rapidjson::Document d;
  d.Parse(json.c_str(), json.size());
  EXPECT_FALSE(d.HasParseError()) << json;
  return d;
}

std::string marker_of(const StoredResource& r) {
  auto d = parse(r.json);
  return d.HasMember("marker") ? d["marker"].GetString() : "";
}

// Turns the record store in `dir` back into one made before a change (a column dropped, an old
// index made again), with the store closed.
void as_made_before(const TempDir& dir, std::initializer_list<const char*> statements) {
  Database db(dir.file("record.db"), Database::Mode::ReadWrite);
  for (const char* sql : statements) db.exec(sql);
}

bool has_index(const TempDir& dir, const std::string& name) {
  Database db(dir.file("record.db"), Database::Mode::ReadOnly);
  auto& st = db.prepare("SELECT count(*) FROM sqlite_master WHERE type='index' AND name=?1");
  st.bind(1, name);
  const bool found = st.step() && st.int64(0) > 0;
  st.reset();
  return found;
}

std::string version_id_of(const StoredResource& r) {
  auto d = parse(r.json);
  return d["meta"]["versionId"].GetString();
}

TEST(SqliteRecordStore, ApplyWritesVersionsAndMovesCursor) {
  TempDir dir;
  auto s = open_store(dir);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->mapping_cursor(), 0);
  EXPECT_FALSE(s->read("Patient", "p1").has_value());

  std::vector<MappedBatchItem> batch;
  {
    std::vector<ResourceWrite> w1;
    w1.push_back(resource("Patient", "p1", "a", 1000));
    batch.push_back(item(11, std::move(w1)));
    std::vector<ResourceWrite> w2;
    w2.push_back(resource("Encounter", "e1", "b", 1000));
    w2.push_back(resource("Patient", "p1", "c", 2000));
    batch.push_back(item(12, std::move(w2)));
  }
  ASSERT_TRUE(s->apply(batch).ok());
  EXPECT_EQ(s->mapping_cursor(), 12);

  auto p = s->read("Patient", "p1");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->type, "Patient");
  EXPECT_EQ(p->id, "p1");
  EXPECT_EQ(p->version, 2);
  EXPECT_EQ(marker_of(*p), "c");
  auto e = s->read("Encounter", "e1");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->version, 1);
  EXPECT_EQ(marker_of(*e), "b");
  EXPECT_EQ(s->search_patient("Observation", "p1", 0, 10).total, 0);

  // An item with no writes still moves the cursor.
  MappedBatchItem unmapped;
  unmapped.inbox_id = 13;
  unmapped.outcome = "unmapped";
  unmapped.detail = "no mapping for ZZZ^Z01";
  apply_one(*s, std::move(unmapped));
  EXPECT_EQ(s->mapping_cursor(), 13);

  std::vector<MappedBatchItem> empty;
  ASSERT_TRUE(s->apply(empty).ok());
  EXPECT_EQ(s->mapping_cursor(), 13);
}

TEST(SqliteRecordStore, MetaIsStampedAndVersionIdMatches) {
  TempDir dir;
  auto s = open_store(dir);
  ASSERT_TRUE(s);
  auto w = resource("Patient", "p1", "a", 1000);
  // A stale meta from the source is overwritten.
  auto& a = w.resource.GetAllocator();
  rapidjson::Value meta(rapidjson::kObjectType);
  meta.AddMember("versionId", "99", a);
  meta.AddMember("source", "stale", a);
  w.resource.AddMember("meta", meta, a);

  const std::string before = fhir::fhir_instant_utc(fhir::now_epoch_ms());
  apply_one(*s, item(5, [&] {
                  std::vector<ResourceWrite> v;
                  v.push_back(std::move(w));
                  return v;
                }(),
                "MSG-555"));
  apply_write(*s, 6, resource("Patient", "p1", "b", 2000));
  const std::string after = fhir::fhir_instant_utc(fhir::now_epoch_ms());

  for (int64_t v = 1; v <= 2; ++v) {
    auto r = s->read_version("Patient", "p1", v);
    ASSERT_TRUE(r) << v;
    EXPECT_EQ(r->version, v);
    auto d = parse(r->json);
    ASSERT_TRUE(d.HasMember("meta"));
    const auto& m = d["meta"];
    ASSERT_TRUE(m.HasMember("versionId"));
    EXPECT_EQ(std::string(m["versionId"].GetString()), std::to_string(v));
    ASSERT_TRUE(m.HasMember("lastUpdated"));
    std::string lu = m["lastUpdated"].GetString();
    EXPECT_TRUE(std::regex_match(lu, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"))) << lu;
    EXPECT_LE(before, lu);
    EXPECT_LE(lu, after);
    ASSERT_TRUE(m.HasMember("source"));
    EXPECT_EQ(std::string(m["source"].GetString()),
              v == 1 ? "urn:connecting-care:feed:pas#MSG-555" : "urn:connecting-care:feed:pas#CTRL6");
    EXPECT_EQ(std::string(d["resourceType"].GetString()), "Patient");
    EXPECT_EQ(std::string(d["id"].GetString()), "p1");
  }
  auto cur = s->read("Patient", "p1");
  ASSERT_TRUE(cur);
  EXPECT_EQ(version_id_of(*cur), std::to_string(cur->version));
  EXPECT_FALSE(s->read_version("Patient", "p1", 3).has_value());
  EXPECT_FALSE(s->read_version("Patient", "p1", 0).has_value());
  EXPECT_FALSE(s->read_version("Patient", "nope", 1).has_value());
}

// The store serialises a version once with placeholders for its version and time and fills them in:
// a feed's text that looks like a placeholder, or like the member that holds one, is kept as sent.
TEST(SqliteRecordStore, TextLikeTheStoresPlaceholdersIsKeptAsSent) {
  TempDir dir;
  auto s = open_store(dir);
  ASSERT_TRUE(s);
  const std::string sly = "@@cc-version@@ \"versionId\":\"@@cc-version@@\" @@cc-last-updated@@";
  apply_write(*s, 1, resource("Observation", "o1", sly, 1000));
  auto r = s->read("Observation", "o1");
  ASSERT_TRUE(r);
  auto doc = parse(r->json);
  EXPECT_EQ(std::string(doc["marker"].GetString()), sly);
  EXPECT_STREQ(doc["meta"]["versionId"].GetString(), "1");
  EXPECT_EQ(std::string(doc["meta"]["lastUpdated"].GetString()).find("@@"), std::string::npos);
}

TEST(SqliteRecordStore, LaterEventBecomesCurrentEarlierEventIsHistoryOnly) {
  TempDir dir;
  auto s = open_store(dir);
  ASSERT_TRUE(s);
  apply_write(*s, 1, resource("Patient", "p1", "march", 3000));
  apply_write(*s, 2, resource("Patient", "p1", "april", 4000));  // later event: current
  {
    auto r = s->read("Patient", "p1");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->version, 2);
    EXPECT_EQ(marker_of(*r), "april");
  }
  apply_write(*s, 3, resource("Patient", "p1", "late-january", 1000));  // earlier event, arrives last
  auto r = s->read("Patient", "p1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->version, 2) << "a late, older message must not become current";
  EXPECT_EQ(marker_of(*r), "april");
  EXPECT_EQ(version_id_of(*r), "2");

  auto old = s->read_version("Patient", "p1", 3);
  ASSERT_TRUE(old);
  EXPECT_EQ(marker_of(*old), "late-january");
  EXPECT_EQ(version_id_of(*old), "3");

  auto h = s->history("Patient", "p1", 0, 10);
  EXPECT_EQ(h.total, 3);
  ASSERT_EQ(h.items.size(), 3u);
  EXPECT_EQ(h.items[0].version, 3);
  EXPECT_EQ(marker_of(h.items[0]), "late-january");
  EXPECT_EQ(h.items[1].version, 2);
  EXPECT_EQ(marker_of(h.items[1]), "april");
  EXPECT_EQ(h.items[2].version, 1);
  EXPECT_EQ(marker_of(h.items[2]), "march");

  auto page = s->history("Patient", "p1", 1, 1);
  EXPECT_EQ(page.total, 3);
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].version, 2);

  // The next newer event gets the next version number and becomes current.
  apply_write(*s, 4, resource("Patient", "p1", "may", 5000));
  r = s->read("Patient", "p1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->version, 4);
  EXPECT_EQ(marker_of(*r), "may");
  EXPECT_EQ(s->history("Patient", "p1", 0, 10).total, 4);
}

TEST(SqliteRecordStore, EarlierEventWithinOneBatchIsHistoryOnly) {
  TempDir dir;
  auto s = open_store(dir);
  ASSERT_TRUE(s);
  std::vector<ResourceWrite> ws;
  ws.push_back(resource("Patient", "p1", "new", 2000));
  ws.push_back(resource("Patient", "p1", "old", 1000));
  apply_one(*s, item(1, std::move(ws)));
  auto r = s->read("Patient", "p1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->version, 1);
  EXPECT_EQ(marker_of(*r), "new");
  auto h = s->history("Patient", "p1", 0, 10);
  ASSERT_EQ(h.items.size(), 2u);
  EXPECT_EQ(marker_of(h.items[0]), "old");
  EXPECT_EQ(h.items[0].version, 2);
}

TEST(SqliteRecordStore, EqualEventTimesLaterArrivalWins) {
  TempDir dir;
  auto s = open_store(dir);
  ASSERT_TRUE(s);
  apply_write(*s, 1, resource("Patient", "p1", "first", 1000));
  apply_write(*s, 2, resource("Patient", "p1", "second", 1000));
  auto r = s->read("Patient", "p1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->version, 2);
  EXPECT_EQ(marker_of(*r), "second");

  // Same within one batch.
  std::vector<MappedBatchItem> batch;
  std::vector<ResourceWrite> a, b;
  a.push_back(resource("Patient", "p2", "x", 7000));
  b.push_back(resource("Patient", "p2", "y", 7000));
  batch.push_back(item(3, std::move(a)));
  batch.push_back(item(4, std::move(b)));
  ASSERT_TRUE(s->apply(batch).ok());
  r = s->read("Patient", "p2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->version, 2);
  EXPECT_EQ(marker_of(*r), "y");
}

// Any type but Patient (whose identifier search answers with patients: see PatientIndex tests).
TEST(SqliteRecordStore, IdentifierIndexFollowsCurrentVersionOnly) {
  TempDir dir;
  auto s = open_store(dir);
  ASSERT_TRUE(s);
  apply_write(*s, 1, resource("RelatedPerson", "p1", "v1", 1000, "p1", {{kNhs, "9434765919"}, {kMrn, "H123"}}));
  {
    auto pg = s->search_identifier("RelatedPerson", kMrn, "H123", 0, 10);
    EXPECT_EQ(pg.total, 1);
    ASSERT_EQ(pg.items.size(), 1u);
    EXPECT_EQ(pg.items[0].id, "p1");
    EXPECT_EQ(pg.items[0].version, 1);
  }
  // The current version drops the hospital number.
  apply_write(*s, 2, resource("RelatedPerson", "p1", "v2", 2000, "p1", {{kNhs, "9434765919"}}));
  {
    auto pg = s->search_identifier("RelatedPerson", kMrn, "H123", 0, 10);
    EXPECT_EQ(pg.total, 0);
    EXPECT_TRUE(pg.items.empty());
    EXPECT_EQ(s->search_identifier("RelatedPerson", std::nullopt, "H123", 0, 10).total, 0);
    auto nhs = s->search_identifier("RelatedPerson", kNhs, "9434765919", 0, 10);
    EXPECT_EQ(nhs.total, 1);
    ASSERT_EQ(nhs.items.size(), 1u);
    EXPECT_EQ(nhs.items[0].version, 2);
    EXPECT_EQ(marker_of(nhs.items[0]), "v2");
  }
  // An older-event version with another identifier is history only: not indexed, and it does not
  // remove the current version's identifiers.
  apply_write(*s, 3, resource("RelatedPerson", "p1", "old", 500, "p1", {{kMrn, "OLD9"}}));
  EXPECT_EQ(s->search_identifier("RelatedPerson", std::nullopt, "OLD9", 0, 10).total, 0);
  {
    auto nhs = s->search_identifier("RelatedPerson", kNhs, "9434765919", 0, 10);
    EXPECT_EQ(nhs.total, 1);
    ASSERT_EQ(nhs.items.size(), 1u);
    EXPECT_EQ(marker_of(nhs.items[0]), "v2");
  }
  // Wrong system or wrong type: nothing.
  EXPECT_EQ(s->search_identifier("RelatedPerson", kMrn, "9434765919", 0, 10).total, 0);
  EXPECT_EQ(s->search_identifier("Encounter", kNhs, "9434765919", 0, 10).total, 0);
}

// The record builder makes each version's text on its own thread (prepare_texts) before the write:
// the stored version is the one the store would have made, and its content hash the same, so the
// same message written again unprepared (a re-map) adds no version.
TEST(SqliteRecordStore, TextPreparedBeforeTheWriteIsTheStoresOwn) {
  TempDir dir;
  auto s = open_store(dir);
  ASSERT_TRUE(s);
  auto make = [] {
    std::vector<ResourceWrite> ws;
    ws.push_back(resource("Observation", "o1", "first", 1000));
    ws.back().part = "row";
    ws.back().part_number = 7;
    return item(1, std::move(ws), "MSG-1");
  };
  auto prepared = make();
  prepare_texts(prepared);
  ASSERT_TRUE(prepared.writes[0].text.has_value());
  EXPECT_NE(prepared.writes[0].text->version_at, std::string::npos);
  apply_one(*s, std::move(prepared));
  auto r = s->read("Observation", "o1");
  ASSERT_TRUE(r);
  auto d = parse(r->json);
  EXPECT_STREQ(d["meta"]["versionId"].GetString(), "1");
  EXPECT_EQ(std::string(d["meta"]["lastUpdated"].GetString()).find("@@"), std::string::npos);
  EXPECT_STREQ(d["meta"]["source"].GetString(), "urn:connecting-care:feed:pas#MSG-1");
  EXPECT_EQ(marker_of(*r), "first");

  std::vector<MappedBatchItem> again;
  again.push_back(make());
  ASSERT_TRUE(s->apply_remap(again).ok());
  EXPECT_EQ(s->history("Observation", "o1", 0, 10).total, 1);
}

// A Patient whose message carried a failed NHS number keeps the verified one on record, also when
// its text was prepared before the store added the kept identifier.
TEST(SqliteRecordStore, KeptIdentifierIsInAPreparedVersion) {
  TempDir dir;
  auto s = open_store(dir);
  ASSERT_TRUE(s);
  auto with_nhs = resource("Patient", "p1", "v1", 1000, "p1", {{kNhs, "9434765919"}});
  {
    auto& a = with_nhs.resource.GetAllocator();
    rapidjson::Value ids(rapidjson::kArrayType), id(rapidjson::kObjectType);
    id.AddMember("system", rapidjson::Value(kNhs.c_str(), a), a);
    id.AddMember("value", "9434765919", a);
    ids.PushBack(id, a);
    with_nhs.resource.AddMember("identifier", ids, a);
  }
  apply_write(*s, 1, std::move(with_nhs));
  std::vector<ResourceWrite> ws;
  ws.push_back(resource("Patient", "p1", "v2", 2000, "p1"));
  ws.back().keep_identifier_systems.push_back(kNhs);
  auto it = item(2, std::move(ws));
  prepare_texts(it);
  apply_one(*s, std::move(it));
  auto r = s->read("Patient", "p1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->version, 2);
  auto d = parse(r->json);
  EXPECT_EQ(marker_of(*r), "v2");
  ASSERT_TRUE(d.HasMember("identifier"));
  ASSERT_EQ(d["identifier"].Size(), 1u);
  EXPECT_STREQ(d["identifier"][0]["value"].GetString(), "9434765919");
  EXPECT_EQ(s->search_identifier("Patient", kNhs, "9434765919", 0, 10).total, 1);
}

// A record store made before each resource's identifiers were kept beside it (an index of the
// identifier index by resource instead) is migrated on open: searches find what they found, and a
// later version that drops an identifier takes it out of the index.
TEST(SqliteRecordStore, StoreWithTheIdentifierIndexByResourceIsMigrated) {
  TempDir dir;
  {
    auto s = open_store(dir);
    ASSERT_TRUE(s);
    apply_write(*s, 1, resource("RelatedPerson", "r1", "v1", 1000, "p1", {{kNhs, "9434765919"}, {kMrn, "H123"}}));
    apply_write(*s, 2, resource("RelatedPerson", "r2", "v1", 1000, "p1"));
  }
  as_made_before(dir, {"ALTER TABLE resource_current DROP COLUMN identifiers",
                       "CREATE INDEX identifier_by_resource ON identifier_index(type, id)"});
  auto s = open_store(dir);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->search_identifier("RelatedPerson", kMrn, "H123", 0, 10).total, 1);
  apply_write(*s, 3, resource("RelatedPerson", "r1", "v2", 2000, "p1", {{kNhs, "9434765919"}}));
  EXPECT_EQ(s->search_identifier("RelatedPerson", kMrn, "H123", 0, 10).total, 0);
  auto nhs = s->search_identifier("RelatedPerson", kNhs, "9434765919", 0, 10);
  ASSERT_EQ(nhs.items.size(), 1u);
  EXPECT_EQ(marker_of(nhs.items[0]), "v2");
  // A resource that had none gains one.
  apply_write(*s, 4, resource("RelatedPerson", "r2", "v2", 2000, "p1", {{kMrn, "H456"}}));
  EXPECT_EQ(s->search_identifier("RelatedPerson", kMrn, "H456", 0, 10).total, 1);
  EXPECT_FALSE(has_index(dir, "identifier_by_resource"));
}

// A store written before identifiers without a system were indexed (their resources' JSON holds
// them, the index does not) indexes them once when opened: identifier=|VALUE finds the resource, and
// a later version without the identifier takes it out of the index again.
TEST(SqliteRecordStore, IdentifiersWithoutASystemInAnOlderStoreAreIndexedOnOpen) {
  TempDir dir;
  auto with_ids = [](const std::string& id, const std::string& marker, const std::string& ids_json,
                     std::vector<std::pair<std::string, std::string>> indexed) {
    ResourceWrite w = resource("Encounter", id, marker, marker == "v1" ? 1000 : 2000, "p1", std::move(indexed));
    rapidjson::Document ids;
    ids.Parse(ids_json.c_str());
    w.resource.AddMember("identifier", rapidjson::Value(ids, w.resource.GetAllocator()), w.resource.GetAllocator());
    return w;
  };
  {
    auto s = open_store(dir);
    ASSERT_TRUE(s);
    // As an earlier engine wrote them: the bare visit number in the resource, not in the index.
    apply_write(*s, 1, with_ids("e1", "v1", R"([{"value":"V1"},{"system":"urn:x","value":"V1"},{"value":""},{"system":"urn:y"}])",
                                {{"urn:x", "V1"}}));
    apply_write(*s, 2, with_ids("e2", "v1", R"([{"system":"urn:x","value":"V2"}])", {{"urn:x", "V2"}}));
  }
  as_made_before(dir, {"DELETE FROM identifier_index WHERE system = ''", "PRAGMA user_version = 0"});
  {
    auto s = open_store(dir);
    ASSERT_TRUE(s);
    auto bare = s->search_identifier("Encounter", std::string(), "V1", 0, 10);
    ASSERT_EQ(bare.total, 1);
    EXPECT_EQ(bare.items.at(0).id, "e1");
    EXPECT_EQ(s->search_identifier("Encounter", std::string(), "V2", 0, 10).total, 0);
    EXPECT_EQ(s->search_identifier("Encounter", std::string(), "", 0, 10).total, 0);
    // The next version names only the system's number: the bare one leaves the index.
    apply_write(*s, 3, with_ids("e1", "v2", R"([{"system":"urn:x","value":"V1"}])", {{"urn:x", "V1"}}));
    EXPECT_EQ(s->search_identifier("Encounter", std::string(), "V1", 0, 10).total, 0);
    EXPECT_EQ(s->search_identifier("Encounter", std::string("urn:x"), "V1", 0, 10).total, 1);
  }
  // Once only: a store opened again is not read through again (a bare identifier put into a
  // stored version behind the store's back stays unindexed).
  as_made_before(dir, {"UPDATE resource_version SET json = json_insert(json, '$.identifier[#]', "
                       "json('{\"value\":\"LATE\"}')) WHERE id = 'e2'"});
  auto s = open_store(dir);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->search_identifier("Encounter", std::string(), "LATE", 0, 10).total, 0);
}

// A snapshot's end of an absent item writes a version from the current one: its identifiers stay
// indexed, one without a system too.
TEST(SqliteRecordStore, AnItemEndedByASnapshotKeepsItsIdentifiersIndexed) {
  TempDir dir;
  auto s = open_store(dir);
  ASSERT_TRUE(s);
  ResourceWrite w = resource("EpisodeOfCare", "ep1", "v1", 1000, "p1", {{"", "B9"}, {kMrn, "B9"}});
  rapidjson::Document ids;
  ids.Parse((R"([{"value":"B9"},{"system":")" + kMrn + R"(","value":"B9"}])").c_str());
  w.resource.AddMember("identifier", rapidjson::Value(ids, w.resource.GetAllocator()), w.resource.GetAllocator());
  apply_write(*s, 1, std::move(w));
  ASSERT_EQ(s->search_identifier("EpisodeOfCare", std::string(), "B9", 0, 10).total, 1);

  MappedBatchItem snapshot = item(2, {});
  snapshot.snapshot = store::SnapshotEnd{{{"EpisodeOfCare", R"({"status":"finished"})"}}, {}, 2000};
  apply_one(*s, std::move(snapshot));
  auto ended = s->read("EpisodeOfCare", "ep1");
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->version, 2);
  EXPECT_NE(ended->json.find("\"finished\""), std::string::npos) << ended->json;
  EXPECT_EQ(s->search_identifier("EpisodeOfCare", std::string(), "B9", 0, 10).total, 1);
  EXPECT_EQ(s->search_identifier("EpisodeOfCare", std::nullopt, "B9", 0, 10).total, 1);
  EXPECT_EQ(s->search_identifier("EpisodeOfCare", kMrn, "B9", 0, 10).total, 1);
}

// A record store made before versions were chained from their current row (an index of every
// version by (type, id, version) instead) is migrated on open: reads, versions and history are as
// they were, a later version continues the chain, and the old index is gone.
TEST(SqliteRecordStore, StoreWithTheIndexOfEveryVersionIsMigratedToChains) {
  TempDir dir;
  {
    auto s = open_store(dir);
    ASSERT_TRUE(s);
    apply_write(*s, 1, resource("Observation", "o1", "v1", 1000));
    apply_write(*s, 2, resource("Observation", "o1", "v2", 2000));
    apply_write(*s, 3, resource("Observation", "o1", "late", 500));  // history only
    apply_write(*s, 4, resource("Observation", "o2", "only", 1000));
  }
  as_made_before(dir, {"ALTER TABLE resource_current DROP COLUMN current_row",
                       "ALTER TABLE resource_current DROP COLUMN latest_row",
                       "ALTER TABLE resource_version DROP COLUMN prev_row",
                       "CREATE UNIQUE INDEX resource_version_key ON resource_version(type, id, version)"});
  auto s = open_store(dir);
  ASSERT_TRUE(s);
  auto cur = s->read("Observation", "o1");
  ASSERT_TRUE(cur);
  EXPECT_EQ(cur->version, 2);
  EXPECT_EQ(marker_of(*cur), "v2");
  EXPECT_EQ(marker_of(*s->read_version("Observation", "o1", 1)), "v1");
  EXPECT_EQ(marker_of(*s->read_version("Observation", "o1", 3)), "late");
  EXPECT_FALSE(s->read_version("Observation", "o1", 4).has_value());
  EXPECT_EQ(marker_of(*s->read("Observation", "o2")), "only");
  apply_write(*s, 5, resource("Observation", "o1", "v4", 3000));
  auto history = s->history("Observation", "o1", 0, 10);
  EXPECT_EQ(history.total, 4);
  ASSERT_EQ(history.items.size(), 4u);
  const char* markers[] = {"v4", "late", "v2", "v1"};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(history.items[i].version, static_cast<int64_t>(4 - i));
    EXPECT_EQ(marker_of(history.items[i]), markers[i]);
  }
  auto page2 = s->history("Observation", "o1", 2, 2);
  ASSERT_EQ(page2.items.size(), 2u);
  EXPECT_EQ(page2.items[0].version, 2);
  EXPECT_EQ(marker_of(*s->read("Observation", "o1")), "v4");
  EXPECT_FALSE(has_index(dir, "resource_version_key"));
}

TEST(SqliteRecordStore, IdentifierSearchWithoutASystemMatchesAnySystemAndAnEmptyOneNone) {
  TempDir dir;
  auto s = open_store(dir);
  ASSERT_TRUE(s);
  apply_write(*s, 1, resource("Patient", "pa", "a", 1000, "pa", {{kMrn, "X1"}}));
  apply_write(*s, 2, resource("Patient", "pb", "b", 1000, "pb", {{"https://other.example/Id/mrn", "X1"}}));
  apply_write(*s, 3, resource("Patient", "pc", "c", 1000, "pc", {{kMrn, "X2"}}));

  auto any = s->search_identifier("Patient", std::nullopt, "X1", 0, 10);
  EXPECT_EQ(any.total, 2);
  ASSERT_EQ(any.items.size(), 2u);
  EXPECT_EQ(any.items[0].id, "pa");
  EXPECT_EQ(any.items[1].id, "pb");

  auto one = s->search_identifier("Patient", kMrn, "X1", 0, 10);
  EXPECT_EQ(one.total, 1);
  ASSERT_EQ(one.items.size(), 1u);
  EXPECT_EQ(one.items[0].id, "pa");

  auto paged = s->search_identifier("Patient", std::nullopt, "X1", 1, 1);
  EXPECT_EQ(paged.total, 2);
  ASSERT_EQ(paged.items.size(), 1u);
  EXPECT_EQ(paged.items[0].id, "pb");

  // An identifier sent without a system is indexed under "": found by the value alone, and alone by
  // "no system" (FHIR's identifier=|X1), which finds none of the others.
  apply_write(*s, 4, resource("Patient", "pd", "d", 1000, "pd", {{"", "X1"}}));
  EXPECT_EQ(s->search_identifier("Patient", std::nullopt, "X1", 0, 10).total, 3);
  auto none = s->search_identifier("Patient", std::string(), "X1", 0, 10);
  EXPECT_EQ(none.total, 1);
  ASSERT_EQ(none.items.size(), 1u);
  EXPECT_EQ(none.items[0].id, "pd");
  // The same for other types (their own query): a system's X1 is not one without a system.
  apply_write(*s, 5, resource("Observation", "o1", "a", 1000, "pa", {{kMrn, "X1"}}));
  EXPECT_EQ(s->search_identifier("Observation", std::nullopt, "X1", 0, 10).total, 1);
  EXPECT_EQ(s->search_identifier("Observation", std::string(), "X1", 0, 10).total, 0);
  apply_write(*s, 6, resource("Observation", "o2", "b", 1000, "pa", {{"", "X1"}}));
  auto bare = s->search_identifier("Observation", std::string(), "X1", 0, 10);
  ASSERT_EQ(bare.total, 1);
  EXPECT_EQ(bare.items.at(0).id, "o2");
}

TEST(SqliteRecordStore, SearchPatientReturnsCurrentResourcesPaged) {
  TempDir dir;
  auto s = open_store(dir);
  ASSERT_TRUE(s);
  std::vector<ResourceWrite> ws;
  for (int i = 0; i < 5; ++i)
    ws.push_back(resource("Observation", "o" + std::to_string(i), "obs" + std::to_string(i), 1000 + i * 100, "P"));
  ws.push_back(resource("Observation", "q0", "other-patient", 9999, "Q"));
  ws.push_back(resource("Encounter", "e0", "enc", 5000, "P"));
  apply_one(*s, item(1, std::move(ws)));
  // o4 gets a newer version; a history-only version of o0 names another patient.
  apply_write(*s, 2, resource("Observation", "o4", "obs4-amended", 1500, "P"));
  apply_write(*s, 3, resource("Observation", "o0", "obs0-old-other", 10, "Q"));

  auto all = s->search_patient("Observation", "P", 0, 100);
  EXPECT_EQ(all.total, 5);
  ASSERT_EQ(all.items.size(), 5u);
  // Newest event first.
  EXPECT_EQ(all.items[0].id, "o4");
  EXPECT_EQ(all.items[0].version, 2);
  EXPECT_EQ(marker_of(all.items[0]), "obs4-amended");
  EXPECT_EQ(all.items[1].id, "o3");
  EXPECT_EQ(all.items[4].id, "o0");
  EXPECT_EQ(marker_of(all.items[4]), "obs0");
  for (auto& r : all.items) EXPECT_EQ(r.type, "Observation");

  auto p1 = s->search_patient("Observation", "P", 0, 2);
  EXPECT_EQ(p1.total, 5);
  ASSERT_EQ(p1.items.size(), 2u);
  EXPECT_EQ(p1.items[0].id, "o4");
  EXPECT_EQ(p1.items[1].id, "o3");
  auto p3 = s->search_patient("Observation", "P", 4, 2);
  EXPECT_EQ(p3.total, 5);
  ASSERT_EQ(p3.items.size(), 1u);
  EXPECT_EQ(p3.items[0].id, "o0");
  auto beyond = s->search_patient("Observation", "P", 10, 2);
  EXPECT_EQ(beyond.total, 5);
  EXPECT_TRUE(beyond.items.empty());

  auto q = s->search_patient("Observation", "Q", 0, 10);
  EXPECT_EQ(q.total, 1);
  ASSERT_EQ(q.items.size(), 1u);
  EXPECT_EQ(q.items[0].id, "q0");
  EXPECT_EQ(s->search_patient("Encounter", "P", 0, 10).total, 1);
  EXPECT_EQ(s->search_patient("Observation", "nobody", 0, 10).total, 0);

  // A current version that moves a resource to another patient moves it in the search too.
  apply_write(*s, 4, resource("Observation", "o3", "moved", 2000, "Q"));
  EXPECT_EQ(s->search_patient("Observation", "P", 0, 10).total, 4);
  EXPECT_EQ(s->search_patient("Observation", "Q", 0, 10).total, 2);
}

TEST(SqliteRecordStore, EveryReadSaysWhichPatientTheResourceBelongsTo) {
  TempDir dir;
  auto s = open_store(dir);
  ASSERT_TRUE(s);
  apply_write(*s, 1, resource("Observation", "o1", "x", 1000, "pat-9"));
  EXPECT_EQ(s->read("Observation", "o1")->patient_id, "pat-9");
  apply_write(*s, 2, resource("Observation", "o1", "y", 500, "pat-other"));  // history only
  EXPECT_EQ(s->read("Observation", "o1")->patient_id, "pat-9");
  apply_write(*s, 3, resource("Observation", "o1", "z", 2000, "pat-7"));
  EXPECT_EQ(s->read("Observation", "o1")->patient_id, "pat-7");
  EXPECT_EQ(s->read_version("Observation", "o1", 1)->patient_id, "pat-7");
  for (auto& v : s->history("Observation", "o1", 0, 10).items) EXPECT_EQ(v.patient_id, "pat-7");
  EXPECT_EQ(s->search_patient("Observation", "pat-7", 0, 10).items.at(0).patient_id, "pat-7");
}

WorklistEntry wl(const std::string& kind, const std::string& patient, const std::string& detail = "d") {
  WorklistEntry e;
  e.kind = kind;
  e.patient_id = patient;
  e.detail = detail;
  return e;
}

TEST(SqliteRecordStore, WorklistOneOpenItemPerPatientAndKind) {
  TempDir dir;
  auto s = open_store(dir);
  ASSERT_TRUE(s);
  {
    MappedBatchItem it = item(10, {});
    it.worklist_add.push_back(wl("no-nhs-number", "P1", "first"));
    it.worklist_add.push_back(wl("no-nhs-number", "P1", "same again in one item"));
    it.worklist_add.push_back(wl("mapping-failed", "P1", "other kind"));
    it.worklist_add.push_back(wl("no-nhs-number", "P2", "other patient"));
    apply_one(*s, std::move(it));
  }
  {
    MappedBatchItem it = item(11, {});
    it.worklist_add.push_back(wl("no-nhs-number", "P1", "second message"));
    apply_one(*s, std::move(it));
  }
  auto open = s->worklist(true, 100);
  ASSERT_EQ(open.size(), 3u);
  // Newest first.
  EXPECT_EQ(open[0].kind, "no-nhs-number");
  EXPECT_EQ(open[0].patient_id, "P2");
  EXPECT_EQ(open[1].kind, "mapping-failed");
  EXPECT_EQ(open[2].kind, "no-nhs-number");
  EXPECT_EQ(open[2].patient_id, "P1");
  EXPECT_EQ(open[2].detail, "first");
  EXPECT_EQ(open[2].inbox_id, 10);
  EXPECT_EQ(open[2].feed, "pas");
  EXPECT_GT(open[2].created_ms, 0);
  EXPECT_EQ(open[2].resolved_ms, 0);
  EXPECT_GT(open[0].id, open[2].id);

  // Resolve closes it.
  {
    MappedBatchItem it = item(12, {});
    it.worklist_resolve.emplace_back("P1", "no-nhs-number");
    apply_one(*s, std::move(it));
  }
  open = s->worklist(true, 100);
  ASSERT_EQ(open.size(), 2u);
  for (auto& e : open) EXPECT_FALSE(e.patient_id == "P1" && e.kind == "no-nhs-number");
  auto all = s->worklist(false, 100);
  ASSERT_EQ(all.size(), 3u);
  bool found_resolved = false;
  for (auto& e : all) {
    if (e.patient_id == "P1" && e.kind == "no-nhs-number") {
      found_resolved = true;
      EXPECT_GT(e.resolved_ms, 0);
    } else {
      EXPECT_EQ(e.resolved_ms, 0);
    }
  }
  EXPECT_TRUE(found_resolved);

  // Once resolved, a new problem opens a new item.
  {
    MappedBatchItem it = item(13, {});
    it.worklist_add.push_back(wl("no-nhs-number", "P1", "again later"));
    apply_one(*s, std::move(it));
  }
  open = s->worklist(true, 100);
  ASSERT_EQ(open.size(), 3u);
  EXPECT_EQ(open[0].patient_id, "P1");
  EXPECT_EQ(open[0].detail, "again later");
  EXPECT_EQ(open[0].inbox_id, 13);
  EXPECT_EQ(s->worklist(false, 100).size(), 4u);
  // limit
  EXPECT_EQ(s->worklist(false, 2).size(), 2u);
}

TEST(SqliteRecordStore, WorklistItemsWithoutPatientAreAlwaysAdded) {
  TempDir dir;
  auto s = open_store(dir);
  ASSERT_TRUE(s);
  {
    MappedBatchItem it = item(1, {});
    it.worklist_add.push_back(wl("unmapped-type", "", "a"));
    it.worklist_add.push_back(wl("unmapped-type", "", "b"));
    apply_one(*s, std::move(it));
  }
  {
    MappedBatchItem it = item(2, {});
    it.worklist_add.push_back(wl("unmapped-type", "", "c"));
    apply_one(*s, std::move(it));
  }
  auto open = s->worklist(true, 100);
  ASSERT_EQ(open.size(), 3u);
  EXPECT_EQ(open[0].detail, "c");
  EXPECT_EQ(open[1].detail, "b");
  EXPECT_EQ(open[2].detail, "a");
  for (auto& e : open) EXPECT_EQ(e.patient_id, "");
}

TEST(SqliteRecordStore, CursorAndDataSurviveReopen) {
  TempDir dir;
  {
    auto s = open_store(dir);
    ASSERT_TRUE(s);
    apply_write(*s, 41, resource("Patient", "p1", "kept", 1000, "p1", {{kNhs, "9434765919"}}));
    MappedBatchItem it = item(42, {});
    it.worklist_add.push_back(wl("invalid-nhs-number", "p1"));
    apply_one(*s, std::move(it));
    EXPECT_EQ(s->mapping_cursor(), 42);
  }
  auto s = open_store(dir);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->mapping_cursor(), 42);
  auto r = s->read("Patient", "p1");
  ASSERT_TRUE(r);
  EXPECT_EQ(marker_of(*r), "kept");
  EXPECT_EQ(s->search_identifier("Patient", kNhs, "9434765919", 0, 10).total, 1);
  ASSERT_EQ(s->worklist(true, 10).size(), 1u);
  // Versions continue after reopen.
  apply_write(*s, 43, resource("Patient", "p1", "next", 2000));
  r = s->read("Patient", "p1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->version, 2);
  EXPECT_EQ(s->mapping_cursor(), 43);
}

TEST(SqliteRecordStore, ReadersSeeLaterWrites) {
  TempDir dir;
  auto s = open_store(dir);
  ASSERT_TRUE(s);
  // Warm up the reader pool, then write: pooled read-only connections must not serve stale data.
  apply_write(*s, 1, resource("Patient", "p1", "one", 1000));
  EXPECT_EQ(marker_of(*s->read("Patient", "p1")), "one");
  EXPECT_EQ(s->mapping_cursor(), 1);
  apply_write(*s, 2, resource("Patient", "p1", "two", 2000));
  EXPECT_EQ(marker_of(*s->read("Patient", "p1")), "two");
  EXPECT_EQ(s->mapping_cursor(), 2);
}

}  // namespace
}  // namespace cc::store
