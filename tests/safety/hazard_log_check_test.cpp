// Tests of the hazard-log check itself: gtest XML reading (real gtest 1.12 output shapes), the
// DCB0129 matrix, and each rule that must fail the check; plus the project's log against its schema.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "tests/safety/gtest_xml.h"
#include "tests/safety/hazard_log_check.h"

namespace {

namespace fs = std::filesystem;
using cc::safety::Outcome;
using cc::safety::RunResults;
using cc::safety::TestResult;

const fs::path kSafetyDir = fs::path(CC_SOURCE_DIR) / "docs" / "clinical-safety";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

rapidjson::Document json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  EXPECT_FALSE(d.HasParseError()) << text;
  return d;
}

// What gtest 1.12 writes for a pass with a property, a failure whose message contains "]]>",
// a skip, a disabled test and a parameterised suite.
const char* const kXml = R"(<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="6" failures="1" disabled="1" errors="0" time="0" timestamp="2026-11-22T08:06:38.802" name="AllTests">
  <testsuite name="S" tests="4" failures="1" disabled="1" skipped="1" errors="0" time="0" timestamp="2026-11-22T08:06:38.802">
    <testcase name="Passes" file="t.cpp" line="2" status="run" result="completed" time="0" timestamp="2026-11-22T08:06:38.802" classname="S">
      <properties>
        <property name="k" value="v&lt;&amp;&gt;"/>
      </properties>
    </testcase>
    <testcase name="Fails" file="t.cpp" line="3" status="run" result="completed" time="0" timestamp="2026-11-22T08:06:38.802" classname="S">
      <failure message="t.cpp:3&#x0A;Expected equality of these values:&#x0A;  1&#x0A;  2&#x0A;with &lt;angle&gt; &amp; &quot;quote&quot; ]]&gt; end" type=""><![CDATA[t.cpp:3
Expected equality of these values:
  1
  2
with <angle> & "quote" ]]>]]&gt;<![CDATA[ end]]></failure>
    </testcase>
    <testcase name="Skips" file="t.cpp" line="4" status="run" result="skipped" time="0" timestamp="2026-11-22T08:06:38.802" classname="S">
      <skipped message="t.cpp:4&#x0A;no corpus"><![CDATA[t.cpp:4
no corpus]]></skipped>
    </testcase>
    <testcase name="DISABLED_Off" file="t.cpp" line="5" status="notrun" result="suppressed" time="0" timestamp="1970-01-01T00:00:00.000" classname="S" />
  </testsuite>
  <testsuite name="Pre/P" tests="2" failures="0" disabled="0" skipped="0" errors="0" time="0" timestamp="2026-11-22T08:06:38.802">
    <testcase name="Works/0" value_param="1" file="t.cpp" line="7" status="run" result="completed" time="0" timestamp="2026-11-22T08:06:38.802" classname="Pre/P" />
    <testcase name="Works/named_case" value_param="&quot;named_case&quot;" file="t.cpp" line="7" status="run" result="completed" time="0" timestamp="2026-11-22T08:06:38.802" classname="Pre/P" />
  </testsuite>
</testsuites>
)";

std::map<std::string, TestResult> read(const std::string& xml) {
  std::vector<TestResult> tests;
  EXPECT_EQ(cc::safety::read_gtest_xml(xml, "test_x", tests), "");
  std::map<std::string, TestResult> by_name;
  for (auto& t : tests) by_name[t.full_name] = t;
  return by_name;
}

TEST(GtestXml, ReadsEveryOutcomeGtestWrites) {
  auto tests = read(kXml);
  ASSERT_EQ(tests.size(), 6u);
  EXPECT_EQ(tests["S.Passes"].outcome, Outcome::passed);
  EXPECT_EQ(tests["S.Passes"].binary, "test_x");
  EXPECT_EQ(tests["S.Fails"].outcome, Outcome::failed);
  EXPECT_EQ(tests["S.Fails"].detail, "t.cpp:3: Expected equality of these values:");
  EXPECT_EQ(tests["S.Skips"].outcome, Outcome::skipped);
  EXPECT_EQ(tests["S.Skips"].detail, "t.cpp:4: no corpus");
  EXPECT_EQ(tests["S.DISABLED_Off"].outcome, Outcome::not_run);
  EXPECT_EQ(tests["Pre/P.Works/0"].outcome, Outcome::passed);
  EXPECT_EQ(tests["Pre/P.Works/named_case"].outcome, Outcome::passed);
}

TEST(GtestXml, DecodesEntitiesInAttributes) {
  auto tests = read(R"(<testsuites><testsuite name="A"><testcase name="T" classname="A" status="run" result="completed">
    <failure message="&lt;&#65;&#x42;&apos;&quot;&amp;&unknown;&#xZZ;" type=""/></testcase></testsuite></testsuites>)");
  EXPECT_EQ(tests["A.T"].outcome, Outcome::failed);
  EXPECT_EQ(tests["A.T"].detail, "<AB'\"&&unknown;&#xZZ;");
}

