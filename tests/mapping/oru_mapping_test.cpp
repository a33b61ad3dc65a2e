// ORU^R01 rules that span messages: a preliminary result, its correction and a wrong-patient
// retraction are versions of one resource on one patient; another patient's result never is.
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "adapters/hl7v2/message.h"
#include "tests/mapping/test_mappings.h"

namespace {

namespace fs = std::filesystem;
using cc::hl7v2::Message;

const fs::path kOru = fs::path(CC_SOURCE_DIR) / "tests" / "mapping" / "oru";
const cc::mapping::FeedContext kFeed{"lab", {{"RBT", "https://fhir.mcht.nhs.uk/Id/hospital-number"}}};

std::string read(const std::string& name) {
  std::ifstream in(kOru / (name + ".hl7"), std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

cc::mapping::MappingOutput map(const std::string& text) {
  auto msg = Message::parse(text);
  EXPECT_TRUE(msg.ok());
  auto out = cc::testing::project_mappings().map(*msg, kFeed);
  EXPECT_TRUE(out.ok()) << (out.ok() ? "" : out.error().message);
  return std::move(out).value();
}

const cc::mapping::MappedResource& only(const cc::mapping::MappingOutput& out, const std::string& type) {
  const cc::mapping::MappedResource* found = nullptr;
  for (const auto& r : out.resources) {
    if (r.type != type) continue;
    EXPECT_EQ(found, nullptr) << "more than one " << type;
    found = &r;
  }
  EXPECT_NE(found, nullptr) << "no " << type;
  return *found;
}

std::string status(const cc::mapping::MappedResource& r) { return r.resource["status"].GetString(); }

TEST(OruMapping, CorrectionsAreLaterVersionsOfTheSameResources) {
  auto preliminary = map(read("preliminary_potassium"));
  auto corrected = map(read("corrected_potassium"));
  const auto& p_report = only(preliminary, "DiagnosticReport");
  const auto& c_report = only(corrected, "DiagnosticReport");
  const auto& p_obs = only(preliminary, "Observation");
  const auto& c_obs = only(corrected, "Observation");
  EXPECT_EQ(p_report.id, c_report.id);
  EXPECT_EQ(p_obs.id, c_obs.id);
  EXPECT_EQ(status(p_report), "preliminary");
  EXPECT_EQ(status(c_report), "corrected");
  EXPECT_EQ(status(p_obs), "preliminary");
  EXPECT_EQ(status(c_obs), "corrected");
  // Versions follow event time (OBR-22): the correction is the newer one whatever order they arrive in.
  EXPECT_GT(c_obs.event_time_ms, p_obs.event_time_ms);
  EXPECT_DOUBLE_EQ(c_obs.resource["valueQuantity"]["value"].GetDouble(), 4.9);
}

TEST(OruMapping, WrongPatientMarksThatPatientsResultEnteredInError) {
  auto corrected = map(read("corrected_potassium"));
  auto wrong = map(read("wrong_patient"));
  const auto& before = only(corrected, "Observation");
  const auto& after = only(wrong, "Observation");
  EXPECT_EQ(before.id, after.id);
  EXPECT_EQ(before.patient_id, after.patient_id);
  EXPECT_EQ(status(after), "entered-in-error");
  EXPECT_GT(after.event_time_ms, before.event_time_ms);
}

TEST(OruMapping, TheSameOrderForAnotherPatientIsAnotherResource) {
  std::string text = read("corrected_potassium");
  const std::string pid = "RBT1234567^^^RBT^MR~9991234578^^^NHS^NH";
  auto mine = map(text);
  text.replace(text.find(pid), pid.size(), "RBT7654321^^^RBT^MR");
  auto theirs = map(text);
  EXPECT_NE(only(mine, "Observation").id, only(theirs, "Observation").id);
  EXPECT_NE(only(mine, "DiagnosticReport").id, only(theirs, "DiagnosticReport").id);
  EXPECT_NE(only(mine, "Observation").patient_id, only(theirs, "Observation").patient_id);
}

TEST(OruMapping, ReportListsEachOfItsObservations) {
  auto out = map(read("final_two_reports"));
  std::set<std::string> observations;
  for (const auto& r : out.resources)
    if (r.type == "Observation") observations.insert("Observation/" + r.id);
  std::set<std::string> referenced;
  for (const auto& r : out.resources) {
    if (r.type != "DiagnosticReport") continue;
    for (const auto& ref : r.resource["result"].GetArray()) referenced.insert(ref["reference"].GetString());
  }
  EXPECT_EQ(observations.size(), 6u);
  EXPECT_EQ(referenced, observations);
}

TEST(OruMapping, UnknownLocalCodesAreKeptAsSentAndReportedOnce) {
  auto out = map(read("final_two_reports"));
  // CREA has no entry in the shipped pathology-tests table.
  const cc::mapping::MappedResource* creatinine = nullptr;
  for (const auto& r : out.resources)
    if (r.type == "Observation" && std::string(r.resource["code"]["text"].GetString()) == "Creatinine") creatinine = &r;
  ASSERT_NE(creatinine, nullptr);
  const auto& coding = creatinine->resource["code"]["coding"];
  ASSERT_EQ(coding.Size(), 1u);
  EXPECT_STREQ(coding[0]["code"].GetString(), "CREA");
  int reported = 0;
  for (const auto& c : out.unmapped_codes) reported += c.code == "CREA";
  EXPECT_EQ(reported, 1);
}
}  // namespace

namespace {
// Everything a message maps is filed under its one patient: a results message carrying two patient
// groups is held (AE), not split between them or filed under the first.
TEST(OruMapping, AMessageWithTwoPatientsIsHeldNotFiledUnderTheFirst) {
  std::string text = read("corrected_potassium");
  const std::string second =
      "PID|2||RBT7654321^^^RBT^MR||OKAFOR^Chidi^^^Mr^^L||19710804|M\r"
      "OBR|1|ORD9^ICE|24U9^WINPATH|UE^Urea and electrolytes^WINPATH|||20240316070500||||||||||||||20240316115500|||F\r"
      "OBX|1|NM|K^Potassium^WINPATH||3.9|mmol/L|3.5-5.3||||F\r";
  text += second;
  auto msg = Message::parse(text);
  ASSERT_TRUE(msg.ok());
  auto a = cc::testing::project_mappings().assess(*msg, kFeed);
  EXPECT_TRUE(a.has_error());
  auto out = cc::testing::project_mappings().map(*msg, kFeed);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, "several-patients");
}

// A number past a double's range is not a value: it is kept as text with the "not a number" issue,
// and the Observation is still valid JSON (a value of infinity would not have been).
TEST(OruMapping, ANumberTooLargeForADoubleIsKeptAsText) {
  const std::string digits(400, '9');
  std::string text = read("preliminary_potassium");
  const size_t obx = text.find("OBX|1|NM|");
  ASSERT_NE(obx, std::string::npos);
  size_t value = obx;
  for (int bar = 0; bar < 5; ++bar) value = text.find('|', value) + 1;
  text.replace(value, text.find('|', value) - value, digits);
  auto out = map(text);
  const auto& observation = only(out, "Observation");
  EXPECT_FALSE(observation.resource.HasMember("valueQuantity"));
  ASSERT_TRUE(observation.resource.HasMember("valueString"));
  EXPECT_EQ(std::string(observation.resource["valueString"].GetString()), digits);
  bool reported = false;
  for (const auto& issue : out.issues) reported |= issue.hl7_code == 102;
  EXPECT_TRUE(reported);
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  EXPECT_TRUE(observation.resource.Accept(writer));
}

// The latest time HL7 can send, at -14:00, is past 9999 in UTC: the report has no issued time (no
// FHIR instant holds it) and the message maps, where it once threw from Boost's calendar.
TEST(OruMapping, AnIssuedTimePastTheYear9999IsLeftOutNotThrown) {
  std::string text = read("preliminary_potassium");
  const size_t obr = text.find("\rOBR|");
  ASSERT_NE(obr, std::string::npos);
  size_t issued = obr + 1;
  for (int bar = 0; bar < 22; ++bar) issued = text.find('|', issued) + 1;
  text.replace(issued, text.find('|', issued) - issued, "99991231235959-1400");
  auto out = map(text);
  EXPECT_FALSE(only(out, "DiagnosticReport").resource.HasMember("issued"));
}
}  // namespace
