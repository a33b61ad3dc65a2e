// TLS for the listeners: server contexts (TLS 1.2 ECDHE+AEAD and TLS 1.3 only) built from PEM files,
// reloaded without a restart, optional client-certificate verification; private-key permission check.
#pragma once
#include <openssl/ssl.h>
#include <sys/stat.h>

#include <boost/asio/ssl.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "engine/core/result.h"

namespace cc {

// Refuses a private key file that its group or other users can read, write or execute (error code
// "key-permissions"), or that cannot be examined ("key-unreadable").
Status check_private_key_file(const std::string& path);

struct TlsFiles {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // empty: no client certificates asked for
  int reload_check_seconds = 10;
};

// Owns the current server contexts. A connection takes the context current when it is accepted
// and keeps it alive (shared_ptr) for its lifetime; a reload affects only later connections.
class TlsContexts {
 public:
  // Loads and checks the files; fails with a sentence naming the file and the problem.
  static Result<std::shared_ptr<TlsContexts>> load(TlsFiles files);

  // The context for a new connection. `client_certificates`: require and verify a client
  // certificate (the MLLP listener with a client CA). Checks the files' modification times at most
  // every reload_check_seconds and reloads when they changed.
  std::shared_ptr<boost::asio::ssl::context> server(bool client_certificates);
  bool has_client_ca() const { return !files_.client_ca_file.empty(); }

  // Re-reads the files now (SIGHUP). On failure the previous contexts stay in use.
  Status reload();

 private:
  explicit TlsContexts(TlsFiles files) : files_(std::move(files)) {}
  Status build();
  std::string fingerprint() const;  // the files' mtimes, sizes and inodes

  TlsFiles files_;
  std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> plain_, mutual_;
  std::string loaded_fingerprint_;
  std::chrono::steady_clock::time_point last_check_;
};

// The subject of the peer's certificate in RFC 2253 form ("CN=pas.rbt.example,O=RBT"), or "" when
// the peer sent none.
std::string peer_certificate_subject(SSL* ssl);

}  // namespace cc
