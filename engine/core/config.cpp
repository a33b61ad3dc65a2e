// Engine configuration: listeners, data directory, feeds. Read from a JSON file validated
// against schemas/config.schema.json, or the built-in development configuration.
#include "engine/core/config.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <rapidjson/document.h>

#include "engine/core/json_schema_check.h"
#include "engine/core/outbound_http.h"

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
  feed.organisation_type = "acute";
  c.feeds.push_back(feed);
  // A council's social care extract, uploaded by a feed system of organisation DEVSC.
  FeedConfig extract;
  extract.name = "dev-social-care";
  extract.type = "extract";
  extract.owner_ods = "DEVSC";
  extract.mapping = "social-care-episodes";
  extract.organisation_type = "social-care";
  c.feeds.push_back(extract);
  // A catch-all GP feed: any organisation's feed system may push GP records.
  FeedConfig gp;
  gp.name = "dev-gp";
  gp.type = "gp-fhir";
  gp.owner_ods = "*";
  gp.organisation_type = "gp";
  c.feeds.push_back(gp);
  return c;
}

const FeedConfig* Config::feed_for(const std::string& sending_facility) const {
  for (auto& f : feeds)
    if (f.type == "hl7v2-mllp" && f.accepts_facility(sending_facility)) return &f;
  return nullptr;
}

const FeedConfig* Config::gp_feed_for(const std::string& ods) const {
  for (auto& f : feeds)
    if (f.is_gp() && f.owner_ods == ods) return &f;
  for (auto& f : feeds)
    if (f.is_gp() && f.owner_ods == "*") return &f;
  return nullptr;
}

const FeedConfig* Config::feed_named(const std::string& name) const {
  for (auto& f : feeds)
    if (f.name == name) return &f;
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
  if (auto st = parse_and_check(text, kConfigSchema, origin, "schemas/config.schema.json", "config", doc); !st)
    return st.error();

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
  if (doc.HasMember("policy_file")) c.policy_file = doc["policy_file"].GetString();
  if (doc.HasMember("organisations"))
    for (auto& m : doc["organisations"].GetObject()) c.organisations[m.name.GetString()] = m.value.GetString();
  for (auto& f : doc["feeds"].GetArray()) {
    FeedConfig feed;
    feed.name = f["name"].GetString();
    if (f.HasMember("type")) feed.type = f["type"].GetString();
    if (f.HasMember("owner_ods")) feed.owner_ods = f["owner_ods"].GetString();
    if (f.HasMember("organisation_type")) feed.organisation_type = f["organisation_type"].GetString();
    else if (feed.is_gp()) feed.organisation_type = "gp";
    if (f.HasMember("sending_facilities")) feed.sending_facilities = strings(f["sending_facilities"]);
    if (f.HasMember("format")) feed.format = f["format"].GetString();
    if (f.HasMember("delimiter")) feed.delimiter = f["delimiter"].GetString()[0];
    if (f.HasMember("mapping")) feed.mapping = f["mapping"].GetString();
    if (f.HasMember("mode")) feed.mode = f["mode"].GetString();
    if (f.HasMember("drop_directory")) feed.drop_directory = f["drop_directory"].GetString();
    if (f.HasMember("drop_poll_seconds")) feed.drop_poll_seconds = f["drop_poll_seconds"].GetInt();
    if (f.HasMember("processing_ids")) feed.processing_ids = strings(f["processing_ids"]);
    if (f.HasMember("max_message_bytes")) feed.max_message_bytes = f["max_message_bytes"].GetUint64();
    if (f.HasMember("idle_timeout_seconds")) feed.idle_timeout_seconds = f["idle_timeout_seconds"].GetInt();
    if (f.HasMember("authorities"))
      for (auto& m : f["authorities"].GetObject()) feed.authorities[m.name.GetString()] = m.value.GetString();
    if (f.HasMember("unmapped_ack")) feed.unmapped_ack = f["unmapped_ack"].GetString();
    if (f.HasMember("client_certificate_subject"))
      feed.client_certificate_subject = f["client_certificate_subject"].GetString();
    for (auto& other : c.feeds)
      if (other.name == feed.name)
        return make_error("config-feed", origin + ": two feeds are named \"" + feed.name + "\"; feed names must be unique.");
    c.feeds.push_back(std::move(feed));
  }
  if (doc.HasMember("tls")) {
    auto& t = doc["tls"];
    if (t.HasMember("cert_file")) c.tls.cert_file = t["cert_file"].GetString();
    if (t.HasMember("key_file")) c.tls.key_file = t["key_file"].GetString();
    if (t.HasMember("client_ca_file")) c.tls.client_ca_file = t["client_ca_file"].GetString();
    if (t.HasMember("reload_check_seconds")) c.tls.reload_check_seconds = t["reload_check_seconds"].GetInt();
  }
  if (doc.HasMember("oidc")) {
    auto& o = doc["oidc"];
    if (o.HasMember("issuer")) c.oidc.issuer = o["issuer"].GetString();
    if (o.HasMember("audience")) c.oidc.audience = o["audience"].GetString();
    if (o.HasMember("jwks_url")) c.oidc.jwks_url = o["jwks_url"].GetString();
    if (o.HasMember("jwks_refresh_seconds")) c.oidc.jwks_refresh_seconds = o["jwks_refresh_seconds"].GetInt64();
    if (o.HasMember("jwks_min_refetch_seconds"))
      c.oidc.jwks_min_refetch_seconds = o["jwks_min_refetch_seconds"].GetInt64();
    if (o.HasMember("clock_skew_seconds")) c.oidc.clock_skew_seconds = o["clock_skew_seconds"].GetInt64();
    if (o.HasMember("claims_profile")) c.oidc.claims_profile = o["claims_profile"].GetString();
    if (o.HasMember("claim_names"))
      for (auto& m : o["claim_names"].GetObject()) c.oidc.claim_names[m.name.GetString()] = m.value.GetString();
    if (o.HasMember("role_map"))
      for (auto& m : o["role_map"].GetObject()) c.oidc.role_map[m.name.GetString()] = m.value.GetString();
  }
  if (doc.HasMember("limits")) {
    auto& l = doc["limits"];
    auto& L = c.limits;
    if (l.HasMember("http_max_header_bytes")) L.http_max_header_bytes = l["http_max_header_bytes"].GetUint64();
    if (l.HasMember("http_max_body_bytes")) L.http_max_body_bytes = l["http_max_body_bytes"].GetUint64();
    if (l.HasMember("http_read_timeout_seconds")) L.http_read_timeout_seconds = l["http_read_timeout_seconds"].GetInt();
    if (l.HasMember("handshake_timeout_seconds")) L.handshake_timeout_seconds = l["handshake_timeout_seconds"].GetInt();
    if (l.HasMember("mllp_frame_timeout_seconds"))
      L.mllp_frame_timeout_seconds = l["mllp_frame_timeout_seconds"].GetInt();
    if (l.HasMember("max_connections_per_peer")) L.max_connections_per_peer = l["max_connections_per_peer"].GetInt();
    if (l.HasMember("requests_per_minute_per_user"))
      L.requests_per_minute_per_user = l["requests_per_minute_per_user"].GetInt();
    if (l.HasMember("request_burst_per_user")) L.request_burst_per_user = l["request_burst_per_user"].GetInt();
    if (l.HasMember("allowed_origins")) L.allowed_origins = strings(l["allowed_origins"]);
    if (l.HasMember("extract_chunk_rows")) L.extract_chunk_rows = l["extract_chunk_rows"].GetInt64();
  }
  // What goes together (TLS files, OIDC settings) is checked by Config::check once command-line
  // flags have been applied: a file may leave the certificate or the JWKS URL to a flag.
  return c;
}

