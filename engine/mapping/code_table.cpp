#include "engine/mapping/code_table.h"

#include <cctype>

namespace cc::mapping {

namespace {
std::string folded(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}
}  // namespace

const TableEntry* CodeTable::find(std::string_view code) const {
  auto it = case_insensitive ? entries_.find(folded(code)) : entries_.find(std::string(code));
  return it == entries_.end() ? nullptr : &it->second;
}

void CodeTable::add(std::string code, TableEntry entry) {
  if (case_insensitive) code = folded(code);
  entries_.emplace(std::move(code), std::move(entry));
}

}  // namespace cc::mapping
