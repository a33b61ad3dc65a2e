// Loading mapping directories: the project's own loads; every kind of broken file is refused with
// its file, line and what is wrong; a reload that fails leaves the mappings in force untouched.
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "adapters/hl7v2/message.h"
#include "engine/mapping/mapping_set.h"

namespace {

namespace fs = std::filesystem;
using cc::mapping::LoadProblem;
using cc::mapping::MappingRegistry;
using cc::mapping::MappingSet;

struct TempMappings {
  TempMappings() {
    char tmpl[] = "/tmp/carerecord-mappings-XXXXXX";
    dir = mkdtemp(tmpl);
    fs::create_directories(fs::path(dir) / "tables");
  }
  ~TempMappings() { fs::remove_all(dir); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(fs::path(dir) / name, std::ios::binary) << text;
  }
  std::vector<LoadProblem> load() const {
    std::vector<LoadProblem> problems;
    auto set = MappingSet::load(dir, problems);
    EXPECT_EQ(set == nullptr, !problems.empty());
    return problems;
  }
  std::string dir;
};

// A small valid mapping; `resource_body` replaces the Patient template's members.
std::string mapping(const std::string& name, const std::string& type, const std::string& template_members) {
  return "{\n"
         "  \"name\": \"" + name + "\",\n"
         "  \"messages\": [{\"type\": \"" + type + "\"}],\n"
         "  \"resources\": [\n"
         "    {\n"
         "      \"resource\": \"Patient\",\n"
         "      \"id\": \"{{$patient.id}}\",\n"
         "      \"template\": {\n" + template_members + "\n      }\n"
         "    }\n"
         "  ]\n"
         "}\n";
}

std::string all(const std::vector<LoadProblem>& problems) {
  std::string s;
  for (const auto& p : problems) s += p.describe() + "\n";
  return s;
}

TEST(MappingSet, TheProjectsMappingsLoad) {
  std::vector<LoadProblem> problems;
  auto set = MappingSet::load(CC_DEFAULT_MAPPINGS_DIR, problems);
  ASSERT_NE(set, nullptr) << all(problems);
  EXPECT_TRUE(set->maps("ADT", "A01"));
  EXPECT_TRUE(set->maps("ORU", "R01"));
  EXPECT_FALSE(set->maps("DFT", "P03"));
  EXPECT_GT(set->table_count(), 3u);
}

TEST(MappingSet, AValidFileLoads) {
  TempMappings m;
  m.write("a.json", mapping("a", "ADT", "        \"birthDate\": \"{{PID-7 | date}}\""));
  EXPECT_TRUE(m.load().empty()) << all(m.load());
}

// An identifier a mapping writes without a system is indexed under none (found by identifier=|value);
// one with a system under its system.
TEST(MappingSet, AnIdentifierWrittenWithoutASystemIsIndexedUnderNone) {
  TempMappings m;
  m.write("a.json", mapping("a", "ADT",
                            "        \"identifier\": [{\"value\": \"{{PID-3.1}}\"}, "
                            "{\"system\": \"urn:x\", \"value\": \"{{PID-3.1}}\"}]"));
  std::vector<LoadProblem> problems;
  auto set = MappingSet::load(m.dir, problems);
  ASSERT_TRUE(set) << all(problems);
  auto msg = cc::hl7v2::Message::parse(
      "MSH|^~\\&|PAS|RBT|CR|CH|20240101120000||ADT^A01|M1|P|2.4\rPID|1||H123^^^RBT^MR||SMITH^JOHN\r");
  ASSERT_TRUE(msg);
  auto out = set->map(*msg, cc::mapping::FeedContext{"pas", {}});
  ASSERT_TRUE(out) << out.error().message;
  ASSERT_EQ(out->resources.size(), 1u);
  EXPECT_EQ(out->resources[0].identifiers,
            (std::vector<std::pair<std::string, std::string>>{{"", "H123"}, {"urn:x", "H123"}}));
}

TEST(MappingSet, InvalidJsonIsReportedAtItsLine) {
  TempMappings m;
  m.write("a.json", "{\n  \"name\": \"a\",\n  \"messages\": [\n    {\"type\": \"ADT\"},,\n  ]\n}\n");
  auto problems = m.load();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].file, "a.json");
  EXPECT_EQ(problems[0].line, 4);
  EXPECT_NE(problems[0].message.find("not valid JSON"), std::string::npos);
}

