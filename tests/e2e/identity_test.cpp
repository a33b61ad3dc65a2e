// End to end for the patient index over real sockets: one person's data from four feeds (a
// hospital's HL7 over MLLP, a GP's bundle over HTTP, a council's and a mental health trust's
// extracts) readable under one Patient; a right NHS number with a wrong birth date held and
// resolved by a person; a hospital merge and its unmerge.
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "tests/e2e/harness.h"
#include "tests/mapping/fhir_schema.h"

namespace cc::test {
namespace {

const std::string kNhs = "9991234578";

// An ADT message for the hospital's registration `mrn` (PID-3 carries the NHS number when given).
std::string adt(const std::string& event, const std::string& control_id, const std::string& mrn,
                const std::string& nhs, const std::string& birth = "19480312", const std::string& extra = "") {
  std::string pid3 = mrn + "^^^RBT^MR";
  if (!nhs.empty()) pid3 += "~" + nhs + "^^^NHS^NH";
  return "MSH|^~\\&|PAS|RBT|CARERECORD|CHESHIRE|20260315101500||ADT^" + event + "^ADT_A01|" + control_id +
         "|P|2.4\rEVN|" + event + "|20260315101500\rPID|1||" + pid3 + "||HARGREAVES^MARGARET^^^MRS||" + birth +
         "|F|||1 Church Lane^^CREWE^CHESHIRE^CW1 2AB^GBR^H\r" +
         (extra.empty() ? "PV1|1|I|WD7^^12^RBT20||||||||||||||||" + control_id + "^^^RBT^VN|||||||||||||||||||||||||" +
                              "20260315101500\r"
                        : extra);
}

const std::string kGpBundle = R"({"resourceType": "Bundle", "type": "transaction", "entry": [
    {"fullUrl": "urn:uuid:8a6f2c1e-0000-4000-8000-000000000001",
     "resource": {"resourceType": "Patient",
       "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9991234578"}],
       "name": [{"family": "HARGREAVES", "given": ["Margaret"]}], "gender": "female", "birthDate": "1948-03-12"},
     "request": {"method": "POST", "url": "Patient"}},
    {"fullUrl": "urn:uuid:8a6f2c1e-0000-4000-8000-000000000002",
     "resource": {"resourceType": "AllergyIntolerance",
       "identifier": [{"system": "https://fhir.n81052.nhs.uk/Id/allergy", "value": "AL-1"}],
       "code": {"text": "Penicillin"},
       "patient": {"reference": "urn:uuid:8a6f2c1e-0000-4000-8000-000000000001"}, "recordedDate": "2015-03-04"},
     "request": {"method": "POST", "url": "AllergyIntolerance"}}]})";

const std::string kHeader =
    "person_id,nhs_number,family_name,given_name,birth_date,episode_id,service,status,start_date,end_date,"
    "lead_worker,team,safeguarding,last_updated\r\n";

std::string extract_row(const std::string& person_id, const std::string& nhs, const std::string& episode,
                        const std::string& service, const std::string& given = "Margaret") {
  return person_id + "," + nhs + ",HARGREAVES," + given + ",12/03/1948," + episode + "," + service +
         ",Open,01/02/2024,,Sam Patel,Crewe,N,15/03/2024 09:30\r\n";
}

class IdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string config = dir.path + "/feeds.json";
    std::ofstream(config) << R"({"development": true, "feeds": [
        {"name": "rbt-pas", "sending_facilities": ["RBT"]},
        {"name": "gp", "type": "gp-fhir", "owner_ods": "N81052"},
        {"name": "social-care", "type": "extract", "owner_ods": "DEVSC", "mapping": "social-care-episodes"},
        {"name": "mental-health", "type": "extract", "owner_ods": "RXA", "mapping": "social-care-episodes"}]})";
    engine = std::make_unique<EngineProcess>(dir.path + "/data", std::vector<std::string>{"--config", config});
    gp = issue("feed-system", "gp.extract", "N81052");
    council = issue("feed-system", "sc.system", "DEVSC");
    trust = issue("feed-system", "rio.system", "RXA");
    clinician = issue("ae-clinician", "dr.test", "RBT");
    admin = issue("integration-admin", "it.admin", "RBT");
    ig = issue("ig-officer", "ig.officer", "RBT");
  }
  std::string issue(const std::string& role, const std::string& user, const std::string& org) {
    std::string t = run_carerecord({"token", "--role", role, "--user", user, "--org", org, "--data-dir", dir.path + "/data"});
    t.erase(t.find_last_not_of("\r\n") + 1);
    return t;
  }
  HttpResult post(const std::string& path, const std::string& token, const std::string& body) {
    return http_request(engine->http_port(), "POST", path, token, body);
  }
  // The patient found by an identifier once exactly one is found ("" otherwise).
  std::string patient_by(const std::string& identifier) {
    auto r = get_until(engine->http_port(), "/fhir/Patient?identifier=" + identifier, clinician,
                       [](const HttpResult& h) { return total_of(h) == 1; });
    if (total_of(r) != 1) return "";
    return json(r.body)["entry"][0]["resource"]["id"].GetString();
  }
  int64_t count(const std::string& type, const std::string& patient, int64_t want) {
    auto r = get_until(engine->http_port(), "/fhir/" + type + "?patient=Patient/" + patient, clinician,
                       [want](const HttpResult& h) { return total_of(h) == want; });
    return total_of(r);
  }

  TempDir dir;
  std::unique_ptr<EngineProcess> engine;
  std::string gp, council, trust, clinician, admin, ig;
};

