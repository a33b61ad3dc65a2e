// JSON-lines extract reading: members to columns, numbers as written, nested values as compact
// JSON, null as absent, and bad lines rejected one at a time beside the good ones.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "adapters/csv/json_lines_reader.h"

using cc::csv::Extract;
using cc::csv::read_json_lines;
using Values = std::vector<std::string>;

namespace {

Extract read(std::string_view text) {
  auto result = read_json_lines(text);
  if (!result) ADD_FAILURE() << "read_json_lines failed: " << result.error().code << ": " << result.error().message;
  return result ? std::move(result).value() : Extract{};
}

std::string errors_of(const Extract& e) {
  std::string text;
  for (const auto& err : e.errors) text += cc::csv::to_string(err) + "\n";
  return text;
}

}  // namespace

TEST(JsonLinesReader, GoodLinesBecomeRows) {
  Extract e = read(
      "{\"person_id\":\"P1\",\"nhs_number\":\"9991234578\",\"family\":\"Smith\"}\n"
      "{\"person_id\":\"P2\",\"nhs_number\":\"9990000018\",\"family\":\"Jones\"}\n");
  EXPECT_EQ(e.header.names(), (Values{"person_id", "nhs_number", "family"}));
  ASSERT_EQ(e.rows.size(), 2u);
  EXPECT_EQ(e.rows[1].values, (Values{"P2", "9990000018", "Jones"}));
  EXPECT_EQ(e.rows[1].number, 2);
  EXPECT_EQ(e.rows[1].line, 2);
  EXPECT_TRUE(e.complete());
}

TEST(JsonLinesReader, NumbersBooleansNullsAndNestedValues) {
  Extract e = read(
      "{\"id\":1,\"nhs_number\":9991234578,\"score\":1.50,\"big\":1e3,\"active\":true,\"closed\":false,"
      "\"ended\":null,\"team\":{\"lead\":\"Dr A\",\"members\":[1, 2.0 ,\"x\"]},\"tags\":[],\"note\":\"a\\\"b\\nc\"}\n");
  ASSERT_EQ(e.rows.size(), 1u) << errors_of(e);
  const auto& r = e.rows[0];
  EXPECT_EQ(e.get(r, "id"), "1");
  EXPECT_EQ(e.get(r, "nhs_number"), "9991234578");
  EXPECT_EQ(e.get(r, "score"), "1.50");  // as written, not re-formatted
  EXPECT_EQ(e.get(r, "big"), "1e3");
  EXPECT_EQ(e.get(r, "active"), "true");
  EXPECT_EQ(e.get(r, "closed"), "false");
  EXPECT_FALSE(e.get(r, "ended").has_value());
  EXPECT_TRUE(e.header.index("ended").has_value());
  EXPECT_EQ(e.get(r, "team"), "{\"lead\":\"Dr A\",\"members\":[1,2.0,\"x\"]}");
  EXPECT_EQ(e.get(r, "tags"), "[]");
  EXPECT_EQ(e.get(r, "note"), "a\"b\nc");
}

TEST(JsonLinesReader, ColumnsGrowInOrderOfFirstAppearanceAndEveryRowHasThemAll) {
  Extract e = read("{\"a\":\"1\"}\n{\"b\":\"2\",\"a\":\"3\"}\n{\"c\":\"4\"}\n");
  EXPECT_EQ(e.header.names(), (Values{"a", "b", "c"}));
  ASSERT_EQ(e.rows.size(), 3u);
  EXPECT_EQ(e.rows[0].values, (Values{"1", "", ""}));
  EXPECT_EQ(e.rows[1].values, (Values{"3", "2", ""}));
  EXPECT_EQ(e.rows[2].values, (Values{"", "", "4"}));
}

TEST(JsonLinesReader, BadLinesAreRejectedAndGoodLinesKept) {
  Extract e = read(
      "{\"id\":\"1\",\"nhs_number\":\"9991234578\"}\n"
      "{\"id\":\"2\",\"nhs_number\":\"9990000018\"\n"  // no closing brace
      "[\"not\",\"an\",\"object\"]\n"
      "\"just a string\"\n"
      "{\"id\":\"5\",\"id\":\"5b\"}\n"
      "{\"id\":\"6\",\"nhs_number\":\"9991234570\"}\n"  // invalid NHS number: just data
      "{\"id\":\"7\",\"oops\":tru}\n"
      "{\"id\":\"8\"} {\"id\":\"9\"}\n"
      "{\"id\":\"10\",\"nhs_number\":\"9990000026\"}\n");
  ASSERT_EQ(e.rows.size(), 3u) << errors_of(e);
  EXPECT_EQ(e.get(e.rows[0], "id"), "1");
  EXPECT_EQ(e.get(e.rows[1], "nhs_number"), "9991234570");
  EXPECT_EQ(e.rows[2].number, 9);
  EXPECT_EQ(e.rows_read, 9);
  EXPECT_EQ(e.rows_rejected, 6);
  ASSERT_EQ(e.errors.size(), 6u) << errors_of(e);
  EXPECT_EQ(e.errors[0].row, 2);
  EXPECT_NE(e.errors[0].message.find("not valid JSON"), std::string::npos);
  EXPECT_NE(e.errors[1].message.find("a JSON array, not an object"), std::string::npos);
  EXPECT_NE(e.errors[2].message.find("a JSON string, not an object"), std::string::npos);
  EXPECT_EQ(e.errors[3].column, "id");
  EXPECT_NE(e.errors[3].message.find("twice"), std::string::npos);
  EXPECT_EQ(e.errors[4].row, 7);
  EXPECT_EQ(e.errors[4].column, "oops");
  EXPECT_NE(e.errors[5].message.find("not valid JSON"), std::string::npos);
  // Columns only seen on rejected lines do not join the header.
  EXPECT_EQ(e.header.names(), (Values{"id", "nhs_number"}));
  EXPECT_TRUE(e.complete());
}

