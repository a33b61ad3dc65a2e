// DisclosureService: patient data leaves only after its audit record is durable; when the audit
// log cannot be written nothing is disclosed; the work-list is for integration administrators.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <future>
#include <thread>

#include "engine/governance/disclosure.h"
#include "engine/store/audit_log.h"
#include "engine/store/sqlite_record_store.h"

namespace cc::governance {
namespace {

struct World {
  World() {
    char tmpl[] = "/tmp/carerecord-disclosure-XXXXXX";
    dir = mkdtemp(tmpl);
    record = std::move(store::SqliteRecordStore::open(dir).value());
    audit = std::move(store::AuditLog::open(dir).value());
    std::vector<store::MappedBatchItem> batch(1);
    batch[0].inbox_id = 1;
    batch[0].outcome = "mapped";
    batch[0].provenance = store::Provenance{"feed", "RBT", "CTL1", 1, 1};
    store::ResourceWrite w;
    w.type = "Patient";
    w.id = "p1";
    w.resource.Parse(R"({"resourceType":"Patient","id":"p1"})");
    w.event_time_ms = 1;
    w.patient_id = "p1";
    batch[0].writes.push_back(std::move(w));
    batch[0].worklist_add.push_back({0, "no-nhs-number", "p1", 1, "feed", "no NHS number", 0, 0});
    EXPECT_TRUE(record->apply(batch).ok());
    service = std::make_unique<DisclosureService>(*record, *audit);
  }
  ~World() {
    service.reset();
    audit.reset();
    record.reset();
    std::filesystem::remove_all(dir);
  }
  // `entries_when_done`: the audit entries on disk when the answer was handed over.
  Result<Disclosure> read(const std::string& id, const Shape& shape = {}, size_t* entries_when_done = nullptr) {
    std::promise<Result<Disclosure>> p;
    auto f = p.get_future();
    DisclosureContext ctx{Reader{"dr.a", "ae-clinician", "RBT", "", "DIRECT_CARE"}, "GET /fhir/Patient/" + id, "peer"};
    service->disclose(
        ctx, ReadQuery{"Patient", id},
        [&](Result<Disclosure> r) {
          if (entries_when_done) {
            auto entries = store::AuditLog::read_recent(dir, 10);
            *entries_when_done = entries.ok() ? entries->size() : 0;
          }
          p.set_value(std::move(r));
        },
        shape);
    return f.get();
  }
  std::string dir;
  std::unique_ptr<store::SqliteRecordStore> record;
  std::unique_ptr<store::AuditLog> audit;
  std::unique_ptr<DisclosureService> service;
};

// Makes every insert into DIR's audit log fail, as a full disk or a broken file would.
bool break_audit(const std::string& dir) {
  sqlite3* db = nullptr;
  if (sqlite3_open((dir + "/audit.db").c_str(), &db) != SQLITE_OK) return false;
  sqlite3_busy_timeout(db, 5000);
  const int rc = sqlite3_exec(
      db, "CREATE TRIGGER audit_broken BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk full'); END;", nullptr,
      nullptr, nullptr);
  sqlite3_close(db);
  return rc == SQLITE_OK;
}

TEST(Disclosure, ReadIsReturnedOnlyWithItsAuditEntryDurable) {
  World w;
  auto r = w.read("p1");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->page.items.size(), 1u);
  auto entries = store::AuditLog::read_recent(w.dir, 10);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ(entries->front().patient_id, "p1");
  EXPECT_EQ(entries->front().user, "dr.a");
  EXPECT_EQ(entries->front().outcome, "disclosed");
}

TEST(Disclosure, NothingIsDisclosedWhenTheAuditEntryCannotBeWritten) {
  World w;
  ASSERT_TRUE(break_audit(w.dir));
  auto r = w.read("p1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "audit-unavailable");
}

// The caller's answer (a response body) is made on its own thread while the entry is written, before
// disclose() returns, and reaches it only with the entry on disk.
TEST(Disclosure, AnAnswerMadeBesideTheAuditEntryArrivesOnlyWithTheEntryDurable) {
  World w;
  std::thread::id shaped_on;
  size_t entries_when_done = 0;
  auto r = w.read(
      "p1",
      [&](Disclosure& d) {
        shaped_on = std::this_thread::get_id();
        d.answer = "answer with " + std::to_string(d.page.items.size()) + " item(s)";
      },
      &entries_when_done);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->answer, "answer with 1 item(s)");
  EXPECT_EQ(shaped_on, std::this_thread::get_id());
  EXPECT_EQ(entries_when_done, 1u);
}

TEST(Disclosure, AnAnswerMadeBesideAnAuditEntryThatFailsIsNotHandedOver) {
  World w;
  ASSERT_TRUE(break_audit(w.dir));
  bool shaped = false;
  auto r = w.read("p1", [&](Disclosure& d) {
    shaped = true;
    d.answer = "patient data";
  });
  EXPECT_TRUE(shaped);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "audit-unavailable");
}

