// Policy decisions as data: each case in tests/governance/policy/cases.json (reader, the patient's
// record facts and consent, a recorded access, the policy) beside the decision expected, run through
// decide_access — the function every disclosure uses. Also the policy file's own checks.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <fstream>
#include <sstream>

#include "engine/governance/consent.h"
#include "engine/governance/policy.h"
#include "engine/governance/relationship.h"

namespace cc::governance {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::string kDir = CC_POLICY_CASES_DIR;

// A resource from the shorthand: type, status, org, via (provenance sending facility), feed.
store::StoredResource fact(const rapidjson::Value& f) {
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  auto s = [&](const char* name) { return f.HasMember(name) ? std::string(f[name].GetString()) : std::string(); };
  const std::string type = s("type");
  d.AddMember("resourceType", rapidjson::Value(type.c_str(), a), a);
  if (!s("status").empty()) d.AddMember("status", rapidjson::Value(s("status").c_str(), a), a);
  auto org_ref = [&](const std::string& ods) {
    rapidjson::Value ref(rapidjson::kObjectType), id(rapidjson::kObjectType);
    id.AddMember("system", "https://fhir.nhs.uk/Id/ods-organization-code", a);
    id.AddMember("value", rapidjson::Value(ods.c_str(), a), a);
    ref.AddMember("identifier", id, a);
    return ref;
  };
  if (type == "Consent") {
    // provision (deny/permit) with classes (types) and actors (ODS codes); exceptions as nested provisions.
    auto provision = [&](const rapidjson::Value& from) {
      rapidjson::Value p(rapidjson::kObjectType);
      p.AddMember("type", rapidjson::Value(from["provision"].GetString(), a), a);
      if (from.HasMember("classes")) {
        rapidjson::Value classes(rapidjson::kArrayType);
        for (auto& c : from["classes"].GetArray()) {
          rapidjson::Value coding(rapidjson::kObjectType);
          coding.AddMember("system", "http://hl7.org/fhir/resource-types", a);
          coding.AddMember("code", rapidjson::Value(c.GetString(), a), a);
          classes.PushBack(coding, a);
        }
        p.AddMember("class", classes, a);
      }
      if (from.HasMember("actors")) {
        rapidjson::Value actors(rapidjson::kArrayType);
        for (auto& o : from["actors"].GetArray()) {
          rapidjson::Value actor(rapidjson::kObjectType), ref(rapidjson::kObjectType), id(rapidjson::kObjectType);
          id.AddMember("value", rapidjson::Value(o.GetString(), a), a);
          ref.AddMember("identifier", id, a);
          actor.AddMember("reference", ref, a);
          actors.PushBack(actor, a);
        }
        p.AddMember("actor", actors, a);
      }
      return p;
    };
    rapidjson::Value p = provision(f);
    if (f.HasMember("exceptions")) {
      rapidjson::Value nested(rapidjson::kArrayType);
      for (auto& e : f["exceptions"].GetArray()) nested.PushBack(provision(e), a);
      p.AddMember("provision", nested, a);
    }
    d.AddMember("provision", p, a);
    // scope: patient-privacy unless the case names another (treatment, research).
    rapidjson::Value scope(rapidjson::kObjectType), codings(rapidjson::kArrayType), coding(rapidjson::kObjectType);
    coding.AddMember("system", "http://terminology.hl7.org/CodeSystem/consentscope", a);
    coding.AddMember("code", rapidjson::Value(s("scope").empty() ? "patient-privacy" : s("scope").c_str(), a), a);
    codings.PushBack(coding, a);
    scope.AddMember("coding", codings, a);
    d.AddMember("scope", scope, a);
    if (!s("dateTime").empty()) d.AddMember("dateTime", rapidjson::Value(s("dateTime").c_str(), a), a);
  }
  // codings [[system, code]] in code; security [[system, code]] in meta.security.
  auto codings = [&](const char* name) {
    rapidjson::Value list(rapidjson::kArrayType);
    if (f.HasMember(name))
      for (auto& pair : f[name].GetArray()) {
        rapidjson::Value coding(rapidjson::kObjectType);
        coding.AddMember("system", rapidjson::Value(pair[0].GetString(), a), a);
        coding.AddMember("code", rapidjson::Value(pair[1].GetString(), a), a);
        list.PushBack(coding, a);
      }
    return list;
  };
  if (f.HasMember("codings")) {
    rapidjson::Value code(rapidjson::kObjectType);
    code.AddMember("coding", codings("codings"), a);
    d.AddMember("code", code, a);
  }
  if (!s("org").empty()) {
    if (type == "Encounter") d.AddMember("serviceProvider", org_ref(s("org")), a);
    if (type == "EpisodeOfCare") d.AddMember("managingOrganization", org_ref(s("org")), a);
  }
  if (!s("gp").empty()) {
    rapidjson::Value gps(rapidjson::kArrayType);
    gps.PushBack(org_ref(s("gp")), a);
    d.AddMember("generalPractitioner", gps, a);
  }
  if (!s("member").empty()) {
    rapidjson::Value participants(rapidjson::kArrayType), p(rapidjson::kObjectType);
    p.AddMember("onBehalfOf", org_ref(s("member")), a);
    participants.PushBack(p, a);
    d.AddMember("participant", participants, a);
  }
  // meta.extension: the provenance the store stamps.
  rapidjson::Value parts(rapidjson::kArrayType);
  auto part = [&](const char* url, const std::string& v) {
    rapidjson::Value e(rapidjson::kObjectType);
    e.AddMember("url", rapidjson::Value(url, a), a);
    e.AddMember("valueString", rapidjson::Value(v.c_str(), a), a);
    parts.PushBack(e, a);
  };
  part("feed", s("feed").empty() ? "pas" : s("feed"));
  if (!s("via").empty()) part("sendingFacility", s("via"));
  rapidjson::Value prov(rapidjson::kObjectType);
  prov.AddMember("url", "urn:connecting-care:extension:provenance", a);
  prov.AddMember("extension", parts, a);
  rapidjson::Value exts(rapidjson::kArrayType);
  exts.PushBack(prov, a);
  rapidjson::Value meta(rapidjson::kObjectType);
  if (f.HasMember("security")) meta.AddMember("security", codings("security"), a);
  meta.AddMember("extension", exts, a);
  d.AddMember("meta", meta, a);
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  d.Accept(w);
  return store::StoredResource{type, "x", 1, sb.GetString(), "p"};
}

TEST(PolicyCases, EachCaseGetsItsExpectedDecision) {
  rapidjson::Document doc;
  doc.Parse(read_file(kDir + "/cases.json").c_str());
  ASSERT_TRUE(doc.IsObject());
  std::map<std::string, DisclosurePolicy> policies;
  policies.emplace("default", DisclosurePolicy::default_policy());
  for (const char* name : {"no-encounters", "narrow", "sensitive-roles", "by-source"}) {
    auto p = DisclosurePolicy::load(kDir + "/" + name + ".json");
    ASSERT_TRUE(p) << p.error().message;
    policies.emplace(name, std::move(p).value());
  }
  const Organisations orgs(std::map<std::string, std::string>{{"RBT20", "RBT"}});
  const std::set<std::string> gp_feeds{"gp"};
  const std::map<std::string, std::string> feed_types{{"council", "social-care"}, {"pas", "acute"}, {"gp", "gp"}};
  int n = 0;
  for (auto& c : doc["cases"].GetArray()) {
    ++n;
    const std::string name = c["name"].GetString();
    std::vector<store::StoredResource> facts;
    for (auto& f : c["facts"].GetArray()) facts.push_back(fact(f));
    const std::string access = c.HasMember("access") ? c["access"].GetString() : "";
    const std::string policy = c.HasMember("policy") ? c["policy"].GetString() : "default";
    const std::string role = c["role"].GetString();
    // A recorded access counts only if the role may record that kind.
    auto recorded = [&]() -> std::string {
      auto kind = access_kind_from(access);
      return kind && policies.at(policy).may_record(role, *kind) ? access : "";
    };
    AccessDecision d = decide_access(policies.at(policy), orgs, gp_feeds, role, c["org"].GetString(),
                                     c["type"].GetString(), facts, recorded);
    EXPECT_EQ(d.permitted ? "permit" : "deny", std::string(c["expect"].GetString())) << name;
    if (c.HasMember("basis")) {
      EXPECT_EQ(d.basis, c["basis"].GetString()) << name;
    }
    if (c.HasMember("item")) {
      EXPECT_TRUE(d.permitted) << name << ": an item is judged only where its type is permitted";
      EXPECT_EQ(item_refusal(policies.at(policy), d, feed_types, fact(c["item"])), c["item_refusal"].GetString()) << name;
    }
    if (c.HasMember("restricted")) {
      EXPECT_EQ(d.restricted_patient, c["restricted"].GetBool()) << name;
    }
    if (c.HasMember("withheld_sources")) {
      std::set<std::string> want;
      for (auto& o : c["withheld_sources"].GetArray()) want.insert(o.GetString());
      EXPECT_EQ(d.withheld_sources, want) << name;
    }
  }
  EXPECT_GE(n, 60);
}

TEST(DisclosurePolicy, TheDefaultLoadsAndEveryClinicalRoleMayBreakGlass) {
  DisclosurePolicy p = DisclosurePolicy::default_policy();
  EXPECT_EQ(p.name(), "default");
  for (const char* role : {"ae-clinician", "gp", "mental-health-clinician", "ambulance-clinician", "social-worker"})
    EXPECT_TRUE(p.may_record(role, AccessKind::kBreakGlass)) << role;
  EXPECT_FALSE(p.may_record("ig-officer", AccessKind::kBreakGlass));
  EXPECT_EQ(p.access_minutes(AccessKind::kBreakGlass), 240);
}

TEST(DisclosurePolicy, AProblemInThePolicyFileIsNamedWithItsPath) {
  auto bad = DisclosurePolicy::parse(R"({"name": "x", "roles": {"gp": {"clinical": "yes"}},
      "access": {"permission-to-view": 1, "self-declared": 1, "break-glass": 1}})", "bad.json");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("bad.json"), std::string::npos);
  EXPECT_NE(bad.error().message.find("[roles][gp][clinical]"), std::string::npos) << bad.error().message;
  auto contradiction = DisclosurePolicy::parse(R"({"name": "x", "roles": {"ig-officer": {"clinical": false,
      "access": ["break-glass"]}}, "access": {"permission-to-view": 1, "self-declared": 1, "break-glass": 1}})", "c.json");
  ASSERT_FALSE(contradiction);
  EXPECT_NE(contradiction.error().message.find("not clinical"), std::string::npos);
  EXPECT_FALSE(DisclosurePolicy::parse("{", "broken.json"));
}

