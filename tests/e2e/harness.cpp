// End-to-end test harness: starts the real `carerecord serve` on loopback with free ports, and
// talks to it over real sockets (an MLLP client and an HTTP client).
#include "tests/e2e/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace cc::test {

TempDir::TempDir() {
  char tmpl[] = "/tmp/carerecord-test-XXXXXX";
  path = mkdtemp(tmpl);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

std::string carerecord_binary() { return std::string(CC_BINARY_DIR) + "/engine/app/carerecord"; }

EngineProcess::EngineProcess(const std::string& data_dir, std::vector<std::string> extra, bool dev) {
  stderr_path_ = data_dir + ".stderr";
  int out[2];
  if (pipe(out) != 0) throw std::runtime_error("pipe failed");
  std::vector<std::string> args{carerecord_binary(), "serve", "--data-dir", data_dir, "--mllp-port", "0",
                                "--http-port", "0"};
  if (dev) args.insert(args.begin() + 2, "--dev");
  args.insert(args.end(), extra.begin(), extra.end());
  pid_ = fork();
  if (pid_ == 0) {
    // A test that crashes takes its engine with it, rather than leaving it listening.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(out[1], 1);
    int err = open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(err, 2);
    close(out[0]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  std::string text;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!(mllp_port_ && http_port_)) {
    pollfd p{out[0], POLLIN, 0};
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now()).count());
    if (left <= 0 || poll(&p, 1, left) <= 0) break;
    char buf[512];
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, n);
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      auto colon = line.rfind(':');
      if (line.rfind("mllp listening on ", 0) == 0) mllp_port_ = static_cast<uint16_t>(std::stoi(line.substr(colon + 1)));
      if (line.rfind("http listening on ", 0) == 0) http_port_ = static_cast<uint16_t>(std::stoi(line.substr(colon + 1)));
      if (line.rfind("mllps listening on ", 0) == 0) {
        mllp_port_ = static_cast<uint16_t>(std::stoi(line.substr(colon + 1)));
        tls_ = true;
      }
      if (line.rfind("https listening on ", 0) == 0) {
        http_port_ = static_cast<uint16_t>(std::stoi(line.substr(colon + 1)));
        tls_ = true;
      }
    }
  }
  close(out[0]);
  if (!(mllp_port_ && http_port_)) {
    kill_hard();
    throw std::runtime_error("carerecord did not start: " + stderr_text());
  }
}

EngineProcess::~EngineProcess() {
  if (pid_ > 0) kill_hard();
}

void EngineProcess::kill_hard() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int st;
  waitpid(pid_, &st, 0);
  pid_ = -1;
}

int EngineProcess::terminate() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int st = 0;
  waitpid(pid_, &st, 0);
  pid_ = -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string EngineProcess::stderr_text() const {
  std::ifstream in(stderr_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

RunResult run_serve_expecting_exit(const std::vector<std::string>& args, int timeout_s) {
  TempDir scratch;
  std::string err_path = scratch.path + "/stderr";
  std::vector<std::string> argv_s{carerecord_binary(), "serve"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(err, 2);
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  RunResult r;
  int st = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  for (;;) {
    pid_t w = waitpid(pid, &st, WNOHANG);
    if (w == pid) {
      r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      r.status = -2;  // still running: it did not refuse
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::ifstream in(err_path);
  std::stringstream ss;
  ss << in.rdbuf();
  r.err = ss.str();
  return r;
}

std::string run_carerecord(const std::vector<std::string>& args) {
  std::string cmd = carerecord_binary();
  for (auto& a : args) cmd += " '" + a + "'";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = pclose(p);
  if (st != 0) throw std::runtime_error(cmd + " failed: " + out);
  return out;
}

MllpClient::MllpClient(uint16_t port) {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    throw std::runtime_error("cannot connect to MLLP port " + std::to_string(port));
}

MllpClient::~MllpClient() {
  if (fd_ >= 0) close(fd_);
}

void MllpClient::send_raw(const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error("send failed");
    off += static_cast<size_t>(n);
  }
}

void MllpClient::send(const std::string& message) { send_raw("\x0b" + message + "\x1c\x0d"); }

std::string MllpClient::receive(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto s = buf_.find('\x0b');
    auto e = buf_.find("\x1c\x0d");
    if (s != std::string::npos && e != std::string::npos && e > s) {
      std::string ack = buf_.substr(s + 1, e - s - 1);
      buf_.erase(0, e + 2);
      return ack;
    }
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now()).count());
    pollfd p{fd_, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, left) <= 0) throw std::runtime_error("no ACK within the timeout");
    char buf[65536];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return "";
    buf_.append(buf, n);
  }
}

