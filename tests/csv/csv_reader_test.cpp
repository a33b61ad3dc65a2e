// CSV extract reading: RFC 4180 quoting, line ends, BOM, blank lines, delimiters, header problems,
// and row-level errors that reject one row while every good row beside it is kept.
// All data is synthetic; NHS numbers are from the 999 test range.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "adapters/csv/csv_reader.h"

using cc::csv::CsvOptions;
using cc::csv::Extract;
using cc::csv::read_csv;
using cc::csv::Row;
using Values = std::vector<std::string>;

namespace {

Extract read(std::string_view text, char delimiter = ',') {
  auto result = read_csv(text, CsvOptions{delimiter});
  if (!result) ADD_FAILURE() << "read_csv failed: " << result.error().code << ": " << result.error().message;
  return result ? std::move(result).value() : Extract{};
}

std::string errors_of(const Extract& e) {
  std::string text;
  for (const auto& err : e.errors) text += cc::csv::to_string(err) + "\n";
  return text;
}

}  // namespace

TEST(CsvReader, HeaderAndRowsWithNumbersAndLines) {
  Extract e = read("person_id,nhs_number,family\nP1,9991234578,Smith\nP2,9990000018,Jones\n");
  EXPECT_EQ(e.header.names(), (Values{"person_id", "nhs_number", "family"}));
  ASSERT_EQ(e.rows.size(), 2u);
  EXPECT_EQ(e.rows[0].values, (Values{"P1", "9991234578", "Smith"}));
  EXPECT_EQ(e.rows[0].number, 1);
  EXPECT_EQ(e.rows[0].line, 2);
  EXPECT_EQ(e.rows[1].number, 2);
  EXPECT_EQ(e.rows[1].line, 3);
  EXPECT_EQ(e.rows_read, 2);
  EXPECT_EQ(e.rows_rejected, 0);
  EXPECT_TRUE(e.complete());
  EXPECT_EQ(e.get(e.rows[1], "family"), "Jones");
  EXPECT_EQ(e.header.index("nhs_number"), 1u);
  EXPECT_FALSE(e.get(e.rows[1], "no_such_column").has_value());
}

TEST(CsvReader, TrailingNewlineIsOptional) {
  Extract with = read("a,b\n1,2\n");
  Extract without = read("a,b\n1,2");
  ASSERT_EQ(with.rows.size(), 1u);
  ASSERT_EQ(without.rows.size(), 1u);
  EXPECT_EQ(with.rows[0].values, without.rows[0].values);
  EXPECT_TRUE(without.complete());
}

TEST(CsvReader, QuotedFieldsWithDoubledQuotesDelimitersAndNewlines) {
  Extract e = read(
      "id,note,address\n"
      "1,\"said \"\"no\"\" to visit\",\"1 High St, Leeds\"\n"
      "2,\"line one\nline two\",\"Flat 2\r\n3 Low Rd\"\n"
      "3,\"\",plain\n");
  ASSERT_EQ(e.rows.size(), 3u) << errors_of(e);
  EXPECT_EQ(e.rows[0].values, (Values{"1", "said \"no\" to visit", "1 High St, Leeds"}));
  EXPECT_EQ(e.rows[1].values, (Values{"2", "line one\nline two", "Flat 2\n3 Low Rd"}));  // CRLF inside -> \n
  EXPECT_EQ(e.rows[1].line, 3);
  EXPECT_EQ(e.rows[2].line, 6);  // the row before spans lines 3 to 5
  EXPECT_EQ(e.rows[2].values[1], "");
  EXPECT_FALSE(e.get(e.rows[2], "note").has_value());  // empty is absent
}

TEST(CsvReader, CrLfLfAndLoneCrRecordEndsGiveTheSameRows) {
  Extract lf = read("a,b\n1,2\n3,\"x\ny\"\n");
  Extract crlf = read("a,b\r\n1,2\r\n3,\"x\r\ny\"\r\n");
  Extract cr = read("a,b\r1,2\r3,\"x\ry\"\r");
  Extract mixed = read("a,b\r\n1,2\n3,\"x\ny\"\r");
  for (const Extract* e : {&lf, &crlf, &cr, &mixed}) {
    ASSERT_EQ(e->rows.size(), 2u) << errors_of(*e);
    EXPECT_EQ(e->rows[0].values, (Values{"1", "2"}));
    EXPECT_EQ(e->rows[1].values, (Values{"3", "x\ny"}));
    EXPECT_EQ(e->rows[1].line, 3);
  }
}

