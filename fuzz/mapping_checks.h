// What the mapping fuzz targets (adt_mapping, extract_mapping) check of whatever the project's
// mapping files make: every problem has a sentence, and every resource has an id and a patient and
// serialises to valid JSON (UTF-8 checked) whose resourceType matches. A broken property aborts,
// so libFuzzer keeps the input.
#pragma once
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/mapping/mapping_set.h"

namespace cc::fuzz {

[[noreturn]] inline void fail(const char* target, const std::string& what) {
  std::fprintf(stderr, "%s: property broken: %s\n", target, what.c_str());
  std::abort();
}

// The project's mappings (mappings/), loaded once.
inline const mapping::MappingSet& project_mappings(const char* target) {
  static const auto set = [target] {
    std::vector<mapping::LoadProblem> problems;
    auto loaded = mapping::MappingSet::load(CC_DEFAULT_MAPPINGS_DIR, problems);
    if (!loaded) fail(target, "the project's mappings do not load: " + (problems.empty() ? "" : problems.front().describe()));
    return loaded;
  }();
  return *set;
}

inline void check_issues(const char* target, const std::vector<mapping::Issue>& issues) {
  for (const auto& issue : issues)
    if (issue.message.empty()) fail(target, "an issue without a sentence");
}

// A mapping's result: an error with a sentence, or issues with sentences and resources that hold.
inline void check_output(const char* target, const Result<mapping::MappingOutput>& out) {
  if (!out) {
    if (out.error().message.empty()) fail(target, "a mapping error without a sentence");
    return;
  }
  check_issues(target, out->issues);
  for (const auto& r : out->resources) {
    if (r.id.empty() || r.patient_id.empty()) fail(target, "a " + r.type + " without an id or a patient");
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    if (!r.resource.Accept(w)) fail(target, "a " + r.type + " that cannot be written as JSON");
    rapidjson::Document back;
    back.Parse<rapidjson::kParseValidateEncodingFlag>(sb.GetString(), sb.GetSize());
    if (back.HasParseError() || !back.IsObject()) fail(target, "a " + r.type + " that is not valid JSON: " + sb.GetString());
    const auto type = back.FindMember("resourceType");
    if (type == back.MemberEnd() || !type->value.IsString() || r.type != type->value.GetString())
      fail(target, "a " + r.type + " whose resourceType differs");
  }
}

}  // namespace cc::fuzz
