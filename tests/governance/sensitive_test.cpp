// Sensitive and restricted data: the quick text test never misses what the parse finds (however the
// JSON is laid out), categories are found wherever a Coding sits, a policy naming an undefined
// category is refused, and a restricted patient's Patient loses its whereabouts and says why.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/governance/policy.h"
#include "engine/governance/sensitive.h"

namespace cc::governance {
namespace {

TEST(Sensitive, TheQuickTestNeverMissesWhatTheParseFinds) {
  const DisclosurePolicy policy = DisclosurePolicy::default_policy();
  const char* items[] = {
      // compact, as the store writes it
      R"({"resourceType":"Condition","code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"A54.9"}]}})",
      // spaced and across lines, as a feed might send it
      "{\n  \"resourceType\" : \"Condition\",\n  \"code\" : { \"coding\" : [ { \"system\" : "
      "\"http://snomed.info/sct\" ,\n \"code\" :\t\"15628003\" } ] }\n}",
      // deep inside: a reason on a medication request
      R"({"resourceType":"MedicationRequest","reasonCode":[{"coding":[{"code":"Z31.2","system":"http://hl7.org/fhir/sid/icd-10"}]}]})",
      // an escaped character inside the code: the parse decides
      R"({"resourceType":"Condition","code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"F64\u002E0"}]}})",
      // a security label
      R"({"resourceType":"Observation","meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"V"}]}})",
  };
  for (const char* item : items) {
    EXPECT_FALSE(sensitive_categories(policy, item).empty()) << item;
    EXPECT_TRUE(policy.may_be_sensitive(item)) << item;
  }
  const char* ordinary[] = {
      R"({"resourceType":"Condition","code":{"coding":[{"system":"http://snomed.info/sct","code":"38341003"}]}})",
      // "code" as a value, and a listed code under another system
      R"({"resourceType":"Observation","note":[{"text":"code"}],"code":{"coding":[{"system":"http://loinc.org","code":"A54.9"}]}})",
      // a label that restricts nothing
      R"({"resourceType":"Observation","meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"N"}]}})",
  };
  for (const char* item : ordinary) EXPECT_TRUE(sensitive_categories(policy, item).empty()) << item;
  EXPECT_FALSE(policy.may_be_sensitive(ordinary[0]));
}

// What the quick read finds holds every reference the parse finds (it may find more: a contained
// resource's encounter), or it declines and the parse answers.
void expect_quick_covers_parse(const std::string& type, const std::string& item, bool must_read) {
  auto quick = quick_references(type, item);
  if (!quick) {
    EXPECT_FALSE(must_read) << "declined: " << item;
    return;
  }
  std::set<std::string> found(quick->begin(), quick->end());
  const auto parsed = grouped_references(type, item);
  for (const std::string& ref : parsed)
    EXPECT_TRUE(found.count(ref)) << type << ": the quick read missed " << ref << " in " << item;
  // And the other way: what the quick read finds, the parse finds too (an item read either way
  // has the same references judged).
  const std::set<std::string> by_parse(parsed.begin(), parsed.end());
  for (const std::string& ref : found)
    EXPECT_TRUE(by_parse.count(ref)) << type << ": the parse missed " << ref << " in " << item;
}

