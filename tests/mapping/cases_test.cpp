// Mapping as data: each <family>/<case>.hl7 (adt, oru, ...) is assessed and mapped through the
// project's mappings/, and the outcome compared with <family>/<case>.expected.json, under the
// feed configuration in feed.json. CC_UPDATE_EXPECTED=1 rewrites the expectations (then review them).
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

const fs::path kCasesRoot = fs::path(CC_SOURCE_DIR) / "tests" / "mapping";

struct CaseRef {
  std::string family;  // the folder: adt, oru, ...
  std::string name;    // the file stem
};

void PrintTo(const CaseRef& c, std::ostream* os) { *os << c.family << "/" << c.name; }

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

std::vector<CaseRef> cases(const std::string& family) {
  std::vector<CaseRef> found;
  if (!fs::is_directory(kCasesRoot / family)) return found;
  for (const auto& entry : fs::directory_iterator(kCasesRoot / family)) {
    if (entry.path().extension() == ".hl7") found.push_back({family, entry.path().stem().string()});
  }
  std::sort(found.begin(), found.end(), [](const CaseRef& a, const CaseRef& b) { return a.name < b.name; });
  return found;
}

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const auto& c : cases("adt")) names.push_back(c.name);
  return names;
}

// feed.json: the feed configuration every case is mapped under.
FeedContext case_feed() {
  rapidjson::Document doc;
  doc.Parse(read_file(kCasesRoot / "feed.json").c_str());
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
  if (where.sequence > 1) s += "[" + std::to_string(where.sequence) + "]";
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
  // Present only when there are any, so families that never produce them need not list them.
  if (!mapped->unmapped_codes.empty()) {
    Value codes(rapidjson::kArrayType);
    for (const auto& c : mapped->unmapped_codes) {
      Value i(rapidjson::kObjectType);
      i.AddMember("table", str(c.table, a), a);
      i.AddMember("system", str(c.system, a), a);
      i.AddMember("code", str(c.code, a), a);
      i.AddMember("display", str(c.display, a), a);
      codes.PushBack(i, a);
    }
    doc.AddMember("unmapped_codes", codes, a);
  }
  if (!mapped->identity_events.empty()) {
    Value events(rapidjson::kArrayType);
    for (const auto& e : mapped->identity_events) {
      Value i(rapidjson::kObjectType);
      i.AddMember("kind", str(e.kind, a), a);
      i.AddMember("patient_id", str(e.patient_id, a), a);
      i.AddMember("retired_system", str(e.retired_system, a), a);
      i.AddMember("retired_value", str(e.retired_value, a), a);
      i.AddMember("retired_patient_id", str(e.retired_patient_id, a), a);
      i.AddMember("detail", str(e.detail, a), a);
      events.PushBack(i, a);
    }
    doc.AddMember("identity_events", events, a);
  }
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

class MappingCase : public ::testing::TestWithParam<CaseRef> {
 protected:
  fs::path dir() const { return kCasesRoot / GetParam().family; }
  fs::path hl7_path() const { return dir() / (GetParam().name + ".hl7"); }
  fs::path expected_path() const { return dir() / (GetParam().name + ".expected.json"); }
};

TEST_P(MappingCase, MapsAsExpected) {
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

TEST_P(MappingCase, ResourcesAreValidFhirR4) {
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
TEST_P(MappingCase, TruncatedMessagesMapToValidFhir) {
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

std::string case_name(const ::testing::TestParamInfo<CaseRef>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Adt, MappingCase, ::testing::ValuesIn(cases("adt")), case_name);
INSTANTIATE_TEST_SUITE_P(Oru, MappingCase, ::testing::ValuesIn(cases("oru")), case_name);
INSTANTIATE_TEST_SUITE_P(Siu, MappingCase, ::testing::ValuesIn(cases("siu")), case_name);
INSTANTIATE_TEST_SUITE_P(Mdm, MappingCase, ::testing::ValuesIn(cases("mdm")), case_name);
INSTANTIATE_TEST_SUITE_P(Pharmacy, MappingCase, ::testing::ValuesIn(cases("pharmacy")), case_name);
INSTANTIATE_TEST_SUITE_P(Ppr, MappingCase, ::testing::ValuesIn(cases("ppr")), case_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(MappingCase);

TEST(AdtCases, FolderHoldsEveryEventType) {
  const auto names = case_names();
  for (const char* trigger :
       {"A01", "A02", "A03", "A04", "A05", "A08", "A11", "A12", "A13", "A28", "A31"}) {
    const bool found = std::any_of(names.begin(), names.end(), [&](const std::string& name) {
      auto msg = Message::parse(read_file((kCasesRoot / "adt") / (name + ".hl7")));
      return msg && msg->trigger_event() == trigger;
    });
    EXPECT_TRUE(found) << "no case under " << (kCasesRoot / "adt") << " for ADT^" << trigger;
  }
}

}  // namespace
