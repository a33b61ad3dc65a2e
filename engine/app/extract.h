// Extract feeds: a file of rows (CSV or JSON lines) from a council's or a mental health trust's
// system. Before the upload is answered the file is read, each row is checked through the feed's
// row mapping, and the file is stored in the inbox; only then does the sender get its report
// (acknowledged means stored). The record builder maps the stored file's rows afterwards.
#pragma once
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "adapters/csv/extract.h"
#include "engine/core/config.h"
#include "engine/core/result.h"
#include "engine/mapping/mapping_set.h"
#include "engine/store/record_store.h"

namespace cc::app {

// The inbox message type of a stored extract file, e.g. "EXTRACT^CSV".
std::string extract_message_type(const FeedConfig& feed);
bool is_extract_message_type(const std::string& message_type);

// Reads an extract file as its feed says (format, delimiter).
Result<csv::Extract> read_extract(const FeedConfig& feed, std::string_view file);

// The row mapping's values for a row: its declared columns in order ("" when the file lacks one).
mapping::RowInput row_input(const csv::Extract& extract, const std::vector<std::string>& columns, const csv::Row& row);

// What the upload's checks found: a file-level problem (nothing stored), or the report to store as
// the "ACK" and send back (rows read, rows rejected by the reader, rows with mapping problems, each
// problem with its row, line and column — never a row's values).
struct ExtractAssessment {
  std::string file_problem;  // non-empty: the file is refused (a required column missing, unreadable)
  std::string report_json;
  bool has_row_errors = false;
};
ExtractAssessment assess_extract(const FeedConfig& feed, const mapping::MappingSet& mappings, std::string_view file);

// Maps a stored extract file's rows a chunk at a time, so that the record builder writes one chunk
// while it maps the next and never holds a large file mapped whole. Each chunk is a batch item of the
// file's inbox message with the chunk's rows' resources and the work-list items of rows held (AE-like
// problems) or refused; all but the last are marked partial (the mapping cursor stays before the file
// until its last chunk is written: after a crash the file is mapped again from its first row, and
// what was written already is unchanged). The last chunk carries the file's summary, the work-list
// item for rows the reader rejected, and, for a snapshot feed, the end of what the file no longer has.
class ExtractMapping {
 public:
  ExtractMapping(const FeedConfig& feed, std::shared_ptr<const mapping::MappingSet> mappings, const std::string& file,
                 const store::Provenance& provenance);
  // Maps the next `max_rows` rows (every row left when that is more) into `item`.
  void next(store::MappedBatchItem& item, size_t max_rows);
  // True once the last chunk has been given (or the file could not be read).
  bool done() const;
  // Rows given so far.
  size_t rows_done() const { return next_row_; }
  const store::Provenance& provenance() const { return provenance_; }

 private:
  void map_row(const csv::Row& row, store::MappedBatchItem& item);
  void finish(store::MappedBatchItem& item);

  const FeedConfig& feed_;
  std::shared_ptr<const mapping::MappingSet> mappings_;  // one set for the whole file, even across a reload
  store::Provenance provenance_;
  Result<csv::Extract> extract_;
  std::vector<std::string> columns_;
  mapping::FeedContext ctx_;
  size_t next_row_ = 0;
  int64_t mapped_ = 0, held_ = 0, refused_ = 0;
  std::set<std::pair<std::string, std::string>> kept_;  // (type, id) of every row so far, for a snapshot's end
};

}  // namespace cc::app
