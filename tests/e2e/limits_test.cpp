// Limits and defences end to end, with limits made small in the configuration: oversized headers
// and bodies, slow senders on HTTP and MLLP, too many connections from one address, a user's
// request rate, and CSRF refusals. Each is answered or closed while another client is served.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include "tests/e2e/harness.h"

namespace cc::test {
namespace {

// A raw loopback TCP connection for sending exactly the bytes a test wants.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawConnection() { close(fd_); }
  bool send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }
  // Appends what arrives before `deadline` to `out` (up to `most` bytes); false once the peer has
  // closed or the deadline passed (`closed` says whether the peer closed).
  bool recv_some(std::string& out, std::chrono::steady_clock::time_point deadline, size_t most = 8192,
                 bool* closed = nullptr) {
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    pollfd p{fd_, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, left) <= 0) {
      if (closed) *closed = false;
      return false;
    }
    char buf[8192];
    ssize_t n = recv(fd_, buf, std::min(sizeof buf, most), 0);
    if (n <= 0) {
      if (closed) *closed = true;
      return false;
    }
    out.append(buf, static_cast<size_t>(n));
    return true;
  }
  static std::chrono::steady_clock::time_point after(int timeout_ms) {
    return std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  }
  // Reads until the peer closes or `timeout_ms` passes; `closed` says which.
  std::string read_all(int timeout_ms, bool* closed = nullptr) {
    std::string out;
    const auto deadline = after(timeout_ms);
    while (recv_some(out, deadline, 8192, closed)) {
    }
    return out;
  }
  // Reads until `marker` has arrived, the peer closes, or `timeout_ms` passes.
  std::string read_until(const std::string& marker, int timeout_ms) {
    std::string out;
    const auto deadline = after(timeout_ms);
    while (out.find(marker) == std::string::npos && recv_some(out, deadline)) {
    }
    return out;
  }
  // Reads one whole HTTP response (its headers, then Content-Length bytes of body), or what came
  // before `timeout_ms` passed.
  std::string read_response(int timeout_ms) {
    std::string out = read_until("\r\n\r\n", timeout_ms);
    const size_t head = out.find("\r\n\r\n");
    if (head == std::string::npos) return out;
    size_t length = 0;
    const size_t at = out.find("Content-Length: ");
    if (at != std::string::npos && at < head) length = std::stoul(out.substr(at + 16));
    const size_t want = head + 4 + length;
    const auto deadline = after(timeout_ms);
    while (out.size() < want && recv_some(out, deadline, want - out.size())) {
    }
    return out;
  }
  // True when the peer has closed (or reset) within timeout_ms.
  bool closed_by_peer(int timeout_ms) {
    bool closed = false;
    read_all(timeout_ms, &closed);
    return closed;
  }
  bool connected() const { return connected_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

std::string adt(const std::string& control_id) {
  return "MSH|^~\\&|PAS|RBT|CARERECORD|CHESHIRE|20260315101500||ADT^A28^ADT_A05|" + control_id +
         "|P|2.5\rEVN|A28|20260315101500\rPID|1||RBT7000001^^^RBT^MR~9990000018^^^NHS^NH||DOE^JOHN||19600101|M\r";
}

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string config = dir.path + "/config.json";
    FILE* f = std::fopen(config.c_str(), "w");
    std::fputs(R"({"development": true,
      "limits": {"http_max_header_bytes": 2048, "http_max_body_bytes": 2048, "http_read_timeout_seconds": 1,
                 "mllp_frame_timeout_seconds": 1, "max_connections_per_peer": 8,
                 "requests_per_minute_per_user": 6, "request_burst_per_user": 3},
      "feeds": [{"name": "rbt-pas", "sending_facilities": ["RBT"]}]})",
               f);
    std::fclose(f);
    engine = std::make_unique<EngineProcess>(dir.path + "/data", std::vector<std::string>{"--config", config});
  }
  std::string token_for(const std::string& user) {
    std::string t = run_carerecord({"token", "--role", "integration-admin", "--user", user, "--org", "RBT",
                                    "--data-dir", dir.path + "/data"});
    t.erase(t.find_last_not_of("\r\n") + 1);
    return t;
  }
  TempDir dir;
  std::unique_ptr<EngineProcess> engine;
};

TEST_F(LimitsTest, OversizedHeaderGets431AndOtherClientsAreServed) {
  RawConnection c(engine->http_port());
  c.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + std::string(4096, 'a') + "\r\n\r\n");
  std::string reply = c.read_all(10000);
  EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 431") << reply.substr(0, 200);
  EXPECT_NE(reply.find("OperationOutcome"), std::string::npos);
  EXPECT_EQ(http_get(engine->http_port(), "/healthz", "").status, 200);
}

