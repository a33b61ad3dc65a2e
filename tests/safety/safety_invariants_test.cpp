// Safety invariants checked as data: over every ADT mapping case, every message of the shared
// corpus (when present) and a table of bad NHS numbers, the mapping never breaks these rules.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "adapters/hl7v2/message.h"
#include "engine/identity/nhs_number.h"
#include "tests/mapping/test_mappings.h"

namespace {

namespace fs = std::filesystem;
using cc::identity::NhsNumber;
using cc::mapping::FeedContext;

const fs::path kCaseDir = fs::path(CC_SOURCE_DIR) / "tests" / "mapping" / "adt";
const fs::path kCorpus = fs::path(CC_SHARED_DIR) / "corpus";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

FeedContext case_feed() {
  rapidjson::Document doc;
  doc.Parse(read_file(kCaseDir / "feed.json").c_str());
  FeedContext feed{"pas-adt", {}};
  if (!doc.IsObject()) return feed;
  feed.feed = doc["feed"].GetString();
  for (auto& m : doc["authority_systems"].GetObject()) feed.authority_systems[m.name.GetString()] = m.value.GetString();
  return feed;
}

struct Sample {
  std::string origin;  // file name, and message number within a corpus file
  std::string text;
  FeedContext feed;
};

// Every ADT case (always present) and every message of the shared corpus (when installed).
const std::vector<Sample>& samples() {
  static const std::vector<Sample> all = [] {
    std::vector<Sample> out;
    const FeedContext cases = case_feed();
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(kCaseDir))
      if (e.path().extension() == ".hl7") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) out.push_back({f.filename().string(), read_file(f), cases});
    const FeedContext corpus{"corpus", {}};
    for (const char* dir : {"hl7v2", "malformed"}) {
      if (!fs::is_directory(kCorpus / dir)) continue;
      std::vector<fs::path> corpus_files;
      for (const auto& e : fs::recursive_directory_iterator(kCorpus / dir))
        if (e.is_regular_file() && e.path().extension() != ".json" && e.path().extension() != ".md")
          corpus_files.push_back(e.path());
      std::sort(corpus_files.begin(), corpus_files.end());
      for (const auto& f : corpus_files) {
        int n = 0;
        for (auto& text : cc::hl7v2::split_messages(read_file(f)))
          out.push_back({fs::relative(f, kCorpus).string() + " #" + std::to_string(++n), std::move(text), corpus});
      }
    }
    return out;
  }();
  return all;
}

struct Mapped {
  const Sample* sample;
  cc::mapping::MappingOutput output;
};

// Every sample that parses, is a supported ADT event and maps.
const std::vector<Mapped>& mapped() {
  static const std::vector<Mapped> all = [] {
    std::vector<Mapped> out;
    for (const auto& s : samples()) {
      auto msg = cc::hl7v2::Message::parse(s.text);
      if (!msg || !cc::testing::project_mappings().assess(*msg, s.feed).supported) continue;
      auto result = cc::testing::project_mappings().map(*msg, s.feed);
      if (result) out.push_back({&s, std::move(result).value()});
    }
    return out;
  }();
  return all;
}

TEST(SafetyInvariants, SamplesIncludeEveryCaseFile) {
  size_t cases = 0;
  for (const auto& s : samples()) cases += s.feed.feed != "corpus";
  EXPECT_GE(cases, 20u) << "the ADT cases under " << kCaseDir << " are missing";
  EXPECT_GE(mapped().size(), 15u);
  std::cout << samples().size() << " messages, " << mapped().size() << " mapped\n";
}

// HAZ-002: an NHS number that fails Modulus 11 (or is not 10 digits) is never indexed or written
// under the NHS number system, in any message the project knows of.
TEST(SafetyInvariants, NoInvalidNhsNumberIsEverIndexed) {
  for (const auto& m : mapped()) {
    for (const auto& r : m.output.resources) {
      for (const auto& [system, value] : r.identifiers) {
        if (system != NhsNumber::kSystem) continue;
        auto parsed = NhsNumber::parse(value);
        EXPECT_TRUE(parsed.ok() && parsed->str() == value)
            << m.sample->origin << ": " << r.type << " indexed under NHS number '" << value << "'";
      }
      if (!r.resource.HasMember("identifier")) continue;
      for (const auto& id : r.resource["identifier"].GetArray()) {
        if (!id.HasMember("system") || id["system"].GetString() != NhsNumber::kSystem) continue;
        const std::string value = id.HasMember("value") ? id["value"].GetString() : "";
        auto parsed = NhsNumber::parse(value);
        EXPECT_TRUE(parsed.ok() && parsed->str() == value)
            << m.sample->origin << ": " << r.type << ".identifier carries NHS number '" << value << "'";
      }
    }
  }
}