TEST(GtestXml, CountsSeveralFailures) {
  auto tests = read(R"(<testsuites><testsuite name="A"><testcase name="T" classname="A" status="run" result="completed">
    <failure message="a.cpp:1&#x0A;first"/><failure message="a.cpp:2&#x0A;second"/></testcase></testsuite></testsuites>)");
  EXPECT_EQ(tests["A.T"].detail, "2 failures; first: a.cpp:1: first");
}

TEST(GtestXml, TruncatedOrForeignFilesAreRefusedWholly) {
  const std::string xml = kXml;
  for (size_t cut : {size_t{0}, size_t{10}, xml.find("<testcase name=\"Fails\""), xml.find("</testsuites>")}) {
    std::vector<TestResult> tests;
    EXPECT_NE(cc::safety::read_gtest_xml(xml.substr(0, cut), "test_x", tests), "") << "cut at " << cut;
    EXPECT_TRUE(tests.empty()) << "a truncated file must count for nothing";
  }
  std::vector<TestResult> tests;
  EXPECT_NE(cc::safety::read_gtest_xml("<html><body/></html>", "x", tests), "");
  EXPECT_NE(cc::safety::read_gtest_xml("<testsuites><testsuite></testcase></testsuites>", "x", tests), "");
  EXPECT_NE(cc::safety::read_gtest_xml("<testsuites><testcase name=\"a\" classname=\"b\" status=run/></testsuites>",
                                       "x", tests),
            "");
}

TEST(RiskMatrix, IsTheDcb0129Matrix) {
  EXPECT_EQ(cc::safety::risk_level("Minor", "Very low"), 1);
  EXPECT_EQ(cc::safety::risk_level("Catastrophic", "Very low"), 3);
  EXPECT_EQ(cc::safety::risk_level("Minor", "Very high"), 3);
  EXPECT_EQ(cc::safety::risk_level("Catastrophic", "Very high"), 5);
  EXPECT_EQ(cc::safety::risk_level("Major", "Medium"), 3);
  EXPECT_EQ(cc::safety::risk_level("Major", "High"), 4);
  EXPECT_EQ(cc::safety::risk_level("Considerable", "Low"), 2);
  EXPECT_EQ(cc::safety::risk_level("Significant", "Low"), 2);
  EXPECT_EQ(cc::safety::risk_level("Major", "Very low"), 2);
  EXPECT_EQ(cc::safety::risk_level("major", "Medium"), 0);
}

// A one-hazard log with the given status and controls, and results in which A.Passes passed,
// A.Fails failed and A.Skips was skipped.
class HazardLogRules : public ::testing::Test {
 protected:
  void SetUp() override {
    schema = json(read_file(kSafetyDir / "hazard-log.schema.json"));
    results.binaries = {"test_x"};
    results.add({"A.Passes", Outcome::passed, "", "test_x"});
    results.add({"A.Fails", Outcome::failed, "a.cpp:1: boom", "test_x"});
    results.add({"A.Skips", Outcome::skipped, "a.cpp:2: no corpus", "test_x"});
  }
  cc::safety::CheckReport check(const std::string& status, const std::string& controls,
                                const std::string& extra = R"("issue": null)",
                                const std::string& initial = R"({"severity": "Major", "likelihood": "Medium", "risk": 3})") {
    const std::string text = R"({"title": "t", "standard": "DCB0129", "plan": "p.md", "hazards": [{
      "id": "HAZ-001", "title": "A hazard", "description": "What can go wrong.", "cause": "Why it goes wrong.",
      "effect": "What it does to the patient.", "initial": )" + initial + R"(,
      "controls": [)" + controls + R"(],
      "residual": {"severity": "Major", "likelihood": "Very low", "risk": 2},
      "status": ")" + status + R"(", )" + extra + "}]}";
    log = json(text);
    return cc::safety::check_hazard_log(log, schema, results);
  }
  static std::string tested(const std::string& test) {
    return R"({"description": "A control that is proved.", "status": "tested", "test": ")" + test + R"("})";
  }
  static std::string planned() {
    return R"({"description": "A control still to build.", "status": "planned", "issue": 7})";
  }
  rapidjson::Document schema, log;
  RunResults results;
};

TEST_F(HazardLogRules, ControlledWithPassingTestsPasses) {
  auto r = check("controlled", tested("A.Passes"));
  EXPECT_TRUE(r.ok()) << r.text;
  EXPECT_EQ(r.passing, 1);
  EXPECT_NE(r.text.find("PASS     A control that is proved."), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("0 problem(s). PASS"), std::string::npos) << r.text;
}

