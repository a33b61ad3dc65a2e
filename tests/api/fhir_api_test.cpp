// FhirApi in-process: requests parsed from raw bytes by Beast, as a connection's are, answered by
// the real router over a real store. Regression tests for inputs found by fuzz/http_router_fuzzer.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <sqlite3.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>

#include <filesystem>
#include <future>
#include <memory>
#include <set>
#include <string>

#include "engine/api/fhir_api.h"
#include "engine/fhir/datetime.h"
#include "engine/governance/disclosure.h"
#include "engine/governance/token_verifier.h"
#include "engine/store/audit_log.h"
#include "engine/store/sqlite_record_store.h"

namespace cc::api {
namespace {

namespace http = boost::beast::http;
constexpr std::string_view kKey = "0123456789abcdef0123456789abcdef";

struct Api {
  Api() {
    char tmpl[] = "/tmp/carerecord-api-XXXXXX";
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
    w.identifiers = {{"", "M1000001"}};
    batch[0].writes.push_back(std::move(w));
    EXPECT_TRUE(record->apply(batch).ok());
    disclosure = std::make_unique<governance::DisclosureService>(*record, *audit);
    tokens = std::make_unique<governance::TokenVerifier>(
        governance::TokenPolicy{true, std::string(kKey), {}},
        [](const std::string&) { return Result<std::string>(make_error("no-fetch", "no identity provider")); });
    ApiOptions options;
    options.tokens = tokens.get();
    api = std::make_unique<FhirApi>(*disclosure, metrics, options);
    token = governance::sign_dev_token({"dr.a", "ae-clinician", "RBT", "", "DIRECT_CARE"}, kKey,
                                       fhir::now_epoch_ms() / 1000);
  }
  ~Api() {
    api.reset();
    disclosure.reset();
    audit.reset();
    record.reset();
    std::filesystem::remove_all(dir);
  }

  // Writes one resource as feed `org`'s (ODS code) message would, indexed under `identifiers`.
  void write(const std::string& type, const std::string& id, const std::string& patient, const std::string& json,
             std::vector<std::pair<std::string, std::string>> identifiers, const std::string& org) {
    std::vector<store::MappedBatchItem> batch(1);
    batch[0].inbox_id = ++inbox_ids;
    batch[0].outcome = "mapped";
    batch[0].provenance = store::Provenance{"feed-" + org, org, "CTL" + std::to_string(inbox_ids), 1, inbox_ids};
    store::ResourceWrite w;
    w.type = type;
    w.id = id;
    w.resource.Parse(json.c_str());
    ASSERT_FALSE(w.resource.HasParseError()) << json;
    w.event_time_ms = 1;
    w.patient_id = patient;
    w.identifiers = std::move(identifiers);
    batch[0].writes.push_back(std::move(w));
    ASSERT_TRUE(record->apply(batch).ok());
  }

  // Parses `bytes` as one HTTP request (they must hold a whole one), optionally with the test's
  // token, and returns the router's answer.
  Response answer(std::string_view bytes, bool with_token) {
    http::request_parser<http::string_body> parser;
    parser.eager(true);
    boost::beast::error_code ec;
    parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(parser.is_done());
    Request req = parser.release();
    if (with_token) req.set(http::field::authorization, "Bearer " + token);
    std::promise<Response> answered;
    auto future = answered.get_future();
    api->handle(std::move(req), "127.0.0.1:1", [&answered](Response res) { answered.set_value(std::move(res)); });
    return future.get();
  }

