// A blocking TLS client for end-to-end tests (OpenSSL over a loopback socket): verifies the
// engine's certificate against a test CA, optionally presents a client certificate, and speaks
// MLLP or enough HTTP/1.1 for a request and its response.
#pragma once
#include <cstdint>
#include <string>

#include "tests/e2e/harness.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace cc::test {

struct TlsClientOptions {
  std::string ca_file;    // trust anchor for the server certificate
  std::string cert_file;  // client certificate (mutual TLS), optional
  std::string key_file;
  int max_version = 0;    // e.g. TLS1_2_VERSION to force TLS 1.2; 0: highest
  int min_version = 0;    // e.g. TLS1_1_VERSION to offer old protocols; 0: TLS 1.2
  std::string cipher_list;  // TLS 1.2 ciphers offered; empty: OpenSSL's default
};

class TlsClient {
 public:
  TlsClient(uint16_t port, const TlsClientOptions& options);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  bool connected() const { return ok_; }  // the handshake finished (client side)
  const std::string& error() const { return error_; }
  std::string protocol() const;           // "TLSv1.3", ...
  std::string server_subject() const;     // RFC 2253

  bool send_raw(const std::string& bytes);
  bool send_mllp(const std::string& message) { return send_raw("\x0b" + message + "\x1c\x0d"); }
  // One ACK, unframed; "" when the server closed or refused the connection, or nothing came in time.
  std::string receive_mllp(int timeout_ms = 10000);
  std::string exchange(const std::string& message) {
    return send_mllp(message) ? receive_mllp() : std::string();
  }
  // One HTTP/1.1 request on this connection; status 0 when the connection failed.
  HttpResult http(const std::string& method, const std::string& target, const std::string& token,
                  const std::string& body = "", const std::string& extra_headers = "");

 private:
  int read_some(std::string& into, int timeout_ms);
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool ok_ = false;
  std::string error_;
  std::string buf_;
};

}  // namespace cc::test
