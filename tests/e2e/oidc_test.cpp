// End to end with an identity provider: the real engine (not in development mode) verifies
// OpenID Connect access tokens against a JWKS served by the test on 127.0.0.1. Valid RS256 and
// ES256 tokens pass; every kind of bad token gets 401; key rotation is picked up; CIS2 claims are
// mapped by configuration; development tokens only in development mode.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include "tests/e2e/harness.h"
#include "tests/e2e/oidc_support.h"

namespace cc::test {
namespace {

const std::string kIssuer = "https://idp.test.example/";
const std::string kAudience = "carerecord-api";

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string claims(const std::string& iss = kIssuer, const std::string& aud = "\"" + kAudience + "\"",
                   int64_t exp_offset = 600, int64_t nbf_offset = -10, const std::string& extra = "") {
  int64_t now = now_s();
  return R"({"iss":")" + iss + R"(","aud":)" + aud + R"(,"sub":"dr.oidc","role":"integration-admin","org":"RBT",)" +
         R"("rbac_role":"R8000","purpose_of_use":"DIRECT_CARE","iat":)" + std::to_string(now) + R"(,"nbf":)" +
         std::to_string(now + nbf_offset) + R"(,"exp":)" + std::to_string(now + exp_offset) + extra + "}";
}

void write_file(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs(text.c_str(), f);
  std::fclose(f);
}

class OidcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    jwks.set_jwks(jwks_of({&rsa, &ec}));
  }
  void start(const std::string& oidc_extra = "") {
    config = dir.path + "/config.json";
    write_file(config, R"({"oidc": {"jwks_min_refetch_seconds": 0)" + oidc_extra + R"(},
                           "feeds": [{"name": "rbt-pas", "sending_facilities": ["RBT"]}]})");
    engine = std::make_unique<EngineProcess>(
        dir.path + "/data",
        std::vector<std::string>{"--config", config, "--oidc-issuer", kIssuer, "--oidc-audience", kAudience,
                                 "--jwks-url", jwks.url()},
        /*dev=*/false);
  }
  HttpResult get(const std::string& token, const std::string& target = "/admin/worklist") {
    return http_get(engine->http_port(), target, token);
  }
  void expect_401(const std::string& token, const std::string& why_fragment) {
    auto r = get(token);
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_NE(r.body.find("OperationOutcome"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find(why_fragment), std::string::npos) << r.body;
    EXPECT_EQ(engine->stderr_text().find(token), std::string::npos) << "a token must never be logged";
  }
  TempDir dir;
  JwksServer jwks;
  TestSigningKey rsa = TestSigningKey::rsa("rsa-1");
  TestSigningKey ec = TestSigningKey::ec("ec-1");
  std::string config;
  std::unique_ptr<EngineProcess> engine;
};

TEST_F(OidcTest, ValidRs256AndEs256TokensAreAccepted) {
  start();
  auto r1 = get(rsa.sign(claims()));
  EXPECT_EQ(r1.status, 200) << r1.body;
  auto r2 = get(ec.sign(claims()));
  EXPECT_EQ(r2.status, 200) << r2.body;
  auto r3 = get(rsa.sign(claims(kIssuer, R"(["other-api",")" + kAudience + R"("])")));
  EXPECT_EQ(r3.status, 200) << "aud may be a list holding ours: " << r3.body;
}

TEST_F(OidcTest, WrongIssuerGets401) {
  start();
  expect_401(rsa.sign(claims("https://evil.example/")), "issued by");
}

TEST_F(OidcTest, WrongAudienceGets401) {
  start();
  expect_401(rsa.sign(claims(kIssuer, "\"another-service\"")), "another service");
}

TEST_F(OidcTest, ExpiredTokenGets401) {
  start();
  expect_401(ec.sign(claims(kIssuer, "\"" + kAudience + "\"", -120)), "expired");
}

TEST_F(OidcTest, NotYetValidTokenGets401) {
  start();
  expect_401(ec.sign(claims(kIssuer, "\"" + kAudience + "\"", 3600, 600)), "not valid yet");
}

// Time claims far outside int64 (1e300) are compared as numbers, not converted: a start time of
// 1e300 is not yet, an expiry of -1e300 is past (the conversion was undefined, and a start of 1e300
// came out as the beginning of time: the token was taken).
TEST_F(OidcTest, TimeClaimsBeyondAnyClockAreRefused) {
  start();
  auto with = [](const std::string& claim, const std::string& value) {
    std::string c = claims();
    const size_t at = c.find("\"" + claim + "\":") + claim.size() + 3;
    c.replace(at, c.find_first_of(",}", at) - at, value);
    return c;
  };
  expect_401(ec.sign(with("nbf", "1e300")), "not valid yet");
  expect_401(ec.sign(with("exp", "-1e300")), "expired");
}

