// End to end for extract feeds over real sockets: a council's CSV uploaded to POST /ingest/{feed}
// by its feed system; the report names each problem by row and column; good rows are readable over
// FHIR; the same file again changes nothing; only the feed's owner may upload; a file without a
// required column is refused whole.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <vector>
#include <functional>
#include <thread>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "tests/e2e/harness.h"
#include "tests/mapping/fhir_schema.h"

namespace cc::test {
namespace {

const std::string kHeader =
    "person_id,nhs_number,family_name,given_name,birth_date,episode_id,service,status,start_date,end_date,"
    "lead_worker,team,safeguarding,last_updated\r\n";

const std::string kFile =
    kHeader +
    "P0012345,999 123 4578,HARGREAVES,Margaret,12/03/1948,EP-7781,\"Adult Social Care, Home care\",Open,01/02/2024,,"
    "Sam Patel,Crewe Locality Team,Y,15/03/2024 09:30\r\n"
    "P0012346,9991234579,OKAFOR,Chidi,04/08/1971,EP-7782,Reablement,Open,05/02/2024,,,,N,15/03/2024 09:31\r\n"
    "P0012347,,JONES,\"Mary\",01/01/1950,EP-7783,Day care,Open\r\n"
    "P0012348,,TAYLOR,Oliver,30/06/2005,EP-7784,\"Carers' support\nassessment\",Closed,01/01/2024,31/01/2024,,,N,"
    "01/02/2024 10:00\r\n";

class ExtractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine = std::make_unique<EngineProcess>(dir.path + "/data");
    feed_system = issue("feed-system", "sc.system", "DEVSC");
    other_feed = issue("feed-system", "other.system", "RBT");
    clinician = issue("ae-clinician", "dr.test", "RBT");
    admin = issue("integration-admin", "it.admin", "RBT");
  }
  std::string issue(const std::string& role, const std::string& user, const std::string& org) {
    std::string t = run_carerecord({"token", "--role", role, "--user", user, "--org", org, "--data-dir", dir.path + "/data"});
    t.erase(t.find_last_not_of("\r\n") + 1);
    return t;
  }
  HttpResult upload(const std::string& body, const std::string& token, const std::string& feed = "dev-social-care") {
    return http_request(engine->http_port(), "POST", "/ingest/" + feed, token, body);
  }
  std::string patient_id(const std::string& person_id) {
    auto r = get_until(engine->http_port(), "/fhir/Patient?identifier=" + person_id, clinician,
                       [](const HttpResult& h) { return total_of(h) == 1; });
    auto d = json(r.body);
    if (total_of(r) != 1) return "";
    // The A&E clinician has no relationship with a council's client: the client agreed to sharing.
    const std::string id = d["entry"][0]["resource"]["id"].GetString();
    EXPECT_EQ(record_access(engine->http_port(), clinician, id), 200);
    return id;
  }

  TempDir dir;
  std::unique_ptr<EngineProcess> engine;
  std::string feed_system, other_feed, clinician, admin;
};

