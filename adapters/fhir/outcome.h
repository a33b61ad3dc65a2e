// Problems found in a GP feed push, as FHIR OperationOutcome issues: each names the entry and the
// element (FHIRPath) and says, in a sentence a GP system supplier can act on, what to change.
#pragma once
#include <string>
#include <vector>

#include <rapidjson/document.h>

namespace cc::fhir_ingest {

struct Issue {
  std::string severity;    // OperationOutcome.issue.severity: fatal, error, warning, information
  std::string code;        // OperationOutcome.issue.code (IssueType): structure, required, value,
                           // invalid, not-found, not-supported, too-costly, duplicate,
                           // business-rule, informational
  std::string rule;        // our rule, e.g. "nhs-number-check-digit" (details.coding.code)
  std::string message;     // the sentence (diagnostics)
  std::string expression;  // FHIRPath, e.g. "Bundle.entry[3].resource.code.coding[0].system"
  int entry = -1;          // Bundle.entry index; -1 for the body as a whole or a single resource

  bool is_error() const { return severity == "error" || severity == "fatal"; }
};

// details.coding.system of every issue: the GP feed's rule codes.
inline constexpr const char* kRuleSystem = "urn:connecting-care:code:gp-feed-rule";

bool has_error(const std::vector<Issue>& issues);

// {"resourceType":"OperationOutcome","issue":[...]} for these issues; an "information" issue
// saying `all_ok_text` when there are none (an OperationOutcome needs at least one issue).
rapidjson::Value operation_outcome(const std::vector<Issue>& issues, const std::string& all_ok_text,
                                   rapidjson::Document::AllocatorType& alloc);

}  // namespace cc::fhir_ingest
