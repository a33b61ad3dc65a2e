// End to end for the GP feed over real sockets: a GP extract service's transaction Bundle pushed
// to POST /fhir by a feed system; validated, stored before the answer, readable by patient; the
// same push again changes nothing; a push with an invalid NHS number is refused whole with the
// entry and element named; a clinician cannot write.
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "tests/e2e/harness.h"

namespace cc::test {
namespace {

std::string bundle(const std::string& nhs) {
  return R"({"resourceType": "Bundle", "type": "transaction", "entry": [
    {"fullUrl": "urn:uuid:8a6f2c1e-0000-4000-8000-000000000001",
     "resource": {"resourceType": "Patient",
       "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": ")" + nhs + R"("}],
       "name": [{"family": "HARGREAVES", "given": ["Margaret"]}], "gender": "female", "birthDate": "1948-03-12"},
     "request": {"method": "POST", "url": "Patient"}},
    {"fullUrl": "urn:uuid:8a6f2c1e-0000-4000-8000-000000000002",
     "resource": {"resourceType": "AllergyIntolerance",
       "identifier": [{"system": "https://fhir.n81052.nhs.uk/Id/allergy", "value": "AL-1"}],
       "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]},
       "code": {"text": "Penicillin"},
       "patient": {"reference": "urn:uuid:8a6f2c1e-0000-4000-8000-000000000001"}, "recordedDate": "2015-03-04"},
     "request": {"method": "POST", "url": "AllergyIntolerance"}},
    {"fullUrl": "urn:uuid:8a6f2c1e-0000-4000-8000-000000000003",
     "resource": {"resourceType": "Condition",
       "identifier": [{"system": "https://fhir.n81052.nhs.uk/Id/problem", "value": "PR-9"}],
       "code": {"text": "Type 2 diabetes mellitus"},
       "subject": {"reference": "urn:uuid:8a6f2c1e-0000-4000-8000-000000000001"}, "recordedDate": "2019-06-01"},
     "request": {"method": "POST", "url": "Condition"}}]})";
}

class GpFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine = std::make_unique<EngineProcess>(dir.path + "/data");
    gp_system = issue("feed-system", "gp.extract", "N81052");
    clinician = issue("ae-clinician", "dr.test", "RBT");
  }
  std::string issue(const std::string& role, const std::string& user, const std::string& org) {
    std::string t = run_carerecord({"token", "--role", role, "--user", user, "--org", org, "--data-dir", dir.path + "/data"});
    t.erase(t.find_last_not_of("\r\n") + 1);
    return t;
  }
  // The patient with this NHS number once mapped, with the clinician's recorded access to them; ""
  // (and a failure) if they do not appear.
  std::string readable_patient(const std::string& nhs) {
    auto patient = get_until(engine->http_port(), "/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|" + nhs,
                             clinician, [](const HttpResult& h) { return total_of(h) == 1; });
    if (total_of(patient) != 1) {
      ADD_FAILURE() << patient.body;
      return "";
    }
    const std::string id = json(patient.body)["entry"][0]["resource"]["id"].GetString();
    EXPECT_EQ(record_access(engine->http_port(), clinician, id), 200);
    return id;
  }
  HttpResult push(const std::string& body, const std::string& token) {
    return http_request(engine->http_port(), "POST", "/fhir", token, body);
  }
  TempDir dir;
  std::unique_ptr<EngineProcess> engine;
  std::string gp_system, clinician;
};

