// End to end for mappings as data: a result feed over MLLP readable per patient over FHIR; a
// correction as a new version; reload (admin endpoint and SIGHUP) refusing a broken directory and
// taking a fixed one; the codes-without-a-mapping report; re-map adding versions only where the
// output changed; the offline re-map refusing to run beside an engine.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "tests/e2e/harness.h"

namespace cc::test {
namespace {

namespace fs = std::filesystem;

std::string oru(const std::string& control_id, const std::string& status, const std::string& potassium,
                const std::string& reported) {
  return "MSH|^~\\&|WINPATH|RBT|CARERECORD|CHESHIRE|" + reported + "||ORU^R01^ORU_R01|" + control_id + "|P|2.4\r"
         "PID|1||RBT2000001^^^RBT^MR~9991234578^^^NHS^NH||HARGREAVES^MARGARET||19480312|F\r"
         "OBR|1|ORD1^ICE|24U1^WINPATH|UE^Urea and electrolytes^WINPATH|||20260316070500|||||||||||||||" + reported +
         "||CH|" + status + "\r"
         "OBX|1|NM|K^Potassium^WINPATH||" + potassium + "|mmol/L|3.5-5.3||||" + status + "\r"
         "OBX|2|NM|CREA^Creatinine^WINPATH||88|umol/L|45-84|H|||" + status + "\r";
}

class MappingE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mappings = dir.path + "/mappings";
    fs::copy(CC_DEFAULT_MAPPINGS_DIR, mappings, fs::copy_options::recursive);
    engine = std::make_unique<EngineProcess>(dir.path + "/data", std::vector<std::string>{"--mappings", mappings});
    token = issue("ae-clinician", "dr.test");
    admin = issue("integration-admin", "it.admin");
  }
  std::string issue(const std::string& role, const std::string& user) {
    std::string t = run_carerecord({"token", "--role", role, "--user", user, "--org", "RBT", "--data-dir", dir.path + "/data"});
    t.erase(t.find_last_not_of("\r\n") + 1);
    return t;
  }
  std::string patient_id() {
    auto r = get_until(engine->http_port(), "/fhir/Patient?identifier=RBT2000001", token,
                       [](const HttpResult& h) { return total_of(h) == 1; });
    auto d = json(r.body);
    if (!d.IsObject() || total_of(r) != 1) return "";
    // Results alone make no relationship: the clinician records the patient's permission to view.
    const std::string id = d["entry"][0]["resource"]["id"].GetString();
    EXPECT_EQ(record_access(engine->http_port(), token, id), 200);
    return id;
  }
  // The Observation whose code text is `name`, from the patient's observations.
  rapidjson::Document observation(const std::string& patient, const std::string& name) {
    auto r = http_get(engine->http_port(), "/fhir/Observation?patient=Patient/" + patient, token);
    auto d = json(r.body);
    rapidjson::Document out;
    if (!d.IsObject() || !d.HasMember("entry")) return out;
    for (auto& e : d["entry"].GetArray())
      if (std::string(e["resource"]["code"]["text"].GetString()) == name) out.CopyFrom(e["resource"], out.GetAllocator());
    return out;
  }
  void add_creatinine_to_table() {
    const std::string path = mappings + "/tables/pathology-tests.json";
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    std::string text = s.str();
    const std::string anchor = "\"codes\": {";
    text.insert(text.find(anchor) + anchor.size(),
                "\n    \"CREA\": {\"code\": \"14682-9\", \"display\": \"Creatinine [Moles/volume] in Serum or Plasma\"},");
    std::ofstream(path, std::ios::trunc) << text;
  }

  TempDir dir;
  std::string mappings;
  std::unique_ptr<EngineProcess> engine;
  std::string token, admin;
};

