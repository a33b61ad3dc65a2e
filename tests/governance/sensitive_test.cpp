// Sensitive and restricted data: the quick text test never misses what the parse finds (however the
// JSON is laid out), categories are found wherever a Coding sits, a policy naming an undefined
// category is refused, and a restricted patient's Patient loses its whereabouts and says why.
#include <gtest/gtest.h>

#include <algorithm>

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

// The encounter an item was recorded in (and a report's results) are read from the text without
// parsing; where the text is in another form than the store writes (display first, spaces) or names
// an encounter twice (a contained resource's), the quick read declines and the parse answers. Either
// way the same references are found.
TEST(Sensitive, TheQuickReadOfAnItemsEncounterAgreesWithTheParseOrDeclines) {
  const std::pair<const char*, const char*> quick[] = {
      {"Observation", R"({"resourceType":"Observation","id":"o1","encounter":{"reference":"Encounter/e1"},"status":"final"})"},
      {"MedicationAdministration",
       R"({"resourceType":"MedicationAdministration","id":"m1","context":{"reference":"Encounter/e1","display":"Ward 3"}})"},
      {"Encounter", R"({"resourceType":"Encounter","id":"e2","partOf":{"reference":"Encounter/e1"}})"},
  };
  for (const auto& [type, item] : quick) {
    auto refs = quick_references(type, item);
    ASSERT_TRUE(refs.has_value()) << item;
    EXPECT_EQ(std::vector<std::string>(refs->begin(), refs->end()), std::vector<std::string>{"Encounter/e1"}) << item;
    EXPECT_EQ(std::vector<std::string>(refs->begin(), refs->end()), grouped_references(type, item)) << item;
  }
  const char* declined[] = {
      R"({"resourceType":"Observation","encounter":{"display":"Clinic 4","reference":"Encounter/e1"}})",
      R"({"resourceType":"Observation","encounter": {"reference":"Encounter/e1"}})",
      R"({"resourceType":"Observation","contained":[{"resourceType":"Observation","encounter":{"reference":"Encounter/e9"}}],"encounter":{"reference":"Encounter/e1"}})",
      R"({"resourceType":"Observation","encounter":{"reference":"Encounter/e\u0031"}})",
  };
  for (const char* item : declined) {
    EXPECT_FALSE(quick_references("Observation", item).has_value()) << item;
    EXPECT_EQ(grouped_references("Observation", item), std::vector<std::string>{"Encounter/e1"}) << item;
  }
  auto none = quick_references("Observation", R"({"resourceType":"Observation","status":"final"})");
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
  // A report's results and a document's encounters, lists written as the store writes them.
  const std::pair<const char*, const char*> lists[] = {
      {"DiagnosticReport",
       R"({"resourceType":"DiagnosticReport","result":[{"reference":"Observation/a"},{"reference":"Observation/b"}],"encounter":{"reference":"Encounter/e1"}})"},
      {"DocumentReference",
       R"({"resourceType":"DocumentReference","context":{"encounter":[{"reference":"Encounter/e1"}],"period":{"start":"2024"}}})"},
  };
  for (const auto& [type, item] : lists) {
    auto refs = quick_references(type, item);
    ASSERT_TRUE(refs.has_value()) << item;
    std::vector<std::string> quick(refs->begin(), refs->end()), parse = grouped_references(type, item);
    std::sort(quick.begin(), quick.end());
    std::sort(parse.begin(), parse.end());
    EXPECT_EQ(quick, parse) << item;
  }
  // A list entry with more than its reference, an encounter's diagnoses: parsed.
  EXPECT_FALSE(quick_references("DiagnosticReport",
                                R"({"resourceType":"DiagnosticReport","result":[{"reference":"Observation/a","display":"Na"}]})")
                   .has_value());
  EXPECT_FALSE(quick_references("Encounter",
                                R"({"resourceType":"Encounter","diagnosis":[{"condition":{"reference":"Condition/c"}}]})")
                   .has_value());
  // Naming nothing hidden, an item is left as it was, unlabelled.
  const std::string plain = quick[0].second;
  EXPECT_EQ(drop_grouped_references("Observation", plain, {"Encounter/e9"}), plain);
  const std::string dropped = drop_grouped_references("Observation", plain, {"Encounter/e1"});
  EXPECT_EQ(dropped.find("encounter"), std::string::npos) << dropped;
  EXPECT_NE(dropped.find("REDACTED"), std::string::npos) << dropped;
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
