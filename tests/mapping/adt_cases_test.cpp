// Mapping as data: each adt/<case>.hl7 is assessed and mapped, and the outcome compared with
// adt/<case>.expected.json. CC_UPDATE_EXPECTED=1 rewrites the expectations (then review them).
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include "adapters/hl7v2/message.h"
#include "engine/fhir/datetime.h"
#include "tests/mapping/test_mappings.h"
#include "tests/mapping/fhir_schema.h"

namespace {

namespace fs = std::filesystem;
using cc::hl7v2::Message;
using cc::mapping::FeedContext;
using rapidjson::Value;

const fs::path kCaseDir = fs::path(CC_SOURCE_DIR) / "tests" / "mapping" / "adt";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string pretty(const Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
  writer.SetIndent(' ', 2);
  v.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  if (!fs::is_directory(kCaseDir)) return names;
  for (const auto& entry : fs::directory_iterator(kCaseDir)) {
    if (entry.path().extension() == ".hl7") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// adt/feed.json: the feed configuration every case is mapped under.
FeedContext case_feed() {
  rapidjson::Document doc;
  doc.Parse(read_file(kCaseDir / "feed.json").c_str());
  FeedContext feed;
  if (!doc.IsObject()) return feed;
  feed.feed = doc["feed"].GetString();
  for (auto& m : doc["authority_systems"].GetObject()) {
    feed.authority_systems[m.name.GetString()] = m.value.GetString();
  }
  return feed;
}

// "PID-3(2)": segment, field, repetition, component as far as the location goes.
std::string location(const cc::hl7v2::Location& where) {
  std::string s = where.segment;
  if (where.field) s += "-" + std::to_string(where.field);
  if (where.repetition) s += "(" + std::to_string(where.repetition) + ")";
  if (where.component) s += "." + std::to_string(where.component);
  return s;
}

Value str(const std::string& s, rapidjson::Document::AllocatorType& a) {
  return Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a);
}

Value issues_json(const std::vector<cc::mapping::Issue>& issues,
                  rapidjson::Document::AllocatorType& a) {
  Value out(rapidjson::kArrayType);
  for (const auto& issue : issues) {
    Value i(rapidjson::kObjectType);
    i.AddMember("error", issue.error, a);
    i.AddMember("hl7_code", issue.hl7_code, a);
    i.AddMember("where", str(location(issue.where), a), a);
    i.AddMember("message", str(issue.message, a), a);
    out.PushBack(i, a);
  }
  return out;
}

// Everything the engine takes from assess_adt and map_adt for one message, as one JSON object.
rapidjson::Document outcome(const Message& msg, const FeedContext& feed) {
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  const auto assessment = cc::testing::project_mappings().assess(msg, feed);
  doc.AddMember("supported", assessment.supported, a);
  doc.AddMember("ack", Value(assessment.has_error() ? "AE" : "AA"), a);

  auto mapped = cc::testing::project_mappings().map(msg, feed);
  if (!mapped) {
    doc.AddMember("issues", issues_json(assessment.issues, a), a);
    Value error(rapidjson::kObjectType);
    error.AddMember("code", str(mapped.error().code, a), a);
    error.AddMember("message", str(mapped.error().message, a), a);
    doc.AddMember("error", error, a);
    return doc;
  }
  doc.AddMember("issues", issues_json(mapped->issues, a), a);
  Value resources(rapidjson::kArrayType);
  for (auto& r : mapped->resources) {
    Value entry(rapidjson::kObjectType);
    entry.AddMember("type", str(r.type, a), a);
    entry.AddMember("id", str(r.id, a), a);
    entry.AddMember("patient_id", str(r.patient_id, a), a);
    entry.AddMember("event_time", str(cc::fhir::fhir_instant_utc(r.event_time_ms), a), a);
    Value identifiers(rapidjson::kArrayType);
    for (const auto& [system, value] : r.identifiers) {
      Value pair(rapidjson::kArrayType);
      pair.PushBack(str(system, a), a).PushBack(str(value, a), a);
      identifiers.PushBack(pair, a);
    }
    entry.AddMember("identifiers", identifiers, a);
    entry.AddMember("resource", Value(r.resource, a), a);
    resources.PushBack(entry, a);
  }
  doc.AddMember("resources", resources, a);
  Value added(rapidjson::kArrayType);
  for (const auto& item : mapped->worklist_add) {
    Value i(rapidjson::kObjectType);
    i.AddMember("kind", str(item.kind, a), a);
    i.AddMember("patient_id", str(item.patient_id, a), a);
    i.AddMember("detail", str(item.detail, a), a);
    added.PushBack(i, a);
  }
  doc.AddMember("worklist_add", added, a);
  Value resolved(rapidjson::kArrayType);
  for (const auto& [patient_id, kind] : mapped->worklist_resolve) {
    Value i(rapidjson::kObjectType);
    i.AddMember("patient_id", str(patient_id, a), a);
    i.AddMember("kind", str(kind, a), a);
    resolved.PushBack(i, a);
  }
  doc.AddMember("worklist_resolve", resolved, a);
  return doc;
}

// The path of the first place two JSON values differ ("" when equal), to point at a mismatch.
std::string first_difference(const Value& expected, const Value& actual, const std::string& path) {
  if (expected == actual) return "";
  if (expected.IsObject() && actual.IsObject()) {
    for (auto& m : expected.GetObject()) {
      const std::string at = path + "." + m.name.GetString();
      if (!actual.HasMember(m.name)) return at + " (missing in actual)";
      if (auto d = first_difference(m.value, actual[m.name], at); !d.empty()) return d;
    }
    for (auto& m : actual.GetObject()) {
      if (!expected.HasMember(m.name)) return path + "." + m.name.GetString() + " (not expected)";
    }
  }
  if (expected.IsArray() && actual.IsArray()) {
    for (rapidjson::SizeType i = 0; i < std::min(expected.Size(), actual.Size()); ++i) {
      const std::string at = path + "[" + std::to_string(i) + "]";
      if (auto d = first_difference(expected[i], actual[i], at); !d.empty()) return d;
    }
    return path + " (expected " + std::to_string(expected.Size()) + " items, got " +
           std::to_string(actual.Size()) + ")";
  }
  return path;
}

class AdtCase : public ::testing::TestWithParam<std::string> {
 protected:
  fs::path hl7_path() const { return kCaseDir / (GetParam() + ".hl7"); }
  fs::path expected_path() const { return kCaseDir / (GetParam() + ".expected.json"); }
};

TEST_P(AdtCase, MapsAsExpected) {
  auto msg = Message::parse(read_file(hl7_path()));
  ASSERT_TRUE(msg.ok()) << hl7_path() << ": " << msg.error().message;
  const rapidjson::Document actual = outcome(*msg, case_feed());

  if (std::getenv("CC_UPDATE_EXPECTED")) {
    std::ofstream(expected_path(), std::ios::binary) << pretty(actual);
    GTEST_SKIP() << "rewrote " << expected_path() << "; review it before committing";
  }
  ASSERT_TRUE(fs::exists(expected_path()))
      << expected_path() << " is missing; run with CC_UPDATE_EXPECTED=1 to create it";
  rapidjson::Document expected;
  expected.Parse(read_file(expected_path()).c_str());
  ASSERT_FALSE(expected.HasParseError()) << expected_path() << " is not valid JSON";
  EXPECT_TRUE(expected == actual) << "first difference at "
                                  << first_difference(expected, actual, "$") << "\n--- expected ("
                                  << expected_path().string() << ")\n"
                                  << pretty(expected) << "--- actual\n"
                                  << pretty(actual);
}

TEST_P(AdtCase, ResourcesAreValidFhirR4) {
  auto* schema = cc::testing::FhirSchema::shared();
  if (!schema)
    GTEST_SKIP() << "FHIR R4 JSON schema not found at " << cc::testing::FhirSchema::path();
  auto msg = Message::parse(read_file(hl7_path()));
  ASSERT_TRUE(msg.ok());
  auto mapped = cc::testing::project_mappings().map(*msg, case_feed());
  if (!mapped) return;  // nothing mapped: MapsAsExpected checks the error
  for (const auto& r : mapped->resources) {
    for (const auto& problem : schema->validate(r.resource)) {
      ADD_FAILURE() << r.type << "/" << r.id << ": " << problem;
    }
  }
}

// Every prefix of a case message (a PAS cut off mid-send, a truncated file) is mapped without a
// crash, and whatever comes out is still valid FHIR.
TEST_P(AdtCase, TruncatedMessagesMapToValidFhir) {
  auto* schema = cc::testing::FhirSchema::shared();
  const std::string raw = read_file(hl7_path());
  const FeedContext feed = case_feed();
  for (size_t length = 8; length < raw.size(); ++length) {
    auto msg = Message::parse(raw.substr(0, length));
    if (!msg) continue;
    cc::testing::project_mappings().assess(*msg, feed);
    auto mapped = cc::testing::project_mappings().map(*msg, feed);
    if (!mapped || !schema) continue;
    for (const auto& r : mapped->resources) {
      for (const auto& problem : schema->validate(r.resource)) {
        ADD_FAILURE() << "cut at byte " << length << ": " << r.type << ": " << problem;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Adt, AdtCase, ::testing::ValuesIn(case_names()),
                         [](const auto& info) { return info.param; });

TEST(AdtCases, FolderHoldsEveryEventType) {
  const auto names = case_names();
  for (const char* trigger :
       {"A01", "A02", "A03", "A04", "A05", "A08", "A11", "A12", "A13", "A28", "A31"}) {
    const bool found = std::any_of(names.begin(), names.end(), [&](const std::string& name) {
      auto msg = Message::parse(read_file(kCaseDir / (name + ".hl7")));
      return msg && msg->trigger_event() == trigger;
    });
    EXPECT_TRUE(found) << "no case under " << kCaseDir << " for ADT^" << trigger;
  }
}

}  // namespace