TEST(CsvReader, ByteOrderMarkIsSkipped) {
  Extract e = read("\xEF\xBB\xBFnhs_number,family\n9991234578,Smith\n");
  EXPECT_EQ(e.header.name(0), "nhs_number");
  ASSERT_EQ(e.rows.size(), 1u);
  EXPECT_EQ(e.get(e.rows[0], "nhs_number"), "9991234578");
}

TEST(CsvReader, Utf16ByteOrderMarkIsAFileError) {
  auto r = read_csv(std::string_view("\xFF\xFE" "a\0,\0b\0", 8));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "encoding");
  EXPECT_NE(r.error().message.find("UTF-16"), std::string::npos);
}

TEST(CsvReader, BlankLinesAndEmptyRecordsAreSkippedAndNotCounted) {
  Extract e = read("\n\na,b,c\n\n1,2,3\r\n\r\n,,\n  , ,\n4,5,6\n\n\n");
  ASSERT_EQ(e.rows.size(), 2u) << errors_of(e);
  EXPECT_EQ(e.rows[0].number, 1);
  EXPECT_EQ(e.rows[0].line, 5);
  EXPECT_EQ(e.rows[1].number, 2);
  EXPECT_EQ(e.rows[1].line, 9);
  EXPECT_EQ(e.rows_read, 2);
  EXPECT_EQ(e.blank_lines, 6);
  EXPECT_TRUE(e.errors.empty());
}

TEST(CsvReader, QuotedEmptyValuesAreARowNotABlankLine) {
  Extract e = read("a,b\n\"\",\"\"\n");
  ASSERT_EQ(e.rows.size(), 1u);
  EXPECT_EQ(e.rows[0].values, (Values{"", ""}));
}

TEST(CsvReader, HeaderNamesAreTrimmedValuesAreNot) {
  Extract e = read(" nhs_number ,\tfamily\t,\" given \"\n 9991234578 , Smith ,Ann\n");
  EXPECT_EQ(e.header.names(), (Values{"nhs_number", "family", "given"}));
  ASSERT_EQ(e.rows.size(), 1u);
  EXPECT_EQ(e.rows[0].values, (Values{" 9991234578 ", " Smith ", "Ann"}));
}

TEST(CsvReader, MissingAndExtraColumnsRejectOnlyTheirRows) {
  Extract e = read(
      "person_id,nhs_number,family,address,postcode\n"
      "P1,9991234578,Smith,1 High St,LS1 1AA\n"
      "P2,9990000018,Jones,2 Low Rd\n"                 // a column missing
      "P3,9990000026,Brown,3 Mill Lane, Leeds,LS2 2BB\n"  // an unquoted comma
      "P4,9990000034,Green,4 Park Ave,LS3 3CC\n");
  ASSERT_EQ(e.rows.size(), 2u);
  EXPECT_EQ(e.rows[0].values[0], "P1");
  EXPECT_EQ(e.rows[1].values[0], "P4");
  EXPECT_EQ(e.rows[1].number, 4);
  EXPECT_EQ(e.rows_read, 4);
  EXPECT_EQ(e.rows_rejected, 2);
  ASSERT_EQ(e.errors.size(), 2u);
  EXPECT_EQ(e.errors[0].row, 2);
  EXPECT_EQ(e.errors[0].line, 3);
  EXPECT_EQ(e.errors[0].column, "postcode");
  EXPECT_EQ(cc::csv::to_string(e.errors[0]).rfind("row 2 (line 3), column 'postcode': 4 fields where the header has 5", 0), 0u)
      << cc::csv::to_string(e.errors[0]);
  EXPECT_EQ(e.errors[1].row, 3);
  EXPECT_EQ(e.errors[1].column, "");
  EXPECT_EQ(cc::csv::to_string(e.errors[1]).rfind("row 3 (line 4): 6 fields where the header has 5; a value probably holds an unquoted ','", 0), 0u)
      << cc::csv::to_string(e.errors[1]);
  EXPECT_TRUE(e.complete());
}

TEST(CsvReader, AnInvalidNhsNumberIsJustData) {
  // Validation is the mapping's job: the reader keeps the row as it is.
  Extract e = read("nhs_number,family\n9991234578,Smith\n9991234570,Jones\n12345,Brown\n");
  ASSERT_EQ(e.rows.size(), 3u);
  EXPECT_EQ(e.get(e.rows[1], "nhs_number"), "9991234570");
  EXPECT_EQ(e.get(e.rows[2], "nhs_number"), "12345");
  EXPECT_TRUE(e.errors.empty());
}

