// Compiling a mapping file into a program (program.h) and running it over a message.
#include "engine/mapping/program.h"

#include <algorithm>
#include <cctype>
#include <set>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/fhir/datetime.h"
#include "engine/fhir/identifier.h"
#include "engine/mapping/eval.h"
#include "engine/mapping/json_builder.h"
#include "engine/mapping/v2_datatypes.h"

namespace cc::mapping::program {

using rapidjson::Value;

namespace {

// ---------------------------------------------------------------------------------------------
// Compiling

[[noreturn]] void fail(const std::string& pointer, const std::string& message) {
  throw CompileError{pointer, message};
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

int to_int(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

// Splits on a separator outside quotes, brackets and parentheses.
std::vector<std::string> split_top(std::string_view s, std::string_view sep) {
  std::vector<std::string> parts;
  int depth = 0;
  bool quoted = false;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\'') quoted = !quoted;
    if (quoted) continue;
    if (c == '[' || c == '(') ++depth;
    if (c == ']' || c == ')') --depth;
    if (depth == 0 && s.compare(i, sep.size(), sep) == 0) {
      // "??" must not be read as two "|"-free characters of another separator
      parts.emplace_back(s.substr(start, i - start));
      i += sep.size() - 1;
      start = i + 1;
    }
  }
  parts.emplace_back(s.substr(start));
  return parts;
}

Path parse_path(const std::string& text, const std::string& ptr) {
  Path p;
  p.text = text;
  auto bad = [&](const std::string& why) {
    fail(ptr, "\"" + text + "\" is not a field path (" + why +
                  "); write SEG-FIELD[REP].COMPONENT.SUBCOMPONENT, e.g. PID-3[5=NH].1");
  };
  if (text.size() < 3) bad("too short");
  for (int i = 0; i < 3; ++i) {
    char c = text[i];
    if (!(std::isupper(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)))) bad("segment name");
    p.seg[i] = c;
  }
  if (!std::isupper(static_cast<unsigned char>(text[0]))) bad("segment name");
  size_t i = 3;
  if (i == text.size()) return p;
  if (text[i] != '-') bad("a '-' must follow the segment name");
  ++i;
  size_t j = i;
  while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
  if (j == i) bad("field number");
  p.field = to_int(std::string_view(text).substr(i, j - i));
  if (p.field < 1) bad("fields count from 1");
  i = j;
  if (i < text.size() && text[i] == '[') {
    size_t close = text.find(']', i);
    if (close == std::string::npos) bad("unclosed '['");
    std::string sel = text.substr(i + 1, close - i - 1);
    if (all_digits(sel)) {
      p.rep_kind = Path::RepKind::Index;
      p.rep = to_int(sel);
      if (p.rep < 1) bad("repetitions count from 1");
    } else {
      size_t eq = sel.find('=');
      if (eq == std::string::npos || eq == 0) bad("repetition selector");
      bool negate = sel[eq - 1] == '!';
      std::string comp = sel.substr(0, negate ? eq - 1 : eq);
      if (!all_digits(comp)) bad("selector component number");
      p.rep_comp = to_int(comp);
      p.rep_kind = negate ? Path::RepKind::NoMatch : Path::RepKind::Match;
      for (auto& v : split_top(sel.substr(eq + 1), "|")) p.rep_values.push_back(trim(v));
    }
    i = close + 1;
  }
  auto number = [&](int& out) {
    if (i >= text.size() || text[i] != '.') return false;
    ++i;
    size_t k = i;
    while (k < text.size() && std::isdigit(static_cast<unsigned char>(text[k]))) ++k;
    if (k == i) bad("component number");
    out = to_int(std::string_view(text).substr(i, k - i));
    if (out < 1) bad("components count from 1");
    i = k;
    return true;
  };
  if (number(p.comp)) number(p.sub);
  if (i != text.size()) bad("unexpected \"" + text.substr(i) + "\"");
  return p;
}

struct Compiler {
  const std::map<std::string, CodeTable>& tables;
  const std::vector<std::string>* columns = nullptr;  // a row mapping's declared columns
  const rapidjson::Value* defs = nullptr;
  std::map<std::string, int> lets;
  int slots = 0;
  std::set<std::string> expanding;  // defs being expanded (a def using itself is an error)

  Operand operand(const std::string& raw, const std::string& ptr) {
    Operand op;
    std::string s = trim(raw);
    if (s.empty()) fail(ptr, "an empty operand in an expression");
    if (s.front() == '\'') {
      if (s.size() < 2 || s.back() != '\'') fail(ptr, "unclosed quote in " + s);
      op.kind = Operand::Kind::Literal;
      op.literal = s.substr(1, s.size() - 2);
      return op;
    }
    if (s.front() == '@') {
      if (!columns) fail(ptr, s + " reads a column of an extract; only a row mapping (one with \"columns\") has columns");
      auto it = std::find(columns->begin(), columns->end(), s.substr(1));
      if (it == columns->end()) fail(ptr, "column " + s + " is not declared in \"columns\"");
      op.kind = Operand::Kind::Column;
      op.column = static_cast<int>(it - columns->begin());
      op.path.text = s.substr(1);  // the column's name, for issue locations
      return op;
    }
    if (s.front() == '$') {
      static const std::map<std::string, Builtin> builtins{
          {"$patient.id", Builtin::PatientId},
          {"$patient.authority", Builtin::PatientAuthority},
          {"$patient.nhs_number", Builtin::PatientNhsNumber},
          {"$patient.identifiers", Builtin::PatientIdentifiers},
          {"$feed", Builtin::Feed},
          {"$trigger", Builtin::Trigger},
          {"$message_type", Builtin::MessageType},
          {"$control_id", Builtin::ControlId},
          {"$where", Builtin::Where},
          {"$value", Builtin::Value},
          {"$problem", Builtin::Problem}};
      if (auto it = builtins.find(s); it != builtins.end()) {
        op.kind = Operand::Kind::BuiltinVar;
        op.builtin = it->second;
        return op;
      }
      if (auto it = lets.find(s.substr(1)); it != lets.end()) {
        op.kind = Operand::Kind::LetVar;
        op.slot = it->second;
        return op;
      }
      std::string known;
      for (auto& [name, slot] : builtins) known += (known.empty() ? "" : ", ") + name;
      fail(ptr, "unknown variable " + s + " (built in: " + known +
                    "; a resource's \"let\" names are usable after they are defined)");
    }
    if (columns) fail(ptr, "\"" + s + "\": a row mapping reads columns (@name), not HL7 fields");
    op.kind = Operand::Kind::PathRef;
    op.path = parse_path(s, ptr);
    return op;
  }

  Transform transform(const std::string& raw, const std::string& ptr) {
    std::string s = trim(raw);
    Transform t;
    size_t open = s.find('(');
    t.name = trim(s.substr(0, open));
    if (open != std::string::npos) {
      if (s.back() != ')') fail(ptr, "transform " + s + " lacks its closing ')'");
      std::string inside = s.substr(open + 1, s.size() - open - 2);
      if (!trim(inside).empty()) {
        for (auto& a : split_top(inside, ",")) {
          std::string arg = trim(a);
          if (arg.size() >= 2 && arg.front() == '\'' && arg.back() == '\'') arg = arg.substr(1, arg.size() - 2);
          t.args.push_back(arg);
        }
      }
    }
    const TransformInfo* info = find_transform(t.name);
    if (!info) fail(ptr, "unknown transform \"" + t.name + "\"; the transforms are: " + transform_names());
    int n = static_cast<int>(t.args.size());
    if (n < info->min_args || n > info->max_args) {
      fail(ptr, "transform " + t.name + " takes " +
                    (info->min_args == info->max_args ? std::to_string(info->min_args)
                                                      : std::to_string(info->min_args) + " to " +
                                                            std::to_string(info->max_args)) +
                    " argument(s), not " + std::to_string(n));
    }
    t.fn = info->fn;
    if (info->table_arg && n > 0) {
      auto it = tables.find(t.args[0]);
      if (it == tables.end()) fail(ptr, "transform " + t.name + " names code table \"" + t.args[0] + "\", which is not in tables/");
      t.table = &it->second;
    }
    return t;
  }

