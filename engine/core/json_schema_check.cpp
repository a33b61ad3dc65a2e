// See json_schema_check.h.
#include "engine/core/json_schema_check.h"

#include <sstream>

#include <rapidjson/error/en.h>
#include <valijson/adapters/rapidjson_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace cc {

Status parse_and_check(const std::string& text, const char* schema_text, const std::string& origin,
                       const std::string& schema_name, const std::string& code, rapidjson::Document& doc) {
  doc.Parse(text.c_str(), text.size());
  if (doc.HasParseError()) {
    std::ostringstream os;
    os << origin << ": not valid JSON at byte " << doc.GetErrorOffset() << ": "
       << rapidjson::GetParseError_En(doc.GetParseError());
    return make_error(code + "-json", os.str());
  }
  rapidjson::Document schema_doc;
  schema_doc.Parse(schema_text);
  valijson::Schema schema;
  valijson::SchemaParser parser;
  valijson::adapters::RapidJsonAdapter schema_adapter(schema_doc);
  parser.populateSchema(schema_adapter, schema);
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::RapidJsonAdapter target(doc);
  if (!validator.validate(schema, target, &results)) {
    std::ostringstream os;
    os << origin << " does not match " << schema_name << ":";
    valijson::ValidationResults::Error err;
    while (results.popError(err)) {
      std::string path;
      for (auto& p : err.context) path += p;
      os << "\n  " << path << ": " << err.description;
    }
    return make_error(code + "-schema", os.str());
  }
  return {};
}

}  // namespace cc