TEST(CsvReader, InvalidUtf8RejectsTheRowAndNamesTheColumn) {
  Extract e = read("id,address,note\n1,caf\xC3\xA9 St,ok\n2,\xA3" "5 Road,ok\n3,x,\"quoted \xE9\"\n4,y,z\n");
  ASSERT_EQ(e.rows.size(), 2u) << errors_of(e);
  EXPECT_EQ(e.rows[0].values[1], "caf\xC3\xA9 St");
  EXPECT_EQ(e.rows[1].values[0], "4");
  ASSERT_EQ(e.errors.size(), 2u);
  EXPECT_EQ(e.errors[0].row, 2);
  EXPECT_EQ(e.errors[0].column, "address");
  EXPECT_NE(e.errors[0].message.find("not valid UTF-8 (byte 0xA3 at position 1"), std::string::npos) << e.errors[0].message;
  EXPECT_NE(e.errors[0].message.find("export it as UTF-8"), std::string::npos);
  EXPECT_EQ(e.errors[1].row, 3);
  EXPECT_EQ(e.errors[1].column, "note");
}

TEST(CsvReader, OverlongAndSurrogateAndNulAreNotAccepted) {
  const char text[] = "a\n\xC0\xAF\n\xED\xA0\x80\nx\0y\nok\n";
  Extract e = read(std::string_view(text, sizeof text - 1));
  ASSERT_EQ(e.rows.size(), 1u) << errors_of(e);
  EXPECT_EQ(e.rows[0].values[0], "ok");
  ASSERT_EQ(e.errors.size(), 3u);
  EXPECT_NE(e.errors[2].message.find("NUL"), std::string::npos);
}

TEST(CsvReader, StrayQuoteInAnUnquotedValueRejectsTheRow) {
  Extract e = read("id,name,note\n1,O\"Brien,x\n2,Smith,y\n");
  ASSERT_EQ(e.rows.size(), 1u);
  EXPECT_EQ(e.rows[0].values[0], "2");
  ASSERT_EQ(e.errors.size(), 1u);
  EXPECT_EQ(e.errors[0].row, 1);
  EXPECT_EQ(e.errors[0].column, "name");
  EXPECT_NE(e.errors[0].message.find("double each '\"'"), std::string::npos);
}

TEST(CsvReader, TextAfterAClosingQuoteRejectsTheRow) {
  Extract e = read("id,name,note\n1,\"Smith\" Jr,x\n2,Jones,y\n");
  ASSERT_EQ(e.rows.size(), 1u);
  ASSERT_EQ(e.errors.size(), 1u);
  EXPECT_EQ(e.errors[0].column, "name");
  EXPECT_NE(e.errors[0].message.find("text after its closing"), std::string::npos);
}

TEST(CsvReader, UnterminatedQuoteMidFileRejectsOneRowAndReadingResumes) {
  // Row 2 opens a quote it never closes; the next '"' is in row 4. Rows 1, 3 and 4 are good.
  Extract e = read(
      "id,note,flag\n"
      "1,fine,Y\n"
      "2,\"never closed,N\n"
      "3,also fine,Y\n"
      "4,\"quoted, properly\",N\n");
  EXPECT_TRUE(e.complete()) << e.incomplete->message;
  ASSERT_EQ(e.rows.size(), 3u) << errors_of(e);
  EXPECT_EQ(e.rows[0].values[0], "1");
  EXPECT_EQ(e.rows[1].values, (Values{"3", "also fine", "Y"}));
  EXPECT_EQ(e.rows[1].line, 4);
  EXPECT_EQ(e.rows[2].values, (Values{"4", "quoted, properly", "N"}));
  ASSERT_EQ(e.errors.size(), 1u);
  EXPECT_EQ(e.errors[0].row, 2);
  EXPECT_EQ(e.errors[0].line, 3);
  EXPECT_EQ(e.errors[0].column, "note");
  EXPECT_NE(e.errors[0].message.find("opens this value on line 3 is not closed"), std::string::npos) << e.errors[0].message;
}

TEST(CsvReader, UnterminatedQuoteAtEndOfFileEndsTheFileAndKeepsEarlierRows) {
  Extract e = read(
      "id,note,flag\n"
      "1,fine,Y\n"
      "2,\"runs to the end,N\n"
      "3,lost,Y\n");
  ASSERT_EQ(e.rows.size(), 1u);
  EXPECT_EQ(e.rows[0].values[0], "1");
  ASSERT_FALSE(e.complete());
  EXPECT_EQ(e.incomplete->code, "unterminated-quote");
  EXPECT_NE(e.incomplete->message.find("row 2 (line 3), column 'note'"), std::string::npos) << e.incomplete->message;
  EXPECT_NE(e.incomplete->message.find("lines 3 to 4"), std::string::npos) << e.incomplete->message;
  EXPECT_EQ(e.rows_rejected, 1);
  ASSERT_EQ(e.errors.size(), 1u);
}