TEST_F(MappingE2eTest, ResultsAreReadablePerPatientAndACorrectionIsANewVersion) {
  MllpClient c(engine->mllp_port());
  ASSERT_EQ(hl7_field(c.exchange(oru("LAB1", "P", "6.1", "20260316080000")), "MSA", 1), "AA");
  const std::string patient = patient_id();
  ASSERT_FALSE(patient.empty());
  auto obs = get_until(engine->http_port(), "/fhir/Observation?patient=Patient/" + patient, token,
                       [](const HttpResult& h) { return total_of(h) == 2; });
  ASSERT_EQ(total_of(obs), 2) << obs.body;
  auto reports = http_get(engine->http_port(), "/fhir/DiagnosticReport?patient=" + patient, token);
  ASSERT_EQ(total_of(reports), 1) << reports.body;
  EXPECT_EQ(json(reports.body)["entry"][0]["resource"]["status"], "preliminary");

  ASSERT_EQ(hl7_field(c.exchange(oru("LAB2", "C", "4.9", "20260316120000")), "MSA", 1), "AA");
  auto corrected = get_until(engine->http_port(), "/fhir/DiagnosticReport?patient=" + patient, token,
                             [](const HttpResult& h) { return h.body.find("\"corrected\"") != std::string::npos; });
  ASSERT_NE(corrected.body.find("\"corrected\""), std::string::npos) << corrected.body;
  auto potassium = observation(patient, "Potassium");
  ASSERT_TRUE(potassium.IsObject());
  EXPECT_DOUBLE_EQ(potassium["valueQuantity"]["value"].GetDouble(), 4.9);
  const std::string id = potassium["id"].GetString();
  auto history = http_get(engine->http_port(), "/fhir/Observation/" + id + "/_history", token);
  EXPECT_EQ(total_of(history), 2) << history.body;
  auto first = json(http_get(engine->http_port(), "/fhir/Observation/" + id + "/_history/1", token).body);
  EXPECT_EQ(first["status"], "preliminary");
  EXPECT_DOUBLE_EQ(first["valueQuantity"]["value"].GetDouble(), 6.1);
}

TEST_F(MappingE2eTest, ReloadRefusesABrokenDirectoryAndTakesAFixedOne) {
  // Only an integration administrator may reload.
  EXPECT_EQ(http_request(engine->http_port(), "POST", "/admin/mappings/reload", token).status, 403);

  std::ofstream(mappings + "/broken.json") << "{\"name\": \"broken\", \"messages\": [{\"type\": \"SIU\"}],\n"
                                              " \"resources\": [{\"resource\": \"Appointment\", \"id\": \"{{SCH-2 | nope}}\", \"template\": {}}]}";
  auto refused = http_request(engine->http_port(), "POST", "/admin/mappings/reload", admin);
  EXPECT_EQ(refused.status, 422);
  EXPECT_NE(refused.body.find("broken.json:2:"), std::string::npos) << refused.body;
  EXPECT_NE(refused.body.find("unknown transform"), std::string::npos) << refused.body;

  // The mappings in force still map results.
  MllpClient c(engine->mllp_port());
  ASSERT_EQ(hl7_field(c.exchange(oru("LAB1", "F", "4.2", "20260316080000")), "MSA", 1), "AA");
  const std::string patient = patient_id();
  ASSERT_FALSE(patient.empty());
  auto obs = get_until(engine->http_port(), "/fhir/Observation?patient=" + patient, token,
                       [](const HttpResult& h) { return total_of(h) == 2; });
  EXPECT_EQ(total_of(obs), 2);

  fs::remove(mappings + "/broken.json");
  add_creatinine_to_table();
  EXPECT_EQ(http_request(engine->http_port(), "POST", "/admin/mappings/reload", admin).status, 200);
  ASSERT_EQ(hl7_field(c.exchange(oru("LAB2", "F", "4.2", "20260317080000")), "MSA", 1), "AA");
  auto mapped = get_until(engine->http_port(), "/fhir/Observation?patient=" + patient, token,
                          [](const HttpResult& h) { return h.body.find("14682-9") != std::string::npos; });
  EXPECT_NE(mapped.body.find("14682-9"), std::string::npos) << "the reloaded table was not used";
}

