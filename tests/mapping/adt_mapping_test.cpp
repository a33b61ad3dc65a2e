// Rules of the ADT mapping that the case files do not pin down on their own: derived ids,
// identifier systems, the NHS number checks behind AA/AE, event-time ordering, hostile input.
#include <string>

#include <gtest/gtest.h>

#include "adapters/hl7v2/message.h"
#include "tests/mapping/test_mappings.h"
#include "tests/mapping/fhir_schema.h"

namespace {

using cc::hl7v2::Message;
using cc::mapping::FeedContext;

const FeedContext kFeed{"pas-adt", {{"RBT", "https://fhir.mcht.nhs.uk/Id/hospital-number"}}};

Message parse(const std::string& text) {
  auto msg = Message::parse(text);
  EXPECT_TRUE(msg.ok()) << (msg ? "" : msg.error().message);
  return std::move(msg).value();
}

// An A08 with the given PID-3 and event times (EVN-2 may be empty).
std::string a08(const std::string& pid3, const std::string& msh7 = "20240301120000",
                const std::string& evn2 = "20240301115900") {
  return "MSH|^~\\&|PAS|RBT|CC|CHESHIRE|" + msh7 +
         "||ADT^A08|C1|P|2.4\r"
         "EVN|A08|" +
         evn2 +
         "\r"
         "PID|1||" +
         pid3 +
         "||SMITH^John||19700101|M\r"
         "PV1|1|I|WARD "
         "1^^^RBT20||||||||||||||||V1^^^RBT^VN|||||||||||||||||||||||||20240301090000\r";
}

const cc::mapping::MappedResource* find(const cc::mapping::MappingOutput& out,
                                        const std::string& type) {
  for (const auto& r : out.resources) {
    if (r.type == type) return &r;
  }
  return nullptr;
}

TEST(DeriveId, IsTheFirst16BytesOfSha256InHex) {
  EXPECT_EQ(cc::mapping::derive_id("Patient", "https://fhir.nhs.uk/Id/nhs-number", "9991234578"),
            "5de81de40d74866807f25e180eb8dd22");
  EXPECT_EQ(cc::mapping::derive_id("Encounter", "urn:connecting-care:id:pas-adt:RBT", "V1"),
            "ce8b610feba75fa6aaf1a4cfb1b71cd4");
  EXPECT_NE(cc::mapping::derive_id("Patient", "s", "v"),
            cc::mapping::derive_id("Encounter", "s", "v"));
}

TEST(FeedContext, ConfiguredAuthorityGetsItsSystem) {
  EXPECT_EQ(kFeed.system_for("RBT"), "https://fhir.mcht.nhs.uk/Id/hospital-number");
}

TEST(FeedContext, UnconfiguredAuthorityGetsThePercentEncodedDefault) {
  EXPECT_EQ(kFeed.system_for("RJR"), "urn:connecting-care:id:pas-adt:RJR");
  EXPECT_EQ(kFeed.system_for("Leighton Hospital/A&E"),
            "urn:connecting-care:id:pas-adt:Leighton%20Hospital%2FA%26E");
  EXPECT_EQ(kFeed.system_for(""), "urn:connecting-care:id:pas-adt:local");
}

TEST(AssessAdt, NhsNumberFailingModulus11IsAnErrorAtItsRepetition) {
  const auto a = cc::testing::project_mappings().assess(parse(a08("RBT123^^^RBT^MR~9434765918^^^NHS^NH")), kFeed);
  ASSERT_TRUE(a.has_error());
  ASSERT_EQ(a.issues.size(), 1u);
  EXPECT_EQ(a.issues[0].hl7_code, 102);
  EXPECT_EQ(a.issues[0].where.segment, "PID");
  EXPECT_EQ(a.issues[0].where.field, 3);
  EXPECT_EQ(a.issues[0].where.repetition, 2);
  EXPECT_EQ(a.issues[0].message,
            "PID-3 repetition 2: NHS number 9434765918 fails the Modulus 11 check; correct it "
            "at source and send an A08 update.");
}

TEST(AssessAdt, NhsNumberIsFoundByTypeCodeByAuthorityOrByOid) {
  for (const std::string pid3 : {"9434765918^^^^NH", "9434765918^^^NHS", "9434765918^^^NHS^HN",
                                 "9434765918^^^&2.16.840.1.113883.2.1.4.1&ISO"}) {
    const auto a = cc::testing::project_mappings().assess(parse(a08("RBT123^^^RBT^MR~" + pid3)), kFeed);
    EXPECT_TRUE(a.has_error()) << pid3;
  }
  const auto local =
      cc::testing::project_mappings().assess(parse(a08("RBT123^^^RBT^MR~9434765918^^^RJR^MR")), kFeed);
  EXPECT_FALSE(local.has_error()) << "a local number that fails Modulus 11 is not an NHS number";
}

TEST(AssessAdt, WrongLengthAndSpacedNhsNumbers) {
  const auto short_number =
      cc::testing::project_mappings().assess(parse(a08("RBT123^^^RBT^MR~99912345^^^NHS^NH")), kFeed);
  ASSERT_TRUE(short_number.has_error());
  EXPECT_EQ(short_number.issues[0].message,
            "PID-3 repetition 2: NHS number 99912345 is not 10 digits; correct it at source and "
            "send an A08 update.");
  EXPECT_FALSE(cc::testing::project_mappings().assess(parse(a08("RBT123^^^RBT^MR~943 476 5919^^^NHS^NH")), kFeed)
                   .has_error());
}

TEST(AssessAdt, NoNhsNumberIsNormal) {
  EXPECT_FALSE(cc::testing::project_mappings().assess(parse(a08("RBT123^^^RBT^MR")), kFeed).has_error());
}

TEST(AssessAdt, EmptyPatientIdentifierListIsAnError) {
  const auto a = cc::testing::project_mappings().assess(parse(a08("")), kFeed);
  ASSERT_TRUE(a.has_error());
  EXPECT_EQ(a.issues[0].hl7_code, 101);
  EXPECT_EQ(a.issues[0].where.field, 3);
}

TEST(AssessAdt, UnreadableEventTimeIsAnErrorAtEvn2) {
  const auto a =
      cc::testing::project_mappings().assess(parse(a08("RBT123^^^RBT^MR", "20240301120000", "2024030125")), kFeed);
  ASSERT_TRUE(a.has_error());
  EXPECT_EQ(a.issues[0].where.segment, "EVN");
  EXPECT_EQ(a.issues[0].where.field, 2);
  EXPECT_EQ(a.issues[0].hl7_code, 102);
}

TEST(AssessAdt, ThreePartMessageTypeIsSupported) {
  const auto a = cc::testing::project_mappings().assess(
      parse("MSH|^~\\&|PAS|RBT|CC|CHESHIRE|20240301120000||ADT^A04^ADT_A01|C1|P|2.5\r"
            "PID|1||RBT123^^^RBT^MR\r"),
      kFeed);
  EXPECT_TRUE(a.supported);
  EXPECT_FALSE(a.has_error());
}

TEST(AssessAdt, MessagesWithoutAMappingAreNotSupported) {
  const auto a = cc::testing::project_mappings().assess(
      parse("MSH|^~\\&|LAB|RBT|CC|CHESHIRE|20240301120000||QRY^A19|C1|P|2.4\r"), kFeed);
  EXPECT_FALSE(a.supported);
  EXPECT_FALSE(a.has_error());
}

TEST(MapAdt, InvalidNhsNumberIsNeverIndexedAndGoesOnTheWorklist) {
  auto out = cc::testing::project_mappings().map(parse(a08("RBT123^^^RBT^MR~9434765918^^^NHS^NH")), kFeed);
  ASSERT_TRUE(out.ok());
  const auto* patient = find(*out, "Patient");
  ASSERT_NE(patient, nullptr);
  for (const auto& [system, value] : patient->identifiers) {
    EXPECT_NE(system, "https://fhir.nhs.uk/Id/nhs-number");
    EXPECT_NE(value, "9434765918");
  }
  ASSERT_EQ(out->worklist_add.size(), 1u);
  EXPECT_EQ(out->worklist_add[0].kind, "invalid-nhs-number");
  EXPECT_EQ(out->worklist_add[0].patient_id, patient->id);
  EXPECT_TRUE(out->worklist_resolve.empty());
}

TEST(MapAdt, ValidNhsNumberResolvesBothWorklistKinds) {
  auto out = cc::testing::project_mappings().map(parse(a08("RBT123^^^RBT^MR~9434765919^^^NHS^NH")), kFeed);
  ASSERT_TRUE(out.ok());
  const std::string id =
      cc::mapping::derive_id("Patient", "https://fhir.mcht.nhs.uk/Id/hospital-number", "RBT123");
  EXPECT_EQ(out->resources.front().id, id);
  EXPECT_TRUE(out->worklist_add.empty());
  ASSERT_EQ(out->worklist_resolve.size(), 2u);
  EXPECT_EQ(out->worklist_resolve[0], std::make_pair(id, std::string("no-nhs-number")));
  EXPECT_EQ(out->worklist_resolve[1], std::make_pair(id, std::string("invalid-nhs-number")));
}

TEST(MapAdt, OnlyAnInvalidNhsNumberLeavesNothingToMap) {
  auto out = cc::testing::project_mappings().map(parse(a08("9434765918^^^NHS^NH")), kFeed);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, "no-patient");
}

