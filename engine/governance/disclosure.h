// Disclosure: the one path by which patient data leaves the engine. It fetches what was asked,
// writes the audit record, and only once that is committed hands the resources back.
#pragma once
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <string>
#include <variant>
#include <vector>

#include "engine/core/result.h"
#include "engine/governance/access_grants.h"
#include "engine/governance/ig_reports.h"
#include "engine/governance/policy.h"
#include "engine/governance/relationship.h"
#include "engine/governance/token.h"
#include "engine/store/audit_log.h"
#include "engine/store/record_store.h"

namespace cc::governance {

struct ReadQuery { std::string type, id; };
struct VersionQuery { std::string type, id; int64_t version = 0; };
struct HistoryQuery { std::string type, id; int64_t offset = 0, count = 50; };
// system: nullopt, any system (the value alone); "", none (identifier=|value).
struct IdentifierQuery { std::string type; std::optional<std::string> system; std::string value; int64_t offset = 0, count = 50; };
struct PatientQuery { std::string type, patient_id; int64_t offset = 0, count = 50; };
// Patient/{id}/$everything: the Patient and everything of `types` filed under it, in one disclosure.
struct EverythingQuery { std::string type = "Patient", patient_id; std::vector<std::string> types; };
using Query = std::variant<ReadQuery, VersionQuery, HistoryQuery, IdentifierQuery, PatientQuery, EverythingQuery>;

struct DisclosureContext {
  Reader reader;
  std::string request;  // method and target as received, for the audit trail
  std::string peer;
};

struct Disclosure {
  store::Page page;    // for a read: zero or one item
  bool withheld = false;  // some matches were not disclosed (no relationship): the page says so, not what
  // A search by an identifier's value alone whose disclosed matches are two or more people's and
  // carry it under more than one system (a hospital number of one trust and a social care id of a
  // council, say): those systems, so the answer can warn that the matches are different people's.
  // Empty otherwise.
  std::vector<std::string> identifier_systems;
  std::string answer;  // what the caller's Shape made of it (a response body); "" when none ran
};

// Makes the answer from a disclosure (a response body, into Disclosure::answer) on the calling
// thread while the audit entry is being made durable, so that the two overlap; it runs before
// disclose() returns, or not at all. It must not send or keep anything: the answer still reaches
// the caller only once the entry is durable.
using Shape = std::function<void(Disclosure&)>;

// What governance decides with: the policy, the ODS hierarchy, which feeds are GP feeds (their
// Patients name the registered practice), and the recorded accesses (none: $access is refused).
struct GovernanceSettings {
  DisclosurePolicy policy = DisclosurePolicy::default_policy();
  Organisations organisations;
  std::set<std::string> gp_feeds;
  std::map<std::string, std::string> feed_types;  // feed name -> its organisation type (gp, social-care, ...)
  AccessGrants* grants = nullptr;
};

class DisclosureService {
 public:
  DisclosureService(store::RecordStore& record, store::AuditLog& audit, GovernanceSettings settings = {})
      : record_(record), audit_(audit), settings_(std::move(settings)) {}
  // Runs the governance steps — role (may this role read this type?), then for clinical data a
  // relationship (in the record, or an access the reader recorded) — and calls `done` once the
  // audit record of the decision is durable (any thread). Errors: "forbidden" (403: the sentence
  // names no patient data), "audit-unavailable" (nothing disclosed). A search over several
  // patients leaves out those without a relationship and says that some were withheld.
  // `shape`, when given, makes the answer while the audit entry is written (see Shape).
  void disclose(const DisclosureContext& ctx, const Query& q, std::function<void(Result<Disclosure>)> done,
                const Shape& shape = {});
  // Several disclosures at once (a FHIR batch of reads and searches): each decided and audited as if
  // asked alone — its own audit entry, permitted or denied — but their entries are written in one
  // transaction (one flush to disk, so all or none), and the answers are made while it is written.
  // `done` (any thread) gets a result for each, in order, once that is durable. A $everything in
  // the batch is disclosed on its own, as disclose() does.
  struct Batched {
    DisclosureContext context;
    Query query;
    Shape shape;
  };
  void disclose_all(std::vector<Batched> batch, std::function<void(std::vector<Result<Disclosure>>)> done);

  // POST /fhir/Patient/{id}/$access: the reader records why they may see this patient's record.
  // The role must be allowed the kind by the policy; break-glass needs a reason. Audited (permitted
  // or denied) before the access is stored; self-declared and break-glass raise an alert and wait
  // for review. Errors: "forbidden", "invalid" (no reason), "not-found" (no such patient),
  // "unavailable" (accesses cannot be recorded here), "audit-unavailable".
  void record_access(const DisclosureContext& ctx, const std::string& patient_id, const std::string& kind,
                     const std::string& reason, std::function<void(Result<AccessGrant>)> done);
  // POST /fhir/Consent: may this reader record the patient's consent (the policy's consent roles),
  // and is there such a patient? A Consent that permits sharing, recorded while the patient dissents,
  // would lift the dissent: that also needs a relationship with the patient, or an access the reader
  // recorded (as reading their record would), so no one in a consent role can open any record by
  // posting a permit. Audited (permitted or denied) before `done`, which gets the id the patient is
  // read under. Errors: "forbidden", "not-found", "audit-unavailable".
  void authorise_consent(const DisclosureContext& ctx, const std::string& patient_id, bool permits,
                         std::function<void(Result<std::string>)> done);
  // A feed's push carries the patient's consent (a GP's record of a dissent, say): the change is a
  // governance decision of its own on the trail — the feed, the patient, the Consents — written
  // before the push is stored. Error "audit-unavailable" (then nothing is stored).
  void record_feed_consent(const DisclosureContext& ctx, const std::string& feed, const std::string& patient_id,
                           const std::vector<std::string>& consent_ids, std::function<void(Status)> done);
  // The IG officer's review list (self-declared and break-glass accesses), audited; role ig-officer.
  void access_reviews(const DisclosureContext& ctx, bool awaiting_only,
                      std::function<void(Result<std::vector<AccessGrant>>)> done);
  // An IG officer marks one reviewed (audited). Errors as AccessGrants::mark_reviewed, and "forbidden".
  void review_access(const DisclosureContext& ctx, int64_t id, const std::string& note,
                     std::function<void(Result<AccessGrant>)> done);

