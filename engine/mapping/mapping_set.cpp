// Loading a mappings directory: JSON read with the line of every value remembered (so a problem
// can be shown at its line), checked against the compiled-in schemas, compiled; then lookup by
// message type and trigger event.
#include "engine/mapping/mapping_set.h"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>
#include <valijson/adapters/rapidjson_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "engine/mapping/patient_context.h"
#include "engine/mapping/program.h"

namespace cc::mapping {

namespace fs = std::filesystem;

std::string LoadProblem::describe() const {
  return file + (line > 0 ? ":" + std::to_string(line) : std::string()) + ": " + message;
}

bool Assessment::has_error() const {
  return std::any_of(issues.begin(), issues.end(), [](const Issue& i) { return i.error; });
}

namespace {

// A RapidJSON input stream over a string that counts lines.
struct LineStream {
  using Ch = char;
  const char* src;
  const char* begin;
  int line = 1;
  explicit LineStream(const std::string& s) : src(s.c_str()), begin(s.c_str()) {}
  Ch Peek() const { return *src; }
  Ch Take() {
    char c = *src++;
    if (c == '\n') ++line;
    return c;
  }
  size_t Tell() const { return static_cast<size_t>(src - begin); }
  Ch* PutBegin() { return nullptr; }
  void Put(Ch) {}
  void Flush() {}
  size_t PutEnd(Ch*) { return 0; }
};

// Records the line each value starts on, by JSON pointer.
struct LineRecorder : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, LineRecorder> {
  struct Frame {
    bool array = false;
    int index = 0;
    std::string key;
  };
  const LineStream& stream;
  std::map<std::string, int>& lines;
  std::vector<Frame> stack;
  explicit LineRecorder(const LineStream& s, std::map<std::string, int>& l) : stream(s), lines(l) {}

  std::string pointer() const {
    std::string p;
    for (const Frame& f : stack) p += "/" + (f.array ? std::to_string(f.index) : f.key);
    return p;
  }
  void value_seen() {
    lines.emplace(pointer(), stream.line);
  }
  void value_done() {
    if (!stack.empty() && stack.back().array) ++stack.back().index;
  }
  bool Default() {
    value_seen();
    value_done();
    return true;
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    stack.back().key.assign(s, n);
    return true;
  }
  bool StartObject() {
    value_seen();
    stack.push_back(Frame{false, 0, {}});
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    stack.pop_back();
    value_done();
    return true;
  }
  bool StartArray() {
    value_seen();
    stack.push_back(Frame{true, 0, {}});
    return true;
  }
  bool EndArray(rapidjson::SizeType) {
    stack.pop_back();
    value_done();
    return true;
  }
};

struct JsonFile {
  rapidjson::Document doc;
  std::map<std::string, int> lines;

  int line_of(std::string pointer) const {
    while (true) {
      if (auto it = lines.find(pointer); it != lines.end()) return it->second;
      if (pointer.empty()) return 0;
      pointer.erase(pointer.rfind('/'));
    }
  }
};

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool read_json(const fs::path& path, const std::string& name, JsonFile& out, std::vector<LoadProblem>& problems) {
  const std::string text = read_text(path);
  out.doc.Parse(text.c_str(), text.size());
  if (out.doc.HasParseError()) {
    size_t offset = out.doc.GetErrorOffset();
    int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + std::min(offset, text.size()), '\n'));
    problems.push_back({name, line, std::string("not valid JSON: ") + rapidjson::GetParseError_En(out.doc.GetParseError())});
    return false;
  }
  LineStream stream(text);
  LineRecorder recorder(stream, out.lines);
  rapidjson::Reader reader;
  reader.Parse(stream, recorder);
  return true;
}