  Expr expr(const std::string& text, const std::string& ptr) {
    Expr e;
    e.text = trim(text);
    auto stages = split_top(e.text, "|");
    for (auto& alt : split_top(stages[0], "??")) e.alternatives.push_back(operand(alt, ptr));
    for (size_t i = 1; i < stages.size(); ++i) e.transforms.push_back(transform(stages[i], ptr));
    return e;
  }

  Condition condition(const Value& v, const std::string& ptr) {
    Condition c;
    if (!v.IsObject()) fail(ptr, "a condition is an object");
    if (v.HasMember("all") || v.HasMember("any")) {
      const char* key = v.HasMember("all") ? "all" : "any";
      c.op = v.HasMember("all") ? Condition::Op::All : Condition::Op::Any;
      const Value& list = v[key];
      if (!list.IsArray() || list.Empty()) fail(ptr + "/" + key, "\"" + std::string(key) + "\" takes a list of conditions");
      for (rapidjson::SizeType i = 0; i < list.Size(); ++i)
        c.children.push_back(condition(list[i], ptr + "/" + key + "/" + std::to_string(i)));
      return c;
    }
    if (v.HasMember("not")) {
      c.op = Condition::Op::Not;
      c.children.push_back(condition(v["not"], ptr + "/not"));
      return c;
    }
    if (!v.HasMember("value") || !v["value"].IsString())
      fail(ptr, "a condition needs \"value\" (an expression) or \"all\", \"any\", \"not\"");
    c.expr = expr(v["value"].GetString(), ptr + "/value");
    auto strings = [&](const char* key) {
      std::vector<std::string> out;
      const Value& list = v[key];
      if (list.IsString()) {
        out.emplace_back(list.GetString());
      } else if (list.IsArray()) {
        for (auto& s : list.GetArray()) {
          if (!s.IsString()) fail(ptr + "/" + key, "values are strings");
          out.emplace_back(s.GetString());
        }
      } else {
        fail(ptr + "/" + key, "a string or a list of strings");
      }
      return out;
    };
    if (v.HasMember("present")) {
      if (!v["present"].IsBool()) fail(ptr + "/present", "true or false");
      c.op = v["present"].GetBool() ? Condition::Op::Present : Condition::Op::Absent;
    } else if (v.HasMember("equals")) {
      c.op = Condition::Op::Equals;
      c.values = strings("equals");
    } else if (v.HasMember("in")) {
      c.op = Condition::Op::In;
      c.values = strings("in");
    } else if (v.HasMember("not_in")) {
      c.op = Condition::Op::NotIn;
      c.values = strings("not_in");
    } else if (v.HasMember("before")) {
      if (!v["before"].IsString()) fail(ptr + "/before", "an expression");
      c.op = Condition::Op::Before;
      c.other = expr(v["before"].GetString(), ptr + "/before");
    } else {
      fail(ptr, "a condition on \"value\" needs one of present, equals, in, not_in, before");
    }
    return c;
  }

  Iteration iteration(const std::string& text, bool adjacent, const std::string& ptr) {
    Iteration it;
    it.adjacent = adjacent;
    auto levels = split_top(text, "/");
    for (size_t i = 0; i < levels.size(); ++i) {
      Path p = parse_path(trim(levels[i]), ptr);
      if (p.comp != 0 || p.rep_kind == Path::RepKind::Index)
        fail(ptr, "\"" + text + "\": each walks segments (OBX), nested segments (OBR/OBX) or a field's repetitions (PID-5)");
      if (p.field != 0 && i + 1 != levels.size()) fail(ptr, "\"" + text + "\": only the last level may be a field");
      it.levels.push_back(std::move(p));
    }
    if (adjacent && (it.levels.size() != 1 || it.levels[0].field != 0)) fail(ptr, "$adjacent applies to one segment name");
    return it;
  }

  Node string_node(const std::string& s, const std::string& ptr) {
    Node n;
    size_t open = s.find("{{");
    if (open == std::string::npos) {
      n.kind = Node::Kind::Literal;
      n.literal.SetString(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), n.literal.GetAllocator());
      return n;
    }
    size_t close = s.find("}}", open);
    if (open == 0 && close == s.size() - 2 && s.find("{{", 2) == std::string::npos) {
      n.kind = Node::Kind::Expression;
      n.expr = expr(s.substr(2, s.size() - 4), ptr);
      return n;
    }
    n.kind = Node::Kind::Interpolation;
    size_t at = 0;
    while (true) {
      open = s.find("{{", at);
      if (open == std::string::npos) {
        n.pieces.push_back(s.substr(at));
        break;
      }
      close = s.find("}}", open);
      if (close == std::string::npos) fail(ptr, "\"{{\" without \"}}\" in \"" + s + "\"");
      n.pieces.push_back(s.substr(at, open - at));
      n.exprs.push_back(expr(s.substr(open + 2, close - open - 2), ptr));
      at = close + 2;
    }
    return n;
  }

  Node node(const Value& v, const std::string& ptr) {
    Node n;
    if (v.IsString()) return string_node(std::string(v.GetString(), v.GetStringLength()), ptr);
    if (v.IsArray()) {
      n.kind = Node::Kind::Array;
      for (rapidjson::SizeType i = 0; i < v.Size(); ++i) n.items.push_back(node(v[i], ptr + "/" + std::to_string(i)));
      return n;
    }
    if (!v.IsObject()) {
      n.kind = Node::Kind::Literal;
      n.literal.CopyFrom(v, n.literal.GetAllocator());
      return n;
    }
    bool special = false;
    for (auto& m : v.GetObject()) {
      if (m.name.GetStringLength() > 0 && m.name.GetString()[0] == '$') special = true;
    }
    if (!special) {
      n.kind = Node::Kind::Object;
      for (auto& m : v.GetObject()) {
        std::string key(m.name.GetString(), m.name.GetStringLength());
        n.keys.push_back(key);
        n.members.push_back(node(m.value, ptr + "/" + key));
      }
      return n;
    }
    auto known = [&](std::initializer_list<const char*> keys) {
      for (auto& m : v.GetObject()) {
        std::string key = m.name.GetString();
        if (std::none_of(keys.begin(), keys.end(), [&](const char* k) { return key == k; }))
          fail(ptr + "/" + key, "\"" + key + "\" does not belong here");
      }
    };
    if (v.HasMember("$use")) {
      known({"$use"});
      std::string name = v["$use"].IsString() ? v["$use"].GetString() : "";
      if (!defs || !defs->HasMember(name.c_str())) fail(ptr + "/$use", "no definition \"" + name + "\" in \"defs\"");
      if (expanding.count(name)) fail(ptr + "/$use", "definition \"" + name + "\" uses itself");
      expanding.insert(name);
      Node used = node((*defs)[name.c_str()], "/defs/" + name);
      expanding.erase(name);
      return used;
    }
    if (v.HasMember("$each")) {
      known({"$each", "$adjacent", "$when", "$value", "$join"});
      if (!v["$each"].IsString()) fail(ptr + "/$each", "a segment name or field path");
      if (!v.HasMember("$value")) fail(ptr, "$each needs $value");
      bool adjacent = v.HasMember("$adjacent") && v["$adjacent"].IsBool() && v["$adjacent"].GetBool();
      n.kind = Node::Kind::Each;
      n.each = iteration(v["$each"].GetString(), adjacent, ptr + "/$each");
      if (v.HasMember("$when")) n.when = condition(v["$when"], ptr + "/$when");
      n.value = std::make_unique<Node>(node(v["$value"], ptr + "/$value"));
      if (v.HasMember("$join")) {
        if (!v["$join"].IsString()) fail(ptr + "/$join", "the separator, a string");
        n.kind = Node::Kind::Join;
        n.separator = v["$join"].GetString();
      }
      return n;
    }
    if (v.HasMember("$when")) {
      known({"$when", "$value", "$else"});
      if (!v.HasMember("$value")) fail(ptr, "$when needs $value");
      n.kind = Node::Kind::When;
      n.when = condition(v["$when"], ptr + "/$when");
      n.value = std::make_unique<Node>(node(v["$value"], ptr + "/$value"));
      if (v.HasMember("$else")) n.otherwise = std::make_unique<Node>(node(v["$else"], ptr + "/$else"));
      return n;
    }
    if (v.HasMember("$first")) {
      known({"$first"});
      if (!v["$first"].IsArray() || v["$first"].Empty()) fail(ptr + "/$first", "a list of candidates");
      n.kind = Node::Kind::First;
      const Value& list = v["$first"];
      for (rapidjson::SizeType i = 0; i < list.Size(); ++i) n.items.push_back(node(list[i], ptr + "/$first/" + std::to_string(i)));
      return n;
    }
    if (v.HasMember("$merge")) {
      known({"$merge"});
      if (!v["$merge"].IsArray() || v["$merge"].Size() < 2) fail(ptr + "/$merge", "a list of two or more objects to merge");
      n.kind = Node::Kind::Merge;
      const Value& list = v["$merge"];
      for (rapidjson::SizeType i = 0; i < list.Size(); ++i) n.items.push_back(node(list[i], ptr + "/$merge/" + std::to_string(i)));
      return n;
    }
    if (v.HasMember("$id")) {
      known({"$id", "$key", "$prefix"});
      if (v.HasMember("$prefix") && v["$prefix"].IsString()) n.id_prefix = v["$prefix"].GetString();
      if (!v["$id"].IsString() || !v.HasMember("$key") || !v["$key"].IsArray() || v["$key"].Empty())
        fail(ptr, "$id names a resource type and $key lists the parts the id is derived from");
      n.kind = Node::Kind::Id;
      n.id_type = v["$id"].GetString();
      const Value& list = v["$key"];
      for (rapidjson::SizeType i = 0; i < list.Size(); ++i) n.items.push_back(node(list[i], ptr + "/$key/" + std::to_string(i)));
      return n;
    }
    std::string first = v.MemberBegin()->name.GetString();
    fail(ptr + "/" + first, "unknown directive \"" + first + "\" (directives: $each, $when, $first, $merge, $id, $use)");
  }

