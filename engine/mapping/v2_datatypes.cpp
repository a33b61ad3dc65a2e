// HL7 v2 composite datatypes turned into FHIR R4 datatypes; code tables are HL7 v2
// 0200 (name type), 0190 (address type), 0201/0202 (telecom use / equipment).
#include "engine/mapping/v2_datatypes.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>

#include "engine/fhir/datetime.h"

namespace cc::mapping {

using rapidjson::Value;

namespace {

constexpr std::string_view kGmcSystem = "https://fhir.hl7.org.uk/Id/gmc-number";
constexpr std::string_view kGmpSystem = "https://fhir.hl7.org.uk/Id/gmp-number";
constexpr std::string_view kOdsSystem = "https://fhir.nhs.uk/Id/ods-organization-code";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

bool one_of(std::string_view code, std::initializer_list<std::string_view> codes) {
  return std::any_of(codes.begin(), codes.end(),
                     [&](std::string_view c) { return iequals(code, c); });
}

// Joins the non-empty parts with sep.
std::string join(std::initializer_list<std::string_view> parts, std::string_view sep) {
  std::string out;
  for (std::string_view p : parts) {
    if (p.empty()) continue;
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

// Letter followed by exactly seven digits: the shape of GMC consultant and GMP codes.
bool national_code(std::string_view code, char letter) {
  return code.size() == 8 && std::toupper(static_cast<unsigned char>(code[0])) == letter &&
         std::all_of(code.begin() + 1, code.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

// HL7 table 0200 -> FHIR name-use. Empty and L (legal) are the official name.
std::string_view name_use(std::string_view type) {
  if (type.empty() || one_of(type, {"L", "R"})) return "official";
  if (one_of(type, {"D"})) return "usual";
  if (one_of(type, {"N"})) return "nickname";
  if (one_of(type, {"M"})) return "maiden";
  if (one_of(type, {"A", "S"})) return "anonymous";
  if (one_of(type, {"TEMP", "NB"})) return "temp";
  if (one_of(type, {"BAD", "NOUSE"})) return "old";
  return {};
}

}  // namespace

std::string text(const hl7v2::Message& msg, size_t seg, int field, int rep, int comp, int sub) {
  std::string v = msg.value(seg, field, rep, comp, sub);
  // FHIR strings hold no control characters but tab, CR and LF.
  for (char& c : v) {
    if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\r' && c != '\n') c = ' ';
  }
  size_t b = 0, e = v.size();
  while (b < e && is_space(v[b])) ++b;
  while (e > b && is_space(v[e - 1])) --e;
  v.erase(e);
  v.erase(0, b);
  if (v == "\"\"") v.clear();
  return v;
}

std::optional<std::string> fhir_datetime(std::string_view hl7) {
  if (hl7.empty()) return std::nullopt;
  auto r = fhir::hl7_to_fhir_datetime(hl7);
  if (!r) return std::nullopt;
  return std::move(r).value();
}

std::optional<std::string> fhir_date(std::string_view hl7) {
  auto dt = fhir_datetime(hl7);
  if (dt && dt->size() > 10) dt->resize(10);
  return dt;
}

Value human_name(const hl7v2::Message& msg, size_t seg, int field, int rep,
                 const JsonBuilder& json) {
  const std::string family = text(msg, seg, field, rep, 1);
  Value given = json.array();
  json.append(given, text(msg, seg, field, rep, 2));
  json.append(given, text(msg, seg, field, rep, 3));
  Value prefix = json.array();
  json.append(prefix, text(msg, seg, field, rep, 5));
  Value suffix = json.array();
  json.append(suffix, text(msg, seg, field, rep, 4));
  if (family.empty() && given.Empty() && prefix.Empty() && suffix.Empty()) return Value();

  Value name = json.object();
  json.put(name, "use", name_use(text(msg, seg, field, rep, 7)));
  json.put(name, "family", family);
  json.put(name, "given", std::move(given));
  json.put(name, "prefix", std::move(prefix));
  json.put(name, "suffix", std::move(suffix));
  return name;
}

Value address(const hl7v2::Message& msg, size_t seg, int field, int rep, const JsonBuilder& json) {
  // XAD-1 is SAD from 2.5: street or mailing address & street name & dwelling number.
  std::string street = text(msg, seg, field, rep, 1, 1);
  if (street.empty()) {
    street = join({text(msg, seg, field, rep, 1, 3), text(msg, seg, field, rep, 1, 2)}, " ");
  }
  Value lines = json.array();
  json.append(lines, street);
  json.append(lines, text(msg, seg, field, rep, 2));

  Value addr = json.object();
  const std::string type = text(msg, seg, field, rep, 7);
  if (one_of(type, {"H", "P", "RH"}))
    json.put(addr, "use", "home");
  else if (one_of(type, {"B", "O"}))
    json.put(addr, "use", "work");
  else if (one_of(type, {"C", "V"}))
    json.put(addr, "use", "temp");
  else if (one_of(type, {"BA", "BR", "N"}))
    json.put(addr, "use", "old");
  else if (one_of(type, {"BI"}))
    json.put(addr, "use", "billing");
  else if (one_of(type, {"M"}))
    json.put(addr, "type", "postal");
  json.put(addr, "line", std::move(lines));
  json.put(addr, "city", text(msg, seg, field, rep, 3));
  // XAD-4 is "state or province"; English feeds send the county there, FHIR's district.
  json.put(addr, "district", text(msg, seg, field, rep, 4));
  json.put(addr, "postalCode", text(msg, seg, field, rep, 5));
  json.put(addr, "country", text(msg, seg, field, rep, 6));
  bool has_part = false;
  for (const char* part : {"line", "city", "district", "postalCode", "country"}) {
    has_part = has_part || addr.HasMember(part);
  }
  return has_part ? std::move(addr) : Value();
}

Value contact_point(const hl7v2::Message& msg, size_t seg, int field, int rep,
                    std::string_view default_use, const JsonBuilder& json) {
  const std::string use_code = text(msg, seg, field, rep, 2);
  const std::string equipment = text(msg, seg, field, rep, 3);
  const bool email = one_of(equipment, {"Internet", "X.400"}) || iequals(use_code, "NET");

  std::string value;
  if (email) {
    value = text(msg, seg, field, rep, 4);
    if (value.empty()) value = text(msg, seg, field, rep, 1);
  } else {
    value = text(msg, seg, field, rep, 1);
    if (value.empty()) value = text(msg, seg, field, rep, 12);  // unformatted number (2.5)
    if (value.empty()) {
      const std::string country = text(msg, seg, field, rep, 5);
      const std::string extension = text(msg, seg, field, rep, 8);
      value = join(
          {country.empty() ? std::string() : "+" + country, text(msg, seg, field, rep, 6),
           text(msg, seg, field, rep, 7), extension.empty() ? std::string() : "ext. " + extension},
          " ");
    }
  }
  if (value.empty()) return Value();

  std::string_view system;
  if (email)
    system = "email";
  else if (one_of(equipment, {"PH", "CP"}))
    system = "phone";
  else if (one_of(equipment, {"FX"}))
    system = "fax";
  else if (one_of(equipment, {"BP"}))
    system = "pager";
  else if (one_of(equipment, {"MD", "TDD", "TTY"}))
    system = "other";
  else if (iequals(use_code, "BPN"))
    system = "pager";
  else if (value.find('@') != std::string::npos)
    system = "email";
  else
    system = "phone";

  std::string_view use = default_use;
  if (one_of(equipment, {"CP"}))
    use = "mobile";
  else if (one_of(use_code, {"PRN", "ORN"}))
    use = "home";
  else if (one_of(use_code, {"WPN"}))
    use = "work";
  else if (one_of(use_code, {"VHN"}))
    use = "temp";

  Value cp = json.object();
  json.put(cp, "system", system);
  json.put(cp, "value", value);
  json.put(cp, "use", use);
  return cp;
}

std::optional<NamedPerson> named_person(const hl7v2::Message& msg, size_t seg, int field) {
  std::optional<NamedPerson> first;
  const int reps = msg.repetition_count(seg, field);
  for (int rep = 1; rep <= reps; ++rep) {
    NamedPerson p;
    p.code = text(msg, seg, field, rep, 1);
    p.display = join({text(msg, seg, field, rep, 6), text(msg, seg, field, rep, 3),
                      text(msg, seg, field, rep, 4), text(msg, seg, field, rep, 2),
                      text(msg, seg, field, rep, 5)},
                     " ");
    if (p.code.empty() && p.display.empty()) continue;
    if (national_code(p.code, 'C'))
      p.system = kGmcSystem;
    else if (national_code(p.code, 'G'))
      p.system = kGmpSystem;
    if (!p.system.empty()) {
      // Another repetition may name the person when the national one does not.
      if (p.display.empty() && first) p.display = first->display;
      return p;
    }
    if (!first) first = std::move(p);
  }
  return first;
}

Value practitioner_reference(const NamedPerson& person, const JsonBuilder& json) {
  Value ref = json.object();
  json.put(ref, "type", "Practitioner");
  if (!person.system.empty())
    json.put(ref, "identifier", json.identifier(person.system, person.code));
  json.put(ref, "display", person.display);
  return ref;
}

Value organization_reference(const hl7v2::Message& msg, size_t seg, int field, int rep,
                             const JsonBuilder& json) {
  std::string ods = text(msg, seg, field, rep, 10);
  if (ods.empty()) ods = text(msg, seg, field, rep, 3);
  const std::string name = text(msg, seg, field, rep, 1);
  if (ods.empty() && name.empty()) return Value();
  Value ref = json.object();
  json.put(ref, "type", "Organization");
  json.put(ref, "identifier", json.identifier(kOdsSystem, ods));
  json.put(ref, "display", name);
  return ref;
}

std::string location_text(const hl7v2::Message& msg, size_t seg, int field) {
  std::string where = join({text(msg, seg, field, 1, 1), text(msg, seg, field, 1, 2),
                            text(msg, seg, field, 1, 3), text(msg, seg, field, 1, 4)},
                           ", ");
  return where.empty() ? text(msg, seg, field, 1, 9) : where;
}

}  // namespace cc::mapping
