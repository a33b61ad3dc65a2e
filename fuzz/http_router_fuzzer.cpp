// libFuzzer target: the HTTP request router. Raw bytes go through Beast's request parser, as a
// connection's would (no sockets), and each request parsed from them (up to four, as pipelined on
// one connection) is handed to the real FhirApi over a real SQLite record store and audit log in
// a temporary folder (under /dev/shm when there is one). The first byte chooses whether the target
// puts a valid development token in the request (an A&E clinician's or an integration
// administrator's), so the fuzzer reaches the routes behind authentication. Every request must be
// answered exactly once, with a status from 200 to 599, and a JSON body must be valid JSON (UTF-8).
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http.hpp>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "engine/api/fhir_api.h"
#include "engine/fhir/datetime.h"
#include "engine/governance/disclosure.h"
#include "engine/governance/token_verifier.h"
#include "engine/governance/token.h"
#include "engine/store/audit_log.h"
#include "engine/store/sqlite_record_store.h"

namespace http = boost::beast::http;

namespace {

constexpr std::string_view kKey = "0123456789abcdef0123456789abcdef";
constexpr uint64_t kBodyLimit = 1u << 20;  // as HttpServer's default
constexpr int kMaxRequestsPerInput = 4;
constexpr int kRequestsPerWorld = 20000;   // a fresh store after this many, so the audit log stays small

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "http_router_fuzzer: property broken: %s\n", what.c_str());
  std::abort();
}

std::string temp_root() {
  std::error_code ec;
  return std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm" : std::filesystem::temp_directory_path().string();
}

