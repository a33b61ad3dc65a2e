// The GP subset schema compiled in, indexed by definition for the checks the schema cannot make
// (and for naming what an element should be), with one valijson schema per accepted type.
#include "adapters/fhir/resource_schema.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include <valijson/adapters/rapidjson_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "adapters/fhir/fhir_time.h"
#include "adapters/fhir/resource_rules.h"

namespace cc::fhir_ingest {

extern const char* const kGpSubsetSchema;

namespace {

// Longest string the schema's regular expressions see (see the header).
constexpr size_t kLongString = 512;

struct Def;

struct Prop {
  const Def* def = nullptr;  // the element's type; null for an inline enum or const
  bool array = false;        // the element repeats (a JSON array)
  const rapidjson::Value* enumeration = nullptr;
};

struct Def {
  std::string name;
  bool primitive = false;  // no properties: string, dateTime, code...
  bool resource = false;   // has resourceType
  std::string json_type;   // primitives: "string", "number", "integer", "boolean"
  std::unordered_map<std::string, Prop> props;
};

std::string json_kind(const rapidjson::Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsBool()) return "boolean";
  if (v.IsNumber()) return "number";
  if (v.IsString()) return "string";
  if (v.IsArray()) return "array";
  return "object";
}

// What a value of this primitive type looks like, for messages.
std::string primitive_format(const std::string& type) {
  if (type == "date") return "a FHIR date: YYYY, YYYY-MM or YYYY-MM-DD";
  if (type == "dateTime")
    return "a FHIR dateTime: YYYY, YYYY-MM, YYYY-MM-DD, or YYYY-MM-DDThh:mm:ss with a time zone "
           "(Z or +hh:mm / -hh:mm)";
  if (type == "instant")
    return "a FHIR instant: YYYY-MM-DDThh:mm:ss, optional fractions of a second, and a time "
           "zone (Z or +hh:mm / -hh:mm)";
  if (type == "time") return "a FHIR time: hh:mm:ss";
  if (type == "id") return "a FHIR id: 1 to 64 letters, digits, '-' or '.'";
  if (type == "code")
    return "a FHIR code: no leading or trailing whitespace and single spaces between words";
  if (type == "uri" || type == "url" || type == "canonical")
    return "a FHIR " + type + ": no spaces or other whitespace";
  if (type == "oid") return "an OID: urn:oid: followed by dotted numbers";
  if (type == "uuid") return "a UUID: urn:uuid: followed by lower-case hex in 8-4-4-4-12 groups";
  if (type == "base64Binary") return "base64: letters, digits, '+', '/' and '=' only";
  if (type == "string" || type == "markdown")
    return "FHIR text: no vertical tabs or form feeds, and not empty";
  return "a FHIR " + type;
}

// A value a pattern accepts, standing in for a long string while the schema runs.
const char* stand_in(const std::string& type) {
  if (type == "date" || type == "dateTime") return "2000";
  if (type == "instant") return "2000-01-01T00:00:00Z";
  if (type == "time") return "00:00:00";
  if (type == "oid") return "urn:oid:1.2";
  if (type == "uuid") return "urn:uuid:00000000-0000-0000-0000-000000000000";
  return "x";
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// The schema's pattern for a type, applied by hand to a long string; true when it holds.
bool long_string_ok(const std::string& type, std::string_view s) {
  if (type == "string" || type == "markdown")
    return s.find_first_of("\v\f") == std::string_view::npos;
  if (type == "uri" || type == "url" || type == "canonical")
    return std::none_of(s.begin(), s.end(), is_space);
  if (type == "code") {
    if (is_space(s.front()) || is_space(s.back())) return false;
    for (size_t i = 1; i < s.size(); ++i)
      if (is_space(s[i]) && is_space(s[i - 1])) return false;
    return true;
  }
  if (type == "xhtml" || type == "base64Binary") return true;
  return false;  // id, date, dateTime, instant, time, oid, uuid: never this long
}

bool base64_ok(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/' || c == '=' || is_space(c);
  });
}

}  // namespace

struct ResourceSchema::Impl {
  rapidjson::Document schema;
  std::map<std::string, Def> defs;
  std::map<std::string, std::unique_ptr<rapidjson::Document>> wrappers;
  std::map<std::string, std::unique_ptr<valijson::Schema>, std::less<>> compiled;

  const Def* def(const std::string& name) const {
    auto it = defs.find(name);
    return it == defs.end() ? nullptr : &it->second;
  }
};