// The references an item makes (the encounter it was recorded in, a report's results) are read
// from the text without parsing, in the form the store writes items in; another form (display
// first, spaces, an escape) is declined and parsed. Either way no reference the parse finds is
// missed.
TEST(Sensitive, TheQuickReadOfAnItemsReferencesMissesNoneTheParseFinds) {
  const std::pair<const char*, const char*> compact[] = {
      {"Observation", R"({"resourceType":"Observation","id":"o1","encounter":{"reference":"Encounter/e1"},"status":"final"})"},
      {"MedicationAdministration",
       R"({"resourceType":"MedicationAdministration","id":"m1","context":{"reference":"Encounter/e1","display":"Ward 3"}})"},
      {"Encounter", R"({"resourceType":"Encounter","id":"e2","partOf":{"reference":"Encounter/e1"}})"},
      {"DiagnosticReport",
       R"({"resourceType":"DiagnosticReport","result":[{"reference":"Observation/a"},{"reference":"Observation/b"},{"reference":"Observation/c"}],"encounter":{"reference":"Encounter/e1"},"subject":{"reference":"Patient/p"}})"},
      {"DiagnosticReport",
       R"({"resourceType":"DiagnosticReport","result":[{"reference":"Observation/a","display":"Na"}],"code":{"text":"reference"}})"},
      {"DocumentReference",
       R"({"resourceType":"DocumentReference","context":{"encounter":[{"reference":"Encounter/e1"}],"related":[{"reference":"Condition/c"}]},"relatesTo":[{"code":"replaces","target":{"reference":"DocumentReference/d0"}}]})"},
      {"Encounter",
       R"({"resourceType":"Encounter","diagnosis":[{"condition":{"reference":"Condition/c1"},"rank":1},{"condition":{"reference":"Condition/c2"}}]})"},
      {"Condition", R"({"resourceType":"Condition","evidence":[{"detail":[{"reference":"Observation/x"},{"reference":"Observation/y"}]}]})"},
      {"Observation",
       R"({"resourceType":"Observation","extension":[{"url":"urn:x","extension":[{"url":"y","encounter":{"reference":"Encounter/e9"}}]}],"encounter":{"reference":"Encounter/e1"}})"},
      {"Appointment", R"({"resourceType":"Appointment","reasonReference":[{"reference":"Condition/c"}],"basedOn":[{"reference":"CarePlan/cp"}]})"},
      // A contained resource names items by its own type's paths (a medicine's context).
      {"Observation",
       R"({"resourceType":"Observation","contained":[{"resourceType":"MedicationStatement","id":"m","context":{"reference":"Encounter/e9"}}],"encounter":{"reference":"Encounter/e1"}})"},
  };
  for (const auto& [type, item] : compact) expect_quick_covers_parse(type, item, true);
  auto refs = quick_references("DiagnosticReport", compact[3].second);
  ASSERT_TRUE(refs.has_value());
  EXPECT_EQ(std::vector<std::string>(refs->begin(), refs->end()),
            (std::vector<std::string>{"Observation/a", "Observation/b", "Observation/c", "Encounter/e1"}))
      << "the subject is no clinical item";

  const std::pair<const char*, const char*> other[] = {
      {"Observation", R"({"resourceType":"Observation","encounter":{"display":"Clinic 4","reference":"Encounter/e1"}})"},
      {"Observation", R"({"resourceType":"Observation","encounter": {"reference":"Encounter/e1"}})"},
      {"Observation", R"({"resourceType":"Observation","encounter":{"reference" : "Encounter/e1"}})"},
      {"Observation", R"({"resourceType":"Observation","encounter":{"reference":"Encounter/e\u0031"}})"},
      {"DiagnosticReport",
       R"({"resourceType":"DiagnosticReport","result":[{"reference":"Observation/a","display":"Na"},{"reference":"Observation/b"}]})"},
      {"DiagnosticReport", R"({"resourceType":"DiagnosticReport","result":[{"display":"Na","reference":"Observation/a"}]})"},
  };
  for (const auto& [type, item] : other) {
    EXPECT_FALSE(quick_references(type, item).has_value()) << item;
    expect_quick_covers_parse(type, item, false);
  }
  // A contained resource's reference by its own type's paths (a medicine's context) is read, and a
  // hidden one goes from it; the contained resource stays.
  const std::string with_contained = compact[10].second;
  const auto contained_refs = grouped_references("Observation", with_contained);
  EXPECT_EQ(std::set<std::string>(contained_refs.begin(), contained_refs.end()),
            (std::set<std::string>{"Encounter/e1", "Encounter/e9"}));
  const std::string shown = drop_grouped_references("Observation", with_contained, {"Encounter/e9"});
  EXPECT_EQ(shown.find("e9"), std::string::npos) << shown;
  EXPECT_NE(shown.find("Encounter/e1"), std::string::npos) << shown;
  EXPECT_NE(shown.find("\"id\":\"m\""), std::string::npos) << shown;
  EXPECT_NE(shown.find("REDACTED"), std::string::npos) << shown;
  // Read deeper than a path reaches (an extension's), a hidden reference goes as well.
  const std::string deeper = drop_grouped_references("Observation", compact[8].second, {"Encounter/e9"});
  EXPECT_EQ(deeper.find("e9"), std::string::npos) << deeper;
  EXPECT_EQ(deeper.find("urn:x"), std::string::npos) << "an extension left without its value goes whole: " << deeper;
  EXPECT_NE(deeper.find("REDACTED"), std::string::npos) << deeper;
  // The same item written another way elsewhere (an absolute reference) goes too.
  const std::string absolute = drop_grouped_references(
      "Observation",
      R"({"resourceType":"Observation","encounter":{"reference":"Encounter/e9"},"focus":[{"reference":"https://cc.example/fhir/Encounter/e9"},{"reference":"Patient/p1"}]})",
      {"Encounter/e9"});
  EXPECT_EQ(absolute.find("e9"), std::string::npos) << absolute;
  EXPECT_NE(absolute.find("Patient/p1"), std::string::npos) << absolute;

  auto none = quick_references("Observation", R"({"resourceType":"Observation","status":"final"})");
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());

  // Naming nothing hidden, an item is left as it was, unlabelled.
  const std::string plain = compact[0].second;
  EXPECT_EQ(drop_grouped_references("Observation", plain, {"Encounter/e9"}), plain);
  const std::string dropped = drop_grouped_references("Observation", plain, {"Encounter/e1"});
  EXPECT_EQ(dropped.find("encounter"), std::string::npos) << dropped;
  EXPECT_NE(dropped.find("REDACTED"), std::string::npos) << dropped;
}

