// The HTTP routes: FHIR REST under /fhir (metadata, read, vread, _history, search), the IT
// work-list under /admin, /healthz and /metrics. Patient data only through DisclosureService.
#include "engine/api/fhir_api.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <cctype>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <variant>

#include <spdlog/spdlog.h>

#include "engine/core/json_input.h"
#include "engine/core/json_member.h"
#include "engine/fhir/datetime.h"

namespace cc::api {

namespace http = boost::beast::http;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

namespace {

constexpr const char* kFhirJson = "application/fhir+json; charset=utf-8";
constexpr int64_t kDefaultCount = 50;
constexpr int64_t kMaxCount = 500;
constexpr int64_t kMaxOffset = 1000000000;

// A request body as JSON, read iteratively with a nesting limit (engine/core/json_input.h): a
// hostile body nested a million deep is refused, not a crash. False (doc null) when it is not JSON
// within the limits; the caller answers as for any body it cannot use.
bool parse_body(const Request& req, rapidjson::Document& doc) {
  return parse_json(req.body(), JsonLimits{req.body().size(), 64}, doc).ok();
}

// Every type a mapping or feed writes, and Consent (recorded by readers). Each is read, versioned
// and searched by identifier; each but Patient is searched by patient.
const std::vector<const char*>& served_type_list() {
  static const std::vector<const char*> types{
      "Patient",           "Encounter",         "Observation",           "DiagnosticReport",
      "Appointment",       "DocumentReference", "MedicationRequest",     "MedicationDispense",
      "MedicationAdministration", "MedicationStatement", "Condition", "AllergyIntolerance",
      "Procedure",         "RelatedPerson",     "Flag",                  "EpisodeOfCare",
      "CarePlan",          "CareTeam",          "Consent",               "Immunization",
      "FamilyMemberHistory"};
  return types;
}

const std::set<std::string>& served_types() {
  static const std::set<std::string> types(served_type_list().begin(), served_type_list().end());
  return types;
}

Response json_response(unsigned status, std::string body, const char* content_type = kFhirJson) {
  Response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  return res;
}

std::string url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      auto r = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (r.ec == std::errc() && r.ptr == s.data() + i + 3) {
        out += static_cast<char>(v);
        i += 2;
        continue;
      }
    }
    out += s[i] == '+' ? ' ' : s[i];
  }
  return out;
}

std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' || c == ':') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// Request text made fit to quote in a JSON reply: every byte that is not part of a well-formed
// UTF-8 character becomes U+FFFD, so a reply never carries invalid UTF-8 (found by fuzzing).
std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto cont = [&](size_t i) { return i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80; };
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    size_t len = 0;
    if (c < 0x80) {
      len = 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = cont(i + 1) ? 2 : 0;
    } else if (c >= 0xE0 && c <= 0xEF) {
      const unsigned char c1 = i + 1 < s.size() ? s[i + 1] : 0;
      const bool ok1 = c == 0xE0 ? (c1 >= 0xA0 && c1 <= 0xBF) : c == 0xED ? (c1 >= 0x80 && c1 <= 0x9F) : cont(i + 1);
      len = ok1 && cont(i + 2) ? 3 : 0;
    } else if (c >= 0xF0 && c <= 0xF4) {
      const unsigned char c1 = i + 1 < s.size() ? s[i + 1] : 0;
      const bool ok1 = c == 0xF0 ? (c1 >= 0x90 && c1 <= 0xBF) : c == 0xF4 ? (c1 >= 0x80 && c1 <= 0x8F) : cont(i + 1);
      len = ok1 && cont(i + 2) && cont(i + 3) ? 4 : 0;
    }
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
  return out;
}

// A request target as a link in a reply: bytes that may not stand in a URL as they are
// (controls, space, non-ASCII) percent-encoded, which keeps its meaning for this server.
std::string url_as_link(std::string_view target) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : target) {
    if (c > ' ' && c < 0x7F && c != '"' && c != '<' && c != '>' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) parts.push_back(url_decode(path.substr(i, j - i)));
    i = j + 1;
  }
  return parts;
}

std::multimap<std::string, std::string> parse_query(std::string_view q) {
  std::multimap<std::string, std::string> out;
  size_t i = 0;
  while (i < q.size()) {
    size_t j = q.find('&', i);
    if (j == std::string_view::npos) j = q.size();
    auto kv = q.substr(i, j - i);
    auto eq = kv.find('=');
    if (!kv.empty())
      out.emplace(url_decode(kv.substr(0, eq)), eq == std::string_view::npos ? "" : url_decode(kv.substr(eq + 1)));
    i = j + 1;
  }
  return out;
}

bool valid_id(const std::string& id) {
  static const std::regex re("^[A-Za-z0-9\\-\\.]{1,64}$");
  return std::regex_match(id, re);
}

std::optional<int64_t> parse_int(const std::string& s) {
  int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

// The base for fullUrl and paging links, from the Host header when it looks like a host[:port].
std::string base_url(const Request& req) {
  std::string host(req[http::field::host]);
  bool plausible = !host.empty() && host.size() <= 255 && std::all_of(host.begin(), host.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
  });
  return "http://" + (plausible ? host : std::string("localhost")) + "/fhir";
}

