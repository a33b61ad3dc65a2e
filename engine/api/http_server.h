// HTTP/1.1 server on Beast: one session per connection, keep-alive, requests answered through an
// asynchronous handler so a response can wait for its audit record to commit.
#pragma once
#include <boost/asio.hpp>
#include <boost/beast/http.hpp>

#include <functional>
#include <optional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace cc::api {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;
using Respond = std::function<void(Response)>;

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Must call `respond` exactly once, from any thread.
  virtual void handle(Request req, const std::string& peer, Respond respond) = 0;
};

class HttpServer {
 public:
  // The API only reads, so request bodies are small; anything larger is refused with 413.
  HttpServer(boost::asio::io_context& io, HttpHandler& handler, uint64_t body_limit = 1u << 20);
  ~HttpServer();
  uint16_t listen(const std::string& address, uint16_t port);
  void stop_accepting();
  void close_connections();

  class Session;

 private:
  void accept();
  friend class Session;
  void forget(Session* s);

  boost::asio::io_context& io_;
  HttpHandler& handler_;
  uint64_t body_limit_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::mutex mu_;
  std::set<std::shared_ptr<Session>> sessions_;
};

}  // namespace cc::api