  std::string dir;
  std::unique_ptr<store::SqliteRecordStore> record;
  std::unique_ptr<store::AuditLog> audit;
  Metrics metrics;
  std::unique_ptr<governance::DisclosureService> disclosure;
  std::unique_ptr<governance::TokenVerifier> tokens;
  std::unique_ptr<FhirApi> api;
  std::string token;
  int64_t inbox_ids = 1;
};

// Parses a reply body as JSON, insisting on valid UTF-8 as RFC 8259 does.
rapidjson::Document strict_json(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
  EXPECT_FALSE(doc.HasParseError()) << "not valid JSON (UTF-8): " << body;
  return doc;
}

// Found by the fuzzer (a flipped bit in a seed): a path with a byte that is not UTF-8 came back
// quoted in the OperationOutcome, making a reply that JSON parsers refuse.
TEST(FhirApiHostile, RequestTextThatIsNotUtf8IsNotEchoedIntoInvalidJson) {
  Api a;
  const Response res = a.answer("GET /fir/P\xE1tient/p1/_history/1 HTTP/1.1\r\nHost: localhost\r\n\r\n", true);
  EXPECT_EQ(res.result_int(), 404u);
  auto doc = strict_json(res.body());
  ASSERT_TRUE(doc.IsObject());
  const std::string diagnostics = doc["issue"][0]["diagnostics"].GetString();
  EXPECT_NE(diagnostics.find("/fir/P\xEF\xBF\xBDtient/p1"), std::string::npos) << diagnostics;

  // The same through a percent-encoded resource type, an id, and a NUL that used to cut the text.
  for (std::string_view request : {std::string_view("GET /fhir/P%E1tient HTTP/1.1\r\n\r\n"),
                                   std::string_view("GET /fhir/Patient/%C0%80 HTTP/1.1\r\n\r\n"),
                                   std::string_view("GET /fhir/Patient?nam%00e=x%FF HTTP/1.1\r\n\r\n")}) {
    const Response r = a.answer(request, true);
    EXPECT_GE(r.result_int(), 400u);
    strict_json(r.body());
  }
  const Response nul = a.answer("GET /fhir/Patient?nam%00e=x HTTP/1.1\r\n\r\n", true);
  EXPECT_NE(nul.body().find("nam\\u0000e"), std::string::npos) << nul.body();
}

// The same fault in a Bundle: its self link quoted the request target as it came.
TEST(FhirApiHostile, SearchSelfLinkIsPercentEncoded) {
  Api a;
  const Response res = a.answer("GET /fhir/Patient?identifier=M1000001&x\xE9=1 HTTP/1.1\r\nHost: localhost\r\n\r\n", true);
  ASSERT_EQ(res.result_int(), 400u) << res.body();  // x\xE9 is not a supported parameter
  strict_json(res.body());
  const Response found = a.answer("GET /fhir/Patient?identifier=M1000001&_count=5&_format=\xE9 HTTP/1.1\r\n\r\n", true);
  ASSERT_EQ(found.result_int(), 200u) << found.body();
  auto doc = strict_json(found.body());
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(doc["total"].GetInt(), 1);
  EXPECT_EQ(std::string(doc["link"][0]["url"].GetString()),
            "http://localhost/fhir/Patient?identifier=M1000001&_count=5&_format=%E9");
}

// The search set's OperationOutcome entries (search.mode "outcome") with this issue code.
std::vector<std::string> outcomes(const rapidjson::Document& bundle, const std::string& code) {
  std::vector<std::string> found;
  if (!bundle.HasMember("entry")) return found;
  for (const auto& e : bundle["entry"].GetArray()) {
    if (std::string(e["search"]["mode"].GetString()) != "outcome") continue;
    for (const auto& issue : e["resource"]["issue"].GetArray())
      if (code == issue["code"].GetString()) found.emplace_back(issue["diagnostics"].GetString());
  }
  return found;
}

constexpr const char* kTrustNumbers = "https://fhir.trust-a.example/Id/hospital-number";
constexpr const char* kCouncilIds = "https://fhir.council-b.example/Id/person";

// HAZ-008: a number searched for without its system can be one trust's hospital number for one
// person and a council's person id for another. The answer must not read as one patient.
TEST(FhirApiIdentifierSearch, AValueHeldUnderSeveralSystemsIsAnsweredWithAWarningNamingThem) {
  Api a;
  a.write("Patient", "pa", "pa",
          std::string(R"({"resourceType":"Patient","id":"pa","identifier":[{"system":")") + kTrustNumbers +
              R"(","value":"H123"}]})",
          {{kTrustNumbers, "H123"}}, "RBT");
  a.write("Patient", "pb", "pb",
          std::string(R"({"resourceType":"Patient","id":"pb","identifier":[{"system":")") + kCouncilIds +
              R"(","value":"H123"}]})",
          {{kCouncilIds, "H123"}}, "CNB");

  const Response both = a.answer("GET /fhir/Patient?identifier=H123 HTTP/1.1\r\n\r\n", true);
  ASSERT_EQ(both.result_int(), 200u) << both.body();
  auto doc = strict_json(both.body());
  EXPECT_EQ(doc["total"].GetInt(), 2);
  const auto warnings = outcomes(doc, "multiple-matches");
  ASSERT_EQ(warnings.size(), 1u) << both.body();
  EXPECT_NE(warnings[0].find(kTrustNumbers), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find(kCouncilIds), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("different people"), std::string::npos) << warnings[0];
  // The warning stands on every page, not only the one that shows both.
  const Response second = a.answer("GET /fhir/Patient?identifier=H123&_count=1&_offset=1 HTTP/1.1\r\n\r\n", true);
  ASSERT_EQ(second.result_int(), 200u) << second.body();
  EXPECT_EQ(outcomes(strict_json(second.body()), "multiple-matches").size(), 1u) << second.body();

  // Named with its system, the number is one patient's: no warning.
  const Response one =
      a.answer("GET /fhir/Patient?identifier=" + std::string(kTrustNumbers) + "%7CH123 HTTP/1.1\r\n\r\n", true);
  ASSERT_EQ(one.result_int(), 200u) << one.body();
  auto single = strict_json(one.body());
  EXPECT_EQ(single["total"].GetInt(), 1);
  EXPECT_TRUE(outcomes(single, "multiple-matches").empty()) << one.body();
  // One patient holding the value under two systems is one patient: no warning.
  a.write("Patient", "pc", "pc",
          std::string(R"({"resourceType":"Patient","id":"pc","identifier":[{"system":")") + kTrustNumbers +
              R"(","value":"Z55"},{"system":")" + kCouncilIds + R"(","value":"Z55"}]})",
          {{kTrustNumbers, "Z55"}, {kCouncilIds, "Z55"}}, "RBT");
  const Response same = a.answer("GET /fhir/Patient?identifier=Z55 HTTP/1.1\r\n\r\n", true);
  ASSERT_EQ(same.result_int(), 200u) << same.body();
  auto one_person = strict_json(same.body());
  EXPECT_EQ(one_person["total"].GetInt(), 1);
  EXPECT_TRUE(outcomes(one_person, "multiple-matches").empty()) << same.body();
  // A value held under one system only (the fixture's patient) is not warned about either.
  const Response plain = a.answer("GET /fhir/Patient?identifier=M1000001 HTTP/1.1\r\n\r\n", true);
  EXPECT_TRUE(outcomes(strict_json(plain.body()), "multiple-matches").empty()) << plain.body();
}