// The same over every resource of the FHIR R4 and UK Core examples and the Synthea bundles, written
// as the store writes them (compact, members in their order).
TEST(Sensitive, TheQuickReadMissesNoReferenceInTheCorpus) {
  const std::filesystem::path corpus = std::filesystem::path(CC_SHARED_DIR) / "corpus";
  if (!std::filesystem::exists(corpus)) GTEST_SKIP() << "no " << corpus << " (../shared/corpus): nothing to read";
  size_t items = 0, read = 0;
  std::function<void(const rapidjson::Value&)> each = [&](const rapidjson::Value& r) {
    if (!r.IsObject() || !r.HasMember("resourceType") || !r["resourceType"].IsString()) return;
    if (r.HasMember("entry") && r["entry"].IsArray())
      for (const auto& e : r["entry"].GetArray())
        if (e.IsObject() && e.HasMember("resource")) each(e["resource"]);
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    r.Accept(w);
    const std::string type = r["resourceType"].GetString(), text(sb.GetString(), sb.GetSize());
    ++items;
    read += quick_references(type, text).has_value();
    expect_quick_covers_parse(type, text, false);
  };
  for (const char* dir : {"fhir-examples", "ukcore/json/examples", "synthea"}) {
    if (!std::filesystem::exists(corpus / dir)) continue;
    for (const auto& f : std::filesystem::recursive_directory_iterator(corpus / dir)) {
      if (f.path().extension() != ".json") continue;
      std::ifstream in(f.path(), std::ios::binary);
      std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      rapidjson::Document d;
      d.Parse(body.c_str(), body.size());
      if (!d.HasParseError()) each(d);
    }
  }
  ASSERT_GT(items, 1000u) << "the corpus holds fewer resources than expected";
  EXPECT_GT(read, items * 9 / 10) << "the quick read declines too often: most items would be parsed";
  std::printf("quick read of references: %zu of %zu corpus resources read without parsing\n", read, items);
}

TEST(Sensitive, APolicyNamingAnUndefinedCategoryIsRefused) {
  auto p = DisclosurePolicy::parse(R"({"name": "x", "roles": {"gp": {"clinical": true, "sensitive": ["ivf"]}},
      "access": {"permission-to-view": 1, "self-declared": 1, "break-glass": 1}})", "x.json");
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("ivf"), std::string::npos) << p.error().message;
  auto empty = DisclosurePolicy::parse(R"({"name": "x", "roles": {"gp": {"clinical": true}},
      "sensitive": {"ivf": {"codes": [{"system": "http://snomed.info/sct"}]}},
      "access": {"permission-to-view": 1, "self-declared": 1, "break-glass": 1}})", "x.json");
  EXPECT_FALSE(empty) << "a code list with neither codes nor prefixes is refused";
}