TEST(Disclosure, WorklistIsOnlyForIntegrationAdminsAndIsAudited) {
  World w;
  auto ask = [&](const std::string& role) {
    std::promise<Result<std::vector<store::WorklistEntry>>> p;
    auto f = p.get_future();
    DisclosureContext ctx{Reader{"u", role, "RBT", "", ""}, "GET /admin/worklist", "peer"};
    w.service->disclose_worklist(ctx, true, [&p](auto r) { p.set_value(std::move(r)); });
    return f.get();
  };
  auto denied = ask("ae-clinician");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code, "forbidden");
  auto allowed = ask("integration-admin");
  ASSERT_TRUE(allowed.ok());
  ASSERT_EQ(allowed->size(), 1u);
  auto entries = store::AuditLog::read_recent(w.dir, 10);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].outcome, "disclosed");
  EXPECT_EQ((*entries)[0].patient_id, "p1");
  EXPECT_EQ((*entries)[1].outcome, "denied");
}

}  // namespace
}  // namespace cc::governance

namespace cc::governance {
namespace {

// What a decision read about a patient is kept only until a write touches that patient: an
// encounter that ends takes the relationship with it at once, and one that opens gives it at once.
// A write for another patient leaves what was kept be.
TEST(Disclosure, ADecisionNeverOutlivesTheWriteThatChangesIt) {
  World w;
  int64_t inbox = 1;
  auto write_encounter = [&](const std::string& patient, const std::string& id, const std::string& status) {
    std::vector<store::MappedBatchItem> batch(1);
    batch[0].inbox_id = ++inbox;
    batch[0].outcome = "mapped";
    batch[0].provenance = store::Provenance{"feed", "RBT", "CTL" + std::to_string(inbox), inbox, inbox};
    store::ResourceWrite e;
    e.type = "Encounter";
    e.id = id;
    e.resource.Parse((R"({"resourceType":"Encounter","id":")" + id + R"(","status":")" + status + R"("})").c_str());
    e.event_time_ms = inbox;
    e.patient_id = patient;
    batch[0].writes.push_back(std::move(e));
    ASSERT_TRUE(w.record->apply(batch).ok());
  };
  auto encounters = [&]() {
    std::promise<Result<Disclosure>> p;
    auto f = p.get_future();
    DisclosureContext ctx{Reader{"dr.a", "ae-clinician", "RBT", "", "DIRECT_CARE"}, "GET /fhir/Encounter", "peer"};
    w.service->disclose(ctx, PatientQuery{"Encounter", "p1", 0, 50}, [&p](Result<Disclosure> r) { p.set_value(std::move(r)); });
    return f.get();
  };
  // p2's writes must not share p1's stripe (they would then move p1's stamp too).
  ASSERT_NE(store::SqliteRecordStore::stripe_of("p1"), store::SqliteRecordStore::stripe_of("p2"));
  EXPECT_FALSE(encounters()) << "no relationship yet";
  write_encounter("p1", "e1", "in-progress");
  auto open = encounters();
  ASSERT_TRUE(open) << open.error().message;
  EXPECT_EQ(open->page.items.size(), 1u);
  const uint64_t reads = w.service->facts_reads();
  ASSERT_TRUE(encounters()) << "and again, from what was kept";
  EXPECT_EQ(w.service->facts_reads(), reads);
  write_encounter("p2", "e2", "in-progress");
  ASSERT_TRUE(encounters()) << "after another patient's admission, still from what was kept";
  EXPECT_EQ(w.service->facts_reads(), reads) << "a write for another patient leaves what was kept be";
  write_encounter("p1", "e1", "finished");
  auto ended = encounters();
  ASSERT_FALSE(ended) << "the discharge ends the relationship at once";
  EXPECT_EQ(ended.error().code, "forbidden");
  EXPECT_EQ(w.service->facts_reads(), reads + 1);
}

}  // namespace
}  // namespace cc::governance

