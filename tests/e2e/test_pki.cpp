// A throw-away PKI made at run time with OpenSSL: a test CA, server and client certificates
// (EC P-256), valid, expired or from another CA, written as PEM files into a test's directory.
#include "tests/e2e/test_pki.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <stdexcept>

namespace cc::test {
namespace {

EVP_PKEY* new_key() {
  EVP_PKEY* k = EVP_EC_gen("P-256");
  if (!k) throw std::runtime_error("EC key generation failed");
  return k;
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) throw std::runtime_error("bad extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

X509* make_cert(EVP_PKEY* key, const std::string& cn, const std::string& o, X509* issuer, EVP_PKEY* issuer_key,
                long not_before_s, long not_after_s) {
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7F;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert), not_before_s);
  X509_gmtime_adj(X509_getm_notAfter(cert), not_after_s);
  X509_set_pubkey(cert, key);
  // O before CN, as certificates usually are; RFC 2253 prints them the other way round: "CN=...,O=...".
  X509_NAME* name = X509_get_subject_name(cert);
  if (!o.empty())
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(o.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
  return cert;
  (void)issuer_key;
}

void write_pem(const std::string& path, X509* cert) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) throw std::runtime_error("cannot write " + path);
  PEM_write_X509(f, cert);
  std::fclose(f);
}

void write_key(const std::string& path, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) throw std::runtime_error("cannot write " + path);
  chmod(path.c_str(), 0600);
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
}

}  // namespace

TestPki::TestPki(std::string dir, const std::string& ca_name) : dir_(std::move(dir)), ca_name_(ca_name) {
  EVP_PKEY* key = new_key();
  X509* cert = make_cert(key, "Connecting Care Test CA " + ca_name, "Test", nullptr, key, -7200, 10 * 24 * 3600);
  add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
  add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(cert, cert, NID_subject_key_identifier, "hash");
  X509_sign(cert, key, EVP_sha256());
  write_pem(ca_file(), cert);
  write_key(this->key(ca_name_), key);
  ca_key_ = key;
  ca_cert_ = cert;
}

TestPki::~TestPki() {
  EVP_PKEY_free(static_cast<EVP_PKEY*>(ca_key_));
  X509_free(static_cast<X509*>(ca_cert_));
}

void TestPki::issue(const std::string& name, const std::string& cn, const std::string& o, bool server,
                    long not_before_s, long not_after_s) {
  auto* ca_cert = static_cast<X509*>(ca_cert_);
  auto* ca_key = static_cast<EVP_PKEY*>(ca_key_);
  EVP_PKEY* key = new_key();
  X509* cert = make_cert(key, cn, o, ca_cert, ca_key, not_before_s, not_after_s);
  add_ext(cert, ca_cert, NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert, ca_cert, NID_key_usage, "critical,digitalSignature");
  add_ext(cert, ca_cert, NID_authority_key_identifier, "keyid");
  if (server) {
    add_ext(cert, ca_cert, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
    add_ext(cert, ca_cert, NID_ext_key_usage, "serverAuth");
  } else {
    add_ext(cert, ca_cert, NID_ext_key_usage, "clientAuth");
  }
  X509_sign(cert, ca_key, EVP_sha256());
  write_pem(this->cert(name), cert);
  write_key(this->key(name), key);
  X509_free(cert);
  EVP_PKEY_free(key);
}

}  // namespace cc::test
