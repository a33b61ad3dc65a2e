// Row mappings (extract feeds): one CSV or JSON-lines row through mappings/social-care-episodes.json.
// Columns are read by name; the patient comes from the person id and NHS number columns; problems
// name their column.
#include <gtest/gtest.h>

#include "tests/mapping/fhir_schema.h"
#include "tests/mapping/test_mappings.h"

namespace {

using cc::mapping::FeedContext;
using cc::mapping::RowInput;

const FeedContext kFeed{"cheshire-east-sc", {{"SOCIAL-CARE", "https://fhir.cheshireeast.gov.uk/Id/person-id"}}};
const std::string kMapping = "social-care-episodes";

// Values by column name, in the mapping's declared order.
struct Row {
  std::map<std::string, std::string> cells;
  RowInput input() const {
    RowInput in;
    in.number = 7;
    for (const auto& column : cc::testing::project_mappings().row_columns(kMapping)) {
      auto it = cells.find(column);
      in.values.push_back(it == cells.end() ? std::string_view() : std::string_view(it->second));
    }
    return in;
  }
};

Row good_row() {
  return Row{{{"person_id", "P0012345"}, {"nhs_number", "999 123 4578"}, {"family_name", "HARGREAVES"},
              {"given_name", "Margaret"}, {"birth_date", "12/03/1948"}, {"episode_id", "EP-7781"},
              {"service", "Adult Social Care - Home care"}, {"status", "Open"}, {"start_date", "01/02/2024"},
              {"lead_worker", "Sam Patel"}, {"team", "Crewe Locality Team"}, {"safeguarding", "Y"},
              {"last_updated", "15/03/2024 09:30"}}};
}

const cc::mapping::MappedResource* find(const cc::mapping::MappingOutput& out, const std::string& type) {
  for (const auto& r : out.resources)
    if (r.type == type) return &r;
  return nullptr;
}

TEST(RowMapping, TheMappingDeclaresItsColumns) {
  std::vector<bool> required;
  auto columns = cc::testing::project_mappings().row_columns(kMapping, &required);
  ASSERT_FALSE(columns.empty());
  EXPECT_EQ(columns.front(), "person_id");
  EXPECT_TRUE(required.front());
  EXPECT_FALSE(cc::testing::project_mappings().has_row_mapping("no-such-mapping"));
}

TEST(RowMapping, ARowBecomesAnEpisodeAFlagAndItsPatientValidFhir) {
  const Row row = good_row();
  auto out = cc::testing::project_mappings().map_row(kMapping, row.input(), kFeed);
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_TRUE(out->issues.empty()) << out->issues.front().message;
  const auto* patient = find(*out, "Patient");
  const auto* episode = find(*out, "EpisodeOfCare");
  const auto* flag = find(*out, "Flag");
  ASSERT_TRUE(patient && episode && flag);
  EXPECT_TRUE(patient->only_if_absent);
  EXPECT_EQ(patient->id, cc::mapping::derive_id("Patient", "https://fhir.cheshireeast.gov.uk/Id/person-id", "P0012345"));
  EXPECT_STREQ(patient->resource["birthDate"].GetString(), "1948-03-12");
  EXPECT_STREQ(patient->resource["identifier"][0]["value"].GetString(), "9991234578");  // spaces dropped
  EXPECT_STREQ(episode->resource["status"].GetString(), "active");
  EXPECT_STREQ(episode->resource["period"]["start"].GetString(), "2024-02-01");
  EXPECT_STREQ(episode->resource["careManager"]["display"].GetString(), "Sam Patel");
  EXPECT_EQ(episode->patient_id, patient->id);
  EXPECT_STREQ(flag->resource["status"].GetString(), "active");
  // 15/03/2024 09:30 is GMT.
  EXPECT_EQ(episode->event_time_ms, 1710495000000);
  if (auto* schema = cc::testing::FhirSchema::shared()) {
    for (const auto& r : out->resources)
      for (const auto& problem : schema->validate(r.resource)) ADD_FAILURE() << r.type << ": " << problem;
  }
}

TEST(RowMapping, AClosedEpisodeEndsItsSafeguardingFlag) {
  Row row = good_row();
  row.cells["status"] = "Closed";
  row.cells["end_date"] = "10/03/2024";
  auto out = cc::testing::project_mappings().map_row(kMapping, row.input(), kFeed);
  ASSERT_TRUE(out.ok());
  EXPECT_STREQ(find(*out, "EpisodeOfCare")->resource["status"].GetString(), "finished");
  EXPECT_STREQ(find(*out, "Flag")->resource["status"].GetString(), "inactive");
  row.cells["safeguarding"] = "N";
  auto none = cc::testing::project_mappings().map_row(kMapping, row.input(), kFeed);
  EXPECT_EQ(find(*none, "Flag"), nullptr);
}

TEST(RowMapping, AnInvalidNhsNumberIsAnErrorOnItsColumnAndThePersonIdCarriesThePatient) {
  Row row = good_row();
  row.cells["nhs_number"] = "9991234579";
  auto out = cc::testing::project_mappings().map_row(kMapping, row.input(), kFeed);
  ASSERT_TRUE(out.ok());
  ASSERT_FALSE(out->issues.empty());
  EXPECT_TRUE(out->issues.front().error);
  EXPECT_EQ(out->issues.front().column, "nhs_number");
  const auto* patient = find(*out, "Patient");
  ASSERT_NE(patient, nullptr);
  for (const auto& [system, value] : patient->identifiers) EXPECT_NE(value, "9991234579");
}

TEST(RowMapping, ABadDateNamesItsColumnAndTheFormat) {
  Row row = good_row();
  row.cells["start_date"] = "2024-02-01";
  auto out = cc::testing::project_mappings().map_row(kMapping, row.input(), kFeed);
  ASSERT_TRUE(out.ok());
  bool found = false;
  for (const auto& issue : out->issues) {
    if (issue.column != "start_date") continue;
    found = true;
    EXPECT_TRUE(issue.error);
    EXPECT_NE(issue.message.find("is not a date written DD/MM/YYYY"), std::string::npos) << issue.message;
  }
  EXPECT_TRUE(found);
}

TEST(RowMapping, AnUnknownStatusIsAWarningAndReported) {
  Row row = good_row();
  row.cells["status"] = "Pending review";
  auto out = cc::testing::project_mappings().map_row(kMapping, row.input(), kFeed);
  ASSERT_TRUE(out.ok());
  EXPECT_STREQ(find(*out, "EpisodeOfCare")->resource["status"].GetString(), "active");
  ASSERT_FALSE(out->issues.empty());
  EXPECT_FALSE(out->issues.front().error);
  EXPECT_EQ(out->issues.front().column, "status");
  ASSERT_EQ(out->unmapped_codes.size(), 1u);
  EXPECT_EQ(out->unmapped_codes.front().code, "Pending review");
}

TEST(RowMapping, ARowNamingNoPatientIsRefusedWithTheReason) {
  Row row = good_row();
  row.cells.erase("person_id");
  row.cells["nhs_number"] = "";
  auto out = cc::testing::project_mappings().map_row(kMapping, row.input(), kFeed);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, "no-patient");
  EXPECT_NE(out.error().message.find("person id"), std::string::npos);
}

}  // namespace
