// Code tables: local code -> target coding, kept as data beside the mapping files (like a FHIR
// ConceptMap with one source and one target system). mappings/tables/NAME.json.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <rapidjson/document.h>

namespace cc::mapping {

struct TableEntry {
  std::string system;   // the target system (the table's, unless the entry names its own)
  std::string code;
  std::string display;
};

class CodeTable {
 public:
  std::string name;
  std::string description;
  std::string target_system;
  bool case_insensitive = false;
  bool report_unmapped = false;  // a local code it lacks goes on the "codes without a mapping" report
  std::optional<TableEntry> fallback;  // the table's "default": applies to absent and unknown codes

  // The entry for a code, or nullptr.
  const TableEntry* find(std::string_view code) const;
  void add(std::string code, TableEntry entry);
  size_t size() const { return entries_.size(); }

 private:
  std::unordered_map<std::string, TableEntry> entries_;
};

}  // namespace cc::mapping
