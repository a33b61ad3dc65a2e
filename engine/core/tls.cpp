// TLS for the listeners: server contexts (TLS 1.2 ECDHE+AEAD and TLS 1.3 only) built from PEM files,
// reloaded without a restart, optional client-certificate verification; private-key permission check.
#include "engine/core/tls.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

namespace cc {

namespace ssl = boost::asio::ssl;

namespace {

// TLS 1.2: forward secrecy (ECDHE) and AEAD only. TLS 1.3: its three standard AEAD suites.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kTls13Suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

std::string openssl_reason() {
  unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (!e) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

Result<std::shared_ptr<ssl::context>> make_context(const TlsFiles& f, bool client_certificates) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* h = ctx->native_handle();
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                   ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(h, TLS1_2_VERSION);
  SSL_CTX_set_options(h, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_set_cipher_list(h, kTls12Ciphers) != 1 || SSL_CTX_set_ciphersuites(h, kTls13Suites) != 1)
    return make_error("tls-config", "OpenSSL refused the cipher list: " + openssl_reason());
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(f.cert_file, ec);
  if (ec)
    return make_error("tls-cert", "Cannot use the TLS certificate " + f.cert_file + " (" + openssl_reason() +
                                      "); it must be a PEM certificate chain, leaf first.");
  ctx->use_private_key_file(f.key_file, ssl::context::pem, ec);
  if (ec)
    return make_error("tls-key", "Cannot use the TLS private key " + f.key_file + " (" + openssl_reason() +
                                     "); it must be an unencrypted PEM private key.");
  if (SSL_CTX_check_private_key(h) != 1)
    return make_error("tls-key", "The TLS private key " + f.key_file + " does not belong to the certificate " +
                                     f.cert_file + ".");
  // Session resumption stays within this engine; a fixed id context lets it work with client certs.
  static const unsigned char kSessionContext[] = "carerecord";
  SSL_CTX_set_session_id_context(h, kSessionContext, sizeof kSessionContext - 1);
  if (client_certificates) {
    ctx->load_verify_file(f.client_ca_file, ec);
    if (ec)
      return make_error("tls-client-ca", "Cannot read the client CA file " + f.client_ca_file + " (" +
                                             openssl_reason() + "); it must hold PEM CA certificates.");
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(f.client_ca_file.c_str()))
      SSL_CTX_set_client_CA_list(h, names);
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  } else {
    ctx->set_verify_mode(ssl::verify_none);
  }
  return ctx;
}

}  // namespace

Status check_private_key_file(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    return make_error("key-unreadable", "Cannot examine the private key file " + path + " (" +
                                            std::strerror(errno) + ").");
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return make_error("key-permissions", "The private key file " + path + " has mode " + mode +
                                             ", so other users may read it; the engine refuses it. Make it "
                                             "readable by the engine's user only: chmod 600 " + path + ".");
  }
  return {};
}

Result<std::shared_ptr<TlsContexts>> TlsContexts::load(TlsFiles files) {
  std::shared_ptr<TlsContexts> t(new TlsContexts(std::move(files)));
  if (auto st = t->build(); !st) return st.error();
  return t;
}

std::string TlsContexts::fingerprint() const {
  std::string out;
  for (auto* p : {&files_.cert_file, &files_.key_file, &files_.client_ca_file}) {
    struct stat st {};
    if (p->empty() || stat(p->c_str(), &st) != 0) {
      out += "-;";
      continue;
    }
    out += std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) +
           "." + std::to_string(st.st_mtim.tv_nsec) + ";";
  }
  return out;
}

Status TlsContexts::build() {
  std::string fp = fingerprint();
  if (auto st = check_private_key_file(files_.key_file); !st) return st;
  auto plain = make_context(files_, false);
  if (!plain) return plain.error();
  std::shared_ptr<ssl::context> mutual;
  if (!files_.client_ca_file.empty()) {
    auto m = make_context(files_, true);
    if (!m) return m.error();
    mutual = *m;
  }
  std::lock_guard lk(mu_);
  plain_ = *plain;
  mutual_ = mutual;
  loaded_fingerprint_ = fp;
  last_check_ = std::chrono::steady_clock::now();
  return {};
}

Status TlsContexts::reload() {
  auto st = build();
  if (st)
    spdlog::info("TLS certificate and key reloaded from {} and {}", files_.cert_file, files_.key_file);
  else
    spdlog::error("TLS reload failed, the previous certificate stays in use: {}", st.error().message);
  return st;
}

std::shared_ptr<ssl::context> TlsContexts::server(bool client_certificates) {
  bool changed = false;
  {
    std::lock_guard lk(mu_);
    auto now = std::chrono::steady_clock::now();
    if (now - last_check_ >= std::chrono::seconds(files_.reload_check_seconds)) {
      last_check_ = now;
      changed = fingerprint() != loaded_fingerprint_;
    }
  }
  if (changed) {
    // A failed reload keeps the old contexts; remember the new fingerprint so we do not retry on
    // every connection (the next change, or SIGHUP, tries again).
    if (!reload()) {
      std::lock_guard lk(mu_);
      loaded_fingerprint_ = fingerprint();
    }
  }
  std::lock_guard lk(mu_);
  return client_certificates && mutual_ ? mutual_ : plain_;
}

std::string peer_certificate_subject(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return {};
  std::string out;
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    if (n > 0) out.assign(data, static_cast<size_t>(n));
    BIO_free(bio);
  }
  X509_free(cert);
  return out;
}

}  // namespace cc
