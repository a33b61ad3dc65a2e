// A blocking TLS client for end-to-end tests (OpenSSL over a loopback socket): verifies the
// engine's certificate against a test CA, optionally presents a client certificate, and speaks
// MLLP or enough HTTP/1.1 for a request and its response.
#include "tests/e2e/tls_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

namespace cc::test {

namespace {
std::string last_ssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (!e) return "connection closed";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}
}  // namespace

TlsClient::TlsClient(uint16_t port, const TlsClientOptions& o) {
  // OpenSSL writes with write(2): a server that has closed the connection must give an error, not
  // kill the test with SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    error_ = "cannot connect";
    return;
  }
  timeval tv{10, 0};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx_, o.min_version ? o.min_version : TLS1_2_VERSION);
  if (o.max_version) SSL_CTX_set_max_proto_version(ctx_, o.max_version);
  if (o.min_version && o.min_version < TLS1_2_VERSION) SSL_CTX_set_security_level(ctx_, 0);
  if (!o.cipher_list.empty()) SSL_CTX_set_cipher_list(ctx_, o.cipher_list.c_str());
  SSL_CTX_load_verify_locations(ctx_, o.ca_file.c_str(), nullptr);
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  if (!o.cert_file.empty()) {
    SSL_CTX_use_certificate_chain_file(ctx_, o.cert_file.c_str());
    SSL_CTX_use_PrivateKey_file(ctx_, o.key_file.c_str(), SSL_FILETYPE_PEM);
  }
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_);
  SSL_set1_host(ssl_, "127.0.0.1");
  if (SSL_connect(ssl_) != 1) {
    error_ = last_ssl_error();
    return;
  }
  ok_ = true;
}

TlsClient::~TlsClient() {
  if (ssl_) SSL_free(ssl_);
  if (ctx_) SSL_CTX_free(ctx_);
  if (fd_ >= 0) close(fd_);
}

std::string TlsClient::protocol() const { return ssl_ ? SSL_get_version(ssl_) : ""; }

std::string TlsClient::server_subject() const {
  if (!ssl_) return {};
  X509* cert = SSL_get1_peer_certificate(ssl_);
  if (!cert) return {};
  char buf[512];
  BIO* bio = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  int n = BIO_read(bio, buf, sizeof buf);
  BIO_free(bio);
  X509_free(cert);
  return n > 0 ? std::string(buf, n) : std::string();
}

bool TlsClient::send_raw(const std::string& bytes) {
  if (!ok_) return false;
  size_t off = 0;
  while (off < bytes.size()) {
    int n = SSL_write(ssl_, bytes.data() + off, static_cast<int>(bytes.size() - off));
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Appends what arrives within timeout_ms; returns bytes read, 0 on close/error, -1 on timeout.
int TlsClient::read_some(std::string& into, int timeout_ms) {
  if (!ok_) return 0;
  if (SSL_pending(ssl_) == 0) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return -1;
  }
  char buf[16384];
  int n = SSL_read(ssl_, buf, sizeof buf);
  if (n <= 0) {
    error_ = last_ssl_error();
    return 0;
  }
  into.append(buf, static_cast<size_t>(n));
  return n;
}

std::string TlsClient::receive_mllp(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto s = buf_.find('\x0b');
    auto e = buf_.find("\x1c\x0d");
    if (s != std::string::npos && e != std::string::npos && e > s) {
      std::string ack = buf_.substr(s + 1, e - s - 1);
      buf_.erase(0, e + 2);
      return ack;
    }
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    if (left <= 0) return "";
    if (read_some(buf_, left) <= 0) return "";
  }
}

HttpResult TlsClient::http(const std::string& method, const std::string& target, const std::string& token,
                           const std::string& body, const std::string& extra_headers) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT")
    req += "Content-Type: application/fhir+json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  req += extra_headers + "\r\n" + body;
  HttpResult r;
  if (!send_raw(req)) return r;
  std::string in;
  size_t header_end;
  while ((header_end = in.find("\r\n\r\n")) == std::string::npos)
    if (read_some(in, 10000) <= 0) return r;
  r.headers = in.substr(0, header_end);
  r.status = std::atoi(r.headers.substr(9, 3).c_str());
  auto header = [&](const std::string& name) -> std::string {
    std::string lower = r.headers;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto p = lower.find("\r\n" + name + ":");
    if (p == std::string::npos) return "";
    auto start = r.headers.find_first_not_of(' ', p + name.size() + 3);
    return r.headers.substr(start, r.headers.find("\r\n", start) - start);
  };
  size_t length = static_cast<size_t>(std::atoll(header("content-length").c_str()));
  r.content_type = header("content-type");
  while (in.size() < header_end + 4 + length)
    if (read_some(in, 10000) <= 0) break;
  r.body = in.substr(header_end + 4);
  return r;
}

}  // namespace cc::test
