// Hand-written GP feed cases: each rule of adapters/fhir/README.md with the issue it gives, and
// the outputs (stable ids, rewritten references, patient ids, event times) of a good push.
#include <set>

#include <gtest/gtest.h>

#include "adapters/fhir/fhir_time.h"
#include "adapters/fhir/gp_ingest.h"
#include "adapters/fhir/resource_rules.h"
#include "engine/core/json_input.h"
#include "tests/fhir_ingest/test_support.h"
#include "tests/mapping/fhir_schema.h"

namespace cc::fhir_ingest {
namespace {

using testing::describe;
using testing::has_rule;
using testing::issues_with_rule;
using testing::test_nhs_number;
using testing::to_json;

const std::string kPatientUrl = "urn:uuid:7f1c0a6e-0000-4000-8000-000000000001";
const std::string kEncounterUrl = "urn:uuid:7f1c0a6e-0000-4000-8000-000000000002";
const std::string kConditionUrl = "urn:uuid:7f1c0a6e-0000-4000-8000-000000000003";
const std::string kObservationUrl = "urn:uuid:7f1c0a6e-0000-4000-8000-000000000004";

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

std::string patient(const std::string& nhs) {
  std::string json = R"({"resourceType":"Patient","id":"p1",
    "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"NHS"}],
    "name":[{"family":"Testpatient","given":["Alex"]}],"gender":"unknown","birthDate":"1970-01-01"})";
  replace_all(json, "NHS", nhs);
  return json;
}

std::string encounter(const std::string& subject = kPatientUrl) {
  return R"({"resourceType":"Encounter","status":"finished",
    "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},
    "subject":{"reference":")" + subject + R"("},
    "period":{"start":"2024-03-01T09:00:00Z","end":"2024-03-01T09:15:00Z"}})";
}

std::string condition(const std::string& subject = kPatientUrl, const std::string& onset = "2024-02-20") {
  return R"({"resourceType":"Condition",
    "code":{"coding":[{"system":"http://snomed.info/sct","code":"195967001","display":"Asthma"}]},
    "subject":{"reference":")" + subject + R"("},"encounter":{"reference":")" + kEncounterUrl + R"("},
    "onsetDateTime":")" + onset + R"(","recordedDate":"2024-03-01"})";
}

std::string observation(const std::string& subject = kPatientUrl) {
  return R"({"resourceType":"Observation","status":"final",
    "identifier":[{"system":"https://gp.example/obs","value":"obs-1"}],
    "code":{"coding":[{"system":"http://snomed.info/sct","code":"27113001","display":"Body weight"}]},
    "subject":{"reference":")" + subject + R"("},"encounter":{"reference":")" + kEncounterUrl + R"("},
    "effectiveDateTime":"2024-03-01T09:05:00+00:00",
    "valueQuantity":{"value":72.5,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}})";
}

std::string entry(const std::string& full_url, const std::string& resource,
                  const std::string& method = "POST", std::string url = "") {
  if (url.empty()) {
    const auto at = resource.find("\"resourceType\":\"") + 16;
    url = resource.substr(at, resource.find('"', at) - at);
  }
  std::string json = "{";
  if (!full_url.empty()) json += R"("fullUrl":")" + full_url + "\",";
  return json + R"("resource":)" + resource + R"(,"request":{"method":")" + method +
         R"(","url":")" + url + "\"}}";
}

std::string bundle(const std::string& type, const std::vector<std::string>& entries) {
  std::string json = R"({"resourceType":"Bundle","type":")" + type + R"(","entry":[)";
  for (size_t i = 0; i < entries.size(); ++i) json += (i ? "," : "") + entries[i];
  return json + "]}";
}

std::vector<std::string> good_entries(const std::string& nhs) {
  return {entry(kPatientUrl, patient(nhs)), entry(kEncounterUrl, encounter()),
          entry(kConditionUrl, condition()), entry(kObservationUrl, observation())};
}

Feed test_feed() {
  Feed feed;
  feed.name = "gp-test";
  feed.now_ms = 1700000000000;
  return feed;
}

IngestResult post(const std::string& body, const Feed& feed = test_feed()) {
  Request request;
  request.body = body;
  return ingest(request, feed);
}

const IngestedResource* find(const IngestResult& result, const std::string& type) {
  for (const auto& r : result.resources)
    if (r.mapped.type == type) return &r;
  return nullptr;
}

bool has_expression(const std::vector<Issue>& issues, const std::string& expression) {
  for (const Issue& issue : issues)
    if (issue.expression == expression) return true;
  return false;
}

