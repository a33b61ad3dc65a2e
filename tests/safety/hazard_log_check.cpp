// The clinical-safety hazard-log check: valijson for the schema, the DCB0129 matrix for each
// risk, and this run's gtest outcomes for each control; writes a report a safety officer can read.
#include "tests/safety/hazard_log_check.h"

#include <array>
#include <set>
#include <sstream>

#include <valijson/adapters/rapidjson_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace cc::safety {

namespace {

constexpr std::array<std::string_view, 5> kSeverities = {"Minor", "Significant", "Considerable", "Major",
                                                         "Catastrophic"};
constexpr std::array<std::string_view, 5> kLikelihoods = {"Very low", "Low", "Medium", "High", "Very high"};
// Rows: likelihood Very low .. Very high; columns: severity Minor .. Catastrophic.
constexpr int kMatrix[5][5] = {
    {1, 1, 2, 2, 3},  // Very low
    {1, 2, 2, 3, 4},  // Low
    {2, 2, 3, 3, 4},  // Medium
    {2, 3, 3, 4, 5},  // High
    {3, 4, 4, 5, 5},  // Very high
};

int index_of(const auto& words, std::string_view w) {
  for (size_t i = 0; i < words.size(); ++i)
    if (words[i] == w) return static_cast<int>(i);
  return -1;
}

int rank(Outcome o) {
  switch (o) {
    case Outcome::passed: return 0;
    case Outcome::skipped: return 1;
    case Outcome::not_run: return 2;
    case Outcome::failed: return 3;
  }
  return 3;
}

std::string str(const rapidjson::Value& v, const char* key) {
  if (!v.IsObject()) return "";
  auto it = v.FindMember(key);
  return it != v.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
}

std::string risk_text(const rapidjson::Value& r) {
  return std::to_string(r["risk"].GetInt()) + " (" + str(r, "severity") + " x " + str(r, "likelihood") + ")";
}

}  // namespace

int risk_level(std::string_view severity, std::string_view likelihood) {
  const int s = index_of(kSeverities, severity), l = index_of(kLikelihoods, likelihood);
  return s < 0 || l < 0 ? 0 : kMatrix[l][s];
}

void RunResults::add(TestResult r) {
  auto [it, inserted] = tests.try_emplace(r.full_name, r);
  if (inserted) return;
  if (rank(r.outcome) > rank(it->second.outcome)) {
    r.detail += (r.detail.empty() ? "" : "; ") + std::string("also in ") + it->second.binary;
    it->second = std::move(r);
  } else if (it->second.binary != r.binary) {
    it->second.detail += (it->second.detail.empty() ? "" : "; ") + std::string("also in ") + r.binary;
  }
}

std::vector<std::string> schema_problems(const rapidjson::Value& log, const rapidjson::Value& schema_doc) {
  std::vector<std::string> problems;
  valijson::Schema schema;
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::RapidJsonAdapter schema_adapter(schema_doc);
    parser.populateSchema(schema_adapter, schema);
  } catch (const std::exception& e) {
    problems.push_back(std::string("the schema itself could not be read: ") + e.what());
    return problems;
  }
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::RapidJsonAdapter target(log);
  if (validator.validate(schema, target, &results)) return problems;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    std::string where;
    for (const std::string& part : error.context) where += part;
    problems.push_back(where + ": " + error.description);
  }
  if (problems.empty()) problems.push_back("<root>: does not match the schema");
  return problems;
}