// An Encounter of `patient` from organisation `org`, numbered `value` by `system`; in progress
// (an open encounter: the reader's trust then has a relationship) or finished.
void write_encounter(Api& a, const std::string& id, const std::string& patient, bool open, const char* system,
                     const std::string& value, const std::string& org) {
  a.write("Encounter", id, patient,
          R"({"resourceType":"Encounter","id":")" + id + R"(","status":")" + (open ? "in-progress" : "finished") +
              R"(","class":{"code":"EMER"},"subject":{"reference":"Patient/)" + patient +
              R"("},"identifier":[{"system":")" + system + R"(","value":")" + value + R"("}]})",
          {{system, value}}, org);
}

// The searchset answering GET `target` (200 expected).
rapidjson::Document searchset(Api& a, const std::string& target, std::string& body) {
  const Response res = a.answer("GET " + target + " HTTP/1.1\r\n\r\n", true);
  EXPECT_EQ(res.result_int(), 200u) << res.body();
  body = res.body();
  return strict_json(body);
}

// The warning names only the systems of what is disclosed: a match withheld from this reader (no
// relationship with its patient) must not show, through its system, that it exists.
TEST(FhirApiIdentifierSearch, TheSystemOfAWithheldMatchIsNotNamed) {
  Api a;
  a.write("Patient", "pa", "pa", R"({"resourceType":"Patient","id":"pa"})", {}, "RBT");
  a.write("Patient", "pb", "pb", R"({"resourceType":"Patient","id":"pb"})", {}, "CNB");
  // The reader's trust has pa in now; pb's only encounter is another organisation's, and over.
  write_encounter(a, "ea", "pa", true, kTrustNumbers, "V77", "RBT");
  write_encounter(a, "eb", "pb", false, kCouncilIds, "V77", "CNB");
  std::string body;
  auto doc = searchset(a, "/fhir/Encounter?identifier=V77", body);
  EXPECT_EQ(doc["total"].GetInt(), 1) << body;
  EXPECT_EQ(outcomes(doc, "suppressed").size(), 1u) << body;
  EXPECT_TRUE(outcomes(doc, "multiple-matches").empty()) << body;
  EXPECT_EQ(body.find(kCouncilIds), std::string::npos) << body;

  // Two encounters of one patient numbered by two systems are no wrong-patient risk: no warning.
  write_encounter(a, "ec", "pa", true, kTrustNumbers, "V88", "RBT");
  write_encounter(a, "ed", "pa", true, kCouncilIds, "V88", "RBT");
  auto one_patient = searchset(a, "/fhir/Encounter?identifier=V88", body);
  EXPECT_EQ(one_patient["total"].GetInt(), 2) << body;
  EXPECT_TRUE(outcomes(one_patient, "multiple-matches").empty()) << body;

  // Both people disclosed (pb now in at the reader's trust too), numbered by two systems: warned.
  write_encounter(a, "ee", "pb", true, kTrustNumbers, "V99", "RBT");
  write_encounter(a, "ef", "pa", true, kCouncilIds, "V99", "RBT");
  auto two_people = searchset(a, "/fhir/Encounter?identifier=V99", body);
  EXPECT_EQ(two_people["total"].GetInt(), 2) << body;
  EXPECT_EQ(outcomes(two_people, "multiple-matches").size(), 1u) << body;
}