TEST(GpIngest, GoodTransactionIsAcceptedWithStableIdsAndRewrittenReferences) {
  const std::string nhs = test_nhs_number(1);
  const IngestResult result = post(bundle("transaction", good_entries(nhs)));
  ASSERT_EQ(result.http_status, 200) << describe(result);
  EXPECT_EQ(result.shape, IngestResult::Shape::kTransaction);
  ASSERT_EQ(result.resources.size(), 4u);
  EXPECT_TRUE(result.accepted_all());

  const std::string pid = default_patient_id(*identity::NhsNumber::parse(nhs));
  const IngestedResource* p = find(result, "Patient");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->mapped.id, pid);
  EXPECT_EQ(p->mapped.patient_id, pid);
  EXPECT_EQ(p->mapped.resource["id"].GetString(), pid);
  EXPECT_EQ(p->entry, 0);
  EXPECT_EQ(p->method, "POST");
  EXPECT_EQ(p->source_full_url, kPatientUrl);
  EXPECT_EQ(p->mapped.event_time_ms, 1700000000000);  // no date of its own: "now"
  ASSERT_EQ(p->mapped.identifiers.size(), 1u);
  EXPECT_EQ(p->mapped.identifiers[0].first, "https://fhir.nhs.uk/Id/nhs-number");
  EXPECT_EQ(p->mapped.identifiers[0].second, nhs);

  const IngestedResource* enc = find(result, "Encounter");
  const IngestedResource* cond = find(result, "Condition");
  const IngestedResource* obs = find(result, "Observation");
  ASSERT_TRUE(enc && cond && obs);
  // Ids: over the feed and the fullUrl, or the feed and the first identifier.
  EXPECT_EQ(enc->mapped.id, mapping::derive_id("Encounter", "gp-test", kEncounterUrl));
  EXPECT_EQ(cond->mapped.id, mapping::derive_id("Condition", "gp-test", kConditionUrl));
  EXPECT_EQ(obs->mapped.id, mapping::derive_id("Observation", "gp-test|https://gp.example/obs", "obs-1"));
  // References point at the new ids; the patient is the NHS number's.
  EXPECT_EQ(std::string(cond->mapped.resource["subject"]["reference"].GetString()), "Patient/" + pid);
  EXPECT_EQ(std::string(cond->mapped.resource["encounter"]["reference"].GetString()),
            "Encounter/" + enc->mapped.id);
  EXPECT_EQ(std::string(obs->mapped.resource["encounter"]["reference"].GetString()),
            "Encounter/" + enc->mapped.id);
  for (const auto* r : {enc, cond, obs}) EXPECT_EQ(r->mapped.patient_id, pid) << r->mapped.type;
  // Event times: the resource's own clinical date.
  EXPECT_EQ(enc->mapped.event_time_ms, *fhir_time_to_epoch_ms("2024-03-01T09:15:00Z"));
  EXPECT_EQ(cond->mapped.event_time_ms, *fhir_time_to_epoch_ms("2024-03-01"));
  EXPECT_EQ(obs->mapped.event_time_ms, *fhir_time_to_epoch_ms("2024-03-01T09:05:00+00:00"));
  EXPECT_EQ(obs->mapped.identifiers.size(), 1u);

  // The response: a transaction-response with 201 Created and a location per entry.
  const auto& response = result.response;
  EXPECT_STREQ(response["type"].GetString(), "transaction-response");
  ASSERT_EQ(response["entry"].Size(), 4u);
  EXPECT_STREQ(response["entry"][0]["response"]["status"].GetString(), "201 Created");
  EXPECT_EQ(std::string(response["entry"][0]["response"]["location"].GetString()), "Patient/" + pid);

  // The same push again gives the same ids (replay-safe); another feed gives other ids.
  const IngestResult again = post(bundle("transaction", good_entries(nhs)));
  ASSERT_EQ(again.resources.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(again.resources[i].mapped.id, result.resources[i].mapped.id);
  Feed other = test_feed();
  other.name = "gp-other";
  const IngestResult elsewhere = post(bundle("transaction", good_entries(nhs)), other);
  EXPECT_EQ(elsewhere.resources[0].mapped.id, pid);  // the patient is the NHS number's
  EXPECT_NE(elsewhere.resources[1].mapped.id, enc->mapped.id);

  // Every output passes the official R4 schema.
  if (auto* schema = cc::testing::FhirSchema::shared()) {
    for (const auto& r : result.resources) {
      const auto problems = schema->validate(r.mapped.resource);
      EXPECT_TRUE(problems.empty()) << r.mapped.type << ": " << problems.front();
    }
  }
}

// A value the practice sends with trailing zeros keeps its places: FHIR decimals carry their
// precision, a double written back does not (1.50 would come back as 1.5). The stored value is 1.5
// with FHIR's quantity-precision extension beside it; 72.0 and a value in an array are as sent, a
// "_value" the practice sent itself is kept as it is, and the resource still validates.
TEST(GpIngest, AValueSentWithTrailingZerosKeepsItsPrecision) {
  std::string obs = observation();
  replace_all(obs, R"("value":72.5,)", R"("value":72.50,)");
  replace_all(obs, R"("effectiveDateTime")",
              R"("referenceRange":[{"low":{"value":40.0,"unit":"kg"},"high":{"value":90.00,"unit":"kg","_value":{"id":"kept"}}}],"effectiveDateTime")");
  const IngestResult result =
      post(bundle("transaction", {entry(kPatientUrl, patient(test_nhs_number(1))), entry(kEncounterUrl, encounter()),
                                  entry(kObservationUrl, obs)}));
  ASSERT_EQ(result.http_status, 200) << describe(result);
  const IngestedResource* stored = find(result, "Observation");
  ASSERT_NE(stored, nullptr);
  const auto& quantity = stored->mapped.resource["valueQuantity"];
  EXPECT_EQ(quantity["value"].GetDouble(), 72.5);
  ASSERT_TRUE(quantity.HasMember("_value")) << to_json(stored->mapped.resource);
  const auto& precision = quantity["_value"]["extension"][0];
  EXPECT_STREQ(precision["url"].GetString(), "http://hl7.org/fhir/StructureDefinition/quantity-precision");
  EXPECT_EQ(precision["valueInteger"].GetInt(), 2);
  const auto& range = stored->mapped.resource["referenceRange"][0];
  EXPECT_FALSE(range["low"].HasMember("_value")) << "40.0 is written 40.0";
  EXPECT_STREQ(range["high"]["_value"]["id"].GetString(), "kept");
  EXPECT_FALSE(range["high"]["_value"].HasMember("extension")) << "the practice's own _value is not changed";
  if (auto* schema = cc::testing::FhirSchema::shared())
    EXPECT_TRUE(schema->validate(stored->mapped.resource).empty()) << to_json(stored->mapped.resource);
}

// Numbers read as their text are still numbers: one beyond a double is refused as unreadable (as
// the parser refused it before), a large integer is kept whole.
TEST(GpIngest, ANumberBeyondADoubleIsRefusedAndLargeIntegersKept) {
  std::string obs = observation();
  replace_all(obs, R"("value":72.5,)", R"("value":1e400,)");
  const IngestResult refused =
      post(bundle("transaction", {entry(kPatientUrl, patient(test_nhs_number(1))), entry(kObservationUrl, obs)}));
  EXPECT_EQ(refused.http_status, 400) << describe(refused);
  rapidjson::Document doc;
  ASSERT_TRUE(cc::parse_json(R"({"a":9007199254740993,"b":-5,"c":18446744073709551615,"d":1.0})", cc::JsonLimits{},
                             doc, cc::DecimalPrecision::kFhirExtension)
                  .ok());
  EXPECT_EQ(doc["a"].GetInt64(), 9007199254740993);
  EXPECT_EQ(doc["b"].GetInt(), -5);
  EXPECT_EQ(doc["c"].GetUint64(), 18446744073709551615u);
  EXPECT_EQ(doc["d"].GetDouble(), 1.0);
  EXPECT_FALSE(doc.HasMember("_d"));
}

