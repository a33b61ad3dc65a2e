// TokenVerifier without a network: JWKS parsing, the refetch rate limit on unknown key ids, claim
// mapping (default names, renamed, CIS2), and which JWKS URLs the engine will fetch at all.
#include <gtest/gtest.h>

#include "engine/core/outbound_http.h"
#include "engine/governance/base64url.h"
#include "engine/governance/jwks.h"
#include "engine/governance/token_verifier.h"

namespace cc::governance {
namespace {

OidcConfig oidc() {
  OidcConfig o;
  o.issuer = "https://idp.example/";
  o.audience = "carerecord";
  o.jwks_url = "https://idp.example/jwks";
  o.jwks_min_refetch_seconds = 30;
  return o;
}

std::string rs256_token(const std::string& kid) {
  return base64url_encode(R"({"alg":"RS256","kid":")" + kid + R"("})") + "." + base64url_encode(R"({"sub":"x"})") +
         "." + base64url_encode("not a signature");
}

TEST(TokenVerifier, UnknownKeyIdRefetchesTheJwksAtMostOncePerInterval) {
  int fetches = 0;
  int64_t clock = 1000;
  TokenPolicy policy;
  policy.oidc = oidc();
  TokenVerifier v(
      policy,
      [&](const std::string& url) -> Result<std::string> {
        ++fetches;
        EXPECT_EQ(url, "https://idp.example/jwks");
        return std::string(R"({"keys":[]})");
      },
      [&] { return clock; });
  EXPECT_EQ(v.verify(rs256_token("a"), clock).error().code, "token-keys-unavailable");
  EXPECT_EQ(v.verify(rs256_token("b"), clock).error().code, "token-keys-unavailable");
  EXPECT_EQ(fetches, 1) << "made-up key ids cannot make the engine hammer the provider";
  clock += 31;
  (void)v.verify(rs256_token("c"), clock);
  EXPECT_EQ(fetches, 2);
}

TEST(TokenVerifier, AlgNoneAndHs256AreRefusedOutsideDevelopmentMode) {
  TokenPolicy policy;
  policy.oidc = oidc();
  TokenVerifier v(policy, nullptr);
  std::string none = base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(R"({"sub":"x"})") + ".";
  EXPECT_EQ(v.verify(none, 0).error().code, "token-algorithm");
  std::string key(32, 'k');
  std::string dev = sign_dev_token(Reader{"u", "ae-clinician", "RBT", "", ""}, key, 1000);
  EXPECT_EQ(v.verify(dev, 1000).error().code, "token-algorithm");
  policy.development = true;
  policy.dev_key = key;
  TokenVerifier dev_mode(policy, nullptr);
  EXPECT_TRUE(dev_mode.verify(dev, 1000).ok());
}

TEST(Jwks, KeepsOnlySignatureKeysItCanUse) {
  auto keys = parse_jwks(R"({"keys":[{"kty":"oct","k":"c2VjcmV0"},
                                    {"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"},
                                    {"kty":"EC","crv":"P-384","x":"AA","y":"AA"}]})");
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  EXPECT_TRUE(keys->empty());
  EXPECT_FALSE(parse_jwks(R"({"keys":[{"kty":"RSA","kid":"short","n":"AQAB","e":"AQAB"}]})").ok())
      << "an RSA key under 2048 bits is unusable";
  EXPECT_FALSE(parse_jwks("[]").ok());
}

TEST(ClaimMapping, DefaultNamesRenamedNamesAndCis2) {
  OidcConfig o = oidc();
  auto r = reader_from_claims(R"({"sub":"u1","role":"ae-clinician","org":"RBT","rbac_role":"R8000"})", o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->user, "u1");
  EXPECT_EQ(r->rbac_role, "R8000");
  o.claim_names = {{"sub", "preferred_username"}, {"org", "ods"}};
  r = reader_from_claims(R"({"preferred_username":"u2","role":"ae-clinician","ods":"RJR"})", o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->user, "u2");
  EXPECT_EQ(r->org, "RJR");
  o.claim_names.clear();
  o.claims_profile = "cis2";
  o.role_map = {{"R8000", "ae-clinician"}};
  r = reader_from_claims(R"({"nhsid_useruid":"5550","selected_roleid":"2","nhsid_nrbac_roles":[
      {"person_roleid":"1","org_code":"AAA","role_code":"S1:G1:R9999"},
      {"person_roleid":"2","org_code":"RBT","role_code":"S8000:G8000:R8000"}]})", o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->user, "5550");
  EXPECT_EQ(r->org, "RBT");
  EXPECT_EQ(r->role, "ae-clinician");
  EXPECT_EQ(r->rbac_role, "S8000:G8000:R8000");
  auto unmapped = reader_from_claims(R"({"nhsid_useruid":"5550","selected_roleid":"1","nhsid_nrbac_roles":[
      {"person_roleid":"1","org_code":"AAA","role_code":"S1:G1:R9999"}]})", o);
  EXPECT_EQ(unmapped.error().code, "token-claims");
}

TEST(OutboundUrl, PlainHttpOnlyToLoopback) {
  EXPECT_TRUE(check_outbound_url("https://idp.example/jwks").ok());
  EXPECT_TRUE(check_outbound_url("http://127.0.0.1:8080/jwks").ok());
  EXPECT_TRUE(check_outbound_url("http://localhost/jwks").ok());
  EXPECT_TRUE(check_outbound_url("http://[::1]:99/jwks").ok());
  EXPECT_FALSE(check_outbound_url("http://idp.example/jwks").ok());
  EXPECT_FALSE(check_outbound_url("http://127.0.0.1.evil.example/jwks").ok());
  EXPECT_FALSE(check_outbound_url("http://user@evil.example/jwks").ok());
  EXPECT_FALSE(check_outbound_url("http://127.0.0.1@evil.example/jwks").ok());
  EXPECT_FALSE(check_outbound_url("ftp://127.0.0.1/jwks").ok());
  EXPECT_FALSE(check_outbound_url("file:///etc/passwd").ok());
}

}  // namespace
}  // namespace cc::governance
