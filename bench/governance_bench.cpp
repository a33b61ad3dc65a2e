// Governance cost (issue 7 "Benchmark"): reading all of one patient's 500 resources (one search by
// patient per resource type, as a summary or viewer does) straight from the record store
// ("off") and through DisclosureService with the policy and a durable audit entry per search
// ("on"); p50 and p99 of the whole read, and the overhead. Also the policy decision alone in µs.
// Each item carries a coded concept and names the encounter it was recorded in, as mapped items do.
// Prints figures; not a test. Usage: bench_governance [iterations, default 200]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "engine/api/fhir_api.h"
#include "engine/governance/consent.h"
#include "engine/governance/disclosure.h"
#include "engine/governance/relationship.h"
#include "engine/store/audit_log.h"
#include "engine/store/sqlite_record_store.h"

namespace {
using Clock = std::chrono::steady_clock;
using namespace cc;

const std::vector<std::pair<std::string, int>> kTypes = {
    {"Observation", 200}, {"Condition", 50}, {"AllergyIntolerance", 20}, {"MedicationStatement", 60},
    {"Encounter", 30}, {"Procedure", 40}, {"DocumentReference", 20}, {"Flag", 10}, {"CarePlan", 20},
    {"Immunization", 50}};

store::ResourceWrite resource(const std::string& type, const std::string& id, const std::string& patient,
                              const std::string& body, int64_t t) {
  store::ResourceWrite w;
  w.type = type;
  w.id = id;
  w.patient_id = patient;
  w.event_time_ms = t;
  w.resource.Parse(("{\"resourceType\":\"" + type + "\",\"id\":\"" + id + "\"," + body + "}").c_str());
  return w;
}

store::MappedBatchItem item(int64_t inbox_id) {
  store::MappedBatchItem it;
  it.inbox_id = inbox_id;
  it.outcome = "mapped";
  it.provenance = store::Provenance{"pas", "RBT", "B" + std::to_string(inbox_id), 1'700'000'000'000, inbox_id};
  return it;
}

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}
}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 200;
  const auto dir = std::filesystem::temp_directory_path() / ("cc-governance-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto record = std::move(store::SqliteRecordStore::open(dir.string()).value());
  auto audit = std::move(store::AuditLog::open(dir.string()).value());
  auto grants = std::move(governance::AccessGrants::open(dir.string()).value());

  // The patient: a hospital registration with an NHS number, an open encounter at RBT, and 500
  // resources of ten types; beside 2,000 other patients with 20 resources each.
  int64_t inbox = 0;
  std::vector<store::MappedBatchItem> batch;
  auto flush = [&] {
    if (!batch.empty() && !record->apply(batch)) std::abort();
    batch.clear();
  };
  auto patient_body = [](const std::string& nhs) {
    return "\"identifier\":[{\"system\":\"https://fhir.nhs.uk/Id/nhs-number\",\"value\":\"" + nhs +
           "\"}],\"name\":[{\"family\":\"BENCH\",\"given\":[\"P\"]}],\"birthDate\":\"1950-01-01\",\"gender\":\"female\"";
  };
  for (int p = 0; p <= 2000; ++p) {
    const std::string reg = "reg" + std::to_string(p);
    auto it = item(++inbox);
    // 999 range NHS numbers with a valid check digit are not needed here: a local patient works the same.
    auto w = resource("Patient", reg, reg, patient_body(""), 1000);
    it.writes.push_back(std::move(w));
    it.writes.push_back(resource("Encounter", reg + "-open", reg,
                                 "\"status\":\"in-progress\",\"class\":{\"code\":\"IMP\"}", 2000));
    const int scale = p == 0 ? 1 : 0;
    for (auto& [type, n] : kTypes) {
      const int count = scale ? n : 2;
      // As mapped items are: each names the encounter it was recorded in (a medicine its context, a
      // document its context's encounters).
      const std::string in_encounter = "{\"reference\":\"Encounter/" + reg + "-open\"}";
      const std::string named = type == "Encounter"             ? std::string()
                                : type == "MedicationStatement" ? ",\"context\":" + in_encounter
                                : type == "DocumentReference"   ? ",\"context\":{\"encounter\":[" + in_encounter + "]}"
                                                                : ",\"encounter\":" + in_encounter;
      for (int i = 0; i < count; ++i)
        it.writes.push_back(resource(type, reg + "-" + type + std::to_string(i), reg,
                                     "\"status\":\"final\",\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\","
                                     "\"code\":\"" + std::to_string(100000 + i) + "\",\"display\":\"item " +
                                         std::to_string(i) + "\"}],\"text\":\"item " + std::to_string(i) +
                                         " with some text to make it a realistic size\"}" + named,
                                     3000 + i));
    }
    batch.push_back(std::move(it));
    if (batch.size() >= 200) flush();
  }
  flush();
  const std::string patient = "reg0";

  governance::GovernanceSettings settings;
  settings.grants = grants.get();
  governance::DisclosureService disclosure(*record, *audit, std::move(settings));
  governance::DisclosureContext ctx{governance::Reader{"dr.bench", "ae-clinician", "RBT", "", "DIRECT_CARE"},
                                    "GET bench", "local"};

  auto read_off = [&] {
    size_t n = 0;
    for (auto& [type, count] : kTypes) n += record->search_patient(type, patient, 0, 500).items.size();
    return n;
  };
  // The ten searches by patient through governance, one after another or all sent at once (as a
  // viewer opening a patient sends them: each is decided and answered in turn, and their audit
  // entries share the audit log's commits, so the whole read waits for one or two flushes to disk
  // rather than ten). `shape_of(type)` makes each answer while its audit entry is written (an empty
  // Shape: none). Counts the items disclosed, or the answers' bytes when they were made.
  auto search_all = [&](bool at_once, const auto& shape_of) {
    std::vector<std::promise<Result<governance::Disclosure>>> promises(kTypes.size());
    std::vector<std::future<Result<governance::Disclosure>>> futures;
    for (auto& p : promises) futures.push_back(p.get_future());
    size_t n = 0;
    auto take = [&n](std::future<Result<governance::Disclosure>>& f, bool shaped) {
      auto d = f.get();
      if (!d) {
        std::fprintf(stderr, "refused: %s\n", d.error().message.c_str());
        std::abort();
      }
      if (shaped && d->answer.empty()) std::abort();
      n += shaped ? d->answer.size() : d->page.items.size();
    };
    std::vector<bool> shaped(kTypes.size());
    for (size_t i = 0; i < kTypes.size(); ++i) {
      governance::Shape shape = shape_of(kTypes[i].first);
      shaped[i] = static_cast<bool>(shape);
      disclosure.disclose(ctx, governance::PatientQuery{kTypes[i].first, patient, 0, 500},
                          [&p = promises[i]](Result<governance::Disclosure> d) { p.set_value(std::move(d)); }, shape);
      if (!at_once) take(futures[i], shaped[i]);
    }
    if (at_once)
      for (size_t i = 0; i < kTypes.size(); ++i) take(futures[i], shaped[i]);
    return n;
  };
  const auto no_answer = [](const std::string&) { return governance::Shape(); };
  auto read_on = [&] { return search_all(false, no_answer); };
  auto read_on_at_once = [&] { return search_all(true, no_answer); };
  // The same record as one Patient/{id}/$everything disclosure: one reading of the facts, one audit entry.
  std::vector<std::string> all_types{"Patient"};
  for (auto& [type, count] : kTypes) all_types.push_back(type);
  auto read_everything = [&] {
    std::promise<Result<governance::Disclosure>> p;
    auto f = p.get_future();
    disclosure.disclose(ctx, governance::EverythingQuery{"Patient", patient, all_types},
                        [&p](Result<governance::Disclosure> d) { p.set_value(std::move(d)); });
    auto d = f.get();
    if (!d) std::abort();
    return d->page.items.size();
  };
  // The ten searches one after another (as read_on) with the record written before each, as under a
  // live feed: an Observation of `touched` changed (the write is not timed). A write for another
  // patient leaves this patient's kept facts standing; a write for this patient makes every search
  // read them afresh. `governed` false: the searches straight from the store ("off" under the same
  // writes). Returns the searches' milliseconds.
  int64_t live_inbox = 10'000'000;
  const governance::DisclosurePolicy policy = governance::DisclosurePolicy::default_policy();
  const governance::Organisations orgs;
  const std::set<std::string> gp_feeds;
  auto read_between_writes = [&](const std::string& touched, bool governed) {
    double ms = 0;
    for (auto& [type, count] : kTypes) {
      std::vector<store::MappedBatchItem> b;
      b.push_back(item(++live_inbox));
      b.back().writes.push_back(resource("Observation", touched + "-live", touched,
                                         "\"status\":\"final\",\"code\":{\"text\":\"live " +
                                             std::to_string(live_inbox) + "\"}",
                                         1000));
      if (!record->apply(b)) std::abort();
      std::promise<Result<governance::Disclosure>> p;
      auto f = p.get_future();
      auto s0 = Clock::now();
      if (governed) {
        disclosure.disclose(ctx, governance::PatientQuery{type, patient, 0, 500},
                            [&p](Result<governance::Disclosure> d) { p.set_value(std::move(d)); });
        if (!f.get()) std::abort();
      } else if (record->search_patient(type, patient, 0, 500).items.empty()) {
        std::abort();
      }
      ms += std::chrono::duration<double, std::milli>(Clock::now() - s0).count();
    }
    return ms;
  };
  // The same reads with the answer made as the API sends it (a searchset Bundle a search), which is
  // what a reader waits for: "off" makes it after the search; "on" makes it while the search's
  // audit entry is written (DisclosureService's Shape), and hands it over once the entry is durable.
  const std::string base = "https://127.0.0.1/fhir";
  auto bundle_of = [&](const std::string& type, const store::Page& page, bool withheld) {
    const std::string link = base + "/" + type + "?patient=" + patient;
    return api::bundle_json("searchset", page, base, link, link, 0, 500, withheld);
  };
  auto read_off_answered = [&] {
    size_t n = 0;
    for (auto& [type, count] : kTypes) n += bundle_of(type, record->search_patient(type, patient, 0, 500), false).size();
    return n;
  };
  auto shape_for = [&](const std::string& type) {
    return governance::Shape([&bundle_of, type](governance::Disclosure& d) { d.answer = bundle_of(type, d.page, d.withheld); });
  };
  auto read_on_answered = [&] { return search_all(false, shape_for); };
  // The ten searches as one FHIR batch (POST /fhir): each decided and audited on its own, their ten
  // audit entries written in one commit while the ten answers are made.
  auto read_batch_answered = [&] {
    std::vector<governance::DisclosureService::Batched> b;
    for (auto& [type, count] : kTypes) b.push_back({ctx, governance::PatientQuery{type, patient, 0, 500}, shape_for(type)});
    std::promise<std::vector<Result<governance::Disclosure>>> p;
    auto f = p.get_future();
    disclosure.disclose_all(std::move(b), [&p](std::vector<Result<governance::Disclosure>> r) { p.set_value(std::move(r)); });
    size_t n = 0;
    for (auto& d : f.get()) {
      if (!d || d->answer.empty()) std::abort();
      n += d->answer.size();
    }
    return n;
  };
  auto read_on_answered_at_once = [&] { return search_all(true, shape_for); };
  // $everything with its answer made: "off" reads the Patient and every type and makes one Bundle.
  auto read_everything_off_answered = [&] {
    store::Page all;
    if (auto p = record->read("Patient", patient)) all.items.push_back(std::move(*p));
    for (auto& [type, count] : kTypes)
      for (auto& r : record->search_patient(type, patient, 0, 10000).items) all.items.push_back(std::move(r));
    all.total = static_cast<int64_t>(all.items.size());
    const std::string link = base + "/Patient/" + patient + "/$everything";
    return api::bundle_json("searchset", all, base, link, "", 0, all.total).size();
  };
  auto read_everything_answered = [&] {
    std::promise<Result<governance::Disclosure>> p;
    auto f = p.get_future();
    const std::string link = base + "/Patient/" + patient + "/$everything";
    disclosure.disclose(
        ctx, governance::EverythingQuery{"Patient", patient, all_types},
        [&p](Result<governance::Disclosure> d) { p.set_value(std::move(d)); },
        [&](governance::Disclosure& d) { d.answer = api::bundle_json("searchset", d.page, base, link, "", 0, d.page.total, d.withheld); });
    auto d = f.get();
    if (!d || d->answer.empty()) std::abort();
    return d->answer.size();
  };
  std::printf("one patient's %zu resources (10 searches by patient), %d iterations each, after warm-up\n",
              read_off(), iterations);
  read_on();
  // For a profile of one kind of read alone (with its answers made): CC_BENCH_ONLY=everything,
  // at-once, batch or one-by-one.
  if (const char* only = getenv("CC_BENCH_ONLY")) {
    const std::string kind = only;
    for (int i = 0; i < iterations; ++i) {
      if (kind == "everything") read_everything_answered();
      else if (kind == "at-once") read_on_answered_at_once();
      else if (kind == "batch") read_batch_answered();
      else read_on_answered();
    }
    return 0;
  }
  std::vector<double> off, on, off_written, on_other_written, on_this_written, everything, at_once, off_answered, on_answered, at_once_answered, batch_answered,
      everything_off_answered, everything_answered;
  for (int i = 0; i < iterations; ++i) {
    auto q0 = Clock::now();
    read_everything_off_answered();
    auto q1 = Clock::now();
    read_everything_answered();
    everything_off_answered.push_back(std::chrono::duration<double, std::milli>(q1 - q0).count());
    everything_answered.push_back(std::chrono::duration<double, std::milli>(Clock::now() - q1).count());
    auto r0 = Clock::now();
    read_off_answered();
    auto r1 = Clock::now();
    read_on_answered();
    auto r2 = Clock::now();
    read_on_answered_at_once();
    auto r3 = Clock::now();
    read_batch_answered();
    off_answered.push_back(std::chrono::duration<double, std::milli>(r1 - r0).count());
    on_answered.push_back(std::chrono::duration<double, std::milli>(r2 - r1).count());
    at_once_answered.push_back(std::chrono::duration<double, std::milli>(r3 - r2).count());
    batch_answered.push_back(std::chrono::duration<double, std::milli>(Clock::now() - r3).count());
    auto e0 = Clock::now();
    read_everything();
    auto e1 = Clock::now();
    read_on_at_once();
    everything.push_back(std::chrono::duration<double, std::milli>(e1 - e0).count());
    at_once.push_back(std::chrono::duration<double, std::milli>(Clock::now() - e1).count());
    auto t0 = Clock::now();
    read_off();
    auto t1 = Clock::now();
    read_on();
    auto t2 = Clock::now();
    off.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    on.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    off_written.push_back(read_between_writes("reg1", false));
    on_other_written.push_back(read_between_writes("reg1", true));
    on_this_written.push_back(read_between_writes(patient, true));
  }
  std::printf("governance off: p50 %.2f ms  p99 %.2f ms\n", pct(off, 0.5), pct(off, 0.99));
  std::printf("governance on:  p50 %.2f ms  p99 %.2f ms  (policy, relationship, durable audit entry per search)\n",
              pct(on, 0.5), pct(on, 0.99));
  auto overhead = [](const std::vector<double>& on_ms, const std::vector<double>& off_ms, double p) {
    return 100 * (pct(on_ms, p) / pct(off_ms, p) - 1);
  };
  // "LABEL: p50 .. ms  p99 .. ms  (overhead p50 ..%  p99 ..%)" of `on_ms` against `off_ms`.
  auto report = [&](const char* label, const std::vector<double>& on_ms, const std::vector<double>& off_ms) {
    std::printf("%s: p50 %.2f ms  p99 %.2f ms  (overhead p50 %+.1f%%  p99 %+.1f%%)\n", label, pct(on_ms, 0.5),
                pct(on_ms, 0.99), overhead(on_ms, off_ms, 0.5), overhead(on_ms, off_ms, 0.99));
  };
  std::printf("overhead: p50 %+.1f%%  p99 %+.1f%%  (target: under 10%%)\n", overhead(on, off, 0.5), overhead(on, off, 0.99));
  report("governance on, the ten searches sent at once (their audit entries share commits)", at_once, off);
  report("$everything (one disclosure, one audit entry)", everything, off);
  std::printf("under a live feed (a write to the record before each search; the write not timed):\n");
  std::printf("  off, a write for another patient before each search: p50 %.2f ms  p99 %.2f ms\n", pct(off_written, 0.5),
              pct(off_written, 0.99));
  report("  on, a write for another patient before each search (the facts kept stand)", on_other_written, off_written);
  report("  on, a write for this patient before each search (the facts read afresh)", on_this_written, off_written);

  std::printf("with the answers made (ten searchset Bundles, as the API sends them):\n");
  std::printf("  off: p50 %.2f ms  p99 %.2f ms\n", pct(off_answered, 0.5), pct(off_answered, 0.99));
  report("  on, one search after another", on_answered, off_answered);
  report("  on, the ten sent at once", at_once_answered, off_answered);
  report("  on, the ten as one batch (POST /fhir; ten audit entries, one commit)", batch_answered, off_answered);
  std::printf("  $everything, one Bundle of every item: off p50 %.2f ms  p99 %.2f ms; ", pct(everything_off_answered, 0.5),
              pct(everything_off_answered, 0.99));
  report("on", everything_answered, everything_off_answered);

  // Several readers at once (a busy A&E), whole-record reads a second off and on: the audit entries
  // of concurrent reads share a commit (group commit), so what each read pays for its entry falls.
  auto throughput = [&](const auto& read, int readers, int each) {
    auto t0 = Clock::now();
    std::vector<std::thread> threads;
    for (int r = 0; r < readers; ++r)
      threads.emplace_back([&] {
        for (int i = 0; i < each; ++i) read();
      });
    for (auto& t : threads) t.join();
    return readers * each / std::chrono::duration<double>(Clock::now() - t0).count();
  };
  for (int readers : {1, 4}) {
    const int each = std::max(10, iterations / readers);
    const double off_rate = throughput(read_off, readers, each);
    const double on_rate = throughput(read_on, readers, each);
    const double everything_rate = throughput(read_everything, readers, each);
    std::printf("%d reader(s) at once: off %.0f whole-record reads/s; on %.0f (overhead %+.1f%%); $everything %.0f "
                "(overhead %+.1f%%)\n",
                readers, off_rate, on_rate, 100 * (off_rate / on_rate - 1), everything_rate,
                100 * (off_rate / everything_rate - 1));
  }

  // Reports naming their results: 20 DiagnosticReports of the patient, each naming 10 of its
  // Observations. A search of the reports is judged item by item and each named result not on the
  // page is looked up (once an answer) to be sure the reader may see it (hide_withheld_results).
  {
    std::vector<store::MappedBatchItem> reports(1);
    reports[0] = item(++inbox);
    for (int r = 0; r < 20; ++r) {
      std::string results;
      for (int k = 0; k < 10; ++k)
        results += std::string(k ? "," : "") + "{\"reference\":\"Observation/" + patient + "-Observation" +
                   std::to_string(r * 10 + k) + "\"}";
      reports[0].writes.push_back(resource("DiagnosticReport", patient + "-report" + std::to_string(r), patient,
                                           "\"status\":\"final\",\"code\":{\"text\":\"report " + std::to_string(r) +
                                               "\"},\"result\":[" + results + "]",
                                           4000 + r));
    }
    if (!record->apply(reports)) std::abort();
    std::vector<double> reports_off, reports_on;
    for (int i = 0; i < iterations; ++i) {
      auto r0 = Clock::now();
      if (record->search_patient("DiagnosticReport", patient, 0, 500).items.size() != 20) std::abort();
      auto r1 = Clock::now();
      std::promise<Result<governance::Disclosure>> p;
      auto f = p.get_future();
      disclosure.disclose(ctx, governance::PatientQuery{"DiagnosticReport", patient, 0, 500},
                          [&p](Result<governance::Disclosure> d) { p.set_value(std::move(d)); });
      auto d = f.get();
      if (!d || d->page.items.size() != 20) std::abort();
      reports_off.push_back(std::chrono::duration<double, std::milli>(r1 - r0).count());
      reports_on.push_back(std::chrono::duration<double, std::milli>(Clock::now() - r1).count());
    }
    std::printf("a search of 20 reports naming 200 results (each result looked up to judge it): off p50 %.2f ms; ",
                pct(reports_off, 0.5));
    report("on", reports_on, reports_off);
  }

  // The floor under "on": one durable audit entry alone (written, flushed to disk, acknowledged),
  // one at a time, as each sequential search waits for its own.
  std::vector<double> append_us;
  for (int i = 0; i < iterations; ++i) {
    store::AuditEntry e;
    e.time_ms = 1'700'000'000'000;
    e.user = "dr.bench";
    e.action = "search";
    e.query = "GET bench";
    e.patient_id = patient;
    e.outcome = "disclosed";
    std::promise<Status> p;
    auto f = p.get_future();
    auto a0 = Clock::now();
    audit->append(std::move(e), [&p](Status st) { p.set_value(std::move(st)); });
    if (!f.get()) std::abort();
    append_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a0).count());
  }
  std::printf("one durable audit entry alone: p50 %.0f us  p99 %.0f us (ten sequential searches wait for ten)\n",
              pct(append_us, 0.5), pct(append_us, 0.99));

  // The decision alone, on facts already read (the patient's Patient and encounters).
  std::vector<store::StoredResource> facts;
  for (const std::string& t : governance::governance_fact_types()) {
    auto page = record->search_patient(t, patient, 0, 500);
    for (auto& r : page.items) facts.push_back(std::move(r));
  }
  const int decisions = 20000;
  auto t0 = Clock::now();
  int permitted = 0;
  for (int i = 0; i < decisions; ++i)
    permitted += governance::decide_access(policy, orgs, gp_feeds, "ae-clinician", "RBT", "Observation", facts, {})
                     .permitted;
  auto us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / decisions;
  std::printf("policy decision on %zu facts: %.2f us (%d permitted)\n", facts.size(), us, permitted);
  // What each read pays once the patient's facts are kept (DisclosureService reads them once per
  // record generation and keeps the relationship per organisation): the steps on what they say.
  const auto relationship = governance::relationship_in_record(facts, "RBT", orgs, policy, gp_feeds);
  const governance::ConsentState consent = governance::consent_state(facts);
  t0 = Clock::now();
  permitted = 0;
  for (int i = 0; i < decisions; ++i)
    permitted += governance::decide_access(policy, "ae-clinician", "Observation", relationship, consent,
                                           [] { return std::string(); })
                     .permitted;
  us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / decisions;
  std::printf("policy decision on the facts as kept (relationship and consent read once): %.3f us (%d permitted)\n",
              us, permitted);
  audit->stop();
  std::filesystem::remove_all(dir);
  return 0;
}
