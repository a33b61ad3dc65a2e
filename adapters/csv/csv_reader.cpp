// The CSV reader: a one-pass scanner that records each field as a span of the input (copied into
// the row's strings only when the row is good), with a recovery rule for a quote left open mid-file.
#include "adapters/csv/csv_reader.h"

#include <algorithm>
#include <array>
#include <cstdint>

#include "adapters/csv/text_encoding.h"

namespace cc::csv {

namespace {

struct Field {
  size_t begin = 0;  // content span: inside the quotes for a quoted field
  size_t end = 0;
  bool quoted = false;
  bool unescape = false;  // quoted and holds "" or a CR: copy with fix-ups
};

enum class Trouble { stray_quote, text_after_quote };

// One record as scanned: field spans and whatever went wrong, with enough to recover.
struct Record {
  std::vector<Field> fields;
  std::vector<std::pair<size_t, Trouble>> troubles;  // (field index, what)
  int64_t start_line = 0;
  int64_t end_line = 0;
  bool line_end = false;  // the record ended with a line end (not the end of the file)
  // The first quoted field holding a line break, and where the line after its opening quote starts.
  bool multiline = false;
  size_t multiline_field = 0;
  int64_t quote_line = 0;
  size_t resume_pos = 0;
  int64_t resume_line = 0;
  // A quote still open at the end of the file.
  bool unterminated = false;
  size_t open_field = 0;
  int64_t open_line = 0;

  void reset(int64_t line) {
    fields.clear();
    troubles.clear();
    start_line = end_line = line;
    line_end = multiline = unterminated = false;
  }
};

class Scanner {
 public:
  Scanner(std::string_view text, char delimiter) : s_(text), delimiter_(delimiter) {
    special_.fill(false);
    for (unsigned char c : {static_cast<unsigned char>(delimiter), static_cast<unsigned char>('"'),
                            static_cast<unsigned char>('\r'), static_cast<unsigned char>('\n')}) {
      special_[c] = true;
    }
  }

  bool at_end() const { return pos_ >= s_.size(); }
  int64_t line() const { return line_; }

  // Skips one empty physical line when the scanner is at one; true when it did.
  bool skip_empty_line() {
    if (at_end() || (s_[pos_] != '\n' && s_[pos_] != '\r')) return false;
    pos_ += (s_[pos_] == '\r' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '\n') ? 2 : 1;
    ++line_;
    return true;
  }

  void resume_at(size_t pos, int64_t line) {
    pos_ = pos;
    line_ = line;
  }

  // Scans one record from the current position (which is not at the end).
  void read(Record& r) {
    r.reset(line_);
    const size_t n = s_.size();
    for (;;) {
      Field f;
      const size_t index = r.fields.size();
      if (pos_ < n && s_[pos_] == '"') {
        f.quoted = true;
        const int64_t open_line = line_;
        size_t p = pos_ + 1;
        f.begin = p;
        bool closed = false;
        while (p < n) {
          const char c = s_[p];
          if (c == '"') {
            if (p + 1 < n && s_[p + 1] == '"') {
              f.unescape = true;
              p += 2;
              continue;
            }
            closed = true;
            f.end = p++;
            break;
          }
          if (c == '\n' || c == '\r') {
            if (c == '\r') {
              f.unescape = true;
              if (p + 1 < n && s_[p + 1] == '\n') ++p;
            }
            ++line_;
            if (!r.multiline) {
              r.multiline = true;
              r.multiline_field = index;
              r.quote_line = open_line;
              r.resume_pos = p + 1;
              r.resume_line = line_;
            }
          }
          ++p;
        }
        if (!closed) {
          f.end = n;
          r.fields.push_back(f);
          r.unterminated = true;
          r.open_field = index;
          r.open_line = open_line;
          // The last line with text on it (a final line end does not start another line).
          r.end_line = (line_ > open_line && (s_[n - 1] == '\n' || s_[n - 1] == '\r')) ? line_ - 1 : line_;
          pos_ = n;
          return;
        }
        pos_ = p;
        if (pos_ < n && s_[pos_] != delimiter_ && s_[pos_] != '\r' && s_[pos_] != '\n') {
          r.troubles.emplace_back(index, Trouble::text_after_quote);
          while (pos_ < n && s_[pos_] != delimiter_ && s_[pos_] != '\r' && s_[pos_] != '\n') ++pos_;
        }
      } else {
        f.begin = pos_;
        bool stray = false;
        for (;;) {
          while (pos_ < n && !special_[static_cast<unsigned char>(s_[pos_])]) ++pos_;
          if (pos_ < n && s_[pos_] == '"') {
            stray = true;
            ++pos_;
            continue;
          }
          break;
        }
        f.end = pos_;
        if (stray) r.troubles.emplace_back(index, Trouble::stray_quote);
      }
      r.fields.push_back(f);
      if (pos_ >= n) {
        r.end_line = line_;
        return;
      }
      if (s_[pos_] == delimiter_) {
        ++pos_;
        continue;
      }
      // CR, LF or CRLF ends the record.
      pos_ += (s_[pos_] == '\r' && pos_ + 1 < n && s_[pos_ + 1] == '\n') ? 2 : 1;
      r.end_line = line_++;
      r.line_end = true;
      return;
    }
  }

