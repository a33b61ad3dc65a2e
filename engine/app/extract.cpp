// See extract.h.
#include "engine/app/extract.h"

#include <algorithm>
#include <system_error>
#include <thread>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "adapters/csv/csv_reader.h"
#include "adapters/csv/json_lines_reader.h"
#include "engine/app/record_builder.h"
#include "engine/identity/nhs_number.h"

namespace cc::app {

std::string extract_message_type(const FeedConfig& feed) {
  return feed.format == "jsonl" ? "EXTRACT^JSONL" : "EXTRACT^CSV";
}

bool is_extract_message_type(const std::string& message_type) { return message_type.rfind("EXTRACT^", 0) == 0; }

Result<csv::Extract> read_extract(const FeedConfig& feed, std::string_view file) {
  if (feed.format == "jsonl") return csv::read_json_lines(file);
  csv::CsvOptions options;
  options.delimiter = feed.delimiter;
  return csv::read_csv(file, options);
}

mapping::RowInput row_input(const csv::Extract& extract, const std::vector<std::string>& columns, const csv::Row& row) {
  mapping::RowInput in;
  in.number = row.number;
  in.values.reserve(columns.size());
  for (const auto& column : columns) in.values.push_back(extract.get(row, column).value_or(std::string_view()));
  return in;
}

namespace {

mapping::FeedContext feed_context(const FeedConfig& feed) { return mapping::FeedContext{feed.name, feed.authorities}; }

// A required column the file's header lacks: the whole file is refused (no row could be mapped).
std::string missing_columns(const csv::Extract& extract, const mapping::MappingSet& mappings, const FeedConfig& feed) {
  std::vector<bool> required;
  auto columns = mappings.row_columns(feed.mapping, &required);
  std::string missing;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (!required[i] || extract.header.index(columns[i])) continue;
    missing += (missing.empty() ? "" : ", ") + columns[i];
  }
  return missing;
}

}  // namespace

