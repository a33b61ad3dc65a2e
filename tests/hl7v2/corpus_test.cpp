// The parser against real and hostile input: every file of the shared HL7 v2 and malformed corpora,
// and mutations of them, must parse and re-encode byte for byte or be rejected with a reason.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "adapters/hl7v2/charset.h"
#include "adapters/hl7v2/message.h"

namespace fs = std::filesystem;
using cc::hl7v2::Message;
using cc::hl7v2::ParseProblem;

namespace {

const fs::path kCorpus = fs::path(CC_SHARED_DIR) / "corpus";

struct CorpusMessage {
  std::string file;
  std::string text;
};

// Every message of every regular file under dir (recursively, in path order), split as a file reader would.
std::vector<CorpusMessage> corpus_messages(const fs::path& dir, bool skip_json) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && !(skip_json && entry.path().extension() == ".json")) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<CorpusMessage> messages;
  for (const fs::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    for (std::string& text : cc::hl7v2::split_messages(bytes.str())) {
      messages.push_back({fs::relative(file, dir).string(), std::move(text)});
    }
  }
  return messages;
}

// Reads every segment, field, repetition, component and subcomponent through the accessors (one
// past each end too) and through the one-pass walker, checking they agree; returns the pieces read.
size_t walk(const Message& m) {
  const auto& d = m.delimiters();
  size_t total = 0;
  for (size_t seg = 0; seg < m.segment_count(); ++seg) {
    EXPECT_EQ(m.segment_name(seg).size(), 3u);
    EXPECT_EQ(m.segment_text(seg).substr(0, 3), m.segment_name(seg));
    size_t walked = 0;
    m.for_each_subcomponent(seg, [&](const Message::Piece& p) {
      ++walked;
      EXPECT_EQ(p.raw, m.raw_at(seg, p.field, p.rep, p.comp, p.sub)) << "segment " << seg << " field " << p.field;
      const bool delimiter_field = seg == 0 && p.field <= 2;  // MSH-1 and MSH-2 are read literally
      EXPECT_EQ(p.escaped, !delimiter_field && d.escape != '\0' && p.raw.find(d.escape) != std::string_view::npos);
    });
    size_t located = 0;
    for (int field = 1; field <= m.field_count(seg) + 1; ++field) {
      const int reps = m.repetition_count(seg, field);
      EXPECT_EQ(reps == 0, m.field_raw(seg, field).empty());
      EXPECT_TRUE(m.raw_at(seg, field, reps + 1).empty());
      for (int rep = 1; rep <= reps; ++rep) {
        const bool delimiter_field = seg == 0 && field <= 2;  // MSH-1 and MSH-2 are never split
        const int comps = delimiter_field ? 1 : std::max(1, cc::hl7v2::piece_count(m.raw_at(seg, field, rep), d.component));
        for (int comp = 1; comp <= comps; ++comp) {
          const int subs =
              delimiter_field ? 1 : std::max(1, cc::hl7v2::piece_count(m.raw_at(seg, field, rep, comp), d.subcomponent));
          for (int sub = 1; sub <= subs; ++sub) {
            const std::string value = m.value(seg, field, rep, comp, sub);
            EXPECT_TRUE(cc::hl7v2::is_utf8(value)) << "segment " << seg << " field " << field;
            ++located;
          }
        }
      }
    }
    EXPECT_EQ(walked, located) << "segment " << seg;
    total += located;
  }
  return total;
}

struct Tally {
  int parsed = 0;
  int rejected = 0;
};

// Parses one text; it must either re-encode exactly or come back with a reason.
Tally check(const std::string& text, const std::string& where, bool walk_accessors) {
  Tally tally;
  auto result = Message::parse_detailed(text);
  if (auto* problem = std::get_if<ParseProblem>(&result)) {
    EXPECT_FALSE(problem->message.empty()) << where;
    ++tally.rejected;
    return tally;
  }
  const Message& m = std::get<Message>(result);
  EXPECT_EQ(m.encode(), text) << where;
  if (walk_accessors) walk(m);
  ++tally.parsed;
  return tally;
}

Tally check_corpus(const fs::path& dir, bool skip_json, bool list_rejects) {
  Tally total;
  for (const CorpusMessage& message : corpus_messages(dir, skip_json)) {
    const Tally one = check(message.text, message.file, false);
    total.parsed += one.parsed;
    total.rejected += one.rejected;
    if (list_rejects && one.rejected > 0) {
      auto problem = std::get<ParseProblem>(Message::parse_detailed(message.text));
      std::cout << "  rejected " << message.file << ": " << problem.message << "\n";
    }
  }
  std::cout << dir.filename().string() << ": " << total.parsed << " messages parsed and re-encoded exactly, "
            << total.rejected << " rejected with a reason\n";
  return total;
}

