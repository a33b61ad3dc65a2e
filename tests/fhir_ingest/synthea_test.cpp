// The Synthea patient bundles of the shared corpus, each given a test NHS number and posted as a
// GP transaction: everything of a kept type accepted, counts by type as in the bundle, every
// reference resolving to an output resource (or replaced, for a type the record does not keep),
// and every output valid against the official FHIR R4 schema. Prints a tally and a throughput.
#include <chrono>
#include <cstdio>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "adapters/fhir/gp_ingest.h"
#include "adapters/fhir/resource_rules.h"
#include "tests/fhir_ingest/test_support.h"
#include "tests/mapping/fhir_schema.h"

namespace cc::fhir_ingest {
namespace {

using testing::describe;
using testing::files_in;
using testing::for_each_reference;
using testing::read_file;
using testing::test_nhs_number;
using testing::to_json;

std::string synthea_dir() { return std::string(CC_SHARED_DIR) + "/corpus/synthea"; }

// The bundle with an NHS number identifier added to its Patient.
std::string with_nhs_number(const std::string& text, const std::string& nhs) {
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  auto& alloc = doc.GetAllocator();
  for (auto& e : doc["entry"].GetArray()) {
    auto& r = e["resource"];
    if (std::string(r["resourceType"].GetString()) != "Patient") continue;
    rapidjson::Value id(rapidjson::kObjectType);
    id.AddMember("system", "https://fhir.nhs.uk/Id/nhs-number", alloc);
    id.AddMember("value", rapidjson::Value(nhs.c_str(), alloc), alloc);
    if (!r.HasMember("identifier")) r.AddMember("identifier", rapidjson::Value(rapidjson::kArrayType), alloc);
    r["identifier"].PushBack(id, alloc);
  }
  return to_json(doc);
}

TEST(SyntheaBundles, AcceptedWholeWithCountsReferencesAndSchemaIntact) {
  const auto files = files_in(synthea_dir(), ".json");
  if (files.empty()) GTEST_SKIP() << "no Synthea bundles at " << synthea_dir() << " (shared corpus absent)";
  cc::testing::FhirSchema* schema = cc::testing::FhirSchema::shared();

  Feed feed;
  feed.name = "gp-synthea";
  feed.now_ms = 1700000000000;

  std::map<std::string, int> sent, stored, ignored;
  size_t resources_in = 0, schema_failures = 0, references_checked = 0, references_replaced = 0;
  double seconds = 0;
  int n = 0;
  for (const std::string& file : files) {
    SCOPED_TRACE(file);
    const std::string nhs = test_nhs_number(100 + n++);
    const std::string body = with_nhs_number(read_file(file), nhs);
    rapidjson::Document input;
    input.Parse(body.c_str());
    std::map<std::string, int> expected;
    for (const auto& e : input["entry"].GetArray()) {
      const std::string type = e["resource"]["resourceType"].GetString();
      ++sent[type];
      ++resources_in;
      if (is_kept(role_of(type))) ++expected[type];
    }

    Request request;
    request.body = body;
    const auto start = std::chrono::steady_clock::now();
    const IngestResult result = ingest(request, feed);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    ASSERT_EQ(result.http_status, 200) << describe(result);
    ASSERT_TRUE(result.accepted_all()) << describe(result);
    for (const Issue& issue : result.issues) EXPECT_FALSE(issue.is_error()) << issue.message;

    // Counts by type: the bundle's kept types, all stored.
    std::map<std::string, int> got;
    std::set<std::string> ids;
    for (const auto& r : result.resources) {
      ++got[r.mapped.type];
      ++stored[r.mapped.type];
      ids.insert(r.mapped.type + "/" + r.mapped.id);
    }
    EXPECT_EQ(got, expected);
    EXPECT_EQ(ids.size(), result.resources.size()) << "two outputs share a type and id";
    for (const auto& o : result.entries)
      if (o.disposition == Disposition::kIgnored) ++ignored[o.resource_type];

    // The patient: the NHS number's; every clinical resource under it.
    const std::string pid = default_patient_id(*identity::NhsNumber::parse(nhs));
    for (const auto& r : result.resources) {
      const Role role = role_of(r.mapped.type);
      if (role == Role::kSupporting)
        EXPECT_TRUE(r.mapped.patient_id.empty());
      else
        EXPECT_EQ(r.mapped.patient_id, pid) << r.mapped.type;
    }

    // Every reference resolves to an output resource, a contained one, or was replaced.
    for (const auto& r : result.resources) {
      for_each_reference(r.mapped.resource, [&](const rapidjson::Value& ref) {
        const std::string target = ref["reference"].GetString();
        ++references_checked;
        if (target[0] == '#') return;
        EXPECT_TRUE(ids.count(target)) << r.mapped.type << " refers to " << target;
      });
      const std::string text = to_json(r.mapped.resource);
      EXPECT_EQ(text.find("urn:uuid:"), std::string::npos) << r.mapped.type << " kept a temporary id";
    }
    for (const Issue& issue : result.issues)
      if (issue.rule == "reference-to-ignored") ++references_replaced;

    // The official R4 schema.
    if (schema) {
      for (const auto& r : result.resources) {
        const auto problems = schema->validate(r.mapped.resource);
        if (!problems.empty()) {
          ++schema_failures;
          ADD_FAILURE() << r.mapped.type << "/" << r.mapped.id << ": " << problems.front();
        }
      }
    }
  }

  size_t stored_total = 0;
  std::printf("Synthea: %zu bundles, %zu resources sent\n", files.size(), resources_in);
  for (const auto& [type, count] : sent) {
    std::printf("  %-22s sent %5d  stored %5d  ignored %5d\n", type.c_str(), count,
                stored.count(type) ? stored[type] : 0, ignored.count(type) ? ignored[type] : 0);
    stored_total += stored.count(type) ? stored[type] : 0;
  }
  std::printf("  references checked %zu, replaced (to an ignored type) %zu\n", references_checked,
              references_replaced);
  std::printf("  official R4 schema: %s\n",
              schema ? (std::to_string(stored_total - schema_failures) + " of " +
                        std::to_string(stored_total) + " stored resources valid").c_str()
                     : "skipped (schema absent)");
  std::printf("  ingest (parse, validate, ids, rewrite, response) %.3f s: %.0f resources/s sent, "
              "%.0f stored/s (one thread; a figure, not a test)\n",
              seconds, resources_in / seconds, stored_total / seconds);
  if (!schema) std::printf("  (official schema not found at %s)\n", cc::testing::FhirSchema::path().c_str());
}

// The record builder maps a stored push accepted whole without the JSON Schema pass
// (Feed::accepted_before): the resources are exactly those of the full ingest.
TEST(SyntheaBundles, APushAcceptedBeforeGivesTheSameResourcesWithoutTheSchemaPass) {
  const auto files = files_in(synthea_dir(), ".json");
  if (files.empty()) GTEST_SKIP() << "no Synthea bundles at " << synthea_dir() << " (shared corpus absent)";
  Feed feed;
  feed.name = "gp-synthea";
  feed.now_ms = 1700000000000;
  Feed again = feed;
  again.accepted_before = true;
  int n = 0;
  for (const std::string& file : files) {
    SCOPED_TRACE(file);
    const std::string body = with_nhs_number(read_file(file), test_nhs_number(300 + n++));
    Request request;
    request.body = body;
    const IngestResult full = ingest(request, feed);
    ASSERT_TRUE(full.accepted_all()) << describe(full);
    const IngestResult quick = ingest(request, again);
    ASSERT_EQ(quick.resources.size(), full.resources.size());
    for (size_t i = 0; i < full.resources.size(); ++i) {
      EXPECT_EQ(quick.resources[i].mapped.id, full.resources[i].mapped.id);
      EXPECT_EQ(to_json(quick.resources[i].mapped.resource), to_json(full.resources[i].mapped.resource));
    }
  }
}

TEST(SyntheaBundles, AsBatchTheSameIsAccepted) {
  const auto files = files_in(synthea_dir(), ".json");
  if (files.empty()) GTEST_SKIP() << "no Synthea bundles at " << synthea_dir() << " (shared corpus absent)";
  std::string body = with_nhs_number(read_file(files.front()), test_nhs_number(99));
  const std::string from = "\"type\":\"transaction\"";
  body.replace(body.find(from), from.size(), "\"type\":\"batch\"");
  Request request;
  request.body = body;
  Feed feed;
  feed.name = "gp-synthea";
  const IngestResult result = ingest(request, feed);
  EXPECT_EQ(result.http_status, 200);
  EXPECT_EQ(result.shape, IngestResult::Shape::kBatch);
  EXPECT_TRUE(result.accepted_all()) << describe(result);
}

}  // namespace
}  // namespace cc::fhir_ingest