namespace cc::governance {
namespace {

// A search by identifier over several patients: its total and pages count only what this reader is
// shown, whichever page is asked for.
TEST(Disclosure, AnIdentifierSearchIsCountedAndPagedOverWhatTheReaderIsShown) {
  World w;
  std::vector<store::MappedBatchItem> batch(1);
  batch[0].inbox_id = 2;
  batch[0].outcome = "mapped";
  batch[0].provenance = store::Provenance{"feed", "RBT", "CTL2", 2, 2};
  auto add = [&](const std::string& type, const std::string& id, const std::string& patient, const std::string& body) {
    store::ResourceWrite r;
    r.type = type;
    r.id = id;
    r.patient_id = patient;
    r.event_time_ms = 2;
    r.resource.Parse(("{\"resourceType\":\"" + type + "\",\"id\":\"" + id + "\"," + body + "}").c_str());
    if (type == "Observation") r.identifiers.emplace_back("urn:lab", "SPECIMEN-1");
    batch[0].writes.push_back(std::move(r));
  };
  add("Patient", "p2", "p2", R"("active":true)");
  add("Encounter", "e1", "p1", R"("status":"in-progress","serviceProvider":{"identifier":{"value":"RBT"}})");
  // The first by id belongs to the patient this reader has no relationship with.
  add("Observation", "a-theirs", "p2", R"("identifier":[{"system":"urn:lab","value":"SPECIMEN-1"}],"status":"final")");
  add("Observation", "b-mine", "p1", R"("identifier":[{"system":"urn:lab","value":"SPECIMEN-1"}],"status":"final")");
  ASSERT_TRUE(w.record->apply(batch).ok());
  auto search = [&](int64_t offset) {
    std::promise<Result<Disclosure>> p;
    auto f = p.get_future();
    DisclosureContext ctx{Reader{"dr.a", "ae-clinician", "RBT", "", "DIRECT_CARE"}, "GET /fhir/Observation", "peer"};
    w.service->disclose(ctx, IdentifierQuery{"Observation", "urn:lab", "SPECIMEN-1", offset, 1},
                        [&p](Result<Disclosure> r) { p.set_value(std::move(r)); });
    return f.get();
  };
  for (int64_t offset : {0, 1}) {
    auto page = search(offset);
    ASSERT_TRUE(page) << page.error().message;
    EXPECT_EQ(page->page.total, 1) << "offset " << offset;
    EXPECT_TRUE(page->withheld);
    EXPECT_EQ(page->page.items.size(), offset == 0 ? 1u : 0u);
    for (auto& r : page->page.items) EXPECT_EQ(r.id, "b-mine");
  }
}

// HAZ-029: which GP practice a restricted patient attends says where they live. Their items from
// the practice's feed name no practice to a reader elsewhere (a search, $everything); the practice
// itself still sees its own name.
TEST(Disclosure, ARestrictedPatientsGpItemsNameNoPracticeToReadersElsewhere) {
  char tmpl[] = "/tmp/carerecord-disclosure-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  auto record = std::move(store::SqliteRecordStore::open(dir).value());
  auto audit = std::move(store::AuditLog::open(dir).value());
  auto write = [&](int64_t inbox, const std::string& feed, const std::string& facility, const std::string& type,
                   const std::string& id, const std::string& body) {
    std::vector<store::MappedBatchItem> batch(1);
    batch[0].inbox_id = inbox;
    batch[0].outcome = "mapped";
    batch[0].provenance = store::Provenance{feed, facility, "CTL" + std::to_string(inbox), inbox, inbox};
    store::ResourceWrite r;
    r.type = type;
    r.id = id;
    r.patient_id = "p9";
    r.event_time_ms = inbox;
    r.resource.Parse(("{\"resourceType\":\"" + type + "\",\"id\":\"" + id + "\"," + body + "}").c_str());
    batch[0].writes.push_back(std::move(r));
    ASSERT_TRUE(record->apply(batch).ok());
  };
  write(1, "gp-n81052", "N81052", "Patient", "p9",
        R"("meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]},)"
        R"("name":[{"family":"HIDDEN"}])");
  write(2, "pas", "RBT", "Encounter", "e9", R"("status":"in-progress","serviceProvider":{"identifier":{"value":"RBT"}})");
  write(3, "gp-n81052", "N81052", "Condition", "c9", R"("code":{"text":"Asthma"},"subject":{"reference":"Patient/p9"})");
  GovernanceSettings settings;
  settings.gp_feeds = {"gp-n81052"};
  settings.feed_types = {{"gp-n81052", "gp"}, {"pas", "acute"}};
  {
    DisclosureService service(*record, *audit, std::move(settings));
    auto run = [&](const std::string& org, const Query& q) {
      std::promise<Result<Disclosure>> p;
      auto f = p.get_future();
      DisclosureContext ctx{Reader{"dr.a", "ae-clinician", org, "", "DIRECT_CARE"}, "GET test", "peer"};
      service.disclose(ctx, q, [&p](Result<Disclosure> r) { p.set_value(std::move(r)); });
      return f.get();
    };
    auto all_text = [](const Disclosure& d) {
      std::string text;
      for (auto& r : d.page.items) text += r.json;
      return text;
    };
    auto hospital = run("RBT", PatientQuery{"Condition", "p9", 0, 50});
    ASSERT_TRUE(hospital) << hospital.error().message;
    ASSERT_EQ(hospital->page.items.size(), 1u);
    EXPECT_EQ(all_text(*hospital).find("N81052"), std::string::npos) << all_text(*hospital);
    EXPECT_EQ(all_text(*hospital).find("gp-n81052"), std::string::npos);
    EXPECT_NE(all_text(*hospital).find(R"("valueString":"GP practice")"), std::string::npos);
    EXPECT_NE(all_text(*hospital).find("Asthma"), std::string::npos);

    auto read = run("RBT", ReadQuery{"Condition", "c9"});
    ASSERT_TRUE(read) << read.error().message;
    EXPECT_EQ(all_text(*read).find("N81052"), std::string::npos) << all_text(*read);

    auto everything = run("RBT", EverythingQuery{"Patient", "p9", {"Patient", "Encounter", "Condition"}});
    ASSERT_TRUE(everything) << everything.error().message;
    EXPECT_EQ(everything->page.items.size(), 3u);
    EXPECT_EQ(all_text(*everything).find("N81052"), std::string::npos) << all_text(*everything);

    auto practice = run("N81052", PatientQuery{"Condition", "p9", 0, 50});
    ASSERT_TRUE(practice) << practice.error().message;
    ASSERT_EQ(practice->page.items.size(), 1u);
    EXPECT_NE(all_text(*practice).find("N81052"), std::string::npos);
  }
  audit->stop();
  audit.reset();
  record.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cc::governance