TEST(Consent, APostedConsentIsCheckedAndEachProblemNamed) {
  rapidjson::Document good;
  good.Parse(R"({"resourceType": "Consent", "status": "active",
      "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
      "patient": {"reference": "Patient/abc"}, "provision": {"type": "deny", "class": [{"code": "Observation"}]}})");
  EXPECT_TRUE(check_consent(good).empty());
  EXPECT_EQ(consent_patient(good), "abc");
  rapidjson::Document bad;
  bad.Parse(R"({"resourceType": "Consent", "status": "maybe", "patient": {"reference": "Practitioner/x"},
      "provision": {"type": "deny", "class": [{"code": "observation"}]}})");
  auto problems = check_consent(bad);
  ASSERT_EQ(problems.size(), 4u);
  EXPECT_NE(problems[0].find("status"), std::string::npos);
  EXPECT_NE(problems[1].find("patient-privacy"), std::string::npos);
  EXPECT_NE(problems[2].find("Patient/{id}"), std::string::npos);
  EXPECT_NE(problems[3].find("resource type"), std::string::npos);
  rapidjson::Document other;
  other.Parse(R"({"resourceType": "Patient"})");
  EXPECT_EQ(check_consent(other).size(), 1u);
}

TEST(Organisations, ASiteRollsUpToItsTrustNotTheOtherWay) {
  Organisations orgs(std::map<std::string, std::string>{{"RBT20", "RBT"}, {"RBT20A", "RBT20"}});
  EXPECT_TRUE(orgs.covers("RBT", "RBT20A"));
  EXPECT_TRUE(orgs.covers("RBT20", "RBT20A"));
  EXPECT_FALSE(orgs.covers("RBT20", "RBT"));
  EXPECT_FALSE(orgs.covers("RBT", ""));
  Organisations loop(std::map<std::string, std::string>{{"A", "B"}, {"B", "A"}});
  EXPECT_FALSE(loop.covers("C", "A")) << "a loop in the hierarchy ends";
}

}  // namespace
}  // namespace cc::governance
