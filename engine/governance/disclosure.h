// Disclosure: the one path by which patient data leaves the engine. It fetches what was asked,
// writes the audit record, and only once that is committed hands the resources back.
#pragma once
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "engine/core/result.h"
#include "engine/governance/token.h"
#include "engine/store/audit_log.h"
#include "engine/store/record_store.h"

namespace cc::governance {

struct ReadQuery { std::string type, id; };
struct VersionQuery { std::string type, id; int64_t version = 0; };
struct HistoryQuery { std::string type, id; int64_t offset = 0, count = 50; };
struct IdentifierQuery { std::string type, system, value; int64_t offset = 0, count = 50; };
struct PatientQuery { std::string type, patient_id; int64_t offset = 0, count = 50; };
using Query = std::variant<ReadQuery, VersionQuery, HistoryQuery, IdentifierQuery, PatientQuery>;

struct DisclosureContext {
  Reader reader;
  std::string request;  // method and target as received, for the audit trail
  std::string peer;
};

struct Disclosure {
  store::Page page;  // for a read: zero or one item
};

class DisclosureService {
 public:
  DisclosureService(store::RecordStore& record, store::AuditLog& audit) : record_(record), audit_(audit) {}
  // Calls `done` once the audit record is durable (any thread). If the audit record cannot be
  // written nothing is disclosed: `done` gets error "audit-unavailable".
  void disclose(const DisclosureContext& ctx, const Query& q, std::function<void(Result<Disclosure>)> done);

  // The data-quality work-list names patients and their local identifiers, so it is disclosed the
  // same way: only to an integration-admin, and only once the audit record is durable.
  // Error "forbidden" for any other role.
  // The audit trail itself, for an IG officer (role ig-officer): the matching entries, newest
  // first, and the total; the search is audited before anything is returned. Error "forbidden" for
  // any other role (the refusal audited too).
  void disclose_audit(const DisclosureContext& ctx, const store::AuditFilter& filter, int64_t offset, int64_t count,
                      std::function<void(Result<std::pair<std::vector<store::AuditEntry>, int64_t>>)> done);
  void disclose_worklist(const DisclosureContext& ctx, bool open_only,
                         std::function<void(Result<std::vector<store::WorklistEntry>>)> done);

  // An administrative action (reload mappings, re-map, read the codes-without-a-mapping report):
  // permitted to an integration-admin only, and audited — who did what, permitted or denied —
  // before `done` is called. Error "forbidden" for any other role, "audit-unavailable" when the
  // audit record cannot be written (the action is then not taken).
  // `patient` (optional) names the patient the action is about, for the IG officer's searches.
  void authorise_admin(const DisclosureContext& ctx, const std::string& action, std::function<void(Status)> done,
                       const std::string& patient = "");
  // A feed system writing to its own feed (an extract upload): role feed-system and the token's
  // organisation the feed's owner. Audited (permitted or denied) before `done`; error "forbidden".
  void authorise_feed_write(const DisclosureContext& ctx, const std::string& feed, const std::string& owner_ods,
                            std::function<void(Status)> done);

 private:
  store::RecordStore& record_;
  store::AuditLog& audit_;
};

}  // namespace cc::governance
