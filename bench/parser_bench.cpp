// HL7 v2 parser throughput: parsing alone, and a "full parse" that also locates every field,
// repetition, component and subcomponent and decodes each piece holding an escape sequence.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "adapters/hl7v2/message.h"

namespace fs = std::filesystem;
using cc::hl7v2::Message;

namespace {

// A handful of ADT and ORU messages shaped like a PAS and a lab feed, for when the corpus is absent.
std::vector<std::string> synthetic_messages() {
  std::vector<std::string> messages;
  for (int i = 0; i < 200; ++i) {
    const std::string id = std::to_string(100000 + i);
    messages.push_back(
        "MSH|^~\\&|PAS|RXH|EMPI|NHS|20240301120000||ADT^A01^ADT_A01|ADT" + id + "|P|2.4|||AL|NE|GBR|8859/1\r"
        "EVN|A01|20240301120000|||U439966^SMITH^JANE^^^DR\r"
        "PID|1||9434765919^^^NHS&2.16.840.1.113883.2.1.4.1&ISO^NH~H" + id + "^^^RXH^MR||O'BRIEN^SE\\E\\N^A^^MR||"
        "19700101|M|||1 HIGH STREET^FLAT 2^LONDON^^NW1 2BU^GBR^H||020 7946 0000^PRN^PH~^NET^Internet^a@b.nhs.uk|||M|"
        "C of E\\T\\free church|||||A|||||||N\r"
        "PD1|||THE SURGERY^^F83004|G3456789^JONES^ALAN^^^DR\r"
        "NK1|1|O'BRIEN^MARY|SPO^Spouse|1 HIGH STREET^^LONDON^^NW1 2BU^GBR|020 7946 0001\r"
        "PV1|1|I|WARD1^BED2^ROOM3^RXH|22|||C1234567^WHO^DOCTOR^^^DR|||300||||19|||C1234567^WHO^DOCTOR^^^DR|01|V" +
        id + "^^^RXH^VN|||||||||||||||||||||||||20240301115500\r"
        "AL1|1|DA|Z88.0^Penicillin allergy^I10|SV|Rash\\.br\\Wheeze\r");
    messages.push_back(
        "MSH|^~\\&|WINPATH|RXH|EPR|RXH|20240301130000||ORU^R01^ORU_R01|LAB" + id + "|P|2.5.1|||AL|NE\r"
        "PID|1||H" + id + "^^^RXH^MR~9434765919^^^NHS^NH||O'BRIEN^SEAN||19700101|M\r"
        "ORC|RE|ORD" + id + "|LAB" + id + "||CM\r"
        "OBR|1|ORD" + id + "|LAB" + id + "|FBC^Full blood count^WINPATH|||20240301120000|||||||20240301121000|"
        "BLOOD&Blood&HL70070|C1234567^WHO^DOCTOR||||||20240301125900|||F\r"
        "OBX|1|NM|HB^Haemoglobin^WINPATH||135|g/L^grams per litre|130-180|N|||F\r"
        "OBX|2|NM|WBC^White cell count^WINPATH||7.2|10\\S\\9/L|4.0-11.0|N|||F\r"
        "OBX|3|NM|PLT^Platelets^WINPATH||250|10\\S\\9/L|150-400|N|||F\r"
        "OBX|4|TX|COMM^Comment^WINPATH||Sample haemolysed\\.br\\Please repeat if clinically indicated||||||F\r"
        "NTE|1|L|Reported by \\H\\BMS\\N\\ on ward round\r");
  }
  return messages;
}

// Every message of the shared HL7 v2 corpus that parses, or the synthetic set when it is absent.
const std::vector<std::string>& corpus() {
  static const std::vector<std::string> messages = [] {
    std::vector<std::string> found;
    const fs::path dir = fs::path(CC_SHARED_DIR) / "corpus" / "hl7v2";
    if (fs::is_directory(dir)) {
      for (const auto& entry : fs::recursive_directory_iterator(dir)) {
        if (!entry.is_regular_file()) continue;
        std::ifstream in(entry.path(), std::ios::binary);
        std::stringstream bytes;
        bytes << in.rdbuf();
        for (std::string& text : cc::hl7v2::split_messages(bytes.str())) {
          if (Message::parse(text).ok()) found.push_back(std::move(text));
        }
      }
    }
    return found.empty() ? synthetic_messages() : found;
  }();
  return messages;
}

int64_t corpus_bytes() {
  int64_t total = 0;
  for (const std::string& text : corpus()) total += static_cast<int64_t>(text.size());
  return total;
}

// Visits every field, repetition, component and subcomponent; decodes those holding an escape.
size_t touch_every_piece(const Message& m) {
  size_t touched = 0;
  for (size_t seg = 0; seg < m.segment_count(); ++seg) {
    m.for_each_subcomponent(seg, [&](const Message::Piece& p) {
      touched += p.escaped ? m.value(seg, p.field, p.rep, p.comp, p.sub).size() + 1 : p.raw.size() + 1;
    });
  }
  return touched;
}

void BM_Parse(benchmark::State& state) {
  const auto& messages = corpus();
  for (auto _ : state) {
    for (const std::string& text : messages) {
      auto parsed = Message::parse(text);
      benchmark::DoNotOptimize(parsed->segment_count());
    }
  }
  state.SetBytesProcessed(state.iterations() * corpus_bytes());
  state.counters["messages"] = static_cast<double>(messages.size());
}

void BM_FullParse(benchmark::State& state) {
  const auto& messages = corpus();
  for (auto _ : state) {
    for (const std::string& text : messages) {
      auto parsed = Message::parse(text);
      benchmark::DoNotOptimize(touch_every_piece(*parsed));
    }
  }
  state.SetBytesProcessed(state.iterations() * corpus_bytes());
  state.counters["messages"] = static_cast<double>(messages.size());
}

// What the ACK path reads before committing: parse and the MSH fields that decide the ACK.
void BM_ParseAndReadHeader(benchmark::State& state) {
  const auto& messages = corpus();
  for (auto _ : state) {
    for (const std::string& text : messages) {
      auto parsed = Message::parse(text);
      benchmark::DoNotOptimize(parsed->control_id());
      benchmark::DoNotOptimize(parsed->message_code());
      benchmark::DoNotOptimize(parsed->processing_id());
      benchmark::DoNotOptimize(parsed->version());
    }
  }
  state.SetBytesProcessed(state.iterations() * corpus_bytes());
}

}  // namespace

BENCHMARK(BM_Parse);
BENCHMARK(BM_FullParse);
BENCHMARK(BM_ParseAndReadHeader);
BENCHMARK_MAIN();
