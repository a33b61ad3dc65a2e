// The mapping interpreter alone (issue 4 "Benchmark"): messages a second through MappingSet::map
// for ORU^R01 with ten OBX (one DiagnosticReport, ten Observations, the Patient) and for ADT, on
// messages already parsed, and with the parse included; and a floor: only copying an ORU's output
// documents. Prints Google Benchmark's table; items_per_second is messages a second.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "adapters/hl7v2/message.h"
#include "engine/app/demo_feed.h"
#include "engine/mapping/mapping_set.h"

namespace {

const cc::mapping::MappingSet& mappings() {
  static auto set = [] {
    std::vector<cc::mapping::LoadProblem> problems;
    auto s = cc::mapping::MappingSet::load(CC_DEFAULT_MAPPINGS_DIR, problems);
    if (!s) {
      for (auto& p : problems) std::fprintf(stderr, "%s\n", p.describe().c_str());
      std::abort();
    }
    return s;
  }();
  return *set;
}

const cc::mapping::FeedContext kFeed{"bench", {{"RBT", "https://fhir.mcht.nhs.uk/Id/hospital-number"}}};

std::vector<cc::hl7v2::Message> parsed(const std::vector<std::string>& texts) {
  std::vector<cc::hl7v2::Message> out;
  for (auto& t : texts) out.push_back(std::move(cc::hl7v2::Message::parse(t).value()));
  return out;
}

std::vector<std::string> oru_texts() {
  cc::app::DemoOptions o;
  o.patients = 1000;
  o.messages = 1000;
  return cc::app::demo_oru_messages(o);
}

std::vector<std::string> adt_texts() {
  cc::app::DemoOptions o;
  o.patients = 1000;
  o.messages = 1000;
  return cc::app::demo_messages(o);
}

void run_map(benchmark::State& state, const std::vector<cc::hl7v2::Message>& msgs) {
  size_t i = 0, resources = 0;
  for (auto _ : state) {
    auto out = mappings().map(msgs[i++ % msgs.size()], kFeed);
    resources += out->resources.size();
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["resources_per_second"] = benchmark::Counter(static_cast<double>(resources), benchmark::Counter::kIsRate);
}

void BM_MapOru10Obx(benchmark::State& state) {
  static const auto msgs = parsed(oru_texts());
  run_map(state, msgs);
}
BENCHMARK(BM_MapOru10Obx);

void BM_MapAdt(benchmark::State& state) {
  static const auto msgs = parsed(adt_texts());
  run_map(state, msgs);
}
BENCHMARK(BM_MapAdt);

void BM_ParseAndMapOru10Obx(benchmark::State& state) {
  static const auto texts = oru_texts();
  size_t i = 0;
  for (auto _ : state) {
    auto msg = cc::hl7v2::Message::parse(texts[i++ % texts.size()]);
    auto out = mappings().map(*msg, kFeed);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ParseAndMapOru10Obx);

// A hostile or broken PAS: one A28 whose PID-3 repeats N times (N distinct hospital numbers). The
// checks before the ACK and the mapping read every repetition; this was quadratic (10,000
// repetitions took 3 s to assess, 30,000 held an I/O thread for half a minute) until the message
// indexed a long field's repetitions. Time a message, for N = 1,000, 10,000 and 30,000.
void BM_AssessAndMapManyIdentifiers(benchmark::State& state) {
  std::string pid3;
  for (int64_t i = 1; i <= state.range(0); ++i) pid3 += (i > 1 ? "~" : "") + std::to_string(1000000 + i) + "^^^RBT^MR";
  const auto msg = cc::hl7v2::Message::parse(
      "MSH|^~\\&|PAS|RBT|CARERECORD|CHESHIRE|20260315101500||ADT^A28^ADT_A05|MANY1|P|2.5\r"
      "EVN|A28|20260315101500\rPID|1||" + pid3 + "||DOE^JOHN||19600101|M\r");
  if (!msg) std::abort();
  for (auto _ : state) {
    auto assessment = mappings().assess(*msg, kFeed);
    auto out = mappings().map(*msg, kFeed);
    benchmark::DoNotOptimize(assessment);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_AssessAndMapManyIdentifiers)->Arg(1000)->Arg(10000)->Arg(30000)->Unit(benchmark::kMillisecond);

// A floor under BM_MapOru10Obx: only copying the RapidJSON documents an ORU^R01 with ten OBX maps to
// (one DiagnosticReport, ten Observations, the Patient), already made. Building them, as the
// interpreter must for the record store, costs at least this, whatever the interpreter does.
void BM_CopyOru10ObxOutput(benchmark::State& state) {
  static const auto msgs = parsed(oru_texts());
  std::vector<std::unique_ptr<cc::mapping::MappingOutput>> outs;
  for (size_t i = 0; i < 100; ++i) {
    auto out = mappings().map(msgs[i], kFeed);
    outs.push_back(std::make_unique<cc::mapping::MappingOutput>(std::move(*out)));
  }
  size_t i = 0;
  for (auto _ : state) {
    const auto& out = *outs[i++ % outs.size()];
    std::vector<rapidjson::Document> copies(out.resources.size());
    for (size_t k = 0; k < out.resources.size(); ++k)
      copies[k].CopyFrom(out.resources[k].resource, copies[k].GetAllocator());
    benchmark::DoNotOptimize(copies);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_CopyOru10ObxOutput);

}  // namespace

BENCHMARK_MAIN();