TEST(MapAdt, ReplayGivesTheSameIdsAndResources) {
  const std::string text = a08("RBT123^^^RBT^MR~9434765919^^^NHS^NH");
  auto first = cc::testing::project_mappings().map(parse(text), kFeed);
  auto second = cc::testing::project_mappings().map(parse(text), kFeed);
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_EQ(first->resources.size(), 2u);
  ASSERT_EQ(second->resources.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(first->resources[i].id, second->resources[i].id);
    EXPECT_TRUE(first->resources[i].resource == second->resources[i].resource);
  }
}

// A late A08: the PAS recorded it first (EVN-2) but it arrives, and was sent (MSH-7), after a
// newer one. Its versions must carry the older event time so the store keeps the newer data.
TEST(MapAdt, EventTimeComesFromEvn2SoALateOldUpdateSortsFirst) {
  auto newer = cc::testing::project_mappings().map(
      parse(a08("RBT123^^^RBT^MR", "20240301130000", "20240301125900")), kFeed);
  auto late_old = cc::testing::project_mappings().map(
      parse(a08("RBT123^^^RBT^MR", "20240301131500", "20240301120000")), kFeed);
  ASSERT_TRUE(newer.ok() && late_old.ok());
  for (const char* type : {"Patient", "Encounter"}) {
    ASSERT_NE(find(*newer, type), nullptr);
    ASSERT_NE(find(*late_old, type), nullptr);
    EXPECT_EQ(find(*late_old, type)->id, find(*newer, type)->id);
    EXPECT_LT(find(*late_old, type)->event_time_ms, find(*newer, type)->event_time_ms) << type;
  }
  // 2024-03-01 12:00:00 GMT
  EXPECT_EQ(find(*late_old, "Patient")->event_time_ms, 1709294400000);
}

