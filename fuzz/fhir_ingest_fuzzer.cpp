// libFuzzer target: a GP extract service's FHIR push, or hostile JSON sent to POST /fhir. The
// bytes go through the GP feed's validation as a Bundle and as a single resource; every answer is
// valid JSON, and every accepted resource serialises to valid JSON with its type and an id.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "adapters/fhir/gp_ingest.h"

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "fhir_ingest_fuzzer: property broken: %s\n", what.c_str());
  std::abort();
}

std::string serialise(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return sb.GetString();
}

void valid_json(const std::string& text, const char* what) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag>(text.c_str(), text.size());
  if (d.HasParseError() || !d.IsObject()) fail(std::string(what) + " that is not valid JSON: " + text.substr(0, 200));
}

void run(cc::fhir_ingest::Request::Kind kind, std::string_view body) {
  cc::fhir_ingest::Request request;
  request.kind = kind;
  request.type = "Observation";
  request.id = "fuzz-1";
  request.body = body;
  cc::fhir_ingest::Feed feed;
  feed.name = "gp-fuzz";
  feed.now_ms = 1700000000000;
  auto result = cc::fhir_ingest::ingest(request, feed);
  valid_json(serialise(result.response), "a response");
  for (const auto& r : result.resources) {
    if (r.mapped.id.empty() || r.mapped.type.empty()) fail("an accepted resource without a type or id");
    valid_json(serialise(r.mapped.resource), "an accepted resource");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  run(cc::fhir_ingest::Request::Kind::kBundle, body);
  run(cc::fhir_ingest::Request::Kind::kUpdate, body);
  return 0;
}
