// The GP feed's FHIR R4 subset schema (schemas/fhir-gp-subset.schema.json, compiled in) and the
// structural check of one resource: the schema through valijson, plus the FHIR JSON rules a JSON
// Schema cannot say (no nulls, no empty strings/arrays/objects, no repeated keys, real dates).
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "adapters/fhir/outcome.h"

namespace cc::fhir_ingest {

// A Reference (the R4 data type) found in a resource.
struct ReferenceSite {
  rapidjson::Value* value = nullptr;  // the Reference object
  std::string path;                   // FHIRPath, e.g. "Bundle.entry[2].resource.subject"
  std::string element;                // inside the resource, e.g. "subject", "contained[0].subject"
  bool in_contained = false;          // inside a contained resource
};

struct StructureReport {
  std::vector<Issue> issues;
  std::vector<ReferenceSite> references;   // in document order
  std::vector<std::string> contained_ids;  // ids of the resource's contained resources
};

class ResourceSchema {
 public:
  // The compiled-in GP subset schema, parsed on first use (thread-safe) and shared.
  static const ResourceSchema& gp_subset();

  // Whether the schema has a definition for this resource type.
  bool defines(std::string_view resource_type) const;

  // Checks `resource` (a JSON object of a type defines() knows) and its contained resources;
  // issues name elements under `path` ("Bundle.entry[2].resource", or "Observation" for a
  // single resource) and carry `entry`. Safe for concurrent calls. Strings longer than 512
  // characters are checked here and stood in for while the schema's patterns run (libstdc++'s
  // std::regex recurses once per character), then restored: `resource` is unchanged on return.
  // With `validate` false only the walk is made (references, contained ids, the checks of its own),
  // not the JSON Schema validation: for a push already validated whole when it was accepted.
  StructureReport check(rapidjson::Value& resource, const std::string& path, int entry, bool validate = true) const;

  ~ResourceSchema();
  ResourceSchema(const ResourceSchema&) = delete;
  ResourceSchema& operator=(const ResourceSchema&) = delete;

  struct Impl;

 private:
  explicit ResourceSchema(const char* schema_text);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cc::fhir_ingest
