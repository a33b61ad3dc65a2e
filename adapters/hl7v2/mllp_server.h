// MLLP listener: 0x0B message 0x1C 0x0D framing over TCP or TLS, many connections, several messages
// in flight per connection answered in order, size / time / per-peer limits. Knows nothing of storage.
#pragma once
#include <boost/asio.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <map>
#include <string>

#include "engine/core/tls.h"

namespace cc::hl7v2 {

// One framed message as received.
struct InboundFrame {
  std::string bytes;        // the message (frame bytes removed); only the head when oversized
  std::string peer;         // "address:port"
  bool oversized = false;   // bigger than the listener's limit: `bytes` holds its first 64 KiB
  bool unterminated = false;  // a new start block came before the end block
  uint64_t size = 0;        // the full size in bytes
  std::string client_subject;  // TLS client certificate subject (RFC 2253); "" without mutual TLS
};

// What the listener hands every frame to. `reply` must be called exactly once, from any thread,
// with the ACK bytes (without framing); replies go out in the order frames arrived.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual void on_frame(InboundFrame frame, std::function<void(std::string ack)> reply) = 0;
};

struct MllpOptions {
  uint64_t max_message_bytes = 16u << 20;
  int idle_timeout_seconds = 600;
  size_t max_in_flight = 512;               // per connection; reading pauses beyond it
  size_t max_in_flight_bytes = 64u << 20;   // likewise, in message bytes
  int frame_timeout_seconds = 300;          // a frame must end this long after its first byte (slow senders)
  int handshake_timeout_seconds = 10;       // TLS handshake
  int max_connections_per_peer = 64;        // per client IP address; more are closed at once
  // TLS: when set, every connection is TLS (plaintext fails the handshake). With a client CA the
  // client must present a certificate that verifies, and `accept_client_subject` (if set) must
  // accept its subject, or the connection is closed before any byte of a message is read.
  std::shared_ptr<TlsContexts> tls;
  std::function<bool(const std::string& subject)> accept_client_subject;
};

class MllpServer {
 public:
  MllpServer(boost::asio::io_context& io, FrameSink& sink, MllpOptions options);
  ~MllpServer();
  // Binds and starts accepting; returns the bound port (useful with port 0).
  uint16_t listen(const std::string& address, uint16_t port);
  // Stops accepting new connections (connections already open keep being served).
  void stop_accepting();
  // Closes every connection once its pending ACKs are written.
  void close_connections();
  size_t connection_count() const;
  bool tls() const { return options_.tls != nullptr; }

  class Connection;
  template <class Stream>
  class ConnectionImpl;

 private:
  void accept();
  template <class Stream>
  friend class ConnectionImpl;
  void forget(Connection* c, const std::string& address);

  boost::asio::io_context& io_;
  FrameSink& sink_;
  MllpOptions options_;
  boost::asio::ip::tcp::acceptor acceptor_;
  mutable std::mutex mu_;
  std::set<std::shared_ptr<Connection>> connections_;
  std::map<std::string, int> per_peer_;  // open connections by client IP address
};

}  // namespace cc::hl7v2