class SchemaCheck {
 public:
  explicit SchemaCheck(const char* schema_text, std::string schema_name) : name_(std::move(schema_name)) {
    doc_.Parse(schema_text);
    valijson::SchemaParser parser;
    valijson::adapters::RapidJsonAdapter adapter(doc_);
    parser.populateSchema(adapter, schema_);
  }
  // Adds a problem for each place the document does not match; false when any.
  bool check(const JsonFile& file, const std::string& name, std::vector<LoadProblem>& problems) const {
    valijson::Validator validator;
    valijson::ValidationResults results;
    valijson::adapters::RapidJsonAdapter target(file.doc);
    if (validator.validate(schema_, target, &results)) return true;
    valijson::ValidationResults::Error err;
    std::set<std::string> seen;
    std::vector<LoadProblem> found;
    while (results.popError(err)) {
      std::string pointer;
      for (const std::string& part : err.context) {
        if (part == "<root>") continue;
        std::string p = part;
        if (p.size() >= 2 && p.front() == '[' && p.back() == ']') p = p.substr(1, p.size() - 2);
        if (p.size() >= 2 && p.front() == '"' && p.back() == '"') p = p.substr(1, p.size() - 2);
        pointer += "/" + p;
      }
      std::string message = (pointer.empty() ? std::string("(top level)") : pointer) + ": " + err.description +
                             " (" + name_ + ")";
      if (!seen.insert(message).second) continue;
      found.push_back({name, file.line_of(pointer), message});
    }
    // "Failed to validate item #0" and the like only repeat, one level up, what a deeper error says.
    const bool specific = std::any_of(found.begin(), found.end(), [](const LoadProblem& p) {
      return p.message.find(": Failed to validate") == std::string::npos;
    });
    for (auto& p : found)
      if (!specific || p.message.find(": Failed to validate") == std::string::npos) problems.push_back(std::move(p));
    return false;
  }

 private:
  std::string name_;
  rapidjson::Document doc_;
  valijson::Schema schema_;
};

bool load_table(const JsonFile& file, CodeTable& table) {
  const auto& d = file.doc;
  table.name = d["table"].GetString();
  if (d.HasMember("description")) table.description = d["description"].GetString();
  if (d.HasMember("target")) table.target_system = d["target"].GetString();
  if (d.HasMember("case_insensitive")) table.case_insensitive = d["case_insensitive"].GetBool();
  if (d.HasMember("report_unmapped")) table.report_unmapped = d["report_unmapped"].GetBool();
  auto entry = [&](const rapidjson::Value& v) {
    TableEntry e;
    e.system = table.target_system;
    if (v.IsString()) {
      e.code = v.GetString();
    } else {
      e.code = v["code"].GetString();
      if (v.HasMember("display")) e.display = v["display"].GetString();
      if (v.HasMember("system")) e.system = v["system"].GetString();
    }
    return e;
  };
  for (auto& m : d["codes"].GetObject()) table.add(m.name.GetString(), entry(m.value));
  if (d.HasMember("default")) table.fallback = entry(d["default"]);
  return true;
}

