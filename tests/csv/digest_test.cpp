// Idempotency digests: the file digest is over the bytes (CRLF and LF differ); the row digest is
// over what the row says (CRLF vs LF, column order, CSV vs JSON lines and absent columns do not
// change it; any value change does).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "adapters/csv/csv_reader.h"
#include "adapters/csv/digest.h"
#include "adapters/csv/json_lines_reader.h"

using cc::csv::Extract;
using cc::csv::file_digest;
using cc::csv::row_digest;

namespace {
Extract csv(std::string_view text) {
  auto r = cc::csv::read_csv(text);
  if (!r) ADD_FAILURE() << r.error().message;
  return r ? std::move(r).value() : Extract{};
}
Extract jsonl(std::string_view text) {
  auto r = cc::csv::read_json_lines(text);
  if (!r) ADD_FAILURE() << r.error().message;
  return r ? std::move(r).value() : Extract{};
}
std::string digest(const Extract& e, size_t i) { return row_digest(e.header, e.rows.at(i)); }
}  // namespace

TEST(ExtractDigest, FileDigestIsSha256OfTheBytes) {
  // SHA-256("abc"), FIPS 180-2 test vector.
  EXPECT_EQ(file_digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(file_digest(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string file = "nhs_number,family\n9991234578,Smith\n";
  EXPECT_EQ(file_digest(file), file_digest(std::string(file)));
  EXPECT_NE(file_digest(file), file_digest("nhs_number,family\r\n9991234578,Smith\r\n"));
}

TEST(ExtractDigest, RowDigestIgnoresLineEndsAndRowPosition) {
  Extract lf = csv("id,note\n1,\"two\nlines\"\n2,x\n");
  Extract crlf = csv("id,note\r\n\r\n2,x\r\n1,\"two\r\nlines\"\r\n");
  ASSERT_EQ(lf.rows.size(), 2u);
  ASSERT_EQ(crlf.rows.size(), 2u);
  EXPECT_EQ(digest(lf, 0), digest(crlf, 1));
  EXPECT_EQ(digest(lf, 1), digest(crlf, 0));
  EXPECT_NE(digest(lf, 0), digest(lf, 1));
  EXPECT_EQ(digest(lf, 0).size(), 64u);
}

TEST(ExtractDigest, RowDigestIgnoresColumnOrderAndFormatButNotValues) {
  Extract a = csv("nhs_number,family,flag\n9991234578,Smith,\n");
  Extract b = csv("flag;family;nhs_number\n;Smith;9991234578\n");  // ',' would read this as one column
  Extract b2 = [] {
    auto r = cc::csv::read_csv("flag;family;nhs_number\n;Smith;9991234578\n", cc::csv::CsvOptions{';'});
    return std::move(r).value();
  }();
  Extract j = jsonl("{\"family\":\"Smith\",\"nhs_number\":9991234578,\"flag\":null}\n");
  Extract fewer = csv("nhs_number,family\n9991234578,Smith\n");
  Extract changed = csv("nhs_number,family,flag\n9991234578,Smyth,\n");
  Extract shifted = csv("nhs_number,family,flag\n9991234578,Smit,h\n");
  EXPECT_NE(digest(a, 0), digest(b, 0));
  EXPECT_EQ(digest(a, 0), digest(b2, 0));
  EXPECT_EQ(digest(a, 0), digest(j, 0));
  EXPECT_EQ(digest(a, 0), digest(fewer, 0));  // an absent column is no content
  EXPECT_NE(digest(a, 0), digest(changed, 0));
  EXPECT_NE(digest(a, 0), digest(shifted, 0));  // length-prefixed: no run-together collisions
}

TEST(ExtractDigest, RedeliveredFileGivesTheSameDigests) {
  const std::string file = "id,flag\n1,risk\n2,safeguarding\n3,carer\n";
  Extract first = csv(file);
  Extract again = csv(std::string(file));
  EXPECT_EQ(file_digest(file), file_digest(std::string(file)));
  std::set<std::string> seen;
  for (size_t i = 0; i < first.rows.size(); ++i) {
    EXPECT_EQ(digest(first, i), digest(again, i));
    seen.insert(digest(first, i));
  }
  EXPECT_EQ(seen.size(), 3u);
}
