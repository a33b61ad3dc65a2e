// Extract feeds: a file of rows (CSV or JSON lines) from a council's or a mental health trust's
// system. Before the upload is answered the file is read, each row is checked through the feed's
// row mapping, and the file is stored in the inbox; only then does the sender get its report
// (acknowledged means stored). The record builder maps the stored file's rows afterwards.
#pragma once
#include <cstdint>
#include <string>

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

// Maps a stored extract file's rows into one batch item: every good row's resources, the work-list
// items for rows held (AE-like problems) and one for rows the reader rejected.
void map_extract(const FeedConfig& feed, const mapping::MappingSet& mappings, const std::string& file,
                 store::MappedBatchItem& item);

}  // namespace cc::app
