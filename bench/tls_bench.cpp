// bench_tls: what TLS costs the engine, measured from a client on loopback. The same code path
// runs plain or over TLS (OpenSSL, blocking sockets, one thread a connection), so the difference
// between the two is the price of TLS.
//
//   bench_tls handshake PORT SECONDS CA [CERT KEY]
//       full TLS handshakes a second (no session resumption), one connection at a time, on two
//       threads; prints: handshakes seconds handshakes_per_s protocol
//   bench_tls mllp PORT FILE CONNECTIONS WINDOW [CA CERT KEY]
//       every message of FILE (one a line, segments ended by \r) over CONNECTIONS connections with
//       WINDOW unanswered on each; prints: sent aa ae ar seconds msg_per_s p50_ms p99_ms
//   bench_tls http PORT TARGET TOKEN REQUESTS CONNECTIONS [CA]
//       REQUESTS GETs of TARGET on keep-alive connections; prints: requests ok seconds req_per_s p50_ms p99_ms
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Tls {
  SSL_CTX* ctx = nullptr;
};

// One connection, plain or TLS.
class Conn {
 public:
  Conn(uint16_t port, SSL_CTX* ctx) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
    if (ctx) {
      ssl_ = SSL_new(ctx);
      SSL_set_fd(ssl_, fd_);
      if (SSL_connect(ssl_) != 1) {
        ERR_print_errors_fp(stderr);
        return;
      }
    }
    ok_ = true;
  }
  ~Conn() {
    if (ssl_) SSL_free(ssl_);
    close(fd_);
  }
  bool ok() const { return ok_; }
  std::string protocol() const { return ssl_ ? SSL_get_version(ssl_) : "plain"; }
  bool write_all(const char* p, size_t n) {
    while (n) {
      int k = ssl_ ? SSL_write(ssl_, p, static_cast<int>(n)) : static_cast<int>(::write(fd_, p, n));
      if (k <= 0) return false;
      p += k;
      n -= static_cast<size_t>(k);
    }
    return true;
  }
  int read_some(char* p, size_t n) {
    return ssl_ ? SSL_read(ssl_, p, static_cast<int>(n)) : static_cast<int>(::read(fd_, p, n));
  }

 private:
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool ok_ = false;
};

SSL_CTX* client_ctx(const char* ca, const char* cert, const char* key) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);  // every handshake a full one
  SSL_CTX_load_verify_locations(ctx, ca, nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (cert && key) {
    SSL_CTX_use_certificate_chain_file(ctx, cert);
    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM);
  }
  return ctx;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1)))];
}

int handshake(int argc, char** argv) {
  uint16_t port = static_cast<uint16_t>(std::atoi(argv[2]));
  double seconds = std::atof(argv[3]);
  SSL_CTX* ctx = client_ctx(argv[4], argc > 6 ? argv[5] : nullptr, argc > 6 ? argv[6] : nullptr);
  std::atomic<long> count{0}, failed{0};
  std::string proto;
  std::mutex mu;
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&] {
      while (since(t0) < seconds) {
        Conn c(port, ctx);
        if (!c.ok()) {
          ++failed;
          continue;
        }
        ++count;
        std::lock_guard lk(mu);
        if (proto.empty()) proto = c.protocol();
      }
    });
  for (auto& t : threads) t.join();
  double el = since(t0);
  std::printf("%ld %.2f %.0f %s%s\n", count.load(), el, count / el, proto.c_str(),
              failed ? (" failed=" + std::to_string(failed.load())).c_str() : "");
  return 0;
}

