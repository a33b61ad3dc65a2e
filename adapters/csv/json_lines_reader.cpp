// The JSON-lines reader: RapidJSON's SAX reader over each line (no DOM), numbers kept as their
// text, nested values re-written compactly, new columns committed only when their line is good.
#include "adapters/csv/json_lines_reader.h"

#include <optional>
#include <string>
#include <unordered_map>

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "adapters/csv/text_encoding.h"

namespace cc::csv {

namespace {

using rapidjson::SizeType;

// Receives one line's SAX events. Top-level members land in `values` by column index; a name not
// yet in the header gets a provisional index (header size + its place in `pending`).
class LineHandler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, LineHandler> {
 public:
  explicit LineHandler(const Header& header) : header_(header) {}

  void start(int64_t row) {
    row_ = row;
    depth_ = 0;
    have_column_ = false;
    not_object_ = nullptr;
    too_deep_ = false;
    next_ = 0;
    pending_.clear();
    pending_index_.clear();
    too_many_columns_ = false;
    problems_.clear();
    for (auto& v : values_) v.clear();
  }

  // Results of the line.
  std::vector<std::string> values_;
  std::vector<std::string> pending_;                    // names new in this line, in order
  std::unordered_map<std::string, size_t> pending_index_;  // each of those to its column
  bool too_many_columns_ = false;
  // More columns than any extract needs: each kept row holds a value for every column, so a line of
  // 80,000 names followed by short lines would otherwise take gigabytes.
  static constexpr size_t kMaxColumns = 1000;
  std::vector<std::pair<std::string, std::string>> problems_;  // (column, message)
  const char* not_object_ = nullptr;                           // what the line is, when not an object
  bool too_deep_ = false;                                      // nested beyond kMaxDepth: the parse stopped
  static constexpr int kMaxDepth = 64;

  std::string current_column() const {
    if (!have_column_ || depth_ == 0) return {};
    return column_ < header_.size() ? header_.name(column_) : pending_[column_ - header_.size()];
  }

  bool Null() { return depth_ == 1 ? true : depth_ == 0 ? top("null") : writer_.Null(); }
  bool Bool(bool b) { return depth_ == 1 ? set(b ? "true" : "false") : depth_ == 0 ? top("true or false") : writer_.Bool(b); }
  bool RawNumber(const char* s, SizeType n, bool) {
    return depth_ == 1 ? set({s, n}) : depth_ == 0 ? top("number") : writer_.RawValue(s, n, rapidjson::kNumberType);
  }
  bool String(const char* s, SizeType n, bool) {
    return depth_ == 1 ? set({s, n}) : depth_ == 0 ? top("string") : writer_.String(s, n);
  }
  bool StartObject() { return open(false); }
  bool EndObject(SizeType) { return close(false); }
  bool StartArray() { return depth_ == 0 ? top("array") : open(true); }
  bool EndArray(SizeType) { return close(true); }

  bool Key(const char* s, SizeType n, bool) {
    if (depth_ > 1) return writer_.Key(s, n);
    std::string_view name(s, n);
    if (name.empty()) {
      problems_.emplace_back("", "has a member with an empty name; every member needs a name");
      have_column_ = false;
      return true;
    }
    const auto found = find(name);
    if (!found) {  // a column past the limit: the line is a row error, its value is not kept
      if (!too_many_columns_)
        problems_.emplace_back(std::string(name), "is a column beyond the " + std::to_string(kMaxColumns) +
                                                      " an extract may have; send the columns the feed's mapping reads");
      too_many_columns_ = true;
      have_column_ = false;
      return true;
    }
    column_ = *found;
    have_column_ = true;
    if (stamp_.size() <= column_) stamp_.resize(column_ + 1, 0);
    if (stamp_[column_] == row_) {
      problems_.emplace_back(std::string(name), "names this member twice; each member may appear once a line");
    }
    stamp_[column_] = row_;
    next_ = column_ + 1;
    return true;
  }

 private:
  bool top(const char* what) {
    not_object_ = what;
    return false;  // stops the parse
  }

  bool open(bool array) {
    if (++depth_ > kMaxDepth) {
      too_deep_ = true;
      return false;  // stops the parse
    }
    if (depth_ == 1) return true;  // the line's object
    if (depth_ == 2) {
      buffer_.Clear();
      writer_.Reset(buffer_);
    }
    return array ? writer_.StartArray() : writer_.StartObject();
  }