namespace {

std::string ref_name(const rapidjson::Value& v) {
  if (!v.IsObject() || !v.HasMember("$ref") || !v["$ref"].IsString()) return {};
  std::string ref = v["$ref"].GetString();
  return ref.substr(ref.rfind('/') + 1);
}

// One resource's walk: FHIR JSON rules, long strings, references, contained resources.
class Walker {
 public:
  Walker(const ResourceSchema::Impl& impl, int entry, StructureReport& out)
      : impl_(impl), entry_(entry), out_(out) {}

  ~Walker() { restore(); }

  void issue(const char* severity, const char* code, const char* rule, std::string expression,
             std::string message) {
    reported_.insert(expression);
    out_.issues.push_back(Issue{severity, code, rule, std::move(message), std::move(expression), entry_});
  }

  bool reported(const std::string& expression) const { return reported_.count(expression) > 0; }

  struct Pending {
    rapidjson::Value* resource;
    const Def* def;
    std::string path;
  };
  std::vector<Pending> resources;  // the root first, then its contained resources

  void resource(rapidjson::Value& v, const Def& def, const std::string& path,
                const std::string& element, bool in_contained) {
    resources.push_back(Pending{&v, &def, path});
    object(v, def, path, element, in_contained);
  }

  void restore() {
    for (auto& [target, original] : swapped_) target->Swap(original);
    swapped_.clear();
  }

 private:
  void value(rapidjson::Value& v, const Prop& prop, const std::string& path,
             const std::string& element, bool in_contained) {
    if (v.IsNull()) {
      issue("error", "structure", "json-null", path,
            path + " is null; FHIR JSON has no nulls: leave the element out when it has no value.");
    } else if (v.IsString()) {
      string(v, prop.def, path);
    } else if (v.IsObject()) {
      if (v.MemberCount() == 0) {
        issue("error", "structure", "json-empty", path,
              path + " is an empty object; FHIR JSON has no empty objects: leave the element out.");
      } else if (prop.def && !prop.def->primitive) {
        object(v, *prop.def, path, element, in_contained);
      }
    } else if (v.IsArray() && v.Empty()) {
      issue("error", "structure", "json-empty", path,
            path + " is an empty array; FHIR JSON has no empty arrays: leave the element out.");
    }
  }

  void string(rapidjson::Value& v, const Def* def, const std::string& path) {
    const std::string_view s(v.GetString(), v.GetStringLength());
    if (s.empty()) {
      issue("error", "structure", "json-empty", path,
            path + " is an empty string; FHIR JSON has no empty strings: leave the element out.");
      return;
    }
    if (!def || !def->primitive) return;  // a string where an object belongs: the schema says so
    const std::string& type = def->name;
    if (type == "base64Binary" && !base64_ok(s)) {
      issue("error", "value", "primitive-format", path,
            path + " is not valid " + primitive_format(type) + ".");
    }
    if ((type == "date" || type == "dateTime" || type == "instant") && !is_calendar_day(s)) {
      issue("error", "value", "calendar-date", path,
            path + " names a day the calendar does not have (e.g. 30 February); send a real date.");
    }
    if (s.size() > kLongString) {
      if (!long_string_ok(type, s) && !reported(path)) {
        issue("error", "value", "primitive-format", path,
              path + " is not valid: it should be " + primitive_format(type) + ".");
      }
      rapidjson::Value original;
      original.Swap(v);
      v.SetString(rapidjson::StringRef(stand_in(type)));
      swapped_.emplace_back(&v, std::move(original));
    }
  }

