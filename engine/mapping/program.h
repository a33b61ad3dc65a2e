// A mapping file compiled into a small program: resolved field paths, transforms bound to their
// functions and code tables, templates as trees. Running it walks the tree over a parsed message;
// nothing of the mapping file is looked up by name per message. See docs/mapping-files.md.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "adapters/hl7v2/message.h"
#include "engine/mapping/code_table.h"
#include "engine/mapping/patient_context.h"
#include "engine/mapping/types.h"

namespace cc::mapping::program {

using cc::mapping::RowInput;

using Alloc = rapidjson::Document::AllocatorType;

// Where a compile error is: a JSON pointer into the mapping file, and what is wrong.
struct CompileError {
  std::string pointer;
  std::string message;
};

// A place in a message: segment index, field, repetition, component, subcomponent
// (0 for component or subcomponent: the whole repetition or component).
struct Ref {
  size_t seg = 0;
  int field = 0;
  int rep = 1;
  int comp = 0;
  int sub = 0;
};

// What an expression yields: nothing, text, a place in the message, or built JSON.
struct Val {
  enum Kind : uint8_t { None, Text, Loc, Json };
  Kind kind = None;
  std::string text;
  Ref ref;
  rapidjson::Value json;
  const std::string* source = nullptr;  // the path text that supplied a Loc (for issue locations)
};

// A field path: SEG[-FIELD[[REP]][.COMP[.SUB]]]. REP is a number or a selector "C=V1|V2"
// (the first repetition whose component C is one of the values) or "C!=V".
struct Path {
  std::array<char, 3> seg{};
  int field = 0;
  enum class RepKind : uint8_t { Current, Index, Match, NoMatch } rep_kind = RepKind::Current;
  int rep = 0;
  int rep_comp = 0;
  std::vector<std::string> rep_values;
  int comp = 0;
  int sub = 0;
  std::string text;
};

struct EvalContext;
struct Transform;
using TransformFn = Val (*)(Val&& in, const Transform& t, EvalContext& ctx, Alloc& alloc);

struct Transform {
  std::string name;
  TransformFn fn = nullptr;
  std::vector<std::string> args;
  const CodeTable* table = nullptr;
};

enum class Builtin : uint8_t {
  PatientId, PatientAuthority, PatientNhsNumber, PatientIdentifiers, Feed, Trigger, MessageType,
  ControlId, Where, Value, Problem
};

struct Operand {
  enum class Kind : uint8_t { PathRef, BuiltinVar, LetVar, Literal, Column } kind = Kind::Literal;
  Path path;
  int column = -1;       // Column: index into the row mapping's declared columns
  Builtin builtin = Builtin::Feed;
  int slot = 0;          // let variable slot
  std::string literal;
};

// operand ("??" operand)* ("|" transform)*: the first operand with a value, through the transforms.
struct Expr {
  std::vector<Operand> alternatives;
  std::vector<Transform> transforms;
  std::string text;
};

struct Condition {
  enum class Op : uint8_t { Present, Absent, Equals, In, NotIn, Before, All, Any, Not } op = Op::Present;
  Expr expr;
  Expr other;  // Before
  std::vector<std::string> values;
  std::vector<Condition> children;
};

// What an $each walks: segments (one scope per segment), or a field's repetitions. "OBR/OBX"
// nests: each OBX within each OBR's group.
struct Iteration {
  std::vector<Path> levels;  // field == 0: segments named path.seg; only the last may be a field
  bool adjacent = false;     // segments directly after the current one only (NTE after OBX)
};

struct Node {
  enum class Kind : uint8_t { Literal, Expression, Interpolation, Object, Array, Each, When, First, Id, Join, Merge } kind =
      Kind::Literal;
  rapidjson::Document literal;
  Expr expr;
  // Interpolation: literal text pieces and expressions alternately (parts[i] literal when even).
  std::vector<std::string> pieces;
  std::vector<Expr> exprs;
  std::vector<std::string> keys;                      // Object: member names...
  std::vector<Node> members;                          // ...and their values (a vector of the
                                                      // incomplete Node is allowed; a pair is not)
  std::vector<Node> items;                            // Array, First, Id (key parts), Merge
  Iteration each;                                     // Each
  std::optional<Condition> when;                      // Each, When
  std::unique_ptr<Node> value;                        // Each, When
  std::unique_ptr<Node> otherwise;                    // When
  std::string id_type;                                // Id
  std::string id_prefix;                              // Id: "Observation/" makes a reference
  std::string separator;                              // Join (an Each whose texts are joined)
};

struct IssueSpec {
  std::optional<Condition> when;
  bool error = false;
  int code = 207;
  std::optional<Path> where;
  std::string where_column;  // a row mapping's column ("@column")
  Node message;
};

struct Check {
  std::optional<Iteration> each;  // checked in every OBX, say, not only the first
  std::optional<Condition> when;
  Expr value;
  bool required = false;
  bool datetime = false;
  std::string date_format;  // a row mapping's column written as e.g. DD/MM/YYYY
  bool error = true;
  int code = 102;
  std::optional<Path> where;  // for "required": where to point when nothing was sent
  std::string where_column;   // the same in a row mapping ("@column")
  Node message;
};

struct ResourceSpec {
  std::string type;
  bool if_absent = false;
  // Row mappings of snapshot feeds: what a resource of this kind becomes when a later snapshot file
  // no longer has it (a JSON object merged into its current version, e.g. {"status": "inactive"}).
  std::string on_absent;
  std::optional<Iteration> each;
  std::optional<Condition> when;
  std::vector<std::pair<int, Node>> lets;  // (slot, value) in order
  Node id;
  std::optional<IssueSpec> no_id;
  std::vector<IssueSpec> issues;
  Node body;  // an Object node
};

struct MergeSpec {
  Iteration each;           // usually MRG
  Expr retired_value;       // MRG-1.1
  Expr retired_authority;   // MRG-1.4.1 ?? ...
  std::string retired_type; // identifier type code used to choose the system (e.g. MR)
};

// A row mapping's patient: which columns carry the NHS number and the source's own person id, and
// the assigning authority that names the id's system (through the feed's configuration).
struct RowPatientSpec {
  Expr nhs_number;
  Expr local_id;
  std::string authority;
  std::string id_type = "PI";
};

struct MessageMatch {
  std::string type;
  std::vector<std::string> events;  // empty: every event of the type
};

struct Compiled {
  std::string name;
  std::string file;
  std::string description;
  std::vector<MessageMatch> messages;
  Expr event_time;
  bool has_event_time = false;
  std::vector<Check> checks;
  std::vector<IssueSpec> issues;  // raised while mapping (not in the ACK)
  std::vector<ResourceSpec> resources;
  std::vector<MergeSpec> merges;
  int slot_count = 0;
  // A row mapping (extract feeds: CSV, JSON lines): columns instead of message types.
  bool rows = false;
  std::vector<std::string> columns;
  std::vector<bool> required_columns;
  RowPatientSpec row_patient;
};

// Compiles one mapping file's JSON. Throws CompileError.
std::unique_ptr<Compiled> compile(const rapidjson::Value& doc, const std::map<std::string, CodeTable>& tables);

// The trigger event: MSH-9.2, else EVN-1 for feeds that leave it out of MSH-9.
std::string trigger_event(const hl7v2::Message& msg);

// Runs a compiled mapping's checks (AE decisions before the commit).
void run_checks(const Compiled& mapping, const hl7v2::Message& msg, const FeedContext& feed,
                std::vector<Issue>& issues);
// The patient a row is about (the NHS number column, the local person id column); the issues that
// make the row an error are added to `issues`; nullopt when the row names no usable patient.
std::optional<PatientContext> row_patient(const Compiled& mapping, const RowInput& row, const FeedContext& feed,
                                          std::vector<Issue>& issues);
// Runs a row mapping's checks and resources over one row.
void run_row(const Compiled& mapping, const RowInput& row, const FeedContext& feed, const PatientContext& patient,
             MappingOutput& out);

// Runs the whole mapping for a message whose patient has been read.
void run(const Compiled& mapping, const hl7v2::Message& msg, const FeedContext& feed,
         const PatientContext& patient, MappingOutput& out);

}  // namespace cc::mapping::program
