// SIU, MDM, PPR and pharmacy rules that span messages: a reschedule, cancellation or no-show is
// a new version of the same Appointment; T08 and T11 are versions of the T02's DocumentReference;
// PC2 and PC3 of the PC1's Condition; dispenses and administrations point at their order.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/hl7v2/message.h"
#include "tests/mapping/test_mappings.h"

namespace {

namespace fs = std::filesystem;
using cc::hl7v2::Message;
using cc::mapping::MappedResource;
using cc::mapping::MappingOutput;

const fs::path kCases = fs::path(CC_SOURCE_DIR) / "tests" / "mapping";
const cc::mapping::FeedContext kFeed{"pas-adt", {{"RBT", "https://fhir.mcht.nhs.uk/Id/hospital-number"}}};

std::string read(const std::string& family, const std::string& name) {
  std::ifstream in(kCases / family / (name + ".hl7"), std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

MappingOutput map_text(const std::string& text) {
  auto msg = Message::parse(text);
  EXPECT_TRUE(msg.ok());
  auto out = cc::testing::project_mappings().map(*msg, kFeed);
  EXPECT_TRUE(out.ok()) << (out.ok() ? "" : out.error().message);
  return std::move(out).value();
}

MappingOutput map(const std::string& family, const std::string& name) { return map_text(read(family, name)); }

std::vector<const MappedResource*> all(const MappingOutput& out, const std::string& type) {
  std::vector<const MappedResource*> found;
  for (const auto& r : out.resources)
    if (r.type == type) found.push_back(&r);
  return found;
}

const MappedResource& only(const MappingOutput& out, const std::string& type) {
  auto found = all(out, type);
  EXPECT_EQ(found.size(), 1u) << "expected one " << type;
  static const MappedResource none;
  return found.empty() ? none : *found.front();
}

std::string str(const MappedResource& r, const char* member) {
  auto it = r.resource.FindMember(member);
  return it != r.resource.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
}

TEST(SiuMapping, RescheduleCancellationAndNoShowAreVersionsOfTheSameAppointment) {
  const char* names[] = {"s12_outpatient_booking", "s13_rescheduled_bst", "s14_modified_empty_fields", "s15_cancelled",
                         "s26_no_show"};
  const char* statuses[] = {"booked", "booked", "booked", "cancelled", "noshow"};
  std::string id;
  int64_t previous = 0;
  for (int i = 0; i < 5; ++i) {
    auto out = map("siu", names[i]);
    const auto& appointment = only(out, "Appointment");
    if (id.empty()) id = appointment.id;
    EXPECT_EQ(appointment.id, id) << names[i];
    EXPECT_EQ(str(appointment, "status"), statuses[i]) << names[i];
    EXPECT_GT(appointment.event_time_ms, previous) << names[i] << " must be a later version";
    previous = appointment.event_time_ms;
  }
}

TEST(SiuMapping, RescheduledTimeComesFromServiceStartAndDuration) {
  auto out = map("siu", "s13_rescheduled_bst");
  const auto& appointment = only(out, "Appointment");
  EXPECT_EQ(str(appointment, "start"), "2024-04-22T14:15:00+01:00");
  EXPECT_EQ(str(appointment, "end"), "2024-04-22T14:45:00+01:00");  // AIS-7 30, AIS-8 MIN
}

// A duration that would end past 9999 (a typing error, or hundreds of digits) gives no end, never an
// overflow; as for a duration in units nobody knows (s12_no_end_time), a booked appointment then
// carries neither start nor end (FHIR app-3), and the rest of it is kept.
TEST(SiuMapping, ADurationEndingPastTheYear9999GivesNoEnd) {
  const std::string text = read("siu", "s13_rescheduled_bst");
  const std::string duration = "|30|MIN";
  ASSERT_NE(text.find(duration), std::string::npos);
  for (const std::string& amount : {std::string(100, '3'), std::string("5000000"), std::string(400, '9') + ".5"}) {
    std::string changed = text;
    changed.replace(changed.find(duration), duration.size(), "|" + amount + "|WK");
    auto out = map_text(changed);
    const auto& appointment = only(out, "Appointment");
    EXPECT_EQ(str(appointment, "status"), "booked") << amount.size();
    EXPECT_FALSE(appointment.resource.HasMember("end")) << amount.size();
    EXPECT_FALSE(appointment.resource.HasMember("start")) << amount.size();
  }
}

TEST(SiuMapping, CancellationReasonOnlyOnCancelledOrNoShow) {
  EXPECT_TRUE(only(map("siu", "s15_cancelled"), "Appointment").resource.HasMember("cancelationReason"));
  EXPECT_FALSE(only(map("siu", "s13_rescheduled_bst"), "Appointment").resource.HasMember("cancelationReason"));
}

TEST(SiuMapping, TheSameAppointmentNumberForAnotherPatientIsAnotherAppointment) {
  std::string text = read("siu", "s12_outpatient_booking");
  const std::string pid = "RBT1234567^^^RBT^MR~9991234578^^^NHS^NH";
  auto mine = map_text(text);
  text.replace(text.find(pid), pid.size(), "RBT7654321^^^RBT^MR");
  auto theirs = map_text(text);
  EXPECT_NE(only(mine, "Appointment").id, only(theirs, "Appointment").id);
}

TEST(SiuMapping, PatientIsWrittenOnlyWhenAbsent) {
  auto out = map("siu", "s12_outpatient_booking");
  EXPECT_TRUE(only(out, "Patient").only_if_absent);
}

TEST(MdmMapping, EditAndCancelAreVersionsOfTheOriginalDocument) {
  auto original = map("mdm", "t02_discharge_summary");
  auto edited = map("mdm", "t08_edit_discharge_summary_empty_fields");
  auto cancelled = map("mdm", "t11_cancel_discharge_summary");
  const auto& a = only(original, "DocumentReference");
  const auto& b = only(edited, "DocumentReference");
  const auto& c = only(cancelled, "DocumentReference");
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.id, c.id);
  EXPECT_EQ(str(a, "status"), "current");
  EXPECT_EQ(str(b, "status"), "current");
  EXPECT_EQ(str(c, "status"), "entered-in-error");
  EXPECT_LT(a.event_time_ms, b.event_time_ms);
  EXPECT_LT(b.event_time_ms, c.event_time_ms);
  // The edit's content replaces the original's.
  EXPECT_STRNE(a.resource["content"][0]["attachment"]["data"].GetString(),
               b.resource["content"][0]["attachment"]["data"].GetString());
}

TEST(MdmMapping, EmbeddedPdfIsKeptAsSent) {
  auto out = map("mdm", "t04_clinic_letter_pdf");
  const auto& doc = only(out, "DocumentReference");
  const auto& pdf = doc.resource["content"][0]["attachment"];
  EXPECT_STREQ(pdf["contentType"].GetString(), "application/pdf");
  EXPECT_EQ(std::string(pdf["data"].GetString()).rfind("JVBERi0", 0), 0u);  // "%PDF-"
}

// Every problem the mapping reports is a sentence, even when a part it quotes was not sent: a
// problem without its instance ID (PRB-4) and with an unknown status (PRB-14) gets both problems'
// sentences, the missing part said to be "(not sent)" (once the whole sentence went missing, and
// the ERR segment carried no text).
TEST(PprMapping, AProblemsSentenceSurvivesAMissingPart) {
  std::string text = read("ppr", "pc1_add_problems_repeats_escapes");
  const std::string instance = "PRB-000451^EPR";
  ASSERT_NE(text.find(instance), std::string::npos);
  text.erase(text.find(instance), instance.size());
  text.replace(text.find("active^Active^RBTPROB"), 21, "dormant");
  auto msg = Message::parse(text);
  ASSERT_TRUE(msg.ok());
  auto out = cc::testing::project_mappings().map(*msg, kFeed);
  ASSERT_TRUE(out.ok()) << out.error().message;
  bool status_reported = false;
  for (const auto& issue : out->issues) {
    EXPECT_FALSE(issue.message.empty()) << "HL7 error " << issue.hl7_code;
    if (issue.message.find("\"dormant\" of problem (not sent)") != std::string::npos) status_reported = true;
  }
  EXPECT_TRUE(status_reported);
  for (const auto& issue : cc::testing::project_mappings().assess(*msg, kFeed).issues)
    EXPECT_FALSE(issue.message.empty()) << "HL7 error " << issue.hl7_code;
}

TEST(PprMapping, DeletionMarksTheSameConditionEnteredInError) {
  auto added = map("ppr", "pc1_add_problems_repeats_escapes");
  auto deleted = map("ppr", "pc3_delete_problem");
  const auto& gone = only(deleted, "Condition");
  const MappedResource* before = nullptr;
  for (const auto* r : all(added, "Condition"))
    if (r->id == gone.id) before = r;
  ASSERT_NE(before, nullptr) << "PC3 must name a Condition the PC1 created";
  EXPECT_TRUE(before->resource.HasMember("clinicalStatus"));
  EXPECT_FALSE(gone.resource.HasMember("clinicalStatus"));  // FHIR con-5
  EXPECT_STREQ(gone.resource["verificationStatus"]["coding"][0]["code"].GetString(), "entered-in-error");
  EXPECT_GT(gone.event_time_ms, before->event_time_ms);
}

TEST(PprMapping, UpdateResolvesTheSameCondition) {
  auto added = map("ppr", "pc1_add_problems_repeats_escapes");
  auto updated = map("ppr", "pc2_update_resolved");
  const auto& resolved = only(updated, "Condition");
  bool found = false;
  for (const auto* r : all(added, "Condition")) found = found || r->id == resolved.id;
  EXPECT_TRUE(found);
  EXPECT_STREQ(resolved.resource["clinicalStatus"]["coding"][0]["code"].GetString(), "resolved");
  EXPECT_STREQ(resolved.resource["abatementDateTime"].GetString(), "2024-06-05");
}

TEST(PharmacyMapping, DiscontinuationIsAVersionOfTheOrderAndDispenseAndAdministrationPointAtIt) {
  auto ordered = map("pharmacy", "rde_o11_new_orders_repeats");
  auto stopped = map("pharmacy", "rde_o11_discontinued_empty_fields");
  auto dispensed = map("pharmacy", "rds_o13_dispense");
  auto given = map("pharmacy", "ras_o17_administrations");
  const auto& order = *all(ordered, "MedicationRequest").at(0);
  const auto& stop = only(stopped, "MedicationRequest");
  EXPECT_EQ(order.id, stop.id);
  EXPECT_EQ(str(order, "status"), "active");
  EXPECT_EQ(str(stop, "status"), "stopped");
  const std::string reference = "MedicationRequest/" + order.id;
  EXPECT_EQ(only(dispensed, "MedicationDispense").resource["authorizingPrescription"][0]["reference"].GetString(), reference);
  const auto administrations = all(given, "MedicationAdministration");
  ASSERT_EQ(administrations.size(), 2u);
  for (const auto* a : administrations) EXPECT_EQ(a->resource["request"]["reference"].GetString(), reference);
  EXPECT_NE(administrations[0]->id, administrations[1]->id);
}

TEST(PharmacyMapping, AnOrderWithoutTimingDoesNotBorrowTheOrderBeforeIt) {
  auto out = map("pharmacy", "rde_o11_new_orders_repeats");
  const auto orders = all(out, "MedicationRequest");
  ASSERT_EQ(orders.size(), 2u);
  // The second order has no TQ1: its timing is its own RXE-1 (Q6H, when required), not the first order's TID.
  const auto& timing = orders[1]->resource["dosageInstruction"][0]["timing"];
  EXPECT_STREQ(timing["code"]["text"].GetString(), "Q6H");
  EXPECT_TRUE(orders[1]->resource["dosageInstruction"][0]["asNeededBoolean"].GetBool());
}

TEST(PharmacyMapping, DeletedAdministrationIsEnteredInErrorOnTheSameResource) {
  auto given = map("pharmacy", "ras_o17_administrations");
  auto deleted = map("pharmacy", "ras_o17_entered_in_error");
  const auto& gone = only(deleted, "MedicationAdministration");
  EXPECT_EQ(all(given, "MedicationAdministration").at(0)->id, gone.id);
  EXPECT_EQ(str(gone, "status"), "entered-in-error");
}

TEST(PharmacyMapping, ReportedMedicinesBecomeMedicationStatements) {
  auto out = map("pharmacy", "rde_o11_medication_list");
  EXPECT_TRUE(all(out, "MedicationRequest").empty());
  EXPECT_EQ(all(out, "MedicationStatement").size(), 2u);
}

TEST(PharmacyMapping, LocalDrugCodesAreKeptAndReportedNeverGuessed) {
  auto out = map("pharmacy", "rds_o13_dispense");
  const auto& coding = only(out, "MedicationDispense").resource["medicationCodeableConcept"]["coding"];
  ASSERT_EQ(coding.Size(), 1u);
  EXPECT_STREQ(coding[0]["code"].GetString(), "AMOX500C");
  int reported = 0;
  for (const auto& c : out.unmapped_codes) reported += c.table == "medicines" && c.code == "AMOX500C";
  EXPECT_EQ(reported, 1);
}

}  // namespace