TEST(GpIngest, ExistingResourcesAnswer200AndReferencesIntoTheRecordResolve) {
  const std::string nhs = test_nhs_number(2);
  const std::string pid = default_patient_id(*identity::NhsNumber::parse(nhs));
  Feed feed = test_feed();
  feed.in_record = [&](const std::string& type, const std::string& id) {
    return (type == "Patient" && id == pid) || (type == "Encounter" && id == "enc-in-record");
  };
  // No Patient entry: the Observation refers to the patient already in the record.
  std::string obs = observation("Patient/" + pid);
  replace_all(obs, kEncounterUrl, "Encounter/enc-in-record");
  const IngestResult result = post(bundle("transaction", {entry(kObservationUrl, obs)}), feed);
  ASSERT_EQ(result.http_status, 200) << describe(result);
  ASSERT_EQ(result.resources.size(), 1u);
  EXPECT_EQ(result.resources[0].mapped.patient_id, pid);
  EXPECT_STREQ(result.resources[0].mapped.resource["encounter"]["reference"].GetString(),
               "Encounter/enc-in-record");

  // The Patient itself again: 200 OK.
  const IngestResult again = post(bundle("transaction", {entry(kPatientUrl, patient(nhs))}), feed);
  ASSERT_EQ(again.entries.size(), 1u);
  EXPECT_EQ(again.entries[0].status, "200 OK");
  EXPECT_TRUE(again.resources[0].existed);
}

TEST(GpIngest, PatientWithoutNhsNumberIsRefused) {
  std::string p = patient("x");
  replace_all(p, R"("identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"x"}],)", "");
  const IngestResult result = post(bundle("transaction", {entry(kPatientUrl, p), entry(kConditionUrl, condition())}));
  EXPECT_EQ(result.http_status, 422) << describe(result);
  EXPECT_TRUE(result.resources.empty());
  const auto issues = issues_with_rule(result, "nhs-number-missing");
  ASSERT_EQ(issues.size(), 1u) << describe(result);
  EXPECT_EQ(issues[0].expression, "Bundle.entry[0].resource.identifier");
  EXPECT_EQ(issues[0].entry, 0);
  EXPECT_NE(issues[0].message.find("https://fhir.nhs.uk/Id/nhs-number"), std::string::npos);
  EXPECT_STREQ(result.response["resourceType"].GetString(), "OperationOutcome");
}

TEST(GpIngest, NhsNumberFailingModulus11IsRefused) {
  std::string nhs = test_nhs_number(3);
  nhs.back() = nhs.back() == '9' ? '0' : static_cast<char>(nhs.back() + 1);  // wrong check digit
  const IngestResult result = post(bundle("transaction", good_entries(nhs)));
  EXPECT_EQ(result.http_status, 422);
  EXPECT_TRUE(result.resources.empty());
  const auto issues = issues_with_rule(result, "nhs-number-check-digit");
  ASSERT_EQ(issues.size(), 1u) << describe(result);
  EXPECT_EQ(issues[0].expression, "Bundle.entry[0].resource.identifier[0].value");
  // The other entries had no problems of their own: not applied.
  EXPECT_EQ(result.entries[0].disposition, Disposition::kRejected);
  for (size_t i = 1; i < result.entries.size(); ++i)
    EXPECT_EQ(result.entries[i].disposition, Disposition::kNotApplied);
}

TEST(GpIngest, NhsNumberGroupedWithSpacesIsStoredAsTenDigits) {
  const std::string nhs = test_nhs_number(4);
  const std::string spaced = nhs.substr(0, 3) + " " + nhs.substr(3, 3) + " " + nhs.substr(6);
  const IngestResult result = post(bundle("transaction", good_entries(spaced)));
  ASSERT_EQ(result.http_status, 200) << describe(result);
  EXPECT_STREQ(result.resources[0].mapped.resource["identifier"][0]["value"].GetString(), nhs.c_str());
  EXPECT_EQ(result.resources[0].mapped.identifiers[0].second, nhs);
}

// An identifier a GP system sends without a system is still indexed (under "", which
// identifier=|value finds); one without a value is not.
TEST(GpIngest, AnIdentifierWithoutASystemIsIndexedUnderNone) {
  std::string e = encounter();
  replace_all(e, R"("status":"finished",)", R"("status":"finished","identifier":[{"value":"VISIT-7"},{"system":"urn:x"}],)");
  const IngestResult result =
      post(bundle("transaction", {entry(kPatientUrl, patient(test_nhs_number(7))), entry(kEncounterUrl, e)}));
  ASSERT_EQ(result.http_status, 200) << describe(result);
  const auto& enc = result.resources.at(1).mapped;
  ASSERT_EQ(enc.type, "Encounter");
  ASSERT_EQ(enc.identifiers.size(), 1u);
  EXPECT_EQ(enc.identifiers[0], (std::pair<std::string, std::string>{"", "VISIT-7"}));
}

TEST(GpIngest, ASupersededNhsNumberMarkedOldIsKeptBesideTheCurrentOne) {
  const std::string nhs = test_nhs_number(5), old = test_nhs_number(6);
  std::string p = patient(nhs);
  replace_all(p, R"("value":")" + nhs + R"("}])",
              R"("value":")" + nhs + R"("},{"system":"https://fhir.nhs.uk/Id/nhs-number","value":")" + old +
                  R"(","use":"old"}])");
  const IngestResult result = post(bundle("transaction", {entry(kPatientUrl, p), entry(kEncounterUrl, encounter())}));
  ASSERT_EQ(result.http_status, 200) << describe(result);
  EXPECT_EQ(result.resources[0].mapped.identifiers.size(), 2u);
  // Without use "old", two NHS numbers are a conflict.
  replace_all(p, R"(,"use":"old")", "");
  const IngestResult conflict = post(bundle("transaction", {entry(kPatientUrl, p), entry(kEncounterUrl, encounter())}));
  EXPECT_EQ(conflict.http_status, 422);
  EXPECT_EQ(issues_with_rule(conflict, "nhs-number-conflict").size(), 1u) << describe(conflict);
}

TEST(GpIngest, ReferenceToAMissingEntryIsNamed) {
  std::vector<std::string> entries = good_entries(test_nhs_number(5));
  entries.erase(entries.begin() + 1);  // drop the Encounter the Condition and Observation refer to
  const IngestResult result = post(bundle("transaction", entries));
  EXPECT_EQ(result.http_status, 422);
  const auto issues = issues_with_rule(result, "reference-not-found");
  ASSERT_EQ(issues.size(), 2u) << describe(result);
  EXPECT_EQ(issues[0].expression, "Bundle.entry[1].resource.encounter.reference");
  EXPECT_EQ(issues[1].expression, "Bundle.entry[2].resource.encounter.reference");
  EXPECT_NE(issues[0].message.find(kEncounterUrl), std::string::npos);
}

