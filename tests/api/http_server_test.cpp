// HttpServer in process, with a stand-in handler: every HTML response carries the
// Content-Security-Policy (so any page added later gets it without thinking), every response the
// no-sniff header, and the CSRF guard runs before any handler sees a state-changing request.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <atomic>
#include <thread>

#include "engine/api/http_server.h"

namespace cc::api {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;

class PageHandler : public HttpHandler {
 public:
  void handle(Request req, const std::string&, Respond respond) override {
    ++handled;
    Response res{http::status::ok, 11};
    if (req.target() == "/page") {
      res.set(http::field::content_type, "text/html; charset=utf-8");
      res.body() = "<!doctype html><title>viewer</title><script src=\"/app.js\"></script>";
    } else {
      res.set(http::field::content_type, "application/json");
      res.body() = "{}";
    }
    respond(std::move(res));
  }
  std::atomic<int> handled{0};
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server = std::make_unique<HttpServer>(io, handler);
    port = server->listen("127.0.0.1", 0);
    thread = std::thread([this] { io.run(); });
  }
  void TearDown() override {
    server->stop_accepting();
    server->close_connections();
    io.stop();
    thread.join();
  }
  http::response<http::string_body> send(http::verb verb, const std::string& target,
                                         const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    asio::io_context client_io;
    boost::beast::tcp_stream stream(client_io);
    stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
    for (auto& [k, v] : headers) req.set(k, v);
    if (verb == http::verb::post) req.body() = "{}";
    req.prepare_payload();
    http::write(stream, req);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    return res;
  }
  asio::io_context io;
  PageHandler handler;
  std::unique_ptr<HttpServer> server;
  uint16_t port = 0;
  std::thread thread;
};

TEST_F(HttpServerTest, HtmlResponsesCarryAContentSecurityPolicyForbiddingInlineScript) {
  auto page = send(http::verb::get, "/page");
  ASSERT_EQ(page.result_int(), 200u);
  std::string csp(page["Content-Security-Policy"]);
  EXPECT_EQ(csp, kContentSecurityPolicy);
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos);
  EXPECT_EQ(page["X-Frame-Options"], "DENY");
  EXPECT_EQ(page["X-Content-Type-Options"], "nosniff");
  auto json = send(http::verb::get, "/data");
  EXPECT_EQ(json["X-Content-Type-Options"], "nosniff");
  EXPECT_TRUE(json["Content-Security-Policy"].empty());
}

TEST_F(HttpServerTest, CsrfGuardRefusesCrossOriginAndCookieOnlyRequestsBeforeTheHandler) {
  auto cross = send(http::verb::post, "/data",
                    {{"Origin", "https://evil.example"}, {"Authorization", "Bearer x.y.z"}});
  EXPECT_EQ(cross.result_int(), 403u);
  auto cookie = send(http::verb::post, "/data", {{"Cookie", "session=1"}});
  EXPECT_EQ(cookie.result_int(), 401u);
  auto fetch_site = send(http::verb::post, "/data", {{"Sec-Fetch-Site", "cross-site"}, {"Authorization", "Bearer x"}});
  EXPECT_EQ(fetch_site.result_int(), 403u);
  EXPECT_EQ(handler.handled, 0) << "no refused request reached the handler";
  auto same = send(http::verb::post, "/data",
                   {{"Origin", "http://127.0.0.1:" + std::to_string(port)}, {"Authorization", "Bearer x.y.z"}});
  EXPECT_EQ(same.result_int(), 200u);
  auto get = send(http::verb::get, "/data", {{"Origin", "https://evil.example"}});
  EXPECT_EQ(get.result_int(), 200u) << "reads are not state-changing (and carry no ambient credentials)";
}

}  // namespace
}  // namespace cc::api
