// End to end over TLS: the real engine with a test CA made at run time. HTTPS and MLLP over TLS,
// plaintext refused, mutual TLS binding feeds to their organisations' certificates, expired and
// foreign certificates refused, modern protocols only, reload on SIGHUP, key permissions.
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "engine/core/outbound_http.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/test_pki.h"
#include "tests/e2e/tls_client.h"

namespace cc::test {
namespace {

std::string adt(const std::string& facility, const std::string& control_id) {
  return "MSH|^~\\&|PAS|" + facility + "|CARERECORD|CHESHIRE|20260315101500||ADT^A28^ADT_A05|" + control_id +
         "|P|2.5\rEVN|A28|20260315101500\rPID|1||" + facility + "7000001^^^" + facility +
         "^MR~9990000018^^^NHS^NH||DOE^JOHN||19600101|M\r";
}

void write_file(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs(text.c_str(), f);
  std::fclose(f);
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir.path + "/pki");
    std::filesystem::create_directories(dir.path + "/other");
    pki = std::make_unique<TestPki>(dir.path + "/pki");
    pki->issue("server", "carerecord-a.test", "Connecting Care", true);
    pki->issue("rbt", "pas.rbt.test", "RBT", false);
    pki->issue("rjr", "pas.rjr.test", "RJR", false);
    pki->issue("nofeed", "pas.xyz.test", "XYZ", false);
    pki->issue("expired", "pas.rbt.test", "RBT", false, -2 * 86400, -86400);
    other = std::make_unique<TestPki>(dir.path + "/other", "otherca");
    other->issue("rogue", "pas.rbt.test", "RBT", false);
    config = dir.path + "/config.json";
    write_file(config, R"({"tls": {"cert_file": ")" + pki->cert("server") + R"(", "key_file": ")" +
                           pki->key("server") + R"(", "client_ca_file": ")" + pki->ca_file() + R"(", "reload_check_seconds": 1},
      "limits": {"handshake_timeout_seconds": 1},
      "feeds": [
        {"name": "rbt-pas", "sending_facilities": ["RBT"], "client_certificate_subject": "CN=pas.rbt.test,O=RBT"},
        {"name": "rjr-pas", "sending_facilities": ["RJR"], "client_certificate_subject": "CN=pas.rjr.test,O=RJR"}]})");
  }
  void start() {
    engine = std::make_unique<EngineProcess>(dir.path + "/data", std::vector<std::string>{"--config", config});
    token = run_carerecord({"token", "--role", "ae-clinician", "--user", "dr.test", "--org", "RBT",
                            "--data-dir", dir.path + "/data"});
    token.erase(token.find_last_not_of("\r\n") + 1);
  }
  TlsClientOptions client(const std::string& name = "", TestPki* issuer = nullptr) {
    TlsClientOptions o;
    o.ca_file = pki->ca_file();
    if (!name.empty()) {
      o.cert_file = (issuer ? issuer : pki.get())->cert(name);
      o.key_file = (issuer ? issuer : pki.get())->key(name);
    }
    return o;
  }
  std::string inbox_count() {
    TlsClient c(engine->http_port(), client());
    auto m = c.http("GET", "/metrics", "");
    auto p = m.body.find("\ncarerecord_inbox_messages ");
    return p == std::string::npos ? "?" : m.body.substr(p + 27, m.body.find('\n', p + 1) - p - 27);
  }
  TempDir dir;
  std::unique_ptr<TestPki> pki, other;
  std::string config;
  std::unique_ptr<EngineProcess> engine;
  std::string token;
};

TEST_F(TlsTest, HttpsAndMllpOverTlsWork) {
  start();
  EXPECT_TRUE(engine->tls()) << "the listening lines say https / mllps";
  TlsClient web(engine->http_port(), client());
  ASSERT_TRUE(web.connected()) << web.error();
  EXPECT_EQ(web.protocol(), "TLSv1.3");
  EXPECT_EQ(web.server_subject(), "CN=carerecord-a.test,O=Connecting Care");
  auto meta = web.http("GET", "/fhir/metadata", "");
  EXPECT_EQ(meta.status, 200) << meta.body;
  EXPECT_NE(meta.headers.find("Strict-Transport-Security"), std::string::npos) << meta.headers;

  TlsClient feed(engine->mllp_port(), client("rbt"));
  ASSERT_TRUE(feed.connected()) << feed.error();
  std::string ack = feed.exchange(adt("RBT", "TLS1"));
  EXPECT_EQ(hl7_field(ack, "MSA", 1), "AA") << ack;
  EXPECT_EQ(hl7_field(ack, "MSA", 2), "TLS1") << ack;
  // Keep-alive over TLS: a second request and a read with a token on the same connection.
  auto search = web.http("GET", "/fhir/Patient?identifier=RBT7000001", token);
  EXPECT_EQ(search.status, 200) << search.body;
  EXPECT_EQ(inbox_count(), "1");
  EXPECT_EQ(engine->terminate(), 0) << "a clean shutdown with TLS connections open";
}