  bool close(bool array) {
    --depth_;
    if (depth_ == 0) return true;
    bool ok = array ? writer_.EndArray() : writer_.EndObject();
    if (depth_ == 1) return set({buffer_.GetString(), buffer_.GetSize()});
    return ok;
  }

  bool set(std::string_view value) {
    if (!have_column_) return true;  // the member with an empty name: already a problem
    if (values_.size() <= column_) values_.resize(column_ + 1);
    values_[column_].assign(value);
    return true;
  }

  // Column index for a member name: members usually come in the same order on every line, so the
  // column after the previous one is tried first; a name new in this line is looked up among the
  // line's other new names (a hash, not a scan: a line of 80,000 new names took minutes). Nothing
  // for a name that would make more than kMaxColumns columns.
  std::optional<size_t> find(std::string_view name) {
    if (next_ < header_.size() && header_.name(next_) == name) return next_;
    if (auto i = header_.index(name)) return *i;
    if (auto it = pending_index_.find(std::string(name)); it != pending_index_.end()) return it->second;
    if (header_.size() + pending_.size() >= kMaxColumns) return std::nullopt;
    pending_.emplace_back(name);
    const size_t column = header_.size() + pending_.size() - 1;
    pending_index_.emplace(pending_.back(), column);
    return column;
  }

  const Header& header_;
  int64_t row_ = 0;
  int depth_ = 0;
  bool have_column_ = false;
  size_t column_ = 0;
  size_t next_ = 0;
  std::vector<int64_t> stamp_;  // row number that last set each column (duplicate members)
  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

}  // namespace

Result<Extract> read_json_lines(std::string_view file) {
  auto stripped = strip_byte_order_mark(file);
  if (!stripped) return stripped.error();
  const std::string_view text = *stripped;

  Extract out;
  LineHandler handler(out.header);
  rapidjson::Reader reader;
  // Iterative: a line nested however deep cannot exhaust the stack (the handler stops it at its limit).
  constexpr unsigned kFlags =
      rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag;

  int64_t line_number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    ++line_number;
    size_t eol = text.find('\n', pos);
    const bool line_end = eol != std::string_view::npos;
    if (!line_end) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = line_end ? eol + 1 : eol;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
      ++out.blank_lines;
      continue;
    }

    const int64_t row = ++out.rows_read;
    handler.start(row);
    rapidjson::MemoryStream stream(line.data(), line.size());
    reader.Parse<kFlags>(stream, handler);

    auto reject = [&](std::string column, std::string message) {
      out.errors.push_back(RowError{row, line_number, std::move(column), std::move(message)});
    };
    if (handler.not_object_) {
      reject("", std::string("the line is a JSON ") + handler.not_object_ +
                     ", not an object; each line must be one JSON object, e.g. {\"nhs_number\": \"...\"}");
    } else if (handler.too_deep_) {
      reject(handler.current_column(), "the line nests objects and arrays more than " +
                                           std::to_string(LineHandler::kMaxDepth) +
                                           " levels deep; a column's value is a string, number or a small object");
    } else if (reader.HasParseError()) {
      const auto code = reader.GetParseErrorCode();
      std::string message;
      if (code == rapidjson::kParseErrorStringInvalidEncoding) {
        message = "the line " + utf8_problem(line).value_or("is not valid UTF-8; export the file as UTF-8");
      } else {
        message = std::string("the line is not valid JSON: ") + rapidjson::GetParseError_En(code) + " (at character " +
                  std::to_string(reader.GetErrorOffset() + 1) + ")";
      }
      reject(handler.current_column(), std::move(message));
      if (!line_end) {
        out.incomplete = make_error("cut-short", to_string(out.errors.back()) +
                                                     "; it is the last line and has no line end, so the file "
                                                     "looks cut short");
      }
    } else {
      for (auto& [column, message] : handler.problems_) reject(column, message);
    }
    if (handler.not_object_ || handler.too_deep_ || reader.HasParseError() || !handler.problems_.empty()) {
      ++out.rows_rejected;
      continue;
    }

    out.header.add(handler.pending_);
    Row& kept = out.rows.emplace_back();
    kept.number = row;
    kept.line = line_number;
    kept.values.resize(out.header.size());
    for (size_t i = 0; i < std::min(handler.values_.size(), kept.values.size()); ++i) {
      kept.values[i].swap(handler.values_[i]);
    }
  }

  if (out.rows_read == 0) {
    return make_error("empty-file", "the file is empty: it has no lines with a JSON object");
  }
  for (Row& r : out.rows) r.values.resize(out.header.size());
  return out;
}

}  // namespace cc::csv