  std::optional<Path> where_path(const Value& v, const char* key, const std::string& ptr) {
    if (!v.HasMember(key)) return std::nullopt;
    if (!v[key].IsString()) fail(ptr + "/" + key, "a field path");
    if (columns) return std::nullopt;  // a row mapping's "where" names a column: where_column
    return parse_path(v[key].GetString(), ptr + "/" + key);
  }

  std::string where_column(const Value& v, const char* key, const std::string& ptr) {
    if (!columns || !v.HasMember(key) || !v[key].IsString()) return {};
    std::string s = v[key].GetString();
    if (s.empty() || s.front() != '@' ||
        std::find(columns->begin(), columns->end(), s.substr(1)) == columns->end())
      fail(ptr + "/" + key, std::string("in a row mapping \"") + key + "\" names a declared column, e.g. \"@nhs_number\"");
    return s.substr(1);
  }

  IssueSpec issue(const Value& v, const std::string& ptr) {
    if (!v.IsObject() || !v.HasMember("message")) fail(ptr, "an issue has a \"message\"");
    IssueSpec s;
    if (v.HasMember("when")) s.when = condition(v["when"], ptr + "/when");
    s.error = v.HasMember("error") && v["error"].IsBool() && v["error"].GetBool();
    if (v.HasMember("code") && v["code"].IsInt()) s.code = v["code"].GetInt();
    s.where = where_path(v, "where", ptr);
    s.where_column = where_column(v, "where", ptr);
    s.message = node(v["message"], ptr + "/message");
    return s;
  }
};

// ---------------------------------------------------------------------------------------------
// Running

bool name_is(const hl7v2::Message& msg, size_t seg, const std::array<char, 3>& name) {
  std::string_view n = msg.segment_name(seg);
  return n.size() == 3 && n[0] == name[0] && n[1] == name[1] && n[2] == name[2];
}

bool same(const std::array<char, 3>& a, const std::array<char, 3>& b) { return a == b; }

// A segment named in a path: a scope's own segment (the OBR of "OBR/OBX"), else the first in the
// innermost group that has one, then in the enclosing groups. Outside every group only the message's
// header part is searched — the segments before the first one the outermost "each" walks (MSH, EVN,
// PID, PV1...): a segment of another group (the previous order's TQ1, when this order has none) is
// never read by mistake. Such segments are read by nesting: "ORC/TQ1", "OBR/OBX".
std::optional<size_t> resolve_segment(const std::array<char, 3>& name, const EvalContext& ctx) {
  const Scope* outermost = nullptr;
  for (auto s = ctx.scopes.rbegin(); s != ctx.scopes.rend(); ++s) {
    if (same(s->name, name)) return s->seg;
    if (s->field == 0) {
      outermost = &*s;
      for (size_t i = s->seg + 1; i < s->end; ++i)
        if (name_is(ctx.msg, i, name)) return i;
    }
  }
  size_t header_end = ctx.msg.segment_count();
  if (outermost) {
    for (size_t i = 0; i < header_end; ++i)
      if (name_is(ctx.msg, i, outermost->name)) header_end = i;
  }
  for (size_t i = 0; i < header_end; ++i)
    if (name_is(ctx.msg, i, name)) return i;
  return std::nullopt;
}

bool rep_selected(const Path& p, const EvalContext& ctx, size_t seg, int rep) {
  if (p.rep_kind != Path::RepKind::Match && p.rep_kind != Path::RepKind::NoMatch) return true;
  const std::string v = text(ctx.msg, seg, p.field, rep, p.rep_comp);
  bool listed = std::find(p.rep_values.begin(), p.rep_values.end(), v) != p.rep_values.end();
  return p.rep_kind == Path::RepKind::Match ? listed : !listed;
}

std::optional<Ref> resolve(const Path& p, const EvalContext& ctx) {
  auto seg = resolve_segment(p.seg, ctx);
  if (!seg) return std::nullopt;
  Ref r{*seg, p.field, 1, p.comp, p.sub};
  if (p.field == 0) return r;
  switch (p.rep_kind) {
    case Path::RepKind::Index:
      r.rep = p.rep;
      break;
    case Path::RepKind::Match:
    case Path::RepKind::NoMatch: {
      const int n = ctx.msg.repetition_count(*seg, p.field);
      int found = 0;
      for (int rep = 1; rep <= n && !found; ++rep)
        if (rep_selected(p, ctx, *seg, rep)) found = rep;
      if (!found) return std::nullopt;
      r.rep = found;
      break;
    }
    case Path::RepKind::Current:
      for (auto s = ctx.scopes.rbegin(); s != ctx.scopes.rend(); ++s) {
        if (s->field == p.field && s->seg == *seg) {
          r.rep = s->rep;
          break;
        }
      }
      break;
  }
  return r;
}

Val eval_expr(const Expr& e, EvalContext& ctx, Alloc& alloc);