CheckReport check_hazard_log(const rapidjson::Value& log, const rapidjson::Value& schema, const RunResults& results) {
  CheckReport report;
  std::ostringstream out;
  auto problem = [&](const std::string& line) {
    ++report.problems;
    out << line << "\n";
  };

  out << "Clinical safety hazard log check (DCB0129)\n";
  out << "Results from this run: " << results.binaries.size() << " result file(s)";
  if (!results.binaries.empty()) {
    out << " (";
    for (size_t i = 0; i < results.binaries.size(); ++i) out << (i ? ", " : "") << results.binaries[i];
    out << ")";
  }
  out << ", " << results.tests.size() << " tests\n";
  for (const auto& [binary, why] : results.missing) out << "  NO RESULTS  " << binary << ": " << why << "\n";

  const auto schema_issues = schema_problems(log, schema);
  if (!schema_issues.empty()) {
    for (const auto& p : schema_issues) problem("  SCHEMA  " + p);
    out << "\nSummary: the hazard log does not match docs/clinical-safety/hazard-log.schema.json ("
        << report.problems << " problem(s)); nothing else was checked. FAIL\n";
    report.text = out.str();
    return report;
  }
  out << "Schema: the hazard log matches its schema\n";

  std::set<std::string> ids;
  for (const auto& h : log["hazards"].GetArray()) {
    ++report.hazards;
    const std::string id = str(h, "id"), status = str(h, "status");
    (status == "controlled" ? report.controlled : report.open)++;
    out << "\n" << id << "  " << str(h, "title") << "  [" << (status == "controlled" ? "CONTROLLED" : "OPEN");
    if (h["issue"].IsInt()) out << ", issue " << h["issue"].GetInt();
    else if (h.HasMember("issue_note")) out << ", " << str(h, "issue_note");
    out << "]\n";
    out << "  risk " << risk_text(h["initial"]) << " -> residual " << risk_text(h["residual"]) << "\n";

    if (!ids.insert(id).second) problem("  FAIL     " + id + " is used by more than one hazard");
    for (const char* which : {"initial", "residual"}) {
      const auto& r = h[which];
      const int expected = risk_level(str(r, "severity"), str(r, "likelihood"));
      if (r["risk"].GetInt() != expected)
        problem("  FAIL     " + std::string(which) + " risk is " + std::to_string(r["risk"].GetInt()) +
                " but the matrix gives " + std::to_string(expected) + " for " + str(r, "severity") + " x " +
                str(r, "likelihood"));
    }
    if (h["residual"]["risk"].GetInt() > h["initial"]["risk"].GetInt())
      problem("  FAIL     the residual risk is higher than the initial risk");

    int not_passing = 0, unbuilt = 0;
    for (const auto& c : h["controls"].GetArray()) {
      ++report.controls;
      const std::string cstatus = str(c, "status"), description = str(c, "description");
      const std::string issue = c.HasMember("issue") ? " (issue " + std::to_string(c["issue"].GetInt()) + ")" : "";
      if (cstatus == "planned") {
        ++report.planned;
        ++unbuilt;
        out << "  PLANNED  " << description << issue << "\n";
        continue;
      }
      if (cstatus == "untested") {
        ++report.untested;
        ++unbuilt;
        out << "  UNTESTED " << description << issue << " -- built, but no test proves it yet\n";
        continue;
      }
      const std::string test = str(c, "test");
      auto it = results.tests.find(test);
      if (it == results.tests.end()) {
        ++report.failing;
        ++not_passing;
        std::string why = "not found in this run's results";
        if (!results.missing.empty()) {
          why += " (no results from:";
          for (const auto& [binary, _] : results.missing) why += " " + binary;
          why += ")";
        } else {
          why += " (renamed or removed? no binary in this run has it)";
        }
        problem("  FAIL     " + description + "\n           " + test + ": " + why);
        continue;
      }
      const TestResult& r = it->second;
      if (r.outcome != Outcome::passed) {
        ++report.failing;
        ++not_passing;
        problem("  FAIL     " + description + "\n           " + test + " (" + r.binary + "): " +
                std::string(outcome_name(r.outcome)) + (r.detail.empty() ? "" : ": " + r.detail));
        continue;
      }
      ++report.passing;
      out << "  PASS     " << description << "\n           " << test << " (" << r.binary << ")\n";
    }
    if (status == "controlled" && (not_passing > 0 || unbuilt > 0))
      problem("  FAIL     " + id + " is marked controlled but " +
              std::to_string(not_passing + unbuilt) + " control(s) lack a passing test");
    if (status == "open" && unbuilt == 0 && not_passing == 0)
      problem("  FAIL     " + id +
              " is marked open but every control has a passing test: review the residual risk and mark it "
              "controlled");
  }

  out << "\nSummary: " << report.hazards << " hazards (" << report.controlled << " controlled, " << report.open
      << " open); " << report.controls << " controls: " << report.passing << " passing, " << report.failing
      << " failing or missing, " << report.untested << " built but untested, " << report.planned << " planned; "
      << report.problems << " problem(s). " << (report.ok() ? "PASS" : "FAIL") << "\n";
  report.text = out.str();
  return report;
}

}  // namespace cc::safety