// A record with one patient (p1), one encounter and one work-list item.
struct World {
  World() {
    std::string tmpl = temp_root() + "/carerecord-fuzz-http-" + std::to_string(getpid()) + "-XXXXXX";
    if (!mkdtemp(tmpl.data())) fail("cannot make a temporary folder");
    dir = tmpl;
    auto opened = cc::store::SqliteRecordStore::open(dir);
    if (!opened) fail("cannot open the record store: " + opened.error().message);
    record = std::move(*opened);
    auto audit_opened = cc::store::AuditLog::open(dir);
    if (!audit_opened) fail("cannot open the audit log: " + audit_opened.error().message);
    audit = std::move(*audit_opened);
    std::vector<cc::store::MappedBatchItem> batch(1);
    batch[0].inbox_id = 1;
    batch[0].outcome = "mapped";
    batch[0].provenance = cc::store::Provenance{"feed", "RBT", "CTL1", 1, 1};
    cc::store::ResourceWrite patient;
    patient.type = "Patient";
    patient.id = "p1";
    patient.resource.Parse(R"({"resourceType":"Patient","id":"p1"})");
    patient.event_time_ms = 1;
    patient.patient_id = "p1";
    patient.identifiers = {{"https://fhir.nhs.uk/Id/nhs-number", "9990000018"}, {"", "M1000001"}};
    batch[0].writes.push_back(std::move(patient));
    cc::store::ResourceWrite encounter;
    encounter.type = "Encounter";
    encounter.id = "e1";
    encounter.resource.Parse(R"({"resourceType":"Encounter","id":"e1","subject":{"reference":"Patient/p1"}})");
    encounter.event_time_ms = 2;
    encounter.patient_id = "p1";
    batch[0].writes.push_back(std::move(encounter));
    batch[0].worklist_add.push_back({0, "no-nhs-number", "p1", 1, "feed", "no NHS number", 0, 0});
    if (auto applied = record->apply(batch); !applied.ok()) fail("cannot seed the record: " + applied.error().message);
    disclosure = std::make_unique<cc::governance::DisclosureService>(*record, *audit);
    tokens = std::make_unique<cc::governance::TokenVerifier>(
        cc::governance::TokenPolicy{true, std::string(kKey), {}},
        [](const std::string&) { return cc::Result<std::string>(cc::make_error("no-fetch", "no identity provider")); });
    cc::api::ApiOptions options;
    options.tokens = tokens.get();
    api = std::make_unique<cc::api::FhirApi>(*disclosure, metrics, options);
    const int64_t now = cc::fhir::now_epoch_ms() / 1000;
    clinician = cc::governance::sign_dev_token({"fuzz.clinician", "ae-clinician", "RBT", "", "DIRECT_CARE"}, kKey, now, 86400);
    admin = cc::governance::sign_dev_token({"fuzz.admin", "integration-admin", "RBT", "", ""}, kKey, now, 86400);
  }
  ~World() {
    api.reset();
    disclosure.reset();
    audit->stop();
    audit.reset();
    record.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string dir;
  std::unique_ptr<cc::store::SqliteRecordStore> record;
  std::unique_ptr<cc::store::AuditLog> audit;
  cc::Metrics metrics;
  std::unique_ptr<cc::governance::DisclosureService> disclosure;
  std::unique_ptr<cc::governance::TokenVerifier> tokens;
  std::unique_ptr<cc::api::FhirApi> api;
  std::string clinician, admin;
  int requests = 0;
};

World* world = nullptr;
const bool show = std::getenv("CC_FUZZ_HTTP_SHOW") != nullptr;  // print each answer (to study an input)
std::string world_dir;  // for the exit handler, which must not touch the world's threads

void remove_world_dir() {
  std::error_code ec;
  if (!world_dir.empty()) std::filesystem::remove_all(world_dir, ec);
}

World& the_world() {
  if (world && world->requests >= kRequestsPerWorld) {
    delete world;
    world = nullptr;
  }
  if (!world) {
    world = new World;
    world_dir = world->dir;
  }
  return *world;
}

// Answers one request through the router and checks the answer.
void route(World& w, cc::api::Request req) {
  struct Answer {
    std::mutex mu;
    std::condition_variable cv;
    int calls = 0;
    cc::api::Response res;
  };
  auto answer = std::make_shared<Answer>();
  ++w.requests;
  w.api->handle(std::move(req), "127.0.0.1:1", [answer](cc::api::Response res) {
    std::lock_guard lk(answer->mu);
    if (++answer->calls == 1) answer->res = std::move(res);
    answer->cv.notify_all();
  });
  std::unique_lock lk(answer->mu);
  if (!answer->cv.wait_for(lk, std::chrono::seconds(20), [&] { return answer->calls > 0; }))
    fail("a request was not answered within 20 s");
  lk.unlock();
  // A second call would come straight after the first from the same thread; give it a moment.
  std::this_thread::yield();
  lk.lock();
  if (answer->calls != 1) fail("a request was answered more than once");
  const unsigned status = answer->res.result_int();
  if (show) std::fprintf(stderr, "%u %.200s\n", status, answer->res.body().c_str());
  if (status < 200 || status > 599) fail("status " + std::to_string(status) + " out of range");
  const auto type = answer->res[http::field::content_type];
  if (type.find("json") != std::string_view::npos) {
    rapidjson::Document doc;
    const std::string& body = answer->res.body();
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
    if (doc.HasParseError())
      fail("a JSON response (status " + std::to_string(status) + ") is not valid JSON: " +
           rapidjson::GetParseError_En(doc.GetParseError()) + " at " + std::to_string(doc.GetErrorOffset()) +
           " in " + body.substr(0, 300));
  }
}

// A run stopped by a crash leaves its folder behind (the exit handler does not run): remove the
// folders of processes that are gone.
void remove_stale_world_dirs() {
  std::error_code ec;
  const std::string prefix = "carerecord-fuzz-http-";
  for (const auto& entry : std::filesystem::directory_iterator(temp_root(), ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string pid = name.substr(prefix.size(), name.find('-', prefix.size()) - prefix.size());
    if (!pid.empty() && !std::filesystem::exists("/proc/" + pid, ec)) std::filesystem::remove_all(entry.path(), ec);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  remove_stale_world_dirs();
  std::atexit(remove_world_dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  boost::asio::const_buffer input(data + 1, size - 1);
  World& w = the_world();
  for (int n = 0; n < kMaxRequestsPerInput && input.size() > 0; ++n) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kBodyLimit);
    parser.eager(true);
    boost::beast::error_code ec;
    // One put() takes all it can (eager); need_more then means the input holds no whole request,
    // and the connection closes there. Beast's contract is to call put() again only with more
    // data than before, as http::async_read does: calling it with the same bytes trips its
    // assertions (parse_chunk_header's n >= 5), a fault of an earlier version of this target.
    const size_t used = parser.put(input, ec);
    input += used;
    if (ec == http::error::need_more) parser.put_eof(ec);
    if (ec || !parser.is_done()) return 0;  // the server answers 413 or closes; nothing is routed
    cc::api::Request req = parser.release();
    if (flags & 1) req.set(http::field::authorization, "Bearer " + ((flags & 2) ? w.admin : w.clinician));
    route(w, std::move(req));
  }
  return 0;
}