TEST(GpIngest, SubjectPointingAtAnotherPatientIsRefused) {
  const std::string other_pid = default_patient_id(*identity::NhsNumber::parse(test_nhs_number(7)));
  Feed feed = test_feed();
  feed.in_record = [&](const std::string& type, const std::string& id) {
    return type == "Patient" && id == other_pid;
  };
  std::vector<std::string> entries = good_entries(test_nhs_number(6));
  entries[3] = entry(kObservationUrl, observation("Patient/" + other_pid));
  const IngestResult result = post(bundle("transaction", entries), feed);
  EXPECT_EQ(result.http_status, 422);
  const auto issues = issues_with_rule(result, "patient-other");
  ASSERT_EQ(issues.size(), 1u) << describe(result);
  EXPECT_EQ(issues[0].expression, "Bundle.entry[3].resource.subject");

  // Two Patients with different NHS numbers in one push.
  const std::string second = "urn:uuid:7f1c0a6e-0000-4000-8000-000000000009";
  const IngestResult two = post(bundle("transaction", {entry(kPatientUrl, patient(test_nhs_number(6))),
                                                       entry(second, patient(test_nhs_number(7)))}));
  EXPECT_TRUE(has_rule(two, "bundle-two-patients")) << describe(two);
  // The same NHS number twice is one patient.
  const IngestResult same = post(bundle("transaction", {entry(kPatientUrl, patient(test_nhs_number(6))),
                                                        entry(second, patient(test_nhs_number(6)))}));
  EXPECT_EQ(same.http_status, 200) << describe(same);

  // A subject that is not a Patient.
  std::vector<std::string> wrong = good_entries(test_nhs_number(6));
  wrong[2] = entry(kConditionUrl, condition(kEncounterUrl));
  const IngestResult not_patient = post(bundle("transaction", wrong));
  const auto type_issues = issues_with_rule(not_patient, "patient-reference-type");
  ASSERT_EQ(type_issues.size(), 1u) << describe(not_patient);
  EXPECT_EQ(type_issues[0].expression, "Bundle.entry[2].resource.subject.reference");
}

TEST(GpIngest, ClinicalResourceWithoutSubjectIsRefused) {
  std::string obs = observation();
  replace_all(obs, R"("subject":{"reference":")" + kPatientUrl + R"("},)", "");
  std::vector<std::string> entries = good_entries(test_nhs_number(8));
  entries[3] = entry(kObservationUrl, obs);
  const IngestResult result = post(bundle("transaction", entries));
  const auto issues = issues_with_rule(result, "patient-reference-missing");
  ASSERT_EQ(issues.size(), 1u) << describe(result);
  EXPECT_EQ(issues[0].expression, "Bundle.entry[3].resource.subject");
}

TEST(GpIngest, SubjectByNhsNumberIdentifierResolvesToTheBundlesPatient) {
  const std::string nhs = test_nhs_number(9);
  std::vector<std::string> entries = good_entries(nhs);
  std::string obs = observation();
  replace_all(obs, R"("subject":{"reference":")" + kPatientUrl + R"("})",
              R"("subject":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":")" + nhs + R"("}})");
  entries[3] = entry(kObservationUrl, obs);
  const IngestResult result = post(bundle("transaction", entries));
  ASSERT_EQ(result.http_status, 200) << describe(result);
  EXPECT_EQ(find(result, "Observation")->mapped.patient_id,
            default_patient_id(*identity::NhsNumber::parse(nhs)));
  // An NHS number the bundle and the record do not know.
  std::string unknown = observation();
  replace_all(unknown, R"("subject":{"reference":")" + kPatientUrl + R"("})",
              R"("subject":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":")" +
                  test_nhs_number(10) + R"("}})");
  entries[3] = entry(kObservationUrl, unknown);
  const IngestResult refused = post(bundle("transaction", entries));
  EXPECT_TRUE(has_rule(refused, "patient-not-found")) << describe(refused);
}

TEST(GpIngest, BadDatesAreNamed) {
  std::vector<std::string> entries = good_entries(test_nhs_number(11));
  entries[2] = entry(kConditionUrl, condition(kPatientUrl, "2024-13-01"));
  const IngestResult result = post(bundle("transaction", entries));
  EXPECT_EQ(result.http_status, 422);
  const auto issues = issues_with_rule(result, "primitive-format");
  ASSERT_EQ(issues.size(), 1u) << describe(result);
  EXPECT_EQ(issues[0].expression, "Bundle.entry[2].resource.onsetDateTime");
  EXPECT_NE(issues[0].message.find("dateTime"), std::string::npos);

  entries[2] = entry(kConditionUrl, condition(kPatientUrl, "2023-02-29"));
  const IngestResult not_a_day = post(bundle("transaction", entries));
  const auto day = issues_with_rule(not_a_day, "calendar-date");
  ASSERT_EQ(day.size(), 1u) << describe(not_a_day);
  EXPECT_EQ(day[0].expression, "Bundle.entry[2].resource.onsetDateTime");

  entries[2] = entry(kConditionUrl, condition(kPatientUrl, "2024-03-01T10:00:00"));  // no zone
  EXPECT_TRUE(has_rule(post(bundle("transaction", entries)), "primitive-format"));
}

TEST(GpIngest, TransactionWithOneBadEntryAcceptsNothing) {
  std::vector<std::string> entries = good_entries(test_nhs_number(12));
  std::string obs = observation();
  replace_all(obs, R"("status":"final")", R"("status":"done")");
  entries[3] = entry(kObservationUrl, obs);
  const IngestResult result = post(bundle("transaction", entries));
  EXPECT_EQ(result.http_status, 422);
  EXPECT_TRUE(result.resources.empty());
  EXPECT_STREQ(result.response["resourceType"].GetString(), "OperationOutcome");
  const auto issues = issues_with_rule(result, "code-not-allowed");
  ASSERT_EQ(issues.size(), 1u) << describe(result);
  EXPECT_EQ(issues[0].expression, "Bundle.entry[3].resource.status");
  EXPECT_NE(issues[0].message.find("final"), std::string::npos);  // lists the allowed codes
  EXPECT_EQ(result.entries[3].disposition, Disposition::kRejected);
  EXPECT_EQ(result.entries[0].disposition, Disposition::kNotApplied);
}

