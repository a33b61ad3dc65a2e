// Disclosure: the one path by which patient data leaves the engine. It fetches what was asked,
// writes the audit record, and only once that is committed hands the resources back.
#include "engine/governance/disclosure.h"

#include <memory>
#include <set>

#include "engine/fhir/datetime.h"

namespace cc::governance {

namespace {
struct Fetch {
  store::RecordStore& record;
  store::Page operator()(const ReadQuery& q) const {
    store::Page p;
    if (auto r = record.read(q.type, q.id)) p.items.push_back(std::move(*r));
    p.total = static_cast<int64_t>(p.items.size());
    return p;
  }
  store::Page operator()(const VersionQuery& q) const {
    store::Page p;
    if (auto r = record.read_version(q.type, q.id, q.version)) p.items.push_back(std::move(*r));
    p.total = static_cast<int64_t>(p.items.size());
    return p;
  }
  store::Page operator()(const HistoryQuery& q) const { return record.history(q.type, q.id, q.offset, q.count); }
  store::Page operator()(const IdentifierQuery& q) const {
    return record.search_identifier(q.type, q.system, q.value, q.offset, q.count);
  }
  store::Page operator()(const PatientQuery& q) const {
    return record.search_patient(q.type, q.patient_id, q.offset, q.count);
  }
};

const char* action_of(const Query& q) {
  switch (q.index()) {
    case 0: return "read";
    case 1: return "vread";
    case 2: return "history";
    default: return "search";
  }
}
// Who asked, for what, when: the part of an audit entry every disclosure shares.
store::AuditEntry audit_entry(const DisclosureContext& ctx, const char* action) {
  store::AuditEntry entry;
  entry.time_ms = fhir::now_epoch_ms();
  entry.user = ctx.reader.user;
  entry.role = ctx.reader.role;
  entry.org = ctx.reader.org;
  entry.purpose_of_use = ctx.reader.purpose_of_use;
  entry.action = action;
  entry.query = ctx.request;
  entry.peer = ctx.peer;
  return entry;
}
}  // namespace

void DisclosureService::disclose(const DisclosureContext& ctx, const Query& q,
                                 std::function<void(Result<Disclosure>)> done) {
  auto result = std::make_shared<Disclosure>();
  try {
    result->page = std::visit(Fetch{record_}, q);
  } catch (const std::exception& e) {
    done(make_error("store-unavailable", std::string("The record could not be read (") + e.what() +
                                             "); nothing was disclosed. Try again shortly."));
    return;
  }

  store::AuditEntry entry = audit_entry(ctx, action_of(q));
  std::set<std::string> patients;
  for (auto& r : result->page.items) {
    if (!entry.resources.empty()) entry.resources += ' ';
    entry.resources += r.type + "/" + r.id + "/_history/" + std::to_string(r.version);
    patients.insert(r.type == "Patient" ? r.id : r.patient_id);
  }
  if (auto* pq = std::get_if<PatientQuery>(&q)) patients.insert(pq->patient_id);
  for (auto& p : patients) {
    if (p.empty()) continue;
    if (!entry.patient_id.empty()) entry.patient_id += ' ';
    entry.patient_id += p;
  }
  entry.outcome = result->page.items.empty() ? "nothing-found" : "disclosed";

  audit_.append(std::move(entry), [result, done = std::move(done)](Status st) {
    if (!st) {
      done(make_error("audit-unavailable",
                      "The audit record could not be written, so nothing was disclosed. Try again shortly."));
      return;
    }
    done(std::move(*result));
  });
}

void DisclosureService::authorise_admin(const DisclosureContext& ctx, const std::string& action,
                                        std::function<void(Status)> done, const std::string& patient) {
  store::AuditEntry entry = audit_entry(ctx, "admin");
  entry.resources = action;
  entry.patient_id = patient;
  const bool permitted = ctx.reader.role == "integration-admin";
  entry.outcome = permitted ? "permitted" : "denied";
  audit_.append(std::move(entry), [permitted, done = std::move(done)](Status st) {
    if (!permitted) {
      done(make_error("forbidden", "Administration is for integration administrators (role integration-admin)."));
      return;
    }
    if (!st) {
      done(make_error("audit-unavailable", "The audit record could not be written, so nothing was done. Try again shortly."));
      return;
    }
    done({});
  });
}

void DisclosureService::authorise_feed_write(const DisclosureContext& ctx, const std::string& feed,
                                             const std::string& owner_ods, std::function<void(Status)> done) {
  store::AuditEntry entry = audit_entry(ctx, "feed-write");
  entry.resources = "feed:" + feed;
  const bool permitted =
      ctx.reader.role == "feed-system" && !owner_ods.empty() && (owner_ods == "*" || ctx.reader.org == owner_ods);
  entry.outcome = permitted ? "permitted" : "denied";
  audit_.append(std::move(entry), [permitted, feed, owner_ods, done = std::move(done)](Status st) {
    if (!permitted) {
      done(make_error("forbidden", "Feed " + feed + " takes files only from its owner's feed system (role feed-system, "
                                   "organisation " + owner_ods + ")."));
      return;
    }
    if (!st) {
      done(make_error("audit-unavailable", "The audit record could not be written, so nothing was stored. Try again shortly."));
      return;
    }
    done({});
  });
}

void DisclosureService::disclose_audit(
    const DisclosureContext& ctx, const store::AuditFilter& filter, int64_t offset, int64_t count,
    std::function<void(Result<std::pair<std::vector<store::AuditEntry>, int64_t>>)> done) {
  store::AuditEntry entry = audit_entry(ctx, "audit-search");
  entry.patient_id = filter.patient_id;
  if (ctx.reader.role != "ig-officer") {
    entry.outcome = "denied";
    audit_.append(std::move(entry), [done = std::move(done)](Status) {
      done(make_error("forbidden", "The audit trail is for information governance officers (role ig-officer)."));
    });
    return;
  }
  auto found = std::make_shared<Result<std::pair<std::vector<store::AuditEntry>, int64_t>>>(
      audit_.search(filter, offset, count));
  if (!*found) {
    done(found->error());
    return;
  }
  entry.outcome = (*found)->first.empty() ? "nothing-found" : "disclosed";
  audit_.append(std::move(entry), [found, done = std::move(done)](Status st) {
    if (!st) {
      done(make_error("audit-unavailable", "The audit record could not be written, so nothing was disclosed. Try again shortly."));
      return;
    }
    done(std::move(*found));
  });
}

void DisclosureService::disclose_worklist(const DisclosureContext& ctx, bool open_only,
                                          std::function<void(Result<std::vector<store::WorklistEntry>>)> done) {
  store::AuditEntry entry = audit_entry(ctx, "worklist");
  if (ctx.reader.role != "integration-admin") {
    entry.outcome = "denied";
    audit_.append(std::move(entry), [done = std::move(done)](Status) {
      done(make_error("forbidden", "The work-list is for integration administrators (role integration-admin)."));
    });
    return;
  }
  auto items = std::make_shared<std::vector<store::WorklistEntry>>();
  try {
    *items = record_.worklist(open_only, 1000);
  } catch (const std::exception& e) {
    done(make_error("store-unavailable", std::string("The work-list could not be read (") + e.what() + ")."));
    return;
  }
  std::set<std::string> patients;
  for (auto& e : *items)
    if (!e.patient_id.empty()) patients.insert(e.patient_id);
  for (auto& p : patients) {
    if (!entry.patient_id.empty()) entry.patient_id += ' ';
    entry.patient_id += p;
  }
  entry.outcome = items->empty() ? "nothing-found" : "disclosed";
  audit_.append(std::move(entry), [items, done = std::move(done)](Status st) {
    if (!st) {
      done(make_error("audit-unavailable",
                      "The audit record could not be written, so nothing was disclosed. Try again shortly."));
      return;
    }
    done(std::move(*items));
  });
}

}  // namespace cc::governance