// A batch with one entry the schema refuses (a criticality FHIR does not allow) is stored for its
// other entries and answered AE-like; the record builder, mapping the stored push again, validates
// it again (only a push accepted whole is mapped without the schema pass), so the refused entry
// never reaches the record.
TEST_F(GpFeedTest, ABatchEntryTheSchemaRefusedNeverReachesTheRecord) {
  std::string body = bundle("9991234578");
  auto replace = [&body](const std::string& from, const std::string& to) { body.replace(body.find(from), from.size(), to); };
  replace(R"("type": "transaction")", R"("type": "batch")");
  replace(R"("code": {"text": "Penicillin"})", R"("code": {"text": "Penicillin"}, "criticality": "extreme")");
  auto r = push(body, gp_system);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("criticality"), std::string::npos) << r.body;
  const std::string id = readable_patient("9991234578");
  ASSERT_FALSE(id.empty());
  auto conditions = get_until(engine->http_port(), "/fhir/Condition?patient=" + id, clinician,
                              [](const HttpResult& h) { return total_of(h) == 1; });
  EXPECT_EQ(total_of(conditions), 1) << conditions.body;
  EXPECT_EQ(total_of(http_get(engine->http_port(), "/fhir/AllergyIntolerance?patient=" + id, clinician)), 0);
}

TEST_F(GpFeedTest, ATransactionIsStoredAndReadableByPatient) {
  auto r = push(bundle("9991234578"), gp_system);
  ASSERT_EQ(r.status, 200) << r.body;
  auto d = json(r.body);
  ASSERT_TRUE(d.IsObject());
  EXPECT_EQ(d["type"], "transaction-response");
  const std::string id = readable_patient("9991234578");
  ASSERT_FALSE(id.empty());
  auto allergies = get_until(engine->http_port(), "/fhir/AllergyIntolerance?patient=" + id, clinician,
                             [](const HttpResult& h) { return total_of(h) == 1; });
  EXPECT_EQ(total_of(allergies), 1) << allergies.body;
  // Provenance names the push's entry the allergy came from.
  EXPECT_NE(allergies.body.find(R"({"url":"entry","valueInteger":1})"), std::string::npos) << allergies.body;
  EXPECT_EQ(total_of(http_get(engine->http_port(), "/fhir/Condition?patient=" + id, clinician)), 1);
  // Temporary ids were rewritten to the record's.
  EXPECT_EQ(allergies.body.find("urn:uuid"), std::string::npos) << allergies.body;

  auto again = push(bundle("9991234578"), gp_system);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, r.body) << "a resent push gets its first answer";
  // The GP's own Patient (the registration the regional patient links to) was not versioned again.
  auto patient = http_get(engine->http_port(), "/fhir/Patient/" + id, clinician);
  ASSERT_EQ(patient.status, 200) << patient.body;
  const std::string registration = json(patient.body)["link"][0]["other"]["reference"].GetString();
  auto history = http_get(engine->http_port(), "/fhir/" + registration + "/_history", clinician);
  EXPECT_EQ(total_of(history), 1) << history.body;
}

// A push accepted whole is written as its validation made it when it was accepted (handed to the
// record builder); a re-map, which maps the stored bytes, must find nothing to change.
TEST_F(GpFeedTest, APushWrittenAsValidatedIsWhatItsStoredBytesGive) {
  ASSERT_EQ(push(bundle("9991234578"), gp_system).status, 200);
  const std::string id = readable_patient("9991234578");
  ASSERT_FALSE(id.empty());
  for (const std::string type : {"AllergyIntolerance", "Condition"}) {
    auto items = get_until(engine->http_port(), "/fhir/" + type + "?patient=" + id, clinician,
                           [](const HttpResult& h) { return total_of(h) == 1; });
    ASSERT_EQ(total_of(items), 1) << items.body;
  }
  auto patient = http_get(engine->http_port(), "/fhir/Patient/" + id, clinician);
  const std::string registration = json(patient.body)["link"][0]["other"]["reference"].GetString();
  // It was written as accepted (the builder, woken after the hand-over, found it there).
  EXPECT_NE(http_get(engine->http_port(), "/metrics", "").body.find("carerecord_gp_pushes_written_as_accepted_total 1"),
            std::string::npos);

  const std::string admin = issue("integration-admin", "it.admin", "RBT");
  auto remapped = http_request(engine->http_port(), "POST", "/admin/remap?feed=dev-gp&since=2000-01-01T00:00:00Z", admin);
  ASSERT_EQ(remapped.status, 200) << remapped.body;
  EXPECT_EQ(json(remapped.body)["messages"].GetInt64(), 1) << remapped.body;
  for (const std::string type : {"AllergyIntolerance", "Condition"}) {
    auto items = json(http_get(engine->http_port(), "/fhir/" + type + "?patient=" + id, clinician).body);
    ASSERT_EQ(items["total"].GetInt64(), 1) << type;
    EXPECT_STREQ(items["entry"][0]["resource"]["meta"]["versionId"].GetString(), "1") << type << " changed on re-map";
  }
  EXPECT_EQ(total_of(http_get(engine->http_port(), "/fhir/" + registration + "/_history", clinician)), 1);
}

