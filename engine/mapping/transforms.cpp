// The named transforms a mapping file's expressions may use ("PID-7 | date"). Each takes the
// value so far and returns the new one; an absent value stays absent unless the transform says
// otherwise (map/coding fall back to their table's default; system names the default system).
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>

#include "engine/core/json_input.h"
#include "engine/fhir/datetime.h"
#include "engine/identity/nhs_number.h"
#include "engine/mapping/eval.h"
#include "engine/mapping/json_builder.h"
#include "engine/mapping/v2_datatypes.h"

namespace cc::mapping::program {

using rapidjson::Value;

namespace {

Val json_val(Value&& j) {
  Val v;
  if (!JsonBuilder::is_empty(j)) {
    v.kind = Val::Json;
    v.json = std::move(j);
  }
  return v;
}

Val t_trim(Val&& in, const Transform&, EvalContext& ctx, Alloc&) { return text_val(text_of(in, ctx)); }

Val t_upper(Val&& in, const Transform&, EvalContext& ctx, Alloc&) {
  std::string s = text_of(in, ctx);
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text_val(std::move(s));
}

Val t_lower(Val&& in, const Transform&, EvalContext& ctx, Alloc&) {
  std::string s = text_of(in, ctx);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text_val(std::move(s));
}

Val t_datetime(Val&& in, const Transform&, EvalContext& ctx, Alloc&) {
  auto v = fhir_datetime(text_of(in, ctx));
  return text_val(v ? *v : "");
}

Val t_date(Val&& in, const Transform&, EvalContext& ctx, Alloc&) {
  auto v = fhir_date(text_of(in, ctx));
  return text_val(v ? *v : "");
}

// FHIR instant (UTC): only for times given at least to the minute; a date alone is no instant.
Val t_instant(Val&& in, const Transform&, EvalContext& ctx, Alloc&) {
  const std::string s = text_of(in, ctx);
  size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits]))) ++digits;
  if (digits < 12) return {};
  auto ms = fhir::hl7_to_epoch_ms(s);
  if (!ms || *ms > fhir::kLastFhirMs) return {};  // past 9999 in UTC: no FHIR instant holds it
  return text_val(fhir::fhir_instant_utc(*ms));
}

// "16/03/2024 | from-date('DD/MM/YYYY')" -> "20240316", then "| date" or "| datetime" as for HL7.
// Several formats: the first that matches.
Val t_from_date(Val&& in, const Transform& t, EvalContext& ctx, Alloc&) {
  const std::string text = text_of(in, ctx);
  for (const std::string& format : t.args)
    if (auto hl7 = hl7_from_format(text, format)) return text_val(std::move(*hl7));
  return {};
}

// A FHIR decimal: optional sign, digits, optional fraction. "+5" and " 5 " are read as 5.
bool decimal_text(std::string& s) {
  if (!s.empty() && s[0] == '+') s.erase(0, 1);
  size_t i = (!s.empty() && s[0] == '-') ? 1 : 0;
  size_t digits = 0, dots = 0;
  for (size_t k = i; k < s.size(); ++k) {
    if (std::isdigit(static_cast<unsigned char>(s[k]))) ++digits;
    else if (s[k] == '.' && dots == 0) ++dots;
    else return false;
  }
  return digits > 0 && s.back() != '.' && s[i] != '.';
}

Val number_val(std::string s) {
  if (!decimal_text(s)) return {};
  Value j;
  if (s.find('.') == std::string::npos && s.size() < 18)
    j.SetInt64(std::strtoll(s.c_str(), nullptr, 10));
  else {
    // A number past a double's range (hundreds of digits) is not a value anyone measured: it is
    // nothing here, so the mapping keeps the text as sent, as for any value that is not a number.
    const double d = std::strtod(s.c_str(), nullptr);
    if (!std::isfinite(d)) return {};
    j.SetDouble(d);
  }
  return json_val(std::move(j));
}

Val t_decimal(Val&& in, const Transform&, EvalContext& ctx, Alloc&) { return number_val(text_of(in, ctx)); }

