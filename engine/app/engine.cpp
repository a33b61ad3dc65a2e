// Engine: wires the rooms together for `carerecord serve` — stores, record builder, MLLP and HTTP
// listeners on an io_context thread pool — and shuts them down in order on SIGINT / SIGTERM.
#include "engine/app/engine.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <set>
#include <thread>

#include "adapters/hl7v2/mllp_server.h"
#include "engine/api/fhir_api.h"
#include "engine/api/http_server.h"
#include "engine/app/ingest.h"
#include "engine/app/record_builder.h"
#include "engine/core/metrics.h"
#include "engine/core/outbound_http.h"
#include "engine/core/tls.h"
#include "engine/governance/disclosure.h"
#include "engine/governance/token.h"
#include "engine/governance/token_verifier.h"
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
  if (auto st = config.check(); !st) {
    spdlog::critical("{}", st.error().message);
    return 2;
  }
  // Development tokens: the key is read (or made) only in development mode.
  governance::TokenPolicy token_policy;
  token_policy.development = config.development;
  token_policy.oidc = config.oidc;
  if (config.development) {
    auto key = governance::load_or_create_dev_key(config.data_dir);
    if (!key) {
      spdlog::critical("{}", key.error().message);
      return 1;
    }
    token_policy.dev_key = *key;
    for (int i = 0; i < 3; ++i)
      spdlog::warn("*** DEVELOPMENT MODE: bearer tokens signed with the local development key ({}/dev-signing.key) "
                   "are accepted from anyone who can run `carerecord token`. Never use development mode with real "
                   "patient data. ***",
                   config.data_dir);
  }
  std::shared_ptr<TlsContexts> tls;
  if (config.tls.enabled()) {
    auto loaded = TlsContexts::load(TlsFiles{config.tls.cert_file, config.tls.key_file, config.tls.client_ca_file,
                                             config.tls.reload_check_seconds});
    if (!loaded) {
      spdlog::critical("{}", loaded.error().message);
      return 1;
    }
    tls = *loaded;
  } else {
    spdlog::warn("TLS is off: MLLP and HTTP are plaintext. Give --tls-cert and --tls-key (or \"tls\" in the "
                 "configuration) before carrying real patient data over a network.");
  }
  governance::TokenVerifier tokens(token_policy, [](const std::string& url) { return fetch_url(url); });
  if (config.oidc.enabled()) {
    spdlog::info("OpenID Connect: issuer {}, audience {}, keys from {}", config.oidc.issuer, config.oidc.audience,
                 config.oidc.jwks_url);
    if (!tokens.refresh())
      spdlog::error("the identity provider's keys could not be fetched at start-up; tokens are refused until they "
                    "can be (retried on the next token with an unknown key and every {} s)",
                    config.oidc.jwks_refresh_seconds);
    tokens.start_refresh_thread();
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

  Metrics metrics;
  RecordBuilder builder(config, **inbox, **record, metrics);
  // Crash replay: everything acknowledged before a stop is mapped before we listen again.
  auto t0 = std::chrono::steady_clock::now();
  int64_t replayed = builder.catch_up();
  if (replayed > 0) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    spdlog::info("replayed {} inbox messages into the record in {} ms", replayed, ms);
  }
  builder.start();

  asio::io_context io(config.threads);
  Ingest ingest(config, **inbox, metrics, [&builder] { builder.wake(); });
  // A connection's feed is known only from its messages' MSH-4, so the listener applies the most
  // generous size limit and idle timeout of any feed; each feed's own limit is checked per message.
  hl7v2::MllpOptions mllp_options;
  mllp_options.max_message_bytes = 0;
  mllp_options.idle_timeout_seconds = 1;
  for (auto& f : config.feeds) {
    mllp_options.max_message_bytes = std::max<uint64_t>(mllp_options.max_message_bytes, f.max_message_bytes);
    mllp_options.idle_timeout_seconds = std::max(mllp_options.idle_timeout_seconds, f.idle_timeout_seconds);
  }
  mllp_options.frame_timeout_seconds = config.limits.mllp_frame_timeout_seconds;
  mllp_options.handshake_timeout_seconds = config.limits.handshake_timeout_seconds;
  mllp_options.max_connections_per_peer = config.limits.max_connections_per_peer;
  mllp_options.tls = tls;
  if (tls && tls->has_client_ca()) {
    // Mutual TLS: a connection whose certificate subject no feed is bound to, while every feed is
    // bound to one, is refused before any message is read. Each message's own feed is checked
    // against the subject again in Ingest.
    bool any_unbound = false;
    std::set<std::string> subjects;
    for (auto& f : config.feeds) {
      if (f.client_certificate_subject.empty()) any_unbound = true;
      else subjects.insert(f.client_certificate_subject);
    }
    if (!any_unbound)
      mllp_options.accept_client_subject = [subjects](const std::string& s) { return subjects.count(s) > 0; };
  }
  hl7v2::MllpServer mllp(io, ingest, mllp_options);
  governance::DisclosureService disclosure(**record, **audit);
  api::ApiOptions api_options;
  api_options.tokens = &tokens;
  api_options.requests_per_minute_per_user = config.limits.requests_per_minute_per_user;
  api_options.request_burst_per_user = config.limits.request_burst_per_user;
  api::FhirApi fhir_api(disclosure, metrics, api_options);
  api::HttpOptions http_options;
  http_options.body_limit = config.limits.http_max_body_bytes;
  http_options.header_limit = config.limits.http_max_header_bytes;
  http_options.read_timeout_seconds = config.limits.http_read_timeout_seconds;
  http_options.handshake_timeout_seconds = config.limits.handshake_timeout_seconds;
  http_options.max_connections_per_peer = config.limits.max_connections_per_peer;
  http_options.allowed_origins = config.limits.allowed_origins;
  http_options.tls = tls;
  api::HttpServer http(io, fhir_api, http_options);

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

  // SIGHUP: re-read the TLS certificate and key (they are also re-read when their files change).
  asio::signal_set hangup(io, SIGHUP);
  std::function<void()> wait_hangup = [&] {
    hangup.async_wait([&](const boost::system::error_code& e, int) {
      if (e) return;
      if (tls) (void)tls->reload();
      else spdlog::info("SIGHUP: TLS is off, nothing to reload");
      wait_hangup();
    });
  };
  wait_hangup();

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

  const char* mllp_name = tls ? "mllps" : "mllp";
  const char* http_name = tls ? "https" : "http";
  std::printf("%s listening on %s:%u\n%s listening on %s:%u\n", mllp_name, config.listen_address.c_str(), mllp_port,
              http_name, config.listen_address.c_str(), http_port);
  std::fflush(stdout);
  spdlog::info("data directory {}; {} feed(s); FHIR at {}://{}:{}/fhir{}", config.data_dir, config.feeds.size(),
               http_name, config.listen_address, http_port,
               tls && tls->has_client_ca() ? "; MLLP clients must present a certificate (mutual TLS)" : "");

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
