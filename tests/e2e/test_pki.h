// A throw-away PKI made at run time with OpenSSL: a test CA, server and client certificates
// (EC P-256), valid, expired or from another CA, written as PEM files into a test's directory.
#pragma once
#include <string>

namespace cc::test {

class TestPki {
 public:
  // Makes the CA "Connecting Care Test CA" in `dir` (ca.pem, ca.key).
  explicit TestPki(std::string dir, const std::string& ca_name = "ca");
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  // Issues NAME.pem / NAME.key (mode 0600) signed by this CA, subject "CN=<cn>[,O=<o>]" valid from
  // now + not_before_s to now + not_after_s. `server`: SAN 127.0.0.1 and localhost, serverAuth.
  void issue(const std::string& name, const std::string& cn, const std::string& o, bool server,
             long not_before_s = -3600, long not_after_s = 24 * 3600);
  std::string cert(const std::string& name) const { return dir_ + "/" + name + ".pem"; }
  std::string key(const std::string& name) const { return dir_ + "/" + name + ".key"; }
  std::string ca_file() const { return cert(ca_name_); }

 private:
  std::string dir_;
  std::string ca_name_;
  void* ca_key_ = nullptr;   // EVP_PKEY*
  void* ca_cert_ = nullptr;  // X509*
};

}  // namespace cc::test