TEST_F(LimitsTest, OversizedBodyGets413AndOtherClientsAreServed) {
  RawConnection c(engine->http_port());
  c.send("POST /fhir/Consent HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/fhir+json\r\nContent-Length: "
         "8192\r\n\r\n" + std::string(8192, '{'));
  std::string reply = c.read_all(10000);
  EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 413") << reply.substr(0, 200);
  EXPECT_EQ(http_get(engine->http_port(), "/healthz", "").status, 200);
}

// A client that sends "Expect: 100-continue" (curl does for bodies over 1 MiB) waits for the server
// before sending its body: it is told to go on at once, and then answered as usual; on one
// connection, twice.
TEST_F(LimitsTest, ExpectContinueIsAnsweredBeforeTheBodyIsSent) {
  RawConnection c(engine->http_port());
  const std::string token = token_for("expect.user");
  const std::string body = R"({"resourceType":"Consent"})";
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.send("POST /fhir/Consent HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/fhir+json\r\n"
                       "Authorization: Bearer " + token + "\r\nExpect: 100-continue\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n"));
    // Under curl's own wait of a second and the read timeout (1 s here): an engine that says
    // nothing leaves the client waiting and this fails.
    std::string interim = c.read_until("\r\n\r\n", 800);
    ASSERT_EQ(interim.substr(0, 25), "HTTP/1.1 100 Continue\r\n\r\n") << interim;
    ASSERT_TRUE(c.send(body));
    // The API's own answer, which needed the body: the Consent is incomplete.
    std::string reply = c.read_response(5000);
    EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 422") << reply.substr(0, 200);
    EXPECT_NE(reply.find("OperationOutcome"), std::string::npos);
  }
}

// A request refused on its headers (a cross-site write) is refused before its body is asked for.
TEST_F(LimitsTest, ExpectContinueOnARequestRefusedByItsHeadersGetsTheRefusalWithoutSendingTheBody) {
  RawConnection c(engine->http_port());
  c.send("POST /fhir/Consent HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/fhir+json\r\n"
         "Origin: https://elsewhere.example\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n");
  std::string reply = c.read_all(5000);
  EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 403") << reply.substr(0, 200);
  EXPECT_EQ(reply.find("100 Continue"), std::string::npos);
}

// With the body over the limit the answer is 413 at once, without the body being sent.
TEST_F(LimitsTest, ExpectContinueWithABodyOverTheLimitGets413WithoutSendingIt) {
  RawConnection c(engine->http_port());
  c.send("POST /fhir/Consent HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/fhir+json\r\n"
         "Expect: 100-continue\r\nContent-Length: 8192\r\n\r\n");
  std::string reply = c.read_all(5000);
  EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 413") << reply.substr(0, 200);
  EXPECT_EQ(reply.find("100 Continue"), std::string::npos);
  EXPECT_EQ(http_get(engine->http_port(), "/healthz", "").status, 200);
}