TEST_F(GpFeedTest, AnInvalidNhsNumberRefusesTheWholeTransaction) {
  auto r = push(bundle("9991234579"), gp_system);
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("OperationOutcome"), std::string::npos);
  EXPECT_NE(r.body.find("Bundle.entry[0]"), std::string::npos) << r.body;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(total_of(http_get(engine->http_port(), "/fhir/Patient?identifier=9991234579", clinician)), 0);
  auto metrics = http_get(engine->http_port(), "/metrics", "");
  EXPECT_NE(metrics.body.find("carerecord_inbox_messages 0"), std::string::npos) << "a refused push is not stored";
}

std::string text_of(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return sb.GetString();
}

// HAZ-009: a GP's qualified findings (tests/e2e/gp-qualified-findings.json: refuted, query,
// differential, entered in error, family history, negated, not done, not taken) come back from the
// record saying what the GP said: every element as sent, the qualifier above all.
TEST_F(GpFeedTest, QualifiedFindingsKeepTheirQualifiers) {
  std::ifstream in(CC_E2E_SOURCE_DIR "/gp-qualified-findings.json");
  ASSERT_TRUE(in) << "tests/e2e/gp-qualified-findings.json";
  std::stringstream text;
  text << in.rdbuf();
  rapidjson::Document cases;
  cases.Parse(text.str().c_str());
  ASSERT_TRUE(cases.IsObject() && cases["cases"].IsArray());
  constexpr const char* kPatientUrl = "urn:uuid:5c1d7e2a-0000-4000-8000-000000000001";
  constexpr const char* kCaseIds = "https://fhir.n81052.nhs.uk/Id/qualified-finding";

  // One transaction: the patient, then each case with its patient reference and an identifier naming it.
  rapidjson::Document bundle;
  bundle.Parse(R"({"resourceType": "Bundle", "type": "transaction", "entry": [
    {"fullUrl": "urn:uuid:5c1d7e2a-0000-4000-8000-000000000001",
     "resource": {"resourceType": "Patient",
       "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9991234578"}],
       "name": [{"family": "OKAFOR", "given": ["Grace"]}], "gender": "female", "birthDate": "1961-08-19"},
     "request": {"method": "POST", "url": "Patient"}}]})");
  auto& a = bundle.GetAllocator();
  std::map<std::string, int> per_type;
  int n = 0;
  for (const auto& c : cases["cases"].GetArray()) {
    rapidjson::Value resource(c["resource"], a);
    const std::string type = resource["resourceType"].GetString();
    ++per_type[type];
    rapidjson::Value ref(rapidjson::kObjectType);
    ref.AddMember("reference", rapidjson::StringRef(kPatientUrl), a);
    resource.AddMember(rapidjson::Value(c["patient"], a), ref, a);
    rapidjson::Value id(rapidjson::kObjectType);
    id.AddMember("system", rapidjson::StringRef(kCaseIds), a);
    id.AddMember("value", rapidjson::Value(c["name"], a), a);
    rapidjson::Value ids(rapidjson::kArrayType);
    ids.PushBack(id, a);
    resource.AddMember("identifier", ids, a);
    rapidjson::Value entry(rapidjson::kObjectType);
    const std::string full_url = "urn:uuid:5c1d7e2a-0000-4000-8000-1000000000" + std::to_string(10 + n++);
    entry.AddMember("fullUrl", rapidjson::Value(full_url.c_str(), a), a);
    entry.AddMember("resource", resource, a);
    rapidjson::Value request(rapidjson::kObjectType);
    request.AddMember("method", "POST", a);
    request.AddMember("url", rapidjson::Value(type.c_str(), a), a);
    entry.AddMember("request", request, a);
    bundle["entry"].PushBack(entry, a);
  }
  auto r = push(text_of(bundle), gp_system);
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string patient = readable_patient("9991234578");
  ASSERT_FALSE(patient.empty());

  std::map<std::string, rapidjson::Document> stored;  // by type, the searchset of the patient's
  for (const auto& [type, count] : per_type) {
    const int64_t expected = count;
    auto found = get_until(engine->http_port(), "/fhir/" + type + "?patient=" + patient, clinician,
                           [expected](const HttpResult& h) { return total_of(h) == expected; });
    ASSERT_EQ(total_of(found), expected) << type << ": " << found.body;
    stored[type] = json(found.body);
  }
  // Family history is part of the whole record too.
  auto everything = http_get(engine->http_port(), "/fhir/Patient/" + patient + "/$everything", clinician);
  ASSERT_EQ(everything.status, 200) << everything.body;
  EXPECT_NE(everything.body.find(R"("resourceType":"FamilyMemberHistory")"), std::string::npos) << everything.body;
  for (const auto& c : cases["cases"].GetArray()) {
    const std::string name = c["name"].GetString();
    const rapidjson::Value& sent = c["resource"];
    const rapidjson::Value* back = nullptr;
    for (const auto& e : stored[sent["resourceType"].GetString()]["entry"].GetArray())
      for (const auto& id : e["resource"]["identifier"].GetArray())
        if (name == id["value"].GetString()) back = &e["resource"];
    ASSERT_NE(back, nullptr) << name << " is not in the record";
    const char* qualifier = c["qualifier"].GetString();
    const rapidjson::Value* q_sent = rapidjson::Pointer(qualifier).Get(sent);
    const rapidjson::Value* q_back = rapidjson::Pointer(qualifier).Get(*back);
    ASSERT_NE(q_sent, nullptr) << name;
    ASSERT_NE(q_back, nullptr) << name << ": its qualifier " << qualifier << " was lost: " << text_of(*back);
    EXPECT_TRUE(*q_sent == *q_back) << name << ": " << qualifier << " sent " << text_of(*q_sent) << ", read back "
                                    << text_of(*q_back);
    for (auto m = sent.MemberBegin(); m != sent.MemberEnd(); ++m) {
      auto kept = back->FindMember(m->name);
      ASSERT_NE(kept, back->MemberEnd()) << name << ": " << m->name.GetString() << " was lost";
      EXPECT_TRUE(kept->value == m->value) << name << ": " << m->name.GetString() << " sent " << text_of(m->value)
                                           << ", read back " << text_of(kept->value);
    }
  }
}

