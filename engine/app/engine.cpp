// Engine: wires the rooms together for `carerecord serve` — stores, record builder, MLLP and HTTP
// listeners on an io_context thread pool — and shuts them down in order on SIGINT / SIGTERM.
#include "engine/app/engine.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "adapters/hl7v2/mllp_server.h"
#include "engine/api/fhir_api.h"
#include "engine/api/http_server.h"
#include "engine/app/ingest.h"
#include "engine/app/record_builder.h"
#include "engine/core/metrics.h"
#include "engine/governance/disclosure.h"
#include "engine/governance/token.h"
#include "engine/mapping/mapping_set.h"
#include "engine/store/audit_log.h"
#include "engine/store/inbox.h"
#include "engine/store/sqlite_record_store.h"

namespace cc::app {

namespace asio = boost::asio;

int serve(Config config) {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    spdlog::critical("cannot create data directory {}: {}", config.data_dir, ec.message());
    return 1;
  }
  auto key = governance::load_or_create_dev_key(config.data_dir);
  if (!key) {
    spdlog::critical("{}", key.error().message);
    return 1;
  }
  if (config.development) {
    spdlog::warn("*** DEVELOPMENT MODE: bearer tokens signed with the local development key ({}/dev-signing.key) "
                 "are accepted. Never use development mode with real patient data. ***",
                 config.data_dir);
  }
  auto inbox = store::Inbox::open(config.data_dir, config.idempotency_window_seconds * 1000);
  if (!inbox) {
    spdlog::critical("{}", inbox.error().message);
    return 1;
  }
  auto record = store::SqliteRecordStore::open(config.data_dir);
  if (!record) {
    spdlog::critical("{}", record.error().message);
    return 1;
  }
  auto audit = store::AuditLog::open(config.data_dir);
  if (!audit) {
    spdlog::critical("{}", audit.error().message);
    return 1;
  }

  const std::string mappings_dir = config.mappings_dir.empty() ? CC_DEFAULT_MAPPINGS_DIR : config.mappings_dir;
  std::vector<mapping::LoadProblem> problems;
  auto initial_mappings = mapping::MappingSet::load(mappings_dir, problems);
  if (!initial_mappings) {
    for (auto& p : problems) spdlog::critical("mapping {}", p.describe());
    spdlog::critical("the mappings in {} do not load; the engine does not start without them", mappings_dir);
    return 1;
  }
  spdlog::info("mappings: {} file(s) and {} code table(s) from {}", initial_mappings->files().size(),
               initial_mappings->table_count(), mappings_dir);
  mapping::MappingRegistry mappings(mappings_dir, std::move(initial_mappings));

  Metrics metrics;
  RecordBuilder builder(config, mappings, **inbox, **record, metrics);
  // Crash replay: everything acknowledged before a stop is mapped before we listen again.
  auto t0 = std::chrono::steady_clock::now();
  int64_t replayed = builder.catch_up();
  if (replayed > 0) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    spdlog::info("replayed {} inbox messages into the record in {} ms", replayed, ms);
  }
  builder.start();

  asio::io_context io(config.threads);
  Ingest ingest(config, mappings, **inbox, metrics, [&builder] { builder.wake(); });
  // A connection's feed is known only from its messages' MSH-4, so the listener applies the most
  // generous size limit and idle timeout of any feed; each feed's own limit is checked per message.
  hl7v2::MllpOptions mllp_options;
  mllp_options.max_message_bytes = 0;
  mllp_options.idle_timeout_seconds = 1;
  for (auto& f : config.feeds) {
    mllp_options.max_message_bytes = std::max<uint64_t>(mllp_options.max_message_bytes, f.max_message_bytes);
    mllp_options.idle_timeout_seconds = std::max(mllp_options.idle_timeout_seconds, f.idle_timeout_seconds);
  }
  hl7v2::MllpServer mllp(io, ingest, mllp_options);
  governance::DisclosureService disclosure(**record, **audit);
  api::FhirApi fhir_api(disclosure, metrics, api::ApiOptions{*key});
  api::HttpServer http(io, fhir_api);

  metrics.gauge("carerecord_inbox_messages", "messages in the inbox", [&] { return double((*inbox)->last_id()); });
  metrics.gauge("carerecord_mapping_backlog", "inbox messages committed but not yet mapped",
                [&] { return double((*inbox)->last_id() - builder.cursor()); });

  uint16_t mllp_port, http_port;
  try {
    mllp_port = mllp.listen(config.listen_address, static_cast<uint16_t>(config.mllp_port));
    http_port = http.listen(config.listen_address, static_cast<uint16_t>(config.http_port));
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen on {}: {}", config.listen_address, e.what());
    builder.stop();
    return 1;
  }

  asio::signal_set signals(io, SIGINT, SIGTERM);
  auto work = asio::make_work_guard(io);
  std::thread stopper;
  signals.async_wait([&](const boost::system::error_code& e, int sig) {
    if (e) return;
    spdlog::info("signal {}: shutting down (no new connections; messages in flight are finished)", sig);
    ingest.begin_shutdown();
    mllp.stop_accepting();
    http.stop_accepting();
    // Give in-flight messages time to commit and be answered, then close.
    stopper = std::thread([&] {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (ingest.in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      mllp.close_connections();
      http.close_connections();
      auto close_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      while (mllp.connection_count() > 0 && std::chrono::steady_clock::now() < close_deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      work.reset();
      io.stop();
    });
  });

  std::printf("mllp listening on %s:%u\nhttp listening on %s:%u\n", config.listen_address.c_str(), mllp_port,
              config.listen_address.c_str(), http_port);
  std::fflush(stdout);
  spdlog::info("data directory {}; {} feed(s); FHIR at http://{}:{}/fhir", config.data_dir, config.feeds.size(),
               config.listen_address, http_port);

  // An exception escaping a handler is logged and the thread goes back to work: one bad request
  // must not take the feeds down with it.
  auto run_io = [&io] {
    for (;;) {
      try {
        io.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("unexpected error on an I/O thread: {}", e.what());
      }
    }
  };
  std::vector<std::thread> pool;
  for (int i = 1; i < config.threads; ++i) pool.emplace_back(run_io);
  run_io();
  for (auto& t : pool) t.join();
  if (stopper.joinable()) stopper.join();

  (*inbox)->stop();
  builder.stop();
  (*audit)->stop();
  spdlog::info("stopped cleanly; record mapped up to inbox message {}", builder.cursor());
  return 0;
}

}  // namespace cc::app