// A small deterministic generator (xorshift64) so failures reproduce.
struct Mutator {
  uint64_t state = 0x9E3779B97F4A7C15ull;
  uint64_t next() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  }
  size_t below(size_t n) { return n == 0 ? 0 : next() % n; }

  std::string mutate(std::string text) {
    static const std::string kInteresting = "|^~\\&#\r\nXFSTRE.br0A\xC3\xE9\xEF\xBB\xBFMSH";
    const int edits = 1 + static_cast<int>(below(4));
    for (int i = 0; i < edits; ++i) {
      const size_t at = below(text.size() + 1);
      switch (below(5)) {
        case 0:
          if (at < text.size()) text[at] = kInteresting[below(kInteresting.size())];
          break;
        case 1: text.insert(at, 1, kInteresting[below(kInteresting.size())]); break;
        case 2: text.erase(at, below(8)); break;
        case 3: text.resize(at); break;
        default:
          if (at < text.size()) text[at] = static_cast<char>(next());
          break;
      }
    }
    return text;
  }
};

}  // namespace

TEST(Hl7v2Corpus, RealMessagesParseAndReencodeExactly) {
  const fs::path dir = kCorpus / "hl7v2";
  if (!fs::is_directory(dir)) GTEST_SKIP() << "no HL7 v2 corpus at " << dir << " (the shared corpus is not installed)";
  const Tally tally = check_corpus(dir, false, true);
  EXPECT_GT(tally.parsed, 0);
}

TEST(Hl7v2Corpus, MalformedInputIsParsedOrRejectedNeverCrashes) {
  const fs::path dir = kCorpus / "malformed";
  if (!fs::is_directory(dir)) GTEST_SKIP() << "no malformed corpus at " << dir << " (the shared corpus is not installed)";
  check_corpus(dir, true, false);
}

TEST(Hl7v2Corpus, EveryPieceOfEveryMessageIsReachable) {
  const fs::path dir = kCorpus / "hl7v2";
  if (!fs::is_directory(dir)) GTEST_SKIP() << "no HL7 v2 corpus at " << dir << " (the shared corpus is not installed)";
  size_t decoded = 0;
  for (const CorpusMessage& message : corpus_messages(dir, false)) {
    auto result = Message::parse(message.text);
    if (result.ok()) decoded += walk(*result);
  }
  std::cout << "read " << decoded << " subcomponents through the accessors and the walker\n";
  EXPECT_GT(decoded, 0u);
}

TEST(Hl7v2Hostile, MutatedMessagesNeverCrash) {
  std::vector<std::string> seeds = {
      "MSH|^~\\&|A|B|C|D|20240301||ADT^A01|1|P|2.5||||||8859/1\rPID|1||42^^^X&Y&Z~43||DOE\\S\\^J\\XC9\\\r\n\r\n",
      "\xEF\xBB\xBFMSH#*@!$#A#B#C#D#20240301##ORU*R01#7#P#2.7\nOBX#1#TX###a!.br!b!X41!!H!c\nZZZ#1\n",
  };
  const fs::path dir = kCorpus / "hl7v2";
  if (fs::is_directory(dir)) {
    for (const CorpusMessage& message : corpus_messages(dir, false)) seeds.push_back(message.text);
  }
  Mutator mutator;
  Tally total;
  for (int round = 0; round < 20000; ++round) {
    const std::string& seed = seeds[mutator.below(seeds.size())];
    const Tally one = check(mutator.mutate(seed), "mutation round " + std::to_string(round), true);
    total.parsed += one.parsed;
    total.rejected += one.rejected;
  }
  std::cout << "mutations: " << total.parsed << " parsed, " << total.rejected << " rejected\n";
}

TEST(Hl7v2Hostile, PathologicalShapes) {
  const std::string msh = "MSH|^~\\&|A|B|C|D|20240301||ADT^A01|1|P|2.5\r";
  for (const std::string& text : {msh + "PID" + std::string(100000, '|'), msh + "PID|" + std::string(2000, '^') + "\r",
                                  msh + "OBX|1|TX|||" + std::string(10000, '\\'), msh + std::string(10000, '\r'),
                                  msh + "NTE|1||\\X" + std::string(9999, 'A') + "\\", msh + "NTE|\\"}) {
    check(text, "pathological", true);
  }
}