// identifier=|VALUE asks for identifiers sent without a system (FHIR token search), not for the
// value under any system: a visit number another system also uses is not among its matches.
TEST(FhirApiIdentifierSearch, ABarBeforeTheValueMeansNoSystem) {
  Api a;
  write_encounter(a, "ea", "p1", true, kTrustNumbers, "V55", "RBT");
  a.write("Encounter", "e-bare", "p1",
          R"({"resourceType":"Encounter","id":"e-bare","status":"in-progress","class":{"code":"EMER"},"identifier":[{"value":"V55"}]})",
          {{"", "V55"}}, "RBT");
  std::string body;
  auto bare = searchset(a, "/fhir/Encounter?identifier=%7CV55", body);
  ASSERT_EQ(bare["total"].GetInt(), 1) << body;
  EXPECT_STREQ(bare["entry"][0]["resource"]["id"].GetString(), "e-bare");
  auto any = searchset(a, "/fhir/Encounter?identifier=V55", body);
  EXPECT_EQ(any["total"].GetInt(), 2) << body;
  auto one = searchset(a, std::string("/fhir/Encounter?identifier=") + kTrustNumbers + "%7CV55", body);
  ASSERT_EQ(one["total"].GetInt(), 1) << body;
  EXPECT_STREQ(one["entry"][0]["resource"]["id"].GetString(), "ea");
  const Response empty = a.answer("GET /fhir/Encounter?identifier=%7C HTTP/1.1\r\n\r\n", true);
  EXPECT_EQ(empty.result_int(), 400u) << empty.body();

  // Two people's, one held without a system: the warning says how to ask for that one.
  a.write("Patient", "p2", "p2", R"({"resourceType":"Patient","id":"p2"})", {}, "RBT");
  write_encounter(a, "eb", "p2", true, kTrustNumbers, "V66", "RBT");
  a.write("Encounter", "e-bare2", "p1",
          R"({"resourceType":"Encounter","id":"e-bare2","status":"in-progress","class":{"code":"EMER"},"identifier":[{"value":"V66"}]})",
          {{"", "V66"}}, "RBT");
  auto two = searchset(a, "/fhir/Encounter?identifier=V66", body);
  EXPECT_EQ(two["total"].GetInt(), 2) << body;
  const auto warned = outcomes(two, "multiple-matches");
  ASSERT_EQ(warned.size(), 1u) << body;
  EXPECT_NE(warned[0].find("(no system)"), std::string::npos) << warned[0];
  EXPECT_NE(warned[0].find("identifier=|V66"), std::string::npos) << warned[0];
}

// The resource with this id among a searchset's entries, or nullptr.
const rapidjson::Value* entry_with_id(const rapidjson::Value& bundle, const std::string& id) {
  for (const auto& e : bundle["entry"].GetArray())
    if (e.HasMember("resource") && e["resource"].HasMember("id") && id == e["resource"]["id"].GetString())
      return &e["resource"];
  return nullptr;
}

// Whether a disclosed resource is labelled as having something left out (v3-ObservationValue REDACTED).
bool redacted(const rapidjson::Value& r) {
  if (!r.HasMember("meta") || !r["meta"].HasMember("security")) return false;
  for (const auto& l : r["meta"]["security"].GetArray())
    if (std::string(l["code"].GetString()) == "REDACTED") return true;
  return false;
}