ExtractAssessment assess_extract(const FeedConfig& feed, const mapping::MappingSet& mappings, std::string_view file) {
  ExtractAssessment a;
  if (!mappings.has_row_mapping(feed.mapping)) {
    a.file_problem = "Feed " + feed.name + " names row mapping \"" + feed.mapping +
                     "\", which the engine does not have; ask its administrators to add it.";
    return a;
  }
  auto extract = read_extract(feed, file);
  if (!extract) {
    a.file_problem = extract.error().message;
    return a;
  }
  if (auto missing = missing_columns(*extract, mappings, feed); !missing.empty()) {
    a.file_problem = "The file has no column " + missing + ", which feed " + feed.name +
                     " needs in every file; nothing was stored. Add the column(s) to the header row and send the file again.";
    return a;
  }
  // The reader's report, with the mapping's row problems added beside its own.
  rapidjson::Document report;
  report.Parse(csv::report_json(*extract).c_str());
  auto& alloc = report.GetAllocator();
  rapidjson::Value problems(rapidjson::kArrayType);
  const auto columns = mappings.row_columns(feed.mapping);
  const auto ctx = feed_context(feed);
  int64_t rows_held = 0, problems_omitted = 0;
  constexpr size_t kMaxListed = 1000;  // a report stays readable (and small) whatever the file
  // Each row is checked by mapping it (rows are independent, so a large file is shared out over the
  // cores: the sender waits for this before its answer); the problems are listed in row order.
  const size_t n = extract->rows.size();
  std::vector<std::vector<mapping::Issue>> row_issues(n);
  auto check = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      try {
        auto out = mappings.map_row(feed.mapping, row_input(*extract, columns, extract->rows[i]), ctx);
        if (!out) row_issues[i].push_back(mapping::Issue{true, 101, out.error().message, {}, {}});
        else row_issues[i] = std::move(out->issues);
      } catch (const std::exception& e) {
        row_issues[i].assign(1, mapping::Issue{true, 101, std::string("The row could not be mapped: ") + e.what(), {}, {}});
      } catch (...) {
        row_issues[i].assign(1, mapping::Issue{true, 101, "The row could not be mapped.", {}, {}});
      }
    }
  };
  constexpr size_t kRowsToShare = 10000;  // below this, starting threads costs more than it saves
  const size_t threads = n < kRowsToShare ? 1 : std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8);
  std::vector<std::thread> helpers;
  size_t shares = 1;  // shares of the rows taken: the first is this thread's
  for (; shares < threads; ++shares) {
    try {
      helpers.emplace_back(check, n * shares / threads, n * (shares + 1) / threads);
    } catch (const std::system_error&) {
      break;  // no thread to be had: this thread checks the rest
    }
  }
  check(0, n / threads);
  check(n * shares / threads, n);  // the shares no helper took (none when every helper started)
  for (auto& h : helpers) h.join();
  for (size_t i = 0; i < n; ++i) {
    const auto& row = extract->rows[i];
    const auto& issues = row_issues[i];
    bool held = false;
    for (const auto& issue : issues) {
      held = held || issue.error;
      if (problems.Size() >= kMaxListed) {
        ++problems_omitted;
        continue;
      }
      rapidjson::Value p(rapidjson::kObjectType);
      p.AddMember("row", row.number, alloc);
      p.AddMember("line", row.line, alloc);
      if (!issue.column.empty()) p.AddMember("column", rapidjson::Value(issue.column.c_str(), alloc), alloc);
      p.AddMember("severity", rapidjson::Value(rapidjson::StringRef(issue.error ? "error" : "warning")), alloc);
      p.AddMember("message", rapidjson::Value(issue.message.c_str(), alloc), alloc);
      problems.PushBack(p, alloc);
    }
    rows_held += held;
  }
  a.has_row_errors = rows_held > 0 || extract->rows_rejected > 0;
  report.AddMember("feed", rapidjson::Value(feed.name.c_str(), alloc), alloc);
  report.AddMember("mode", rapidjson::Value(feed.mode.c_str(), alloc), alloc);
  report.AddMember("rows_held", rows_held, alloc);
  report.AddMember("row_problems", problems, alloc);
  report.AddMember("row_problems_omitted", problems_omitted, alloc);
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  report.Accept(w);
  a.report_json = sb.GetString();
  return a;
}

ExtractMapping::ExtractMapping(const FeedConfig& feed, std::shared_ptr<const mapping::MappingSet> mappings,
                               const std::string& file, const store::Provenance& provenance)
    : feed_(feed),
      mappings_(std::move(mappings)),
      provenance_(provenance),
      extract_(read_extract(feed, file)),
      columns_(mappings_->row_columns(feed.mapping)),
      ctx_(feed_context(feed)) {}

bool ExtractMapping::done() const { return !extract_ || next_row_ >= extract_->rows.size(); }

void ExtractMapping::next(store::MappedBatchItem& item, size_t max_rows) {
  item.inbox_id = provenance_.inbox_id;
  item.provenance = provenance_;
  if (!extract_) {
    item.outcome = "failed";
    item.detail = extract_.error().message;
    return;
  }
  const auto& rows = extract_->rows;
  const size_t end = std::min(rows.size(), next_row_ + max_rows);
  for (; next_row_ < end; ++next_row_) map_row(rows[next_row_], item);
  if (!done()) {
    item.partial = true;
    item.outcome = "mapped";
    item.detail = "mapping in progress: " + std::to_string(next_row_) + " of " + std::to_string(rows.size()) +
                  " row(s) mapped so far";
    return;
  }
  finish(item);
}