Val builtin(Builtin b, EvalContext& ctx, Alloc& alloc) {
  const PatientContext* p = ctx.patient;
  switch (b) {
    case Builtin::PatientId: return text_val(p ? p->id : "");
    case Builtin::PatientAuthority: return text_val(p ? p->authority : "");
    case Builtin::PatientNhsNumber: return text_val(p && p->ids.nhs_number ? p->ids.nhs_number->str() : "");
    case Builtin::PatientIdentifiers: {
      Val v;
      if (!p) return v;
      const TransformInfo* info = find_transform("patient-identifiers");
      Transform t;
      Val in;
      in.kind = Val::Loc;
      in.ref = Ref{p->pid, 3, 1, 0, 0};
      return info->fn(std::move(in), t, ctx, alloc);
    }
    case Builtin::Feed: return text_val(ctx.feed.feed);
    case Builtin::Trigger: return text_val(ctx.trigger);
    case Builtin::MessageType: return text_val(ctx.msg.message_code());
    case Builtin::ControlId: return text_val(ctx.msg.control_id());
    case Builtin::Where: return text_val(ctx.where);
    case Builtin::Value: return text_val(ctx.value);
    case Builtin::Problem: return text_val(ctx.problem);
  }
  return {};
}

Val copy_val(const Val& v, Alloc& alloc) {
  Val out;
  out.kind = v.kind;
  out.text = v.text;
  out.ref = v.ref;
  out.source = v.source;
  if (v.kind == Val::Json) out.json.CopyFrom(v.json, alloc);
  return out;
}

Val operand_val(const Operand& op, EvalContext& ctx, Alloc& alloc) {
  switch (op.kind) {
    case Operand::Kind::Literal: {
      // A literal stands even when empty: "{{OBX-5.1 ?? ''}}" lets a sentence go on without it.
      Val v;
      v.kind = Val::Text;
      v.text = op.literal;
      return v;
    }
    case Operand::Kind::BuiltinVar: return builtin(op.builtin, ctx, alloc);
    case Operand::Kind::LetVar: return copy_val(ctx.lets[op.slot], alloc);
    case Operand::Kind::Column: {
      Val v;
      if (!ctx.row || op.column < 0 || static_cast<size_t>(op.column) >= ctx.row->values.size()) return v;
      std::string_view s = ctx.row->values[static_cast<size_t>(op.column)];
      while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
      while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
      if (s.empty()) return v;
      v.kind = Val::Text;
      v.text = std::string(s);
      v.source = &op.path.text;  // the column's name (set at compile time)
      return v;
    }
    case Operand::Kind::PathRef: {
      Val v;
      if (auto r = resolve(op.path, ctx)) {
        v.kind = Val::Loc;
        v.ref = *r;
        v.source = &op.path.text;
      }
      return v;
    }
  }
  return {};
}

Val eval_expr(const Expr& e, EvalContext& ctx, Alloc& alloc) {
  Val v;
  for (const Operand& op : e.alternatives) {
    v = operand_val(op, ctx, alloc);
    if (has_value(v, ctx) || op.kind == Operand::Kind::Literal) break;
    v = Val{};
  }
  for (const Transform& t : e.transforms) v = t.fn(std::move(v), t, ctx, alloc);
  return v;
}

Value to_json(Val&& v, const EvalContext& ctx, Alloc& alloc) {
  switch (v.kind) {
    case Val::None: return Value();
    case Val::Json: return std::move(v.json);
    case Val::Text: return Value(v.text.c_str(), static_cast<rapidjson::SizeType>(v.text.size()), alloc);
    case Val::Loc: {
      std::string scratch;
      std::string_view s = text_view(v, ctx, scratch);
      if (s.empty()) return Value();
      return Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), alloc);
    }
  }
  return Value();
}

// Two HL7 date/times cut to the coarser precision of the two (an offset kept, a fraction dropped):
// a discharge at 201302111000 is not before an admission at 20130211100052 — the same minute.
void same_precision(std::string& a, std::string& b) {
  auto digits = [](const std::string& s) {
    size_t n = 0;
    while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n]))) ++n;
    return n;
  };
  auto cut = [](std::string& s, size_t from, size_t to) {
    size_t rest = from;
    if (rest < s.size() && s[rest] == '.') {
      ++rest;
      while (rest < s.size() && std::isdigit(static_cast<unsigned char>(s[rest]))) ++rest;
    }
    s = s.substr(0, to) + s.substr(rest);
  };
  const size_t da = digits(a), db = digits(b);
  if (da > db) cut(a, da, db);
  else if (db > da) cut(b, db, da);
}

bool eval_cond(const Condition& c, EvalContext& ctx, Alloc& alloc) {
  switch (c.op) {
    case Condition::Op::All:
      return std::all_of(c.children.begin(), c.children.end(), [&](const Condition& k) { return eval_cond(k, ctx, alloc); });
    case Condition::Op::Any:
      return std::any_of(c.children.begin(), c.children.end(), [&](const Condition& k) { return eval_cond(k, ctx, alloc); });
    case Condition::Op::Not:
      return !eval_cond(c.children.front(), ctx, alloc);
    default:
      break;
  }
  Val v = eval_expr(c.expr, ctx, alloc);
  switch (c.op) {
    case Condition::Op::Present: return has_value(v, ctx);
    case Condition::Op::Absent: return !has_value(v, ctx);
    case Condition::Op::Equals:
    case Condition::Op::In: {
      std::string scratch;
      std::string_view s = text_view(v, ctx, scratch);
      return std::find(c.values.begin(), c.values.end(), s) != c.values.end();
    }
    case Condition::Op::NotIn: {
      std::string scratch;
      std::string_view s = text_view(v, ctx, scratch);
      return std::find(c.values.begin(), c.values.end(), s) == c.values.end();
    }
    case Condition::Op::Before: {
      std::string a = text_of(v, ctx);
      std::string b = text_of(eval_expr(c.other, ctx, alloc), ctx);
      same_precision(a, b);
      auto am = fhir::hl7_to_epoch_ms(a);
      auto bm = fhir::hl7_to_epoch_ms(b);
      return am && bm && *am < *bm;
    }
    default:
      return false;
  }
}

// The innermost segment scope's range, or the whole message.
std::pair<size_t, size_t> segment_range(const EvalContext& ctx, size_t* current) {
  for (auto s = ctx.scopes.rbegin(); s != ctx.scopes.rend(); ++s) {
    if (s->field == 0) {
      if (current) *current = s->seg;
      return {s->seg + 1, s->end};
    }
  }
  if (current) *current = SIZE_MAX;
  return {0, ctx.msg.segment_count()};
}

template <class Body>
void walk_level(const Iteration& it, size_t level, EvalContext& ctx, Body& body) {
  if (level == it.levels.size()) {
    body();
    return;
  }
  const Path& path = it.levels[level];
  const hl7v2::Message& msg = ctx.msg;
  if (path.field == 0) {
    auto [begin, end] = segment_range(ctx, nullptr);
    if (it.adjacent) {
      for (size_t i = begin; i < end && name_is(msg, i, path.seg); ++i) {
        ctx.scopes.push_back(Scope{path.seg, i, i + 1, 0, 0});
        walk_level(it, level + 1, ctx, body);
        ctx.scopes.pop_back();
      }
      return;
    }
    std::vector<size_t> found;
    for (size_t i = begin; i < end; ++i)
      if (name_is(msg, i, path.seg)) found.push_back(i);
    for (size_t k = 0; k < found.size(); ++k) {
      size_t group_end = k + 1 < found.size() ? found[k + 1] : end;
      ctx.scopes.push_back(Scope{path.seg, found[k], group_end, 0, 0});
      walk_level(it, level + 1, ctx, body);
      ctx.scopes.pop_back();
    }
    return;
  }
  auto seg = resolve_segment(path.seg, ctx);
  if (!seg) return;
  const int n = msg.repetition_count(*seg, path.field);
  for (int rep = 1; rep <= n; ++rep) {
    if (!rep_selected(path, ctx, *seg, rep)) continue;
    ctx.scopes.push_back(Scope{path.seg, *seg, *seg + 1, path.field, rep});
    walk_level(it, level + 1, ctx, body);
    ctx.scopes.pop_back();
  }
}

template <class Body>
void for_each_iteration(const Iteration& it, EvalContext& ctx, Body&& body) {
  walk_level(it, 0, ctx, body);
}

Value eval_one(const Node& n, EvalContext& ctx, Alloc& alloc);

