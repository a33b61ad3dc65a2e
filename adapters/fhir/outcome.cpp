// OperationOutcome JSON for GP feed issues.
#include "adapters/fhir/outcome.h"

namespace cc::fhir_ingest {

bool has_error(const std::vector<Issue>& issues) {
  for (const Issue& issue : issues)
    if (issue.is_error()) return true;
  return false;
}

rapidjson::Value operation_outcome(const std::vector<Issue>& issues, const std::string& all_ok_text,
                                   rapidjson::Document::AllocatorType& alloc) {
  using rapidjson::Value;
  auto str = [&](const std::string& s) { return Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), alloc); };
  Value outcome(rapidjson::kObjectType);
  outcome.AddMember("resourceType", "OperationOutcome", alloc);
  Value list(rapidjson::kArrayType);
  for (const Issue& issue : issues) {
    Value item(rapidjson::kObjectType);
    item.AddMember("severity", str(issue.severity), alloc);
    item.AddMember("code", str(issue.code), alloc);
    if (!issue.rule.empty()) {
      Value coding(rapidjson::kObjectType);
      coding.AddMember("system", Value(kRuleSystem, alloc), alloc);
      coding.AddMember("code", str(issue.rule), alloc);
      Value codings(rapidjson::kArrayType);
      codings.PushBack(coding, alloc);
      Value details(rapidjson::kObjectType);
      details.AddMember("coding", codings, alloc);
      item.AddMember("details", details, alloc);
    }
    item.AddMember("diagnostics", str(issue.message), alloc);
    if (!issue.expression.empty()) {
      Value expressions(rapidjson::kArrayType);
      expressions.PushBack(str(issue.expression), alloc);
      item.AddMember("expression", expressions, alloc);
    }
    list.PushBack(item, alloc);
  }
  if (issues.empty()) {
    Value item(rapidjson::kObjectType);
    item.AddMember("severity", "information", alloc);
    item.AddMember("code", "informational", alloc);
    item.AddMember("diagnostics", str(all_ok_text), alloc);
    list.PushBack(item, alloc);
  }
  outcome.AddMember("issue", list, alloc);
  return outcome;
}

}  // namespace cc::fhir_ingest