TEST(GpIngest, BatchWithOneBadEntryAcceptsTheOthers) {
  std::vector<std::string> entries = good_entries(test_nhs_number(12));
  std::string obs = observation();
  replace_all(obs, R"("status":"final")", R"("status":"done")");
  entries[3] = entry(kObservationUrl, obs);
  const IngestResult result = post(bundle("batch", entries));
  EXPECT_EQ(result.http_status, 200) << describe(result);
  EXPECT_EQ(result.shape, IngestResult::Shape::kBatch);
  ASSERT_EQ(result.resources.size(), 3u);
  EXPECT_EQ(result.entries[3].disposition, Disposition::kRejected);
  EXPECT_EQ(result.entries[3].status, "422 Unprocessable Entity");
  const auto& response = result.response;
  EXPECT_STREQ(response["type"].GetString(), "batch-response");
  ASSERT_EQ(response["entry"].Size(), 4u);
  EXPECT_STREQ(response["entry"][0]["response"]["status"].GetString(), "201 Created");
  EXPECT_STREQ(response["entry"][3]["response"]["status"].GetString(), "422 Unprocessable Entity");
  EXPECT_STREQ(response["entry"][3]["response"]["outcome"]["issue"][0]["expression"][0].GetString(),
               "Bundle.entry[3].resource.status");

  // A rejected Patient takes what refers to it along (and nothing else).
  std::string bad_nhs = test_nhs_number(13);
  bad_nhs.back() = bad_nhs.back() == '9' ? '0' : static_cast<char>(bad_nhs.back() + 1);
  const IngestResult cascade = post(bundle("batch", good_entries(bad_nhs)));
  EXPECT_TRUE(cascade.resources.empty()) << describe(cascade);
  EXPECT_EQ(issues_with_rule(cascade, "reference-rejected").size(), 3u) << describe(cascade);
}

TEST(GpIngest, UnknownResourceTypeIsAnErrorAndUnkeptTypesAreIgnored) {
  std::vector<std::string> entries = good_entries(test_nhs_number(14));
  std::string obs = observation();
  replace_all(obs, R"("resourceType":"Observation")", R"("resourceType":"Observaton")");
  entries[3] = entry(kObservationUrl, obs, "POST", "Observaton");
  const IngestResult result = post(bundle("transaction", entries));
  EXPECT_EQ(result.http_status, 422);
  const auto issues = issues_with_rule(result, "resource-type");
  ASSERT_EQ(issues.size(), 1u) << describe(result);
  EXPECT_EQ(issues[0].expression, "Bundle.entry[3].resource.resourceType");

  // A Claim is read and not stored; a reference to it keeps its type and identifier.
  entries = good_entries(test_nhs_number(14));
  const std::string claim_url = "urn:uuid:7f1c0a6e-0000-4000-8000-00000000000c";
  entries.push_back(entry(claim_url, R"({"resourceType":"Claim","status":"active",
      "identifier":[{"system":"https://billing.example/claim","value":"C-1"}]})"));
  std::string cond = condition();
  replace_all(cond, R"("recordedDate")", R"("evidence":[{"detail":[{"reference":")" + claim_url +
                                              R"("}]}],"recordedDate")");
  entries[2] = entry(kConditionUrl, cond);
  const IngestResult claim = post(bundle("transaction", entries));
  ASSERT_EQ(claim.http_status, 200) << describe(claim);
  EXPECT_EQ(claim.resources.size(), 4u);
  EXPECT_EQ(claim.entries[4].disposition, Disposition::kIgnored);
  EXPECT_EQ(claim.entries[4].status, "200 OK");
  const auto ignored = issues_with_rule(claim, "type-not-kept");
  ASSERT_EQ(ignored.size(), 1u);
  EXPECT_EQ(ignored[0].severity, "information");
  const auto& detail = find(claim, "Condition")->mapped.resource["evidence"][0]["detail"][0];
  EXPECT_FALSE(detail.HasMember("reference"));
  EXPECT_STREQ(detail["type"].GetString(), "Claim");
  EXPECT_STREQ(detail["identifier"]["value"].GetString(), "C-1");
  EXPECT_TRUE(has_rule(claim, "reference-to-ignored"));
}

// FHIR elements named "description" are elements, not schema annotations: the subset schema once
// lost them, so an allergy's reaction description (or a letter's description) refused the push.
TEST(GpIngest, ElementsNamedDescriptionAreAccepted) {
  std::vector<std::string> entries = good_entries(test_nhs_number(15));
  entries.push_back(entry("urn:uuid:7f1c0a6e-0000-4000-8000-00000000000a", R"({"resourceType":"AllergyIntolerance",
      "identifier":[{"system":"https://gp.example/allergy","value":"al-1"}],
      "code":{"text":"Penicillin"},"patient":{"reference":")" + kPatientUrl + R"("},
      "reaction":[{"manifestation":[{"text":"Rash"}],"description":"Widespread itchy rash within an hour of the first dose"}]})"));
  entries.push_back(entry("urn:uuid:7f1c0a6e-0000-4000-8000-00000000000b", R"({"resourceType":"DocumentReference",
      "status":"current","identifier":[{"system":"https://gp.example/doc","value":"doc-1"}],
      "description":"Letter from the respiratory clinic","subject":{"reference":")" + kPatientUrl + R"("},
      "content":[{"attachment":{"contentType":"text/plain","data":"RGVhciBEciBTbWl0aA=="}}]})"));
  const IngestResult result = post(bundle("transaction", entries));
  ASSERT_EQ(result.http_status, 200) << describe(result);
  const IngestedResource* allergy = find(result, "AllergyIntolerance");
  ASSERT_NE(allergy, nullptr);
  EXPECT_STREQ(allergy->mapped.resource["reaction"][0]["description"].GetString(),
               "Widespread itchy rash within an hour of the first dose");
  const IngestedResource* letter = find(result, "DocumentReference");
  ASSERT_NE(letter, nullptr);
  EXPECT_STREQ(letter->mapped.resource["description"].GetString(), "Letter from the respiratory clinic");

  entries = good_entries(test_nhs_number(15));
  entries.push_back(entry("urn:uuid:7f1c0a6e-0000-4000-8000-00000000000c", R"({"resourceType":"Location",
      "identifier":[{"system":"https://gp.example/site","value":"branch-2"}],"name":"Branch surgery",
      "description":"Ground-floor branch surgery behind the library"})"));
  const IngestResult site = post(bundle("transaction", entries));
  ASSERT_EQ(site.http_status, 200) << describe(site);
  ASSERT_NE(find(site, "Location"), nullptr);
  EXPECT_STREQ(find(site, "Location")->mapped.resource["description"].GetString(),
               "Ground-floor branch surgery behind the library");
}

