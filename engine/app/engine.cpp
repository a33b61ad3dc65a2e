// Engine: wires the rooms together for `carerecord serve` — stores, record builder, MLLP and HTTP
// listeners on an io_context thread pool — and shuts them down in order on SIGINT / SIGTERM.
#include "engine/app/engine.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "adapters/hl7v2/mllp_server.h"
#include "engine/api/fhir_api.h"
#include "engine/api/http_server.h"
#include "adapters/csv/digest.h"
#include "adapters/csv/drop_directory.h"
#include "engine/app/consent.h"
#include "engine/app/extract.h"
#include "engine/app/gp_feed.h"
#include "engine/app/ingest.h"
#include "engine/app/record_builder.h"
#include "engine/core/metrics.h"
#include "engine/core/sha256.h"
#include "engine/core/outbound_http.h"
#include "engine/core/tls.h"
#include "engine/fhir/datetime.h"
#include "engine/governance/consent.h"
#include "engine/governance/disclosure.h"
#include "engine/governance/ig_reports.h"
#include "engine/governance/token.h"
#include "engine/governance/token_verifier.h"
#include "engine/mapping/mapping_set.h"
#include "engine/store/audit_log.h"
#include "engine/store/inbox.h"
#include "engine/store/sqlite_record_store.h"

namespace cc::app {

namespace asio = boost::asio;

namespace {

std::vector<std::string> reload_mappings(mapping::MappingRegistry& mappings) {
  auto problems = mappings.reload();
  std::vector<std::string> lines;
  for (auto& p : problems) lines.push_back(p.describe());
  if (lines.empty()) {
    auto set = mappings.current();
    spdlog::info("mappings reloaded: {} file(s) and {} code table(s) from {}", set->files().size(), set->table_count(),
                 mappings.directory());
  } else {
    for (auto& l : lines) spdlog::error("mapping {}", l);
    spdlog::error("mappings not reloaded ({} problem(s)); the mappings in force stay", lines.size());
  }
  return lines;
}

// The inbox control id of an HTTP delivery (an extract file, a GP push) whose content digest is
// `digest`: the newest delivery's own id when this is the same content again (a resend: the inbox
// answers it with its first answer and nothing changes), else a new id — the same bytes as an older
// delivery are a new delivery (a snapshot back to an earlier set, a resource set back to an earlier
// state), never swallowed as a duplicate.
std::string delivery_id(store::Inbox& inbox, const std::string& feed, const std::string& sender, const std::string& app,
                        const std::string& digest, int64_t received_ms) {
  const std::string last = inbox.last_control_id(feed, sender, app);
  if (!last.empty() && last.substr(0, last.find('@')) == digest) return last;
  return digest + "@" + std::to_string(received_ms);
}

std::string unmapped_codes_json(const std::vector<store::UnmappedCodeRow>& rows,
                                const std::vector<store::RecordStore::UnmappedMessages>& messages,
                                const mapping::MappingSet& set) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  // Messages kept with no mapping at all, by type and feed.
  w.Key("messages");
  w.StartArray();
  for (auto& m : messages) {
    w.StartObject();
    w.Key("reason"); w.String(m.reason.c_str());
    w.Key("messages"); w.Int64(m.messages);
    w.Key("first_inbox_id"); w.Int64(m.first_inbox_id);
    w.Key("last_inbox_id"); w.Int64(m.last_inbox_id);
    w.EndObject();
  }
  w.EndArray();
  w.Key("items");
  w.StartArray();
  for (auto& r : rows) {
    w.StartObject();
    w.Key("feed"); w.String(r.feed.c_str());
    w.Key("table"); w.String(r.code_table.c_str());
    w.Key("system"); w.String(r.system.c_str());
    w.Key("code"); w.String(r.code.c_str());
    w.Key("display"); w.String(r.display.c_str());
    w.Key("messages"); w.Int64(r.messages);
    w.Key("first_seen"); w.String(fhir::fhir_instant_utc(r.first_seen_ms).c_str());
    w.Key("last_seen"); w.String(fhir::fhir_instant_utc(r.last_seen_ms).c_str());
    w.Key("last_inbox_id"); w.Int64(r.last_inbox_id);
    // Mapped since: the table now has it; `carerecord remap` brings the stored messages up to date.
    w.Key("mapped_now"); w.Bool(set.table_maps(r.code_table, r.code));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return sb.GetString();
}

}  // namespace

bool lock_data_dir(const std::string& data_dir, std::string& why) {
  const std::string path = data_dir + "/engine.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    why = "cannot open " + path + ": " + std::strerror(errno);
    return false;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    why = "another carerecord process is using " + data_dir + " (" + path + " is locked)";
    return false;
  }
  return true;  // the descriptor stays open: the lock lasts as long as the process
}