// A string mixing text and expressions. A part that yields nothing is written `missing`; with none
// given the whole string is absent (nullopt): a reference missing a part names nothing (an explicit
// '' literal may be empty).
std::optional<std::string> interpolate(const Node& n, EvalContext& ctx, Alloc& alloc, const char* missing = nullptr) {
  std::string s = n.pieces[0];
  std::string scratch;
  for (size_t i = 0; i < n.exprs.size(); ++i) {
    Val v = eval_expr(n.exprs[i], ctx, alloc);
    std::string_view part = text_view(v, ctx, scratch);
    if (part.empty() && v.kind != Val::Text) {
      if (!missing) return std::nullopt;
      part = missing;
    }
    s += part;
    s += n.pieces[i + 1];
  }
  return s;
}

// Appends what a node yields (an $each yields one value per iteration) to arr, skipping empties.
void eval_into(const Node& n, EvalContext& ctx, Alloc& alloc, Value& arr) {
  if (n.kind == Node::Kind::Each) {
    for_each_iteration(n.each, ctx, [&] {
      if (n.when && !eval_cond(*n.when, ctx, alloc)) return;
      eval_into(*n.value, ctx, alloc, arr);
    });
    return;
  }
  Value v = eval_one(n, ctx, alloc);
  if (JsonBuilder::is_empty(v)) return;
  // An array item yielding an array (a helper's list, $use of a list) adds its elements.
  if (v.IsArray() && n.kind != Node::Kind::Array) {
    for (auto& e : v.GetArray())
      if (!JsonBuilder::is_empty(e)) arr.PushBack(Value(e, alloc), alloc);
    return;
  }
  arr.PushBack(v, alloc);
}

Value eval_one(const Node& n, EvalContext& ctx, Alloc& alloc) {
  switch (n.kind) {
    case Node::Kind::Literal:
      return Value(n.literal, alloc);
    case Node::Kind::Expression:
      return to_json(eval_expr(n.expr, ctx, alloc), ctx, alloc);
    case Node::Kind::Interpolation: {
      auto s = interpolate(n, ctx, alloc);
      return s ? Value(s->c_str(), static_cast<rapidjson::SizeType>(s->size()), alloc) : Value();
    }
    case Node::Kind::Object: {
      Value obj(rapidjson::kObjectType);
      for (size_t i = 0; i < n.members.size(); ++i) {
        const std::string& key = n.keys[i];
        const Node& child = n.members[i];
        Value v = eval_one(child, ctx, alloc);
        if (JsonBuilder::is_empty(v)) continue;
        obj.AddMember(Value(key.c_str(), static_cast<rapidjson::SizeType>(key.size()), alloc), v, alloc);
      }
      return obj;
    }
    case Node::Kind::Array: {
      Value arr(rapidjson::kArrayType);
      for (const Node& item : n.items) eval_into(item, ctx, alloc, arr);
      return arr;
    }
    case Node::Kind::Each: {
      Value arr(rapidjson::kArrayType);
      eval_into(n, ctx, alloc, arr);
      return arr;
    }
    case Node::Kind::Join: {
      std::string s;
      bool first = true;
      for_each_iteration(n.each, ctx, [&] {
        if (n.when && !eval_cond(*n.when, ctx, alloc)) return;
        Value v = eval_one(*n.value, ctx, alloc);
        if (!v.IsString() || v.GetStringLength() == 0) return;
        if (!first) s += n.separator;
        s.append(v.GetString(), v.GetStringLength());
        first = false;
      });
      if (s.empty()) return Value();
      return Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), alloc);
    }
    case Node::Kind::When:
      if (eval_cond(*n.when, ctx, alloc)) return eval_one(*n.value, ctx, alloc);
      if (n.otherwise) return eval_one(*n.otherwise, ctx, alloc);
      return Value();
    case Node::Kind::First:
      for (const Node& item : n.items) {
        if (item.kind == Node::Kind::Each) {
          Value arr(rapidjson::kArrayType);
          eval_into(item, ctx, alloc, arr);
          if (!arr.Empty()) return Value(arr[0], alloc);
          continue;
        }
        Value v = eval_one(item, ctx, alloc);
        if (!JsonBuilder::is_empty(v)) return v;
      }
      return Value();
    case Node::Kind::Merge: {
      // Objects merged left to right: a later one's members replace an earlier one's.
      Value merged(rapidjson::kObjectType);
      for (const Node& item : n.items) {
        Value v = eval_one(item, ctx, alloc);
        if (!v.IsObject()) continue;
        for (auto& m : v.GetObject()) {
          if (JsonBuilder::is_empty(m.value)) continue;
          auto existing = merged.FindMember(m.name);
          if (existing != merged.MemberEnd()) existing->value = std::move(m.value);
          else merged.AddMember(m.name, m.value, alloc);
        }
      }
      return merged;
    }
    case Node::Kind::Id: {
      std::vector<std::string> parts;
      for (const Node& item : n.items) {
        Value v = eval_one(item, ctx, alloc);
        if (!v.IsString() || v.GetStringLength() == 0) return Value();
        parts.emplace_back(v.GetString(), v.GetStringLength());
      }
      std::string system;
      for (size_t i = 0; i + 1 < parts.size(); ++i) {
        if (i) system += "|";
        system += parts[i];
      }
      std::string id = n.id_prefix + derive_id(n.id_type, system, parts.back());
      return Value(id.c_str(), static_cast<rapidjson::SizeType>(id.size()), alloc);
    }
  }
  return Value();
}

std::string node_text(const Node& n, EvalContext& ctx, Alloc& alloc) {
  Value v = eval_one(n, ctx, alloc);
  return v.IsString() ? std::string(v.GetString(), v.GetStringLength()) : std::string();
}

// Where a path points, for an ERR segment: its segment's sequence among segments of that name
// (the third OBX is OBX sequence 3), field, repetition and component as the path gives them.
hl7v2::Location location_of(const Path& p, const EvalContext& ctx) {
  hl7v2::Location where;
  where.segment = std::string(p.seg.data(), 3);
  if (auto seg = resolve_segment(p.seg, ctx)) {
    int sequence = 0;
    for (size_t i = 0; i <= *seg; ++i)
      if (name_is(ctx.msg, i, p.seg)) ++sequence;
    where.sequence = sequence;
  }
  where.field = p.field;
  if (p.rep_kind == Path::RepKind::Index) where.repetition = p.rep;
  where.component = p.comp;
  where.subcomponent = p.sub;
  return where;
}

// A problem's sentence, for an ERR segment or a row error: never absent. Where a template string
// leaves out a string missing a part (a reference needs all of it), a sentence says the part was not
// sent; a sentence that is nothing at all says which HL7 error it is.
std::string message_text(const Node& n, int code, EvalContext& ctx, Alloc& alloc) {
  std::string s = n.kind == Node::Kind::Interpolation ? *interpolate(n, ctx, alloc, "(not sent)") : node_text(n, ctx, alloc);
  if (s.empty()) s = "The message has a problem (HL7 error " + std::to_string(code) + "); see the error's location.";
  return s;
}

void add_issue(const IssueSpec& spec, EvalContext& ctx, Alloc& alloc, std::vector<Issue>& issues) {
  if (spec.when && !eval_cond(*spec.when, ctx, alloc)) return;
  Issue issue;
  issue.error = spec.error;
  issue.hl7_code = spec.code;
  issue.message = message_text(spec.message, spec.code, ctx, alloc);
  if (spec.where) issue.where = location_of(*spec.where, ctx);
  issue.column = spec.where_column;
  issues.push_back(std::move(issue));
}