TEST_F(MappingE2eTest, SighupReloadsTheMappings) {
  add_creatinine_to_table();
  ASSERT_EQ(kill(engine->pid(), SIGHUP), 0);
  // Reloading is quick; the log says when it is done.
  for (int i = 0; i < 200 && engine->stderr_text().find("mappings reloaded") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  ASSERT_NE(engine->stderr_text().find("mappings reloaded"), std::string::npos) << engine->stderr_text();
  MllpClient c(engine->mllp_port());
  ASSERT_EQ(hl7_field(c.exchange(oru("LAB1", "F", "4.2", "20260316080000")), "MSA", 1), "AA");
  const std::string patient = patient_id();
  auto mapped = get_until(engine->http_port(), "/fhir/Observation?patient=" + patient, token,
                          [](const HttpResult& h) { return h.body.find("14682-9") != std::string::npos; });
  EXPECT_NE(mapped.body.find("14682-9"), std::string::npos);
}

TEST_F(MappingE2eTest, RemapAddsVersionsOnlyWhereTheOutputChanged) {
  MllpClient c(engine->mllp_port());
  ASSERT_EQ(hl7_field(c.exchange(oru("LAB1", "F", "4.2", "20260316080000")), "MSA", 1), "AA");
  const std::string patient = patient_id();
  ASSERT_FALSE(patient.empty());
  get_until(engine->http_port(), "/fhir/Observation?patient=" + patient, token,
            [](const HttpResult& h) { return total_of(h) == 2; });

  // CREA is not in the shipped table: kept as sent, and on the report.
  EXPECT_EQ(http_get(engine->http_port(), "/admin/unmapped-codes", token).status, 403);
  auto report = json(http_get(engine->http_port(), "/admin/unmapped-codes", admin).body);
  ASSERT_TRUE(report.IsObject());
  bool listed = false;
  for (auto& item : report["items"].GetArray()) {
    if (std::string(item["code"].GetString()) != "CREA") continue;
    listed = true;
    EXPECT_EQ(item["table"], "pathology-tests");
    EXPECT_EQ(item["messages"].GetInt64(), 1);
    EXPECT_FALSE(item["mapped_now"].GetBool());
  }
  EXPECT_TRUE(listed);

  add_creatinine_to_table();
  ASSERT_EQ(http_request(engine->http_port(), "POST", "/admin/mappings/reload", admin).status, 200);
  auto remapped = http_request(engine->http_port(), "POST", "/admin/remap?feed=dev-adt&since=2000-01-01T00:00:00Z", admin);
  ASSERT_EQ(remapped.status, 200) << remapped.body;
  EXPECT_EQ(json(remapped.body)["messages"].GetInt64(), 1) << remapped.body;

  auto creatinine = observation(patient, "Creatinine");
  ASSERT_TRUE(creatinine.IsObject());
  EXPECT_NE(http_get(engine->http_port(), "/fhir/Observation/" + std::string(creatinine["id"].GetString()), token)
                .body.find("14682-9"),
            std::string::npos);
  EXPECT_STREQ(creatinine["meta"]["versionId"].GetString(), "2");
  auto potassium = observation(patient, "Potassium");
  EXPECT_STREQ(potassium["meta"]["versionId"].GetString(), "1") << "unchanged output must not add a version";
  auto again = json(http_get(engine->http_port(), "/admin/unmapped-codes", admin).body);
  for (auto& item : again["items"].GetArray()) {
    if (std::string(item["code"].GetString()) != "CREA") continue;
    EXPECT_TRUE(item["mapped_now"].GetBool());
    EXPECT_EQ(item["messages"].GetInt64(), 1) << "a re-mapped message is not counted again";
  }

  // A second re-map changes nothing.
  ASSERT_EQ(http_request(engine->http_port(), "POST", "/admin/remap?since=20000101", admin).status, 200);
  EXPECT_STREQ(observation(patient, "Creatinine")["meta"]["versionId"].GetString(), "2");
}

TEST_F(MappingE2eTest, OfflineRemapRefusesToRunBesideTheEngineAndRunsAfterIt) {
  MllpClient c(engine->mllp_port());
  ASSERT_EQ(hl7_field(c.exchange(oru("LAB1", "F", "4.2", "20260316080000")), "MSA", 1), "AA");
  const std::string patient = patient_id();
  get_until(engine->http_port(), "/fhir/Observation?patient=" + patient, token,
            [](const HttpResult& h) { return total_of(h) == 2; });
  std::string out;
  EXPECT_NE(run_carerecord_status({"remap", "--data-dir", dir.path + "/data", "--since", "20000101", "--mappings", mappings}, out),
            0);
  EXPECT_NE(out.find("another carerecord process"), std::string::npos) << out;

  EXPECT_EQ(engine->terminate(), 0);
  add_creatinine_to_table();
  ASSERT_EQ(run_carerecord_status({"remap", "--data-dir", dir.path + "/data", "--since", "20000101", "--mappings", mappings}, out),
            0)
      << out;
  EXPECT_NE(out.find("re-mapped 1 message(s): 1 mapped"), std::string::npos) << out;
  engine = std::make_unique<EngineProcess>(dir.path + "/data", std::vector<std::string>{"--mappings", mappings});
  auto creatinine = observation(patient, "Creatinine");
  ASSERT_TRUE(creatinine.IsObject());
  EXPECT_STREQ(creatinine["meta"]["versionId"].GetString(), "2");
  EXPECT_STREQ(observation(patient, "Potassium")["meta"]["versionId"].GetString(), "1");
}

}  // namespace
}  // namespace cc::test