// The types kept since the GP feed's first version are filed by their own clinical date, as the
// others are (a report by when it was issued, a care plan by when it was made).
TEST(GpIngest, ReportsCarePlansContactsAndFamilyHistoryAreDatedByTheirOwnDates) {
  std::vector<std::string> entries = good_entries(test_nhs_number(15));
  entries.push_back(entry("urn:uuid:7f1c0a6e-0000-4000-8000-0000000000d1", R"({"resourceType":"DiagnosticReport",
      "status":"final","code":{"text":"Full blood count"},"subject":{"reference":")" + kPatientUrl + R"("},
      "effectiveDateTime":"2024-02-01","issued":"2024-02-02T10:00:00Z"})"));
  entries.push_back(entry("urn:uuid:7f1c0a6e-0000-4000-8000-0000000000d2", R"({"resourceType":"CarePlan",
      "status":"active","intent":"plan","subject":{"reference":")" + kPatientUrl + R"("},
      "created":"2023-12-24","period":{"start":"2024-01-01"}})"));
  entries.push_back(entry("urn:uuid:7f1c0a6e-0000-4000-8000-0000000000d3", R"({"resourceType":"RelatedPerson",
      "patient":{"reference":")" + kPatientUrl + R"("},"period":{"start":"2020-06-01"}})"));
  entries.push_back(entry("urn:uuid:7f1c0a6e-0000-4000-8000-0000000000d4", R"({"resourceType":"FamilyMemberHistory",
      "status":"completed","relationship":{"text":"mother"},"patient":{"reference":")" + kPatientUrl + R"("},
      "date":"2019-05-05"})"));
  const IngestResult result = post(bundle("transaction", entries));
  ASSERT_EQ(result.http_status, 200) << describe(result);
  const std::pair<const char*, const char*> expected[] = {{"DiagnosticReport", "2024-02-02T10:00:00Z"},
                                                          {"CarePlan", "2023-12-24"},
                                                          {"RelatedPerson", "2020-06-01"},
                                                          {"FamilyMemberHistory", "2019-05-05"}};
  for (const auto& [type, when] : expected) {
    const IngestedResource* r = find(result, type);
    ASSERT_NE(r, nullptr) << type;
    EXPECT_EQ(r->mapped.event_time_ms, *fhir_time_to_epoch_ms(when)) << type;
  }
}

// A RelatedPerson's identifier names the relative, who may be two patients' contact (a carer of
// both parents): each patient keeps a contact of their own, never one moved between them.
TEST(GpIngest, OneContactOfTwoPatientsIsTwoResources) {
  auto push_with_carer = [](const std::string& nhs) {
    std::vector<std::string> entries = good_entries(nhs);
    entries.push_back(entry("urn:uuid:7f1c0a6e-0000-4000-8000-0000000000e1", R"({"resourceType":"RelatedPerson",
        "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":")" + test_nhs_number(40) + R"("}],
        "name":[{"family":"Carer","given":["Sam"]}],"patient":{"reference":")" + kPatientUrl + R"("}})"));
    return post(bundle("transaction", entries));
  };
  const IngestResult mother = push_with_carer(test_nhs_number(41));
  const IngestResult father = push_with_carer(test_nhs_number(42));
  ASSERT_EQ(mother.http_status, 200) << describe(mother);
  ASSERT_EQ(father.http_status, 200) << describe(father);
  const IngestedResource* a = find(mother, "RelatedPerson");
  const IngestedResource* b = find(father, "RelatedPerson");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a->mapped.patient_id, b->mapped.patient_id);
  EXPECT_NE(a->mapped.id, b->mapped.id);
  // Each is still one resource across pushes of the same patient.
  EXPECT_EQ(find(push_with_carer(test_nhs_number(41)), "RelatedPerson")->mapped.id, a->mapped.id);
}

TEST(GpIngest, HugeOrDeeplyNestedBodiesAreRefusedClearly) {
  std::string deep = R"({"resourceType":"Bundle","type":"transaction","entry":)";
  deep += std::string(200000, '[') + std::string(200000, ']') + "}";
  const IngestResult result = post(deep);
  EXPECT_EQ(result.http_status, 400);
  ASSERT_EQ(result.issues.size(), 1u);
  EXPECT_EQ(result.issues[0].rule, "too-deep");
  EXPECT_NE(result.issues[0].message.find("64 levels"), std::string::npos);
  EXPECT_STREQ(result.response["resourceType"].GetString(), "OperationOutcome");

  Feed small = test_feed();
  small.limits.max_body_bytes = 1000;
  const IngestResult big = post(bundle("transaction", good_entries(test_nhs_number(15))), small);
  EXPECT_EQ(big.http_status, 413);
  EXPECT_EQ(big.issues[0].rule, "too-large");

  small = test_feed();
  small.limits.max_entries = 2;
  EXPECT_EQ(post(bundle("transaction", good_entries(test_nhs_number(15))), small).http_status, 413);
}

TEST(GpIngest, DuplicateFullUrlsAreNamedOnEachEntry) {
  std::vector<std::string> entries = good_entries(test_nhs_number(16));
  entries[3] = entry(kConditionUrl, observation());
  const IngestResult result = post(bundle("transaction", entries));
  EXPECT_EQ(result.http_status, 422);
  const auto issues = issues_with_rule(result, "duplicate-full-url");
  ASSERT_EQ(issues.size(), 2u) << describe(result);
  EXPECT_EQ(issues[0].expression, "Bundle.entry[2].fullUrl");
  EXPECT_EQ(issues[1].expression, "Bundle.entry[3].fullUrl");

  // The same resource twice (same identifier).
  entries = good_entries(test_nhs_number(16));
  entries.push_back(entry("urn:uuid:7f1c0a6e-0000-4000-8000-0000000000dd", observation()));
  const IngestResult twice = post(bundle("transaction", entries));
  const auto dup = issues_with_rule(twice, "duplicate-resource");
  ASSERT_EQ(dup.size(), 1u) << describe(twice);
  EXPECT_EQ(dup[0].entry, 4);
}

TEST(GpIngest, UnreadableBodiesAndWrongBundleTypes) {
  EXPECT_EQ(post("{\"resourceType\": \"Bundle\",").issues[0].rule, "not-json");
  EXPECT_EQ(post("[1,2]").issues[0].rule, "not-a-resource");
  EXPECT_EQ(post(R"({"resourceType":"Patient"})").issues[0].rule, "not-a-bundle");
  const IngestResult collection = post(R"({"resourceType":"Bundle","type":"collection","entry":[]})");
  EXPECT_EQ(collection.http_status, 400);
  EXPECT_EQ(collection.issues[0].expression, "Bundle.type");
  EXPECT_EQ(post("\xEF\xBB\xBF{\"resourceType\":\"Bundle\",\"type\":\"batch\"}").http_status, 200);
  EXPECT_EQ(post("{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"id\":\"\xC3\x28\"}").issues[0].rule,
            "not-json");  // not UTF-8

  // Entries a GP feed does not take.
  std::vector<std::string> entries = good_entries(test_nhs_number(17));
  entries[3] = R"({"request":{"method":"DELETE","url":"Observation/1"}})";
  const IngestResult del = post(bundle("batch", entries));
  EXPECT_TRUE(has_rule(del, "entry-method")) << describe(del);
  EXPECT_TRUE(has_rule(del, "entry-resource"));
  EXPECT_EQ(del.entries[3].status, "400 Bad Request");
  EXPECT_EQ(del.resources.size(), 3u);
}

