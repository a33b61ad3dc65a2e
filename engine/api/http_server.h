// HTTP/1.1 server on Beast, plain or TLS: one session per connection, keep-alive, requests answered
// through an asynchronous handler so a response can wait for its audit record to commit. It applies
// the defences every route needs: size and time limits, connections per peer, CSRF checks on
// state-changing requests, and security headers (a Content-Security-Policy on any HTML).
#pragma once
#include <boost/asio.hpp>
#include <boost/beast/http.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/core/tls.h"

namespace cc::api {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;
using Respond = std::function<void(Response)>;

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Must call `respond` exactly once, from any thread.
  virtual void handle(Request req, const std::string& peer, Respond respond) = 0;
  // The response the server sends when it refuses a request itself (too large, CSRF, ...).
  // `code` is a FHIR issue type (e.g. "too-long", "forbidden", "login").
  virtual Response refusal(unsigned status, const std::string& code, const std::string& text);
};

// Sent on every HTML response, so no page the engine serves can run inline or foreign script.
inline constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

struct HttpOptions {
  uint64_t body_limit = 1u << 20;        // the API only reads, so request bodies are small: 413 beyond
  uint64_t header_limit = 16 * 1024;     // request line and headers: 431 beyond
  int read_timeout_seconds = 30;         // a whole request, and a keep-alive connection's idle time
  int handshake_timeout_seconds = 10;    // TLS
  int max_connections_per_peer = 64;     // per client IP address; more are closed at once
  std::shared_ptr<TlsContexts> tls;      // set: HTTPS only
  std::vector<std::string> allowed_origins;  // cross-origin Origins allowed on state-changing requests
};

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, HttpHandler& handler, HttpOptions options = {});
  ~HttpServer();
  uint16_t listen(const std::string& address, uint16_t port);
  void stop_accepting();
  void close_connections();
  bool tls() const { return options_.tls != nullptr; }

  // The CSRF guard for state-changing methods (POST, PUT, PATCH, DELETE): a cross-origin Origin
  // (one not matching the Host, nor listed) is refused with 403, and so is a request without an
  // `Authorization: Bearer` header (credentials a browser never adds by itself). nullopt: let it in.
  std::optional<Response> csrf_refusal(const Request& req) const;

  class Session;
  template <class Stream>
  class SessionImpl;

 private:
  void accept();
  template <class Stream>
  friend class SessionImpl;
  void forget(Session* s, const std::string& address);

  boost::asio::io_context& io_;
  HttpHandler& handler_;
  HttpOptions options_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::mutex mu_;
  std::set<std::shared_ptr<Session>> sessions_;
  std::map<std::string, int> per_peer_;
};

// Adds the headers every response carries (nosniff, no referrer; HSTS over TLS) and, on HTML, the
// Content-Security-Policy and frame denial.
void add_security_headers(Response& res, bool tls);

}  // namespace cc::api