TEST_F(TlsTest, OutboundFetchesVerifyTheServerCertificate) {
  start();
  std::string url = "https://127.0.0.1:" + std::to_string(engine->http_port()) + "/healthz";
  auto untrusted = fetch_url(url);  // the test CA is not among the system's
  ASSERT_FALSE(untrusted.ok());
  EXPECT_EQ(untrusted.error().code, "fetch-failed") << untrusted.error().message;
  FetchOptions trusting;
  trusting.ca_file = pki->ca_file();
  auto trusted = fetch_url(url, trusting);
  ASSERT_TRUE(trusted.ok()) << trusted.error().message;
  EXPECT_NE(trusted->find("ok"), std::string::npos);
}

TEST_F(TlsTest, Tls12WithAnAeadSuiteWorksButOldProtocolsAndWeakCiphersAreRefused) {
  start();
  auto o = client();
  o.max_version = TLS1_2_VERSION;
  TlsClient v12(engine->http_port(), o);
  ASSERT_TRUE(v12.connected()) << v12.error();
  EXPECT_EQ(v12.protocol(), "TLSv1.2");
  EXPECT_EQ(v12.http("GET", "/healthz", "").status, 200);

  auto old = client();
  old.min_version = TLS1_VERSION;
  old.max_version = TLS1_1_VERSION;
  TlsClient v11(engine->http_port(), old);
  EXPECT_FALSE(v11.connected()) << "TLS 1.1 must be refused";

  auto cbc = client();
  cbc.max_version = TLS1_2_VERSION;
  cbc.cipher_list = "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:AES128-SHA:AES256-SHA";
  TlsClient weak(engine->http_port(), cbc);
  EXPECT_FALSE(weak.connected()) << "CBC / non-ECDHE suites must be refused";
}

TEST_F(TlsTest, PlaintextToTlsListenersIsRefused) {
  start();
  MllpClient plain(engine->mllp_port());
  plain.send(adt("RBT", "PLAIN1"));
  std::string reply;
  try {
    reply = plain.receive();
  } catch (const std::exception&) {
  }
  EXPECT_EQ(reply, "") << "no ACK over plaintext";
  EXPECT_ANY_THROW(http_get(engine->http_port(), "/fhir/metadata", ""));
  EXPECT_EQ(inbox_count(), "0");
}

TEST_F(TlsTest, CertificateOfAnOrganisationWithNoFeedIsRefusedBeforeAnyMessageIsRead) {
  start();
  TlsClient c(engine->mllp_port(), client("nofeed"));
  c.send_mllp(adt("RBT", "XYZ1"));
  EXPECT_EQ(c.receive_mllp(), "");
  EXPECT_EQ(inbox_count(), "0");
  EXPECT_NE(engine->stderr_text().find("CN=pas.xyz.test,O=XYZ"), std::string::npos) << "the refused subject is logged";
}

TEST_F(TlsTest, MessageForAFeedBoundToAnotherOrganisationsCertificateIsNeverStored) {
  start();
  TlsClient rjr(engine->mllp_port(), client("rjr"));
  ASSERT_TRUE(rjr.connected()) << rjr.error();
  std::string ack = rjr.exchange(adt("RBT", "SPOOF1"));  // RJR's certificate, RBT's facility
  EXPECT_EQ(hl7_field(ack, "MSA", 1), "AR") << ack;
  EXPECT_EQ(inbox_count(), "0");
  // Its own facility is fine on the same connection.
  EXPECT_EQ(hl7_field(rjr.exchange(adt("RJR", "OWN1")), "MSA", 1), "AA");
  EXPECT_EQ(inbox_count(), "1");
}