// "1.50 | decimal-precision" -> 2: the places after the point a decimal is sent with, when the JSON
// number `decimal` makes would not show them all (a double is written in its shortest form, so 1.50
// becomes 1.5; 5.0 stays 5.0). Nothing otherwise. For FHIR's quantity-precision extension on the
// value (`_value`), so a result's significant figures survive: FHIR decimals carry their precision.
Val t_decimal_precision(Val&& in, const Transform&, EvalContext& ctx, Alloc&) {
  std::string s = text_of(in, ctx);
  if (!decimal_text(s)) return {};
  const int places = decimal_places_lost(s);
  if (places == 0) return {};
  Value j;
  j.SetInt(places);
  return json_val(std::move(j));
}

Val t_integer(Val&& in, const Transform&, EvalContext& ctx, Alloc&) {
  std::string s = text_of(in, ctx);
  if (s.empty() || s.find('.') != std::string::npos) return {};
  return number_val(std::move(s));
}

Val t_boolean(Val&& in, const Transform&, EvalContext& ctx, Alloc&) {
  std::string s = text_of(in, ctx);
  Value j;
  if (s == "Y" || s == "y" || s == "1" || s == "T" || s == "true") j.SetBool(true);
  else if (s == "N" || s == "n" || s == "0" || s == "F" || s == "false") j.SetBool(false);
  else return {};
  Val v;
  v.kind = Val::Json;
  v.json = std::move(j);
  return v;
}

void report_unmapped(const Transform& t, EvalContext& ctx, const std::string& system, const std::string& code,
                     const std::string& display) {
  if (!t.table || !t.table->report_unmapped || !ctx.out || code.empty()) return;
  // Once a message: a unit is read for the value and its range.
  if (!ctx.unmapped_reported.insert(t.table->name + "|" + system + "|" + code).second) return;
  ctx.out->unmapped_codes.push_back({t.table->name, system, code, display});
}

// The entry for a code, the table's default for an absent or unknown code, or nullptr.
const TableEntry* lookup(const Transform& t, EvalContext& ctx, const std::string& code) {
  if (!t.table) return nullptr;
  if (!code.empty()) {
    if (const TableEntry* e = t.table->find(code)) return e;
    report_unmapped(t, ctx, "", code, "");
  }
  return t.table->fallback ? &*t.table->fallback : nullptr;
}

Val t_map(Val&& in, const Transform& t, EvalContext& ctx, Alloc&) {
  const TableEntry* e = lookup(t, ctx, text_of(in, ctx));
  return text_val(e ? e->code : "");
}

Val t_display(Val&& in, const Transform& t, EvalContext& ctx, Alloc&) {
  const TableEntry* e = lookup(t, ctx, text_of(in, ctx));
  return text_val(e ? e->display : "");
}

Value coding(const TableEntry& e, Alloc& alloc) {
  JsonBuilder json(alloc);
  return json.coding(e.system, e.code, e.display);
}

Val t_coding(Val&& in, const Transform& t, EvalContext& ctx, Alloc& alloc) {
  const TableEntry* e = lookup(t, ctx, text_of(in, ctx));
  if (!e) return {};
  return json_val(coding(*e, alloc));
}

