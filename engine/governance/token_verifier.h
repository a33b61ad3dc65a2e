// Who is asking: checks a bearer token and returns the Reader it names. OpenID Connect access
// tokens (RS256 / ES256) are verified against the provider's JWKS (cached, refetched on an unknown
// key id and on a schedule); HS256 development tokens only in development mode. Knows nothing of
// HTTP: the API passes the bearer string in; the JWKS comes through an injected fetch function.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "engine/core/config.h"
#include "engine/core/result.h"
#include "engine/governance/jwks.h"
#include "engine/governance/token.h"

namespace cc::governance {

struct TokenPolicy {
  bool development = false;  // accept HS256 development tokens signed with dev_key
  std::string dev_key;
  OidcConfig oidc;           // identity provider; disabled when oidc.enabled() is false
};

class TokenVerifier {
 public:
  using Fetch = std::function<Result<std::string>(const std::string& url)>;
  using Clock = std::function<int64_t()>;  // seconds since the epoch (for the refetch interval)

  TokenVerifier(TokenPolicy policy, Fetch fetch, Clock clock = nullptr);
  ~TokenVerifier();
  TokenVerifier(const TokenVerifier&) = delete;
  TokenVerifier& operator=(const TokenVerifier&) = delete;

  // Error codes: those of verify_dev_token, and "token-algorithm" (alg none, HS256 outside
  // development mode, anything but RS256/ES256), "token-key-unknown", "token-signature",
  // "token-issuer", "token-audience", "token-expired", "token-not-yet-valid", "token-claims",
  // "token-keys-unavailable" (the JWKS could not be fetched).
  Result<Reader> verify(std::string_view token, int64_t now_epoch_s);

  // Fetches the JWKS now and replaces the cached keys (kept on failure).
  Status refresh();
  // Starts the scheduled refresh (every oidc.jwks_refresh_seconds) on its own thread.
  void start_refresh_thread();
  size_t key_count() const;

 private:
  Result<Reader> verify_oidc(std::string_view token, const std::string& alg, const std::string& kid,
                             int64_t now_epoch_s);
  bool find_key(const std::string& kid, const std::string& alg, Jwk& out) const;

  TokenPolicy policy_;
  Fetch fetch_;
  Clock clock_;
  mutable std::mutex mu_;           // keys_, last_fetch_
  std::mutex fetch_mu_;             // one fetch at a time
  std::vector<Jwk> keys_;
  int64_t last_fetch_ = 0;          // seconds, 0 = never
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread refresher_;
};

// Maps verified claims onto a Reader: the default profile reads sub, role, org, rbac_role and
// purpose_of_use (each renamable through oidc.claim_names); the "cis2" profile reads
// nhsid_useruid, and from the nhsid_nrbac_roles entry whose person_roleid is selected_roleid the
// role_code (rbac_role, mapped to our role through oidc.role_map) and org_code.
// `claims_json` is the decoded payload. Error code "token-claims".
Result<Reader> reader_from_claims(std::string_view claims_json, const OidcConfig& oidc);

}  // namespace cc::governance