TEST_F(TlsTest, ExpiredClientCertificateIsRefused) {
  start();
  TlsClient c(engine->mllp_port(), client("expired"));
  c.send_mllp(adt("RBT", "OLD1"));
  EXPECT_EQ(c.receive_mllp(), "");
  EXPECT_EQ(inbox_count(), "0");
}

TEST_F(TlsTest, ClientCertificateFromAnotherCaOrNoneIsRefused) {
  start();
  {
    TlsClient rogue(engine->mllp_port(), client("rogue", other.get()));
    rogue.send_mllp(adt("RBT", "ROGUE1"));
    EXPECT_EQ(rogue.receive_mllp(), "");
  }
  {
    TlsClient none(engine->mllp_port(), client());
    none.send_mllp(adt("RBT", "NONE1"));
    EXPECT_EQ(none.receive_mllp(), "");
  }
  EXPECT_EQ(inbox_count(), "0");
  TlsClient good(engine->mllp_port(), client("rbt"));
  EXPECT_EQ(hl7_field(good.exchange(adt("RBT", "GOOD1")), "MSA", 1), "AA") << "the refusals harmed nobody else";
}

TEST_F(TlsTest, ClientThatNeverCompletesTheHandshakeIsClosedAndOthersAreServed) {
  start();
  MllpClient silent_feed(engine->mllp_port());  // TCP only: no ClientHello ever comes
  MllpClient silent_web(engine->http_port());
  TlsClient good(engine->mllp_port(), client("rbt"));
  EXPECT_EQ(hl7_field(good.exchange(adt("RBT", "MEANWHILE1")), "MSA", 1), "AA");
  EXPECT_TRUE(silent_feed.closed_by_peer(10000));
  EXPECT_TRUE(silent_web.closed_by_peer(10000));
}

TEST_F(TlsTest, CertificateIsReloadedOnSighupWithoutARestart) {
  start();
  {
    TlsClient before(engine->http_port(), client());
    ASSERT_EQ(before.server_subject(), "CN=carerecord-a.test,O=Connecting Care");
  }
  pki->issue("server", "carerecord-b.test", "Connecting Care", true);  // new files in place
  ::kill(engine->pid(), SIGHUP);
  std::string subject;
  for (int i = 0; i < 200 && subject != "CN=carerecord-b.test,O=Connecting Care"; ++i) {
    TlsClient after(engine->http_port(), client());
    subject = after.server_subject();
    if (subject != "CN=carerecord-b.test,O=Connecting Care") std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(subject, "CN=carerecord-b.test,O=Connecting Care");
  TlsClient feed(engine->mllp_port(), client("rbt"));
  EXPECT_EQ(hl7_field(feed.exchange(adt("RBT", "AFTER1")), "MSA", 1), "AA");
}

TEST_F(TlsTest, CertificateIsReloadedWhenItsFilesChange) {
  start();
  {
    TlsClient before(engine->http_port(), client());
    ASSERT_EQ(before.server_subject(), "CN=carerecord-a.test,O=Connecting Care");
  }
  pki->issue("server", "carerecord-c.test", "Connecting Care", true);  // no signal: the files' mtimes change
  std::string subject;
  for (int i = 0; i < 400 && subject != "CN=carerecord-c.test,O=Connecting Care"; ++i) {
    TlsClient after(engine->http_port(), client());
    subject = after.server_subject();
    if (subject != "CN=carerecord-c.test,O=Connecting Care") std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(subject, "CN=carerecord-c.test,O=Connecting Care");
}

TEST_F(TlsTest, WorldReadablePrivateKeyIsRefusedAtStartUp) {
  chmod(pki->key("server").c_str(), 0644);
  auto r = run_serve_expecting_exit({"--dev", "--config", config, "--data-dir", dir.path + "/data", "--mllp-port",
                                     "0", "--http-port", "0"});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("chmod 600"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("PRIVATE KEY"), std::string::npos) << "no key material in the log";
}

TEST_F(TlsTest, FeedBoundToASubjectWithoutMutualTlsIsAConfigurationError) {
  write_file(config, R"({"feeds": [{"name": "rbt-pas", "sending_facilities": ["RBT"],
                                    "client_certificate_subject": "CN=pas.rbt.test,O=RBT"}]})");
  auto r = run_serve_expecting_exit({"--dev", "--config", config, "--data-dir", dir.path + "/data"});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("mutual TLS"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace cc::test