TEST(GpIngest, StructuralProblemsAreNamedByElement) {
  std::vector<std::string> entries = good_entries(test_nhs_number(18));
  std::string obs = observation();
  replace_all(obs, R"("status":"final",)",
              R"("status":"final","colour":"blue","note":[],"issued":null,"comment":"",)");
  replace_all(obs, R"("coding":[{"system":"http://snomed.info/sct","code":"27113001")",
              R"("coding":{"system":"http://snomed.info/sct","code":"27113001")");
  replace_all(obs, R"("display":"Body weight"}]})", R"("display":"Body weight"}})");
  entries[3] = entry(kObservationUrl, obs);
  entries[1] = entry(kEncounterUrl, encounter());
  replace_all(entries[1], R"("status":"finished")", R"("status":"finished","status":"finished")");
  std::string cond = condition();
  replace_all(cond, R"("code":{"coding")", R"("code":{"text":"Asthma","coding")");
  replace_all(cond, R"("subject")", R"("category":[{"coding":[{"system":"http://x y","code":" a"}]}],"subject")");
  entries[2] = entry(kConditionUrl, cond);
  const IngestResult result = post(bundle("transaction", entries));
  const std::string all = describe(result);
  auto expect = [&](const std::string& rule, const std::string& expression) {
    EXPECT_TRUE(has_expression(issues_with_rule(result, rule), expression)) << rule << " @ " << expression << "\n" << all;
  };
  expect("unknown-element", "Bundle.entry[3].resource.colour");
  expect("unknown-element", "Bundle.entry[3].resource.comment");
  expect("json-empty", "Bundle.entry[3].resource.note");
  expect("json-null", "Bundle.entry[3].resource.issued");
  expect("json-type", "Bundle.entry[3].resource.code.coding");
  expect("json-duplicate-key", "Bundle.entry[1].resource.status");
  expect("primitive-format", "Bundle.entry[2].resource.category[0].coding[0].system");
  expect("primitive-format", "Bundle.entry[2].resource.category[0].coding[0].code");
  for (const Issue& issue : result.issues) {
    EXPECT_FALSE(issue.message.empty());
    EXPECT_FALSE(issue.expression.empty());
  }
  // A missing required element.
  std::string no_code = observation();
  replace_all(no_code, R"("code":{"coding":[{"system":"http://snomed.info/sct","code":"27113001","display":"Body weight"}]},)", "");
  entries = good_entries(test_nhs_number(18));
  entries[3] = entry(kObservationUrl, no_code);
  const IngestResult missing = post(bundle("transaction", entries));
  EXPECT_TRUE(has_expression(issues_with_rule(missing, "required-element"), "Bundle.entry[3].resource.code"))
      << describe(missing);
}

TEST(GpIngest, LongTextIsCheckedWithoutRegexAndKeptIntact) {
  std::vector<std::string> entries = good_entries(test_nhs_number(19));
  const std::string note(300000, 'n');
  std::string obs = observation();
  replace_all(obs, R"("status":"final",)", R"("status":"final","note":[{"text":")" + note + R"("}],)");
  entries[3] = entry(kObservationUrl, obs);
  const IngestResult result = post(bundle("transaction", entries));
  ASSERT_EQ(result.http_status, 200) << describe(result);
  EXPECT_EQ(find(result, "Observation")->mapped.resource["note"][0]["text"].GetStringLength(), note.size());

  // A vertical tab in long text, and a 100,000-character dateTime.
  std::string bad = observation();
  replace_all(bad, R"("status":"final",)",
              R"("status":"final","note":[{"text":")" + std::string(1000, 'n') + R"(\u000b"}],)");
  replace_all(bad, "2024-03-01T09:05:00+00:00", "2024-03-01T09:05:00." + std::string(100000, '1') + "Z");
  entries[3] = entry(kObservationUrl, bad);
  const IngestResult refused = post(bundle("transaction", entries));
  EXPECT_TRUE(has_expression(issues_with_rule(refused, "primitive-format"), "Bundle.entry[3].resource.note[0].text"))
      << describe(refused);
  EXPECT_TRUE(has_expression(issues_with_rule(refused, "primitive-format"), "Bundle.entry[3].resource.effectiveDateTime"))
      << describe(refused);
}

TEST(GpIngest, ContainedMedicationAndConditionalReferences) {
  const std::string nhs = test_nhs_number(20);
  std::vector<std::string> entries = good_entries(nhs);
  const std::string request = R"({"resourceType":"MedicationRequest","status":"active","intent":"order",
      "contained":[{"resourceType":"Medication","id":"med1",
        "code":{"coding":[{"system":"http://snomed.info/sct","code":"322236009","display":"Paracetamol 500mg tablets"}]}}],
      "medicationReference":{"reference":"#med1"},
      "subject":{"reference":"Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|)" + nhs + R"("},
      "authoredOn":"2024-03-01"})";
  entries.push_back(entry("urn:uuid:7f1c0a6e-0000-4000-8000-0000000000a1", request));
  const IngestResult result = post(bundle("transaction", entries));
  ASSERT_EQ(result.http_status, 200) << describe(result);
  const IngestedResource* mr = find(result, "MedicationRequest");
  ASSERT_TRUE(mr);
  EXPECT_STREQ(mr->mapped.resource["medicationReference"]["reference"].GetString(), "#med1");
  EXPECT_EQ(std::string(mr->mapped.resource["subject"]["reference"].GetString()),
            "Patient/" + default_patient_id(*identity::NhsNumber::parse(nhs)));
  EXPECT_EQ(mr->mapped.event_time_ms, *fhir_time_to_epoch_ms("2024-03-01"));

  std::string broken = request;
  replace_all(broken, R"("reference":"#med1")", R"("reference":"#med2")");
  replace_all(broken, R"("contained":[)", R"("contained":[{"resourceType":"Patient","id":"p"},)");
  entries.back() = entry("urn:uuid:7f1c0a6e-0000-4000-8000-0000000000a1", broken);
  const IngestResult refused = post(bundle("transaction", entries));
  EXPECT_TRUE(has_expression(issues_with_rule(refused, "reference-contained"),
                             "Bundle.entry[4].resource.medicationReference.reference")) << describe(refused);
  EXPECT_TRUE(has_rule(refused, "contained-type"));
}

TEST(GpIngest, MetaLastUpdatedGivesTheEventTimeAndIsLeftToTheStore) {
  std::vector<std::string> entries = good_entries(test_nhs_number(21));
  std::string obs = observation();
  replace_all(obs, R"("status":"final",)",
              R"("meta":{"versionId":"3","lastUpdated":"2024-04-01T10:00:00Z","source":"gp"},"status":"final",)");
  entries[3] = entry(kObservationUrl, obs);
  const IngestResult result = post(bundle("transaction", entries));
  ASSERT_EQ(result.http_status, 200) << describe(result);
  const IngestedResource* o = find(result, "Observation");
  EXPECT_EQ(o->mapped.event_time_ms, *fhir_time_to_epoch_ms("2024-04-01T10:00:00Z"));
  EXPECT_FALSE(o->mapped.resource.HasMember("meta"));
}

TEST(GpIngest, SingleResourcePutAndPost) {
  const std::string nhs = test_nhs_number(22);
  const std::string pid = default_patient_id(*identity::NhsNumber::parse(nhs));
  Feed feed = test_feed();
  feed.in_record = [&](const std::string& type, const std::string& id) {
    return type == "Patient" && id == pid;
  };
  feed.patient_id_for = [](const identity::NhsNumber& n) { return "nhs-" + n.str(); };

  Request put;
  put.kind = Request::Kind::kUpdate;
  put.type = "Patient";
  put.id = "p1";
  const std::string body = patient(nhs);
  put.body = body;
  const IngestResult p = ingest(put, feed);
  ASSERT_EQ(p.http_status, 201) << describe(p);
  EXPECT_EQ(p.shape, IngestResult::Shape::kSingle);
  EXPECT_EQ(p.resources[0].mapped.id, "nhs-" + nhs);  // the caller's patient id
  EXPECT_EQ(p.resources[0].entry, -1);
  EXPECT_EQ(p.resources[0].method, "PUT");

  put.id = "p2";  // not the resource's id
  const IngestResult mismatch = ingest(put, feed);
  EXPECT_EQ(mismatch.http_status, 422);
  EXPECT_EQ(issues_with_rule(mismatch, "entry-id")[0].expression, "Patient.id");

  Request create;
  create.kind = Request::Kind::kCreate;
  create.type = "Observation";
  std::string obs = observation("Patient/" + pid);
  replace_all(obs, R"(,"encounter":{"reference":")" + kEncounterUrl + R"("})", "");
  create.body = obs;
  const IngestResult o = ingest(create, feed);
  ASSERT_EQ(o.http_status, 201) << describe(o);
  EXPECT_EQ(o.resources[0].mapped.patient_id, pid);
  EXPECT_STREQ(o.response["resourceType"].GetString(), "OperationOutcome");

  std::string orphan = observation("Patient/nobody");
  replace_all(orphan, R"(,"encounter":{"reference":")" + kEncounterUrl + R"("})", "");
  create.body = orphan;
  const IngestResult refused = ingest(create, feed);
  EXPECT_EQ(refused.http_status, 422);
  EXPECT_EQ(issues_with_rule(refused, "reference-not-found")[0].expression, "Observation.subject.reference");

  create.type = "Condition";  // the body is an Observation
  create.body = obs;
  EXPECT_EQ(ingest(create, feed).http_status, 400);
}

TEST(GpIngest, ResponsesAreValidFhir) {
  cc::testing::FhirSchema* schema = cc::testing::FhirSchema::shared();
  if (!schema) GTEST_SKIP() << "official R4 schema absent at " << cc::testing::FhirSchema::path();
  std::vector<std::string> bad = good_entries(test_nhs_number(23));
  bad[3] = entry(kObservationUrl, condition(kPatientUrl, "2024-13-01"), "POST", "Condition");
  for (const IngestResult& result :
       {post(bundle("transaction", good_entries(test_nhs_number(23)))), post(bundle("transaction", bad)),
        post(bundle("batch", bad)), post("not json")}) {
    const auto problems = schema->validate(result.response);
    EXPECT_TRUE(problems.empty()) << to_json(result.response) << "\n" << problems.front();
  }
  Request single;
  single.kind = Request::Kind::kCreate;
  single.type = "ServiceRequest";
  const std::string body = R"({"resourceType":"ServiceRequest","status":"active","intent":"order",
      "subject":{"reference":"Patient/x"}})";
  single.body = body;
  const IngestResult refused = ingest(single, test_feed());
  EXPECT_EQ(refused.http_status, 422);
  EXPECT_EQ(refused.issues.size(), 1u) << describe(refused);
  EXPECT_EQ(refused.issues[0].rule, "type-not-kept");
  // The sentence lists what is kept, every type (one list makes both), so a sender can tell.
  for (std::string_view kept : kept_types()) {
    EXPECT_NE(refused.issues[0].message.find(std::string(kept)), std::string::npos) << kept;
    EXPECT_TRUE(is_kept(role_of(kept))) << kept;
  }
  EXPECT_NE(refused.issues[0].message.find("CarePlan, RelatedPerson, Medication, Practitioner"), std::string::npos)
      << refused.issues[0].message;
  EXPECT_TRUE(schema->validate(refused.response).empty());
}

TEST(FhirTime, ReadsDatesAndDateTimes) {
  EXPECT_EQ(*fhir_time_to_epoch_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*fhir_time_to_epoch_ms("1970-01-01T01:00:00.5+01:00"), 500);
  EXPECT_EQ(*fhir_time_to_epoch_ms("2024-07-01"), *fhir_time_to_epoch_ms("2024-06-30T23:00:00Z"));  // BST
  EXPECT_EQ(*fhir_time_to_epoch_ms("2024-01"), *fhir_time_to_epoch_ms("2024-01-01T00:00:00Z"));
  EXPECT_FALSE(fhir_time_to_epoch_ms("2024-02-30"));
  EXPECT_FALSE(fhir_time_to_epoch_ms("2024-02-01T10:00:00"));
  EXPECT_TRUE(is_calendar_day("2024-02-29"));
  EXPECT_FALSE(is_calendar_day("2023-02-29"));
}

}  // namespace
}  // namespace cc::fhir_ingest