// A report groups its results by reference. A result this reader may not see (here a sexually
// transmitted infection, withheld from an A&E clinician by the default policy) must not show through
// the report: not its id, not that it exists. The report is shown without it, labelled REDACTED, and
// a search says that something is withheld; on every path that returns the report.
TEST(FhirApiWithheldResults, AReportShowsNoResultTheReaderMayNotSee) {
  Api a;
  write_encounter(a, "ea", "p1", true, kTrustNumbers, "V1", "RBT");
  a.write("Observation", "o-na", "p1",
          R"({"resourceType":"Observation","id":"o-na","status":"final","code":{"text":"Sodium"}})", {}, "RBT");
  a.write("Observation", "o-gc", "p1",
          R"({"resourceType":"Observation","id":"o-gc","status":"final","code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"A54.9"}]}})",
          {}, "RBT");
  a.write("DiagnosticReport", "dr-mixed", "p1",
          R"({"resourceType":"DiagnosticReport","id":"dr-mixed","status":"final","code":{"text":"Screen"},"result":[{"reference":"Observation/o-na"},{"reference":"Observation/o-gc"}]})",
          {}, "RBT");
  a.write("DiagnosticReport", "dr-plain", "p1",
          R"({"resourceType":"DiagnosticReport","id":"dr-plain","status":"final","code":{"text":"U&E"},"result":[{"reference":"Observation/o-na"}]})",
          {}, "RBT");
  a.write("Observation", "o-panel", "p1",
          R"({"resourceType":"Observation","id":"o-panel","status":"final","code":{"text":"Panel"},"hasMember":[{"reference":"Observation/o-gc"}]})",
          {}, "RBT");

  std::string body;
  auto doc = searchset(a, "/fhir/DiagnosticReport?patient=p1", body);
  EXPECT_EQ(body.find("o-gc"), std::string::npos) << body;
  EXPECT_EQ(outcomes(doc, "suppressed").size(), 1u) << body;
  const auto* mixed = entry_with_id(doc, "dr-mixed");
  ASSERT_NE(mixed, nullptr) << body;
  ASSERT_EQ((*mixed)["result"].Size(), 1u) << body;
  EXPECT_STREQ((*mixed)["result"][0]["reference"].GetString(), "Observation/o-na");
  EXPECT_TRUE(redacted(*mixed)) << body;
  const auto* plain = entry_with_id(doc, "dr-plain");
  ASSERT_NE(plain, nullptr) << body;
  EXPECT_FALSE(redacted(*plain)) << "a report whose results are all shown is as it was: " << body;

  const Response read = a.answer("GET /fhir/DiagnosticReport/dr-mixed HTTP/1.1\r\n\r\n", true);
  ASSERT_EQ(read.result_int(), 200u) << read.body();
  EXPECT_EQ(read.body().find("o-gc"), std::string::npos) << read.body();
  EXPECT_TRUE(redacted(strict_json(read.body()))) << read.body();

  auto panels = searchset(a, "/fhir/Observation?patient=p1", body);
  EXPECT_EQ(body.find("o-gc"), std::string::npos) << "neither the result nor a panel's reference to it: " << body;
  const auto* panel = entry_with_id(panels, "o-panel");
  ASSERT_NE(panel, nullptr) << body;
  EXPECT_FALSE(panel->HasMember("hasMember")) << body;

  auto all = searchset(a, "/fhir/Patient/p1/$everything", body);
  EXPECT_EQ(body.find("o-gc"), std::string::npos) << body;
  ASSERT_NE(entry_with_id(all, "dr-mixed"), nullptr) << body;
  EXPECT_EQ((*entry_with_id(all, "dr-mixed"))["result"].Size(), 1u) << body;

  // An encounter's diagnoses and a medicine's reason name conditions, with their text: the
  // sensitive one goes (the diagnosis entry with it), the other stays.
  a.write("Condition", "c-gc", "p1",
          R"({"resourceType":"Condition","id":"c-gc","code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"A54.9"}]}})",
          {}, "RBT");
  a.write("Condition", "c-htn", "p1", R"({"resourceType":"Condition","id":"c-htn","code":{"text":"Hypertension"}})", {},
          "RBT");
  a.write("Encounter", "e-clinic", "p1",
          R"({"resourceType":"Encounter","id":"e-clinic","status":"finished","class":{"code":"AMB"},"diagnosis":[{"condition":{"reference":"Condition/c-gc","display":"Gonococcal infection"},"rank":1},{"condition":{"reference":"Condition/c-htn","display":"Hypertension"}}]})",
          {}, "RBT");
  a.write("MedicationStatement", "m-1", "p1",
          R"({"resourceType":"MedicationStatement","id":"m-1","status":"active","medicationCodeableConcept":{"text":"Ceftriaxone"},"reasonReference":[{"reference":"Condition/c-gc","display":"Gonococcal infection"}]})",
          {}, "RBT");
  const Response enc = a.answer("GET /fhir/Encounter/e-clinic HTTP/1.1\r\n\r\n", true);
  ASSERT_EQ(enc.result_int(), 200u) << enc.body();
  EXPECT_EQ(enc.body().find("c-gc"), std::string::npos) << enc.body();
  EXPECT_EQ(enc.body().find("Gonococcal"), std::string::npos) << enc.body();
  auto e = strict_json(enc.body());
  ASSERT_EQ(e["diagnosis"].Size(), 1u) << enc.body();
  EXPECT_STREQ(e["diagnosis"][0]["condition"]["reference"].GetString(), "Condition/c-htn");
  EXPECT_TRUE(redacted(e));
  auto meds = searchset(a, "/fhir/MedicationStatement?patient=p1", body);
  EXPECT_EQ(body.find("Gonococcal"), std::string::npos) << body;
  EXPECT_EQ(outcomes(meds, "suppressed").size(), 1u) << body;

  // Another patient's result, named by this patient's report, for a reader with no relationship
  // with that other patient: it does not show either.
  a.write("Patient", "p2", "p2", R"({"resourceType":"Patient","id":"p2"})", {}, "CNB");
  a.write("Observation", "o-p2", "p2",
          R"({"resourceType":"Observation","id":"o-p2","status":"final","code":{"text":"Sodium"}})", {}, "CNB");
  a.write("DiagnosticReport", "dr-cross", "p1",
          R"({"resourceType":"DiagnosticReport","id":"dr-cross","status":"final","code":{"text":"U&E"},"result":[{"reference":"Observation/o-p2"}]})",
          {}, "RBT");
  const Response cross = a.answer("GET /fhir/DiagnosticReport/dr-cross HTTP/1.1\r\n\r\n", true);
  ASSERT_EQ(cross.result_int(), 200u) << cross.body();
  EXPECT_EQ(cross.body().find("o-p2"), std::string::npos) << cross.body();
  EXPECT_FALSE(strict_json(cross.body()).HasMember("result")) << "an empty list is not sent: " << cross.body();
}