TEST(Sensitive, ARestrictedPatientLosesTheirWhereaboutsAndIsLabelled) {
  const std::string registration =
      R"({"resourceType":"Patient","meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]},)"
      R"("name":[{"family":"HARGREAVES"}],"address":[{"postalCode":"CW9 9ZZ"}],"telecom":[{"value":"07700 900999"}],)"
      R"("generalPractitioner":[{"reference":"Organization/a81001"}],"contact":[{"name":{"family":"HARGREAVES"}}]})";
  EXPECT_TRUE(restricted(registration));
  const std::string shown = redact_restricted(registration);
  for (const char* gone : {"CW9 9ZZ", "07700", "a81001", "contact"}) EXPECT_EQ(shown.find(gone), std::string::npos) << shown;
  EXPECT_NE(shown.find("HARGREAVES"), std::string::npos);
  // Whatever else a source puts on the Patient that could say where they are goes too; who they
  // are stays.
  const std::string gp_patient =
      R"({"resourceType":"Patient","id":"r1","meta":{"versionId":"2","source":"urn:connecting-care:feed:gp-a81001",)"
      R"("security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}],)"
      R"("extension":[{"url":"urn:connecting-care:extension:provenance","extension":[{"url":"sendingFacility","valueString":"A81001"}]}]},)"
      R"("text":{"status":"generated","div":"<div>Refuge House, CW9 9ZZ</div>"},)"
      R"("contained":[{"resourceType":"Organization","id":"o","name":"Wistaston Practice"}],)"
      R"("extension":[{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NominatedPharmacy","valueReference":{"reference":"#o"}}],)"
      R"("identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9991234578"}],"name":[{"family":"HARGREAVES"}],)"
      R"("gender":"female","birthDate":"1948-03-12","managingOrganization":{"reference":"#o"},"photo":[{"data":"AAAA"}],)"
      R"("communication":[{"language":{"text":"English"}}]})";
  const std::string safe = redact_restricted(gp_patient);
  for (const char* gone : {"Refuge", "CW9", "Wistaston", "NominatedPharmacy", "gp-a81001", "A81001", "managingOrganization",
                           "photo", "contained", "communication", "provenance"})
    EXPECT_EQ(safe.find(gone), std::string::npos) << gone << " in " << safe;
  for (const char* kept : {"9991234578", "HARGREAVES", "female", "1948-03-12", "\"versionId\":\"2\"", "\"code\":\"R\""})
    EXPECT_NE(safe.find(kept), std::string::npos) << kept << " missing from " << safe;
  // A regional Patient (no label of its own) with another source's differing postcode.
  const std::string regional =
      R"({"resourceType":"Patient","extension":[{"url":"urn:connecting-care:extension:source-demographics","extension":[)"
      R"({"url":"registration","valueReference":{"reference":"Patient/x"}},{"url":"postalCode","valueString":"CW9 9ZZ"},)"
      R"({"url":"family","valueString":"SMITH"}]}],"name":[{"family":"HARGREAVES"}],"address":[{"postalCode":"CW1 3XY"}]})";
  EXPECT_FALSE(restricted(regional));
  const std::string redacted = redact_restricted(regional);
  EXPECT_EQ(redacted.find("CW9"), std::string::npos) << redacted;
  EXPECT_EQ(redacted.find("CW1"), std::string::npos) << redacted;
  EXPECT_NE(redacted.find("SMITH"), std::string::npos) << "other differences stay";
  EXPECT_TRUE(restricted(redacted)) << "labelled, so the reader knows why: " << redacted;
}

TEST(Purpose, TheRecordIsSharedForDirectCareUnlessThePolicySaysMore) {
  const DisclosurePolicy p = DisclosurePolicy::default_policy();
  EXPECT_TRUE(p.allows_purpose("DIRECT_CARE"));
  EXPECT_TRUE(p.allows_purpose("")) << "a token naming no purpose (CIS2) is read as direct care";
  EXPECT_FALSE(p.allows_purpose("RESEARCH"));
  EXPECT_FALSE(p.allows_purpose("direct_care")) << "codes are matched exactly";
  auto wider = DisclosurePolicy::parse(R"({"name": "x", "roles": {"gp": {"clinical": true}},
      "purposes_of_use": ["DIRECT_CARE", "RESEARCH"],
      "access": {"permission-to-view": 1, "self-declared": 1, "break-glass": 1}})", "x.json");
  ASSERT_TRUE(wider) << wider.error().message;
  EXPECT_TRUE(wider->allows_purpose("RESEARCH"));
  EXPECT_FALSE(p.any_role_limits_sources());
}

}  // namespace
}  // namespace cc::governance
