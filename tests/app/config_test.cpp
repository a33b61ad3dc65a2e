// Config::parse: feeds' drop directories (extract feeds only), validated against the compiled-in
// schema with the problem's path.
#include "engine/core/config.h"

#include <gtest/gtest.h>

namespace cc {
namespace {

TEST(Config, AnExtractFeedMayHaveADropDirectory) {
  auto c = Config::parse(R"({"feeds": [{"name": "sc", "type": "extract", "owner_ods": "DEVSC",
      "mapping": "social-care-episodes", "drop_directory": "/srv/drop/sc", "drop_poll_seconds": 5}]})",
                         "test.json");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->feeds[0].drop_directory, "/srv/drop/sc");
  EXPECT_EQ(c->feeds[0].drop_poll_seconds, 5);
  auto plain = Config::parse(R"({"feeds": [{"name": "sc", "type": "extract", "owner_ods": "DEVSC",
      "mapping": "social-care-episodes"}]})", "test.json");
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->feeds[0].drop_directory.empty());
  EXPECT_EQ(plain->feeds[0].drop_poll_seconds, 2);
}

TEST(Config, OnlyAnExtractFeedMayHaveADropDirectory) {
  auto c = Config::parse(R"({"feeds": [{"name": "pas", "sending_facilities": ["RBT"], "drop_directory": "/srv/x"}]})",
                         "test.json");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("[feeds][0]"), std::string::npos) << c.error().message;
  auto zero = Config::parse(R"({"feeds": [{"name": "sc", "type": "extract", "owner_ods": "DEVSC",
      "mapping": "m", "drop_directory": "/d", "drop_poll_seconds": 0}]})", "test.json");
  EXPECT_FALSE(zero);
}

TEST(Config, TheSourceRegistryIsCheckedAtStartUp) {
  // An HTTP feed names its owner organisation; an MLLP feed its sending facilities.
  EXPECT_FALSE(Config::parse(R"({"feeds": [{"name": "sc", "type": "extract", "mapping": "m"}]})", "t.json"));
  EXPECT_FALSE(Config::parse(R"({"feeds": [{"name": "gp", "type": "gp-fhir"}]})", "t.json"));
  EXPECT_FALSE(Config::parse(R"({"feeds": [{"name": "pas"}]})", "t.json"));
  EXPECT_FALSE(Config::parse(R"({"feeds": [{"name": "sc", "type": "extract", "owner_ods": "not an ods code",
      "mapping": "m"}]})", "t.json"));
  // Names are unique: they are part of identifier systems and provenance.
  auto twice = Config::parse(R"({"feeds": [{"name": "pas", "sending_facilities": ["RBT"]},
      {"name": "pas", "sending_facilities": ["RJR"]}]})", "t.json");
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message.find("two feeds are named \"pas\""), std::string::npos);
  // Local identifier systems are URIs declared per assigning authority.
  auto c = Config::parse(R"({"feeds": [{"name": "pas", "sending_facilities": ["RBT"],
      "authorities": {"RBT": "https://fhir.example-trust.nhs.uk/Id/hospital-number"}}],
      "organisations": {"RBT20": "RBT"}, "policy_file": "/etc/carerecord/policy.json"})", "t.json");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->feeds[0].authorities.at("RBT"), "https://fhir.example-trust.nhs.uk/Id/hospital-number");
  EXPECT_EQ(c->organisations.at("RBT20"), "RBT");
  EXPECT_EQ(c->policy_file, "/etc/carerecord/policy.json");
  EXPECT_FALSE(Config::parse(R"({"feeds": [{"name": "pas", "sending_facilities": ["RBT"]}],
      "organisations": {"rbt20": "RBT"}})", "t.json")) << "ODS codes are upper case";
}

// A file may leave what goes with its TLS or OIDC settings to the command line (the README's
// production shape): the file reads, and what goes together is checked once the flags are applied.
TEST(Config, AFileMayLeaveTheCertificateAndTheJwksUrlToFlags) {
  auto c = Config::parse(R"({"feeds": [{"name": "pas", "sending_facilities": ["RBT"],
      "client_certificate_subject": "CN=pas.example.nhs.uk,O=RBT"}],
      "tls": {"client_ca_file": "/etc/carerecord/feeds-ca.pem"},
      "oidc": {"issuer": "https://idp.example.nhs.uk", "audience": "carerecord"}})", "t.json");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_FALSE(c->check()) << "alone, the file has a client CA without TLS and OIDC without keys";
  c->tls.cert_file = "/etc/carerecord/server.pem";   // --tls-cert
  c->tls.key_file = "/etc/carerecord/server.key";    // --tls-key
  c->oidc.jwks_url = "https://idp.example.nhs.uk/jwks";  // --jwks-url
  auto st = c->check();
  EXPECT_TRUE(st) << st.error().message;
}

}  // namespace
}  // namespace cc