TEST_F(IdentityTest, OnePersonFromFourFeedsIsOnePatient) {
  MllpClient pas(engine->mllp_port());
  ASSERT_EQ(hl7_field(pas.exchange(adt("A01", "ADM1", "RBT555", kNhs)), "MSA", 1), "AA");
  ASSERT_EQ(post("/fhir", gp, kGpBundle).status, 200);
  // The council knows her by its own person id only: accepted, kept apart, put to a person.
  ASSERT_EQ(post("/ingest/social-care", council, kHeader + extract_row("P0012345", "", "EP-1", "Home care")).status, 200);
  ASSERT_EQ(post("/ingest/mental-health", trust, kHeader + extract_row("RIO-77", kNhs, "MH-1", "Memory clinic", "Maggie")).status,
            200);

  const std::string patient = patient_by(kNhs);
  ASSERT_FALSE(patient.empty());
  EXPECT_EQ(count("Encounter", patient, 1), 1);
  EXPECT_EQ(count("AllergyIntolerance", patient, 1), 1);
  EXPECT_EQ(count("EpisodeOfCare", patient, 1), 1) << "the mental health episode; the council's is not joined yet";
  const std::string council_only = patient_by("P0012345");
  ASSERT_FALSE(council_only.empty());
  EXPECT_NE(council_only, patient);
  auto work = get_until(engine->http_port(), "/admin/identity/worklist", admin,
                        [](const HttpResult& h) { return h.body.find("P0012345") != std::string::npos ||
                                                         h.body.find("\"local\"") != std::string::npos; });
  ASSERT_EQ(work.status, 200) << work.body;
  auto items = json(work.body);
  ASSERT_EQ(items["items"].Size(), 1u) << work.body;
  EXPECT_STREQ(items["items"][0]["state"].GetString(), "local");
  ASSERT_GE(items["items"][0]["candidates"].Size(), 1u) << work.body;
  EXPECT_EQ(std::string(items["items"][0]["candidates"][0]["patient"].GetString()), "Patient/" + patient);
  EXPECT_EQ(http_get(engine->http_port(), "/admin/identity/worklist", clinician).status, 403);
  // Reading the work-list showed this patient's demographics as a candidate: the trail says so,
  // and their subject access report lists it.
  auto seen = http_get(engine->http_port(), "/admin/ig/reports/patient-access?patient=Patient/" + patient, ig);
  EXPECT_NE(seen.body.find("identity-worklist"), std::string::npos) << seen.body;

  // Its next file carries the NHS number: joined, the work-list empties.
  ASSERT_EQ(post("/ingest/social-care", council, kHeader + extract_row("P0012345", kNhs, "EP-1", "Home care")).status,
            200);
  EXPECT_EQ(count("EpisodeOfCare", patient, 2), 2);
  EXPECT_EQ(patient_by("P0012345"), patient);
  EXPECT_EQ(patient_by("RIO-77"), patient);
  EXPECT_EQ(patient_by("RBT555"), patient);
  auto read = http_get(engine->http_port(), "/fhir/Patient/" + patient, clinician);
  ASSERT_EQ(read.status, 200) << read.body;
  auto p = json(read.body);
  EXPECT_EQ(p["link"].Size(), 4u) << read.body;  // hospital, GP, council, mental health trust
  EXPECT_STREQ(p["name"][0]["family"].GetString(), "HARGREAVES");
  // The mental health trust knows her as Maggie: surfaced for that source (the others agree once
  // normalised), and the whole is valid FHIR R4.
  ASSERT_TRUE(p.HasMember("extension")) << read.body;
  ASSERT_EQ(p["extension"].Size(), 1u) << read.body;
  EXPECT_NE(read.body.find(R"({"url":"given","valueString":"MAGGIE"})"), std::string::npos) << read.body;
  if (testing::FhirSchema* schema = testing::FhirSchema::shared()) {
    auto problems = schema->validate(p);
    EXPECT_TRUE(problems.empty()) << problems.front() << "\n" << read.body;
  }
  EXPECT_EQ(json(http_get(engine->http_port(), "/admin/identity/worklist", admin).body)["items"].Size(), 0u);
  // Each item still says where it came from.
  auto episodes = json(http_get(engine->http_port(), "/fhir/EpisodeOfCare?patient=Patient/" + patient, clinician).body);
  std::set<std::string> sources;
  for (auto& e : episodes["entry"].GetArray()) sources.insert(e["resource"]["meta"]["source"].GetString());
  EXPECT_EQ(sources.size(), 2u);
}