void ExtractMapping::map_row(const csv::Row& row, store::MappedBatchItem& item) {
  // A row the mapping throws on is refused alone, as the upload's check reported it: the rest of
  // the file is still mapped.
  Result<mapping::MappingOutput> out = make_error("mapping", "");
  try {
    out = mappings_->map_row(feed_.mapping, row_input(*extract_, columns_, row), ctx_);
  } catch (const std::exception& e) {
    out = make_error("mapping", std::string("The row could not be mapped: ") + e.what());
  }
  if (!out) {
    // One work-list item a refused row, up to a limit; a summary says how many there were.
    if (++refused_ > 100) return;
    item.worklist_add.push_back({0, "extract-row-refused", "", item.inbox_id, feed_.name,
                                 "Feed " + feed_.name + " file " + item.provenance.control_id.substr(0, 12) + ", row " +
                                     std::to_string(row.number) + " (line " + std::to_string(row.line) +
                                     "): " + out.error().message,
                                 0, 0});
    return;
  }
  ++mapped_;
  bool row_held = false;
  std::string why;
  for (const auto& issue : out->issues) {
    row_held = row_held || issue.error;
    if (issue.error) why += (why.empty() ? "" : " ") + (issue.column.empty() ? "" : "column " + issue.column + ": ") + issue.message;
  }
  const bool nhs_rejected = out->nhs_number_rejected;
  for (auto& r : out->resources) {
    store::ResourceWrite w = resource_write(std::move(r));
    if (w.only_if_absent) w.event_time_ms = 0;
    else if (w.event_time_ms == 0) w.event_time_ms = item.provenance.received_ms;
    if (w.type == "Patient" && nhs_rejected) w.keep_identifier_systems.emplace_back(identity::NhsNumber::kSystem);
    w.part = "row";
    w.part_number = row.number;
    kept_.insert({w.type, w.id});
    item.writes.push_back(std::move(w));
  }
  for (auto& c : out->unmapped_codes)
    item.unmapped_codes.push_back({std::move(c.table), std::move(c.system), std::move(c.code), std::move(c.display)});
  if (row_held) {
    ++held_;
    const std::string patient = out->resources.empty() ? "" : out->resources.front().patient_id;
    item.worklist_add.push_back({0, "extract-row-held", patient, item.inbox_id, feed_.name,
                                 "Feed " + feed_.name + ", row " + std::to_string(row.number) + " (line " +
                                     std::to_string(row.line) + "): " + why,
                                 0, 0});
  }
}

void ExtractMapping::finish(store::MappedBatchItem& item) {
  if (refused_ > 100) {
    item.worklist_add.push_back({0, "extract-rows-refused", "", item.inbox_id, feed_.name,
                                 "Feed " + feed_.name + ": " + std::to_string(refused_) +
                                     " rows named no patient and were not recorded (the first 100 are listed).",
                                 0, 0});
  }
  if (extract_->rows_rejected > 0) {
    item.worklist_add.push_back({0, "extract-rows-rejected", "", item.inbox_id, feed_.name,
                                 "Feed " + feed_.name + ": " + std::to_string(extract_->rows_rejected) +
                                     " row(s) of the file could not be read and were not recorded; the upload's "
                                     "report names each (row, line, column).",
                                 0, 0});
  }
  item.outcome = "mapped";
  item.detail = std::to_string(mapped_) + " row(s) mapped (" + std::to_string(held_) + " held), " +
                std::to_string(refused_) + " refused, " + std::to_string(extract_->rows_rejected) + " unreadable";
  if (feed_.mode == "snapshot") {
    // A snapshot is the whole current set: what it no longer has has ended. Only a file read whole,
    // every row mapped: an unreadable or refused row's items would look absent, and must not end.
    if (!extract_->complete() || extract_->rows_rejected > 0 || refused_ > 0) {
      item.worklist_add.push_back({0, "snapshot-not-applied", "", item.inbox_id, feed_.name,
                                   "Feed " + feed_.name + ": this snapshot file had rows that could not be read or "
                                   "mapped, so items absent from it were NOT ended (they might be in those rows). "
                                   "Send a corrected file.",
                                   0, 0});
    } else {
      store::SnapshotEnd snapshot;
      snapshot.patch_by_type = mappings_->row_on_absent(feed_.mapping);
      snapshot.kept = std::move(kept_);
      snapshot.event_time_ms = item.provenance.received_ms;
      if (!snapshot.patch_by_type.empty()) item.snapshot = std::move(snapshot);
    }
  }
}

}  // namespace cc::app