TEST(CsvReader, ALastLineWithTooFewFieldsAndNoLineEndLooksCutShort) {
  Extract e = read("id,family,postcode\n1,Smith,LS1 1AA\n2,Jon");
  ASSERT_EQ(e.rows.size(), 1u);
  ASSERT_FALSE(e.complete());
  EXPECT_EQ(e.incomplete->code, "cut-short");
  // The same with a line end is an ordinary bad row.
  Extract f = read("id,family,postcode\n1,Smith,LS1 1AA\n2,Jon\n");
  EXPECT_TRUE(f.complete());
  EXPECT_EQ(f.rows_rejected, 1);
}

TEST(CsvReader, MultilineRowWithWrongCountSaysWhichLinesItSpans) {
  Extract e = read("a,b\n1,\"x\ny\",extra\n2,ok\n");
  ASSERT_EQ(e.rows.size(), 1u);
  ASSERT_EQ(e.errors.size(), 1u);
  EXPECT_NE(e.errors[0].message.find("runs from line 2 to line 3"), std::string::npos) << e.errors[0].message;
}

TEST(CsvReader, SemicolonAndTabDelimiters) {
  Extract semi = read("nhs_number;family;address\n9991234578;Smith;\"1 High St; Leeds\"\n9990000018;Jones,Jr;x\n", ';');
  ASSERT_EQ(semi.rows.size(), 2u) << errors_of(semi);
  EXPECT_EQ(semi.rows[0].values[2], "1 High St; Leeds");
  EXPECT_EQ(semi.rows[1].values[1], "Jones,Jr");
  Extract tab = read("nhs_number\tfamily\tnote\n9991234578\tSmith\t\"a\tb\"\n9990000018\t\t\n", '\t');
  ASSERT_EQ(tab.rows.size(), 2u) << errors_of(tab);
  EXPECT_EQ(tab.rows[0].values[2], "a\tb");
  EXPECT_EQ(tab.rows[1].values, (Values{"9990000018", "", ""}));
  Extract tab_extra = read("a\tb\n1\t2\t3\n", '\t');
  ASSERT_EQ(tab_extra.errors.size(), 1u);
  EXPECT_NE(tab_extra.errors[0].message.find("unquoted tab"), std::string::npos);
}

TEST(CsvReader, HeaderProblemsAreFileErrors) {
  auto empty = read_csv("");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, "empty-file");
  EXPECT_EQ(read_csv("\xEF\xBB\xBF\r\n\n").error().code, "empty-file");

  auto duplicate = read_csv("id,family, family\n1,a,b\n");
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.error().code, "header");
  EXPECT_NE(duplicate.error().message.find("'family' twice (columns 2 and 3)"), std::string::npos);

  auto empty_name = read_csv("id,,family\n1,a,b\n");
  ASSERT_FALSE(empty_name.ok());
  EXPECT_EQ(empty_name.error().code, "header");
  EXPECT_NE(empty_name.error().message.find("column 2"), std::string::npos);

  auto trailing = read_csv("id,family,\n1,a,\n");
  ASSERT_FALSE(trailing.ok());
  EXPECT_NE(trailing.error().message.find("trailing delimiter"), std::string::npos);

  auto quote = read_csv("id,\"family\n1,a\n");
  ASSERT_FALSE(quote.ok());
  EXPECT_EQ(quote.error().code, "header");

  auto bad_delimiter = read_csv("a\n1\n", CsvOptions{'"'});
  ASSERT_FALSE(bad_delimiter.ok());
  EXPECT_EQ(bad_delimiter.error().code, "options");
}

TEST(CsvReader, HeaderOnlyFileHasNoRows) {
  Extract e = read("id,family\n");
  EXPECT_EQ(e.header.size(), 2u);
  EXPECT_TRUE(e.rows.empty());
  EXPECT_EQ(e.rows_read, 0);
  EXPECT_TRUE(e.complete());
}

TEST(CsvReader, ReportJsonCarriesCountsAndErrorsButNoValues) {
  Extract e = read("id,nhs_number\n1,9991234578\n2,9990000018,extra\n");
  std::string json = cc::csv::report_json(e);
  EXPECT_NE(json.find("\"rows_read\":2"), std::string::npos) << json;
  EXPECT_NE(json.find("\"rows_kept\":1"), std::string::npos) << json;
  EXPECT_NE(json.find("\"rows_rejected\":1"), std::string::npos) << json;
  EXPECT_NE(json.find("row 2 (line 3): 3 fields where the header has 2"), std::string::npos) << json;
  EXPECT_EQ(json.find("9990000018"), std::string::npos) << "reports must not echo row values";
  std::string capped = cc::csv::report_json(e, 0);
  EXPECT_NE(capped.find("\"errors_omitted\":1"), std::string::npos) << capped;
}