// What A&E reads in a summary comes from the GP too: a test report grouping its results, a care plan
// and a key contact are kept (they were once ignored with a warning) and served, the report's
// results pointing at the record's own Observations.
TEST_F(GpFeedTest, AReportACarePlanAndAKeyContactFromTheGpAreKept) {
  const std::string body = R"({"resourceType": "Bundle", "type": "transaction", "entry": [
    {"fullUrl": "urn:uuid:7b2e4c9d-0000-4000-8000-000000000001",
     "resource": {"resourceType": "Patient",
       "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9991234578"}],
       "name": [{"family": "BRENNAN", "given": ["Joseph"]}], "gender": "male", "birthDate": "1944-02-29"},
     "request": {"method": "POST", "url": "Patient"}},
    {"fullUrl": "urn:uuid:7b2e4c9d-0000-4000-8000-000000000002",
     "resource": {"resourceType": "Observation", "status": "final",
       "identifier": [{"system": "https://fhir.n81052.nhs.uk/Id/result", "value": "HB-1"}],
       "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1022431000000105", "display": "Haemoglobin estimation"}]},
       "valueQuantity": {"value": 131, "unit": "g/L", "system": "http://unitsofmeasure.org", "code": "g/L"},
       "subject": {"reference": "urn:uuid:7b2e4c9d-0000-4000-8000-000000000001"}, "effectiveDateTime": "2025-02-03"},
     "request": {"method": "POST", "url": "Observation"}},
    {"fullUrl": "urn:uuid:7b2e4c9d-0000-4000-8000-000000000003",
     "resource": {"resourceType": "DiagnosticReport", "status": "final",
       "identifier": [{"system": "https://fhir.n81052.nhs.uk/Id/report", "value": "FBC-1"}],
       "code": {"text": "Full blood count"},
       "subject": {"reference": "urn:uuid:7b2e4c9d-0000-4000-8000-000000000001"}, "issued": "2025-02-04T09:00:00Z",
       "result": [{"reference": "urn:uuid:7b2e4c9d-0000-4000-8000-000000000002"}]},
     "request": {"method": "POST", "url": "DiagnosticReport"}},
    {"fullUrl": "urn:uuid:7b2e4c9d-0000-4000-8000-000000000004",
     "resource": {"resourceType": "CarePlan", "status": "active", "intent": "plan",
       "identifier": [{"system": "https://fhir.n81052.nhs.uk/Id/care-plan", "value": "CP-1"}],
       "title": "COPD self-management plan", "created": "2024-11-11",
       "subject": {"reference": "urn:uuid:7b2e4c9d-0000-4000-8000-000000000001"}},
     "request": {"method": "POST", "url": "CarePlan"}},
    {"fullUrl": "urn:uuid:7b2e4c9d-0000-4000-8000-000000000005",
     "resource": {"resourceType": "RelatedPerson",
       "identifier": [{"system": "https://fhir.n81052.nhs.uk/Id/contact", "value": "NOK-1"}],
       "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "WIFE"}]}],
       "name": [{"family": "BRENNAN", "given": ["Mary"]}], "telecom": [{"system": "phone", "value": "01632 960123"}],
       "patient": {"reference": "urn:uuid:7b2e4c9d-0000-4000-8000-000000000001"}},
     "request": {"method": "POST", "url": "RelatedPerson"}}]})";
  auto r = push(body, gp_system);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.find("type-not-kept"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("\"warning\""), std::string::npos) << "nothing in the push was dropped: " << r.body;
  const std::string id = readable_patient("9991234578");
  ASSERT_FALSE(id.empty());
  std::map<std::string, rapidjson::Document> found;
  for (const std::string type : {"Observation", "DiagnosticReport", "CarePlan", "RelatedPerson"}) {
    auto items = get_until(engine->http_port(), "/fhir/" + type + "?patient=" + id, clinician,
                           [](const HttpResult& h) { return total_of(h) == 1; });
    ASSERT_EQ(total_of(items), 1) << type << ": " << items.body;
    found[type] = json(items.body);
  }
  const std::string observation = found["Observation"]["entry"][0]["resource"]["id"].GetString();
  EXPECT_EQ(std::string(found["DiagnosticReport"]["entry"][0]["resource"]["result"][0]["reference"].GetString()),
            "Observation/" + observation);
  EXPECT_STREQ(found["CarePlan"]["entry"][0]["resource"]["title"].GetString(), "COPD self-management plan");
  EXPECT_STREQ(found["RelatedPerson"]["entry"][0]["resource"]["relationship"][0]["coding"][0]["code"].GetString(), "WIFE");
}

TEST_F(GpFeedTest, OnlyAFeedSystemMayWrite) {
  EXPECT_EQ(push(bundle("9991234578"), clinician).status, 403);
  EXPECT_EQ(push(bundle("9991234578"), "").status, 401);
}

}  // namespace
}  // namespace cc::test