// HL7 table 0396 coding system names that have a FHIR URI; anything else is a local code system.
std::string standard_system(const std::string& cs) {
  static const std::map<std::string, std::string> systems{
      {"LN", "http://loinc.org"},
      {"LOINC", "http://loinc.org"},
      {"SCT", "http://snomed.info/sct"},
      {"SNOMED", "http://snomed.info/sct"},
      {"SNOMEDCT", "http://snomed.info/sct"},
      {"I10", "http://hl7.org/fhir/sid/icd-10"},
      {"ICD10", "http://hl7.org/fhir/sid/icd-10"},
      {"UCUM", "http://unitsofmeasure.org"},
      {"RXNORM", "http://www.nlm.nih.gov/research/umls/rxnorm"},
      {"DMD", "https://dmd.nhs.uk"},
      {"READ", "http://read.info/readv2"},
      {"CTV3", "http://read.info/ctv3"},
  };
  if (auto it = systems.find(cs); it != systems.end()) return it->second;
  // HL7 table 0396 names HL7 tables "HL7nnnn" (HL70078); "HL70nnnn" is also seen.
  auto digits = [&](size_t from) {
    return std::all_of(cs.begin() + static_cast<std::ptrdiff_t>(from), cs.end(),
                       [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  };
  if (cs.size() == 7 && cs.compare(0, 3, "HL7") == 0 && digits(3)) return "http://terminology.hl7.org/CodeSystem/v2-" + cs.substr(3);
  if (cs.size() == 8 && cs.compare(0, 4, "HL70") == 0 && digits(4)) return "http://terminology.hl7.org/CodeSystem/v2-" + cs.substr(4);
  return {};
}

// CE / CWE / CNE -> CodeableConcept: the table's coding for the local code first (when it has
// one), then the coding as sent, then the alternate coding; text is the sent display. A code the
// table lacks is kept as sent and reported.
Val t_concept(Val&& in, const Transform& t, EvalContext& ctx, Alloc& alloc) {
  JsonBuilder json(alloc);
  std::string parts[6];
  if (in.kind == Val::Loc && in.ref.field > 0) {
    const Ref& r = in.ref;
    for (int i = 0; i < 6; ++i) {
      parts[i] = r.comp == 0 ? text(ctx.msg, r.seg, r.field, r.rep, i + 1, 1)
                             : text(ctx.msg, r.seg, r.field, r.rep, r.comp, i + 1);
    }
  } else {
    parts[0] = text_of(in, ctx);
  }
  if (parts[0].empty() && parts[1].empty() && parts[3].empty()) return {};
  Value codings = json.array();
  auto original = [&](const std::string& code, const std::string& display, const std::string& cs) {
    if (code.empty()) return std::string();
    std::string system = standard_system(cs);
    bool local = system.empty();
    if (local) system = ctx.feed.code_system_for(cs);
    const TableEntry* mapped = t.table ? t.table->find(code) : nullptr;
    if (mapped) json.append(codings, coding(*mapped, alloc));
    else if (local) report_unmapped(t, ctx, system, code, display);
    json.append(codings, json.coding(system, code, display));
    return system;
  };
  original(parts[0], parts[1], parts[2]);
  original(parts[3], parts[4], parts[5]);
  Value result = json.object();
  json.put(result, "coding", std::move(codings));
  json.put(result, "text", parts[1].empty() ? parts[4] : parts[1]);
  return json_val(std::move(result));
}

Val t_ucum(Val&& in, const Transform& t, EvalContext& ctx, Alloc&) {
  std::string unit = text_of(in, ctx);
  if (unit.empty() || !t.table) return {};
  const TableEntry* e = t.table->find(unit);
  if (!e) {
    report_unmapped(t, ctx, "", unit, "");
    return {};
  }
  return text_val(e->code);
}

// OBX-7 reference ranges: "3.5-5.0", "3.5 - 5.0", "<5", ">10", "-1.0-1.0".
std::pair<std::string, std::string> range_bounds(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), ' '), s.end());
  if (s.empty()) return {};
  if (s[0] == '<') return {"", s.substr(s.size() > 1 && s[1] == '=' ? 2 : 1)};
  if (s[0] == '>') return {s.substr(s.size() > 1 && s[1] == '=' ? 2 : 1), ""};
  size_t dash = s.find('-', 1);
  if (dash == std::string::npos) return {};
  return {s.substr(0, dash), s.substr(dash + 1)};
}

Val t_range_low(Val&& in, const Transform&, EvalContext& ctx, Alloc&) {
  return number_val(range_bounds(text_of(in, ctx)).first);
}

Val t_range_high(Val&& in, const Transform&, EvalContext& ctx, Alloc&) {
  return number_val(range_bounds(text_of(in, ctx)).second);
}

template <Value (*Fn)(const hl7v2::Message&, size_t, int, int, const JsonBuilder&)>
Val composite(Val&& in, const Transform&, EvalContext& ctx, Alloc& alloc) {
  if (in.kind != Val::Loc || in.ref.field == 0) return {};
  JsonBuilder json(alloc);
  return json_val(Fn(ctx.msg, in.ref.seg, in.ref.field, in.ref.rep, json));
}