TEST(CsvReader, ManyRowsWithAFewBadOnesKeepEveryGoodRow) {
  std::string text = "row,nhs_number,note\n";
  for (int i = 1; i <= 1000; ++i) {
    if (i % 100 == 0) {
      text += std::to_string(i) + ",9991234578\n";  // short
    } else {
      text += std::to_string(i) + ",9991234578,\"note " + std::to_string(i) + ", with comma\"\n";
    }
  }
  Extract e = read(text);
  EXPECT_EQ(e.rows.size(), 990u);
  EXPECT_EQ(e.rows_rejected, 10);
  EXPECT_EQ(e.rows_read, 1000);
  for (const Row& r : e.rows) EXPECT_EQ(r.values[0], std::to_string(r.number));
}

TEST(CsvReader, TrailingDelimiterGivesAnEmptyLastValue) {
  Extract e = read("a,b\n1,");
  ASSERT_EQ(e.rows.size(), 1u);
  EXPECT_EQ(e.rows[0].values, (Values{"1", ""}));
  EXPECT_TRUE(e.complete());
}

TEST(CsvReader, RandomRecordsWrittenByTheRfcReadBackExactly) {
  // Values drawn from awkward pieces, written as RFC 4180 with random line ends; a fixed seed.
  const std::vector<std::string> pieces = {"a", "Smith", " ", ",", ";", "\"", "\"\"", "\n", "\r\n", "\r",
                                           "\xC3\xA9", "9991234578", "\t", "x y", ""};
  const std::vector<std::string> ends = {"\n", "\r\n", "\r"};
  uint64_t state = 42;
  auto next = [&](uint64_t n) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<size_t>((state >> 33) % n);
  };
  for (char delimiter : {',', ';', '\t'}) {
    std::string text = "c1" + std::string(1, delimiter) + "c2" + std::string(1, delimiter) + "c3\n";
    std::vector<Values> expected;
    for (int row = 0; row < 300; ++row) {
      Values values;
      for (int c = 0; c < 3; ++c) {
        std::string v;
        for (size_t k = next(4); k > 0; --k) v += pieces[next(pieces.size())];
        values.push_back(v);
      }
      for (int c = 0; c < 3; ++c) {
        std::string quoted = "\"";
        for (char ch : values[c]) quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
        quoted += "\"";
        text += (c ? std::string(1, delimiter) : "") + quoted;
        // Line breaks inside values read back as "\n".
        std::string normal;
        for (size_t i = 0; i < values[c].size(); ++i) {
          if (values[c][i] == '\r') {
            if (i + 1 < values[c].size() && values[c][i + 1] == '\n') ++i;
            normal += '\n';
          } else {
            normal += values[c][i];
          }
        }
        values[c] = normal;
      }
      text += ends[next(ends.size())];
      expected.push_back(values);
    }
    Extract e = read(text, delimiter);
    ASSERT_EQ(e.rows.size(), expected.size()) << errors_of(e);
    for (size_t i = 0; i < expected.size(); ++i) ASSERT_EQ(e.rows[i].values, expected[i]) << "row " << i + 1;
  }
}

TEST(CsvReader, ArbitraryBytesNeverLoseCountOrShape) {
  const std::string alphabet = "ab,;\"\n\r \t\xC3\xA9\xFF";
  uint64_t state = 7;
  auto next = [&](uint64_t n) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<size_t>((state >> 33) % n);
  };
  for (int round = 0; round < 2000; ++round) {
    std::string text = "a,b,c\n";
    for (size_t k = next(120); k > 0; --k) text += alphabet[next(alphabet.size())];
    auto r = read_csv(text);
    ASSERT_TRUE(r.ok());
    const Extract& e = *r;
    EXPECT_EQ(e.rows_read, static_cast<int64_t>(e.rows.size()) + e.rows_rejected);
    EXPECT_GE(e.errors.size(), static_cast<size_t>(e.rows_rejected));
    for (const Row& row : e.rows) ASSERT_EQ(row.values.size(), 3u);
    for (size_t i = 1; i < e.rows.size(); ++i) ASSERT_LT(e.rows[i - 1].number, e.rows[i].number);
  }
}