  std::string_view raw(const Field& f) const { return s_.substr(f.begin, f.end - f.begin); }

  // The field's value: "" undoubled, and CRLF or a lone CR inside quotes turned into "\n".
  std::string value(const Field& f) const {
    std::string_view raw_text = raw(f);
    if (!f.unescape) return std::string(raw_text);
    std::string out;
    out.reserve(raw_text.size());
    for (size_t i = 0; i < raw_text.size(); ++i) {
      const char c = raw_text[i];
      if (c == '"') {
        ++i;  // the second of a doubled quote
      } else if (c == '\r') {
        if (i + 1 < raw_text.size() && raw_text[i + 1] == '\n') ++i;
        out += '\n';
        continue;
      }
      out += c;
    }
    return out;
  }

  // Every field unquoted and empty or spaces/tabs only.
  bool blank(const Record& r) const {
    for (const Field& f : r.fields) {
      if (f.quoted) return false;
      for (char c : raw(f)) {
        if (c != ' ' && c != '\t') return false;
      }
    }
    return true;
  }

 private:
  std::string_view s_;
  char delimiter_;
  size_t pos_ = 0;
  int64_t line_ = 1;
  std::array<bool, 256> special_{};
};

std::string delimiter_name(char delimiter) {
  if (delimiter == '\t') return "tab";
  return std::string("'") + delimiter + "'";
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return std::string(s.substr(b, e - b));
}

const char* kStrayQuote =
    "the value has a '\"' but does not start with one; put the whole value in double quotes and "
    "double each '\"' inside it (\"\")";
const char* kTextAfterQuote =
    "the value has text after its closing '\"'; put the whole value in double quotes and double "
    "each '\"' inside it (\"\")";

Result<Header> read_header(Scanner& scanner, Record& r) {
  for (;;) {
    if (scanner.at_end()) {
      return make_error("empty-file", "the file is empty: it has no header row naming the columns");
    }
    if (scanner.skip_empty_line()) continue;
    scanner.read(r);
    if (!scanner.blank(r)) break;
  }
  const std::string where = "the header row (line " + std::to_string(r.start_line) + ")";
  if (r.unterminated) {
    return make_error("header", where + " opens a quote in column " + std::to_string(r.open_field + 1) +
                                    " that is never closed");
  }
  if (!r.troubles.empty()) {
    return make_error("header", where + ", column " + std::to_string(r.troubles.front().first + 1) + ": " +
                                    (r.troubles.front().second == Trouble::stray_quote ? kStrayQuote
                                                                                       : kTextAfterQuote));
  }
  std::vector<std::string> names;
  names.reserve(r.fields.size());
  for (const Field& f : r.fields) {
    names.push_back(trim(scanner.value(f)));
    if (auto problem = utf8_problem(names.back())) {
      return make_error("encoding", where + ", column " + std::to_string(names.size()) + " " + *problem);
    }
  }
  return Header::from_names(std::move(names));
}

class RowReader {
 public:
  RowReader(Scanner& scanner, Extract& out, char delimiter)
      : scanner_(scanner), out_(out), delimiter_(delimiter) {}

  const std::string& column(size_t index) const {
    static const std::string kNone;
    return index < out_.header.size() ? out_.header.name(index) : kNone;
  }

  void reject(int64_t row, const Record& r, std::string col, std::string message) {
    out_.errors.push_back(RowError{row, r.start_line, std::move(col), std::move(message)});
  }

