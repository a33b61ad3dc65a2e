// MLLP listener: 0x0B message 0x1C 0x0D framing over TCP, many connections, several messages in
// flight per connection answered in order, a size limit, an idle timeout. Knows nothing of storage.
#pragma once
#include <boost/asio.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace cc::hl7v2 {

// One framed message as received.
struct InboundFrame {
  std::string bytes;        // the message (frame bytes removed); only the head when oversized
  std::string peer;         // "address:port"
  bool oversized = false;   // bigger than the listener's limit: `bytes` holds its first 64 KiB
  bool unterminated = false;  // a new start block came before the end block
  uint64_t size = 0;        // the full size in bytes
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

  class Connection;

 private:
  void accept();
  friend class Connection;
  void forget(Connection* c);

  boost::asio::io_context& io_;
  FrameSink& sink_;
  MllpOptions options_;
  boost::asio::ip::tcp::acceptor acceptor_;
  mutable std::mutex mu_;
  std::set<std::shared_ptr<Connection>> connections_;
};

}  // namespace cc::hl7v2