void map_resource(const ResourceSpec& spec, EvalContext& ctx, int64_t event_time_ms, MappingOutput& out,
                  std::set<std::pair<std::string, std::string>>& seen) {
  MappedResource r;
  Alloc& alloc = r.resource.GetAllocator();
  if (spec.when && !eval_cond(*spec.when, ctx, alloc)) return;
  for (const auto& [slot, node] : spec.lets) {
    Value v = eval_one(node, ctx, alloc);
    Val val;
    if (v.IsString()) {
      val = text_val(std::string(v.GetString(), v.GetStringLength()));
    } else if (!JsonBuilder::is_empty(v)) {
      val.kind = Val::Json;
      val.json = std::move(v);
    }
    ctx.lets[slot] = std::move(val);
  }
  for (const IssueSpec& issue : spec.issues) add_issue(issue, ctx, alloc, out.issues);
  std::string id = node_text(spec.id, ctx, alloc);
  if (id.empty()) {
    if (spec.no_id) add_issue(*spec.no_id, ctx, alloc, out.issues);
    return;
  }
  // Two results under one key in one message (a repeated OBX code without a sub-id) stay apart.
  std::string unique = id;
  for (int n = 2; !seen.insert({spec.type, unique}).second; ++n) unique = derive_id(spec.type, id, std::to_string(n));

  Value body = eval_one(spec.body, ctx, alloc);
  Value& resource = r.resource.SetObject();
  resource.AddMember("resourceType", Value(spec.type.c_str(), static_cast<rapidjson::SizeType>(spec.type.size()), alloc), alloc);
  resource.AddMember("id", Value(unique.c_str(), static_cast<rapidjson::SizeType>(unique.size()), alloc), alloc);
  if (body.IsObject()) {
    for (auto& m : body.GetObject()) {
      if (m.name == "resourceType" || m.name == "id") continue;
      resource.AddMember(m.name, m.value, alloc);
    }
  }
  r.type = spec.type;
  r.only_if_absent = spec.if_absent;
  r.id = std::move(unique);
  r.event_time_ms = event_time_ms;
  r.patient_id = ctx.patient ? ctx.patient->id : "";
  r.identifiers = fhir::indexed_identifiers(resource);
  out.resources.push_back(std::move(r));
}

}  // namespace

// ---------------------------------------------------------------------------------------------

namespace {
// The text of a place as text() reads it (decoded, control characters as spaces, trimmed, the HL7
// null as empty), without a copy when its raw bytes need no decoding — the usual case; otherwise
// decoded into `scratch`.
std::string_view place_text(const Ref& r, const EvalContext& ctx, std::string& scratch) {
  const int comp = r.comp ? r.comp : 1;
  const int sub = r.sub ? r.sub : 1;
  if (!(r.seg == 0 && r.field <= 2) && ctx.msg.charset() != hl7v2::Charset::Latin1) {
    std::string_view raw = ctx.msg.raw_at(r.seg, r.field, r.rep, comp, sub);
    const char esc = ctx.msg.delimiters().escape;
    const bool plain = std::none_of(raw.begin(), raw.end(), [esc](char c) {
      return c == esc || static_cast<unsigned char>(c) < 0x20;
    });
    if (plain) {
      while (!raw.empty() && raw.front() == ' ') raw.remove_prefix(1);
      while (!raw.empty() && raw.back() == ' ') raw.remove_suffix(1);
      return raw == "\"\"" ? std::string_view() : raw;
    }
  }
  scratch = text(ctx.msg, r.seg, r.field, r.rep, comp, sub);
  return scratch;
}
}  // namespace

std::string_view text_view(const Val& v, const EvalContext& ctx, std::string& scratch) {
  switch (v.kind) {
    case Val::None: return {};
    case Val::Text: return v.text;
    case Val::Loc: return v.ref.field == 0 ? std::string_view() : place_text(v.ref, ctx, scratch);
    case Val::Json:
      if (v.json.IsString()) return std::string_view(v.json.GetString(), v.json.GetStringLength());
      scratch = text_of(v, ctx);
      return scratch;
  }
  return {};
}

std::string text_of(const Val& v, const EvalContext& ctx) {
  switch (v.kind) {
    case Val::None: return {};
    case Val::Text: return v.text;
    case Val::Loc: {
      if (v.ref.field == 0) return {};
      std::string scratch;
      std::string_view t = place_text(v.ref, ctx, scratch);
      return t.data() == scratch.data() ? std::move(scratch) : std::string(t);
    }
    case Val::Json:
      if (v.json.IsString()) return std::string(v.json.GetString(), v.json.GetStringLength());
      if (v.json.IsInt64()) return std::to_string(v.json.GetInt64());
      if (v.json.IsNumber()) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", v.json.GetDouble());
        return buf;
      }
      if (v.json.IsBool()) return v.json.GetBool() ? "true" : "false";
      return {};
  }
  return {};
}

bool has_value(const Val& v, const EvalContext& ctx) {
  switch (v.kind) {
    case Val::None: return false;
    case Val::Text: return !v.text.empty();
    case Val::Json: return !JsonBuilder::is_empty(v.json);
    case Val::Loc: {
      if (v.ref.field == 0) return true;
      // Read as text_of reads it: the first component (subcomponent) unless the path names one.
      const int comp = v.ref.comp ? v.ref.comp : 1;
      const int sub = v.ref.sub ? v.ref.sub : 1;
      std::string_view first = ctx.msg.raw_at(v.ref.seg, v.ref.field, v.ref.rep, comp, sub);
      // Without escapes the raw bytes decide; with them (rare) decode as text_of does.
      const char esc = ctx.msg.delimiters().escape;
      auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
      if (first.find(esc) != std::string_view::npos) {
        if (!text_of(v, ctx).empty()) return true;
      } else if (first != "\"\"" && !std::all_of(first.begin(), first.end(), blank)) {
        return true;
      }
      if (v.ref.comp != 0 && v.ref.sub != 0) return false;
      // A whole repetition or component: anything but separators, spaces and the HL7 null.
      std::string_view raw = ctx.msg.raw_at(v.ref.seg, v.ref.field, v.ref.rep, v.ref.comp, v.ref.sub);
      if (raw == "\"\"") return false;
      const auto& d = ctx.msg.delimiters();
      return std::any_of(raw.begin(), raw.end(), [&](char c) { return c != d.component && c != d.subcomponent && c != ' '; });
    }
  }
  return false;
}

std::string trigger_event(const hl7v2::Message& msg) {
  std::string trigger = msg.trigger_event();
  if (trigger.empty()) {
    if (const auto evn = msg.find("EVN")) trigger = text(msg, *evn, 1);
  }
  return trigger;
}