// The encounter an item was recorded in is named by one Reference, not a list: a sexual health
// clinic attendance the reader may not see does not show through the results, medicines and
// follow-up encounters recorded in it, however the Reference is written; an item naming an encounter
// the reader may see is as it was.
TEST(FhirApiWithheldResults, AnItemDoesNotNameAnEncounterTheReaderMayNotSee) {
  Api a;
  write_encounter(a, "ea", "p1", true, kTrustNumbers, "V1", "RBT");
  a.write("Encounter", "e-gum", "p1",
          R"({"resourceType":"Encounter","id":"e-gum","status":"finished","class":{"code":"AMB"},"reasonCode":[{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"A54.9"}]}]})",
          {}, "RBT");
  a.write("Observation", "o-in-gum", "p1",
          R"({"resourceType":"Observation","id":"o-in-gum","status":"final","code":{"text":"Blood pressure"},"encounter":{"reference":"Encounter/e-gum"}})",
          {}, "RBT");
  a.write("Observation", "o-in-ae", "p1",
          R"({"resourceType":"Observation","id":"o-in-ae","status":"final","code":{"text":"Pulse"},"encounter":{"reference":"Encounter/ea"}})",
          {}, "RBT");
  // Written by another system: display first, a contained resource naming an encounter too.
  a.write("Observation", "o-display", "p1",
          R"({"resourceType":"Observation","id":"o-display","status":"final","code":{"text":"Weight"},"contained":[{"resourceType":"Device","id":"d1","note":[{"text":"scale"}],"extension":[{"url":"urn:x","valueReference":{"reference":"#x"}}]}],"encounter":{"display":"Clinic 4","reference":"Encounter/e-gum"}})",
          {}, "RBT");
  // Another system's item holding a contained resource that names the clinic attendance.
  a.write("Observation", "o-contained", "p1",
          R"({"resourceType":"Observation","id":"o-contained","status":"final","code":{"text":"Swab"},"contained":[{"resourceType":"MedicationStatement","id":"m1","status":"active","medicationCodeableConcept":{"text":"Doxycycline"},"subject":{"reference":"Patient/p1"},"context":{"reference":"Encounter/e-gum","display":"Clinic 4"}}],"derivedFrom":[{"reference":"#m1"}]})",
          {}, "RBT");
  a.write("MedicationAdministration", "ma-1", "p1",
          R"({"resourceType":"MedicationAdministration","id":"ma-1","status":"completed","medicationCodeableConcept":{"text":"Paracetamol"},"context":{"reference":"Encounter/e-gum"}})",
          {}, "RBT");
  a.write("Encounter", "e-follow", "p1",
          R"({"resourceType":"Encounter","id":"e-follow","status":"finished","class":{"code":"AMB"},"partOf":{"reference":"Encounter/e-gum"}})",
          {}, "RBT");

  std::string body;
  auto obs = searchset(a, "/fhir/Observation?patient=p1", body);
  EXPECT_EQ(body.find("e-gum"), std::string::npos) << body;
  EXPECT_EQ(body.find("Clinic 4"), std::string::npos) << body;
  for (const char* id : {"o-in-gum", "o-display", "o-contained"}) {
    const auto* o = entry_with_id(obs, id);
    ASSERT_NE(o, nullptr) << id << ": the item itself is shown: " << body;
    EXPECT_FALSE(o->HasMember("encounter")) << id << ": " << body;
    if (o->HasMember("contained")) {
      EXPECT_FALSE((*o)["contained"][0].HasMember("context")) << body;
    }
    EXPECT_TRUE(redacted(*o)) << id << ": " << body;
  }
  const auto* shown = entry_with_id(obs, "o-in-ae");
  ASSERT_NE(shown, nullptr) << body;
  EXPECT_STREQ((*shown)["encounter"]["reference"].GetString(), "Encounter/ea");
  EXPECT_FALSE(redacted(*shown)) << body;

  const Response ma = a.answer("GET /fhir/MedicationAdministration/ma-1 HTTP/1.1\r\n\r\n", true);
  ASSERT_EQ(ma.result_int(), 200u) << ma.body();
  EXPECT_EQ(ma.body().find("e-gum"), std::string::npos) << ma.body();
  EXPECT_TRUE(redacted(strict_json(ma.body()))) << ma.body();

  auto encounters = searchset(a, "/fhir/Encounter?patient=p1", body);
  EXPECT_EQ(body.find("e-gum"), std::string::npos) << "neither the clinic attendance nor a reference to it: " << body;
  const auto* follow = entry_with_id(encounters, "e-follow");
  ASSERT_NE(follow, nullptr) << body;
  EXPECT_FALSE(follow->HasMember("partOf")) << body;

  auto all = searchset(a, "/fhir/Patient/p1/$everything", body);
  EXPECT_EQ(body.find("e-gum"), std::string::npos) << body;
  ASSERT_NE(entry_with_id(all, "o-in-ae"), nullptr) << body;
  EXPECT_STREQ((*entry_with_id(all, "o-in-ae"))["encounter"]["reference"].GetString(), "Encounter/ea");
}