  // Reads every data row after the header.
  void run() {
    Record r;
    const size_t width = out_.header.size();
    while (!scanner_.at_end()) {
      if (scanner_.skip_empty_line()) {
        ++out_.blank_lines;
        continue;
      }
      scanner_.read(r);
      if (scanner_.blank(r)) {
        ++out_.blank_lines;
        continue;
      }
      const int64_t row = ++out_.rows_read;

      if (r.unterminated) {
        std::string message = "the quote that opens this value on line " + std::to_string(r.open_line) +
                              " is never closed, so lines " + std::to_string(r.open_line) + " to " +
                              std::to_string(r.end_line) +
                              " (the end of the file) cannot be read; the file may have been cut short, "
                              "or the value has a stray '\"' that must be doubled (\"\")";
        reject(row, r, column(r.open_field), message);
        ++out_.rows_rejected;
        out_.incomplete = make_error("unterminated-quote", to_string(out_.errors.back()));
        return;
      }

      if (r.multiline && std::find(r.troubles.begin(), r.troubles.end(),
                                   std::pair{r.multiline_field, Trouble::text_after_quote}) != r.troubles.end()) {
        // A quote left open on its line, closed by some later '"': reject this row as its first
        // lines and read on from the line after the one where the quote opened.
        reject(row, r, column(r.multiline_field),
               "the quote that opens this value on line " + std::to_string(r.quote_line) +
                   " is not closed on that line, and reading on to the next '\"' does not give a valid "
                   "row; close the quote, or double a '\"' that is part of the value (\"\"). Reading "
                   "resumed on line " + std::to_string(r.resume_line));
        ++out_.rows_rejected;
        scanner_.resume_at(r.resume_pos, r.resume_line);
        continue;
      }

      const size_t errors_before = out_.errors.size();
      for (const auto& [index, trouble] : r.troubles) {
        reject(row, r, column(index), trouble == Trouble::stray_quote ? kStrayQuote : kTextAfterQuote);
      }
      const size_t count = r.fields.size();
      if (count != width) {
        std::string message = std::to_string(count) + " fields where the header has " + std::to_string(width);
        std::string col;
        if (count > width) {
          message += "; a value probably holds an unquoted " + delimiter_name(delimiter_) +
                     ": put double quotes around values that contain " + delimiter_name(delimiter_);
        } else {
          col = column(count);
          message += "; the row ends before this column (" + std::to_string(width - count) +
                     " missing); a line break inside an unquoted value splits a row: quote values that "
                     "contain line breaks";
        }
        if (r.end_line != r.start_line) {
          message += " (the row runs from line " + std::to_string(r.start_line) + " to line " +
                     std::to_string(r.end_line) + " because a quoted value holds a line break)";
        }
        reject(row, r, std::move(col), std::move(message));
        if (count < width && !r.line_end) {
          out_.incomplete = make_error("cut-short", to_string(out_.errors.back()) +
                                                        "; it is the last line and has no line end, so the "
                                                        "file looks cut short");
        }
      }
      for (size_t i = 0; i < std::min(count, width); ++i) {
        if (auto problem = utf8_problem(scanner_.raw(r.fields[i]))) {
          reject(row, r, column(i), "the value " + *problem);
        }
      }
      if (out_.errors.size() != errors_before) {
        ++out_.rows_rejected;
        continue;
      }

      Row& kept = out_.rows.emplace_back();
      kept.number = row;
      kept.line = r.start_line;
      kept.values.reserve(width);
      for (const Field& f : r.fields) kept.values.push_back(scanner_.value(f));
    }
  }

 private:
  Scanner& scanner_;
  Extract& out_;
  char delimiter_;
};

}  // namespace

Result<Extract> read_csv(std::string_view file, const CsvOptions& options) {
  if (options.delimiter == '"' || options.delimiter == '\r' || options.delimiter == '\n') {
    return make_error("options", "the CSV delimiter cannot be a double quote or a line break");
  }
  auto text = strip_byte_order_mark(file);
  if (!text) return text.error();

  Scanner scanner(*text, options.delimiter);
  Record record;
  auto header = read_header(scanner, record);
  if (!header) return header.error();

  Extract out;
  out.header = std::move(*header);
  out.rows.reserve(static_cast<size_t>(std::count(text->begin(), text->end(), '\n')) + 1);
  RowReader(scanner, out, options.delimiter).run();
  return out;
}

}  // namespace cc::csv