TEST_F(HazardLogRules, FailedSkippedOrMissingTestsFail) {
  for (const char* test : {"A.Fails", "A.Skips", "A.DoesNotExist", "Prefix/A.Passes/0"}) {
    auto r = check("open", tested(test) + "," + planned(), R"("issue": 7)");
    EXPECT_FALSE(r.ok()) << test;
    EXPECT_NE(r.text.find(std::string("FAIL     A control that is proved.\n           ") + test), std::string::npos)
        << r.text;
  }
  EXPECT_NE(check("open", tested("A.Fails") + "," + planned(), R"("issue": 7)").text.find("failed: a.cpp:1: boom"),
            std::string::npos);
  EXPECT_NE(check("open", tested("A.Skips") + "," + planned(), R"("issue": 7)").text.find("skipped"),
            std::string::npos);
  EXPECT_NE(check("open", tested("A.Nope") + "," + planned(), R"("issue": 7)").text.find("not found in this run"),
            std::string::npos);
}

TEST_F(HazardLogRules, MissingResultFilesAreNamedWhenATestIsNotFound) {
  results.missing.push_back({"test_e2e", "no result file from this run"});
  auto r = check("controlled", tested("FeedTest.Something"));
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.text.find("(no results from: test_e2e)"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("NO RESULTS  test_e2e"), std::string::npos) << r.text;
}

TEST_F(HazardLogRules, ControlledHazardNeedsEveryControlTested) {
  // The schema refuses it outright...
  auto r = check("controlled", tested("A.Passes") + "," + planned());
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.text.find("SCHEMA"), std::string::npos) << r.text;
  // ...and a failing test under a controlled hazard fails twice over: the control and the hazard.
  r = check("controlled", tested("A.Passes") + "," + tested("A.Fails"));
  EXPECT_EQ(r.problems, 2) << r.text;
  EXPECT_NE(r.text.find("HAZ-001 is marked controlled but 1 control(s) lack a passing test"), std::string::npos);
}

TEST_F(HazardLogRules, OpenHazardNeedsAnIssueAndSomethingLeftToDo) {
  EXPECT_TRUE(check("open", tested("A.Passes") + "," + planned(), R"("issue": 7)").ok());
  EXPECT_TRUE(
      check("open", planned(), R"("issue": null, "issue_note": "the viewer issue, not yet filed")").ok());
  EXPECT_FALSE(check("open", planned(), R"("issue": null)").ok()) << "no issue and no note";
  auto r = check("open", tested("A.Passes"), R"("issue": 7)");
  EXPECT_FALSE(r.ok()) << "open, but nothing left to build";
}

TEST_F(HazardLogRules, TestedControlMustNameATestAndOthersMustNot) {
  EXPECT_FALSE(check("controlled", R"({"description": "A control that is proved.", "status": "tested"})").ok());
  EXPECT_FALSE(check("open",
                     R"({"description": "A control still to build.", "status": "planned", "test": "A.Passes"})",
                     R"("issue": 7)")
                   .ok());
  EXPECT_FALSE(check("controlled", tested("not a gtest name")).ok());
}

TEST_F(HazardLogRules, RiskMustFollowTheMatrixAndNotRise) {
  auto r = check("controlled", tested("A.Passes"), R"("issue": null)",
                 R"({"severity": "Major", "likelihood": "Medium", "risk": 4})");
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.text.find("initial risk is 4 but the matrix gives 3 for Major x Medium"), std::string::npos) << r.text;
  r = check("controlled", tested("A.Passes"), R"("issue": null)",
            R"({"severity": "Minor", "likelihood": "Very low", "risk": 1})");
  EXPECT_NE(r.text.find("residual risk is higher than the initial"), std::string::npos) << r.text;
}

TEST_F(HazardLogRules, RepeatedIdsFail) {
  const std::string hazard = R"({"id": "HAZ-001", "title": "A hazard", "description": "What can go wrong.",
      "cause": "Why it goes wrong.", "effect": "What it does to the patient.",
      "initial": {"severity": "Major", "likelihood": "Medium", "risk": 3},
      "controls": [{"description": "A control that is proved.", "status": "tested", "test": "A.Passes"}],
      "residual": {"severity": "Major", "likelihood": "Very low", "risk": 2}, "status": "controlled", "issue": null})";
  log = json(R"({"title": "t", "standard": "DCB0129", "plan": "p.md", "hazards": [)" + hazard + "," + hazard + "]}");
  auto r = cc::safety::check_hazard_log(log, schema, results);
  EXPECT_NE(r.text.find("HAZ-001 is used by more than one hazard"), std::string::npos) << r.text;
}

TEST_F(HazardLogRules, WorseOutcomeWinsWhenTwoBinariesShareAName) {
  results.add({"A.Passes", Outcome::failed, "b.cpp:9: other binary", "test_y"});
  auto r = check("controlled", tested("A.Passes"));
  EXPECT_FALSE(r.ok()) << r.text;
  EXPECT_NE(r.text.find("(test_y): failed"), std::string::npos) << r.text;
}

// The project's own hazard log matches its schema (the check repeats this with this run's results).
TEST(ProjectHazardLog, MatchesItsSchema) {
  auto log = json(read_file(kSafetyDir / "hazard-log.json"));
  auto schema = json(read_file(kSafetyDir / "hazard-log.schema.json"));
  for (const auto& p : cc::safety::schema_problems(log, schema)) ADD_FAILURE() << p;
}

}  // namespace