TEST(MapAdt, EventTimeFallsBackToMsh7) {
  auto out = cc::testing::project_mappings().map(parse(a08("RBT123^^^RBT^MR", "20240701120000", "")), kFeed);
  ASSERT_TRUE(out.ok());
  // 2024-07-01 12:00:00 BST = 11:00:00 UTC
  EXPECT_EQ(out->resources.front().event_time_ms, 1719831600000);
}

// Odd layouts a real feed sends: nothing here may crash, and what is mapped stays valid FHIR.
TEST(MapAdt, HostileFieldsNeverCrashOrProduceEmptyValues) {
  const std::string msh = "MSH|^~\\&|PAS|RBT|CC|CHESHIRE|20240301120000||ADT^A01|C1|P|2.4\r";
  const std::string evn = "EVN|A01|20240301120000\r";
  const std::string pv1 =
      "PV1|1|I|^^^||||^^^^^^||||||||||V1^^^RBT^VN|||||||||||||||||||||||||20240301090000\r";
  const std::vector<std::string> pids = {
      "PID\r",
      "PID|\r",
      "PID|||RBT1\r",
      "PID|||RBT1||\"\"|\"\"|\"\"|\"\"|||\"\"||\"\"|\"\"\r",
      "PID|||RBT1^^^RBT^MR~~~^^^NHS^NH~||~~^^^~\\F\\||19700101|X|||~^^^^^^H~^^^^^^^^||^^^^^^^~^NET^"
      "Internet^\r",
      "PID|||RBT1|| SMITH ^ John ||19700101|M|||   ^  ^ \r",
      "PID|||RBT1||\\E\\\\F\\\\S\\\\R\\\\T\\\\X41\\\\.br\\^\\H\\x\\N\\\r",
      "PID|||RBT1&x&y^^^RBT&&&&^MR&x||SMITH&Jones&x^John&x\r",
      "PID|||RBT1|||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||\r",
      "PID|||RBT1||SMITH\x01^\x0bJohn\x7f||19700101\x0c|M\r",
  };
  auto* schema = cc::testing::FhirSchema::shared();
  for (const std::string& pid : pids) {
    for (const std::string& text :
         {msh + evn + pid + pv1, msh + pid, msh + pid + "PD1|||^^|^^\r" + pv1}) {
      auto msg = Message::parse(text);
      if (!msg) continue;
      cc::testing::project_mappings().assess(*msg, kFeed);
      auto out = cc::testing::project_mappings().map(*msg, kFeed);
      if (!out || !schema) continue;
      for (const auto& r : out->resources) {
        for (const auto& problem : schema->validate(r.resource)) {
          ADD_FAILURE() << pid << " -> " << r.type << ": " << problem;
        }
      }
    }
  }
}

}  // namespace

namespace {
// A discharge sent to the minute in the same minute as an admission sent to the second is not
// "before" it: times are compared at the coarser precision (UCLH's feeds do this).
TEST(MapAdt, DischargeInTheAdmissionsMinuteKeepsItsEnd) {
  auto out = cc::testing::project_mappings().map(
      parse("MSH|^~\\&|PAS|RBT|CC|CHESHIRE|20130211110000||ADT^A03|C1|P|2.4\r"
            "EVN|A03|20130211110000\r"
            "PID|1||RBT123^^^RBT^MR||SMITH^JANE||19700101|F\r"
            "PV1|1|I|WD7||||||||||||||||V1^^^RBT^VN|||||||||||||||||||||||||20130211100052|201302111000\r"),
      kFeed);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->issues.empty()) << out->issues.front().message;
  const cc::mapping::MappedResource* encounter = nullptr;
  for (const auto& r : out->resources)
    if (r.type == "Encounter") encounter = &r;
  ASSERT_NE(encounter, nullptr);
  EXPECT_STREQ(encounter->resource["period"]["end"].GetString(), "2013-02-11T10:00:00+00:00");
}
}  // namespace