TEST(MappingSet, SchemaViolationsNameThePlace) {
  TempMappings m;
  m.write("a.json", "{\n  \"name\": \"a\",\n  \"messages\": [{\"type\": \"ADT\"}],\n  \"resourses\": []\n}\n");
  auto problems = m.load();
  ASSERT_FALSE(problems.empty());
  const std::string text = all(problems);
  EXPECT_NE(text.find("a.json"), std::string::npos);
  EXPECT_NE(text.find("resources"), std::string::npos) << text;  // the required key that is missing
}

TEST(MappingSet, ABadFieldPathIsReportedWithFileLineAndTheFix) {
  TempMappings m;
  m.write("a.json", mapping("a", "ADT", "        \"birthDate\": \"{{PID-x | date}}\""));
  auto problems = m.load();
  ASSERT_EQ(problems.size(), 1u) << all(problems);
  EXPECT_EQ(problems[0].line, 9);
  EXPECT_NE(problems[0].message.find("/resources/0/template/birthDate"), std::string::npos) << problems[0].message;
  EXPECT_NE(problems[0].message.find("\"PID-x\" is not a field path"), std::string::npos) << problems[0].message;
}

TEST(MappingSet, UnknownTransformsTablesAndVariablesAreRefused) {
  TempMappings m;
  m.write("a.json", mapping("a", "ADT", "        \"birthDate\": \"{{PID-7 | dat}}\""));
  m.write("b.json", mapping("b", "ORU", "        \"gender\": \"{{PID-8 | map(no-such-table)}}\""));
  m.write("c.json", mapping("c", "SIU", "        \"gender\": \"{{$nobody}}\""));
  const std::string text = all(m.load());
  EXPECT_NE(text.find("a.json:9: /resources/0/template/birthDate: unknown transform \"dat\""), std::string::npos) << text;
  EXPECT_NE(text.find("b.json:9:"), std::string::npos) << text;
  EXPECT_NE(text.find("no-such-table"), std::string::npos) << text;
  EXPECT_NE(text.find("c.json:9:"), std::string::npos) << text;
  EXPECT_NE(text.find("unknown variable $nobody"), std::string::npos) << text;
}

TEST(MappingSet, TwoFilesMayNotClaimTheSameMessage) {
  TempMappings m;
  m.write("a.json", mapping("a", "ADT", "        \"birthDate\": \"{{PID-7 | date}}\""));
  m.write("b.json", mapping("b", "ADT", "        \"birthDate\": \"{{PID-7 | date}}\""));
  const std::string text = all(m.load());
  EXPECT_NE(text.find("b.json:3: ADT^* is already mapped by a.json"), std::string::npos) << text;
}

TEST(MappingSet, ATableMustBeNamedAfterItsFile) {
  TempMappings m;
  m.write("a.json", mapping("a", "ADT", "        \"gender\": \"{{PID-8 | map(sex)}}\""));
  m.write("tables/sex.json", "{\"table\": \"gender\", \"codes\": {\"M\": \"male\"}}");
  const std::string text = all(m.load());
  EXPECT_NE(text.find("tables/sex.json"), std::string::npos) << text;
  EXPECT_NE(text.find("name the file after the table"), std::string::npos) << text;
}

TEST(MappingSet, AnEmptyDirectoryIsRefused) {
  TempMappings m;
  const std::string text = all(m.load());
  EXPECT_NE(text.find("holds no mapping files"), std::string::npos) << text;
}

TEST(MappingRegistry, AFailedReloadKeepsTheMappingsInForce) {
  TempMappings m;
  m.write("a.json", mapping("a", "ADT", "        \"birthDate\": \"{{PID-7 | date}}\""));
  std::vector<LoadProblem> problems;
  MappingRegistry registry(m.dir, MappingSet::load(m.dir, problems));
  auto before = registry.current();
  ASSERT_NE(before, nullptr);

  m.write("b.json", mapping("b", "ORU", "        \"birthDate\": \"{{PID-7 | nope}}\""));
  EXPECT_FALSE(registry.reload().empty());
  EXPECT_EQ(registry.current(), before);
  EXPECT_FALSE(registry.current()->maps("ORU", "R01"));

  m.write("b.json", mapping("b", "ORU", "        \"birthDate\": \"{{PID-7 | date}}\""));
  EXPECT_TRUE(registry.reload().empty());
  EXPECT_NE(registry.current(), before);
  EXPECT_TRUE(registry.current()->maps("ORU", "R01"));
  EXPECT_TRUE(before->maps("ADT", "A01"));  // a set in use stays whole
}

}  // namespace