std::string capability_statement(const std::string& base) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  w.Key("resourceType"); w.String("CapabilityStatement");
  w.Key("status"); w.String("active");
  w.Key("date"); w.String(fhir::fhir_instant_utc(fhir::now_epoch_ms()).substr(0, 10).c_str());
  w.Key("kind"); w.String("instance");
  w.Key("software"); w.StartObject(); w.Key("name"); w.String("Connecting Care carerecord"); w.EndObject();
  w.Key("implementation"); w.StartObject();
  w.Key("description"); w.String("Connecting Care shared care record");
  w.Key("url"); w.String(base.c_str());
  w.EndObject();
  w.Key("fhirVersion"); w.String("4.0.1");
  w.Key("format"); w.StartArray(); w.String("application/fhir+json"); w.String("json"); w.EndArray();
  w.Key("rest"); w.StartArray(); w.StartObject();
  w.Key("mode"); w.String("server");
  w.Key("security"); w.StartObject();
  w.Key("description");
  w.String("Every request except metadata needs Authorization: Bearer <JWT> with sub, role and org claims. "
           "Every disclosure of patient data is audited before the response is sent.");
  w.EndObject();
  w.Key("resource"); w.StartArray();
  for (const char* type : served_type_list()) {
    w.StartObject();
    w.Key("type"); w.String(type);
    w.Key("profile");
    w.String((std::string("https://fhir.hl7.org.uk/StructureDefinition/UKCore-") + type).c_str());
    w.Key("interaction"); w.StartArray();
    for (const char* code : {"read", "vread", "history-instance", "search-type"}) {
      w.StartObject(); w.Key("code"); w.String(code); w.EndObject();
    }
    w.EndArray();
    w.Key("versioning"); w.String("versioned");
    w.Key("readHistory"); w.Bool(true);
    w.Key("updateCreate"); w.Bool(false);
    w.Key("searchParam"); w.StartArray();
    auto param = [&](const char* name, const char* type_, const char* doc) {
      w.StartObject(); w.Key("name"); w.String(name); w.Key("type"); w.String(type_);
      w.Key("documentation"); w.String(doc); w.EndObject();
    };
    param("identifier", "token",
          "system|value; |value, an identifier sent without a system; or a value alone (any system), e.g. a hospital "
          "number");
    if (std::string(type) != "Patient") param("patient", "reference", "Patient/{id} or {id}");
    param("_count", "number", "page size, at most 500 (default 50)");
    param("_offset", "number", "start of the page");
    w.EndArray();
    if (std::string(type) == "Patient") {
      w.Key("operation"); w.StartArray();
      auto operation = [&](const char* name, const char* doc) {
        w.StartObject(); w.Key("name"); w.String(name);
        w.Key("definition"); w.String((std::string("urn:connecting-care:operation:") + name).c_str());
        w.Key("documentation"); w.String(doc); w.EndObject();
      };
      operation("everything", "GET Patient/{id}/$everything: the patient and everything the reader may see, in one "
                              "audited disclosure (no paging).");
      operation("access", "POST Patient/{id}/$access with Parameters kind (permission-to-view, self-declared, "
                          "break-glass) and reason: records why the reader may see the record.");
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("interaction"); w.StartArray();
  w.StartObject(); w.Key("code"); w.String("batch");
  w.Key("documentation");
  w.String("POST /fhir with a batch Bundle of GET entries (reads and searches, at most 25): each entry is "
           "governed and audited as if asked alone, their audit records written together.");
  w.EndObject();
  w.EndArray();
  w.EndObject(); w.EndArray();
  w.EndObject();
  return sb.GetString();
}

// One audit entry as a FHIR R4 AuditEvent (in the manner of IHE Basic Audit Log Patterns): who
// (user, role, organisation, network address), what (the patient and the resources), why (purpose
// of use), the outcome, and the request as received.
void write_audit_event(JsonWriter& w, const store::AuditEntry& raw) {
  // The request as received may hold bytes that are not UTF-8: never let them into the JSON.
  store::AuditEntry e = raw;
  for (std::string* s : {&e.user, &e.role, &e.org, &e.purpose_of_use, &e.action, &e.query, &e.patient_id,
                         &e.resources, &e.outcome, &e.peer})
    *s = valid_utf8(*s);
  const bool denied = e.outcome == "denied";
  const bool write = e.action == "feed-write";
  w.StartObject();
  w.Key("resourceType"); w.String("AuditEvent");
  w.Key("id"); w.String(("audit-" + std::to_string(e.id)).c_str());
  w.Key("type"); w.StartObject();
  w.Key("system"); w.String("http://dicom.nema.org/resources/ontology/DCM");
  w.Key("code"); w.String(write ? "110107" : "110110");
  w.Key("display"); w.String(write ? "Import" : "Patient Record");
  w.EndObject();
  w.Key("subtype"); w.StartArray(); w.StartObject();
  w.Key("system"); w.String("urn:connecting-care:code:audit-action");
  w.Key("code"); w.String(e.action.c_str());
  w.EndObject(); w.EndArray();
  w.Key("action"); w.String(write ? "C" : (e.action == "admin" ? "E" : "R"));
  w.Key("recorded"); w.String(fhir::fhir_instant_utc(e.time_ms).c_str());
  w.Key("outcome"); w.String(denied ? "4" : "0");
  w.Key("outcomeDesc"); w.String(e.outcome.c_str());
  if (!e.purpose_of_use.empty()) {
    w.Key("purposeOfEvent"); w.StartArray(); w.StartObject();
    w.Key("text"); w.String(e.purpose_of_use.c_str());
    w.EndObject(); w.EndArray();
  }
  w.Key("agent"); w.StartArray();
  w.StartObject();
  if (!e.role.empty()) {
    w.Key("role"); w.StartArray(); w.StartObject(); w.Key("text"); w.String(e.role.c_str()); w.EndObject(); w.EndArray();
  }
  w.Key("who"); w.StartObject();
  w.Key("identifier"); w.StartObject(); w.Key("value"); w.String(e.user.c_str()); w.EndObject();
  w.EndObject();
  w.Key("requestor"); w.Bool(true);
  if (!e.peer.empty()) {
    w.Key("network"); w.StartObject();
    w.Key("address"); w.String(e.peer.c_str());
    w.Key("type"); w.String("2");
    w.EndObject();
  }
  w.EndObject();
  if (!e.org.empty()) {
    w.StartObject();
    w.Key("who"); w.StartObject();
    w.Key("identifier"); w.StartObject();
    w.Key("system"); w.String("https://fhir.nhs.uk/Id/ods-organization-code");
    w.Key("value"); w.String(e.org.c_str());
    w.EndObject(); w.EndObject();
    w.Key("requestor"); w.Bool(false);
    w.EndObject();
  }
  w.EndArray();
  w.Key("source"); w.StartObject();
  w.Key("observer"); w.StartObject(); w.Key("display"); w.String("Connecting Care carerecord"); w.EndObject();
  w.EndObject();
  // The patients, then each resource disclosed; the request as received on the first entity.
  w.Key("entity"); w.StartArray();
  bool described = false;
  size_t start = 0;
  while (start <= e.patient_id.size()) {
    size_t end = e.patient_id.find(' ', start);
    if (end == std::string::npos) end = e.patient_id.size();
    if (end > start) {
      w.StartObject();
      w.Key("what"); w.StartObject(); w.Key("reference"); w.String(("Patient/" + e.patient_id.substr(start, end - start)).c_str()); w.EndObject();
      w.Key("role"); w.StartObject();
      w.Key("system"); w.String("http://terminology.hl7.org/CodeSystem/object-role");
      w.Key("code"); w.String("1");
      w.Key("display"); w.String("Patient");
      w.EndObject();
      if (!described && !e.query.empty()) {
        w.Key("description"); w.String(e.query.c_str());
        described = true;
      }
      w.EndObject();
    }
    start = end + 1;
  }
  start = 0;
  while (start <= e.resources.size()) {
    size_t end = e.resources.find(' ', start);
    if (end == std::string::npos) end = e.resources.size();
    if (end > start) {
      const std::string what = e.resources.substr(start, end - start);
      w.StartObject();
      if (what.find('/') != std::string::npos) {
        w.Key("what"); w.StartObject(); w.Key("reference"); w.String(what.c_str()); w.EndObject();
      } else {
        w.Key("name"); w.String(what.c_str());
      }
      w.EndObject();
    }
    start = end + 1;
  }
  if (!described && !e.query.empty()) {
    w.StartObject(); w.Key("description"); w.String(e.query.c_str()); w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

}  // namespace

std::string bundle_json(const std::string& bundle_type, const store::Page& page, const std::string& base,
                        const std::string& self_link, const std::string& page_link_base, int64_t offset,
                        int64_t count, bool withheld, const std::string& warning) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  w.Key("resourceType"); w.String("Bundle");
  w.Key("meta"); w.StartObject(); w.Key("lastUpdated"); w.String(fhir::fhir_instant_utc(fhir::now_epoch_ms()).c_str()); w.EndObject();
  w.Key("type"); w.String(bundle_type.c_str());
  w.Key("total"); w.Int64(page.total);
  w.Key("link"); w.StartArray();
  auto link = [&](const char* rel, const std::string& url) {
    w.StartObject(); w.Key("relation"); w.String(rel); w.Key("url"); w.String(url.c_str()); w.EndObject();
  };
  link("self", self_link);
  if (!page_link_base.empty()) {
    std::string sep = page_link_base.find('?') == std::string::npos ? "?" : "&";
    auto at = [&](int64_t off) {
      return page_link_base + sep + "_count=" + std::to_string(count) + "&_offset=" + std::to_string(off);
    };
    link("first", at(0));
    if (offset > 0) link("previous", at(std::max<int64_t>(0, offset - count)));
    if (offset + count < page.total) link("next", at(offset + count));
    int64_t last = page.total == 0 ? 0 : ((page.total - 1) / count) * count;
    link("last", at(last));
  }
  w.EndArray();
  if (!page.items.empty() || withheld || !warning.empty()) {
    w.Key("entry"); w.StartArray();
    auto outcome = [&](const char* severity, const char* code, const std::string& diagnostics) {
      w.StartObject();
      w.Key("resource"); w.StartObject();
      w.Key("resourceType"); w.String("OperationOutcome");
      w.Key("issue"); w.StartArray(); w.StartObject();
      w.Key("severity"); w.String(severity);
      w.Key("code"); w.String(code);
      w.Key("diagnostics"); w.String(diagnostics.c_str(), static_cast<rapidjson::SizeType>(diagnostics.size()));
      w.EndObject(); w.EndArray();
      w.EndObject();
      w.Key("search"); w.StartObject(); w.Key("mode"); w.String("outcome"); w.EndObject();
      w.EndObject();
    };
    // Says that something is not shown, never what (nor how much).
    if (withheld)
      outcome("information", "suppressed",
              "Some information that matches is withheld from this answer (at a patient's request, or because no "
              "relationship with you is recorded).");
    if (!warning.empty()) outcome("warning", "multiple-matches", warning);
    for (auto& r : page.items) {
      w.StartObject();
      std::string full = base + "/" + r.type + "/" + r.id;
      if (bundle_type == "history") full += "/_history/" + std::to_string(r.version);
      w.Key("fullUrl"); w.String(full.c_str());
      w.Key("resource"); w.RawValue(r.json.data(), r.json.size(), rapidjson::kObjectType);
      if (bundle_type == "searchset") {
        w.Key("search"); w.StartObject(); w.Key("mode"); w.String("match"); w.EndObject();
      } else {
        w.Key("request"); w.StartObject();
        w.Key("method"); w.String(r.version == 1 ? "POST" : "PUT");
        w.Key("url"); w.String((r.type + (r.version == 1 ? "" : "/" + r.id)).c_str());
        w.EndObject();
      }
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  return sb.GetString();
}

namespace {

std::optional<std::string> bearer_token(const Request& req) {
  auto h = req[http::field::authorization];
  if (h.size() < 7) return std::nullopt;
  std::string_view v(h.data(), h.size());
  if (v.substr(0, 7) != "Bearer " && v.substr(0, 7) != "bearer ") return std::nullopt;
  return std::string(v.substr(7));
}

}  // namespace

Response operation_outcome(unsigned status, const std::string& code, const std::string& diagnostics) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  w.Key("resourceType"); w.String("OperationOutcome");
  w.Key("issue"); w.StartArray(); w.StartObject();
  w.Key("severity"); w.String(status >= 500 ? "fatal" : "error");
  w.Key("code"); w.String(code.c_str());
  // Diagnostics often quote the request, which may hold any bytes (NULs and invalid UTF-8 included).
  const std::string text = valid_utf8(diagnostics);
  w.Key("diagnostics"); w.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  w.EndObject(); w.EndArray();
  w.EndObject();
  return json_response(status, sb.GetString());
}

FhirApi::FhirApi(governance::DisclosureService& disclosure, Metrics& metrics, ApiOptions options)
    : disclosure_(disclosure),
      metrics_(metrics),
      options_(std::move(options)),
      requests_(metrics.counter("carerecord_http_requests_total", "HTTP requests received")),
      unauthorised_(metrics.counter("carerecord_http_unauthorised_total", "HTTP requests refused for a missing or bad token")),
      rate_limited_(metrics.counter("carerecord_http_rate_limited_total", "HTTP requests refused (429) over a user's rate limit")),
      limiter_(options_.requests_per_minute_per_user, options_.request_burst_per_user) {}

Response FhirApi::throttled(const std::string& user, int64_t retry_after, const char* what) {
  rate_limited_.inc();
  auto res = operation_outcome(429, "throttled",
                               "Too many requests from user " + user + "; the limit is " +
                                   std::to_string(options_.requests_per_minute_per_user) + " a minute. Try " + what +
                                   "again in " + std::to_string(retry_after) + " s.");
  res.set(http::field::retry_after, std::to_string(retry_after));
  return res;
}

Response FhirApi::refusal(unsigned status, const std::string& code, const std::string& text) {
  return operation_outcome(status, code, text);
}

void FhirApi::handle(Request req, const std::string& peer, Respond respond) {
  requests_.inc();
  std::string_view target(req.target().data(), req.target().size());
  std::string_view path = target.substr(0, target.find('?'));
  try {
    if (path == "/healthz") {
      respond(json_response(200, "{\"status\":\"ok\"}", "application/json"));
      return;
    }
    if (path == "/metrics") {
      respond(json_response(200, metrics_.prometheus_text(), "text/plain; version=0.0.4"));
      return;
    }
    bool fhir = path == "/fhir" || path.substr(0, 6) == "/fhir/";
    bool admin = path.substr(0, 7) == "/admin/";
    bool ingest = path.substr(0, 8) == "/ingest/";
    if (!fhir && !admin && !ingest) {
      respond(operation_outcome(404, "not-found", "No such endpoint: " + std::string(path) + ". The FHIR API is under /fhir."));
      return;
    }
    if (path == "/fhir/metadata") {
      if (req.method() != http::verb::get) {
        respond(operation_outcome(405, "not-supported", "metadata supports GET only."));
        return;
      }
      respond(json_response(200, capability_statement(base_url(req))));
      return;
    }
    auto token = bearer_token(req);
    if (!token) {
      unauthorised_.inc();
      auto res = operation_outcome(401, "login", "This request needs Authorization: Bearer <token>.");
      res.set(http::field::www_authenticate, "Bearer");
      respond(std::move(res));
      return;
    }
    auto reader = options_.tokens->verify(*token, fhir::now_epoch_ms() / 1000);
    if (!reader) {
      unauthorised_.inc();
      // The reason, never the token itself, goes back and into the log.
      spdlog::info("http {}: bearer token refused ({}): {}", peer, reader.error().code, reader.error().message);
      auto res = operation_outcome(401, "login", "The bearer token was refused: " + reader.error().message);
      res.set(http::field::www_authenticate, "Bearer error=\"invalid_token\"");
      respond(std::move(res));
      return;
    }
    int64_t retry_after = 0;
    if (!limiter_.allow(reader->user, RateLimiter::Clock::now(), &retry_after)) {
      respond(throttled(reader->user, retry_after, ""));
      return;
    }
    if (ingest) {
      const std::string feed(path.substr(8));
      if (req.method() != http::verb::post || feed.empty() || feed.find('/') != std::string::npos ||
          !options_.admin.ingest_extract) {
        respond(operation_outcome(404, "not-found", "Send an extract file with POST /ingest/{feed}."));
        return;
      }
      governance::DisclosureContext ctx{*reader, std::string(req.method_string()) + " " + std::string(target), peer};
      options_.admin.ingest_extract(feed, std::move(req.body()), ctx, [respond](unsigned status, std::string body) {
        const bool outcome = body.find("\"resourceType\":\"OperationOutcome\"") != std::string::npos;
        respond(json_response(status, std::move(body), outcome ? kFhirJson : "application/json"));
      });
      return;
    }
    if (admin) {
      if (path == "/admin/worklist" && req.method() == http::verb::get) {
        auto query = parse_query(target.find('?') == std::string_view::npos ? "" : target.substr(target.find('?') + 1));
        bool all = query.count("all") && query.find("all")->second == "true";
        governance::DisclosureContext ctx{*reader, std::string(req.method_string()) + " " + std::string(target), peer};
        disclosure_.disclose_worklist(ctx, !all, [respond](Result<std::vector<store::WorklistEntry>> items) {
          if (!items) {
            bool forbidden = items.error().code == "forbidden";
            respond(operation_outcome(forbidden ? 403 : 503, forbidden ? "forbidden" : "transient", items.error().message));
            return;
          }
          rapidjson::StringBuffer sb;
          JsonWriter w(sb);
          w.StartObject();
          w.Key("items"); w.StartArray();
          for (auto& e : *items) {
            w.StartObject();
            w.Key("id"); w.Int64(e.id);
            w.Key("kind"); w.String(e.kind.c_str());
            if (!e.patient_id.empty()) { w.Key("patient"); w.String(("Patient/" + e.patient_id).c_str()); }
            w.Key("inbox_id"); w.Int64(e.inbox_id);
            w.Key("feed"); w.String(e.feed.c_str());
            w.Key("detail"); w.String(e.detail.c_str());
            w.Key("created"); w.String(fhir::fhir_instant_utc(e.created_ms).c_str());
            if (e.resolved_ms) { w.Key("resolved"); w.String(fhir::fhir_instant_utc(e.resolved_ms).c_str()); }
            w.EndObject();
          }
          w.EndArray();
          w.EndObject();
          respond(json_response(200, sb.GetString(), "application/json"));
        });
        return;
      }
      if (handle_access_reviews(req, path, peer, *reader, respond)) return;
      if (handle_ig_reports(req, path, peer, *reader, respond)) return;
      if (handle_identity(req, path, peer, *reader, respond)) return;
      if (handle_admin(req, path, target, peer, *reader, respond)) return;
      respond(operation_outcome(404, "not-found", "No such admin endpoint: " + std::string(path) +
                                                      ". Try /admin/worklist, /admin/unmapped-codes, /admin/identity/worklist, "
                                                      "POST /admin/mappings/reload or POST /admin/remap."));
      return;
    }
    handle_fhir(req, peer, *reader, respond);  // a copy: the catch below may still need it
  } catch (const std::exception& e) {
    respond(operation_outcome(500, "exception", std::string("The engine could not answer: ") + e.what()));
  }
}

namespace {
void write_demographics(JsonWriter& w, const identity::Demographics& d) {
  w.Key("family"); w.String(d.family.c_str());
  w.Key("given"); w.String(d.given.c_str());
  w.Key("birth_date"); w.String(d.birth_date.c_str());
  w.Key("gender"); w.String(d.gender.c_str());
  w.Key("postcode"); w.String(d.postcode.c_str());
}

std::string identity_worklist_json(const std::vector<store::IdentityTask>& tasks) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  w.Key("items"); w.StartArray();
  for (const auto& t : tasks) {
    w.StartObject();
    w.Key("registration"); w.String(("Patient/" + t.registration_id).c_str());
    w.Key("state"); w.String(t.state.c_str());
    if (!t.nhs_number.empty()) { w.Key("nhs_number"); w.String(t.nhs_number.c_str()); }
    w.Key("feed"); w.String(t.feed.c_str());
    w.Key("demographics"); w.StartObject(); write_demographics(w, t.demographics); w.EndObject();
    w.Key("updated"); w.String(fhir::fhir_instant_utc(t.updated_ms).c_str());
    w.Key("candidates"); w.StartArray();
    for (const auto& c : t.candidates) {
      w.StartObject();
      w.Key("patient"); w.String(("Patient/" + c.patient_id).c_str());
      if (!c.nhs_number.empty()) { w.Key("nhs_number"); w.String(c.nhs_number.c_str()); }
      w.Key("score"); w.Int(c.score);
      w.Key("strength"); w.String(c.score >= identity::kStrongScore ? "strong" : "possible");
      w.Key("agrees_on"); w.StartArray();
      for (const auto& r : c.reasons) w.String(r.c_str());
      w.EndArray();
      w.Key("demographics"); w.StartObject(); write_demographics(w, c.demographics); w.EndObject();
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return sb.GetString();
}

}  // namespace

void FhirApi::record_access(const Request& req, const std::string& patient_id, const std::string& peer,
                            const governance::Reader& reader, Respond respond) {
  if (req.method() != http::verb::post) {
    respond(operation_outcome(405, "not-supported", "$access is POSTed with a Parameters resource."));
    return;
  }
  if (!valid_id(patient_id)) {
    respond(operation_outcome(400, "value", "\"" + patient_id + "\" is not a valid FHIR id."));
    return;
  }
  rapidjson::Document body;
  const bool parsed = parse_body(req, body);
  std::string kind, reason;
  bool readable = parsed && body.IsObject() && string_member(body, "resourceType") == "Parameters";
  if (readable && body.HasMember("parameter") && body["parameter"].IsArray()) {
    for (auto& p : body["parameter"].GetArray()) {
      if (!p.IsObject() || !p.HasMember("name") || !p["name"].IsString()) continue;
      const std::string name = p["name"].GetString();
      if (name == "kind" && p.HasMember("valueCode") && p["valueCode"].IsString()) kind = p["valueCode"].GetString();
      if (name == "reason" && p.HasMember("valueString") && p["valueString"].IsString())
        reason = p["valueString"].GetString();
    }
  }
  if (!readable || kind.empty()) {
    respond(operation_outcome(400, "required",
                              "Send a Parameters resource with kind (valueCode: permission-to-view, self-declared or "
                              "break-glass) and reason (valueString; required for break-glass)."));
    return;
  }
  governance::DisclosureContext ctx{reader, std::string(req.method_string()) + " " + std::string(req.target()), peer};
  disclosure_.record_access(ctx, patient_id, kind, reason, [respond](Result<governance::AccessGrant> g) {
    if (!g) {
      const std::string& code = g.error().code;
      const unsigned status = code == "forbidden" ? 403 : code == "invalid" ? 400 : code == "not-found" ? 404 : 503;
      respond(operation_outcome(status, code == "forbidden" ? "forbidden" : code == "invalid" ? "value"
                                                          : code == "not-found" ? "not-found" : "transient",
                                g.error().message));
      return;
    }
    rapidjson::StringBuffer sb;
    JsonWriter w(sb);
    w.StartObject();
    w.Key("resourceType"); w.String("Parameters");
    w.Key("parameter"); w.StartArray();
    auto param = [&](const char* name, const char* kind_of_value, const std::string& value) {
      w.StartObject(); w.Key("name"); w.String(name); w.Key(kind_of_value); w.String(value.c_str()); w.EndObject();
    };
    param("kind", "valueCode", g->kind);
    param("patient", "valueString", "Patient/" + g->patient_id);
    param("expires", "valueInstant", fhir::fhir_instant_utc(g->expires_ms));
    param("access", "valueString", std::to_string(g->id));
    if (g->kind != "permission-to-view") param("review", "valueString", "The information governance officer reviews this access.");
    w.EndArray();
    w.EndObject();
    respond(json_response(200, sb.GetString()));
  });
}

namespace {
// A CSV cell. One a spreadsheet would read as a formula (=, +, -, @, tab or carriage return first:
// a reader's free-text reason "=HYPERLINK(...)" could send other rows to a web site when the IG
// officer opens the report) is written as text, with a leading apostrophe.
std::string csv_field(const std::string& v) {
  const bool formula = !v.empty() && std::string_view("=+-@\t\r").find(v.front()) != std::string_view::npos;
  const std::string text = formula ? "'" + v : v;
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// A date search bound, "geT" or "ltT": sets `from_ms` or `to_ms` (an instant, or a date at local
// midnight); false for anything else.
constexpr const char* kDateBoundForm = "date takes geYYYY-MM-DD[Thh:mm:ss] or ltYYYY-MM-DD[Thh:mm:ss], not ";
bool date_bound(const std::string& v, int64_t& from_ms, int64_t& to_ms) {
  const bool lt = v.rfind("lt", 0) == 0, ge = v.rfind("ge", 0) == 0;
  if (!lt && !ge) return false;
  auto ms = fhir::fhir_to_epoch_ms(v.substr(2));
  if (!ms) return false;
  (lt ? to_ms : from_ms) = *ms;
  return true;
}

// An IG report: named columns and rows of cells. A cell is text, a number, or nothing (left out of
// the JSON object, empty in CSV).
using Cell = std::variant<std::monostate, std::string, int64_t>;
struct Table {
  std::vector<const char*> columns;
  std::vector<std::vector<Cell>> rows;
};

// {"items": [{column: value, ...}, ...]}, or CSV: a header line, then a line a row.
std::pair<std::string, const char*> render(const Table& t, bool csv) {
  if (csv) {
    std::string out;
    for (size_t i = 0; i < t.columns.size(); ++i) out += (i ? "," : "") + std::string(t.columns[i]);
    out += "\r\n";
    for (auto& row : t.rows) {
      for (size_t i = 0; i < row.size(); ++i) {
        if (i) out += ',';
        if (auto* text = std::get_if<std::string>(&row[i])) out += csv_field(*text);
        if (auto* n = std::get_if<int64_t>(&row[i])) out += std::to_string(*n);
      }
      out += "\r\n";
    }
    return {std::move(out), "text/csv; charset=utf-8"};
  }
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  w.Key("items");
  w.StartArray();
  for (auto& row : t.rows) {
    w.StartObject();
    for (size_t i = 0; i < row.size(); ++i) {
      if (auto* text = std::get_if<std::string>(&row[i])) {
        w.Key(t.columns[i]);
        w.String(text->c_str(), static_cast<rapidjson::SizeType>(text->size()));
      } else if (auto* n = std::get_if<int64_t>(&row[i])) {
        w.Key(t.columns[i]);
        w.Int64(*n);
      }
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {sb.GetString(), "application/json"};
}
}  // namespace

bool FhirApi::handle_access_reviews(const Request& req, std::string_view path, const std::string& peer,
                                    const governance::Reader& reader, const Respond& respond) {
  constexpr std::string_view kPrefix = "/admin/ig/access-reviews";
  if (path.substr(0, kPrefix.size()) != kPrefix) return false;
  governance::DisclosureContext ctx{reader, std::string(req.method_string()) + " " + std::string(req.target()), peer};
  std::string_view target(req.target().data(), req.target().size());
  auto query = parse_query(target.find('?') == std::string_view::npos ? "" : target.substr(target.find('?') + 1));
  if (path == kPrefix && req.method() == http::verb::get) {
    const bool all = query.count("all") && query.find("all")->second == "true";
    const bool csv = query.count("_format") && query.find("_format")->second == "csv";
    disclosure_.access_reviews(ctx, !all, [respond, csv](Result<std::vector<governance::AccessGrant>> items) {
      if (!items) {
        const bool forbidden = items.error().code == "forbidden";
        respond(operation_outcome(forbidden ? 403 : 503, forbidden ? "forbidden" : "transient", items.error().message));
        return;
      }
      Table t{{"id", "kind", "user", "role", "org", "patient", "reason", "granted", "expires", "reviewed", "reviewer",
               "note"},
              {}};
      for (auto& g : *items) {
        auto when = [](int64_t ms) -> Cell { return ms ? Cell(fhir::fhir_instant_utc(ms)) : Cell(); };
        t.rows.push_back({g.id, g.kind, g.user, g.role, g.org, "Patient/" + g.patient_id, g.reason,
                          when(g.granted_ms), when(g.expires_ms), when(g.reviewed_ms),
                          g.reviewed_ms ? Cell(g.reviewer) : Cell(), g.reviewed_ms ? Cell(g.review_note) : Cell()});
      }
      auto [body, type] = render(t, csv);
      respond(json_response(200, std::move(body), type));
    });
    return true;
  }
  const std::string rest(path.substr(kPrefix.size()));
  if (rest.size() > 1 && rest[0] == '/' && req.method() == http::verb::post) {
    auto id = parse_int(rest.substr(1));
    if (!id) {
      respond(operation_outcome(400, "value", "\"" + rest.substr(1) + "\" is not an access id."));
      return true;
    }
    rapidjson::Document body;
    const std::string note = parse_body(req, body) && body.IsObject() ? string_member(body, "note") : "";
    disclosure_.review_access(ctx, *id, note, [respond](Result<governance::AccessGrant> g) {
      if (!g) {
        const std::string& code = g.error().code;
        const unsigned status = code == "forbidden" ? 403 : code == "not-found" ? 404 : code == "invalid" ? 409 : 503;
        respond(operation_outcome(status, code == "forbidden" ? "forbidden" : code == "not-found" ? "not-found"
                                                            : code == "invalid" ? "conflict" : "transient",
                                  g.error().message));
        return;
      }
      respond(json_response(200, "{\"id\":" + std::to_string(g->id) + ",\"reviewed\":\"" +
                                     fhir::fhir_instant_utc(g->reviewed_ms) + "\"}",
                            "application/json"));
    });
    return true;
  }
  respond(operation_outcome(405, "not-supported",
                            "GET /admin/ig/access-reviews[?all=true&_format=csv], or POST /admin/ig/access-reviews/{id} "
                            "with {\"note\": \"...\"} to mark one reviewed."));
  return true;
}

bool FhirApi::handle_ig_reports(const Request& req, std::string_view path, const std::string& peer,
                                const governance::Reader& reader, const Respond& respond) {
  constexpr std::string_view kPrefix = "/admin/ig/reports/";
  if (path.substr(0, kPrefix.size()) != kPrefix) return false;
  const std::string report(path.substr(kPrefix.size()));
  if (req.method() != http::verb::get || (report != "patient-access" && report != "unusual-access")) {
    respond(operation_outcome(404, "not-found",
                              "The reports are GET /admin/ig/reports/patient-access?patient={id} and GET "
                              "/admin/ig/reports/unusual-access, each with date=ge../date=lt.. and _format=csv."));
    return true;
  }
  governance::DisclosureContext ctx{reader, std::string(req.method_string()) + " " + std::string(req.target()), peer};
  std::string_view target(req.target().data(), req.target().size());
  const auto query = parse_query(target.find('?') == std::string_view::npos ? "" : target.substr(target.find('?') + 1));
  int64_t from_ms = 0, to_ms = 0;
  std::string patient;
  bool csv = false;
  governance::UnusualAccessThresholds thresholds;
  for (auto& [k, v] : query) {
    if (k == "date") {
      if (!date_bound(v, from_ms, to_ms)) {
        respond(operation_outcome(400, "value", kDateBoundForm + v + "."));
        return true;
      }
    } else if (k == "_format") {
      csv = v == "csv" || v == "text/csv";
    } else if (k == "patient" && report == "patient-access") {
      patient = v.rfind("Patient/", 0) == 0 ? v.substr(8) : v;
    } else if ((k == "patients" || k == "recorded" || k == "refused") && report == "unusual-access") {
      auto n = parse_int(v);
      if (!n || *n < 1) {
        respond(operation_outcome(400, "value", k + " is a threshold: a whole number from 1."));
        return true;
      }
      (k == "patients" ? thresholds.patients : k == "recorded" ? thresholds.recorded : thresholds.refused) = *n;
    } else {
      respond(operation_outcome(400, "not-supported", "The " + report + " report takes " +
                                                        (report == "patient-access" ? "patient, " : "patients, recorded, refused, ") +
                                                        "date and _format, not " + k + "."));
      return true;
    }
  }
  auto fail = [respond](const Error& e) {
    const unsigned status = e.code == "forbidden" ? 403 : e.code == "not-found" ? 404 : 503;
    respond(operation_outcome(status, status == 403 ? "forbidden" : status == 404 ? "not-found" : "transient", e.message));
  };
  if (report == "patient-access") {
    if (patient.empty()) {
      respond(operation_outcome(400, "required", "Name the patient: patient=Patient/{id}."));
      return true;
    }
    disclosure_.patient_access_report(ctx, patient, from_ms, to_ms, [respond, csv, fail](Result<std::vector<store::AuditEntry>> rows) {
      if (!rows) {
        fail(rows.error());
        return;
      }
      // Each access: when, who (user, role, organisation), why (purpose, basis), what, the outcome.
      Table t{{"time", "user", "role", "org", "purpose", "action", "outcome", "basis", "disclosed", "request", "audit"}, {}};
      for (auto& e : *rows) {
        std::string basis, what;
        std::istringstream in(e.resources);
        for (std::string item; in >> item;) {
          if (item.rfind("basis:", 0) == 0)
            basis += (basis.empty() ? "" : " ") + item.substr(6);
          else
            what += (what.empty() ? "" : " ") + item;
        }
        t.rows.push_back({fhir::fhir_instant_utc(e.time_ms), e.user, e.role, e.org, e.purpose_of_use, e.action,
                          e.outcome, basis, what, e.query, "AuditEvent/audit-" + std::to_string(e.id)});
      }
      auto [body, type] = render(t, csv);
      respond(json_response(200, std::move(body), type));
    });
    return true;
  }
  // Unusual access: the last 24 hours unless a period is given.
  if (from_ms == 0) from_ms = (to_ms ? to_ms : fhir::now_epoch_ms()) - 24LL * 3600 * 1000;
  disclosure_.unusual_access_report(ctx, from_ms, to_ms, thresholds, [respond, csv, fail](Result<std::vector<governance::UnusualAccess>> rows) {
    if (!rows) {
      fail(rows.error());
      return;
    }
    Table t{{"user", "role", "org", "patients", "looked_up", "by_recorded_access", "break_glass", "self_declared",
             "refused", "first", "last", "why"},
            {}};
    for (auto& a : *rows) {
      std::string why;
      for (auto& r : a.reasons) why += (why.empty() ? "" : "; ") + r;
      t.rows.push_back({a.user, a.role, a.org, a.patients, a.looked_up, a.by_recorded, a.break_glass, a.self_declared,
                        a.refused, fhir::fhir_instant_utc(a.first_ms), fhir::fhir_instant_utc(a.last_ms), why});
    }
    auto [body, type] = render(t, csv);
    respond(json_response(200, std::move(body), type));
  });
  return true;
}

bool FhirApi::handle_identity(const Request& req, std::string_view path, const std::string& peer,
                              const governance::Reader& reader, const Respond& respond) {
  constexpr std::string_view kPrefix = "/admin/identity/";
  if (path.substr(0, kPrefix.size()) != kPrefix || !options_.admin.identity_worklist || !options_.admin.resolve_identity)
    return false;
  const std::string action(path.substr(kPrefix.size()));
  governance::DisclosureContext ctx{reader, std::string(req.method_string()) + " " + std::string(req.target()), peer};
  if (action == "worklist" && req.method() == http::verb::get) {
    // It names patients and their demographics: an integration administrator's, audited first with
    // every patient it names (the registrations and their candidates), so a subject access report
    // finds it. Read before the decision, shown only after it.
    auto tasks = std::make_shared<std::vector<store::IdentityTask>>();
    if (reader.role == "integration-admin") *tasks = options_.admin.identity_worklist();  // a refusal names no one
    const std::string patients = governance::id_list(store::patients_named(*tasks));
    disclosure_.authorise_admin(
        ctx, "identity-worklist",
        [tasks, respond](Status st) {
          if (!st) {
            const bool forbidden = st.error().code == "forbidden";
            respond(operation_outcome(forbidden ? 403 : 503, forbidden ? "forbidden" : "transient", st.error().message));
            return;
          }
          respond(json_response(200, identity_worklist_json(*tasks), "application/json"));
        },
        patients);
    return true;
  }
  if (action != "link" && action != "new" && action != "reject" && action != "unmerge") return false;
  if (req.method() != http::verb::post) {
    respond(operation_outcome(405, "not-supported", "Send the decision with POST."));
    return true;
  }
  rapidjson::Document body;
  if (!parse_body(req, body) || !body.IsObject()) {
    respond(operation_outcome(400, "structure",
                              "The body is a JSON object: {\"registration\": \"Patient/...\", " +
                                  std::string(action == "link" ? "\"patient\": \"Patient/...\", " : "") +
                                  "\"reason\": \"...\"}."));
    return true;
  }
  const std::string registration = string_member(body, "registration");
  const std::string patient = string_member(body, "patient");
  const std::string reason = string_member(body, "reason");
  if (registration.empty() || reason.empty() || (action == "link" && patient.empty())) {
    respond(operation_outcome(400, "required",
                              std::string("registration") + (action == "link" ? ", patient" : "") +
                                  " and reason are required: every change to the patient index says why."));
    return true;
  }
  auto bare = [](const std::string& ref) { return ref.rfind("Patient/", 0) == 0 ? ref.substr(8) : ref; };
  const std::string subject = bare(registration);
  // The trail names the action and both patients as entities, and keeps the reason with the request.
  ctx.request += " (reason: " + reason + ")";
  disclosure_.authorise_admin(
      ctx, "identity-" + action + " Patient/" + subject + (patient.empty() ? "" : " Patient/" + bare(patient)),
      [this, action, registration, patient, reason, user = reader.user, respond](Status st) {
        if (!st) {
          const bool forbidden = st.error().code == "forbidden";
          respond(operation_outcome(forbidden ? 403 : 503, forbidden ? "forbidden" : "transient", st.error().message));
          return;
        }
        auto r = options_.admin.resolve_identity(action, registration, patient, user, reason);
        if (!r) {
          const std::string& code = r.error().code;
          const unsigned status = code == "not-found" ? 404 : code == "invalid" ? 409 : 503;
          respond(operation_outcome(status, code == "not-found" ? "not-found" : code == "invalid" ? "conflict" : "transient",
                                    r.error().message));
          return;
        }
        rapidjson::StringBuffer sb;
        JsonWriter w(sb);
        w.StartObject();
        w.Key("registration"); w.String(("Patient/" + r->registration_id).c_str());
        w.Key("patient"); w.String(("Patient/" + r->patient_id).c_str());
        w.Key("state"); w.String(r->state.c_str());
        w.Key("moved"); w.Int64(r->moved);
        w.EndObject();
        respond(json_response(200, sb.GetString(), "application/json"));
      },
      subject);
  return true;
}

bool FhirApi::handle_admin(const Request& req, std::string_view path, std::string_view target, const std::string& peer,
                           const governance::Reader& reader, const Respond& respond) {
  const bool post = req.method() == http::verb::post;
  std::string action;
  if (path == "/admin/mappings/reload" && post && options_.admin.reload_mappings) action = "mappings-reload";
  else if (path == "/admin/remap" && post && options_.admin.remap) action = "remap";
  else if (path == "/admin/unmapped-codes" && req.method() == http::verb::get && options_.admin.unmapped_codes)
    action = "unmapped-codes";
  else
    return false;
  auto query = parse_query(target.find('?') == std::string_view::npos ? "" : target.substr(target.find('?') + 1));
  std::string feed;
  int64_t since_ms = 0;
  if (action == "remap") {
    for (auto& [k, v] : query) {
      if (k == "feed") {
        feed = v;
      } else if (k == "since") {
        // FHIR dateTime (2024-03-16T09:00:00Z) or HL7 (20240316090000+0000); Europe/London when no offset.
        auto ms = fhir::fhir_to_epoch_ms(v);
        if (!ms) {
          respond(operation_outcome(400, "value", "since=" + v + " is not a date/time: " + ms.error().message));
          return true;
        }
        since_ms = *ms;
      } else {
        respond(operation_outcome(400, "not-supported", "remap takes feed and since, not " + k + "."));
        return true;
      }
    }
  }
  governance::DisclosureContext ctx{reader, std::string(req.method_string()) + " " + std::string(target), peer};
  disclosure_.authorise_admin(ctx, action, [this, action, feed, since_ms, respond](Status st) {
    if (!st) {
      const bool forbidden = st.error().code == "forbidden";
      respond(operation_outcome(forbidden ? 403 : 503, forbidden ? "forbidden" : "transient", st.error().message));
      return;
    }
    if (action == "mappings-reload") {
      auto problems = options_.admin.reload_mappings();
      if (problems.empty()) {
        respond(json_response(200, "{\"status\":\"reloaded\"}", "application/json"));
        return;
      }
      std::string text = "The mappings were not reloaded; the ones in force stay. Problems:";
      for (auto& p : problems) text += "\n" + p;
      respond(operation_outcome(422, "invalid", text));
    } else if (action == "remap") {
      options_.admin.remap(feed, since_ms, [respond](Result<std::string> summary) {
        if (!summary) respond(operation_outcome(503, "transient", summary.error().message));
        else respond(json_response(200, *summary, "application/json"));
      });
    } else {
      respond(json_response(200, options_.admin.unmapped_codes(), "application/json"));
    }
  });
  return true;
}

void FhirApi::handle_fhir(Request& req, const std::string& peer, const governance::Reader& reader, Respond respond,
                          BatchRouting* batch) {
  std::string_view target(req.target().data(), req.target().size());
  auto qpos = target.find('?');
  auto parts = split_path(target.substr(5, qpos == std::string_view::npos ? std::string_view::npos : qpos - 5));
  auto query = parse_query(qpos == std::string_view::npos ? std::string_view() : target.substr(qpos + 1));

  // A patient's consent or dissent, recorded by a reader the policy allows.
  if (req.method() == http::verb::post && parts.size() == 1 && parts[0] == "Consent" && options_.admin.record_consent) {
    governance::DisclosureContext ctx{reader, std::string(req.method_string()) + " " + std::string(target), peer};
    options_.admin.record_consent(std::move(req.body()), ctx, [respond](unsigned status, std::string body) {
      respond(json_response(status, std::move(body)));
    });
    return;
  }
  // A GP feed's push: POST /fhir (Bundle), POST /fhir/{type}, PUT /fhir/{type}/{id}. A batch Bundle
  // from anyone else is a reader's batch of reads and searches.
  const bool post = req.method() == http::verb::post, put = req.method() == http::verb::put;
  if (post && parts.empty() && reader.role != "feed-system" && !batch) {
    rapidjson::Document bundle;
    const bool is_batch = parse_body(req, bundle) && bundle.IsObject() && bundle.HasMember("resourceType") &&
                          bundle["resourceType"] == "Bundle" && bundle.HasMember("type") && bundle["type"] == "batch";
    if (is_batch) {
      read_batch(req, bundle, peer, reader, std::move(respond));
      return;
    }
  }
  if ((post && parts.size() <= 1) || (put && parts.size() == 2)) {
    if (!options_.admin.ingest_fhir) {
      respond(operation_outcome(405, "not-supported", "This engine takes no FHIR writes."));
      return;
    }
    if (!parts.empty() && !valid_id(parts[0])) {
      respond(operation_outcome(400, "value", "\"" + parts[0] + "\" is not a resource type."));
      return;
    }
    if (put && !valid_id(parts[1])) {
      respond(operation_outcome(400, "value", "\"" + parts[1] + "\" is not a valid FHIR id."));
      return;
    }
    const std::string kind = parts.empty() ? "bundle" : put ? "update" : "create";
    governance::DisclosureContext ctx{reader, std::string(req.method_string()) + " " + std::string(target), peer};
    options_.admin.ingest_fhir(kind, parts.empty() ? "" : parts[0], put ? parts[1] : "", std::move(req.body()), ctx,
                               [respond](unsigned status, std::string body) {
                                 respond(json_response(status, std::move(body)));
                               });
    return;
  }
  if (parts.empty()) {
    respond(operation_outcome(400, "not-supported", "Name a resource type, e.g. /fhir/Patient?identifier=..."));
    return;
  }
  const std::string& type = parts[0];
  if (parts.size() == 3 && type == "Patient" && parts[2] == "$access") {
    record_access(req, parts[1], peer, reader, std::move(respond));
    return;
  }
  if (parts.size() == 3 && type == "Patient" && parts[2] == "$everything") {
    if (req.method() != http::verb::get || !valid_id(parts[1])) {
      respond(operation_outcome(400, "not-supported", "GET /fhir/Patient/{id}/$everything takes no body or parameters."));
      return;
    }
    std::vector<std::string> types;
    for (const char* t : served_type_list()) types.emplace_back(t);
    disclose(req, peer, reader, governance::EverythingQuery{"Patient", parts[1], std::move(types)}, true, "searchset",
             std::move(respond), batch);
    return;
  }
  if (type == "AuditEvent" && req.method() == http::verb::get && parts.size() == 1) {
    search_audit(req, query, peer, reader, std::move(respond));
    return;
  }
  if (!served_types().count(type)) {
    respond(operation_outcome(404, "not-supported", "Resource type " + type + " is not served here (see /fhir/metadata)."));
    return;
  }
  if (req.method() != http::verb::get) {
    respond(operation_outcome(405, "not-supported", std::string(req.method_string()) + " is not supported on " + type + "; this record is read-only over FHIR."));
    return;
  }
  if (parts.size() >= 2 && !valid_id(parts[1])) {
    respond(operation_outcome(400, "value", "\"" + parts[1] + "\" is not a valid FHIR id."));
    return;
  }
  if (parts.size() >= 2 && !query.empty() && parts.size() != 3) {
    respond(operation_outcome(400, "not-supported", "A read takes no search parameters."));
    return;
  }

  auto paging = [&](int64_t& offset, int64_t& count) -> bool {
    offset = 0;
    count = kDefaultCount;
    for (auto& [k, v] : query) {
      if (k == "_count") {
        auto n = parse_int(v);
        if (!n || *n == 0) {
          respond(operation_outcome(400, "value", "_count must be a whole number from 1 to 500."));
          return false;
        }
        count = std::min(*n, kMaxCount);
      } else if (k == "_offset") {
        auto n = parse_int(v);
        if (!n) {
          respond(operation_outcome(400, "value", "_offset must be a whole number, 0 or more."));
          return false;
        }
        if (*n > kMaxOffset) {
          respond(operation_outcome(400, "value", "_offset must be at most 1000000000."));
          return false;
        }
        offset = *n;
      }
    }
    return true;
  };

  if (parts.size() == 2) {
    disclose(req, peer, reader, governance::ReadQuery{type, parts[1]}, false, "", std::move(respond), batch);
    return;
  }
  if (parts.size() >= 3 && parts[2] == "_history") {
    if (parts.size() == 4) {
      auto v = parse_int(parts[3]);
      if (!v) {
        respond(operation_outcome(400, "value", "\"" + parts[3] + "\" is not a version number."));
        return;
      }
      disclose(req, peer, reader, governance::VersionQuery{type, parts[1], *v}, false, "", std::move(respond), batch);
      return;
    }
    if (parts.size() == 3) {
      for (auto& [k, v] : query)
        if (k != "_count" && k != "_offset") {
          respond(operation_outcome(400, "not-supported", "_history supports _count and _offset only, not " + k + "."));
          return;
        }
      int64_t offset, count;
      if (!paging(offset, count)) return;
      disclose(req, peer, reader, governance::HistoryQuery{type, parts[1], offset, count}, true, "history",
               std::move(respond), batch);
      return;
    }
  }
  if (parts.size() != 1) {
    respond(operation_outcome(404, "not-found", "No such FHIR path: " + std::string(target.substr(0, qpos)) + "."));
    return;
  }

  // Search.
  int64_t offset, count;
  if (!paging(offset, count)) return;
  std::optional<governance::Query> q;
  for (auto& [k, v] : query) {
    if (k == "_count" || k == "_offset" || k == "_format") continue;
    if (q) {
      respond(operation_outcome(400, "not-supported", "Search by one parameter at a time: identifier, or patient."));
      return;
    }
    if (k == "identifier") {
      // SYSTEM|VALUE; |VALUE, an identifier sent without a system; VALUE alone, under any system.
      auto bar = v.find('|');
      std::optional<std::string> system;
      if (bar != std::string::npos) system = v.substr(0, bar);
      std::string value = bar == std::string::npos ? v : v.substr(bar + 1);
      if (value.empty()) {
        respond(operation_outcome(400, "value",
                                  "identifier needs a value: identifier=SYSTEM|VALUE, identifier=|VALUE (no system) or "
                                  "identifier=VALUE (any system)."));
        return;
      }
      q = governance::IdentifierQuery{type, system, value, offset, count};
    } else if (k == "patient" && type != "Patient") {
      std::string id = v.rfind("Patient/", 0) == 0 ? v.substr(8) : v;
      if (!valid_id(id)) {
        respond(operation_outcome(400, "value", "patient must be Patient/{id} or {id}."));
        return;
      }
      q = governance::PatientQuery{type, id, offset, count};
    } else {
      respond(operation_outcome(400, "not-supported", "Search parameter " + k + " is not supported on " + type + " (see /fhir/metadata)."));
      return;
    }
  }
  if (!q) {
    respond(operation_outcome(400, "required", "Searching " + type + " needs a criterion, e.g. identifier=https://fhir.nhs.uk/Id/nhs-number|9990000018."));
    return;
  }
  disclose(req, peer, reader, *q, true, "searchset", std::move(respond), batch);
}

void FhirApi::search_audit(const Request& req, const std::multimap<std::string, std::string>& query,
                           const std::string& peer, const governance::Reader& reader, Respond respond) {
  store::AuditFilter filter;
  int64_t offset = 0, count = kDefaultCount;
  for (auto& [k, v] : query) {
    if (k == "patient") {
      filter.patient_id = v.rfind("Patient/", 0) == 0 ? v.substr(8) : v;
    } else if (k == "agent" || k == "user") {
      filter.user = v;
    } else if (k == "organization") {
      filter.org = v;
    } else if (k == "outcome") {
      filter.outcome = v;
    } else if (k == "subtype" || k == "kind") {
      filter.action = v;
    } else if (k == "date") {
      if (!date_bound(v, filter.from_ms, filter.to_ms)) {
        respond(operation_outcome(400, "value", kDateBoundForm + v + "."));
        return;
      }
    } else if (k == "_count" || k == "_offset") {
      auto n = parse_int(v);
      if (!n || *n < 0) {
        respond(operation_outcome(400, "value", k + " must be a whole number."));
        return;
      }
      (k == "_count" ? count : offset) = std::min<int64_t>(*n, k == "_count" ? kMaxCount : kMaxOffset);
    } else {
      respond(operation_outcome(400, "not-supported", "AuditEvent is searched by patient, agent, organization, outcome, "
                                                        "subtype and date, not " + k + "."));
      return;
    }
  }
  governance::DisclosureContext ctx{reader, std::string(req.method_string()) + " " + std::string(req.target()), peer};
  disclosure_.disclose_audit(ctx, filter, offset, count, [respond](auto found) {
    if (!found) {
      const bool forbidden = found.error().code == "forbidden";
      respond(operation_outcome(forbidden ? 403 : 503, forbidden ? "forbidden" : "transient", found.error().message));
      return;
    }
    rapidjson::StringBuffer sb;
    JsonWriter w(sb);
    w.StartObject();
    w.Key("resourceType"); w.String("Bundle");
    w.Key("type"); w.String("searchset");
    w.Key("total"); w.Int64(found->second);
    w.Key("entry"); w.StartArray();
    for (const auto& e : found->first) {
      w.StartObject();
      w.Key("resource");
      write_audit_event(w, e);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    respond(json_response(200, sb.GetString()));
  });
}

void FhirApi::disclose(const Request& req, const std::string& peer, const governance::Reader& reader,
                       const governance::Query& q, bool as_bundle, const std::string& bundle_type, Respond respond,
                       BatchRouting* batch) {
  governance::DisclosureContext ctx{reader, std::string(req.method_string()) + " " + std::string(req.target()), peer};
  std::string base = base_url(req);
  std::string target(req.target());
  // Links keep the request's own criteria but not its paging.
  std::string page_base;
  // $everything answers whole: no paging links.
  if (as_bundle && !std::holds_alternative<governance::EverythingQuery>(q)) {
    auto qpos = target.find('?');
    page_base = base + target.substr(5, qpos == std::string::npos ? std::string::npos : qpos - 5);
    if (qpos != std::string::npos) {
      std::string kept;
      for (auto& [k, v] : parse_query(std::string_view(target).substr(qpos + 1))) {
        if (k == "_count" || k == "_offset") continue;
        kept += (kept.empty() ? "?" : "&") + url_encode(k) + "=" + url_encode(v);
      }
      page_base += kept;
    }
  }
  int64_t offset = 0, count = kDefaultCount;
  std::visit([&](auto& x) {
    if constexpr (requires { x.offset; }) {
      offset = x.offset;
      count = x.count;
    }
  }, q);
  const std::string self = base + url_as_link(target.substr(5));
  // A value searched for without its system may be several organisations' identifiers, for
  // different people: the answer says so when its matches carry it under more than one system.
  std::string value_alone;
  if (const auto* iq = std::get_if<governance::IdentifierQuery>(&q); iq && !iq->system) value_alone = iq->value;
  auto warning = [value_alone](const governance::Disclosure& d) {
    if (d.identifier_systems.empty()) return std::string();
    std::string systems;
    bool none = false;  // one of them is no system: searched for as |VALUE
    for (const auto& s : d.identifier_systems) {
      systems += (systems.empty() ? "" : ", ") + (s.empty() ? "(no system)" : s);
      none = none || s.empty();
    }
    return "The identifier value " + value_alone + " is held under " + std::to_string(d.identifier_systems.size()) +
           " identifier systems (" + systems + "), so these matches may be different people. Check each match's "
           "identifier system, or search with identifier=SYSTEM|" + value_alone +
           (none ? " (identifier=|" + value_alone + " for the one held without a system)" : "") + ".";
  };
  // A Bundle is made while the audit entry is written (it is sent only once the entry is durable).
  governance::Shape shape;
  if (as_bundle)
    shape = [=](governance::Disclosure& d) {
      d.answer = bundle_json(bundle_type, d.page, base, self, page_base, offset, count, d.withheld, warning(d));
    };
  auto finish = [=, respond = std::move(respond)](Result<governance::Disclosure> d) {
    if (!d) {
      const bool forbidden = d.error().code == "forbidden";
      respond(operation_outcome(forbidden ? 403 : 503, forbidden ? "forbidden" : "transient", d.error().message));
      return;
    }
    auto& page = d->page;
    if (!as_bundle) {
      if (page.items.empty()) {
        respond(operation_outcome(404, "not-found", "No such resource: " + std::string(target.substr(6)) + "."));
        return;
      }
      auto res = json_response(200, page.items.front().json);
      // A regional patient (made from its registrations when read) has no version of its own.
      if (page.items.front().version > 0)
        res.set(http::field::etag, "W/\"" + std::to_string(page.items.front().version) + "\"");
      respond(std::move(res));
      return;
    }
    respond(json_response(200, !d->answer.empty() ? std::move(d->answer)
                                                  : bundle_json(bundle_type, page, base, self, page_base, offset,
                                                                count, d->withheld, warning(*d))));
  };
  if (batch) {
    batch->disclosures.push_back({std::move(ctx), q, std::move(shape)});
    batch->finish.push_back(std::move(finish));
    return;
  }
  disclosure_.disclose(ctx, q, std::move(finish), shape);
}

void FhirApi::read_batch(const Request& req, const rapidjson::Document& bundle, const std::string& peer,
                         const governance::Reader& reader, Respond respond) {
  std::vector<std::string> urls;
  std::vector<std::optional<Response>> refused;  // by entry: the answer when it is no read
  if (bundle.HasMember("entry")) {
    const auto& entries = bundle["entry"];
    if (!entries.IsArray()) {
      respond(operation_outcome(400, "structure", "Bundle.entry must be a list."));
      return;
    }
    if (entries.Size() > kMaxBatchEntries) {
      respond(operation_outcome(400, "too-costly", "A batch takes at most " + std::to_string(kMaxBatchEntries) +
                                                        " entries; this one has " + std::to_string(entries.Size()) + "."));
      return;
    }
    for (const auto& e : entries.GetArray()) {
      const rapidjson::Value* request = e.IsObject() && e.HasMember("request") ? &e["request"] : nullptr;
      const rapidjson::Value* method = request && request->IsObject() && request->HasMember("method") ? &(*request)["method"] : nullptr;
      const rapidjson::Value* url = request && request->IsObject() && request->HasMember("url") ? &(*request)["url"] : nullptr;
      if (!method || !method->IsString() || !url || !url->IsString()) {
        urls.emplace_back();
        refused.push_back(operation_outcome(400, "required", "Each batch entry needs request.method and request.url."));
        continue;
      }
      if (std::string_view(method->GetString()) != "GET") {
        urls.emplace_back();
        refused.push_back(operation_outcome(
            405, "not-supported",
            std::string("This record is read-only over FHIR: a reader's batch takes GET entries, not ") +
                method->GetString() + "."));
        continue;
      }
      // Relative to the base ("Observation?patient=..."), or under it ("/fhir/...", "http://host/fhir/...").
      std::string u(url->GetString(), url->GetStringLength());
      if (std::any_of(u.begin(), u.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
        urls.emplace_back();
        refused.push_back(operation_outcome(
            400, "value", "A batch entry's request.url is a URL: no spaces or control characters (percent-encode them)."));
        continue;
      }
      if (auto at = u.find("/fhir/"); at != std::string::npos && u.find('?') > at) u = u.substr(at + 6);
      while (!u.empty() && u.front() == '/') u.erase(0, 1);
      urls.push_back(std::move(u));
      refused.emplace_back();
    }
  }
  struct State {
    std::vector<Response> answers;
    std::unique_ptr<std::atomic<bool>[]> answered;  // an entry answered twice counts once
    std::atomic<size_t> left{0};
    Respond respond;
  };
  auto state = std::make_shared<State>();
  state->answers.resize(urls.size());
  state->answered = std::make_unique<std::atomic<bool>[]>(urls.size());
  state->left = urls.size() + 1;  // and the routing below
  state->respond = std::move(respond);
  auto arrive = [state] {
    if (state->left.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    rapidjson::StringBuffer sb;
    JsonWriter w(sb);
    w.StartObject();
    w.Key("resourceType"); w.String("Bundle");
    w.Key("type"); w.String("batch-response");
    w.Key("entry"); w.StartArray();
    for (const Response& a : state->answers) {
      const unsigned status = a.result_int();
      const std::string& body = a.body();
      w.StartObject();
      if (status < 300 && !body.empty()) {
        w.Key("resource");
        w.RawValue(body.data(), body.size(), rapidjson::kObjectType);
      }
      w.Key("response"); w.StartObject();
      w.Key("status");
      const std::string line = std::to_string(status) + " " + std::string(http::obsolete_reason(a.result()));
      w.String(line.c_str());
      if (auto etag = a.find(http::field::etag); etag != a.end()) {
        w.Key("etag");
        w.String(std::string(etag->value()).c_str());
      }
      if (status >= 300 && !body.empty()) {
        w.Key("outcome");
        w.RawValue(body.data(), body.size(), rapidjson::kObjectType);
      }
      w.EndObject();
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    state->respond(json_response(200, sb.GetString()));
  };
  BatchRouting routing;
  routing.disclosures.reserve(urls.size());
  routing.finish.reserve(urls.size());
  bool first = true;  // the batch's own request paid for its first entry
  for (size_t i = 0; i < urls.size(); ++i) {
    Respond answer = [state, arrive, i](Response r) {
      if (state->answered[i].exchange(true)) return;
      state->answers[i] = std::move(r);
      arrive();
    };
    if (refused[i]) {
      answer(std::move(*refused[i]));
      continue;
    }
    // Each entry counts towards the reader's rate limit as the same request sent alone would.
    int64_t retry_after = 0;
    if (!first && !limiter_.allow(reader.user, RateLimiter::Clock::now(), &retry_after)) {
      answer(throttled(reader.user, retry_after, "this entry "));
      continue;
    }
    first = false;
    // Each entry as the same GET sent alone: its own route, checks, governance and audit entry.
    Request sub{http::verb::get, "/fhir/" + urls[i], req.version()};
    sub.set(http::field::host, req[http::field::host]);
    try {
      handle_fhir(sub, peer, reader, answer, &routing);
    } catch (const std::exception& e) {
      answer(operation_outcome(500, "exception", std::string("The engine could not answer: ") + e.what()));
    }
  }
  if (!routing.disclosures.empty()) {
    auto finish = std::make_shared<std::vector<std::function<void(Result<governance::Disclosure>)>>>(
        std::move(routing.finish));
    disclosure_.disclose_all(std::move(routing.disclosures), [finish](std::vector<Result<governance::Disclosure>> results) {
      for (size_t j = 0; j < results.size(); ++j) (*finish)[j](std::move(results[j]));
    });
  }
  arrive();
}

}  // namespace cc::api
