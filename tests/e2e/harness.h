// End-to-end test harness: starts the real `carerecord serve` on loopback with free ports, and
// talks to it over real sockets (an MLLP client and an HTTP client).
#pragma once
#include <rapidjson/document.h>

#include <functional>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace cc::test {

// A private temporary directory, removed when the object goes.
struct TempDir {
  TempDir();
  ~TempDir();
  std::string path;
};

class EngineProcess {
 public:
  // Starts `carerecord serve --dev --data-dir DIR --mllp-port 0 --http-port 0 [extra...]` (without
  // --dev when `dev` is false) and waits for both listening lines (plain or TLS). Throws
  // std::runtime_error (with the engine's stderr) if it does not start.
  EngineProcess(const std::string& data_dir, std::vector<std::string> extra = {}, bool dev = true);
  ~EngineProcess();
  uint16_t mllp_port() const { return mllp_port_; }
  uint16_t http_port() const { return http_port_; }
  pid_t pid() const { return pid_; }
  bool tls() const { return tls_; }  // the listening lines said mllps / https
  // SIGKILL, no goodbyes.
  void kill_hard();
  // SIGTERM and wait; returns the exit status (or -1).
  int terminate();
  std::string stderr_text() const;

 private:
  pid_t pid_ = -1;
  uint16_t mllp_port_ = 0, http_port_ = 0;
  bool tls_ = false;
  std::string stderr_path_;
};

std::string carerecord_binary();
// Runs a carerecord subcommand and returns its stdout (throws on non-zero exit).
std::string run_carerecord(const std::vector<std::string>& args);

class MllpClient {
 public:
  explicit MllpClient(uint16_t port);
  ~MllpClient();
  void send(const std::string& message);       // framed
  void send_raw(const std::string& bytes);     // as is
  std::string receive(int timeout_ms = 10000); // one ACK, unframed; "" on EOF
  std::string exchange(const std::string& message) {
    send(message);
    return receive();
  }
  bool closed_by_peer(int timeout_ms = 3000);

 private:
  int fd_ = -1;
  std::string buf_;
};

struct HttpResult {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string headers;  // the raw header block (where the client reads it)
};

// Runs `carerecord serve` with these arguments (no listening expected) and returns its exit status
// and stderr: for start-up refusals.
struct RunResult {
  int status = -1;
  std::string err;
};
RunResult run_serve_expecting_exit(const std::vector<std::string>& args, int timeout_s = 30);
HttpResult http_get(uint16_t port, const std::string& target, const std::string& token);
// Any method, e.g. http_request(port, "POST", "/admin/mappings/reload", token).
HttpResult http_request(uint16_t port, const std::string& method, const std::string& target, const std::string& token,
                        const std::string& body = "");
// A JSON body parsed (an empty document when it is not JSON).
rapidjson::Document json(const std::string& body);
// Records an access for the token's user to the patient (POST /fhir/Patient/{id}/$access): by
// default permission to view — the patient agreed, as in A&E — which a reader without a
// relationship needs before reading clinical data. Returns the HTTP status.
int record_access(uint16_t port, const std::string& token, const std::string& patient_id,
                  const std::string& kind = "permission-to-view", const std::string& reason = "");
// Polls GET target until `ready` says the record shows what a feed sent (mapping runs after the
// ACK), up to 30 seconds; returns the last answer either way.
HttpResult get_until(uint16_t port, const std::string& target, const std::string& token,
                     const std::function<bool(const HttpResult&)>& ready);
// A search Bundle's total, or -1 when the answer is not one.
int64_t total_of(const HttpResult& r);

// Runs carerecord with these arguments; the exit status, with stdout and stderr in `output`.
int run_carerecord_status(const std::vector<std::string>& args, std::string& output);

// The field (1-based, MSH-aware) of the first segment named `seg` in an HL7 message.
std::string hl7_field(const std::string& message, const std::string& seg, int field);

}  // namespace cc::test
