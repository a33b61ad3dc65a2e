// MLLP listener: 0x0B message 0x1C 0x0D framing over TCP, many connections, several messages in
// flight per connection answered in order, a size limit, an idle timeout. Knows nothing of storage.
#include "adapters/hl7v2/mllp_server.h"

#include <spdlog/spdlog.h>

#include "adapters/hl7v2/mllp_framer.h"
#include "engine/core/tcp_listen.h"

#include <array>
#include <chrono>
#include <deque>

namespace cc::hl7v2 {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
constexpr char kStart = kMllpStart;
constexpr char kEnd = kMllpEnd;
constexpr char kCR = 0x0D;
}  // namespace

class MllpServer::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(MllpServer& server, tcp::socket socket)
      : server_(server), socket_(std::move(socket)), idle_(socket_.get_executor()) {
    boost::system::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    peer_ = ec ? std::string("unknown") : ep.address().to_string() + ":" + std::to_string(ep.port());
    socket_.set_option(tcp::no_delay(true), ec);
  }

  void start() {
    arm_idle_timer();
    read();
  }

  // Close once every pending ACK has been written.
  void close_when_drained() {
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
    if (pending_.size() >= server_.options_.max_in_flight || pending_bytes_ >= server_.options_.max_in_flight_bytes)
      return;  // resumed by flush()
    reading_ = true;
    socket_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](boost::system::error_code ec, size_t n) {
      self->reading_ = false;
      if (ec) {
        self->peer_done_ = true;
        self->maybe_close();
        return;
      }
      self->last_activity_ = std::chrono::steady_clock::now();
      self->consume(self->buf_.data(), n);
      self->read();
    });
  }

  void consume(const char* p, size_t n) {
    const bool mllp = framer_.consume(
        std::string_view(p, n), [this](MllpFrame frame) { dispatch(std::move(frame)); },
        [this](size_t ignored) {
          spdlog::warn("mllp {}: ignored {} bytes outside MLLP framing (expected 0x0B ... 0x1C 0x0D)", peer_, ignored);
        });
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
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    server_.forget(this);
  }

  void arm_idle_timer() {
    idle_.expires_after(std::chrono::seconds(server_.options_.idle_timeout_seconds));
    idle_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->closed_) return;
      auto idle_for = std::chrono::steady_clock::now() - self->last_activity_;
      if (idle_for >= std::chrono::seconds(self->server_.options_.idle_timeout_seconds) && self->pending_.empty()) {
        spdlog::info("mllp {}: idle for {} s; closing", self->peer_, self->server_.options_.idle_timeout_seconds);
        self->closing_ = true;
        self->maybe_close();
        return;
      }
      self->arm_idle_timer();
    });
  }

  MllpServer& server_;
  tcp::socket socket_;
  asio::steady_timer idle_;
  std::string peer_;
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
      auto c = std::make_shared<Connection>(*this, std::move(socket));
      {
        std::lock_guard lk(mu_);
        connections_.insert(c);
      }
      c->start();
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

void MllpServer::forget(Connection* c) {
  std::lock_guard lk(mu_);
  for (auto it = connections_.begin(); it != connections_.end(); ++it)
    if (it->get() == c) {
      connections_.erase(it);
      return;
    }
}

}  // namespace cc::hl7v2
