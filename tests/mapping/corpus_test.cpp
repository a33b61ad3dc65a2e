// Every message in the shared HL7 v2 corpus (US and NHS projects' test data) and its malformed
// inputs goes through assess_adt and map_adt: no crash, and every resource is valid FHIR R4.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/hl7v2/message.h"
#include "tests/mapping/test_mappings.h"
#include "tests/mapping/fhir_schema.h"

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> hl7_files(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() != ".json") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(AdtCorpus, EverySupportedAdtMessageMapsToValidFhir) {
  const fs::path corpus = fs::path(CC_SHARED_DIR) / "corpus";
  if (!fs::is_directory(corpus / "hl7v2")) {
    GTEST_SKIP() << "HL7 v2 corpus not found at " << corpus / "hl7v2";
  }
  auto* schema = cc::testing::FhirSchema::shared();
  if (!schema)
    GTEST_SKIP() << "FHIR R4 JSON schema not found at " << cc::testing::FhirSchema::path();

  const cc::mapping::FeedContext feed{"corpus", {}};
  int files = 0, messages = 0, parsed = 0, adt = 0, mapped = 0, not_mapped = 0, acked_ae = 0;
  int resources = 0, patients = 0, encounters = 0, invalid = 0;
  std::vector<fs::path> all = hl7_files(corpus / "hl7v2");
  for (const auto& path : hl7_files(corpus / "malformed")) all.push_back(path);
  for (const auto& path : all) {
    ++files;
    for (const std::string& text : cc::hl7v2::split_messages(read_file(path))) {
      ++messages;
      auto msg = cc::hl7v2::Message::parse(text);
      if (!msg) continue;
      ++parsed;
      const auto assessment = cc::testing::project_mappings().assess(*msg, feed);
      if (!assessment.supported) continue;
      ++adt;
      if (assessment.has_error()) ++acked_ae;
      auto out = cc::testing::project_mappings().map(*msg, feed);
      if (!out) {
        ++not_mapped;
        std::cout << "  not mapped: " << fs::relative(path, corpus).string() << ": "
                  << out.error().message << "\n";
        continue;
      }
      ++mapped;
      for (const auto& r : out->resources) {
        ++resources;
        (r.type == "Patient" ? patients : encounters)++;
        const auto problems = schema->validate(r.resource);
        if (!problems.empty()) ++invalid;
        for (const auto& problem : problems) {
          ADD_FAILURE() << fs::relative(path, corpus).string() << " (" << msg->control_id() << ") "
                        << r.type << ": " << problem;
        }
      }
    }
  }
  std::cout << "corpus: " << files << " files, " << messages << " messages, " << parsed
            << " parsed, " << adt << " supported ADT (" << acked_ae << " would be AE), " << mapped
            << " mapped, " << not_mapped << " not mapped; " << resources << " resources ("
            << patients << " Patient, " << encounters << " Encounter), " << invalid << " invalid\n";
  RecordProperty("supported_adt", adt);
  RecordProperty("resources", resources);
  EXPECT_GT(adt, 0) << "the corpus held no supported ADT message";
  EXPECT_EQ(invalid, 0);
}

}  // namespace