Status Config::check() const {
  for (const auto& f : feeds)
    if (f.owner_ods == "*" && !development)
      return make_error("config-feed", "Feed " + f.name + " takes writes from any organisation (owner_ods \"*\"); that is "
                                       "for development only. Name the owning organisation's ODS code.");
  if (tls.cert_file.empty() != tls.key_file.empty())
    return make_error("config-tls", "TLS needs both a certificate and its private key (tls.cert_file and "
                                    "tls.key_file, or --tls-cert and --tls-key).");
  if (!tls.client_ca_file.empty() && !tls.enabled())
    return make_error("config-tls", "A client CA (mutual TLS) needs TLS itself: give a certificate and key too.");
  for (auto& f : feeds)
    if (!f.client_certificate_subject.empty() && tls.client_ca_file.empty())
      return make_error("config-tls", "Feed " + f.name + " is bound to a client certificate subject, which needs "
                                      "mutual TLS: give tls.client_ca_file (or --tls-client-ca).");
  if (oidc.enabled()) {
    if (oidc.issuer.empty() || oidc.audience.empty() || oidc.jwks_url.empty())
      return make_error("config-oidc", "OpenID Connect needs the issuer, the audience and the JWKS URL together "
                                       "(--oidc-issuer, --oidc-audience, --jwks-url).");
    if (auto st = check_outbound_url(oidc.jwks_url); !st)
      return make_error("config-oidc", "The JWKS URL is refused: " + st.error().message);
    if (oidc.claims_profile != "default" && oidc.claims_profile != "cis2")
      return make_error("config-oidc", "oidc.claims_profile must be \"default\" or \"cis2\".");
  }
  return {};
}

Result<Config> Config::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("config-read", "Cannot read the configuration file " + path + ".");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

}  // namespace cc
