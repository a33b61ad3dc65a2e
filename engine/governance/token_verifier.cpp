// Who is asking: checks a bearer token and returns the Reader it names. OpenID Connect access
// tokens (RS256 / ES256) are verified against the provider's JWKS (cached, refetched on an unknown
// key id and on a schedule); HS256 development tokens only in development mode.
#include "engine/governance/token_verifier.h"

#include <rapidjson/document.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "engine/core/json_input.h"
#include "engine/governance/base64url.h"

namespace cc::governance {
namespace {

constexpr std::string_view kAskAgain = "sign in again to get a new token";

Error refused(const std::string& code, const std::string& why) { return make_error(code, why); }

bool decode_json(std::string_view part, rapidjson::Document& doc, std::string* raw = nullptr) {
  std::string json;
  if (!base64url_decode(part, json)) return false;
  const bool parsed = parse_json(json, JsonLimits{json.size(), 16}, doc).ok();
  if (raw) *raw = json;
  return parsed && doc.IsObject();
}

std::string text(const rapidjson::Value& v, const std::string& name) {
  auto it = v.FindMember(name.c_str());
  return it != v.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString(), it->value.GetStringLength())
                                                      : std::string();
}

int64_t system_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Result<Reader> reader_from_claims(std::string_view claims_json, const OidcConfig& oidc) {
  rapidjson::Document c;
  if (!parse_json(claims_json, JsonLimits{claims_json.size(), 16}, c).ok() || !c.IsObject())
    return refused("token-claims", "The token's claims are not a JSON object.");
  auto name = [&](const std::string& ours, const std::string& fallback) {
    auto it = oidc.claim_names.find(ours);
    return it == oidc.claim_names.end() ? fallback : it->second;
  };
  Reader r;
  if (oidc.claims_profile == "cis2") {
    r.user = text(c, name("sub", "nhsid_useruid"));
    std::string selected = text(c, "selected_roleid");
    auto roles = c.FindMember("nhsid_nrbac_roles");
    if (selected.empty() || roles == c.MemberEnd() || !roles->value.IsArray())
      return refused("token-claims", "The CIS2 token has no selected role (selected_roleid and nhsid_nrbac_roles); "
                                     "choose a role when you sign in.");
    for (auto& entry : roles->value.GetArray()) {
      if (!entry.IsObject() || text(entry, "person_roleid") != selected) continue;
      r.rbac_role = text(entry, "role_code");
      r.org = text(entry, "org_code");
    }
    if (r.rbac_role.empty())
      return refused("token-claims", "The CIS2 token's selected role " + selected + " is not among its roles.");
    // "S8000:G8000:R8000" (job role codes joined by colons) or a single code: the first one mapped wins.
    auto mapped = oidc.role_map.find(r.rbac_role);
    if (mapped == oidc.role_map.end()) {
      size_t start = 0;
      while (start <= r.rbac_role.size() && mapped == oidc.role_map.end()) {
        size_t colon = r.rbac_role.find(':', start);
        mapped = oidc.role_map.find(r.rbac_role.substr(start, colon == std::string::npos ? colon : colon - start));
        if (colon == std::string::npos) break;
        start = colon + 1;
      }
    }
    if (mapped == oidc.role_map.end())
      return refused("token-claims", "The CIS2 role " + r.rbac_role + " is not mapped to a role of this record "
                                     "(oidc.role_map); ask the IT team to map it.");
    r.role = mapped->second;
    r.purpose_of_use = text(c, name("purpose_of_use", "purpose_of_use"));
  } else {
    r.user = text(c, name("sub", "sub"));
    r.role = text(c, name("role", "role"));
    r.org = text(c, name("org", "org"));
    r.rbac_role = text(c, name("rbac_role", "rbac_role"));
    r.purpose_of_use = text(c, name("purpose_of_use", "purpose_of_use"));
  }
  if (r.user.empty()) return refused("token-claims", "The token names no user (sub); " + std::string(kAskAgain) + ".");
  if (r.role.empty()) return refused("token-claims", "The token names no role; " + std::string(kAskAgain) + ".");
  if (r.org.empty()) return refused("token-claims", "The token names no organisation; " + std::string(kAskAgain) + ".");
  return r;
}

TokenVerifier::TokenVerifier(TokenPolicy policy, Fetch fetch, Clock clock)
    : policy_(std::move(policy)), fetch_(std::move(fetch)), clock_(clock ? std::move(clock) : Clock(system_seconds)) {}

TokenVerifier::~TokenVerifier() {
  {
    std::lock_guard lk(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
}

size_t TokenVerifier::key_count() const {
  std::lock_guard lk(mu_);
  return keys_.size();
}

Status TokenVerifier::refresh() {
  if (!policy_.oidc.enabled() || !fetch_) return make_error("token-keys-unavailable", "No identity provider is configured.");
  std::lock_guard fetch_lock(fetch_mu_);
  {
    std::lock_guard lk(mu_);
    last_fetch_ = clock_();
  }
  auto body = fetch_(policy_.oidc.jwks_url);
  if (!body) {
    spdlog::error("identity provider keys: {}", body.error().message);
    return body.error();
  }
  auto keys = parse_jwks(*body);
  if (!keys) {
    spdlog::error("identity provider keys from {}: {}", policy_.oidc.jwks_url, keys.error().message);
    return keys.error();
  }
  std::string kids;
  for (auto& k : *keys) kids += (kids.empty() ? "" : ", ") + k.kid + " (" + k.alg + ")";
  spdlog::info("identity provider keys from {}: {}", policy_.oidc.jwks_url, kids.empty() ? "none usable" : kids);
  std::lock_guard lk(mu_);
  keys_ = std::move(*keys);
  return {};
}

void TokenVerifier::start_refresh_thread() {
  if (!policy_.oidc.enabled() || refresher_.joinable()) return;
  refresher_ = std::thread([this] {
    std::unique_lock lk(stop_mu_);
    while (!stop_cv_.wait_for(lk, std::chrono::seconds(policy_.oidc.jwks_refresh_seconds), [this] { return stop_; })) {
      lk.unlock();
      (void)refresh();
      lk.lock();
    }
  });
}

bool TokenVerifier::find_key(const std::string& kid, const std::string& alg, Jwk& out) const {
  std::lock_guard lk(mu_);
  const Jwk* only = nullptr;
  int same_alg = 0;
  for (auto& k : keys_) {
    if (k.alg != alg) continue;
    ++same_alg;
    only = &k;
    if (!kid.empty() && k.kid == kid) {
      out = k;
      return true;
    }
  }
  // A token without a kid is accepted only when the set holds exactly one key for its algorithm.
  if (kid.empty() && same_alg == 1) {
    out = *only;
    return true;
  }
  return false;
}

Result<Reader> TokenVerifier::verify(std::string_view token, int64_t now_epoch_s) {
  if (std::count(token.begin(), token.end(), '.') != 2)
    return refused("token-malformed", "The bearer token is not a JWT (header.payload.signature).");
  rapidjson::Document header;
  if (!decode_json(token.substr(0, token.find('.')), header))
    return refused("token-malformed", "The bearer token's header is not base64url JSON.");
  std::string alg = text(header, "alg");
  std::string kid = text(header, "kid");
  if (alg == "HS256") {
    if (!policy_.development)
      return refused("token-algorithm", "Development tokens (HS256) are accepted only in development mode; sign in "
                                        "with the identity provider.");
    return verify_dev_token(token, policy_.dev_key, now_epoch_s);
  }
  if (alg != "RS256" && alg != "ES256")
    return refused("token-algorithm", "Tokens signed with algorithm '" + alg.substr(0, 20) +
                                          "' are refused; only RS256 and ES256 are accepted.");
  if (!policy_.oidc.enabled())
    return refused("token-algorithm", "This engine has no identity provider configured, so it accepts only "
                                      "development tokens.");
  return verify_oidc(token, alg, kid, now_epoch_s);
}

Result<Reader> TokenVerifier::verify_oidc(std::string_view token, const std::string& alg, const std::string& kid,
                                          int64_t now_epoch_s) {
  const size_t first_dot = token.find('.');
  const size_t second_dot = token.find('.', first_dot + 1);
  std::string_view signing_input = token.substr(0, second_dot);
  std::string signature;
  if (!base64url_decode(token.substr(second_dot + 1), signature))
    return refused("token-malformed", "The bearer token's signature is not base64url text.");

  Jwk key;
  if (!find_key(kid, alg, key)) {
    // An unknown key id: the provider may have rotated its keys. Refetch, but not more often than
    // jwks_min_refetch_seconds, so tokens with made-up kids cannot hammer the provider.
    bool may_fetch;
    {
      std::lock_guard lk(mu_);
      may_fetch = last_fetch_ == 0 || clock_() - last_fetch_ >= policy_.oidc.jwks_min_refetch_seconds;
    }
    if (may_fetch) (void)refresh();
    if (!find_key(kid, alg, key)) {
      if (key_count() == 0)
        return refused("token-keys-unavailable", "The identity provider's keys could not be fetched; try again "
                                                 "shortly (the IT team can see why in the engine's log).");
      return refused("token-key-unknown", "The token was signed with a key (kid '" + kid.substr(0, 64) +
                                              "') the identity provider does not publish for " + alg + "; " +
                                              std::string(kAskAgain) + ".");
    }
  }
  if (!verify_jws_signature(key, signing_input, signature))
    return refused("token-signature", "The bearer token's signature does not match: it was changed after signing "
                                      "or signed by someone else.");

  rapidjson::Document claims;
  std::string claims_json;
  if (!decode_json(token.substr(first_dot + 1, second_dot - first_dot - 1), claims, &claims_json))
    return refused("token-malformed", "The bearer token's payload is not base64url JSON.");
  if (text(claims, "iss") != policy_.oidc.issuer)
    return refused("token-issuer", "The token was issued by '" + text(claims, "iss").substr(0, 200) +
                                       "', not by this record's identity provider.");
  bool audience_ok = false;
  if (auto aud = claims.FindMember("aud"); aud != claims.MemberEnd()) {
    if (aud->value.IsString()) audience_ok = policy_.oidc.audience == aud->value.GetString();
    if (aud->value.IsArray())
      for (auto& a : aud->value.GetArray())
        if (a.IsString() && policy_.oidc.audience == a.GetString()) audience_ok = true;
  }
  if (!audience_ok)
    return refused("token-audience", "The token is meant for another service (aud), not this record.");
  const int64_t skew = policy_.oidc.clock_skew_seconds;
  auto exp = claims.FindMember("exp");
  if (exp == claims.MemberEnd() || !exp->value.IsNumber())
    return refused("token-claims", "The token has no expiry time (exp).");
  // Compared as doubles: a time claim of 1e300 converted to int64 would be undefined (and, as it
  // happened, made a token valid from the beginning of time).
  if (static_cast<double>(now_epoch_s - skew) >= exp->value.GetDouble())
    return refused("token-expired", "The bearer token has expired; " + std::string(kAskAgain) + ".");
  if (auto nbf = claims.FindMember("nbf"); nbf != claims.MemberEnd()) {
    if (!nbf->value.IsNumber()) return refused("token-claims", "The token's start time (nbf) is not a number.");
    if (static_cast<double>(now_epoch_s + skew) < nbf->value.GetDouble())
      return refused("token-not-yet-valid", "The bearer token is not valid yet; check that this server's clock and "
                                            "the identity provider's agree.");
  }
  return reader_from_claims(claims_json, policy_.oidc);
}

}  // namespace cc::governance