  // The IG officer's reports (role ig-officer; each audited before it is returned):
  // every audit entry naming this patient (their person id or any registration's) in [from, to)
  // (0: open), newest first — for a subject access request. Errors "forbidden", "not-found".
  void patient_access_report(const DisclosureContext& ctx, const std::string& patient_id, int64_t from_ms,
                             int64_t to_ms, std::function<void(Result<std::vector<store::AuditEntry>>)> done);
  // Users whose activity in [from, to) passes a threshold (ig_reports.h). Error "forbidden".
  void unusual_access_report(const DisclosureContext& ctx, int64_t from_ms, int64_t to_ms,
                             const UnusualAccessThresholds& thresholds,
                             std::function<void(Result<std::vector<UnusualAccess>>)> done);

  const GovernanceSettings& settings() const { return settings_; }
  // How many times a person's governance facts were read from the record rather than kept.
  uint64_t facts_reads() const { return facts_reads_.load(std::memory_order_relaxed); }

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
  // The governance steps for this reader, this patient and this type (decide_access on the
  // patient's record facts and the reader's recorded access).
  AccessDecision decide(const Reader& reader, const std::string& type, const std::string& person, int64_t now_ms);
  // The person a patient id (a registration's or a person's) is read under. Errors "not-found" (the
  // record has no such patient), "store-unavailable".
  Result<std::string> known_person(const std::string& patient_id);
  // Item by item: governance::item_refusal under these settings ("" shown).
  std::string item_refusal(const AccessDecision& d, const store::StoredResource& r) const;
  bool might_withhold(const AccessDecision& d) const;
  // A Patient of a restricted person (any registration flagged) loses address, telecom and practice.
  void redact_if_restricted(store::StoredResource& patient);
  // Another item of a restricted patient: a key contact (RelatedPerson) loses its address (often the
  // patient's); an item from their GP practice, for a reader outside it, names no practice.
  void mask_whereabouts(const Reader& reader, store::StoredResource& item) const;
  // A disclosure decided, before its audit entry is written: the entry (none when the record could
  // not be read: `unavailable` says why) and the result, or the sentence of a refusal.
  struct Prepared {
    std::shared_ptr<store::AuditEntry> entry;
    std::shared_ptr<Disclosure> result;
    std::string refusal;
    std::string unavailable;
  };
  Prepared prepare(const DisclosureContext& ctx, const Query& q);
  // The clinical items an item names (sensitive.h, grouped_references: a report's results, an
  // encounter's diagnoses, a medicine's reasons, ...) that this reader may not see — withheld,
  // sensitive, of a type the role does not read, another patient's without a relationship — are
  // left out of it and it is labelled REDACTED, so their ids (that they exist) and their display
  // text do not show through it; `items` is all this answer discloses. True when any was left out.
  bool hide_withheld_results(const Reader& reader, std::vector<store::StoredResource>& items, int64_t now);
  // $everything: one reading of the patient's facts decides every type; one audit entry.
  void disclose_everything(const DisclosureContext& ctx, const EverythingQuery& q,
                           std::function<void(Result<Disclosure>)> done, const Shape& shape);

  // What governance reads about a person — their registrations, encounters, episodes, care teams
  // and consents — with what follows from them, kept until a write touches the person (a write
  // for another patient leaves them be). The relationship depends on the reader's organisation:
  // one per org.
  struct PersonFacts {
    store::RecordStore::PersonStamp stamp;
    std::vector<store::StoredResource> facts;
    ConsentState consent;
    bool restricted = false;
    std::mutex m;
    std::map<std::string, std::optional<RecordRelationship>> relationship_by_org;
  };
  std::shared_ptr<PersonFacts> facts_for(const std::string& person);
  std::optional<RecordRelationship> relationship_for(PersonFacts& pf, const std::string& reader_org);

  store::RecordStore& record_;
  store::AuditLog& audit_;
  GovernanceSettings settings_;
  std::mutex cache_mutex_;
  std::unordered_map<std::string, std::shared_ptr<PersonFacts>> cache_;  // person id -> facts
  std::atomic<uint64_t> facts_reads_{0};
};

// The identity work-list shows demographics to confirm a match; a restricted patient's (PDS S flag,
// meta.security R) whereabouts are never disclosed, so the postcode of a registration or candidate
// whose person is restricted is left out (for the API and the command line alike).
void mask_restricted_postcodes(store::RecordStore& record, std::vector<store::IdentityTask>& tasks);

}  // namespace cc::governance
