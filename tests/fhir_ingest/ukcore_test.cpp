// The UK Core examples of the shared corpus sent to the GP feed one by one (PUT /fhir/{type}/{id},
// Bundles to POST /fhir), with the record holding the other examples (so their references
// resolve): each is accepted, refused as a type the record does not keep, or rejected with a
// precise reason (an error naming an element). No crash; a tally is printed.
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
using testing::read_file;

std::string examples_dir() { return std::string(CC_SHARED_DIR) + "/corpus/ukcore/json/examples"; }

TEST(UkCoreExamples, AcceptedIgnoredOrRejectedWithAPreciseReason) {
  const auto files = files_in(examples_dir(), ".json");
  if (files.empty()) GTEST_SKIP() << "no UK Core examples at " << examples_dir() << " (shared corpus absent)";
  cc::testing::FhirSchema* schema = cc::testing::FhirSchema::shared();

  // The record: every example's type/id.
  std::set<std::pair<std::string, std::string>> record;
  for (const std::string& file : files) {
    rapidjson::Document doc;
    doc.Parse(read_file(file).c_str());
    if (doc.IsObject() && doc.HasMember("resourceType") && doc.HasMember("id") && doc["id"].IsString())
      record.emplace(doc["resourceType"].GetString(), doc["id"].GetString());
  }
  Feed feed;
  feed.name = "gp-ukcore";
  feed.now_ms = 1700000000000;
  feed.in_record = [&](const std::string& type, const std::string& id) {
    return record.count({type, id}) > 0;
  };

  struct Tally { int accepted = 0, not_kept = 0, rejected = 0; };
  std::map<std::string, Tally> tally;
  std::map<std::string, int> reasons;
  std::vector<std::string> rejections;
  for (const std::string& file : files) {
    SCOPED_TRACE(file);
    const std::string body = read_file(file);
    rapidjson::Document doc;
    doc.Parse(body.c_str());
    ASSERT_TRUE(doc.IsObject() && doc.HasMember("resourceType"));
    const std::string type = doc["resourceType"].GetString();
    Request request;
    request.body = body;
    if (type == "Bundle") {
      request.kind = Request::Kind::kBundle;
    } else if (doc.HasMember("id")) {
      request.kind = Request::Kind::kUpdate;
      request.type = type;
      request.id = doc["id"].GetString();
    } else {
      request.kind = Request::Kind::kCreate;
      request.type = type;
    }
    const IngestResult result = ingest(request, feed);
    const std::string name = file.substr(file.rfind('/') + 1);
    const bool accepted = !result.resources.empty() && result.http_status < 300;
    const bool not_kept = result.issues.size() == 1 && result.issues[0].rule == "type-not-kept";
    if (accepted) {
      ++tally[type].accepted;
      if (schema) {
        for (const auto& r : result.resources) {
          const auto problems = schema->validate(r.mapped.resource);
          EXPECT_TRUE(problems.empty()) << name << ": " << r.mapped.type << ": " << problems.front();
        }
      }
    } else if (not_kept) {
      ++tally[type].not_kept;
      EXPECT_FALSE(is_kept(role_of(type))) << name << "\n" << describe(result);
      EXPECT_EQ(result.http_status, 422);
    } else {
      ++tally[type].rejected;
      // A precise reason: at least one error, each with a sentence and (for content) an element.
      ASSERT_TRUE(has_error(result.issues)) << name << "\n" << describe(result);
      // A refused transaction or single resource: 4xx; a batch answers 200 with each entry's status.
      if (result.shape == IngestResult::Shape::kBatch)
        EXPECT_EQ(result.http_status, 200);
      else
        EXPECT_GE(result.http_status, 400);
      EXPECT_STREQ(result.response["resourceType"].GetString(),
                   result.shape == IngestResult::Shape::kBatch ? "Bundle" : "OperationOutcome");
      for (const Issue& issue : result.issues) {
        if (!issue.is_error()) continue;
        EXPECT_FALSE(issue.message.empty()) << name;
        EXPECT_FALSE(issue.expression.empty()) << name << ": " << issue.message;
        ++reasons[issue.rule];
      }
      const Issue* first = nullptr;
      for (const Issue& issue : result.issues)
        if (issue.is_error() && !first) first = &issue;
      rejections.push_back(name + ": " + first->rule + " @ " + first->expression + ": " + first->message);
    }
  }

  int a = 0, i = 0, r = 0;
  std::printf("UK Core examples: %zu files\n", files.size());
  for (const auto& [type, t] : tally) {
    std::printf("  %-26s accepted %3d  type not kept %3d  rejected %3d\n", type.c_str(), t.accepted,
                t.not_kept, t.rejected);
    a += t.accepted;
    i += t.not_kept;
    r += t.rejected;
  }
  std::printf("  total: accepted %d, type not kept %d, rejected %d\n  rejection reasons (errors by rule):", a, i, r);
  for (const auto& [rule, count] : reasons) std::printf(" %s %d;", rule.c_str(), count);
  std::printf("\n  rejected (first error of each):\n");
  for (const std::string& line : rejections) std::printf("    %s\n", line.c_str());
}

}  // namespace
}  // namespace cc::fhir_ingest