std::unique_ptr<Compiled> compile(const rapidjson::Value& doc, const std::map<std::string, CodeTable>& tables) {
  if (!doc.IsObject()) fail("", "a mapping file is a JSON object");
  auto out = std::make_unique<Compiled>();
  Compiler c{tables};
  if (doc.HasMember("defs")) c.defs = &doc["defs"];
  out->name = doc.HasMember("name") && doc["name"].IsString() ? doc["name"].GetString() : "";
  if (doc.HasMember("description") && doc["description"].IsString()) out->description = doc["description"].GetString();
  if (doc.HasMember("columns")) {
    // A row mapping: an extract feed names it; its expressions read the declared columns.
    out->rows = true;
    const Value& cols = doc["columns"];
    for (rapidjson::SizeType i = 0; i < cols.Size(); ++i) {
      const Value& col = cols[i];
      std::string name = col.IsString() ? col.GetString() : col["name"].GetString();
      bool required = col.IsObject() && col.HasMember("required") && col["required"].GetBool();
      if (std::find(out->columns.begin(), out->columns.end(), name) != out->columns.end())
        fail("/columns/" + std::to_string(i), "column \"" + name + "\" is declared twice");
      out->columns.push_back(std::move(name));
      out->required_columns.push_back(required);
    }
    c.columns = &out->columns;
    if (doc.HasMember("messages")) fail("/messages", "a row mapping (with \"columns\") takes no \"messages\"");
    if (!doc.HasMember("patient") || !doc["patient"].IsObject())
      fail("/patient", "a row mapping says which columns name the patient: {\"nhs_number\": \"@nhs_number\", \"local_id\": \"@person_id\", \"authority\": \"...\"}");
    const Value& pat = doc["patient"];
    if (pat.HasMember("nhs_number")) out->row_patient.nhs_number = c.expr(pat["nhs_number"].GetString(), "/patient/nhs_number");
    if (pat.HasMember("local_id")) out->row_patient.local_id = c.expr(pat["local_id"].GetString(), "/patient/local_id");
    if (pat.HasMember("authority")) out->row_patient.authority = pat["authority"].GetString();
    if (pat.HasMember("id_type")) out->row_patient.id_type = pat["id_type"].GetString();
    if (out->row_patient.nhs_number.alternatives.empty() && out->row_patient.local_id.alternatives.empty())
      fail("/patient", "name the NHS number column, the local person id column, or both");
  } else if (!doc.HasMember("messages") || !doc["messages"].IsArray()) {
    fail("/messages", "which message types the mapping applies to (or \"columns\" for an extract's rows)");
  }
  for (rapidjson::SizeType i = 0; out->rows == false && i < doc["messages"].Size(); ++i) {
    const Value& m = doc["messages"][i];
    MessageMatch match;
    if (!m.IsObject() || !m.HasMember("type") || !m["type"].IsString())
      fail("/messages/" + std::to_string(i), "{\"type\": \"ORU\", \"events\": [\"R01\"]}");
    match.type = m["type"].GetString();
    if (m.HasMember("events"))
      for (auto& e : m["events"].GetArray()) match.events.emplace_back(e.GetString());
    out->messages.push_back(std::move(match));
  }
  if (doc.HasMember("event_time")) {
    out->event_time = c.expr(doc["event_time"].GetString(), "/event_time");
    out->has_event_time = true;
  }
  if (doc.HasMember("checks")) {
    const Value& list = doc["checks"];
    for (rapidjson::SizeType i = 0; i < list.Size(); ++i) {
      const std::string ptr = "/checks/" + std::to_string(i);
      const Value& v = list[i];
      if (!v.IsObject() || !v.HasMember("value") || !v.HasMember("message")) fail(ptr, "a check has \"value\" and \"message\"");
      Check check;
      if (v.HasMember("each")) check.each = c.iteration(v["each"].GetString(), false, ptr + "/each");
      if (v.HasMember("when")) check.when = c.condition(v["when"], ptr + "/when");
      check.value = c.expr(v["value"].GetString(), ptr + "/value");
      check.required = v.HasMember("required") && v["required"].GetBool();
      check.datetime = v.HasMember("datetime") && v["datetime"].GetBool();
      if (v.HasMember("date_format")) check.date_format = v["date_format"].GetString();
      if (!check.required && !check.datetime && check.date_format.empty())
        fail(ptr, "a check says \"required\", \"datetime\", \"date_format\" or a combination");
      if (v.HasMember("error")) check.error = v["error"].GetBool();
      if (v.HasMember("code")) check.code = v["code"].GetInt();
      check.where = c.where_path(v, "where", ptr);
      check.where_column = c.where_column(v, "where", ptr);
      check.message = c.node(v["message"], ptr + "/message");
      out->checks.push_back(std::move(check));
    }
  }
  if (doc.HasMember("issues")) {
    for (rapidjson::SizeType i = 0; i < doc["issues"].Size(); ++i)
      out->issues.push_back(c.issue(doc["issues"][i], "/issues/" + std::to_string(i)));
  }
  if (doc.HasMember("merges")) {
    const Value& list = doc["merges"];
    for (rapidjson::SizeType i = 0; i < list.Size(); ++i) {
      const std::string ptr = "/merges/" + std::to_string(i);
      const Value& v = list[i];
      MergeSpec m;
      m.each = c.iteration(v["each"].GetString(), false, ptr + "/each");
      m.retired_value = c.expr(v["retired_value"].GetString(), ptr + "/retired_value");
      m.retired_authority = c.expr(v["retired_authority"].GetString(), ptr + "/retired_authority");
      m.retired_type = v.HasMember("retired_type") ? v["retired_type"].GetString() : "";
      out->merges.push_back(std::move(m));
    }
  }
  const Value& resources = doc["resources"];
  for (rapidjson::SizeType i = 0; i < resources.Size(); ++i) {
    const std::string ptr = "/resources/" + std::to_string(i);
    const Value& v = resources[i];
    if (!v.IsObject() || !v.HasMember("resource") || !v.HasMember("id") || !v.HasMember("template"))
      fail(ptr, "a resource has \"resource\" (its type), \"id\" and \"template\"");
    ResourceSpec spec;
    spec.type = v["resource"].GetString();
    spec.if_absent = v.HasMember("if_absent") && v["if_absent"].GetBool();
    if (v.HasMember("on_absent")) {
      if (!v["on_absent"].IsObject() || v["on_absent"].ObjectEmpty())
        fail(ptr + "/on_absent", "what the resource becomes when a snapshot no longer has it: an object, e.g. {\"status\": \"inactive\"}");
      rapidjson::StringBuffer sb;
      rapidjson::Writer<rapidjson::StringBuffer> w(sb);
      v["on_absent"].Accept(w);
      spec.on_absent = sb.GetString();
    }
    if (v.HasMember("each")) spec.each = c.iteration(v["each"].GetString(), false, ptr + "/each");
    if (v.HasMember("when")) spec.when = c.condition(v["when"], ptr + "/when");
    if (v.HasMember("let")) {
      for (auto& m : v["let"].GetObject()) {
        std::string name = m.name.GetString();
        Node value = c.node(m.value, ptr + "/let/" + name);  // compiled before the name is visible
        auto [it, added] = c.lets.emplace(name, c.slots);
        if (added) ++c.slots;
        spec.lets.emplace_back(it->second, std::move(value));
      }
    }
    spec.id = c.node(v["id"], ptr + "/id");
    if (v.HasMember("no_id")) spec.no_id = c.issue(v["no_id"], ptr + "/no_id");
    if (v.HasMember("issues"))
      for (rapidjson::SizeType k = 0; k < v["issues"].Size(); ++k)
        spec.issues.push_back(c.issue(v["issues"][k], ptr + "/issues/" + std::to_string(k)));
    if (!v["template"].IsObject()) fail(ptr + "/template", "the template is a JSON object (the resource)");
    spec.body = c.node(v["template"], ptr + "/template");
    out->resources.push_back(std::move(spec));
  }
  out->slot_count = c.slots;
  return out;
}

namespace {

void run_check(const Check& check, EvalContext& ctx, Alloc& alloc, std::vector<Issue>& issues) {
  if (check.when && !eval_cond(*check.when, ctx, alloc)) return;
  Val v = eval_expr(check.value, ctx, alloc);
  const bool present = has_value(v, ctx);
  std::optional<Path> where = check.where;
  std::string column = check.where_column;
  if (present && v.kind == Val::Loc) {
    for (const Operand& op : check.value.alternatives)
      if (op.kind == Operand::Kind::PathRef && &op.path.text == v.source) where = op.path;
  }
  if (present && v.source) {
    for (const Operand& op : check.value.alternatives)
      if (op.kind == Operand::Kind::Column && &op.path.text == v.source) column = op.path.text;
  }
  ctx.where = where ? std::string(where->seg.data(), 3) + "-" + std::to_string(where->field) : column;
  ctx.value = present ? text_of(v, ctx) : "";
  ctx.problem.clear();
  bool raise = false;
  if (!present) {
    raise = check.required;
  } else if (!check.date_format.empty()) {
    auto hl7 = hl7_from_format(ctx.value, check.date_format);
    auto readable = hl7 ? fhir::hl7_to_fhir_datetime(*hl7) : Result<std::string>(make_error("format", ""));
    if (!readable) {
      raise = true;
      ctx.problem = "\"" + ctx.value + "\" is not a date written " + check.date_format;
    }
  } else if (check.datetime) {
    auto readable = fhir::hl7_to_fhir_datetime(ctx.value);
    if (!readable) {
      raise = true;
      ctx.problem = readable.error().message;
    }
  }
  if (!raise) return;
  Issue issue;
  issue.error = check.error;
  issue.hl7_code = check.code;
  issue.message = message_text(check.message, issue.hl7_code, ctx, alloc);
  if (where) issue.where = location_of(*where, ctx);
  issue.column = column;
  issues.push_back(std::move(issue));
}

}  // namespace