namespace {
std::shared_ptr<const mapping::MappingSet> load_mappings(const Config& config, std::string& dir) {
  dir = config.mappings_dir.empty() ? CC_DEFAULT_MAPPINGS_DIR : config.mappings_dir;
  std::vector<mapping::LoadProblem> problems;
  auto set = mapping::MappingSet::load(dir, problems);
  if (!set) {
    for (auto& p : problems) spdlog::critical("mapping {}", p.describe());
    spdlog::critical("the mappings in {} do not load", dir);
  }
  return set;
}
}  // namespace

namespace {
// Who runs a command, as the trail and the identity history name them: local:$USER (or the uid).
std::string local_operator() {
  const char* who = std::getenv("USER");
  return "local:" + (who && *who ? std::string(who) : std::to_string(::getuid()));
}
}  // namespace

bool audit_local(const std::string& data_dir, const std::string& action, const std::string& command,
                 const std::string& patients, const std::string& resources, const std::string& outcome) {
  auto log = store::AuditLog::open(data_dir);
  if (!log) {
    std::fprintf(stderr, "%s\nNothing was done or shown: it could not be audited.\n", log.error().message.c_str());
    return false;
  }
  store::AuditEntry e;
  e.time_ms = fhir::now_epoch_ms();
  e.user = local_operator();
  e.role = "local-operator";
  e.purpose_of_use = "OPERATIONS";
  e.action = action;
  e.query = command;
  e.patient_id = patients;
  e.resources = resources;
  e.outcome = outcome;
  std::promise<Status> written;
  (*log)->append(std::move(e), [&written](Status st) { written.set_value(std::move(st)); });
  Status st = written.get_future().get();
  (*log)->stop();
  if (!st) {
    std::fprintf(stderr, "%s\nNothing was done or shown: it could not be audited.\n", st.error().message.c_str());
    return false;
  }
  return true;
}

int identity_offline(const std::string& data_dir, const std::string& action, const std::string& registration,
                     const std::string& patient, const std::string& reason) {
  std::string why;
  if (!lock_data_dir(data_dir, why)) {
    std::fprintf(stderr, "%s; while the engine runs, use GET /admin/identity/worklist and POST /admin/identity/%s\n",
                 why.c_str(), action == "worklist" ? "{link,new,reject,unmerge}" : action.c_str());
    return 1;
  }
  auto record = store::SqliteRecordStore::open(data_dir);
  if (!record) {
    std::fprintf(stderr, "%s\n", record.error().message.c_str());
    return 1;
  }
  auto bare = [](const std::string& ref) { return ref.rfind("Patient/", 0) == 0 ? ref.substr(8) : ref; };
  if (action == "worklist") {
    auto tasks = (*record)->identity_worklist(500);
    governance::mask_restricted_postcodes(**record, tasks);  // a restricted patient's whereabouts stay in
    if (!audit_local(data_dir, "cli-identity-worklist", "carerecord identity worklist",
                     governance::id_list(store::patients_named(tasks)),
                     std::to_string(tasks.size()) + " item(s)", tasks.empty() ? "nothing-found" : "disclosed"))
      return 1;
    for (auto& t : tasks) {
      const auto& d = t.demographics;
      std::printf("Patient/%s %s nhs=%s feed=%s %s, %s %s %s %s\n", t.registration_id.c_str(), t.state.c_str(),
                  t.nhs_number.empty() ? "-" : t.nhs_number.c_str(), t.feed.c_str(), d.family.c_str(), d.given.c_str(),
                  d.birth_date.c_str(), d.gender.c_str(), d.postcode.c_str());
      for (auto& c : t.candidates) {
        std::string reasons;
        for (auto& r : c.reasons) reasons += (reasons.empty() ? "" : "; ") + r;
        std::printf("  candidate Patient/%s score %d nhs=%s (%s)\n", c.patient_id.c_str(), c.score,
                    c.nhs_number.empty() ? "-" : c.nhs_number.c_str(), reasons.c_str());
      }
    }
    std::printf("%zu registration(s) to look at\n", tasks.size());
    return 0;
  }
  if (registration.empty() || reason.empty() || (action == "link" && patient.empty())) {
    std::fprintf(stderr, "--registration%s and --reason are required: every change to the patient index says why.\n",
                 action == "link" ? ", --patient" : "");
    return 2;
  }
  const std::string subject = bare(registration);
  if (!audit_local(data_dir, "identity",
                   "carerecord identity " + action + " (reason: " + reason + ")",
                   subject, "identity-" + action + " Patient/" + subject + (patient.empty() ? "" : " Patient/" + bare(patient)),
                   "permitted"))
    return 1;
  auto r = (*record)->resolve_identity(action, registration, patient, local_operator(), reason);
  if (!r) {
    std::fprintf(stderr, "%s\n", r.error().message.c_str());
    return r.error().code == "not-found" || r.error().code == "invalid" ? 2 : 1;
  }
  std::printf("Patient/%s is now read under Patient/%s (%s); %lld registration(s) moved\n", r->registration_id.c_str(),
              r->patient_id.c_str(), r->state.c_str(), static_cast<long long>(r->moved));
  return 0;
}