// The identity work-list shows demographics to confirm a match, but never a restricted patient's
// whereabouts (PD1-12 Y): their registration's postcode is left out, another's is shown.
TEST_F(IdentityTest, TheWorklistShowsNoRestrictedPatientsPostcode) {
  MllpClient pas(engine->mllp_port());
  ASSERT_EQ(hl7_field(pas.exchange(adt("A28", "RES1", "RBT901", "", "19850722",
                                       "PD1|||OVER SURGERY^^^^^^^^^N81029|||||||||Y\r")), "MSA", 1), "AA");
  ASSERT_EQ(hl7_field(pas.exchange(adt("A28", "OPEN1", "RBT902", "", "19700101", "PV1|1|N\r")), "MSA", 1), "AA");
  auto work = get_until(engine->http_port(), "/admin/identity/worklist", admin,
                        [](const HttpResult& h) { return json(h.body).IsObject() && json(h.body)["items"].Size() == 2; });
  ASSERT_EQ(work.status, 200) << work.body;
  int restricted_seen = 0, open_seen = 0;
  for (auto& item : json(work.body)["items"].GetArray()) {
    const std::string postcode = item["demographics"]["postcode"].GetString();
    if (std::string(item["demographics"]["birth_date"].GetString()) == "1985-07-22") {
      ++restricted_seen;
      EXPECT_EQ(postcode, "") << work.body;
    } else {
      ++open_seen;
      EXPECT_EQ(postcode, "CW12AB") << work.body;
    }
  }
  EXPECT_EQ(restricted_seen, 1) << work.body;
  EXPECT_EQ(open_seen, 1) << work.body;
}

TEST_F(IdentityTest, ARightNhsNumberWithAWrongBirthDateIsHeldUntilAPersonLinksIt) {
  ASSERT_EQ(post("/fhir", gp, kGpBundle).status, 200);
  const std::string patient = patient_by(kNhs);
  ASSERT_FALSE(patient.empty());
  MllpClient pas(engine->mllp_port());
  // The message is sound (AA); matching is the record's job.
  ASSERT_EQ(hl7_field(pas.exchange(adt("A01", "ADM1", "RBT555", kNhs, "19841203")), "MSA", 1), "AA");
  auto wl = get_until(engine->http_port(), "/admin/worklist", admin,
                      [](const HttpResult& h) { return h.body.find("identity-conflict") != std::string::npos; });
  EXPECT_NE(wl.body.find("birth date"), std::string::npos) << wl.body;
  ASSERT_EQ(record_access(engine->http_port(), clinician, patient), 200);
  EXPECT_EQ(count("Encounter", patient, 0), 0) << "held apart: nothing on the GP-registered patient's record";

  auto work = json(http_get(engine->http_port(), "/admin/identity/worklist", admin).body);
  ASSERT_EQ(work["items"].Size(), 1u);
  EXPECT_STREQ(work["items"][0]["state"].GetString(), "held");
  const std::string registration = work["items"][0]["registration"].GetString();
  const std::string body = R"({"registration": ")" + registration + R"(", "patient": "Patient/)" + patient +
                           R"(", "reason": "Birth date confirmed with the patient; PAS corrected"})";
  EXPECT_EQ(post("/admin/identity/link", clinician, body).status, 403);
  EXPECT_EQ(post("/admin/identity/link", admin, R"({"registration": ")" + registration + R"("})").status, 400);
  auto linked = post("/admin/identity/link", admin, body);
  ASSERT_EQ(linked.status, 200) << linked.body;
  EXPECT_STREQ(json(linked.body)["state"].GetString(), "linked");
  EXPECT_EQ(count("Encounter", patient, 1), 1);
  // The IG officer sees who linked whom, and why.
  auto trail = http_get(engine->http_port(), "/fhir/AuditEvent?agent=it.admin", ig);
  EXPECT_NE(trail.body.find("identity-link"), std::string::npos) << trail.body;
  EXPECT_NE(trail.body.find("PAS corrected"), std::string::npos) << trail.body;
}