  void object(rapidjson::Value& v, const Def& def, const std::string& path,
              const std::string& element, bool in_contained) {
    // Repeated keys (RapidJSON keeps both; FHIR JSON forbids them).
    if (v.MemberCount() > 1) {
      std::vector<std::string_view> names;
      names.reserve(v.MemberCount());
      for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m)
        names.emplace_back(m->name.GetString(), m->name.GetStringLength());
      std::sort(names.begin(), names.end());
      for (size_t i = 1; i < names.size(); ++i) {
        if (names[i] == names[i - 1] && (i < 2 || names[i - 2] != names[i])) {
          const std::string where = path + "." + std::string(names[i]);
          issue("error", "structure", "json-duplicate-key", where,
                where + " appears more than once in the same object; send each element once "
                        "(a repeating element is one JSON array).");
        }
      }
    }
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
      const std::string name(m->name.GetString(), m->name.GetStringLength());
      const std::string child_path = path + "." + name;
      const std::string child_element = element.empty() ? name : element + "." + name;
      auto it = def.props.find(name);
      if (it == def.props.end()) {
        issue("error", "structure", "unknown-element", child_path,
              child_path + " is not an element FHIR R4 defines here; check the spelling and "
                           "case, or carry local data in an extension.");
        continue;
      }
      const Prop& prop = it->second;
      if (def.resource && name == "contained") {
        contained(m->value, child_path, child_element, in_contained);
        continue;
      }
      if (prop.array) {
        if (!m->value.IsArray()) continue;  // the schema reports the JSON type
        if (m->value.Empty()) {
          value(m->value, prop, child_path, child_element, in_contained);
          continue;
        }
        for (rapidjson::SizeType i = 0; i < m->value.Size(); ++i) {
          const std::string index = "[" + std::to_string(i) + "]";
          value(m->value[i], prop, child_path + index, child_element + index, in_contained);
        }
      } else {
        if (m->value.IsArray() && !m->value.Empty()) continue;  // the schema reports it
        value(m->value, prop, child_path, child_element, in_contained);
      }
    }
    if (def.name == "Reference") {
      auto ref = v.FindMember("reference");
      if (ref != v.MemberEnd() && ref->value.IsString() && ref->value.GetStringLength() > 0)
        out_.references.push_back(ReferenceSite{&v, path, element, in_contained});
    }
  }

  void contained(rapidjson::Value& list, const std::string& path, const std::string& element,
                 bool in_contained) {
    if (!list.IsArray()) return;  // the schema reports it
    if (list.Empty()) {
      issue("error", "structure", "json-empty", path,
            path + " is an empty array; FHIR JSON has no empty arrays: leave the element out.");
      return;
    }
    for (rapidjson::SizeType i = 0; i < list.Size(); ++i) {
      rapidjson::Value& item = list[i];
      const std::string index = "[" + std::to_string(i) + "]";
      const std::string item_path = path + index;
      if (!item.IsObject()) continue;  // the schema reports it
      auto rt = item.FindMember("resourceType");
      if (rt == item.MemberEnd() || !rt->value.IsString()) continue;  // the schema reports it
      const std::string type = rt->value.GetString();
      if (in_contained) {
        issue("error", "structure", "contained-nested", item_path,
              item_path + " is a contained resource inside a contained resource; FHIR allows "
                          "one level only: contain it in the entry's resource itself.");
        continue;
      }
      const Def* def = may_be_contained(type) ? impl_.def(type) : nullptr;
      if (!def) {
        issue("error", "not-supported", "contained-type", item_path + ".resourceType",
              item_path + " is a contained " + type +
                  ", which the GP feed does not accept as a contained resource; contain only "
                  "Medication, Practitioner, PractitionerRole, Organization or Location, and "
                  "send a Patient or clinical resource as its own bundle entry.");
        continue;
      }
      auto id = item.FindMember("id");
      if (id == item.MemberEnd() || !id->value.IsString() || id->value.GetStringLength() == 0) {
        issue("error", "required", "contained-id", item_path + ".id",
              item_path + ".id is missing; a contained resource needs an id so the resource can "
                          "refer to it as \"#id\".");
      } else {
        out_.contained_ids.emplace_back(id->value.GetString(), id->value.GetStringLength());
      }
      resource(item, *def, item_path, element + index, true);
    }
  }

  const ResourceSchema::Impl& impl_;
  int entry_;
  StructureReport& out_;
  std::set<std::string> reported_;
  std::vector<std::pair<rapidjson::Value*, rapidjson::Value>> swapped_;
};

// Where a valijson error context points: the element path, its Prop and type.
struct Located {
  std::string path;
  const Prop* prop = nullptr;  // the last named element
  const Def* def = nullptr;    // the type at the end of the path
  bool at_item = false;        // the path ends at an array item
  const rapidjson::Value* value = nullptr;
};