int remap_offline(Config config, const std::string& feed, int64_t since_ms) {
  std::string why;
  if (!lock_data_dir(config.data_dir, why)) {
    spdlog::critical("{}; while the engine runs, re-map through it: POST /admin/remap?feed=F&since=T", why);
    return 1;
  }
  std::string dir;
  auto set = load_mappings(config, dir);
  if (!set) return 1;
  mapping::MappingRegistry mappings(dir, std::move(set));
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
  Metrics metrics;
  RecordBuilder builder(config, mappings, **inbox, **record, metrics);
  auto r = builder.remap(feed, since_ms);
  (*inbox)->stop();
  if (!r) {
    spdlog::critical("{}", r.error().message);
    return 1;
  }
  std::printf("re-mapped %lld message(s): %lld mapped, %lld unmapped, %lld failed\n", static_cast<long long>(r->messages),
              static_cast<long long>(r->mapped), static_cast<long long>(r->unmapped), static_cast<long long>(r->failed));
  return 0;
}

int serve(Config config) {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    spdlog::critical("cannot create data directory {}: {}", config.data_dir, ec.message());
    return 1;
  }
  std::string lock_problem;
  if (!lock_data_dir(config.data_dir, lock_problem)) {
    spdlog::critical("{}", lock_problem);
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
  // Governance: the policy (the configured file, or the default), the ODS hierarchy, the GP feeds
  // (their Patients name the registered practice) and the accesses readers record.
  auto grants = governance::AccessGrants::open(config.data_dir);
  if (!grants) {
    spdlog::critical("{}", grants.error().message);
    return 1;
  }
  governance::GovernanceSettings governance_settings;
  if (!config.policy_file.empty()) {
    auto policy = governance::DisclosurePolicy::load(config.policy_file);
    if (!policy) {
      spdlog::critical("the governance policy was refused, so the engine does not start: {}", policy.error().message);
      return 1;
    }
    governance_settings.policy = std::move(policy).value();
  }
  governance_settings.organisations = governance::Organisations(config.organisations);
  for (const FeedConfig& f : config.feeds) {
    if (f.is_gp()) governance_settings.gp_feeds.insert(f.name);
    if (!f.organisation_type.empty()) governance_settings.feed_types[f.name] = f.organisation_type;
  }
  if (governance_settings.policy.any_role_limits_sources() || governance_settings.policy.any_consent_required())
    for (const FeedConfig& f : config.feeds)
      if (f.organisation_type.empty()) {
        spdlog::critical("the governance policy treats sources by their kind (a role's sources, or sources shown only "
                         "with consent), so every feed must say what kind of organisation sends it: feed {} has no "
                         "organisation_type (gp, acute, mental-health, community, social-care, tertiary, ambulance); "
                         "the engine does not start",
                         f.name);
        return 1;
      }
  governance_settings.grants = grants->get();
  spdlog::info("governance policy {} ({})", governance_settings.policy.name(),
               config.policy_file.empty() ? "the default" : config.policy_file);

  std::string mappings_dir;
  auto initial_mappings = load_mappings(config, mappings_dir);
  if (!initial_mappings) return 1;  // the engine does not start without its mappings
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
  governance::DisclosureService disclosure(**record, **audit, std::move(governance_settings));
  // Long administrative jobs (re-maps) run on their own threads, joined before the builder stops.
  std::mutex jobs_mu;
  std::vector<std::thread> jobs;
  api::AdminHooks admin;
  admin.reload_mappings = [&mappings] { return reload_mappings(mappings); };
  admin.remap = [&](const std::string& feed, int64_t since_ms, std::function<void(Result<std::string>)> done) {
    std::lock_guard lk(jobs_mu);
    jobs.emplace_back([&builder, feed, since_ms, done = std::move(done)] {
      spdlog::info("re-map of feed {} since {} started", feed.empty() ? "(all)" : feed, fhir::fhir_instant_utc(since_ms));
      auto r = builder.remap(feed, since_ms);
      if (!r) {
        spdlog::error("re-map failed: {}", r.error().message);
        done(r.error());
        return;
      }
      spdlog::info("re-map done: {} message(s), {} mapped, {} unmapped, {} failed", r->messages, r->mapped, r->unmapped,
                   r->failed);
      done("{\"messages\":" + std::to_string(r->messages) + ",\"mapped\":" + std::to_string(r->mapped) +
           ",\"unmapped\":" + std::to_string(r->unmapped) + ",\"failed\":" + std::to_string(r->failed) + "}");
    });
  };
  admin.unmapped_codes = [&] {
    return unmapped_codes_json((*record)->unmapped_codes(10000), (*record)->unmapped_messages(1000), *mappings.current());
  };
  // Consent recorded by a reader: checked, authorised and audited, stored through the inbox (so
  // acknowledged means stored), then written to the record by the builder, which keeps every version.
  admin.record_consent = [&](std::string body, const governance::DisclosureContext& ctx,
                             std::function<void(unsigned, std::string)> done) {
    auto doc = std::make_shared<rapidjson::Document>();
    const Status read = read_consent_json(body, *doc);  // as the builder will read it
    std::vector<std::string> problems =
        read.ok() ? governance::check_consent(*doc)
                  : std::vector<std::string>{"The body is not JSON the record can keep (" + read.error().message + ")."};
    if (!problems.empty()) {
      std::string text = "The Consent was not recorded:";
      for (auto& p : problems) text += " " + p;
      done(422, api::operation_outcome(422, "invalid", text).body());
      return;
    }
    const std::string patient = governance::consent_patient(*doc);
    const auto provision = doc->FindMember("provision");  // check_consent: an object with a type
    const bool permits = provision != doc->MemberEnd() && provision->value.IsObject() &&
                         provision->value.HasMember("type") && provision->value["type"] == "permit";
    disclosure.authorise_consent(ctx, patient, permits, [&, doc, done, peer = ctx.peer, org = ctx.reader.org](Result<std::string> person) {
      if (!person) {
        const std::string& code = person.error().code;
        const unsigned status = code == "forbidden" ? 403 : code == "not-found" ? 404 : 503;
        done(status, api::operation_outcome(status, code == "forbidden" ? "forbidden" : code == "not-found" ? "not-found"
                                                                                                        : "transient",
                                            person.error().message).body());
        return;
      }
      const int64_t now = fhir::now_epoch_ms();
      auto& a = doc->GetAllocator();
      if (doc->HasMember("meta")) doc->RemoveMember("meta");
      rapidjson::StringBuffer as_sent;
      rapidjson::Writer<rapidjson::StringBuffer> sent_writer(as_sent);
      doc->Accept(sent_writer);
      // A new id for each recording (the same Consent posted twice is two recordings, both kept).
      const std::string id = Sha256().update(as_sent.GetString()).update(std::to_string(now)).update(peer).hex(32);
      if (doc->HasMember("id")) (*doc)["id"].SetString(id.c_str(), static_cast<rapidjson::SizeType>(id.size()), a);
      else doc->AddMember("id", rapidjson::Value(id.c_str(), a), a);
      rapidjson::StringBuffer sb;
      rapidjson::Writer<rapidjson::StringBuffer> w(sb);
      doc->Accept(w);
      std::string text = sb.GetString();
      store::InboxMessage m;
      m.feed = kConsentFeed;
      m.peer = peer;
      m.received_ms = now;
      m.sending_app = "consent";
      m.sending_facility = org;
      m.control_id = id;
      m.message_type = kConsentMessageType;
      m.ack_code = "AA";
      m.ack = text;
      m.raw = text;
      (*inbox)->submit(std::move(m), [&builder, done](Result<store::Receipt> r) {
        if (!r) {
          done(503, api::operation_outcome(503, "transient", "The Consent could not be stored (" + r.error().message +
                                                                 "); send it again.").body());
          return;
        }
        done(201, r->ack);
        builder.wake();
      });
    });
  };
  admin.identity_worklist = [&] {
    auto tasks = (*record)->identity_worklist(500);
    governance::mask_restricted_postcodes(**record, tasks);  // a restricted patient's whereabouts stay in
    return tasks;
  };
  admin.resolve_identity = [&](const std::string& action, const std::string& registration, const std::string& patient,
                               const std::string& actor, const std::string& reason) {
    auto r = builder.resolve_identity(action, registration, patient, "user:" + actor, reason);
    if (r) spdlog::info("patient index: {} of {} by {}: now under Patient/{} ({})", action, registration, actor,
                        r->patient_id, r->state);
    return r;
  };
  // Extract files, however they arrive (an upload, the drop directory), once their writer is
  // authorised: read and checked row by row, stored, then answered with the report.
  auto store_extract = [&](const FeedConfig* feed, std::shared_ptr<std::string> file, const std::string& peer,
                           std::function<void(unsigned, std::string)> done) {
    // Off the audit writer's thread: reading and checking a large file takes a while.
    asio::post(io, [&, feed, file, peer, done] {
      auto assessment = assess_extract(*feed, *mappings.current(), *file);
      if (!assessment.file_problem.empty()) {
        done(422, api::operation_outcome(422, "invalid", assessment.file_problem).body());
        return;
      }
      store::InboxMessage m;
      m.feed = feed->name;
      m.peer = peer;
      m.received_ms = fhir::now_epoch_ms();
      m.sending_app = "extract";
      m.sending_facility = feed->owner_ods;
      // The same file as the feed's newest delivery is a resend (its first report, nothing changes);
      // the same bytes as an older one are a new delivery (a snapshot going back to an earlier set).
      m.control_id = delivery_id(**inbox, feed->name, feed->owner_ods, "extract", csv::file_digest(*file), m.received_ms);
      m.message_type = extract_message_type(*feed);
      m.ack_code = assessment.has_row_errors ? "AE" : "AA";
      m.ack = std::move(assessment.report_json);
      m.raw = std::move(*file);
      (*inbox)->submit(std::move(m), [&builder, done](Result<store::Receipt> r) {
        if (!r) {
          done(503, api::operation_outcome(503, "transient", "The file could not be stored (" + r.error().message +
                                                                 "); send it again.").body());
          return;
        }
        // The same file again (same feed, same bytes): its first report, and nothing changes.
        done(200, std::string("{\"stored\":true,\"duplicate\":") + (r->duplicate ? "true" : "false") +
                      ",\"report\":" + r->ack + "}");
        if (!r->duplicate) builder.wake();
      });
    });
  };
  admin.ingest_extract = [&](const std::string& feed_name, std::string body, const governance::DisclosureContext& ctx,
                             std::function<void(unsigned, std::string)> done) {
    const FeedConfig* feed = config.feed_named(feed_name);
    if (!feed || !feed->is_extract()) {
      done(404, api::operation_outcome(404, "not-found", "No extract feed is named " + feed_name + ".").body());
      return;
    }
    auto file = std::make_shared<std::string>(std::move(body));
    disclosure.authorise_feed_write(ctx, feed->name, feed->owner_ods, [&, feed, file, peer = ctx.peer, done](Status st) {
      if (!st) {
        const bool forbidden = st.error().code == "forbidden";
        done(forbidden ? 403 : 503,
             api::operation_outcome(forbidden ? 403 : 503, forbidden ? "forbidden" : "transient", st.error().message).body());
        return;
      }
      store_extract(feed, file, peer, done);
    });
  };
  // Drop directories: a file put there by the feed's owner (the directory's permissions are its
  // authentication) is stored like an upload — the write audited as the owner's feed system — and
  // moved to done/ (stored, its report beside it) or failed/ (refused or not stored: put it back).
  std::vector<std::unique_ptr<csv::DropDirectoryWatcher>> drops;
  for (const FeedConfig& feed : config.feeds) {
    if (!feed.is_extract() || feed.drop_directory.empty()) continue;
    csv::DropDirectoryOptions options;
    options.directory = feed.drop_directory;
    options.poll_interval = std::chrono::seconds(feed.drop_poll_seconds);
    const FeedConfig* f = &feed;
    drops.push_back(std::make_unique<csv::DropDirectoryWatcher>(options, [&, f](const std::filesystem::path& path) {
      auto bytes = csv::read_file_bytes(path);
      if (!bytes) throw std::runtime_error(bytes.error().message);
      governance::DisclosureContext ctx{governance::Reader{"drop-directory:" + path.parent_path().string(), "feed-system",
                                                           f->owner_ods, "", ""},
                                        "DROP " + path.filename().string(), "local"};
      auto answer = std::make_shared<std::promise<std::pair<unsigned, std::string>>>();
      auto file = std::make_shared<std::string>(std::move(*bytes));
      disclosure.authorise_feed_write(ctx, f->name, f->owner_ods, [&, f, file, answer](Status st) {
        if (!st) {
          answer->set_value({503, api::operation_outcome(503, "transient", st.error().message).body()});
          return;
        }
        store_extract(f, file, "drop-directory", [answer](unsigned status, std::string body) {
          answer->set_value({status, std::move(body)});
        });
      });
      auto [status, body] = answer->get_future().get();
      spdlog::info("drop directory of feed {}: {} {}", f->name, path.filename().string(),
                   status == 200 ? "stored" : "refused (" + std::to_string(status) + ")");
      return csv::DropOutcome{status == 200, std::move(body), true};
    }));
  }
  // GP pushes: the organisation's GP feed, authorised and audited, validated, stored, then answered.
  admin.ingest_fhir = [&](const std::string& kind, const std::string& type, const std::string& id, std::string body,
                          const governance::DisclosureContext& ctx, std::function<void(unsigned, std::string)> done) {
    const FeedConfig* feed = config.gp_feed_for(ctx.reader.org);
    if (!feed) {
      done(403, api::operation_outcome(403, "forbidden", "No GP feed is configured for organisation " + ctx.reader.org +
                                                              "; this record takes FHIR writes only from GP feeds.").body());
      return;
    }
    auto push = std::make_shared<std::string>(std::move(body));
    disclosure.authorise_feed_write(ctx, feed->name, feed->owner_ods, [&, feed, push, kind, type, id, ctx, peer = ctx.peer, org = ctx.reader.org, done](Status st) {
      if (!st) {
        const bool forbidden = st.error().code == "forbidden";
        done(forbidden ? 403 : 503,
             api::operation_outcome(forbidden ? 403 : 503, forbidden ? "forbidden" : "transient", st.error().message).body());
        return;
      }
      asio::post(io, [&, feed, push, kind, type, id, ctx, peer, org, done] {
        const int64_t now = fhir::now_epoch_ms();
        auto result = std::make_shared<fhir_ingest::IngestResult>(run_gp_ingest(*feed, kind, type, id, *push, now, **record));
        rapidjson::StringBuffer sb;
        rapidjson::Writer<rapidjson::StringBuffer> w(sb);
        result->response.Accept(w);
        std::string response = sb.GetString();
        if (result->resources.empty()) {  // refused (or nothing the record keeps): nothing is stored
          done(static_cast<unsigned>(result->http_status), std::move(response));
          return;
        }
        auto store_push = [&, feed, push, kind, type, id, peer, org, now, response, result, result_status = result->http_status,
                           accepted_all = result->accepted_all(), done] {
          store::InboxMessage m;
          m.feed = feed->name;
          m.peer = peer;
          m.received_ms = now;
          m.sending_app = "gp-fhir";
          m.sending_facility = org;
          // The same push as this organisation's newest is a resend (its first answer, nothing changes);
          // the same bytes as an older one are new (a resource set back to an earlier state).
          m.message_type = gp_message_type(kind, type, id);
          m.control_id = delivery_id(**inbox, feed->name, org, "gp-fhir", csv::file_digest(*push) + "|" + m.message_type,
                                     m.received_ms);
          m.ack_code = accepted_all ? "AA" : "AE";
          m.ack = std::to_string(result_status) + " " + response;
          m.raw = std::move(*push);
          const size_t push_bytes = m.raw.size();
          (*inbox)->submit(std::move(m), [&builder, done, result, accepted_all, push_bytes](Result<store::Receipt> r) {
            if (!r) {
              done(503, api::operation_outcome(503, "transient", "The push could not be stored (" + r.error().message +
                                                                     "); send it again.").body());
              return;
            }
            // "STATUS BODY" as answered the first time: a resent push gets the same answer.
            const size_t space = r->ack.find(' ');
            done(static_cast<unsigned>(std::stoi(r->ack.substr(0, space))), r->ack.substr(space + 1));
            if (r->duplicate) return;
            // What was validated here is written as it is, not validated again from the stored bytes.
            if (accepted_all) builder.hand_over(r->id, push_bytes, std::move(*result));
            builder.wake();
          });
        };
        // Consent in the push (a dissent recorded at the practice) is a governance decision: on the
        // trail before it is stored.
        std::vector<std::string> consents;
        std::string consent_patient;
        for (auto& r : result->resources)
          if (r.mapped.type == "Consent") {
            consents.push_back(r.mapped.id);
            consent_patient = r.mapped.patient_id;
          }
        if (consents.empty()) {
          store_push();
          return;
        }
        disclosure.record_feed_consent(ctx, feed->name, consent_patient, consents, [store_push, done](Status st) {
          if (!st) {
            done(503, api::operation_outcome(503, "transient", st.error().message).body());
            return;
          }
          store_push();
        });
      });
    });
  };
  api::ApiOptions api_options;
  api_options.tokens = &tokens;
  api_options.requests_per_minute_per_user = config.limits.requests_per_minute_per_user;
  api_options.request_burst_per_user = config.limits.request_burst_per_user;
  api_options.admin = admin;
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

  for (const FeedConfig& feed : config.feeds) {
    std::error_code ec;
    if (!feed.drop_directory.empty() && !std::filesystem::is_directory(feed.drop_directory, ec)) {
      spdlog::critical("feed {}: the drop directory {} does not exist (or is not a directory); create it, or remove "
                       "drop_directory from the feed's configuration",
                       feed.name, feed.drop_directory);
      builder.stop();
      return 1;
    }
  }

  uint16_t mllp_port, http_port;
  try {
    mllp_port = mllp.listen(config.listen_address, static_cast<uint16_t>(config.mllp_port));
    http_port = http.listen(config.listen_address, static_cast<uint16_t>(config.http_port));
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen on {}: {}", config.listen_address, e.what());
    builder.stop();
    return 1;
  }

  // SIGHUP: load the mappings again (a directory with any problem is refused and the old ones stay)
  // and re-read the TLS certificate and key (they are also re-read when their files change).
  asio::signal_set hangup(io, SIGHUP);
  std::function<void()> wait_hangup = [&] {
    hangup.async_wait([&](const boost::system::error_code& e, int) {
      if (e) return;
      reload_mappings(mappings);
      if (tls) (void)tls->reload();
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
    hangup.cancel();
    mllp.stop_accepting();
    http.stop_accepting();
    // Give in-flight messages time to commit and be answered, then close.
    stopper = std::thread([&] {
      for (auto& d : drops) d->stop();  // a file being handled is finished (stored, moved) first
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

  for (auto& d : drops)
    if (auto st = d->start(); !st) spdlog::error("{}", st.error().message);

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

  {
    std::lock_guard lk(jobs_mu);
    for (auto& j : jobs) j.join();
  }
  (*inbox)->stop();
  builder.stop();
  (*audit)->stop();
  spdlog::info("stopped cleanly; record mapped up to inbox message {}", builder.cursor());
  return 0;
}

}  // namespace cc::app
