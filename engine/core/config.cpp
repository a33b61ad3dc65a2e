// Engine configuration: listeners, data directory, feeds. Read from a JSON file validated
// against schemas/config.schema.json, or the built-in development configuration.
#include "engine/core/config.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <valijson/adapters/rapidjson_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace cc {

bool FeedConfig::accepts_facility(const std::string& facility) const {
  return std::any_of(sending_facilities.begin(), sending_facilities.end(),
                     [&](const std::string& f) { return f == "*" || f == facility; });
}

bool FeedConfig::accepts_processing_id(const std::string& id) const {
  return std::find(processing_ids.begin(), processing_ids.end(), id) != processing_ids.end();
}

Config Config::development_default() {
  Config c;
  c.development = true;
  FeedConfig feed;
  feed.name = "dev-adt";
  feed.sending_facilities = {"*"};
  feed.processing_ids = {"P", "T"};
  c.feeds.push_back(feed);
  return c;
}

const FeedConfig* Config::feed_for(const std::string& sending_facility) const {
  for (auto& f : feeds)
    if (f.accepts_facility(sending_facility)) return &f;
  return nullptr;
}

namespace {
std::vector<std::string> strings(const rapidjson::Value& v) {
  std::vector<std::string> out;
  for (auto& s : v.GetArray()) out.emplace_back(s.GetString());
  return out;
}
}  // namespace

Result<Config> Config::parse(const std::string& text, const std::string& origin) {
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  if (doc.HasParseError()) {
    std::ostringstream os;
    os << origin << ": not valid JSON at byte " << doc.GetErrorOffset() << ": "
       << rapidjson::GetParseError_En(doc.GetParseError());
    return make_error("config-json", os.str());
  }
  rapidjson::Document schema_doc;
  schema_doc.Parse(kConfigSchema);
  valijson::Schema schema;
  valijson::SchemaParser parser;
  valijson::adapters::RapidJsonAdapter schema_adapter(schema_doc);
  parser.populateSchema(schema_adapter, schema);
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::RapidJsonAdapter target(doc);
  if (!validator.validate(schema, target, &results)) {
    std::ostringstream os;
    os << origin << " does not match schemas/config.schema.json:";
    valijson::ValidationResults::Error err;
    while (results.popError(err)) {
      std::string path;
      for (auto& p : err.context) path += p;
      os << "\n  " << path << ": " << err.description;
    }
    return make_error("config-schema", os.str());
  }

  Config c;
  if (doc.HasMember("listen_address")) c.listen_address = doc["listen_address"].GetString();
  if (doc.HasMember("mllp_port")) c.mllp_port = doc["mllp_port"].GetInt();
  if (doc.HasMember("http_port")) c.http_port = doc["http_port"].GetInt();
  if (doc.HasMember("data_dir")) c.data_dir = doc["data_dir"].GetString();
  if (doc.HasMember("mappings_dir")) c.mappings_dir = doc["mappings_dir"].GetString();
  if (doc.HasMember("threads")) c.threads = doc["threads"].GetInt();
  if (doc.HasMember("development")) c.development = doc["development"].GetBool();
  if (doc.HasMember("idempotency_window_seconds"))
    c.idempotency_window_seconds = doc["idempotency_window_seconds"].GetInt64();
  for (auto& f : doc["feeds"].GetArray()) {
    FeedConfig feed;
    feed.name = f["name"].GetString();
    if (f.HasMember("type")) feed.type = f["type"].GetString();
    if (f.HasMember("owner_ods")) feed.owner_ods = f["owner_ods"].GetString();
    feed.sending_facilities = strings(f["sending_facilities"]);
    if (f.HasMember("processing_ids")) feed.processing_ids = strings(f["processing_ids"]);
    if (f.HasMember("max_message_bytes")) feed.max_message_bytes = f["max_message_bytes"].GetUint64();
    if (f.HasMember("idle_timeout_seconds")) feed.idle_timeout_seconds = f["idle_timeout_seconds"].GetInt();
    if (f.HasMember("authorities"))
      for (auto& m : f["authorities"].GetObject()) feed.authorities[m.name.GetString()] = m.value.GetString();
    if (f.HasMember("unmapped_ack")) feed.unmapped_ack = f["unmapped_ack"].GetString();
    for (auto& other : c.feeds)
      if (other.name == feed.name)
        return make_error("config-feed", origin + ": two feeds are named \"" + feed.name + "\"; feed names must be unique.");
    c.feeds.push_back(std::move(feed));
  }
  return c;
}

Result<Config> Config::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("config-read", "Cannot read the configuration file " + path + ".");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

}  // namespace cc
