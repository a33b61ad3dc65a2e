// HTTP/1.1 server on Beast, plain or TLS: one session per connection, keep-alive, requests answered
// through an asynchronous handler so a response can wait for its audit record to commit. It applies
// the defences every route needs: size and time limits, connections per peer, CSRF checks on
// state-changing requests, and security headers (a Content-Security-Policy on any HTML).
#include "engine/api/http_server.h"

#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "engine/core/tcp_listen.h"

namespace cc::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

Response HttpHandler::refusal(unsigned status, const std::string& code, const std::string& text) {
  Response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.body() = text;
  return res;
}

void add_security_headers(Response& res, bool tls) {
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  if (tls) res.set(http::field::strict_transport_security, "max-age=31536000");
  std::string_view type(res[http::field::content_type].data(), res[http::field::content_type].size());
  std::string lowered(type.substr(0, 16));
  std::transform(lowered.begin(), lowered.end(), lowered.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lowered.rfind("text/html", 0) == 0 || lowered.rfind("application/xhtml", 0) == 0) {
    res.set("Content-Security-Policy", kContentSecurityPolicy);
    res.set("X-Frame-Options", "DENY");
  }
}

std::optional<Response> HttpServer::csrf_refusal(const Request& req) const {
  auto m = req.method();
  bool state_changing = m == http::verb::post || m == http::verb::put || m == http::verb::patch ||
                        m == http::verb::delete_;
  if (!state_changing) return std::nullopt;
  std::string origin(req[http::field::origin]);
  if (!origin.empty()) {
    std::string own = std::string(tls() ? "https://" : "http://") + std::string(req[http::field::host]);
    bool allowed = origin == own || std::find(options_.allowed_origins.begin(), options_.allowed_origins.end(),
                                              origin) != options_.allowed_origins.end();
    if (!allowed)
      return handler_.refusal(403, "forbidden",
                              "A " + std::string(req.method_string()) + " from another origin (" + origin.substr(0, 200) +
                                  ") is refused: cross-site requests cannot change this record.");
  }
  std::string_view sec_fetch_site(req["Sec-Fetch-Site"].data(), req["Sec-Fetch-Site"].size());
  if (sec_fetch_site == "cross-site" && origin.empty())
    return handler_.refusal(403, "forbidden", "A cross-site request cannot change this record.");
  std::string_view auth(req[http::field::authorization].data(), req[http::field::authorization].size());
  if (auth.size() < 8 || (auth.substr(0, 7) != "Bearer " && auth.substr(0, 7) != "bearer ")) {
    auto res = handler_.refusal(401, "login",
                                "A request that changes the record needs Authorization: Bearer <token>; cookies "
                                "and other ambient credentials are never accepted.");
    res.set(http::field::www_authenticate, "Bearer");
    return res;
  }
  return std::nullopt;
}

class HttpServer::Session {
 public:
  virtual ~Session() = default;
  virtual void close_when_idle() = 0;
};

