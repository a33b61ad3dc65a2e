// A fresh directory under /tmp for one test (mkdtemp), removed with everything in it afterwards,
// plus a small helper to wait for a completion called on another thread.
#pragma once
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>

namespace cc::store::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cc-store-test-XXXXXX";
    char* p = ::mkdtemp(tmpl);
    if (!p) throw std::runtime_error("mkdtemp failed");
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Waits (bounded, so a lost completion fails the test instead of hanging it) for a future.
template <class T>
T wait_for(std::future<T>& f, std::chrono::seconds limit = std::chrono::seconds(30)) {
  if (f.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << "completion not called within " << limit.count() << "s";
    throw std::runtime_error("completion timeout");
  }
  return f.get();
}

}  // namespace cc::store::testing
