// What reading an extract file gives back, whatever its format (CSV or JSON lines): the header,
// the good rows, the row-level errors a council's data officer can act on, and the counts.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/core/result.h"

namespace cc::csv {

// One data record. `values` has exactly one entry a header column, in header order. An empty
// value means absent: an empty CSV field, a JSON null or missing member, and a JSON "" all read as
// "no value" (FHIR has no empty strings either). Line breaks inside values are always "\n",
// whatever the file's line ends were.
struct Row {
  int64_t number = 0;  // 1 = first data row; blank lines are not counted
  int64_t line = 0;    // physical line the record starts on (1 = the file's first line)
  std::vector<std::string> values;
};

// A problem with one row. The row is not in Extract::rows; every other row is unaffected.
// `column` is the header name concerned, empty when no single column can be named.
// `message` says what is wrong and what to do, without the location and without echoing the
// row's values (reports travel by e-mail and into logs; they name places, never patient data).
struct RowError {
  int64_t row = 0;
  int64_t line = 0;
  std::string column;
  std::string message;
};

// "row 14 (line 15), column 'address': ..." — the error as one sentence for a report.
std::string to_string(const RowError& error);

// Column names in file order with name -> index lookup. Names are unique and non-empty.
class Header {
 public:
  Header() = default;

  // A header from names as given (trimmed by the reader). Fails with code "header" naming the
  // column when a name is empty or repeated.
  static Result<Header> from_names(std::vector<std::string> names);

  size_t size() const { return names_.size(); }
  const std::vector<std::string>& names() const { return names_; }
  const std::string& name(size_t index) const { return names_[index]; }

  // Index of `column`, or nullopt when the header has no such column. Exact, case-sensitive.
  std::optional<size_t> index(std::string_view column) const;

  // The row's value in `column`; nullopt when the header has no such column or the value is
  // absent (empty). The view points into `row`.
  std::optional<std::string_view> get(const Row& row, std::string_view column) const;

  // Indices ordered by column name (byte order); used for order-independent row digests.
  const std::vector<size_t>& by_name() const { return by_name_; }

  // Adds the columns not yet in the header at its end, in order (JSON lines grow the header as they
  // go). The caller guarantees no name is empty.
  void add(const std::vector<std::string>& columns);

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  void index_by_name();

  std::vector<std::string> names_;
  std::unordered_map<std::string, size_t, Hash, std::equal_to<>> index_;
  std::vector<size_t> by_name_;
};

// The result of reading one file.
//
// Safety note for snapshot feeds: a rejected row's item looks absent from the file, and so do
// the items after an incomplete read. A snapshot must not end absent items from a file with
// rows_rejected > 0 or `incomplete` set; the caller decides what to do instead.
struct Extract {
  Header header;
  std::vector<Row> rows;         // the good rows, in file order
  std::vector<RowError> errors;  // one or more a rejected row, in file order
  int64_t rows_read = 0;         // data records seen: rows.size() + rows_rejected
  int64_t rows_rejected = 0;
  int64_t blank_lines = 0;       // blank records skipped (not counted as rows)
  // Set when the file could not be read to its end (an unterminated quote running to the end of
  // the file) or looks cut short (the last line has no line end and does not read as a row).
  // The rows before the problem are kept.
  std::optional<Error> incomplete;

  bool complete() const { return !incomplete.has_value(); }
  std::optional<std::string_view> get(const Row& row, std::string_view column) const {
    return header.get(row, column);
  }
};

// The file-level result as a compact JSON object for a report (upload response or the drop
// directory's FILE.report.json): counts, complete/incomplete with its message, the columns, and
// at most `max_errors` row errors (`errors_omitted` says how many more there were). No row values.
std::string report_json(const Extract& extract, size_t max_errors = 1000);

}  // namespace cc::csv