Located locate(const Def& root, const rapidjson::Value& resource,
               const std::vector<std::string>& context, const std::string& prefix) {
  Located at;
  at.path = prefix;
  at.def = &root;
  at.value = &resource;
  bool known = true;
  for (size_t i = 1; i < context.size(); ++i) {  // context[0] is "<root>"
    std::string seg = context[i];
    if (seg.size() >= 2 && seg.front() == '[' && seg.back() == ']') seg = seg.substr(1, seg.size() - 2);
    const bool index = !seg.empty() && std::all_of(seg.begin(), seg.end(), ::isdigit);
    if (index) {
      at.path += "[" + seg + "]";
      at.at_item = true;
      const auto n = static_cast<rapidjson::SizeType>(std::strtoul(seg.c_str(), nullptr, 10));
      at.value = at.value && at.value->IsArray() && n < at.value->Size() ? &(*at.value)[n] : nullptr;
      continue;
    }
    at.path += "." + seg;
    at.at_item = false;
    if (at.value && at.value->IsObject()) {
      auto m = at.value->FindMember(seg.c_str());
      at.value = m == at.value->MemberEnd() ? nullptr : &m->value;
    } else {
      at.value = nullptr;
    }
    if (known && at.def) {
      auto it = at.def->props.find(seg);
      if (it == at.def->props.end()) {
        known = false;
        at.prop = nullptr;
        at.def = nullptr;
      } else {
        at.prop = &it->second;
        at.def = it->second.def;
      }
    }
  }
  return at;
}

std::string expected_kind(const Located& at) {
  if (at.prop && at.prop->array && !at.at_item)
    return "a JSON array (this element repeats in FHIR R4: send an array even for one value)";
  if (!at.def) return "another JSON type";
  if (!at.def->primitive) return "a JSON object (a FHIR " + at.def->name + ")";
  if (at.def->json_type == "boolean") return "true or false (a JSON boolean, not a string)";
  if (at.def->json_type == "integer") return "a whole number (a JSON number without a fraction)";
  if (at.def->json_type == "number") return "a JSON number (not a string)";
  return "a JSON string (a FHIR " + at.def->name + ")";
}

void translate(const valijson::ValidationResults::Error& error, const Def& root,
               const rapidjson::Value& resource, const std::string& prefix, Walker& walker,
               std::set<std::pair<std::string, std::string>>& seen, int entry,
               std::vector<Issue>& issues) {
  const std::string& d = error.description;
  auto add = [&](const char* code, const char* rule, const std::string& expression,
                 const std::string& message) {
    if (!seen.emplace(expression, rule).second) return;
    issues.push_back(Issue{"error", code, rule, message, expression, entry});
  };
  const Located at = locate(root, resource, error.context, prefix);
  if (d.rfind("Missing required property '", 0) == 0) {
    const size_t start = d.find('\'') + 1;
    const std::string name = d.substr(start, d.find('\'', start) - start);
    const std::string expression = at.path + "." + name;
    add("required", "required-element", expression,
        expression + " is missing; FHIR R4 requires it here.");
  } else if (d.rfind("Value type not permitted", 0) == 0) {
    if (walker.reported(at.path)) return;
    add("structure", "json-type", at.path,
        at.path + " is a JSON " + (at.value ? json_kind(*at.value) : std::string("value")) +
            ", but FHIR R4 expects " + expected_kind(at) + ".");
  } else if (d.rfind("Failed to match regex", 0) == 0) {
    if (walker.reported(at.path)) return;
    const std::string type = at.def ? at.def->name : "value";
    add("value", "primitive-format", at.path,
        at.path + " is not valid: it should be " + primitive_format(type) + ".");
  } else if (d.rfind("Failed to match against any enum values", 0) == 0) {
    std::string allowed;
    if (at.prop && at.prop->enumeration && at.prop->enumeration->IsArray()) {
      const auto& e = *at.prop->enumeration;
      for (rapidjson::SizeType i = 0; i < e.Size() && i < 16; ++i)
        allowed += std::string(i ? ", " : "") + (e[i].IsString() ? e[i].GetString() : "?");
      if (e.Size() > 16) allowed += ", ...";
    }
    add("code-invalid", "code-not-allowed", at.path,
        at.path + " is not a code FHIR R4 allows for this element" +
            (allowed.empty() ? std::string(".") : "; use one of: " + allowed + "."));
  } else if (d.rfind("Expected number greater than or equal to ", 0) == 0) {
    add("value", "primitive-format", at.path,
        at.path + " must be a whole number of at least " +
            d.substr(std::string("Expected number greater than or equal to ").size()) + ".");
  } else if (d.rfind("Object contains a property that could not be validated", 0) == 0 ||
             d.rfind("Failed to validate", 0) == 0 || d.rfind("Cannot validate item", 0) == 0) {
    // Additional properties are reported by the walk (all of them, not just the first); the
    // rest are the chain from the root down to a problem reported on its own.
  } else {
    add("structure", "schema", at.path, at.path + " does not match the FHIR R4 schema: " + d);
  }
}

}  // namespace

