// Header lookup, row error sentences and the JSON report of an extract read.
#include "adapters/csv/extract.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <numeric>

namespace cc::csv {

std::string to_string(const RowError& error) {
  std::string text = "row " + std::to_string(error.row) + " (line " + std::to_string(error.line) + ")";
  if (!error.column.empty()) text += ", column '" + error.column + "'";
  text += ": ";
  text += error.message;
  return text;
}

Result<Header> Header::from_names(std::vector<std::string> names) {
  Header header;
  header.names_ = std::move(names);
  header.index_.reserve(header.names_.size());
  for (size_t i = 0; i < header.names_.size(); ++i) {
    const std::string& name = header.names_[i];
    if (name.empty()) {
      return make_error("header", "column " + std::to_string(i + 1) +
                                      " of the header row has no name; every column needs a "
                                      "unique name (check for a trailing delimiter on the header line)");
    }
    auto [it, inserted] = header.index_.emplace(name, i);
    if (!inserted) {
      return make_error("header", "the header names '" + name + "' twice (columns " +
                                      std::to_string(it->second + 1) + " and " + std::to_string(i + 1) +
                                      "); every column needs a unique name");
    }
  }
  header.index_by_name();
  return header;
}

std::optional<size_t> Header::index(std::string_view column) const {
  auto it = index_.find(column);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string_view> Header::get(const Row& row, std::string_view column) const {
  auto i = index(column);
  if (!i || *i >= row.values.size() || row.values[*i].empty()) return std::nullopt;
  return std::string_view(row.values[*i]);
}

void Header::add(const std::vector<std::string>& columns) {
  const size_t before = names_.size();
  for (const std::string& column : columns) {
    if (index(column)) continue;
    names_.push_back(column);
    index_.emplace(names_.back(), names_.size() - 1);
  }
  if (names_.size() != before) index_by_name();  // once for the lot, not once a column
}

void Header::index_by_name() {
  by_name_.resize(names_.size());
  std::iota(by_name_.begin(), by_name_.end(), size_t{0});
  std::sort(by_name_.begin(), by_name_.end(), [&](size_t a, size_t b) { return names_[a] < names_[b]; });
}

std::string report_json(const Extract& extract, size_t max_errors) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  auto str = [&](std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); };
  w.StartObject();
  w.Key("complete");
  w.Bool(extract.complete());
  if (extract.incomplete) {
    w.Key("incomplete");
    w.StartObject();
    w.Key("code");
    str(extract.incomplete->code);
    w.Key("message");
    str(extract.incomplete->message);
    w.EndObject();
  }
  w.Key("rows_read");
  w.Int64(extract.rows_read);
  w.Key("rows_kept");
  w.Int64(static_cast<int64_t>(extract.rows.size()));
  w.Key("rows_rejected");
  w.Int64(extract.rows_rejected);
  w.Key("blank_lines");
  w.Int64(extract.blank_lines);
  w.Key("columns");
  w.StartArray();
  for (const auto& name : extract.header.names()) str(name);
  w.EndArray();
  w.Key("errors");
  w.StartArray();
  size_t shown = std::min(max_errors, extract.errors.size());
  for (size_t i = 0; i < shown; ++i) {
    const RowError& e = extract.errors[i];
    w.StartObject();
    w.Key("row");
    w.Int64(e.row);
    w.Key("line");
    w.Int64(e.line);
    if (!e.column.empty()) {
      w.Key("column");
      str(e.column);
    }
    w.Key("message");
    str(to_string(e));
    w.EndObject();
  }
  w.EndArray();
  if (shown < extract.errors.size()) {
    w.Key("errors_omitted");
    w.Uint64(extract.errors.size() - shown);
  }
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace cc::csv
