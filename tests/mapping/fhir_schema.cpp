// FHIR R4 JSON checks for tests: valijson over the official R4 JSON schema, plus the
// FHIR JSON rule the schema leaves out (no empty strings, arrays, objects or nulls).
#include "tests/mapping/fhir_schema.h"

#include <fstream>
#include <sstream>

#include <valijson/adapters/rapidjson_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace cc::testing {

namespace {

void find_empty_values(const rapidjson::Value& v, const std::string& path,
                       std::vector<std::string>& problems) {
  if (v.IsNull())
    problems.push_back(path + ": null (FHIR JSON has no nulls)");
  else if (v.IsString() && v.GetStringLength() == 0)
    problems.push_back(path + ": empty string");
  else if (v.IsArray()) {
    if (v.Empty()) problems.push_back(path + ": empty array");
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      find_empty_values(v[i], path + "[" + std::to_string(i) + "]", problems);
    }
  } else if (v.IsObject()) {
    if (v.MemberCount() == 0) problems.push_back(path + ": empty object");
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
      find_empty_values(m->value, path + "." + m->name.GetString(), problems);
    }
  }
}

}  // namespace

std::string FhirSchema::path() {
  return std::string(CC_SHARED_DIR) + "/corpus/schema/fhir.schema.json";
}

FhirSchema* FhirSchema::shared() {
  static FhirSchema* const instance = []() -> FhirSchema* {
    std::ifstream in(path(), std::ios::binary);
    if (!in) return nullptr;
    std::stringstream text;
    text << in.rdbuf();
    rapidjson::Document doc;
    doc.Parse(text.str().c_str());
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("definitions")) return nullptr;
    return new FhirSchema(std::move(doc));
  }();
  return instance;
}

FhirSchema::FhirSchema(rapidjson::Document schema)
    : definitions_(std::move(schema)), validator_(std::make_unique<valijson::Validator>()) {}

FhirSchema::~FhirSchema() = default;

const valijson::Schema* FhirSchema::schema_for(const std::string& type) {
  if (auto it = schemas_.find(type); it != schemas_.end()) return it->second.get();
  const auto& definitions = definitions_["definitions"];
  if (!definitions.HasMember(type.c_str())) return nullptr;

  auto wrapper = std::make_unique<rapidjson::Document>();
  auto& alloc = wrapper->GetAllocator();
  wrapper->SetObject();
  const std::string ref = "#/definitions/" + type;
  wrapper->AddMember("$ref", rapidjson::Value(ref.c_str(), alloc), alloc);
  wrapper->AddMember("definitions", rapidjson::Value(definitions, alloc), alloc);

  auto schema = std::make_unique<valijson::Schema>();
  valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
  valijson::adapters::RapidJsonAdapter adapter(*wrapper);
  parser.populateSchema(adapter, *schema);
  wrappers_[type] = std::move(wrapper);
  return (schemas_[type] = std::move(schema)).get();
}

std::vector<std::string> FhirSchema::validate(const rapidjson::Value& resource) {
  std::vector<std::string> problems;
  find_empty_values(resource, "<root>", problems);
  if (!resource.IsObject() || !resource.HasMember("resourceType") ||
      !resource["resourceType"].IsString()) {
    problems.push_back("<root>: no resourceType");
    return problems;
  }
  const std::string type = resource["resourceType"].GetString();
  std::lock_guard lock(mutex_);
  const valijson::Schema* schema = schema_for(type);
  if (!schema) {
    problems.push_back("<root>: " + type + " is not an R4 resource type");
    return problems;
  }
  valijson::adapters::RapidJsonAdapter target(resource);
  if (validator_->validate(*schema, target, nullptr)) return problems;
  valijson::ValidationResults results;
  validator_->validate(*schema, target, &results);
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    std::string where;
    for (const std::string& part : error.context) where += part + " ";
    problems.push_back(where + ": " + error.description);
  }
  return problems;
}

}  // namespace cc::testing
