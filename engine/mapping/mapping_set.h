// Every mapping file of a directory, compiled once: which mapping a message goes through, the
// checks that decide AA or AE before the commit, and the mapping after it. Loading reports every
// problem with its file and line; a set that failed to load is never used (the old one stays).
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "adapters/hl7v2/message.h"
#include "engine/core/result.h"
#include "engine/mapping/types.h"

namespace cc::mapping {

namespace program {
struct Compiled;
}

struct LoadProblem {
  std::string file;  // relative to the mappings directory
  int line = 0;      // 0 when the problem is not at one place
  std::string message;
  std::string describe() const;  // "file:line: message"
};

class MappingSet {
 public:
  // Reads DIR/*.json (mapping files, checked against the mapping schema) and DIR/tables/*.json
  // (code tables). Returns nullptr, with every problem in `problems`, when anything is wrong.
  static std::shared_ptr<const MappingSet> load(const std::string& dir, std::vector<LoadProblem>& problems);
  ~MappingSet();
  MappingSet(const MappingSet&) = delete;
  MappingSet& operator=(const MappingSet&) = delete;

  // Whether a mapping takes this message type and trigger event.
  bool maps(std::string_view type, std::string_view event) const;
  // AA/AE decision before the commit: the mapping's checks and the patient checks.
  Assessment assess(const hl7v2::Message& msg, const FeedContext& feed) const;
  // The mapping. Error "unmapped" when no mapping takes the message, other errors when nothing
  // could be mapped (the message then stays in the inbox with the error as its status).
  Result<MappingOutput> map(const hl7v2::Message& msg, const FeedContext& feed) const;

  // Row mappings (extract feeds name theirs in their configuration).
  bool has_row_mapping(const std::string& name) const;
  // The columns a row mapping reads, in the order RowInput::values takes them; `required` (when
  // given) says which the file must have. Empty when there is no such row mapping.
  std::vector<std::string> row_columns(const std::string& name, std::vector<bool>* required = nullptr) const;
  // Maps one row. Error "no-row-mapping" when there is none of that name, "no-patient" when the
  // row names no usable patient (the row's issues say why: out.issues is not returned then, so the
  // error message carries them).
  Result<MappingOutput> map_row(const std::string& name, const RowInput& row, const FeedContext& feed) const;
  // For snapshot feeds: resource type -> the JSON object merged into a resource of that type when
  // a later snapshot no longer has it (the row mapping's "on_absent"); types without one are left.
  std::map<std::string, std::string> row_on_absent(const std::string& name) const;

  struct FileSummary {
    std::string file;
    std::string name;
    std::vector<std::string> messages;  // "ADT^A01", "ORU^*"
    size_t resources = 0;
  };
  std::vector<FileSummary> files() const;
  size_t table_count() const;
  // Whether code table `table` now has an entry for `code` (a code on the report since mapped).
  bool table_maps(const std::string& table, const std::string& code) const;
  const std::string& directory() const;

 private:
  MappingSet();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The mappings in force, swapped whole on reload: a message is mapped by one set from start to
// end, and a directory that fails to load leaves the set in force as it was.
class MappingRegistry {
 public:
  MappingRegistry(std::string dir, std::shared_ptr<const MappingSet> initial);
  std::shared_ptr<const MappingSet> current() const;
  // Loads the directory again; on success the new set is in force, else the problems say why not.
  std::vector<LoadProblem> reload();
  const std::string& directory() const { return dir_; }

 private:
  std::string dir_;
  mutable std::mutex mu_;
  std::shared_ptr<const MappingSet> set_;
};

// The mapping schema, compiled into the binary (schemas/mapping.schema.json).
extern const char* const kMappingSchema;
extern const char* const kCodeTableSchema;

}  // namespace cc::mapping
