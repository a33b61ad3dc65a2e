// MLLP listener: 0x0B message 0x1C 0x0D framing over TCP, many connections, several messages in
// flight per connection answered in order, a size limit, an idle timeout. Knows nothing of storage.
#include "adapters/hl7v2/mllp_server.h"

#include <spdlog/spdlog.h>

#include "engine/core/tcp_listen.h"

#include <array>
#include <chrono>
#include <cstring>
#include <deque>

namespace cc::hl7v2 {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
constexpr char kStart = 0x0B;
constexpr char kEnd = 0x1C;
constexpr char kCR = 0x0D;
constexpr size_t kOversizeHead = 64 * 1024;
constexpr size_t kMaxUnframedBytes = 1 << 20;
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
    const char* end = p + n;
    while (p < end) {
      if (after_end_block_) {
        after_end_block_ = false;
        if (*p == kCR) ++p;  // the expected 0x0D; tolerate its absence
        continue;
      }
      if (!in_frame_) {
        const char* s = static_cast<const char*>(std::memchr(p, kStart, end - p));
        size_t skipped = (s ? s : end) - p;
        for (const char* q = p; q < p + skipped; ++q)
          if (*q != '\r' && *q != '\n' && *q != ' ' && *q != '\t') ++unframed_;
        if (unframed_ > kMaxUnframedBytes) {
          spdlog::warn("mllp {}: more than 1 MiB outside MLLP framing; closing the connection", peer_);
          peer_done_ = true;
          closing_ = true;
          maybe_close();
          return;
        }
        if (!s) return;
        if (unframed_ > 0) {
          spdlog::warn("mllp {}: ignored {} bytes outside MLLP framing (expected 0x0B ... 0x1C 0x0D)", peer_, unframed_);
          unframed_ = 0;
        }
        p = s + 1;
        begin_frame();
        continue;
      }
      const char* e = static_cast<const char*>(std::memchr(p, kEnd, end - p));
      const char* stop = e ? e : end;
      const char* restart = static_cast<const char*>(std::memchr(p, kStart, stop - p));
      if (restart) {
        append(p, restart - p);
        frame_unterminated_ = true;
        dispatch();
        p = restart + 1;
        begin_frame();
        continue;
      }
      append(p, stop - p);
      if (!e) return;
      dispatch();
      after_end_block_ = true;
      p = e + 1;
    }
  }

  void begin_frame() {
    in_frame_ = true;
    frame_.clear();
    frame_size_ = 0;
    frame_oversized_ = false;
    frame_unterminated_ = false;
  }

  void append(const char* p, size_t n) {
    frame_size_ += n;
    if (frame_oversized_) return;
    if (frame_size_ > server_.options_.max_message_bytes) {
      frame_oversized_ = true;
      // Keep only the head (enough to read the MSH for the AR) and let the rest go.
      if (frame_.size() > kOversizeHead) frame_.resize(kOversizeHead);
      size_t room = kOversizeHead - frame_.size();
      frame_.append(p, std::min(room, n));
      frame_.shrink_to_fit();
      return;
    }
    frame_.append(p, n);
  }

  void dispatch() {
    in_frame_ = false;
    InboundFrame f;
    f.bytes = std::move(frame_);
    frame_.clear();
    f.peer = peer_;
    f.oversized = frame_oversized_;
    f.unterminated = frame_unterminated_;
    f.size = frame_size_;
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

  bool in_frame_ = false;
  bool after_end_block_ = false;
  bool frame_oversized_ = false;
  bool frame_unterminated_ = false;
  uint64_t frame_size_ = 0;
  size_t unframed_ = 0;
  std::string frame_;

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
