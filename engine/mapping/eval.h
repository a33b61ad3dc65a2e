// Internal to the mapping interpreter: the state a compiled mapping runs with, and the named
// transforms' registry (transforms.cpp).
#pragma once
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/mapping/program.h"

namespace cc::mapping::program {

// A segment scope (field == 0): the segment an $each or a resource's "each" is on, and where its
// group ends. A field binding (field > 0): the repetition an $each over a field is on.
struct Scope {
  std::array<char, 3> name{};
  size_t seg = 0;
  size_t end = 0;
  int field = 0;
  int rep = 0;
};

struct EvalContext {
  const hl7v2::Message& msg;
  const FeedContext& feed;
  const PatientContext* patient = nullptr;
  MappingOutput* out = nullptr;
  std::string trigger;
  std::vector<Scope> scopes;
  std::vector<Val> lets;
  std::string where, value, problem;  // in a check's message
  const RowInput* row = nullptr;      // a row mapping's row (the message is then an empty one)
  // The unmapped codes already reported for this message ("table|system|code"), so each is reported
  // once without a search of the list per code (8,000 results each with its own code made it slow).
  std::set<std::string> unmapped_reported;
};

// Text, or nothing when empty.
inline Val text_val(std::string s) {
  Val v;
  if (!s.empty()) {
    v.kind = Val::Text;
    v.text = std::move(s);
  }
  return v;
}

// The text of a value: a place in the message reads as its (first) component, trimmed, the HL7
// null "" as empty; JSON strings and numbers as written.
std::string text_of(const Val& v, const EvalContext& ctx);
bool has_value(const Val& v, const EvalContext& ctx);
// The same text without a copy where it can: a view into the message, the value, or `scratch`.
std::string_view text_view(const Val& v, const EvalContext& ctx, std::string& scratch);

// A date or date/time written in `format` (YYYY, MM, DD, hh, mm, ss; any other character as
// itself, e.g. "DD/MM/YYYY hh:mm") as an HL7 DTM ("202403161430"); nullopt when it does not match.
std::optional<std::string> hl7_from_format(std::string_view text, std::string_view format);

struct TransformInfo {
  TransformFn fn = nullptr;
  int min_args = 0;
  int max_args = 0;
  bool table_arg = false;  // the first argument names a code table
};
// nullptr when no transform has that name.
const TransformInfo* find_transform(const std::string& name);
// Every transform name, for error messages.
std::string transform_names();

}  // namespace cc::mapping::program
