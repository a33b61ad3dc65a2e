// The HTTP routes: FHIR REST under /fhir (metadata, read, vread, _history, search), the IT
// work-list under /admin, /healthz and /metrics. Patient data only through DisclosureService.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/api/http_server.h"
#include "engine/core/metrics.h"
#include "engine/core/rate_limiter.h"
#include "engine/governance/disclosure.h"
#include "engine/governance/token_verifier.h"

namespace cc::api {

// What the administration endpoints act on, provided by the engine (the API never reaches into
// the mapper or the store itself).
struct AdminHooks {
  // Loads the mapping directory again: the problems, or none when the new mappings are in force.
  std::function<std::vector<std::string>()> reload_mappings;
  // Re-maps stored messages; `done` (any thread) gets a JSON summary or an error.
  std::function<void(const std::string& feed, int64_t since_ms, std::function<void(Result<std::string>)> done)> remap;
  // The codes-without-a-mapping report as JSON.
  std::function<std::string()> unmapped_codes;
  // POST /ingest/{feed}: an extract file. `done` (any thread) gets the HTTP status and a JSON body
  // (the report, or an OperationOutcome); the engine authorises, checks and stores before answering.
  std::function<void(const std::string& feed, std::string body, const governance::DisclosureContext& ctx,
                     std::function<void(unsigned status, std::string body)> done)>
      ingest_extract;
  // POST /fhir (a transaction or batch Bundle), POST /fhir/{type}, PUT /fhir/{type}/{id}: a GP
  // feed's push. `kind` is "bundle", "create" or "update". `done` gets the status and FHIR JSON.
  std::function<void(const std::string& kind, const std::string& type, const std::string& id, std::string body,
                     const governance::DisclosureContext& ctx, std::function<void(unsigned status, std::string body)> done)>
      ingest_fhir;
  // POST /fhir/Consent: a reader records a patient's consent or dissent. `done` gets the status and
  // FHIR JSON (the stored Consent with its id, or an OperationOutcome).
  std::function<void(std::string body, const governance::DisclosureContext& ctx,
                     std::function<void(unsigned status, std::string body)> done)>
      record_consent;
  // The patient index's work-list (GET /admin/identity/worklist) and a person's decision on it
  // (POST /admin/identity/{link,new,reject,unmerge}); `actor` is the user.
  std::function<std::vector<store::IdentityTask>()> identity_worklist;
  std::function<Result<store::IdentityActionResult>(const std::string& action, const std::string& registration,
                                                    const std::string& patient, const std::string& actor,
                                                    const std::string& reason)>
      resolve_identity;
};

struct ApiOptions {
  governance::TokenVerifier* tokens = nullptr;  // bearer tokens (required)
  int requests_per_minute_per_user = 0;         // 0: no limit
  int request_burst_per_user = 1;
  AdminHooks admin;
};

class FhirApi : public HttpHandler {
 public:
  FhirApi(governance::DisclosureService& disclosure, Metrics& metrics, ApiOptions options);
  void handle(Request req, const std::string& peer, Respond respond) override;
  Response refusal(unsigned status, const std::string& code, const std::string& text) override;

 private:
  // A reader's batch being routed: the disclosures its entries ask for, made together afterwards
  // (DisclosureService::disclose_all), and what answers each entry.
  struct BatchRouting {
    std::vector<governance::DisclosureService::Batched> disclosures;
    std::vector<std::function<void(Result<governance::Disclosure>)>> finish;
  };
  static constexpr size_t kMaxBatchEntries = 25;
  // `batch`: routing one entry of a reader's batch (a disclosure is added to it, not made).
  void handle_fhir(Request& req, const std::string& peer, const governance::Reader& reader, Respond respond,
                   BatchRouting* batch = nullptr);
  // 429 for a user over the rate limit (counted): "Try `what`again in N s.", with Retry-After.
  Response throttled(const std::string& user, int64_t retry_after, const char* what);
  // POST /fhir with a batch Bundle of GET entries from a reader (not a feed system): each entry
  // answered as the same GET alone — routed, checked, governed and audited one by one — with the
  // entries' audit records written in one commit; a batch-response Bundle, in entry order.
  void read_batch(const Request& req, const rapidjson::Document& bundle, const std::string& peer,
                  const governance::Reader& reader, Respond respond);
  // POST /admin/mappings/reload, POST /admin/remap, GET /admin/unmapped-codes; false when not one of them.
  // GET /fhir/AuditEvent?patient=&agent=&organization=&outcome=&subtype=&date=ge..&date=lt..: the
  // trail as AuditEvents, for IG officers only (governance decides and audits the search).
  void search_audit(const Request& req, const std::multimap<std::string, std::string>& query,
                    const std::string& peer, const governance::Reader& reader, Respond respond);
  // POST /fhir/Patient/{id}/$access with a Parameters resource (kind, reason).
  void record_access(const Request& req, const std::string& patient_id, const std::string& peer,
                     const governance::Reader& reader, Respond respond);
  // GET /admin/ig/access-reviews[?all=true&_format=csv], POST /admin/ig/access-reviews/{id} (ig-officer).
  bool handle_access_reviews(const Request& req, std::string_view path, const std::string& peer,
                             const governance::Reader& reader, const Respond& respond);
  // GET /admin/ig/reports/patient-access?patient=&date=ge..&date=lt..[&_format=csv] (every access
  // to one patient) and GET /admin/ig/reports/unusual-access?date=..&patients=&recorded=&refused=
  // [&_format=csv] (ig-officer).
  bool handle_ig_reports(const Request& req, std::string_view path, const std::string& peer,
                         const governance::Reader& reader, const Respond& respond);
  // GET /admin/identity/worklist, POST /admin/identity/{link,new,reject,unmerge}.
  bool handle_identity(const Request& req, std::string_view path, const std::string& peer,
                       const governance::Reader& reader, const Respond& respond);
  bool handle_admin(const Request& req, std::string_view path, std::string_view target, const std::string& peer,
                    const governance::Reader& reader, const Respond& respond);
  void disclose(const Request& req, const std::string& peer, const governance::Reader& reader,
                const governance::Query& q, bool as_bundle, const std::string& bundle_type, Respond respond,
                BatchRouting* batch = nullptr);

  governance::DisclosureService& disclosure_;
  Metrics& metrics_;
  ApiOptions options_;
  Counter& requests_;
  Counter& unauthorised_;
  Counter& rate_limited_;
  RateLimiter limiter_;
};

// An OperationOutcome response with one issue.
Response operation_outcome(unsigned status, const std::string& code, const std::string& diagnostics);

// A searchset or history Bundle of one page: `self_link`, and paging links from `page_link_base`
// (none when empty); `withheld` adds an entry saying that something matching is not shown;
// `warning`, when not empty, an entry warning that the matches may not be one patient.
std::string bundle_json(const std::string& bundle_type, const store::Page& page, const std::string& base,
                        const std::string& self_link, const std::string& page_link_base, int64_t offset,
                        int64_t count, bool withheld = false, const std::string& warning = "");

}  // namespace cc::api