TEST_F(ExtractTest, TheReportNamesEachProblemAndGoodRowsAreReadable) {
  auto r = upload(kFile, feed_system);
  ASSERT_EQ(r.status, 200) << r.body;
  auto d = json(r.body);
  ASSERT_TRUE(d.IsObject()) << r.body;
  EXPECT_TRUE(d["stored"].GetBool());
  EXPECT_FALSE(d["duplicate"].GetBool());
  const auto& report = d["report"];
  EXPECT_EQ(report["rows_rejected"].GetInt64(), 1) << r.body;  // row 3: too few fields
  bool nhs_problem = false;
  for (auto& p : report["row_problems"].GetArray())
    nhs_problem = nhs_problem || (p["row"].GetInt64() == 2 && std::string(p["column"].GetString()) == "nhs_number");
  EXPECT_TRUE(nhs_problem) << r.body;
  EXPECT_EQ(r.body.find("OKAFOR"), std::string::npos) << "a report names places, never patient data";

  const std::string margaret = patient_id("P0012345");
  ASSERT_FALSE(margaret.empty());
  auto episodes = get_until(engine->http_port(), "/fhir/EpisodeOfCare?patient=" + margaret, clinician,
                            [](const HttpResult& h) { return total_of(h) == 1; });
  ASSERT_EQ(total_of(episodes), 1) << episodes.body;
  EXPECT_NE(episodes.body.find("Adult Social Care, Home care"), std::string::npos);
  // Provenance names the feed, the file (its digest) and the row.
  EXPECT_NE(episodes.body.find(R"({"url":"row","valueInteger":1})"), std::string::npos) << episodes.body;
  EXPECT_NE(episodes.body.find(R"("source":"urn:connecting-care:feed:dev-social-care#)"), std::string::npos);
  auto flags = http_get(engine->http_port(), "/fhir/Flag?patient=" + margaret, clinician);
  EXPECT_EQ(total_of(flags), 1) << flags.body;
  // The row with an embedded line break in a quoted value is a good row.
  const std::string oliver = patient_id("P0012348");
  ASSERT_FALSE(oliver.empty());
  auto closed = get_until(engine->http_port(), "/fhir/EpisodeOfCare?patient=" + oliver, clinician,
                          [](const HttpResult& h) { return total_of(h) == 1; });
  EXPECT_NE(closed.body.find("\"finished\""), std::string::npos) << closed.body;
  // The row with an invalid NHS number is kept under the person id and held for a person.
  EXPECT_FALSE(patient_id("P0012346").empty());
  auto wl = get_until(engine->http_port(), "/admin/worklist", admin, [](const HttpResult& h) {
    return h.body.find("extract-row-held") != std::string::npos && h.body.find("extract-rows-rejected") != std::string::npos;
  });
  EXPECT_NE(wl.body.find("extract-row-held"), std::string::npos) << wl.body;
  EXPECT_NE(wl.body.find("extract-rows-rejected"), std::string::npos) << wl.body;
}

// A large file is checked on several threads; its report still lists each problem once, in row
// order, with the right row numbers.
TEST_F(ExtractTest, ALargeFilesReportListsItsProblemsInRowOrder) {
  std::string file = kHeader;
  const std::set<int> bad = {1, 6001, 6002, 11999, 12000};
  for (int i = 1; i <= 12000; ++i)
    file += "L" + std::to_string(i) + "," + (bad.count(i) ? "9991234579" : "") + ",LARGE,File,01/01/1950,LE-" +
            std::to_string(i) + ",Home care,Open,01/02/2024,,,,N,15/03/2024 09:30\r\n";
  auto r = upload(file, feed_system);
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 500);
  auto d = json(r.body);
  const auto& report = d["report"];
  EXPECT_EQ(report["rows_held"].GetInt64(), 5) << r.body.substr(0, 2000);
  std::vector<int> rows;
  for (auto& p : report["row_problems"].GetArray()) {
    EXPECT_STREQ(p["column"].GetString(), "nhs_number");
    rows.push_back(static_cast<int>(p["row"].GetInt64()));
  }
  EXPECT_EQ(rows, std::vector<int>(bad.begin(), bad.end())) << r.body.substr(0, 2000);
}

TEST_F(ExtractTest, TheSameFileAgainChangesNothing) {
  ASSERT_EQ(upload(kFile, feed_system).status, 200);
  const std::string margaret = patient_id("P0012345");
  ASSERT_FALSE(margaret.empty());
  auto first = get_until(engine->http_port(), "/fhir/EpisodeOfCare?patient=" + margaret, clinician,
                         [](const HttpResult& h) { return total_of(h) == 1; });
  const std::string id = json(first.body)["entry"][0]["resource"]["id"].GetString();
  auto again = upload(kFile, feed_system);
  ASSERT_EQ(again.status, 200);
  EXPECT_TRUE(json(again.body)["duplicate"].GetBool());
  auto history = http_get(engine->http_port(), "/fhir/EpisodeOfCare/" + id + "/_history", clinician);
  EXPECT_EQ(total_of(history), 1) << history.body;
}

TEST_F(ExtractTest, OnlyTheFeedsOwnerMayUpload) {
  EXPECT_EQ(upload(kFile, other_feed).status, 403);
  EXPECT_EQ(upload(kFile, clinician).status, 403);
  EXPECT_EQ(upload(kFile, feed_system, "dev-adt").status, 404);
  EXPECT_EQ(http_request(engine->http_port(), "POST", "/ingest/dev-social-care", "", kFile).status, 401);
}

TEST_F(ExtractTest, AFileWithoutARequiredColumnIsRefusedWhole) {
  auto r = upload("person_id,nhs_number\r\nP1,9991234578\r\n", feed_system);
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(r.body.find("OperationOutcome"), std::string::npos);
  EXPECT_NE(r.body.find("episode_id"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace cc::test

namespace cc::test {
namespace {

// A snapshot feed: each file is the whole current set.
class SnapshotTest : public ExtractTest {
 protected:
  void SetUp() override {
    const std::string config = dir.path + "/snapshot.json";
    std::ofstream(config) << R"({"development": true, "limits": {"extract_chunk_rows": 2000},
        "feeds": [{"name": "sc-snapshot", "type": "extract", "owner_ods": "DEVSC",
                   "mapping": "social-care-episodes", "mode": "snapshot"}]})";
    engine = std::make_unique<EngineProcess>(dir.path + "/data", std::vector<std::string>{"--config", config});
    feed_system = issue("feed-system", "sc.system", "DEVSC");
    clinician = issue("ae-clinician", "dr.test", "RBT");
    admin = issue("integration-admin", "it.admin", "RBT");
  }
  std::string status_of(const std::string& type, const std::string& patient) {
    auto r = http_get(engine->http_port(), "/fhir/" + type + "?patient=" + patient, clinician);
    auto d = json(r.body);
    if (total_of(r) != 1) return "(" + std::to_string(total_of(r)) + " found)";
    return d["entry"][0]["resource"]["status"].GetString();
  }
};

const std::string kMargaret =
    "P0012345,9991234578,HARGREAVES,Margaret,12/03/1948,EP-7781,Home care,Open,01/02/2024,,Sam Patel,Crewe,Y,"
    "15/03/2024 09:30\r\n";
const std::string kOliver =
    "P0012348,,TAYLOR,Oliver,30/06/2005,EP-7784,Reablement,Open,01/01/2024,,,,N,01/02/2024 10:00\r\n";

TEST_F(SnapshotTest, AnEpisodeAndAlertAbsentFromTheNextSnapshotEnd) {
  ASSERT_EQ(upload(kHeader + kMargaret + kOliver, feed_system, "sc-snapshot").status, 200);
  const std::string margaret = patient_id("P0012345");
  ASSERT_FALSE(margaret.empty());
  get_until(engine->http_port(), "/fhir/Flag?patient=" + margaret, clinician,
            [](const HttpResult& h) { return total_of(h) == 1; });
  EXPECT_EQ(status_of("Flag", margaret), "active");

  ASSERT_EQ(upload(kHeader + kOliver, feed_system, "sc-snapshot").status, 200);
  auto ended = get_until(engine->http_port(), "/fhir/Flag?patient=" + margaret, clinician,
                         [](const HttpResult& h) { return h.body.find("\"inactive\"") != std::string::npos; });
  EXPECT_EQ(status_of("Flag", margaret), "inactive") << ended.body;
  EXPECT_EQ(status_of("EpisodeOfCare", margaret), "finished");
  const std::string oliver = patient_id("P0012348");
  EXPECT_EQ(status_of("EpisodeOfCare", oliver), "active");
}

TEST_F(SnapshotTest, ASnapshotWithAnUnreadableRowEndsNothing) {
  ASSERT_EQ(upload(kHeader + kMargaret + kOliver, feed_system, "sc-snapshot").status, 200);
  const std::string margaret = patient_id("P0012345");
  get_until(engine->http_port(), "/fhir/Flag?patient=" + margaret, clinician,
            [](const HttpResult& h) { return total_of(h) == 1; });
  // Margaret's row is cut short: she might be in it, so nothing may end.
  ASSERT_EQ(upload(kHeader + kOliver + "P0012345,9991234578,HARGREAVES\r\n", feed_system, "sc-snapshot").status, 200);
  auto wl = get_until(engine->http_port(), "/admin/worklist", admin, [](const HttpResult& h) {
    return h.body.find("snapshot-not-applied") != std::string::npos;
  });
  EXPECT_NE(wl.body.find("snapshot-not-applied"), std::string::npos) << wl.body;
  EXPECT_EQ(status_of("Flag", margaret), "active");
  EXPECT_EQ(status_of("EpisodeOfCare", margaret), "active");
}

}  // namespace
}  // namespace cc::test

namespace cc::test {
namespace {

// Every write and read above was audited; the trail proves itself while the engine runs.
TEST_F(ExtractTest, TheAuditTrailOfTheseRequestsVerifies) {
  ASSERT_EQ(upload(kFile, feed_system).status, 200);
  EXPECT_EQ(upload(kFile, other_feed).status, 403);  // a denied write is audited too
  ASSERT_FALSE(patient_id("P0012345").empty());
  std::string out;
  EXPECT_EQ(run_carerecord_status({"audit", "verify", "--data-dir", dir.path + "/data"}, out), 0) << out;
  EXPECT_NE(out.find("verified:"), std::string::npos) << out;
}

}  // namespace
}  // namespace cc::test

namespace cc::test {
namespace {

// The IG officer's view of the trail: who saw whose record, as FHIR AuditEvents, for that role only.
TEST_F(ExtractTest, AnIgOfficerFindsWhoSawAPatientsRecord) {
  ASSERT_EQ(upload(kFile, feed_system).status, 200);
  const std::string margaret = patient_id("P0012345");
  ASSERT_FALSE(margaret.empty());
  get_until(engine->http_port(), "/fhir/EpisodeOfCare?patient=" + margaret, clinician,
            [](const HttpResult& h) { return total_of(h) == 1; });
  const std::string ig = issue("ig-officer", "ig.lead", "RBT");

  EXPECT_EQ(http_get(engine->http_port(), "/fhir/AuditEvent?patient=" + margaret, clinician).status, 403);
  auto r = http_get(engine->http_port(), "/fhir/AuditEvent?patient=Patient/" + margaret, ig);
  ASSERT_EQ(r.status, 200) << r.body;
  auto d = json(r.body);
  ASSERT_GE(total_of(r), 2) << r.body;  // the search by identifier and the episodes read
  bool clinician_seen = false;
  for (auto& e : d["entry"].GetArray()) {
    const auto& ev = e["resource"];
    EXPECT_EQ(ev["resourceType"], "AuditEvent");
    if (std::string(ev["agent"][0]["who"]["identifier"]["value"].GetString()) == "dr.test") clinician_seen = true;
  }
  EXPECT_TRUE(clinician_seen) << r.body;
  // Denials can be listed too, and the IG officer's own searches are on the trail.
  auto denied = http_get(engine->http_port(), "/fhir/AuditEvent?outcome=denied", ig);
  EXPECT_GE(total_of(denied), 1) << denied.body;
  auto own = http_get(engine->http_port(), "/fhir/AuditEvent?agent=ig.lead", ig);
  EXPECT_GE(total_of(own), 2) << own.body;
  if (auto* schema = cc::testing::FhirSchema::shared()) {
    for (auto& e : d["entry"].GetArray()) {
      rapidjson::Document one;
      one.CopyFrom(e["resource"], one.GetAllocator());
      for (const auto& problem : schema->validate(one)) ADD_FAILURE() << problem;
    }
  }
}

}  // namespace
}  // namespace cc::test

namespace cc::test {
namespace {

// Day 1 {Margaret, Oliver}, day 2 {Oliver}, day 3 {Margaret, Oliver} again — byte for byte the same
// file as day 1: Margaret's alert ends on day 2 and is current again on day 3 (the same bytes as an
// older delivery are a new delivery, not a resend).
TEST_F(SnapshotTest, AnItemBackInALaterSnapshotIsCurrentAgain) {
  ASSERT_EQ(upload(kHeader + kMargaret + kOliver, feed_system, "sc-snapshot").status, 200);
  const std::string margaret = patient_id("P0012345");
  ASSERT_FALSE(margaret.empty());
  get_until(engine->http_port(), "/fhir/Flag?patient=" + margaret, clinician,
            [](const HttpResult& h) { return total_of(h) == 1; });
  ASSERT_EQ(upload(kHeader + kOliver, feed_system, "sc-snapshot").status, 200);
  get_until(engine->http_port(), "/fhir/Flag?patient=" + margaret, clinician,
            [](const HttpResult& h) { return h.body.find("\"inactive\"") != std::string::npos; });
  ASSERT_EQ(status_of("Flag", margaret), "inactive");

  auto again = upload(kHeader + kMargaret + kOliver, feed_system, "sc-snapshot");
  ASSERT_EQ(again.status, 200);
  EXPECT_FALSE(json(again.body)["duplicate"].GetBool()) << again.body;
  auto back = get_until(engine->http_port(), "/fhir/Flag?patient=" + margaret, clinician,
                        [](const HttpResult& h) { return h.body.find("\"active\"") != std::string::npos; });
  EXPECT_EQ(status_of("Flag", margaret), "active") << back.body;
  EXPECT_EQ(status_of("EpisodeOfCare", margaret), "active");
}

// A file larger than the record builder's chunk (2,000 rows here) is mapped and written a chunk at a
// time. A snapshot still ends only what the whole file lacks: Oliver, in the second file's first
// chunk, stays; Margaret, absent, ends. Each file counts once as a mapped message.
TEST_F(SnapshotTest, ASnapshotOfManyChunksEndsOnlyWhatTheWholeFileLacks) {
  std::string filler;
  for (int i = 1; i <= 4500; ++i) {
    const std::string n = std::to_string(1000000 + i).substr(1);
    filler += "Q" + n + ",,FILLER,Row,01/01/1960,EQ-" + n + ",Day care,Open,01/02/2024,,,,N,15/03/2024 09:30\r\n";
  }
  ASSERT_EQ(upload(kHeader + kMargaret + filler + kOliver, feed_system, "sc-snapshot").status, 200);
  const std::string margaret = patient_id("P0012345");
  ASSERT_FALSE(margaret.empty());
  get_until(engine->http_port(), "/fhir/Flag?patient=" + margaret, clinician,
            [](const HttpResult& h) { return total_of(h) == 1; });
  const std::string oliver = patient_id("P0012348");
  ASSERT_FALSE(oliver.empty());
  const std::string middle = patient_id("Q002250");
  ASSERT_FALSE(middle.empty());

  ASSERT_EQ(upload(kHeader + kOliver + filler, feed_system, "sc-snapshot").status, 200);
  auto metrics = get_until(engine->http_port(), "/metrics", "", [](const HttpResult& h) {
    return h.body.find("carerecord_messages_mapped_total 2\n") != std::string::npos;
  });
  EXPECT_NE(metrics.body.find("carerecord_messages_mapped_total 2\n"), std::string::npos) << metrics.body;
  EXPECT_EQ(status_of("Flag", margaret), "inactive");
  EXPECT_EQ(status_of("EpisodeOfCare", margaret), "finished");
  EXPECT_EQ(status_of("EpisodeOfCare", oliver), "active");
  EXPECT_EQ(status_of("EpisodeOfCare", middle), "active");  // one episode, not one a delivery
}

// A feed with a watched drop directory: files put there are stored like uploads and moved to
// done/ or failed/ with a report beside them.
class DropDirectoryTest : public ExtractTest {
 protected:
  void SetUp() override {
    drop = dir.path + "/drop";
    std::filesystem::create_directories(drop);
    const std::string config = dir.path + "/drop.json";
    std::ofstream(config) << R"({"development": true, "feeds": [{"name": "sc-drop", "type": "extract",
        "owner_ods": "DEVSC", "mapping": "social-care-episodes", "drop_directory": ")" + drop +
                                 R"(", "drop_poll_seconds": 1}]})";
    engine = std::make_unique<EngineProcess>(dir.path + "/data", std::vector<std::string>{"--config", config});
    clinician = issue("ae-clinician", "dr.test", "RBT");
    ig = issue("ig-officer", "ig.officer", "RBT");
  }
  // Written under a temporary name, then renamed: the way senders are asked to deliver.
  void deliver(const std::string& name, const std::string& content) {
    std::ofstream(drop + "/" + name + ".part", std::ios::binary) << content;
    std::filesystem::rename(drop + "/" + name + ".part", drop + "/" + name);
  }
  bool wait_for(const std::string& path) {
    for (int i = 0; i < 200 && !std::filesystem::exists(path); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return std::filesystem::exists(path);
  }
  std::string read(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::string drop, ig;
};

TEST_F(DropDirectoryTest, AFileDroppedIsStoredAndMovedToDoneWithItsReport) {
  deliver("episodes.csv", kFile);
  ASSERT_TRUE(wait_for(dir.path + "/done/episodes.csv.report.json")) << engine->stderr_text();
  EXPECT_TRUE(std::filesystem::exists(dir.path + "/done/episodes.csv"));
  EXPECT_FALSE(std::filesystem::exists(drop + "/episodes.csv"));
  auto report = json(read(dir.path + "/done/episodes.csv.report.json"));
  ASSERT_TRUE(report.IsObject());
  EXPECT_STREQ(report["outcome"].GetString(), "done");
  EXPECT_TRUE(report["report"]["stored"].GetBool());
  EXPECT_EQ(report["report"]["report"]["rows_rejected"].GetInt64(), 1) << "row problems are reported, good rows kept";
  const std::string margaret = patient_id("P0012345");
  ASSERT_FALSE(margaret.empty());
  auto episodes = get_until(engine->http_port(), "/fhir/EpisodeOfCare?patient=" + margaret, clinician,
                            [](const HttpResult& h) { return total_of(h) == 1; });
  EXPECT_EQ(total_of(episodes), 1) << episodes.body;
  // The write is on the audit trail as the feed owner's.
  auto trail = http_get(engine->http_port(), "/fhir/AuditEvent?subtype=feed-write", ig);
  EXPECT_NE(trail.body.find("drop-directory:"), std::string::npos) << trail.body;
  EXPECT_NE(trail.body.find("feed:sc-drop"), std::string::npos) << trail.body;
}

TEST_F(DropDirectoryTest, AFileWithoutARequiredColumnGoesToFailedWithTheReason) {
  deliver("broken.csv", "person_id,nhs_number\r\nP1,9991234578\r\n");
  ASSERT_TRUE(wait_for(dir.path + "/failed/broken.csv.report.json")) << engine->stderr_text();
  const std::string report = read(dir.path + "/failed/broken.csv.report.json");
  EXPECT_NE(report.find("\"outcome\":\"failed\""), std::string::npos) << report;
  EXPECT_NE(report.find("episode_id"), std::string::npos) << report;
  // A file still being written (.part) is left alone.
  std::ofstream(drop + "/next.csv.part") << kHeader;
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_TRUE(std::filesystem::exists(drop + "/next.csv.part"));
}

TEST(DropDirectoryConfig, AMissingDropDirectoryStopsTheEngineWithTheReason) {
  TempDir dir;
  const std::string config = dir.path + "/drop.json";
  std::ofstream(config) << R"({"development": true, "feeds": [{"name": "sc-drop", "type": "extract",
      "owner_ods": "DEVSC", "mapping": "social-care-episodes", "drop_directory": "/nonexistent/drop"}]})";
  try {
    EngineProcess engine(dir.path + "/data", {"--config", config});
    ADD_FAILURE() << "the engine started without its drop directory";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("drop directory /nonexistent/drop does not exist"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace cc::test