Val t_contact_point(Val&& in, const Transform& t, EvalContext& ctx, Alloc& alloc) {
  if (in.kind != Val::Loc || in.ref.field == 0) return {};
  JsonBuilder json(alloc);
  return json_val(contact_point(ctx.msg, in.ref.seg, in.ref.field, in.ref.rep, t.args.empty() ? "" : t.args[0], json));
}

Val t_practitioner(Val&& in, const Transform&, EvalContext& ctx, Alloc& alloc) {
  if (in.kind != Val::Loc || in.ref.field == 0) return {};
  auto person = named_person(ctx.msg, in.ref.seg, in.ref.field);
  if (!person) return {};
  JsonBuilder json(alloc);
  return json_val(practitioner_reference(*person, json));
}

Val t_location_text(Val&& in, const Transform&, EvalContext& ctx, Alloc&) {
  if (in.kind != Val::Loc || in.ref.field == 0) return {};
  return text_val(location_text(ctx.msg, in.ref.seg, in.ref.field));
}

Val t_system(Val&& in, const Transform& t, EvalContext& ctx, Alloc&) {
  return text_val(ctx.feed.system_for(text_of(in, ctx), t.args.empty() ? "" : t.args[0]));
}

Val t_base64(Val&& in, const Transform&, EvalContext& ctx, Alloc&) {
  std::string s = text_of(in, ctx);
  if (s.empty()) return {};
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(s.data()),
                          static_cast<int>(s.size()));
  out.resize(static_cast<size_t>(n));
  return text_val(std::move(out));
}

Val t_nospace(Val&& in, const Transform&, EvalContext& ctx, Alloc&) {
  std::string s = text_of(in, ctx);
  s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); }), s.end());
  return text_val(std::move(s));
}

