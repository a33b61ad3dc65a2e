// MLLP listener: 0x0B message 0x1C 0x0D framing over TCP or TLS, many connections, several messages
// in flight per connection answered in order, size / time / per-peer limits. Knows nothing of storage.
#include "adapters/hl7v2/mllp_server.h"

#include "adapters/hl7v2/mllp_framer.h"

#include <spdlog/spdlog.h>

#include "engine/core/tcp_listen.h"

#include <array>
#include <chrono>
#include <cstring>
#include <deque>

namespace cc::hl7v2 {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using TlsStream = asio::ssl::stream<tcp::socket>;

namespace {
constexpr char kStart = kMllpStart;
constexpr char kEnd = kMllpEnd;
constexpr char kCR = 0x0D;

tcp::socket& lowest(tcp::socket& s) { return s; }
tcp::socket& lowest(TlsStream& s) { return s.next_layer(); }
}  // namespace

class MllpServer::Connection {
 public:
  virtual ~Connection() = default;
  // Close once every pending ACK has been written.
  virtual void close_when_drained() = 0;
};

template <class Stream>
class MllpServer::ConnectionImpl : public MllpServer::Connection,
                                   public std::enable_shared_from_this<ConnectionImpl<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
  using std::enable_shared_from_this<ConnectionImpl<Stream>>::shared_from_this;

  static Stream make_stream(tcp::socket&& s, asio::ssl::context* ctx) {
    if constexpr (kTls)
      return Stream(std::move(s), *ctx);
    else
      return std::move(s);
  }

 public:
  ConnectionImpl(MllpServer& server, std::string address, tcp::socket socket,
                 std::shared_ptr<asio::ssl::context> ctx)
      : server_(server),
        address_(std::move(address)),
        ctx_(std::move(ctx)),
        socket_(make_stream(std::move(socket), ctx_.get())),
        idle_(socket_.get_executor()) {
    boost::system::error_code ec;
    auto ep = lowest(socket_).remote_endpoint(ec);
    peer_ = ec ? std::string("unknown") : ep.address().to_string() + ":" + std::to_string(ep.port());
    lowest(socket_).set_option(tcp::no_delay(true), ec);
  }

  void start() {
    if constexpr (kTls) {
      handshaking_ = true;
      arm_idle_timer();
      socket_.async_handshake(asio::ssl::stream_base::server, [self = shared_from_this()](boost::system::error_code ec) {
        self->handshaking_ = false;
        if (self->closed_) return;
        if (ec) {
          spdlog::info("mllps {}: TLS handshake failed ({}); closing", self->peer_, ec.message());
          self->close();
          return;
        }
        self->client_subject_ = peer_certificate_subject(self->socket_.native_handle());
        auto& accept = self->server_.options_.accept_client_subject;
        if (accept && !accept(self->client_subject_)) {
          spdlog::warn("mllps {}: client certificate subject \"{}\" is not bound to any feed; connection refused "
                       "before reading a message",
                       self->peer_, self->client_subject_);
          self->close();
          return;
        }
        self->last_activity_ = std::chrono::steady_clock::now();
        self->read();
      });
    } else {
      arm_idle_timer();
      read();
    }
  }

