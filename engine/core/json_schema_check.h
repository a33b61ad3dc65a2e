// Checks a parsed JSON document against a JSON Schema (valijson over RapidJSON) and words every
// problem with its path, for files people edit: the configuration, the governance policy.
#pragma once
#include <string>

#include <rapidjson/document.h>

#include "engine/core/result.h"

namespace cc {

// Parses `text` (JSON) into `doc` and checks it against `schema_text`. Errors: "<code>-json" (not
// JSON, with the byte), "<code>-schema" (each problem on its own line with its path). `origin`
// names the file, `schema_name` the schema, in the sentences.
Status parse_and_check(const std::string& text, const char* schema_text, const std::string& origin,
                       const std::string& schema_name, const std::string& code, rapidjson::Document& doc);

}  // namespace cc