template <class Stream>
class HttpServer::SessionImpl : public HttpServer::Session,
                                public std::enable_shared_from_this<SessionImpl<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
  using std::enable_shared_from_this<SessionImpl<Stream>>::shared_from_this;

  static Stream make_stream(tcp::socket&& s, asio::ssl::context* ctx) {
    if constexpr (kTls)
      return Stream(std::move(s), *ctx);
    else
      return Stream(std::move(s));
  }

 public:
  SessionImpl(HttpServer& server, std::string address, tcp::socket socket, std::shared_ptr<asio::ssl::context> ctx)
      : server_(server),
        address_(std::move(address)),
        ctx_(std::move(ctx)),
        stream_(make_stream(std::move(socket), ctx_.get())) {
    beast::error_code ec;
    auto ep = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    peer_ = ec ? std::string("unknown") : ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  void start() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(server_.options_.handshake_timeout_seconds));
      stream_.async_handshake(asio::ssl::stream_base::server, [self = shared_from_this()](beast::error_code ec) {
        if (ec) {
          spdlog::info("https {}: TLS handshake failed ({}); closing", self->peer_, ec.message());
          self->close();
          return;
        }
        self->read();
      });
    } else {
      read();
    }
  }

  void close_when_idle() override {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      self->closing_ = true;
      if (!self->busy_) self->close();
    });
  }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(server_.options_.body_limit);
    parser_->header_limit(static_cast<uint32_t>(std::min<uint64_t>(server_.options_.header_limit, UINT32_MAX)));
    // One deadline for the whole request (and for the wait before it): a slow sender is cut off.
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(server_.options_.read_timeout_seconds));
    http::async_read_header(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) {
        self->read_failed(ec);
        return;
      }
      // A client that asked to be told before it sends its body (curl does for bodies over 1 MiB)
      // is told at once: a body over the limit was refused with the header (body_limit above),
      // and otherwise it waited up to a second of its own before sending anyway.
      const auto& header = self->parser_->get();
      if (header.version() == 11 && beast::iequals(header[http::field::expect], "100-continue")) {
        // A request refused on its headers alone is refused before the body is asked for.
        if (auto refused = self->server_.csrf_refusal(header)) {
          self->send_refusal(std::move(*refused));
          return;
        }
        self->continue_.emplace(http::status::continue_, 11);
        http::async_write(self->stream_, *self->continue_, [self](beast::error_code ec, size_t) {
          if (ec) {
            self->close();
            return;
          }
          self->read_body();
        });
        return;
      }
      self->read_body();
    });
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) {
        self->read_failed(ec);
        return;
      }
      self->handle();
    });
  }

  void read_failed(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      send_refusal(413, "too-long", "The request body is larger than this server accepts (" +
                                        std::to_string(server_.options_.body_limit) + " bytes).");
      return;
    }
    if (ec == http::error::header_limit) {
      send_refusal(431, "too-long", "The request headers are larger than this server accepts (" +
                                        std::to_string(server_.options_.header_limit) + " bytes).");
      return;
    }
    if (ec == beast::error::timeout)
      spdlog::info("http {}: no complete request within {} s; closing", peer_, server_.options_.read_timeout_seconds);
    close();
  }

  void handle() {
    busy_ = true;
    Request req = parser_->release();
    bool keep_alive = req.keep_alive();
    unsigned version = req.version();
    if (auto refused = server_.csrf_refusal(req)) {
      refused->version(version);
      refused->keep_alive(keep_alive && !closing_);
      refused->prepare_payload();
      write(std::move(*refused));
      return;
    }
    server_.handler_.handle(std::move(req), peer_, [self = shared_from_this(), keep_alive, version](Response res) {
      asio::post(self->stream_.get_executor(), [self, keep_alive, version, res = std::move(res)]() mutable {
        res.version(version);
        res.keep_alive(keep_alive && !self->closing_);
        res.prepare_payload();
        self->write(std::move(res));
      });
    });
  }

  // A refusal before the request was read in full: answer and close (the rest is not read).
  void send_refusal(unsigned status, const std::string& code, const std::string& text) {
    send_refusal(server_.handler_.refusal(status, code, text));
  }
  void send_refusal(Response res) {
    res.version(11);
    res.keep_alive(false);
    res.prepare_payload();
    busy_ = true;
    write(std::move(res));
  }

  void write(Response res) {
    add_security_headers(res, kTls);
    auto sp = std::make_shared<Response>(std::move(res));
    bool close_after = !sp->keep_alive();
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(server_.options_.read_timeout_seconds));
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
    auto& socket = beast::get_lowest_layer(stream_).socket();
    socket.shutdown(tcp::socket::shutdown_send, ec);
    socket.close(ec);
    server_.forget(this, address_);
  }

  HttpServer& server_;
  std::string address_;
  std::shared_ptr<asio::ssl::context> ctx_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;  // "100 Continue", while it is written
  std::string peer_;
  bool busy_ = false;
  bool closing_ = false;
  bool closed_ = false;
};

HttpServer::HttpServer(asio::io_context& io, HttpHandler& handler, HttpOptions options)
    : io_(io), handler_(handler), options_(std::move(options)), acceptor_(io) {}

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
      beast::error_code ep_ec;
      auto ep = socket.remote_endpoint(ep_ec);
      std::string address = ep_ec ? std::string("unknown") : ep.address().to_string();
      bool refused = false;
      {
        std::lock_guard lk(mu_);
        int& n = per_peer_[address];
        if (n >= options_.max_connections_per_peer) refused = true;
        else ++n;
      }
      if (refused) {
        spdlog::warn("http {}: already {} connections from this address (the limit); connection closed", address,
                     options_.max_connections_per_peer);
        socket.close(ep_ec);
      } else if (options_.tls) {
        auto s = std::make_shared<SessionImpl<TlsStream>>(*this, address, std::move(socket), options_.tls->server(false));
        {
          std::lock_guard lk(mu_);
          sessions_.insert(s);
        }
        s->start();
      } else {
        auto s = std::make_shared<SessionImpl<PlainStream>>(*this, address, std::move(socket), nullptr);
        {
          std::lock_guard lk(mu_);
          sessions_.insert(s);
        }
        s->start();
      }
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

void HttpServer::forget(Session* s, const std::string& address) {
  std::lock_guard lk(mu_);
  if (auto it = per_peer_.find(address); it != per_peer_.end() && --it->second <= 0) per_peer_.erase(it);
  for (auto it = sessions_.begin(); it != sessions_.end(); ++it)
    if (it->get() == s) {
      sessions_.erase(it);
      return;
    }
}

}  // namespace cc::api