// A body nested hundreds of thousands deep (within the size limit) would exhaust a recursive JSON
// parser's stack and bring the engine down for every reader: each body is read with a nesting limit
// and answered as a body it cannot use.
TEST(FhirApiHostile, ABodyNestedDeeperThanAStackIsRefusedNotACrash) {
  Api a;
  write_encounter(a, "ea", "p1", true, kTrustNumbers, "V1", "RBT");
  const std::string deep(400000, '[');
  auto post = [&](const std::string& target) {
    return a.answer("POST " + target + " HTTP/1.1\r\nHost: cc.test\r\nContent-Type: application/fhir+json\r\n"
                    "Content-Length: " + std::to_string(deep.size()) + "\r\n\r\n" + deep,
                    true);
  };
  for (const char* target : {"/fhir", "/fhir/Patient/p1/$access"}) {
    const Response res = post(target);
    EXPECT_GE(res.result_int(), 400u) << target;
    EXPECT_LT(res.result_int(), 500u) << target << ": " << res.body().substr(0, 300);
    EXPECT_NE(res.body().find("OperationOutcome"), std::string::npos) << target;
  }
  // And the engine answers the next request as ever.
  const Response after = a.answer("GET /fhir/Encounter/ea HTTP/1.1\r\n\r\n", true);
  EXPECT_EQ(after.result_int(), 200u) << after.body();
}

// POST /fhir with a batch Bundle of `entries` (each "METHOD url"), as reader `token`.
Response batch(Api& a, const std::vector<std::string>& entries, const std::string& token = "") {
  std::string body = R"({"resourceType":"Bundle","type":"batch","entry":[)";
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto space = entries[i].find(' ');
    body += (i ? "," : "") + std::string(R"({"request":{"method":")") + entries[i].substr(0, space) +
            R"(","url":")" + entries[i].substr(space + 1) + R"("}})";
  }
  body += "]}";
  const std::string saved = a.token;
  if (!token.empty()) a.token = token;
  Response res = a.answer("POST /fhir HTTP/1.1\r\nHost: cc.test\r\nContent-Type: application/fhir+json\r\n"
                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body,
                          true);
  a.token = saved;
  return res;
}

// A clinician's summary view asks for several types at once. Each entry is answered as the same GET
// sent alone would be — its own checks, its own governance decision, its own audit entry naming its
// own query — and the batch-response keeps the entries' order.
TEST(FhirApiBatch, EachEntryIsAnsweredAsIfSentAloneAndAuditedOnItsOwn) {
  Api a;
  a.write("Patient", "p2", "p2", R"({"resourceType":"Patient","id":"p2"})", {}, "CNB");
  write_encounter(a, "ea", "p1", true, kTrustNumbers, "V1", "RBT");
  a.write("Observation", "o1", "p1", R"({"resourceType":"Observation","id":"o1","status":"final","code":{"text":"Sodium"}})",
          {}, "RBT");
  // p2: no relationship with the reader's trust (their only encounter is elsewhere, and over).
  write_encounter(a, "eb", "p2", false, kCouncilIds, "V2", "CNB");
  a.write("Observation", "o2", "p2", R"({"resourceType":"Observation","id":"o2","status":"final","code":{"text":"Lithium level"}})",
          {}, "CNB");
  const auto before = store::AuditLog::read_recent(a.dir, 1000);
  ASSERT_TRUE(before);

  const Response res = batch(a, {"GET Encounter?patient=p1", "GET Observation?patient=Patient/p1", "GET Patient/p1",
                                 "GET Observation?patient=p2", "GET Observation?patient=p1&_count=0",
                                 "GET Flowers?patient=p1", "POST Observation", "GET /fhir/Encounter/ea"});
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  auto doc = strict_json(res.body());
  EXPECT_STREQ(doc["type"].GetString(), "batch-response");
  ASSERT_EQ(doc["entry"].Size(), 8u) << res.body();
  const auto& e = doc["entry"];
  auto status = [&](size_t i) { return std::string(e[i]["response"]["status"].GetString()); };
  EXPECT_EQ(status(0), "200 OK");
  EXPECT_STREQ(e[0]["resource"]["type"].GetString(), "searchset");
  EXPECT_EQ(e[0]["resource"]["total"].GetInt(), 1);
  EXPECT_EQ(status(1), "200 OK");
  EXPECT_STREQ(e[1]["resource"]["entry"][0]["resource"]["id"].GetString(), "o1");
  EXPECT_EQ(status(2), "200 OK");
  EXPECT_STREQ(e[2]["resource"]["resourceType"].GetString(), "Patient");
  EXPECT_TRUE(e[2]["response"].HasMember("etag"));
  EXPECT_EQ(status(3), "403 Forbidden");
  EXPECT_FALSE(e[3].HasMember("resource"));
  EXPECT_STREQ(e[3]["response"]["outcome"]["resourceType"].GetString(), "OperationOutcome");
  EXPECT_EQ(status(4), "400 Bad Request");
  EXPECT_EQ(status(5), "404 Not Found");
  EXPECT_EQ(status(6), "405 Method Not Allowed");
  EXPECT_EQ(status(7), "200 OK");
  EXPECT_STREQ(e[7]["resource"]["id"].GetString(), "ea");
  // Nothing of the patient without a relationship, anywhere in the answer.
  EXPECT_EQ(res.body().find("Lithium"), std::string::npos) << res.body();
  EXPECT_EQ(res.body().find("o2"), std::string::npos) << res.body();

  // One audit entry for each disclosure decided (the refusal too), each naming its own request; the
  // entries refused before any decision (bad _count, unknown type, a write) leave none, as alone.
  const auto after = store::AuditLog::read_recent(a.dir, 1000);
  ASSERT_TRUE(after);
  ASSERT_EQ(after->size(), before->size() + 5);
  std::multiset<std::string> audited;
  for (size_t i = 0; i < 5; ++i) audited.insert((*after)[i].query + " -> " + (*after)[i].outcome);
  const std::multiset<std::string> expected{
      "GET /fhir/Encounter?patient=p1 -> disclosed", "GET /fhir/Observation?patient=Patient/p1 -> disclosed",
      "GET /fhir/Patient/p1 -> disclosed", "GET /fhir/Observation?patient=p2 -> denied",
      "GET /fhir/Encounter/ea -> disclosed"};
  EXPECT_EQ(audited, expected);
  EXPECT_TRUE(store::AuditLog::verify(a.dir)->ok);
}