int mllp(int argc, char** argv) {
  uint16_t port = static_cast<uint16_t>(std::atoi(argv[2]));
  std::ifstream in(argv[3], std::ios::binary);
  std::vector<std::string> msgs;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) msgs.push_back("\x0b" + line + "\x1c\x0d");
  int conns = std::atoi(argv[4]), window = std::atoi(argv[5]);
  SSL_CTX* ctx = argc > 8 ? client_ctx(argv[6], argv[7], argv[8]) : nullptr;
  std::atomic<long> aa{0}, ae{0}, ar{0};
  std::vector<std::vector<double>> lat(conns);
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < conns; ++w)
    threads.emplace_back([&, w] {
      Conn c(port, ctx);
      if (!c.ok()) {
        std::fprintf(stderr, "connection %d failed\n", w);
        return;
      }
      std::vector<size_t> mine;
      for (size_t i = w; i < msgs.size(); i += conns) mine.push_back(i);
      std::vector<Clock::time_point> sent(mine.size());
      size_t next = 0, done = 0;
      std::string buf;
      char chunk[65536];
      while (done < mine.size()) {
        // Fill the window in one write.
        std::string out;
        while (next < mine.size() && next - done < static_cast<size_t>(window)) {
          sent[next] = Clock::now();
          out += msgs[mine[next++]];
        }
        if (!out.empty() && !c.write_all(out.data(), out.size())) return;
        int k = c.read_some(chunk, sizeof chunk);
        if (k <= 0) return;
        buf.append(chunk, static_cast<size_t>(k));
        size_t end;
        while ((end = buf.find("\x1c\x0d")) != std::string::npos) {
          auto msa = buf.find("MSA|");
          std::string code = msa != std::string::npos && msa < end ? buf.substr(msa + 4, 2) : "??";
          (code == "AA" ? aa : code == "AE" ? ae : ar)++;
          lat[w].push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent[done]).count());
          ++done;
          buf.erase(0, end + 2);
        }
      }
    });
  for (auto& t : threads) t.join();
  double el = since(t0);
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  std::printf("%zu %ld %ld %ld %.2f %.0f %.2f %.2f\n", msgs.size(), aa.load(), ae.load(), ar.load(), el,
              (aa + ae + ar) / el, percentile(all, 0.5), percentile(all, 0.99));
  return 0;
}

int http(int argc, char** argv) {
  uint16_t port = static_cast<uint16_t>(std::atoi(argv[2]));
  std::string target = argv[3], token = argv[4];
  long requests = std::atol(argv[5]);
  int conns = std::atoi(argv[6]);
  SSL_CTX* ctx = argc > 7 ? client_ctx(argv[7], nullptr, nullptr) : nullptr;
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token + "\r\n\r\n";
  std::atomic<long> ok{0};
  std::vector<std::vector<double>> lat(conns);
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < conns; ++w)
    threads.emplace_back([&, w] {
      Conn c(port, ctx);
      if (!c.ok()) return;
      char chunk[65536];
      for (long i = w; i < requests; i += conns) {
        auto t = Clock::now();
        if (!c.write_all(req.data(), req.size())) return;
        std::string in;
        size_t header_end = std::string::npos, need = 0;
        for (;;) {
          int k = c.read_some(chunk, sizeof chunk);
          if (k <= 0) return;
          in.append(chunk, static_cast<size_t>(k));
          if (header_end == std::string::npos && (header_end = in.find("\r\n\r\n")) != std::string::npos) {
            auto p = in.find("Content-Length: ");
            if (p == std::string::npos) p = in.find("content-length: ");
            need = header_end + 4 + std::strtoul(in.c_str() + p + 16, nullptr, 10);
          }
          if (header_end != std::string::npos && in.size() >= need) break;
        }
        if (in.compare(0, 12, "HTTP/1.1 200") == 0) ++ok;
        lat[w].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
      }
    });
  for (auto& t : threads) t.join();
  double el = since(t0);
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  std::printf("%zu %ld %.2f %.0f %.2f %.2f\n", all.size(), ok.load(), el, all.size() / el, percentile(all, 0.5),
              percentile(all, 0.99));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "handshake" && argc >= 5) return handshake(argc, argv);
  if (mode == "mllp" && argc >= 6) return mllp(argc, argv);
  if (mode == "http" && argc >= 7) return http(argc, argv);
  std::fprintf(stderr,
               "usage: bench_tls handshake PORT SECONDS CA [CERT KEY]\n"
               "       bench_tls mllp PORT FILE CONNECTIONS WINDOW [CA CERT KEY]\n"
               "       bench_tls http PORT TARGET TOKEN REQUESTS CONNECTIONS [CA]\n");
  return 2;
}