bool MllpClient::closed_by_peer(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return false;
  char c;
  return recv(fd_, &c, 1, MSG_PEEK) == 0;
}

HttpResult http_get(uint16_t port, const std::string& target, const std::string& token) {
  return http_request(port, "GET", target, token);
}

int run_carerecord_status(const std::vector<std::string>& args, std::string& output) {
  std::string cmd = carerecord_binary();
  for (auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed");
  output.clear();
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

HttpResult http_request(uint16_t port, const std::string& method, const std::string& target, const std::string& token,
                        const std::string& body) {
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  asio::io_context io;
  boost::beast::tcp_stream stream(io);
  stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  http::write(stream, req);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  boost::beast::error_code ec;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  HttpResult r{static_cast<int>(res.result_int()), res.body(), std::string(res[http::field::content_type]), {}};
  for (auto& f : res) r.headers += std::string(f.name_string()) + ": " + std::string(f.value()) + "\r\n";
  return r;
}

rapidjson::Document json(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str());
  return d;
}

HttpResult get_until(uint16_t port, const std::string& target, const std::string& token,
                     const std::function<bool(const HttpResult&)>& ready) {
  // Up to 30 s: on a loaded 2-core machine (a build beside the tests) a 4,500-row extract mapped
  // twice took longer than the 10 s this once allowed. A test that passes never waits that long.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  HttpResult r;
  for (;;) {
    r = http_get(port, target, token);
    if (ready(r) || std::chrono::steady_clock::now() >= deadline) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
}

int64_t total_of(const HttpResult& r) {
  auto d = json(r.body);
  return d.IsObject() && d.HasMember("total") && d["total"].IsInt64() ? d["total"].GetInt64() : -1;
}

std::string hl7_field(const std::string& message, const std::string& seg, int field) {
  std::istringstream in(message);
  std::string line;
  while (std::getline(in, line, '\r')) {
    if (line.rfind(seg, 0) != 0) continue;
    std::vector<std::string> parts;
    size_t start = 0, bar;
    while ((bar = line.find('|', start)) != std::string::npos) {
      parts.push_back(line.substr(start, bar - start));
      start = bar + 1;
    }
    parts.push_back(line.substr(start));
    // MSH-1 is the separator itself, so MSH-n is parts[n-1]; other segments' n is parts[n].
    size_t idx = seg == "MSH" ? static_cast<size_t>(field - 1) : static_cast<size_t>(field);
    if (seg == "MSH" && field == 1) return "|";
    return idx < parts.size() ? parts[idx] : "";
  }
  return "";
}

int record_access(uint16_t port, const std::string& token, const std::string& patient_id, const std::string& kind,
                  const std::string& reason) {
  std::string id = patient_id.rfind("Patient/", 0) == 0 ? patient_id.substr(8) : patient_id;
  std::string body = R"({"resourceType":"Parameters","parameter":[{"name":"kind","valueCode":")" + kind + R"("})";
  if (!reason.empty()) body += R"(,{"name":"reason","valueString":")" + reason + R"("})";
  body += "]}";
  return http_request(port, "POST", "/fhir/Patient/" + id + "/$access", token, body).status;
}

}  // namespace cc::test