ResourceSchema::ResourceSchema(const char* schema_text) : impl_(std::make_unique<Impl>()) {
  Impl& impl = *impl_;
  impl.schema.Parse(schema_text);
  if (impl.schema.HasParseError() || !impl.schema.IsObject() || !impl.schema.HasMember("definitions"))
    throw std::runtime_error("the compiled-in FHIR GP subset schema does not parse");
  const auto& definitions = impl.schema["definitions"];
  for (auto d = definitions.MemberBegin(); d != definitions.MemberEnd(); ++d) {
    Def def;
    def.name = d->name.GetString();
    def.primitive = !d->value.HasMember("properties");
    if (d->value.HasMember("type") && d->value["type"].IsString())
      def.json_type = d->value["type"].GetString();
    impl.defs.emplace(def.name, std::move(def));
  }
  for (auto d = definitions.MemberBegin(); d != definitions.MemberEnd(); ++d) {
    Def& def = impl.defs[d->name.GetString()];
    if (def.primitive) continue;
    const auto& props = d->value["properties"];
    def.resource = props.HasMember("resourceType");
    for (auto p = props.MemberBegin(); p != props.MemberEnd(); ++p) {
      Prop prop;
      std::string target = ref_name(p->value);
      if (target.empty() && p->value.HasMember("items")) {
        prop.array = true;
        target = ref_name(p->value["items"]);
      }
      if (!target.empty()) prop.def = impl.def(target);
      if (p->value.HasMember("enum")) prop.enumeration = &p->value["enum"];
      def.props.emplace(p->name.GetString(), prop);
    }
  }
  for (auto& [name, def] : impl.defs) {
    if (!def.resource) continue;
    auto wrapper = std::make_unique<rapidjson::Document>();
    auto& alloc = wrapper->GetAllocator();
    wrapper->SetObject();
    const std::string ref = "#/definitions/" + name;
    wrapper->AddMember("$ref", rapidjson::Value(ref.c_str(), alloc), alloc);
    wrapper->AddMember("definitions", rapidjson::Value(definitions, alloc), alloc);
    auto schema = std::make_unique<valijson::Schema>();
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::RapidJsonAdapter adapter(*wrapper);
    parser.populateSchema(adapter, *schema);
    impl.wrappers[name] = std::move(wrapper);
    impl.compiled[name] = std::move(schema);
  }
}

ResourceSchema::~ResourceSchema() = default;

const ResourceSchema& ResourceSchema::gp_subset() {
  static const ResourceSchema instance(kGpSubsetSchema);
  return instance;
}

bool ResourceSchema::defines(std::string_view resource_type) const {
  return impl_->compiled.find(resource_type) != impl_->compiled.end();
}

StructureReport ResourceSchema::check(rapidjson::Value& resource, const std::string& path, int entry,
                                      bool validate) const {
  StructureReport report;
  auto rt = resource.FindMember("resourceType");
  const Def* def = rt != resource.MemberEnd() && rt->value.IsString()
                       ? impl_->def(rt->value.GetString())
                       : nullptr;
  if (!def || !def->resource) {
    report.issues.push_back(Issue{"error", "not-supported", "resource-type",
                                  "this resource type is not defined by the GP feed's schema",
                                  path + ".resourceType", entry});
    return report;
  }
  Walker walker(*impl_, entry, report);
  walker.resource(resource, *def, path, "", false);

  // One validator a thread: it caches each pattern's compiled std::regex (compiling the dateTime
  // pattern costs more than validating a resource).
  thread_local valijson::Validator validator;
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& pending : walker.resources) {
    if (!validate) break;
    const valijson::Schema& schema = *impl_->compiled.find(pending.def->name)->second;
    valijson::adapters::RapidJsonAdapter target(*pending.resource);
    if (validator.validate(schema, target, nullptr)) continue;
    valijson::ValidationResults results;
    validator.validate(schema, target, &results);
    valijson::ValidationResults::Error error;
    while (results.popError(error))
      translate(error, *pending.def, *pending.resource, pending.path, walker, seen, entry,
                report.issues);
  }
  walker.restore();
  return report;
}

}  // namespace cc::fhir_ingest