TEST_F(OidcTest, SmallClockSkewIsAllowed) {
  start();
  auto r = get(rsa.sign(claims(kIssuer, "\"" + kAudience + "\"", -20, 20)));  // within the 60 s allowance
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(OidcTest, UnknownKeyIdGets401) {
  start();
  auto stranger = TestSigningKey::rsa("rsa-unknown");
  expect_401(stranger.sign(claims()), "does not publish");
}

TEST_F(OidcTest, AlgNoneGets401) {
  start();
  std::string unsigned_token = b64url(R"({"alg":"none","typ":"JWT"})") + "." + b64url(claims()) + ".";
  expect_401(unsigned_token, "'none'");
}

TEST_F(OidcTest, Hs256OutsideDevelopmentModeGets401) {
  start();
  std::string dev_token = run_carerecord({"token", "--role", "integration-admin", "--user", "it.admin", "--org",
                                          "RBT", "--data-dir", dir.path + "/tokens"});
  dev_token.erase(dev_token.find_last_not_of("\r\n") + 1);
  expect_401(dev_token, "development mode");
  // An HS256 token whose HMAC key is the RSA public key (the classic algorithm confusion) likewise.
  std::string confused = b64url(R"({"alg":"HS256","typ":"JWT","kid":"rsa-1"})") + "." + b64url(claims()) + ".AAAA";
  expect_401(confused, "development mode");
}

TEST_F(OidcTest, TamperedPayloadGets401) {
  start();
  std::string token = rsa.sign(claims());
  auto first = token.find('.'), second = token.rfind('.');
  std::string forged = token.substr(0, first + 1) +
                       b64url(claims(kIssuer, "\"" + kAudience + "\"", 600, -10, R"(,"extra":"x")")) +
                       token.substr(second);
  expect_401(forged, "signature");
  // An ES256 signature moved onto an RS256 header is no better.
  std::string ec_token = ec.sign(claims());
  std::string swapped = token.substr(0, second) + ec_token.substr(ec_token.rfind('.'));
  expect_401(swapped, "signature");
}

TEST_F(OidcTest, KeyRotationIsPickedUpByRefetchingOnANewKeyId) {
  start();
  EXPECT_EQ(get(rsa.sign(claims())).status, 200);
  int fetches_before = jwks.fetches();
  auto next = TestSigningKey::rsa("rsa-2");
  jwks.set_jwks(jwks_of({&next, &ec}));  // the provider rotates: rsa-1 retired, rsa-2 new
  auto r = get(next.sign(claims()));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_GT(jwks.fetches(), fetches_before) << "the new kid made the engine refetch the JWKS";
  expect_401(rsa.sign(claims()), "does not publish");  // the retired key is gone
}

TEST_F(OidcTest, KeysAreRefetchedOnASchedule) {
  start(R"(, "jwks_refresh_seconds": 1)");
  int first = jwks.fetches();
  EXPECT_GE(first, 1) << "the keys are fetched at start-up";
  auto next = TestSigningKey::ec("ec-2");
  jwks.set_jwks(jwks_of({&rsa, &next}));
  for (int i = 0; i < 400 && jwks.fetches() < first + 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  EXPECT_GE(jwks.fetches(), first + 2) << "no token asked for it: the schedule did";
  auto r = get(next.sign(claims()));
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(OidcTest, Cis2ClaimsAreMappedByConfiguration) {
  start(R"(, "claims_profile": "cis2", "role_map": {"R8001": "integration-admin", "R8000": "ae-clinician"})");
  int64_t now = now_s();
  auto cis2 = [&](const std::string& selected) {
    return R"({"iss":")" + kIssuer + R"(","aud":")" + kAudience + R"(","sub":"opaque-1","nhsid_useruid":"555021935107",)" +
           R"("selected_roleid":")" + selected + R"(","nhsid_nrbac_roles":[)" +
           R"({"person_roleid":"111","org_code":"RBT","role_code":"S8000:G8000:R8001"},)" +
           R"({"person_roleid":"222","org_code":"RJR","role_code":"S8000:G8000:R8000"}],)" +
           R"("iat":)" + std::to_string(now) + R"(,"exp":)" + std::to_string(now + 600) + "}";
  };
  auto admin = get(rsa.sign(cis2("111")));
  EXPECT_EQ(admin.status, 200) << admin.body;
  auto clinician = get(rsa.sign(cis2("222")));
  EXPECT_EQ(clinician.status, 403) << "the selected role, not the first, decides: " << clinician.body;
  auto audit = run_carerecord({"audit", "list", "--data-dir", dir.path + "/data"});
  EXPECT_NE(audit.find("user=555021935107 role=integration-admin org=RBT"), std::string::npos) << audit;
  expect_401(rsa.sign(cis2("999")), "selected role");
}

TEST_F(OidcTest, PlainHttpJwksUrlToAnotherHostIsRefusedAtStartUp) {
  write_file(dir.path + "/c.json", R"({"feeds": [{"name": "f", "sending_facilities": ["*"]}]})");
  auto r = run_serve_expecting_exit({"--config", dir.path + "/c.json", "--data-dir", dir.path + "/data",
                                     "--oidc-issuer", kIssuer, "--oidc-audience", kAudience, "--jwks-url",
                                     "http://idp.example.org/jwks"});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("not loopback"), std::string::npos) << r.err;
}

TEST_F(OidcTest, WithoutAnIdentityProviderOrDevelopmentModeTheEngineRefusesToStart) {
  write_file(dir.path + "/c.json", R"({"feeds": [{"name": "f", "sending_facilities": ["*"]}]})");
  auto r = run_serve_expecting_exit({"--config", dir.path + "/c.json", "--data-dir", dir.path + "/data"});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("--oidc-issuer"), std::string::npos) << r.err;
}

TEST(DevelopmentMode, IsAnnouncedLoudlyAndAcceptsDevelopmentTokens) {
  TempDir dir;
  EngineProcess engine(dir.path + "/data");
  EXPECT_NE(engine.stderr_text().find("*** DEVELOPMENT MODE"), std::string::npos) << engine.stderr_text();
  std::string token = run_carerecord({"token", "--role", "integration-admin", "--user", "it.admin", "--org", "RBT",
                                      "--data-dir", dir.path + "/data"});
  token.erase(token.find_last_not_of("\r\n") + 1);
  EXPECT_EQ(http_get(engine.http_port(), "/admin/worklist", token).status, 200);
}

}  // namespace
}  // namespace cc::test
