// FHIR R4 JSON checks for tests: the official R4 JSON schema (valijson, one parsed schema per
// resource type, the 3 MB schema file read once per test binary) plus the JSON rules it omits.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <rapidjson/document.h>

namespace valijson {
class Schema;
class Validator;
}  // namespace valijson

namespace cc::testing {

class FhirSchema {
 public:
  // CC_SHARED_DIR/corpus/schema/fhir.schema.json.
  static std::string path();
  // The schema at path(), read on first use; nullptr when the file is absent or unreadable
  // (tests then GTEST_SKIP, naming path()).
  static FhirSchema* shared();

  // Problems with one resource, one line each ("<root> [identifier] [0]: ..."); empty when valid.
  // Besides the schema, FHIR JSON forbids empty strings, arrays and objects and nulls.
  std::vector<std::string> validate(const rapidjson::Value& resource);

  ~FhirSchema();

 private:
  explicit FhirSchema(rapidjson::Document schema);
  // The schema for one resource type, parsed on first use: {"$ref": "#/definitions/<type>"}
  // beside the definitions, which skips the root oneOf over every resource type.
  const valijson::Schema* schema_for(const std::string& type);

  std::mutex mutex_;
  rapidjson::Document definitions_;  // the file's root object
  std::map<std::string, std::unique_ptr<rapidjson::Document>> wrappers_;
  std::map<std::string, std::unique_ptr<valijson::Schema>> schemas_;
  std::unique_ptr<valijson::Validator> validator_;  // keeps its compiled regexes between calls
};

}  // namespace cc::testing