TEST_F(LimitsTest, SlowHttpSenderIsCutOffWhileOthersAreServed) {
  RawConnection slow(engine->http_port());
  ASSERT_TRUE(slow.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  // A byte at a time, never finishing the headers: the request deadline closes the connection
  // however often bytes arrive.
  bool closed = false;
  for (int i = 0; i < 100 && !closed; ++i) {
    if (!slow.send("X")) {
      closed = true;
      break;
    }
    EXPECT_EQ(http_get(engine->http_port(), "/healthz", "").status, 200) << "another client is served meanwhile";
    slow.read_all(200, &closed);
  }
  EXPECT_TRUE(closed) << "the slow sender was never cut off";
}

TEST_F(LimitsTest, SlowMllpSenderIsCutOffWithoutStoringAndOthersAreServed) {
  MllpClient other(engine->mllp_port());
  RawConnection slow(engine->mllp_port());
  std::string frame = "\x0b" + adt("SLOW1") + "\x1c\x0d";
  bool closed = false;
  size_t sent = 0;
  for (int i = 0; i < 100 && !closed && sent + 2 < frame.size(); ++i) {
    if (!slow.send(frame.substr(sent, 1))) {
      closed = true;
      break;
    }
    ++sent;
    EXPECT_EQ(hl7_field(other.exchange(adt("FAST" + std::to_string(i))), "MSA", 1), "AA");
    slow.read_all(200, &closed);
  }
  EXPECT_TRUE(closed) << "the slow sender was never cut off";
  auto metrics = http_get(engine->http_port(), "/metrics", "").body;
  EXPECT_EQ(metrics.find("SLOW1"), std::string::npos);
  EXPECT_NE(engine->stderr_text().find("took more than 1 s to arrive"), std::string::npos);
}

TEST_F(LimitsTest, TooManyConnectionsFromOneAddressAreClosedAndTheRestServed) {
  std::vector<std::unique_ptr<MllpClient>> feeds;
  for (int i = 0; i < 8; ++i) {
    feeds.push_back(std::make_unique<MllpClient>(engine->mllp_port()));
    ASSERT_EQ(hl7_field(feeds.back()->exchange(adt("CONN" + std::to_string(i))), "MSA", 1), "AA");
  }
  MllpClient ninth(engine->mllp_port());
  EXPECT_TRUE(ninth.closed_by_peer(10000)) << "the ninth connection from one address is closed";
  EXPECT_EQ(hl7_field(feeds[0]->exchange(adt("STILL1")), "MSA", 1), "AA") << "the others carry on";

  std::vector<std::unique_ptr<RawConnection>> web;
  for (int i = 0; i < 8; ++i) {
    web.push_back(std::make_unique<RawConnection>(engine->http_port()));
    web.back()->send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    EXPECT_NE(web.back()->read_all(300).find("200 OK"), std::string::npos);
  }
  RawConnection extra(engine->http_port());
  EXPECT_TRUE(extra.closed_by_peer(10000)) << "the ninth HTTP connection from one address is closed";

  // Once one closes, a new connection is accepted again.
  feeds.pop_back();
  std::string ack;
  for (int i = 0; i < 200 && hl7_field(ack, "MSA", 1) != "AA"; ++i) {
    MllpClient again(engine->mllp_port());
    try {
      ack = again.exchange(adt("AGAIN" + std::to_string(i)));
    } catch (const std::exception&) {
    }
    if (hl7_field(ack, "MSA", 1) != "AA") std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(hl7_field(ack, "MSA", 1), "AA");
}

TEST_F(LimitsTest, RequestsOverAUsersRateLimitGet429AndOtherUsersAreServed) {
  std::string busy = token_for("busy.user"), calm = token_for("calm.user");
  int throttled = 0;
  HttpResult last;
  for (int i = 0; i < 20; ++i) {
    auto r = http_get(engine->http_port(), "/admin/worklist", busy);
    if (r.status == 429) {
      ++throttled;
      last = r;
    } else {
      EXPECT_EQ(r.status, 200) << r.body;
    }
  }
  EXPECT_GE(throttled, 10) << "a burst of 3 and 6 a minute cannot serve 20 requests at once";
  EXPECT_NE(last.body.find("OperationOutcome"), std::string::npos) << last.body;
  EXPECT_NE(last.body.find("throttled"), std::string::npos) << last.body;
  EXPECT_NE(last.headers.find("Retry-After"), std::string::npos) << last.headers;
  EXPECT_EQ(http_get(engine->http_port(), "/admin/worklist", calm).status, 200) << "another user is not affected";
}

TEST_F(LimitsTest, CrossOriginOrCookieOnlyStateChangingRequestsAreRefused) {
  std::string token = token_for("csrf.user");
  auto post = [&](const std::string& headers) {
    RawConnection c(engine->http_port());
    c.send("POST /fhir/Consent HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(engine->http_port()) +
           "\r\nContent-Type: application/fhir+json\r\nContent-Length: 2\r\nConnection: close\r\n" + headers +
           "\r\n{}");
    return c.read_all(10000);
  };
  std::string cross = post("Origin: https://evil.example\r\nAuthorization: Bearer " + token + "\r\n");
  EXPECT_EQ(cross.substr(0, 12), "HTTP/1.1 403") << cross.substr(0, 300);
  EXPECT_NE(cross.find("another origin"), std::string::npos);
  std::string cookie = post("Cookie: session=abc\r\n");
  EXPECT_EQ(cookie.substr(0, 12), "HTTP/1.1 401") << cookie.substr(0, 300);
  std::string same = post("Origin: http://127.0.0.1:" + std::to_string(engine->http_port()) +
                          "\r\nAuthorization: Bearer " + token + "\r\n");
  // Past the guard the request meets the API (a clinician may not write to the record: 403 from
  // governance, not the guard's refusal).
  EXPECT_EQ(same.find("another origin"), std::string::npos) << "a same-origin request with a bearer token passes the guard";
  EXPECT_EQ(same.find("HTTP/1.1 401"), std::string::npos) << same.substr(0, 300);
}

}  // namespace
}  // namespace cc::test