TEST_F(IdentityTest, ThePatientIndexIsWorkedFromTheCommandLineWithTheEngineStopped) {
  ASSERT_EQ(post("/fhir", gp, kGpBundle).status, 200);
  const std::string patient = patient_by(kNhs);
  ASSERT_FALSE(patient.empty());
  MllpClient pas(engine->mllp_port());
  ASSERT_EQ(hl7_field(pas.exchange(adt("A01", "ADM1", "RBT555", kNhs, "19841203")), "MSA", 1), "AA");
  get_until(engine->http_port(), "/admin/worklist", admin,
            [](const HttpResult& h) { return h.body.find("identity-conflict") != std::string::npos; });
  ASSERT_EQ(record_access(engine->http_port(), clinician, patient), 200);
  const std::string data = dir.path + "/data";
  EXPECT_THROW(run_carerecord({"identity", "worklist", "--data-dir", data}), std::exception)
      << "not while the engine runs: its decisions go through the API then";
  ASSERT_EQ(engine->terminate(), 0);

  const std::string list = run_carerecord({"identity", "worklist", "--data-dir", data});
  EXPECT_NE(list.find(" held "), std::string::npos) << list;
  EXPECT_NE(list.find("candidate Patient/" + patient), std::string::npos) << list;
  const std::string registration = list.substr(0, list.find(' '));
  ASSERT_EQ(registration.rfind("Patient/", 0), 0u) << list;
  EXPECT_THROW(run_carerecord({"identity", "link", "--registration", registration, "--patient", "Patient/" + patient,
                               "--data-dir", data}),
               std::exception)
      << "a reason is required";
  const std::string done = run_carerecord({"identity", "link", "--registration", registration, "--patient",
                                           "Patient/" + patient, "--reason", "Birth date confirmed by telephone",
                                           "--data-dir", data});
  EXPECT_NE(done.find("now read under Patient/" + patient), std::string::npos) << done;
  const std::string trail = run_carerecord({"audit", "list", "--data-dir", data});
  EXPECT_NE(trail.find("action=cli-identity-worklist"), std::string::npos) << trail;
  EXPECT_NE(trail.find("identity-link " + registration), std::string::npos) << trail;
  EXPECT_NE(trail.find("Birth date confirmed by telephone"), std::string::npos) << trail;

  engine = std::make_unique<EngineProcess>(data, std::vector<std::string>{"--config", dir.path + "/feeds.json"});
  EXPECT_EQ(count("Encounter", patient, 1), 1) << "the linked registration's encounter is on the patient's record";
  EXPECT_EQ(json(http_get(engine->http_port(), "/admin/identity/worklist", admin).body)["items"].Size(), 0u);
}

TEST_F(IdentityTest, AHospitalMergeMovesTheDataAndAnUnmergeMovesItBack) {
  MllpClient pas(engine->mllp_port());
  ASSERT_EQ(hl7_field(pas.exchange(adt("A01", "ADM1", "RBT555", kNhs)), "MSA", 1), "AA");
  // A second registration made in a hurry, without the NHS number.
  ASSERT_EQ(hl7_field(pas.exchange(adt("A01", "ADM2", "RBT556", "")), "MSA", 1), "AA");
  const std::string patient = patient_by(kNhs);
  ASSERT_FALSE(patient.empty());
  EXPECT_EQ(count("Encounter", patient, 1), 1);
  ASSERT_EQ(hl7_field(pas.exchange(adt("A40", "MRG1", "RBT555", kNhs, "19480312", "MRG|RBT556^^^RBT^MR\r")), "MSA", 1),
            "AA");
  EXPECT_EQ(count("Encounter", patient, 2), 2);
  EXPECT_EQ(patient_by("RBT556"), patient);

  const std::string retired = json(http_get(engine->http_port(), "/fhir/Patient?identifier=RBT556", clinician).body)
                                  ["entry"][0]["resource"]["link"][1]["other"]["reference"].GetString();
  auto undone = post("/admin/identity/unmerge", admin,
                     R"({"registration": ")" + retired + R"(", "reason": "merged the wrong registrations"})");
  ASSERT_EQ(undone.status, 200) << undone.body;
  EXPECT_EQ(count("Encounter", patient, 1), 1);
  EXPECT_NE(patient_by("RBT556"), patient);
  EXPECT_EQ(post("/admin/identity/unmerge", admin,
                 R"({"registration": ")" + retired + R"(", "reason": "again"})").status, 404);
}

}  // namespace
}  // namespace cc::test