// A line nested hundreds of thousands deep is a row error, not a stack overflow; the rows beside
// it are kept.
TEST(JsonLinesReader, ALineNestedDeeperThanAStackIsARowError) {
  const std::string deep = "{\"id\":\"P1\",\"team\":" + std::string(300000, '[') + std::string(300000, ']') + "}\n";
  Extract e = read("{\"id\":\"P0\"}\n" + deep + "{\"id\":\"P2\"}\n");
  ASSERT_EQ(e.rows.size(), 2u) << errors_of(e);
  EXPECT_EQ(e.rows[1].values.at(0), "P2");
  ASSERT_EQ(e.errors.size(), 1u);
  EXPECT_EQ(e.errors[0].row, 2);
  EXPECT_NE(errors_of(e).find("more than 64 levels deep"), std::string::npos) << errors_of(e);
}

// Columns are capped at 1,000 a file: a line naming more (80,000 names once took minutes to read,
// and every later row would have held a value for each) is a row error naming the limit, and the
// lines beside it are kept. A line of 999 new names, within it, is read.
TEST(JsonLinesReader, ALineOfTooManyColumnsIsARowError) {
  auto line_of = [](const std::string& prefix, int names) {
    std::string line = "{\"id\":\"" + prefix + "\"";
    for (int i = 0; i < names; ++i) line += ",\"" + prefix + std::to_string(i) + "\":\"v\"";
    return line + "}\n";
  };
  Extract e = read("{\"id\":\"P0\"}\n" + line_of("wide", 80000) + line_of("w", 998) + "{\"id\":\"P3\"}\n");
  ASSERT_EQ(e.errors.size(), 1u) << errors_of(e);
  EXPECT_EQ(e.errors[0].row, 2);
  EXPECT_NE(errors_of(e).find("beyond the 1000"), std::string::npos) << errors_of(e);
  ASSERT_EQ(e.rows.size(), 3u);
  EXPECT_EQ(e.header.size(), 999u);  // id and the 998 of the third line
  EXPECT_EQ(e.header.get(e.rows[1], "w997").value_or(""), "v");
  EXPECT_EQ(e.rows[2].values.at(0), "P3");
}

TEST(JsonLinesReader, CrLfBlankLinesAndBom) {
  Extract e = read("\xEF\xBB\xBF{\"a\":\"1\"}\r\n\r\n   \n{\"a\":\"2\"}\r\n");
  ASSERT_EQ(e.rows.size(), 2u) << errors_of(e);
  EXPECT_EQ(e.rows[1].values[0], "2");
  EXPECT_EQ(e.rows[1].number, 2);
  EXPECT_EQ(e.rows[1].line, 4);
  EXPECT_EQ(e.blank_lines, 2);
}

TEST(JsonLinesReader, InvalidUtf8IsARowError) {
  Extract e = read("{\"a\":\"caf\xE9\"}\n{\"a\":\"ok\"}\n");
  ASSERT_EQ(e.rows.size(), 1u);
  ASSERT_EQ(e.errors.size(), 1u);
  EXPECT_NE(e.errors[0].message.find("not valid UTF-8"), std::string::npos) << e.errors[0].message;
}

TEST(JsonLinesReader, EmptyMemberNameIsARowError) {
  Extract e = read("{\"\":\"x\",\"a\":\"1\"}\n{\"a\":\"2\"}\n");
  ASSERT_EQ(e.rows.size(), 1u);
  EXPECT_EQ(e.rows_rejected, 1);
  EXPECT_EQ(e.header.names(), (Values{"a"}));
}

TEST(JsonLinesReader, BrokenLastLineWithoutLineEndLooksCutShort) {
  Extract e = read("{\"a\":\"1\"}\n{\"a\":\"2");
  ASSERT_EQ(e.rows.size(), 1u);
  ASSERT_FALSE(e.complete());
  EXPECT_EQ(e.incomplete->code, "cut-short");
  Extract fine = read("{\"a\":\"1\"}\n{\"a\":\"2\"}");
  EXPECT_TRUE(fine.complete());
  EXPECT_EQ(fine.rows.size(), 2u);
}

TEST(JsonLinesReader, EmptyFileIsAFileError) {
  auto r = read_json_lines("\n  \r\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "empty-file");
}