  void close_when_drained() override {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->closing_ = true;
      self->maybe_close();
    });
  }

 private:
  struct Slot {
    bool ready = false;
    std::string ack;
    size_t bytes = 0;  // size of the message awaiting this ACK
  };

  void read() {
    if (reading_ || closed_ || peer_done_ || closing_) return;
    // Back-pressure: stop reading while too many messages, or too many bytes, await their ACKs.
    if (pending_.size() >= server_.options_.max_in_flight || pending_bytes_ >= server_.options_.max_in_flight_bytes) {
      paused_ = true;
      return;  // resumed by flush()
    }
    if (paused_) {
      // The sender waited on us, not the other way round: its frame gets a fresh allowance.
      paused_ = false;
      frame_started_ = std::chrono::steady_clock::now();
    }
    reading_ = true;
    socket_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](boost::system::error_code ec, size_t n) {
      self->reading_ = false;
      if (ec) {
        self->peer_done_ = true;
        self->maybe_close();
        return;
      }
      if (self->abandoned_) {  // timed out: nothing more is read
        self->maybe_close();
        return;
      }
      self->last_activity_ = std::chrono::steady_clock::now();
      self->consume(self->buf_.data(), n);
      self->read();
    });
  }

  void consume(const char* p, size_t n) {
    const uint64_t started_before = framer_.frames_started();
    const bool mllp = framer_.consume(
        std::string_view(p, n), [this](MllpFrame frame) { dispatch(std::move(frame)); },
        [this](size_t ignored) {
          spdlog::warn("mllp {}: ignored {} bytes outside MLLP framing (expected 0x0B ... 0x1C 0x0D)", peer_, ignored);
        });
    // A frame begun by these bytes is given its allowance from now (slow senders are cut off per frame).
    if (framer_.frames_started() != started_before) frame_started_ = std::chrono::steady_clock::now();
    if (!mllp) {
      spdlog::warn("mllp {}: more than 1 MiB outside MLLP framing; closing the connection", peer_);
      peer_done_ = true;
      closing_ = true;
      maybe_close();
    }
  }

  void dispatch(MllpFrame frame) {
    InboundFrame f;
    f.bytes = std::move(frame.bytes);
    f.peer = peer_;
    f.oversized = frame.oversized;
    f.unterminated = frame.unterminated;
    f.size = frame.size;
    f.client_subject = client_subject_;
    uint64_t seq = next_seq_++;
    pending_.emplace_back();
    pending_.back().bytes = f.bytes.size();
    pending_bytes_ += f.bytes.size();
    auto self = shared_from_this();
    server_.sink_.on_frame(std::move(f), [self, seq](std::string ack) {
      asio::post(self->socket_.get_executor(), [self, seq, ack = std::move(ack)]() mutable {
        Slot& slot = self->pending_[seq - self->head_seq_];
        slot.ack = std::move(ack);
        slot.ready = true;
        self->flush();
      });
    });
  }

  void flush() {
    if (writing_ || closed_) return;
    out_.clear();
    while (!pending_.empty() && pending_.front().ready) {
      out_ += kStart;
      out_ += pending_.front().ack;
      out_ += kEnd;
      out_ += kCR;
      pending_bytes_ -= pending_.front().bytes;
      pending_.pop_front();
      ++head_seq_;
    }
    if (out_.empty()) {
      maybe_close();
      return;
    }
    writing_ = true;
    asio::async_write(socket_, asio::buffer(out_), [self = shared_from_this()](boost::system::error_code ec, size_t) {
      self->writing_ = false;
      if (ec) {
        self->peer_done_ = true;
        self->close();
        return;
      }
      self->last_activity_ = std::chrono::steady_clock::now();
      self->read();
      self->flush();
    });
  }

  void maybe_close() {
    if (closed_ || writing_ || !pending_.empty()) return;
    if (peer_done_ || closing_) close();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    idle_.cancel();
    lowest(socket_).shutdown(tcp::socket::shutdown_both, ec);
    lowest(socket_).close(ec);
    server_.forget(this, address_);
  }

  // One timer per connection, set to the nearest deadline: the TLS handshake, the end of the frame
  // being received (slow senders), or the idle timeout.
  // Outside a frame the timer still fires at least every frame timeout, so a frame that starts
  // later is caught at its own deadline without re-arming the timer for every message.
  std::chrono::steady_clock::time_point next_deadline(std::chrono::steady_clock::time_point now) const {
    const auto& o = server_.options_;
    if (handshaking_) return started_ + std::chrono::seconds(o.handshake_timeout_seconds);
    auto deadline = last_activity_ + std::chrono::seconds(o.idle_timeout_seconds);
    if (o.frame_timeout_seconds > 0) {
      auto frame_deadline = framer_.in_frame() && !paused_ ? frame_started_ + std::chrono::seconds(o.frame_timeout_seconds)
                                                  : now + std::chrono::seconds(o.frame_timeout_seconds);
      deadline = std::min(deadline, frame_deadline);
    }
    return deadline;
  }

  void arm_idle_timer() {
    auto now = std::chrono::steady_clock::now();
    auto deadline = next_deadline(now);
    if (deadline <= now) deadline = now + std::chrono::seconds(1);  // waiting on pending ACKs
    idle_.expires_at(deadline);
    idle_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->closed_) return;
      self->on_timer();
    });
  }

  void on_timer() {
    const auto& o = server_.options_;
    auto now = std::chrono::steady_clock::now();
    if (handshaking_) {
      if (now >= started_ + std::chrono::seconds(o.handshake_timeout_seconds)) {
        spdlog::info("mllps {}: no TLS handshake within {} s; closing", peer_, o.handshake_timeout_seconds);
        close();
        return;
      }
    } else if (framer_.in_frame() && !paused_ && o.frame_timeout_seconds > 0 &&
               now >= frame_started_ + std::chrono::seconds(o.frame_timeout_seconds)) {
      spdlog::warn("mllp {}: a message took more than {} s to arrive ({} bytes so far); closing the connection "
                   "without storing it",
                   peer_, o.frame_timeout_seconds, framer_.frame_size());
      abandoned_ = true;
      closing_ = true;
      maybe_close();
      if (closed_) return;
    } else if (now - last_activity_ >= std::chrono::seconds(o.idle_timeout_seconds) && pending_.empty()) {
      spdlog::info("mllp {}: idle for {} s; closing", peer_, o.idle_timeout_seconds);
      closing_ = true;
      maybe_close();
      return;
    }
    arm_idle_timer();
  }

  MllpServer& server_;
  std::string address_;  // the client's IP address (the per-peer connection limit's key)
  std::shared_ptr<asio::ssl::context> ctx_;  // kept alive for this connection (TLS only)
  Stream socket_;
  asio::steady_timer idle_;
  std::string peer_;
  std::string client_subject_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point frame_started_ = started_;
  bool handshaking_ = false;
  bool paused_ = false;
  bool abandoned_ = false;
  std::array<char, 64 * 1024> buf_;
  std::chrono::steady_clock::time_point last_activity_ = std::chrono::steady_clock::now();

  MllpFramer framer_{server_.options_.max_message_bytes};

  std::deque<Slot> pending_;
  size_t pending_bytes_ = 0;
  uint64_t next_seq_ = 0;
  uint64_t head_seq_ = 0;
  std::string out_;
  bool reading_ = false;
  bool writing_ = false;
  bool peer_done_ = false;
  bool closing_ = false;
  bool closed_ = false;
};