void run_checks(const Compiled& mapping, const hl7v2::Message& msg, const FeedContext& feed,
                std::vector<Issue>& issues) {
  EvalContext ctx{msg, feed};
  ctx.trigger = trigger_event(msg);
  ctx.lets.resize(mapping.slot_count);
  rapidjson::Document scratch;
  Alloc& alloc = scratch.GetAllocator();
  for (const Check& check : mapping.checks) {
    if (check.each)
      for_each_iteration(*check.each, ctx, [&] { run_check(check, ctx, alloc, issues); });
    else
      run_check(check, ctx, alloc, issues);
  }
}

void run(const Compiled& mapping, const hl7v2::Message& msg, const FeedContext& feed, const PatientContext& patient,
         MappingOutput& out) {
  EvalContext ctx{msg, feed};
  ctx.patient = &patient;
  ctx.out = &out;
  ctx.trigger = trigger_event(msg);
  ctx.lets.resize(mapping.slot_count);
  rapidjson::Document scratch;
  int64_t event_time_ms = 0;
  if (mapping.has_event_time) {
    if (auto ms = fhir::hl7_to_epoch_ms(text_of(eval_expr(mapping.event_time, ctx, scratch.GetAllocator()), ctx)))
      event_time_ms = *ms;
  }
  if (event_time_ms == 0) {
    if (auto sent = fhir::hl7_to_epoch_ms(msg.message_time())) event_time_ms = *sent;
  }
  for (const IssueSpec& issue : mapping.issues) add_issue(issue, ctx, scratch.GetAllocator(), out.issues);
  std::set<std::pair<std::string, std::string>> seen;
  for (const ResourceSpec& spec : mapping.resources) {
    if (spec.each) {
      for_each_iteration(*spec.each, ctx, [&] { map_resource(spec, ctx, event_time_ms, out, seen); });
    } else {
      map_resource(spec, ctx, event_time_ms, out, seen);
    }
  }
  for (const MergeSpec& m : mapping.merges) {
    for_each_iteration(m.each, ctx, [&] {
      Alloc& alloc = scratch.GetAllocator();
      std::string value = text_of(eval_expr(m.retired_value, ctx, alloc), ctx);
      if (value.empty()) return;
      std::string authority = text_of(eval_expr(m.retired_authority, ctx, alloc), ctx);
      if (authority.empty()) authority = patient.authority;
      IdentityEvent e;
      e.kind = "merge";
      e.patient_id = patient.id;
      e.retired_system = feed.system_for(authority, m.retired_type);
      e.retired_value = value;
      e.retired_patient_id = derive_id("Patient", e.retired_system, value);
      e.detail = "Registration " + e.retired_system + "|" + value + " was merged into " + patient.key +
                 " by message " + msg.control_id() + " (" + msg.message_code() + "^" + ctx.trigger + ")";
      out.identity_events.push_back(std::move(e));
    });
  }
}

namespace {
// An empty message for a row mapping's context: its expressions read columns, never segments.
const hl7v2::Message& no_message() {
  static const hl7v2::Message empty = std::move(hl7v2::Message::parse("MSH|^~\\&|CC|CC|CC|CC|20240101000000||ROW^ROW|ROW|P|2.5\r").value());
  return empty;
}

std::string problem_with(const Error& error) {
  if (error.code == "nhs-number-length") return "is not 10 digits";
  if (error.code == "nhs-number-not-digits") return "contains characters other than digits";
  return "fails the Modulus 11 check";
}

std::string column_of(const Expr& e, const Compiled& mapping) {
  for (const Operand& op : e.alternatives)
    if (op.kind == Operand::Kind::Column) return mapping.columns[static_cast<size_t>(op.column)];
  return {};
}
}  // namespace

std::optional<PatientContext> row_patient(const Compiled& mapping, const RowInput& row, const FeedContext& feed,
                                          std::vector<Issue>& issues) {
  EvalContext ctx{no_message(), feed};
  ctx.row = &row;
  rapidjson::Document scratch;
  const RowPatientSpec& spec = mapping.row_patient;
  PatientContext p;
  const std::string nhs_column = column_of(spec.nhs_number, mapping);
  const std::string local_column = column_of(spec.local_id, mapping);
  if (!spec.nhs_number.alternatives.empty()) {
    const std::string nhs = text_of(eval_expr(spec.nhs_number, ctx, scratch.GetAllocator()), ctx);
    if (!nhs.empty()) {
      // NHS numbers are often written with spaces (943 476 5919): the digits are what count.
      std::string digits;
      for (char ch : nhs)
        if (ch != ' ' && ch != '-') digits += ch;
      auto parsed = identity::NhsNumber::parse(digits);
      if (parsed) {
        p.ids.nhs_number = std::move(parsed).value();
      } else {
        p.ids.rejected.push_back({0, nhs, problem_with(parsed.error())});
        // The value is not repeated: extract reports travel by e-mail and into logs.
        Issue issue{true, 102, "The NHS number " + problem_with(parsed.error()) +
                                   "; correct it in the source system and send the row again.", {}, nhs_column};
        issues.push_back(std::move(issue));
      }
    }
  }
  if (!spec.local_id.alternatives.empty()) {
    const std::string local = text_of(eval_expr(spec.local_id, ctx, scratch.GetAllocator()), ctx);
    if (!local.empty())
      p.ids.local.push_back({0, feed.system_for(spec.authority, spec.id_type), local, spec.id_type, spec.authority});
  }
  if (!p.ids.local.empty()) {
    p.id = derive_id("Patient", p.ids.local.front().system, p.ids.local.front().value);
    p.key = p.ids.local.front().system + "|" + p.ids.local.front().value;
    p.authority = spec.authority;
  } else if (p.ids.nhs_number) {
    p.id = derive_id("Patient", identity::NhsNumber::kSystem, p.ids.nhs_number->str());
    p.key = std::string(identity::NhsNumber::kSystem) + "|" + p.ids.nhs_number->str();
  } else {
    issues.push_back(Issue{true, 101,
                           "The row names no patient: " +
                               std::string(p.ids.rejected.empty() ? "no NHS number and no person id"
                                                                  : "its NHS number is not valid and it has no person id") +
                               "; send the source system's person id in every row.",
                           {}, local_column.empty() ? nhs_column : local_column});
    return std::nullopt;
  }
  return p;
}

void run_row(const Compiled& mapping, const RowInput& row, const FeedContext& feed, const PatientContext& patient,
             MappingOutput& out) {
  EvalContext ctx{no_message(), feed};
  ctx.row = &row;
  ctx.patient = &patient;
  ctx.out = &out;
  ctx.lets.resize(mapping.slot_count);
  rapidjson::Document scratch;
  for (const Check& check : mapping.checks) run_check(check, ctx, scratch.GetAllocator(), out.issues);
  int64_t event_time_ms = 0;
  if (mapping.has_event_time) {
    if (auto ms = fhir::hl7_to_epoch_ms(text_of(eval_expr(mapping.event_time, ctx, scratch.GetAllocator()), ctx)))
      event_time_ms = *ms;
  }
  for (const IssueSpec& issue : mapping.issues) add_issue(issue, ctx, scratch.GetAllocator(), out.issues);
  std::set<std::pair<std::string, std::string>> seen;
  for (const ResourceSpec& spec : mapping.resources) map_resource(spec, ctx, event_time_ms, out, seen);
}

}  // namespace cc::mapping::program