std::vector<fs::path> json_files(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

struct MappingSet::Impl {
  std::string dir;
  std::map<std::string, CodeTable> tables;
  std::vector<std::unique_ptr<program::Compiled>> mappings;
  std::map<std::string, const program::Compiled*> by_message;  // "ORU^R01", "ORU^*"
  std::map<std::string, const program::Compiled*> rows_by_name;

  const program::Compiled* find(std::string_view type, std::string_view event) const {
    std::string key(type);
    key += "^";
    if (auto it = by_message.find(key + std::string(event)); it != by_message.end()) return it->second;
    if (auto it = by_message.find(key + "*"); it != by_message.end()) return it->second;
    return nullptr;
  }
  // Whether any mapping takes some event of this message type ("ADT^..." or "ADT^*").
  bool maps_type(std::string_view type) const {
    const std::string prefix = std::string(type) + "^";
    auto it = by_message.lower_bound(prefix);
    return it != by_message.end() && it->first.compare(0, prefix.size(), prefix) == 0;
  }
};

MappingSet::MappingSet() : impl_(std::make_unique<Impl>()) {}
MappingSet::~MappingSet() = default;

std::shared_ptr<const MappingSet> MappingSet::load(const std::string& dir, std::vector<LoadProblem>& problems) {
  const size_t problems_before = problems.size();
  std::shared_ptr<MappingSet> set(new MappingSet());
  Impl& impl = *set->impl_;
  impl.dir = dir;
  if (!fs::is_directory(dir)) {
    problems.push_back({dir, 0, "is not a directory of mapping files"});
    return nullptr;
  }
  static const SchemaCheck mapping_schema(kMappingSchema, "schemas/mapping.schema.json");
  static const SchemaCheck table_schema(kCodeTableSchema, "schemas/code-table.schema.json");

  for (const fs::path& path : json_files(fs::path(dir) / "tables")) {
    const std::string name = "tables/" + path.filename().string();
    JsonFile file;
    if (!read_json(path, name, file, problems) || !table_schema.check(file, name, problems)) continue;
    CodeTable table;
    load_table(file, table);
    if (table.name + ".json" != path.filename().string()) {
      problems.push_back({name, file.line_of("/table"), "the table is named \"" + table.name +
                                                            "\" but its file is " + path.filename().string() +
                                                            "; name the file after the table"});
      continue;
    }
    impl.tables.emplace(table.name, std::move(table));
  }

  std::map<std::string, std::string> claimed;  // message key -> file
  for (const fs::path& path : json_files(dir)) {
    const std::string name = path.filename().string();
    JsonFile file;
    if (!read_json(path, name, file, problems) || !mapping_schema.check(file, name, problems)) continue;
    try {
      auto compiled = program::compile(file.doc, impl.tables);
      compiled->file = name;
      if (compiled->rows) {
        if (impl.rows_by_name.count(compiled->name)) {
          problems.push_back({name, file.line_of("/name"), "another row mapping is already named \"" + compiled->name + "\""});
          continue;
        }
        impl.rows_by_name[compiled->name] = compiled.get();
        impl.mappings.push_back(std::move(compiled));
        continue;
      }
      bool clash = false;
      for (const auto& m : compiled->messages) {
        std::vector<std::string> keys;
        if (m.events.empty()) keys.push_back(m.type + "^*");
        for (const auto& e : m.events) keys.push_back(m.type + "^" + e);
        for (const auto& key : keys) {
          auto [it, added] = claimed.emplace(key, name);
          if (!added) {
            problems.push_back({name, file.line_of("/messages"),
                                key + " is already mapped by " + it->second + "; one mapping per message type and event"});
            clash = true;
          }
        }
      }
      if (clash) continue;
      for (const auto& m : compiled->messages) {
        if (m.events.empty()) impl.by_message[m.type + "^*"] = compiled.get();
        for (const auto& e : m.events) impl.by_message[m.type + "^" + e] = compiled.get();
      }
      impl.mappings.push_back(std::move(compiled));
    } catch (const program::CompileError& e) {
      problems.push_back({name, file.line_of(e.pointer), (e.pointer.empty() ? "" : e.pointer + ": ") + e.message});
    }
  }
  if (impl.mappings.empty() && problems.size() == problems_before)
    problems.push_back({dir, 0, "holds no mapping files (*.json)"});
  if (problems.size() != problems_before) return nullptr;
  return set;
}

bool MappingSet::maps(std::string_view type, std::string_view event) const { return impl_->find(type, event) != nullptr; }

Assessment MappingSet::assess(const hl7v2::Message& msg, const FeedContext& feed) const {
  Assessment a;
  const std::string type = msg.message_code();
  const std::string trigger = program::trigger_event(msg);
  const program::Compiled* m = impl_->find(type, trigger);
  if (!m) {
    a.supported = false;
    a.type_mapped = impl_->maps_type(type);
    return a;
  }
  assess_patient(msg, feed, type + "^" + trigger, a.issues);
  if (!msg.find("PID")) return a;
  if (msg.find_all("PID").size() > 1) {
    // Every resource is filed under the message's one patient: a message carrying several patient
    // groups would put one patient's data on another's record.
    a.issues.push_back(Issue{true, 100,
                             "The " + type + "^" + trigger + " message carries more than one PID (several patients); "
                             "send one patient a message.",
                             hl7v2::Location{"PID", 2}});
    return a;
  }
  program::run_checks(*m, msg, feed, a.issues);
  return a;
}

Result<MappingOutput> MappingSet::map(const hl7v2::Message& msg, const FeedContext& feed) const {
  const std::string type = msg.message_code();
  const std::string trigger = program::trigger_event(msg);
  const program::Compiled* m = impl_->find(type, trigger);
  if (!m) {
    return make_error("unmapped", "No mapping takes " + type + "^" + trigger + " messages (feed " + feed.feed +
                                      "); the message is kept in the inbox and can be mapped by "
                                      "`carerecord remap` once a mapping file for it is added.");
  }
  Assessment assessment = assess(msg, feed);
  if (msg.find_all("PID").size() > 1)
    return make_error("several-patients", assessment.issues.back().message);
  std::string why;
  auto patient = read_patient(msg, feed, why);
  if (!patient) return make_error("no-patient", assessment.issues.empty() ? why : assessment.issues.front().message);
  MappingOutput out;
  out.mapping = m->name;
  out.issues = std::move(assessment.issues);
  program::run(*m, msg, feed, *patient, out);
  patient_worklist(msg, feed, type + "^" + trigger, *patient, out);
  return out;
}

bool MappingSet::has_row_mapping(const std::string& name) const { return impl_->rows_by_name.count(name) > 0; }

std::vector<std::string> MappingSet::row_columns(const std::string& name, std::vector<bool>* required) const {
  auto it = impl_->rows_by_name.find(name);
  if (it == impl_->rows_by_name.end()) return {};
  if (required) *required = it->second->required_columns;
  return it->second->columns;
}

Result<MappingOutput> MappingSet::map_row(const std::string& name, const RowInput& row, const FeedContext& feed) const {
  auto it = impl_->rows_by_name.find(name);
  if (it == impl_->rows_by_name.end())
    return make_error("no-row-mapping", "No row mapping is named \"" + name + "\"; check the feed's \"mapping\".");
  const program::Compiled& m = *it->second;
  MappingOutput out;
  out.mapping = m.name;
  auto patient = program::row_patient(m, row, feed, out.issues);
  if (!patient) {
    std::string why;
    for (auto& i : out.issues) why += (why.empty() ? "" : " ") + i.message;
    return make_error("no-patient", why);
  }
  out.nhs_number_rejected = !patient->ids.rejected.empty();
  program::run_row(m, row, feed, *patient, out);
  return out;
}

std::map<std::string, std::string> MappingSet::row_on_absent(const std::string& name) const {
  std::map<std::string, std::string> out;
  auto it = impl_->rows_by_name.find(name);
  if (it == impl_->rows_by_name.end()) return out;
  for (const auto& spec : it->second->resources)
    if (!spec.on_absent.empty()) out[spec.type] = spec.on_absent;
  return out;
}

std::vector<MappingSet::FileSummary> MappingSet::files() const {
  std::vector<FileSummary> out;
  for (const auto& m : impl_->mappings) {
    FileSummary s{m->file, m->name, {}, m->resources.size()};
    if (m->rows) s.messages.push_back("rows of an extract (" + std::to_string(m->columns.size()) + " columns)");
    for (const auto& match : m->messages) {
      if (match.events.empty()) s.messages.push_back(match.type + "^*");
      for (const auto& e : match.events) s.messages.push_back(match.type + "^" + e);
    }
    out.push_back(std::move(s));
  }
  return out;
}

size_t MappingSet::table_count() const { return impl_->tables.size(); }

bool MappingSet::table_maps(const std::string& table, const std::string& code) const {
  auto it = impl_->tables.find(table);
  return it != impl_->tables.end() && it->second.find(code) != nullptr;
}
const std::string& MappingSet::directory() const { return impl_->dir; }

MappingRegistry::MappingRegistry(std::string dir, std::shared_ptr<const MappingSet> initial)
    : dir_(std::move(dir)), set_(std::move(initial)) {}

std::shared_ptr<const MappingSet> MappingRegistry::current() const {
  std::lock_guard lk(mu_);
  return set_;
}

std::vector<LoadProblem> MappingRegistry::reload() {
  std::vector<LoadProblem> problems;
  auto loaded = MappingSet::load(dir_, problems);
  if (loaded) {
    std::lock_guard lk(mu_);
    set_ = std::move(loaded);
  }
  return problems;
}

}  // namespace cc::mapping
