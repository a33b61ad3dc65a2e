// HTTP/1.1 server on Beast: one session per connection, keep-alive, requests answered through an
// asynchronous handler so a response can wait for its audit record to commit.
#include "engine/api/http_server.h"

#include <boost/beast/core.hpp>
#include <spdlog/spdlog.h>

#include "engine/core/tcp_listen.h"

namespace cc::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class HttpServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HttpServer& server, tcp::socket socket) : server_(server), stream_(std::move(socket)) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    peer_ = ec ? std::string("unknown") : ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  void start() { read(); }

  void close_when_idle() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      self->closing_ = true;
      if (!self->busy_) self->close();
    });
  }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(server_.body_limit_);
    stream_.expires_after(std::chrono::seconds(120));
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) {
        if (ec == http::error::body_limit) {
          self->send_simple(http::status::payload_too_large, "request body too large");
          return;
        }
        self->close();
        return;
      }
      self->busy_ = true;
      Request req = self->parser_->release();
      bool keep_alive = req.keep_alive();
      unsigned version = req.version();
      self->server_.handler_.handle(std::move(req), self->peer_, [self, keep_alive, version](Response res) {
        asio::post(self->stream_.get_executor(), [self, keep_alive, version, res = std::move(res)]() mutable {
          res.version(version);
          res.keep_alive(keep_alive && !self->closing_);
          res.prepare_payload();
          self->write(std::move(res));
        });
      });
    });
  }

  void send_simple(http::status status, const std::string& text) {
    Response res{status, 11};
    res.set(http::field::content_type, "text/plain");
    res.body() = text;
    res.keep_alive(false);
    res.prepare_payload();
    busy_ = true;
    write(std::move(res));
  }

  void write(Response res) {
    auto sp = std::make_shared<Response>(std::move(res));
    bool close_after = !sp->keep_alive();
    http::async_write(stream_, *sp, [self = shared_from_this(), sp, close_after](beast::error_code ec, size_t) {
      self->busy_ = false;
      if (ec || close_after || self->closing_) {
        self->close();
        return;
      }
      self->read();
    });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
    server_.forget(this);
  }

  HttpServer& server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string peer_;
  bool busy_ = false;
  bool closing_ = false;
  bool closed_ = false;
};

HttpServer::HttpServer(asio::io_context& io, HttpHandler& handler, uint64_t body_limit)
    : io_(io), handler_(handler), body_limit_(body_limit), acceptor_(io) {}

HttpServer::~HttpServer() {
  beast::error_code ec;
  acceptor_.close(ec);
}

uint16_t HttpServer::listen(const std::string& address, uint16_t port) {
  uint16_t bound = tcp_listen(acceptor_, address, port);
  accept();
  return bound;
}

void HttpServer::accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
      spdlog::warn("http accept failed: {}", ec.message());
    } else {
      auto s = std::make_shared<Session>(*this, std::move(socket));
      {
        std::lock_guard lk(mu_);
        sessions_.insert(s);
      }
      s->start();
    }
    accept();
  });
}

void HttpServer::stop_accepting() {
  asio::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
  });
}

void HttpServer::close_connections() {
  std::lock_guard lk(mu_);
  for (auto& s : sessions_) s->close_when_idle();
}

void HttpServer::forget(Session* s) {
  std::lock_guard lk(mu_);
  for (auto it = sessions_.begin(); it != sessions_.end(); ++it)
    if (it->get() == s) {
      sessions_.erase(it);
      return;
    }
}

}  // namespace cc::api