// "202403200930 | add-duration(7, 8)": the date/time plus the duration held in field 7 of the same
// segment, in the units of field 8 (minutes when empty, as HL7 says for AIS-8, AIG-12, AIL-10,
// AIP-10 and SCH-10): an appointment's end from its start and duration. Units are read as UCUM or
// ANSI (s, min, h, d, wk; S, MIN, HR, D, WK). Nothing for a date without a time to the minute, a
// duration that is not a number, or a unit it does not know. The result is a FHIR dateTime in
// Europe/London, to the second.
std::string lowered(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int64_t unit_ms(const std::string& unit) {
  static const std::map<std::string, int64_t> units{
      {"", 60'000},        {"min", 60'000},       {"mins", 60'000},      {"minute", 60'000},
      {"minutes", 60'000}, {"s", 1'000},          {"sec", 1'000},        {"second", 1'000},
      {"seconds", 1'000},  {"h", 3'600'000},      {"hr", 3'600'000},     {"hrs", 3'600'000},
      {"hour", 3'600'000}, {"hours", 3'600'000},  {"d", 86'400'000},     {"day", 86'400'000},
      {"days", 86'400'000}, {"wk", 604'800'000},  {"week", 604'800'000}, {"weeks", 604'800'000},
  };
  auto it = units.find(lowered(unit));
  return it == units.end() ? 0 : it->second;
}

int field_number(const std::string& arg) {
  if (arg.empty() || arg.size() > 3 || !std::all_of(arg.begin(), arg.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    return 0;
  return std::atoi(arg.c_str());
}

Val t_add_duration(Val&& in, const Transform& t, EvalContext& ctx, Alloc&) {
  if (in.kind != Val::Loc || in.ref.field == 0 || t.args.empty()) return {};
  const std::string start = text_of(in, ctx);
  size_t digits = 0;
  while (digits < start.size() && std::isdigit(static_cast<unsigned char>(start[digits]))) ++digits;
  if (digits < 12) return {};
  auto start_ms = fhir::hl7_to_epoch_ms(start);
  if (!start_ms) return {};
  const int duration_field = field_number(t.args[0]);
  const int units_field = t.args.size() > 1 ? field_number(t.args[1]) : 0;
  if (duration_field == 0) return {};
  std::string amount = text(ctx.msg, in.ref.seg, duration_field, 1, 1, 1);
  if (!decimal_text(amount) || amount[0] == '-') return {};
  const int64_t per = unit_ms(units_field ? text(ctx.msg, in.ref.seg, units_field, 1, 1, 1) : "");
  if (per == 0) return {};
  // An end past 9999-12-31 cannot be written as a FHIR dateTime (and a duration of millennia is a
  // typing error): nothing, as for any duration that cannot be read. Judged in double before any
  // conversion, so no amount of digits overflows.
  const double end = static_cast<double>(*start_ms) + std::strtod(amount.c_str(), nullptr) * static_cast<double>(per) + 0.5;
  if (!(end <= static_cast<double>(fhir::kLastFhirMs))) return {};
  const int64_t end_ms = static_cast<int64_t>(end);
  const int offset = fhir::london_offset_minutes_at_utc(end_ms);
  std::time_t local = static_cast<std::time_t>((end_ms / 1000) + offset * 60);
  std::tm tm{};
  gmtime_r(&local, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d+%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, offset / 60, offset % 60);
  return text_val(buf);
}

// --- Patient identifiers: the NHS number (with PID-32 verification status) then local ones.

constexpr std::string_view kVerificationStatusUrl =
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus";
constexpr std::string_view kVerificationStatusSystem =
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland";
constexpr std::string_view kIdentifierTypeSystem = "http://terminology.hl7.org/CodeSystem/v2-0203";

struct Code {
  std::string_view code;
  std::string_view display;
};

constexpr std::array<Code, 8> kVerificationStatuses{{
    {"01", "Number present and verified"},
    {"02", "Number present but not traced"},
    {"03", "Trace required"},
    {"04", "Trace attempted - No match or multiple match found"},
    {"05", "Trace needs to be resolved - (NHS number or patient detail conflict)"},
    {"06", "Trace in progress"},
    {"07", "Number not present and trace not required"},
    {"08", "Trace postponed (baby under six weeks old)"},
}};

// The HL7 table 0203 identifier types worth carrying as Identifier.type; local codes are dropped.
constexpr std::array<Code, 7> kIdentifierTypes{{
    {"MR", "Medical record number"},
    {"PI", "Patient internal identifier"},
    {"PT", "Patient external identifier"},
    {"PN", "Person number"},
    {"AN", "Account number"},
    {"DL", "Driver's license number"},
    {"PPN", "Passport number"},
}};

template <size_t N>
const Code* find_code(const std::array<Code, N>& table, std::string_view code) {
  for (const Code& c : table)
    if (c.code == code) return &c;
  return nullptr;
}

// PID-32 carries the NHS number verification status on NHS feeds. When it is absent (or holds a
// code outside the England code system) the extension is left out: claiming "02 present but not
// traced" would assert something the feed never said.
Value verification_status(const hl7v2::Message& msg, size_t pid, const JsonBuilder& json) {
  const int reps = msg.repetition_count(pid, 32);
  for (int rep = 1; rep <= reps; ++rep) {
    const Code* status = find_code(kVerificationStatuses, text(msg, pid, 32, rep));
    if (!status) continue;
    Value ext = json.object();
    json.put(ext, "url", kVerificationStatusUrl);
    json.put(ext, "valueCodeableConcept", json.codeable_concept(kVerificationStatusSystem, status->code, status->display));
    Value extensions = json.array();
    json.append(extensions, std::move(ext));
    return extensions;
  }
  return Value();
}

Val t_patient_identifiers(Val&& in, const Transform&, EvalContext& ctx, Alloc& alloc) {
  if (!ctx.patient || in.kind != Val::Loc) return {};
  const PatientIdentifiers& ids = ctx.patient->ids;
  const size_t pid = ctx.patient->pid;
  JsonBuilder json(alloc);
  Value identifiers = json.array();
  if (ids.nhs_number) {
    Value identifier = json.object();
    json.put(identifier, "extension", verification_status(ctx.msg, pid, json));
    json.put(identifier, "system", identity::NhsNumber::kSystem);
    json.put(identifier, "value", ids.nhs_number->str());
    json.append(identifiers, std::move(identifier));
  }
  for (const LocalIdentifier& local : ids.local) {
    Value identifier = json.object();
    if (const Code* type = find_code(kIdentifierTypes, local.type_code))
      json.put(identifier, "type", json.codeable_concept(kIdentifierTypeSystem, type->code, type->display));
    json.put(identifier, "system", local.system);
    json.put(identifier, "value", local.value);
    json.append(identifiers, std::move(identifier));
  }
  return json_val(std::move(identifiers));
}

Value human_name_fn(const hl7v2::Message& m, size_t s, int f, int r, const JsonBuilder& j) { return human_name(m, s, f, r, j); }
Value address_fn(const hl7v2::Message& m, size_t s, int f, int r, const JsonBuilder& j) { return address(m, s, f, r, j); }
Value organization_fn(const hl7v2::Message& m, size_t s, int f, int r, const JsonBuilder& j) {
  return organization_reference(m, s, f, r, j);
}

const std::map<std::string, TransformInfo>& registry() {
  static const std::map<std::string, TransformInfo> transforms{
      {"trim", {t_trim, 0, 0, false}},
      {"upper", {t_upper, 0, 0, false}},
      {"lower", {t_lower, 0, 0, false}},
      {"datetime", {t_datetime, 0, 0, false}},
      {"date", {t_date, 0, 0, false}},
      {"instant", {t_instant, 0, 0, false}},
      {"from-date", {t_from_date, 1, 4, false}},
      {"decimal", {t_decimal, 0, 0, false}},
      {"integer", {t_integer, 0, 0, false}},
      {"decimal-precision", {t_decimal_precision, 0, 0, false}},
      {"boolean", {t_boolean, 0, 0, false}},
      {"map", {t_map, 1, 1, true}},
      {"display", {t_display, 1, 1, true}},
      {"coding", {t_coding, 1, 1, true}},
      {"concept", {t_concept, 0, 1, true}},
      {"ucum", {t_ucum, 1, 1, true}},
      {"range-low", {t_range_low, 0, 0, false}},
      {"range-high", {t_range_high, 0, 0, false}},
      {"human-name", {composite<human_name_fn>, 0, 0, false}},
      {"address", {composite<address_fn>, 0, 0, false}},
      {"organization", {composite<organization_fn>, 0, 0, false}},
      {"contact-point", {t_contact_point, 0, 1, false}},
      {"practitioner", {t_practitioner, 0, 0, false}},
      {"location-text", {t_location_text, 0, 0, false}},
      {"patient-identifiers", {t_patient_identifiers, 0, 0, false}},
      {"system", {t_system, 0, 1, false}},
      {"base64", {t_base64, 0, 0, false}},
      {"nospace", {t_nospace, 0, 0, false}},
      {"add-duration", {t_add_duration, 1, 2, false}},
  };
  return transforms;
}

}  // namespace

std::optional<std::string> hl7_from_format(std::string_view text, std::string_view format) {
  // Parts in HL7 order: year, month, day, hour, minute, second.
  static const std::pair<std::string_view, int> kTokens[] = {{"YYYY", 0}, {"MM", 1}, {"DD", 2},
                                                             {"hh", 3},   {"mm", 4}, {"ss", 5}};
  std::string parts[6];
  size_t at = 0;
  for (size_t f = 0; f < format.size();) {
    bool matched_token = false;
    for (const auto& [token, slot] : kTokens) {
      if (format.compare(f, token.size(), token) != 0) continue;
      if (at + token.size() > text.size()) return std::nullopt;
      for (size_t k = 0; k < token.size(); ++k)
        if (!std::isdigit(static_cast<unsigned char>(text[at + k]))) return std::nullopt;
      parts[slot] = std::string(text.substr(at, token.size()));
      at += token.size();
      f += token.size();
      matched_token = true;
      break;
    }
    if (matched_token) continue;
    if (at >= text.size() || text[at] != format[f]) return std::nullopt;
    ++at;
    ++f;
  }
  if (at != text.size() || parts[0].empty()) return std::nullopt;
  std::string out;
  for (const auto& p : parts) {
    if (p.empty()) break;  // HL7 precision ends at the first missing part
    out += p;
  }
  return out;
}

const TransformInfo* find_transform(const std::string& name) {
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : &it->second;
}

std::string transform_names() {
  std::string names;
  for (const auto& [name, info] : registry()) names += (names.empty() ? "" : ", ") + name;
  return names;
}

}  // namespace cc::mapping::program