// Makes every insert into DIR's audit log fail, as a full disk or a broken file would.
void break_audit(const std::string& dir) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/audit.db").c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  const int rc = sqlite3_exec(
      db, "CREATE TRIGGER audit_broken BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk full'); END;", nullptr,
      nullptr, nullptr);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK);
}

// Disclosed means audited, a batch too: when its audit records cannot be written, no entry discloses.
TEST(FhirApiBatch, NothingIsDisclosedWhenTheAuditRecordsCannotBeWritten) {
  Api a;
  write_encounter(a, "ea", "p1", true, kTrustNumbers, "V1", "RBT");
  a.write("Observation", "o1", "p1", R"({"resourceType":"Observation","id":"o1","status":"final","code":{"text":"Sodium"}})",
          {}, "RBT");
  break_audit(a.dir);
  const Response res = batch(a, {"GET Observation?patient=p1", "GET Patient/p1", "GET Encounter/ea"});
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  auto doc = strict_json(res.body());
  ASSERT_EQ(doc["entry"].Size(), 3u);
  for (const auto& entry : doc["entry"].GetArray()) {
    EXPECT_STREQ(entry["response"]["status"].GetString(), "503 Service Unavailable") << res.body();
    EXPECT_FALSE(entry.HasMember("resource")) << res.body();
  }
  EXPECT_EQ(res.body().find("Sodium"), std::string::npos) << res.body();
}

TEST(FhirApiBatch, ABatchIsBoundedAndAFeedSystemsBundleIsStillAPush) {
  Api a;
  const Response too_many = batch(a, std::vector<std::string>(26, "GET Patient/p1"));
  EXPECT_EQ(too_many.result_int(), 400u) << too_many.body();
  EXPECT_NE(too_many.body().find("at most 25"), std::string::npos) << too_many.body();
  // An entry's url is a URL: one with a space in it is that entry's 400, the others are answered.
  const Response spaced = batch(a, {"GET Patient/p1 x", "GET Patient/p1"});
  ASSERT_EQ(spaced.result_int(), 200u) << spaced.body();
  auto s = strict_json(spaced.body());
  EXPECT_STREQ(s["entry"][0]["response"]["status"].GetString(), "400 Bad Request");
  EXPECT_STREQ(s["entry"][1]["response"]["status"].GetString(), "200 OK");
  const Response empty = batch(a, {});
  ASSERT_EQ(empty.result_int(), 200u) << empty.body();
  EXPECT_EQ(strict_json(empty.body())["entry"].Size(), 0u);
  // A feed system's Bundle is its push (this engine takes none here), never read as a batch of reads.
  const std::string feed = governance::sign_dev_token({"gp-system", "feed-system", "Y01", "", "DIRECT_CARE"}, kKey,
                                                      fhir::now_epoch_ms() / 1000);
  const Response push = batch(a, {"GET Patient/p1"}, feed);
  EXPECT_EQ(push.result_int(), 405u) << push.body();
}

// Each entry counts towards the reader's rate limit as the same GET sent alone would (the batch's
// own request pays for its first entry): a batch cannot multiply what a reader may ask for.
TEST(FhirApiBatch, EachEntryCountsTowardsTheRateLimit) {
  Api a;
  ApiOptions limited;
  limited.tokens = a.tokens.get();
  limited.requests_per_minute_per_user = 60;
  limited.request_burst_per_user = 3;
  a.api = std::make_unique<FhirApi>(*a.disclosure, a.metrics, limited);
  const Response res = batch(a, std::vector<std::string>(5, "GET Patient/p1"));
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  auto doc = strict_json(res.body());
  std::vector<std::string> statuses;
  for (const auto& e : doc["entry"].GetArray()) statuses.emplace_back(e["response"]["status"].GetString());
  // Three tokens: the request (its first entry), then two more entries; the last two wait.
  EXPECT_EQ(statuses, (std::vector<std::string>{"200 OK", "200 OK", "200 OK", "429 Too Many Requests",
                                                "429 Too Many Requests"}));
  EXPECT_NE(res.body().find("throttled"), std::string::npos) << res.body();
}

}  // namespace
}  // namespace cc::api
