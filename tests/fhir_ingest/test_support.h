// Helpers for the GP feed ingest tests: test NHS numbers from the 999 range, reading corpus
// files, JSON to text, and finding the issues a result carries.
#pragma once
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "adapters/fhir/gp_ingest.h"

namespace cc::fhir_ingest::testing {

// The n-th (0-based) valid NHS number from 999 000 000x upwards: the 999 range is never issued.
std::string test_nhs_number(int n);

std::string read_file(const std::string& path);
std::string to_json(const rapidjson::Value& value);

// Files of a folder with the given extension, sorted; empty when the folder is absent.
std::vector<std::string> files_in(const std::string& folder, const std::string& extension);

// The issues with this rule (details code), across the whole result.
std::vector<Issue> issues_with_rule(const IngestResult& result, const std::string& rule);
bool has_rule(const IngestResult& result, const std::string& rule);
// Every issue, one a line, for failure messages.
std::string describe(const IngestResult& result);

// Calls f(reference object) for every object holding a string "reference" in the resource.
template <class F>
void for_each_reference(const rapidjson::Value& v, F&& f) {
  if (v.IsObject()) {
    auto r = v.FindMember("reference");
    if (r != v.MemberEnd() && r->value.IsString()) f(v);
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) for_each_reference(m->value, f);
  } else if (v.IsArray()) {
    for (const auto& item : v.GetArray()) for_each_reference(item, f);
  }
}

}  // namespace cc::fhir_ingest::testing