// HAZ-002: a table of bad NHS numbers, each sent in PID-3 beside a hospital number: AE, not
// indexed, kept under the hospital number, and listed on the work-list as invalid-nhs-number.
TEST(SafetyInvariants, EveryKindOfBadNhsNumberIsHeldNotIndexed) {
  const FeedContext feed{"pas-adt", {{"RBT", "https://fhir.mcht.nhs.uk/Id/hospital-number"}}};
  for (const std::string bad : {"9434765918",    // wrong check digit
                                "4934765919",    // transposed digits
                                "9990000001",    // stem whose check digit would be 10
                                "943476591",     // 9 digits
                                "94347659190",   // 11 digits
                                "94347A5919"}) { // a letter
    const std::string text =
        "MSH|^~\\&|PAS|RBT|CC|CHESHIRE|20240301120000||ADT^A08|C1|P|2.4\rEVN|A08|20240301115900\r"
        "PID|1||RBT123^^^RBT^MR~" + bad + "^^^NHS^NH||SMITH^John||19700101|M\r";
    auto msg = cc::hl7v2::Message::parse(text);
    ASSERT_TRUE(msg.ok()) << bad;
    const bool valid = NhsNumber::parse(bad).ok();
    EXPECT_EQ(cc::testing::project_mappings().assess(*msg, feed).has_error(), !valid) << bad;
    auto out = cc::testing::project_mappings().map(*msg, feed);
    ASSERT_TRUE(out.ok()) << bad;
    if (valid) continue;
    for (const auto& r : out->resources) {
      for (const auto& [system, value] : r.identifiers) EXPECT_NE(system, NhsNumber::kSystem) << bad << " was indexed";
    }
    const bool listed = std::any_of(out->worklist_add.begin(), out->worklist_add.end(),
                                    [](const auto& w) { return w.kind == "invalid-nhs-number"; });
    EXPECT_TRUE(listed) << bad << " is not on the work-list";
    EXPECT_EQ(out->resources.front().id,
              cc::mapping::derive_id("Patient", "https://fhir.mcht.nhs.uk/Id/hospital-number", "RBT123"))
        << bad << ": the patient is not kept under the hospital number";
  }
}

// HAZ-001: everything mapped from one message belongs to that message's Patient, and two
// messages only ever share a Patient id when they share a source identifier.
TEST(SafetyInvariants, EveryResourceBelongsToThePatientOfItsMessage) {
  std::map<std::string, std::set<std::pair<std::string, std::string>>> identifiers_of;  // patient id -> ids seen
  for (const auto& m : mapped()) {
    const auto& resources = m.output.resources;
    const auto patients = std::count_if(resources.begin(), resources.end(), [](const auto& r) {
      return r.type == "Patient";
    });
    ASSERT_EQ(patients, 1) << m.sample->origin;
    const auto& patient = *std::find_if(resources.begin(), resources.end(), [](const auto& r) {
      return r.type == "Patient";
    });
    EXPECT_EQ(patient.patient_id, patient.id) << m.sample->origin;
    EXPECT_STREQ(patient.resource["id"].GetString(), patient.id.c_str()) << m.sample->origin;
    for (const auto& r : resources) {
      EXPECT_EQ(r.patient_id, patient.id) << m.sample->origin << ": " << r.type << " " << r.id;
      if (r.type == "Encounter") {
        ASSERT_TRUE(r.resource.HasMember("subject")) << m.sample->origin;
        EXPECT_EQ(std::string(r.resource["subject"]["reference"].GetString()), "Patient/" + patient.id)
            << m.sample->origin;
      }
    }
    auto& seen = identifiers_of[patient.id];
    std::set<std::pair<std::string, std::string>> mine(patient.identifiers.begin(), patient.identifiers.end());
    if (!seen.empty()) {
      const bool shares = std::any_of(mine.begin(), mine.end(), [&](const auto& id) { return seen.count(id) > 0; });
      EXPECT_TRUE(shares) << m.sample->origin << ": Patient " << patient.id
                          << " is shared with another message that has none of the same identifiers";
    }
    seen.insert(mine.begin(), mine.end());
  }
}

// HAZ-020: every time the mapping writes carries its offset (Z or +hh:mm), so a reader never
// guesses whether a time is GMT or BST; dates alone stay dates.
TEST(SafetyInvariants, EveryMappedDateTimeCarriesAnOffset) {
  static const std::regex date_time(R"(^\d{4}-\d{2}-\d{2}T.*)");
  static const std::regex with_offset(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$)");
  size_t checked = 0;
  std::function<void(const rapidjson::Value&, const std::string&, const std::string&)> walk =
      [&](const rapidjson::Value& v, const std::string& path, const std::string& origin) {
        if (v.IsString()) {
          const std::string s = v.GetString();
          if (std::regex_match(s, date_time)) {
            ++checked;
            EXPECT_TRUE(std::regex_match(s, with_offset)) << origin << " " << path << ": '" << s << "'";
          }
        } else if (v.IsArray()) {
          for (rapidjson::SizeType i = 0; i < v.Size(); ++i) walk(v[i], path + "[" + std::to_string(i) + "]", origin);
        } else if (v.IsObject()) {
          for (auto& m : v.GetObject()) walk(m.value, path + "." + m.name.GetString(), origin);
        }
      };
  for (const auto& m : mapped())
    for (const auto& r : m.output.resources) walk(r.resource, r.type, m.sample->origin);
  EXPECT_GT(checked, 20u) << "too few date-times to mean anything";
}

}  // namespace
