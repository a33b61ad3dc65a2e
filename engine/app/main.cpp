// carerecord: the engine's command line — serve, token, worklist, audit, identity, mappings, remap,
// demo-feed.
// Flags follow the outside contract in the design notes.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "engine/app/demo_feed.h"
#include "engine/app/engine.h"
#include "engine/core/config.h"
#include "engine/fhir/datetime.h"
#include "engine/governance/ig_reports.h"
#include "engine/governance/token.h"
#include "engine/mapping/mapping_set.h"
#include "engine/store/audit_log.h"
#include "engine/store/sqlite_record_store.h"

int main(int argc, char** argv) {
  // glibc gives memory freed at the top of a heap back to the kernel at once (past 128 KiB) and
  // serves large blocks with fresh mappings: the record builder, building and freeing a batch of
  // JSON documents at a time, then spent about a sixth of its time faulting in zeroed pages. Keep
  // up to 256 MiB of freed memory for reuse, and serve blocks under 32 MiB from the heap.
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_TOP_PAD, 16 << 20);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  // Logs go to stderr; stdout carries only what scripts read (listening lines, a token, reports).
  spdlog::set_default_logger(spdlog::stderr_color_mt("carerecord"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  CLI::App app{"Connecting Care: HL7 v2 / FHIR integration engine and shared care record"};
  app.require_subcommand(1);

  // serve
  auto* serve = app.add_subcommand("serve", "Run the engine (MLLP and HTTP listeners)");
  std::string config_path, data_dir, listen;
  int mllp_port = -1, http_port = -1, threads = 0;
  bool dev = false;
  serve->add_option("--config", config_path, "Configuration file (JSON, schemas/config.schema.json)")->check(CLI::ExistingFile);
  serve->add_option("--data-dir", data_dir, "Data directory (inbox, record, audit, development key)");
  serve->add_option("--mllp-port", mllp_port, "MLLP port (0: any free port)")->check(CLI::Range(0, 65535));
  serve->add_option("--http-port", http_port, "HTTP port (0: any free port)")->check(CLI::Range(0, 65535));
  serve->add_option("--listen", listen, "Address to bind (default 127.0.0.1, loopback only)");
  serve->add_option("--threads", threads, "I/O threads")->check(CLI::Range(1, 64));
  serve->add_flag("--dev", dev, "Development mode: accept `carerecord token` tokens");
  std::string mappings_dir;
  serve->add_option("--mappings", mappings_dir, "Directory of mapping files (default: the configuration's, else the built-in mappings/)")
      ->check(CLI::ExistingDirectory);
  std::string tls_cert, tls_key, tls_client_ca, oidc_issuer, oidc_audience, jwks_url;
  serve->add_option("--tls-cert", tls_cert, "TLS certificate chain (PEM): HTTPS and MLLP over TLS, no plaintext")
      ->check(CLI::ExistingFile);
  serve->add_option("--tls-key", tls_key, "TLS private key (PEM; must not be group- or world-readable)")
      ->check(CLI::ExistingFile);
  serve->add_option("--tls-client-ca", tls_client_ca, "CA certificate(s) (PEM) MLLP clients must present a certificate from")
      ->check(CLI::ExistingFile);
  serve->add_option("--oidc-issuer", oidc_issuer, "OpenID Connect issuer (the tokens' iss)");
  serve->add_option("--oidc-audience", oidc_audience, "OpenID Connect audience this engine accepts (aud)");
  serve->add_option("--jwks-url", jwks_url, "The identity provider's JWKS URL (https; http only to loopback)");

  // token
  auto* token = app.add_subcommand("token", "Print a development bearer token");
  std::string role, user, org, rbac_role, purpose = "DIRECT_CARE", token_dir = "./data";
  int64_t ttl = 8 * 3600;
  token->add_option("--role", role, "Role, e.g. ae-clinician, integration-admin")->required();
  token->add_option("--user", user, "User id")->required();
  token->add_option("--org", org, "Organisation ODS code")->required();
  token->add_option("--rbac-role", rbac_role, "National RBAC job role code (default: R8000 for a clinical role)");
  token->add_option("--purpose", purpose, "Purpose of use");
  token->add_option("--data-dir", token_dir, "Data directory holding the development key");
  token->add_option("--ttl", ttl, "Lifetime in seconds")->check(CLI::Range(1, 7 * 24 * 3600));

  // worklist
  auto* worklist = app.add_subcommand("worklist", "List the data-quality work-list (messages needing a person)");
  std::string wl_dir = "./data";
  bool wl_all = false;
  worklist->add_option("--data-dir", wl_dir, "Data directory");
  worklist->add_flag("--all", wl_all, "Include resolved items");

  // audit list
  auto* audit = app.add_subcommand("audit", "Read the disclosure audit trail");
  audit->require_subcommand(1);
  auto* audit_list = audit->add_subcommand("list", "Print the newest audit entries");
  std::string audit_dir = "./data";
  int64_t audit_limit = 100;
  audit_list->add_option("--data-dir", audit_dir, "Data directory");
  audit_list->add_option("--limit", audit_limit, "How many entries")->check(CLI::Range(1, 1000000));
  auto* audit_verify = audit->add_subcommand("verify", "Prove the audit trail's hash chain and signed checkpoints");
  std::string verify_dir = "./data";
  audit_verify->add_option("--data-dir", verify_dir, "Data directory");
  std::string verify_key;
  audit_verify->add_option("--public-key", verify_key,
                           "The checkpoint key's public half (DIR/audit-signing.pub, copied somewhere safe)")
      ->check(CLI::ExistingFile);

  // mappings check
  auto* mappings = app.add_subcommand("mappings", "Mapping files");
  mappings->require_subcommand(1);
  auto* mappings_check = mappings->add_subcommand("check", "Load a directory of mapping files as `serve` would and report every problem");
  std::string check_dir = CC_DEFAULT_MAPPINGS_DIR;
  mappings_check->add_option("dir", check_dir, "Directory of mapping files (tables/ beside them)");

  // remap
  auto* remap = app.add_subcommand("remap", "Run stored messages through the mappings again (engine stopped)");
  std::string remap_config, remap_dir = "./data", remap_feed, remap_since;
  remap->add_option("--config", remap_config, "Configuration file (feeds' identifier systems)")->check(CLI::ExistingFile);
  remap->add_option("--data-dir", remap_dir, "Data directory");
  remap->add_option("--feed", remap_feed, "Only this feed's messages (default: every feed)");
  remap->add_option("--since", remap_since, "Only messages received at or after this time (HL7 20240316 or 20240316093000+0000)")
      ->required();
  remap->add_option("--mappings", mappings_dir, "Directory of mapping files")->check(CLI::ExistingDirectory);

  // identity: the matching work-list and its decisions, with the engine stopped
  auto* identity = app.add_subcommand("identity", "The identity work-list and its decisions (engine stopped)");
  identity->require_subcommand(1);
  std::string id_dir = "./data", id_registration, id_patient, id_reason, id_action;
  for (const char* name : {"worklist", "link", "new", "reject", "unmerge"}) {
    auto* sub = identity->add_subcommand(name, std::string(name) == "worklist"
                                                   ? "List registrations waiting for a person, with scored candidates"
                                                   : std::string("Decide: ") + name);
    sub->add_option("--data-dir", id_dir, "Data directory");
    if (std::string(name) != "worklist") {
      sub->add_option("--registration", id_registration, "The registration (Patient/ID or ID)")->required();
      if (std::string(name) == "link")
        sub->add_option("--patient", id_patient, "The patient to link it to (Patient/ID or ID)")->required();
      sub->add_option("--reason", id_reason, "Why (kept on the audit trail and in the identity history)")->required();
    }
    sub->callback([&id_action, name] { id_action = name; });
  }

  // demo-feed
  auto* demo = app.add_subcommand("demo-feed", "Stream a synthetic hospital ADT feed over MLLP, or write it to a file");
  int demo_port = 0, demo_patients = 200, demo_messages = 1000, demo_window = 1;
  double demo_rate = 0;
  uint32_t demo_seed = 1, demo_patient_seed = 0;
  bool demo_preload = false;
  std::string demo_host = "127.0.0.1", demo_write;
  demo->add_option("--mllp-port", demo_port, "Engine MLLP port to send to");
  demo->add_option("--host", demo_host, "Engine address");
  demo->add_option("--patients", demo_patients, "Number of patients")->check(CLI::Range(1, 10000000));
  demo->add_option("--messages", demo_messages, "Number of messages")->check(CLI::Range(1, 100000000));
  demo->add_option("--rate", demo_rate, "Messages a second (0: as fast as ACKs allow)");
  demo->add_option("--window", demo_window, "Messages in flight")->check(CLI::Range(1, 1024));
  demo->add_option("--seed", demo_seed, "Random seed (a different seed gives different control ids)");
  demo->add_option("--patient-seed", demo_patient_seed,
                   "Seed for the patients' demographics (default: --seed); keep it fixed to describe the same "
                   "people across runs");
  demo->add_flag("--preload", demo_preload,
                 "Instead of the event stream, one A28 (add person) per patient (--messages is ignored)");
  bool demo_oru = false;
  demo->add_flag("--oru", demo_oru, "Instead of ADT, laboratory results: ORU^R01 with ten OBX each");
  demo->add_option("--write", demo_write, "Write the messages to FILE (one a line, for mllpload) instead of sending");

  CLI11_PARSE(app, argc, argv);

  if (*serve) {
    cc::Config config = cc::Config::development_default();
    if (!config_path.empty()) {
      auto loaded = cc::Config::load(config_path);
      if (!loaded) {
        std::cerr << loaded.error().message << "\n";
        return 2;
      }
      config = std::move(*loaded);
    }
    if (!data_dir.empty()) config.data_dir = data_dir;
    if (mllp_port >= 0) config.mllp_port = mllp_port;
    if (http_port >= 0) config.http_port = http_port;
    if (!listen.empty()) config.listen_address = listen;
    if (threads > 0) config.threads = threads;
    if (dev) config.development = true;
    if (!mappings_dir.empty()) config.mappings_dir = mappings_dir;
    if (!tls_cert.empty()) config.tls.cert_file = tls_cert;
    if (!tls_key.empty()) config.tls.key_file = tls_key;
    if (!tls_client_ca.empty()) config.tls.client_ca_file = tls_client_ca;
    if (!oidc_issuer.empty()) config.oidc.issuer = oidc_issuer;
    if (!oidc_audience.empty()) config.oidc.audience = oidc_audience;
    if (!jwks_url.empty()) config.oidc.jwks_url = jwks_url;
    if (auto st = config.check(); !st) {
      std::cerr << (config_path.empty() ? "" : config_path + " with the command line's flags: ") << st.error().message
                << "\n";
      return 2;
    }
    if (!config.development && !config.oidc.enabled()) {
      std::cerr << "No way to authenticate readers: configure an OpenID Connect provider (--oidc-issuer, "
                   "--oidc-audience, --jwks-url, or \"oidc\" in the configuration), or start in development mode "
                   "with --dev (or \"development\": true) to accept `carerecord token` tokens.\n";
      return 2;
    }
    return cc::app::serve(std::move(config));
  }

  if (*token) {
    auto key = cc::governance::load_or_create_dev_key(token_dir);
    if (!key) {
      std::cerr << key.error().message << "\n";
      return 1;
    }
    if (rbac_role.empty()) rbac_role = cc::governance::default_rbac_role(role);
    cc::governance::Reader reader{user, role, org, rbac_role, purpose};
    std::cout << cc::governance::sign_dev_token(reader, *key, cc::fhir::now_epoch_ms() / 1000, ttl) << "\n";
    return 0;
  }

  if (*worklist) {
    if (!std::filesystem::exists(wl_dir + "/record.db")) {
      std::cerr << "No record store in " << wl_dir << " (expected " << wl_dir << "/record.db).\n";
      return 1;
    }
    auto store = cc::store::SqliteRecordStore::open(wl_dir, /*read_only=*/true);
    if (!store) {
      std::cerr << store.error().message << "\n";
      return 1;
    }
    auto items = (*store)->worklist(!wl_all, 100000);
    std::set<std::string> patients;
    for (auto& e : items)
      if (!e.patient_id.empty()) patients.insert(e.patient_id);
    if (!cc::app::audit_local(wl_dir, "cli-worklist", std::string("carerecord worklist") + (wl_all ? " --all" : ""),
                              cc::governance::id_list(patients), std::to_string(items.size()) + " item(s)",
                              items.empty() ? "nothing-found" : "disclosed"))
      return 1;
    std::printf("%-6s %-20s %-34s %-8s %-10s %s\n", "id", "kind", "patient", "inbox", "state", "detail");
    for (auto& e : items)
      std::printf("%-6lld %-20s %-34s %-8lld %-10s %s\n", static_cast<long long>(e.id), e.kind.c_str(),
                  e.patient_id.empty() ? "-" : e.patient_id.c_str(), static_cast<long long>(e.inbox_id),
                  e.resolved_ms ? "resolved" : "open", e.detail.c_str());
    std::printf("%zu item(s)\n", items.size());
    return 0;
  }

  if (*audit_verify) {
    auto v = cc::store::AuditLog::verify(verify_dir, verify_key);
    if (!v) {
      std::cerr << v.error().message << "\n";
      return 1;
    }
    if (!v->ok) {
      std::printf("BROKEN at entry %lld: %s\n(%lld entries and %lld signed checkpoints read)\n",
                  static_cast<long long>(v->first_bad), v->problem.c_str(), static_cast<long long>(v->entries),
                  static_cast<long long>(v->checkpoints));
      return 1;
    }
    std::printf("verified: %lld entries chained, %lld signed checkpoints hold\n", static_cast<long long>(v->entries),
                static_cast<long long>(v->checkpoints));
    return 0;
  }

  if (*audit_list) {
    auto entries = cc::store::AuditLog::read_recent(audit_dir, audit_limit);
    if (!entries) {
      std::cerr << entries.error().message << "\n";
      return 1;
    }
    std::set<std::string> patients;
    for (auto& e : *entries)
      for (auto& p : cc::governance::patients_of(e)) patients.insert(p);
    if (!cc::app::audit_local(audit_dir, "cli-audit-list", "carerecord audit list --limit " + std::to_string(audit_limit),
                              cc::governance::id_list(patients), std::to_string(entries->size()) + " item(s)",
                              entries->empty() ? "nothing-found" : "disclosed"))
      return 1;
    for (auto& e : *entries)
      std::printf("%lld %s user=%s role=%s org=%s action=%s outcome=%s patient=%s resources=%s request=\"%s\"\n",
                  static_cast<long long>(e.id), cc::fhir::fhir_instant_utc(e.time_ms).c_str(), e.user.c_str(),
                  e.role.c_str(), e.org.c_str(), e.action.c_str(), e.outcome.c_str(), e.patient_id.c_str(),
                  e.resources.c_str(), e.query.c_str());
    return 0;
  }

  if (*identity) return cc::app::identity_offline(id_dir, id_action, id_registration, id_patient, id_reason);

  if (*remap) {
    cc::Config config = cc::Config::development_default();
    if (!remap_config.empty()) {
      auto loaded = cc::Config::load(remap_config);
      if (!loaded) {
        std::cerr << loaded.error().message << "\n";
        return 2;
      }
      config = std::move(*loaded);
    }
    config.data_dir = remap_dir;
    if (!mappings_dir.empty()) config.mappings_dir = mappings_dir;
    auto since = cc::fhir::hl7_to_epoch_ms(remap_since);
    if (!since) {
      std::cerr << "--since " << remap_since << ": " << since.error().message << "\n";
      return 2;
    }
    return cc::app::remap_offline(std::move(config), remap_feed, *since);
  }

  if (*mappings_check) {
    std::vector<cc::mapping::LoadProblem> problems;
    auto set = cc::mapping::MappingSet::load(check_dir, problems);
    if (!set) {
      for (auto& p : problems) std::printf("%s\n", p.describe().c_str());
      std::printf("%zu problem(s); the engine would refuse these mappings\n", problems.size());
      return 1;
    }
    for (auto& f : set->files()) {
      std::string messages;
      for (auto& m : f.messages) messages += (messages.empty() ? "" : " ") + m;
      std::printf("%s: %s (%zu resource kind(s)) for %s\n", f.file.c_str(), f.name.c_str(), f.resources, messages.c_str());
    }
    std::printf("ok: %zu mapping file(s), %zu code table(s)\n", set->files().size(), set->table_count());
    return 0;
  }

  if (*demo) {
    cc::app::DemoOptions options;
    options.patients = demo_patients;
    options.messages = demo_messages;
    options.seed = demo_seed;
    options.patient_seed = demo_patient_seed;
    auto messages = demo_preload ? cc::app::demo_preload_messages(options)
                    : demo_oru   ? cc::app::demo_oru_messages(options)
                                 : cc::app::demo_messages(options);
    if (!demo_write.empty()) {
      std::ofstream out(demo_write, std::ios::binary);
      for (auto& m : messages) out << m << '\n';
      if (!out) {
        std::cerr << "Cannot write " << demo_write << "\n";
        return 1;
      }
      std::printf("wrote %zu messages to %s\n", messages.size(), demo_write.c_str());
      return 0;
    }
    if (demo_port <= 0) {
      std::cerr << "Give --mllp-port (the engine's MLLP port) or --write FILE.\n";
      return 2;
    }
    auto result = cc::app::send_over_mllp(demo_host, static_cast<uint16_t>(demo_port), messages, demo_window, demo_rate);
    if (!result) {
      std::cerr << result.error().message << "\n";
      return 1;
    }
    std::printf("sent %zu messages; aa ae ar: %s\n", messages.size(), result->c_str());
    return 0;
  }
  return 0;
}