MllpServer::MllpServer(asio::io_context& io, FrameSink& sink, MllpOptions options)
    : io_(io), sink_(sink), options_(options), acceptor_(io) {}

MllpServer::~MllpServer() { stop_accepting(); }

uint16_t MllpServer::listen(const std::string& address, uint16_t port) {
  uint16_t bound = tcp_listen(acceptor_, address, port);
  accept();
  return bound;
}

void MllpServer::accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](boost::system::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
      spdlog::warn("mllp accept failed: {}", ec.message());
    } else {
      boost::system::error_code ep_ec;
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
        spdlog::warn("mllp {}: already {} connections from this address (the limit); connection closed", address,
                     options_.max_connections_per_peer);
        boost::system::error_code ignored;
        socket.close(ignored);
      } else if (options_.tls) {
        auto c = std::make_shared<ConnectionImpl<TlsStream>>(*this, address, std::move(socket),
                                                            options_.tls->server(options_.tls->has_client_ca()));
        {
          std::lock_guard lk(mu_);
          connections_.insert(c);
        }
        c->start();
      } else {
        auto c = std::make_shared<ConnectionImpl<tcp::socket>>(*this, address, std::move(socket), nullptr);
        {
          std::lock_guard lk(mu_);
          connections_.insert(c);
        }
        c->start();
      }
    }
    accept();
  });
}

void MllpServer::stop_accepting() {
  asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
  });
}

void MllpServer::close_connections() {
  std::lock_guard lk(mu_);
  for (auto& c : connections_) c->close_when_drained();
}

size_t MllpServer::connection_count() const {
  std::lock_guard lk(mu_);
  return connections_.size();
}

void MllpServer::forget(Connection* c, const std::string& address) {
  std::lock_guard lk(mu_);
  if (auto it = per_peer_.find(address); it != per_peer_.end() && --it->second <= 0) per_peer_.erase(it);
  for (auto it = connections_.begin(); it != connections_.end(); ++it)
    if (it->get() == c) {
      connections_.erase(it);
      return;
    }
}

}  // namespace cc::hl7v2
