// Reads GoogleTest's XML result files (--gtest_output=xml) into one outcome per test, named
// as gtest prints it ("Suite.Test", "Prefix/Suite.Test/Param"): passed, failed, skipped or not run.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace cc::safety {

enum class Outcome { passed, failed, skipped, not_run };

std::string_view outcome_name(Outcome o);

struct TestResult {
  std::string full_name;  // classname + "." + name
  Outcome outcome = Outcome::not_run;
  std::string detail;     // first line of the failure or skip message; "disabled" for suppressed tests
  std::string binary;     // the result file it came from (without .xml)
};

// Parses one gtest XML document. Returns "" and appends to `out` on success; on a malformed or
// truncated document returns a sentence saying where it went wrong and appends nothing.
std::string read_gtest_xml(std::string_view xml, const std::string& binary, std::vector<TestResult>& out);

}  // namespace cc::safety
