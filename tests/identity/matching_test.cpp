// Matching rules and the patient index's decisions (engine/identity/matching.h), as docs/identity.md
// states them: what joins, what is held, what is scored, and that nothing joins on a weak match.
#include "engine/identity/matching.h"

#include <gtest/gtest.h>

#include "engine/identity/regional_patient.h"

namespace cc::identity {
namespace {

Demographics smith() { return Demographics{"SMITH", "JANE", "1970-03-01", "female", "CH12AB"}; }

rapidjson::Document parse(const char* json) {
  rapidjson::Document d;
  d.Parse(json);
  return d;
}

TEST(Demographics, ReadFromTheOfficialNameAndFirstPostcode) {
  auto p = parse(R"({"resourceType":"Patient","name":[{"use":"maiden","family":"Brown"},
      {"use":"official","family":"O'Neill-Smith","given":["Mary Ann","Jo"]}],"gender":"unknown",
      "birthDate":"1970-03-01","address":[{"line":["1 Street"]},{"postalCode":"ch1 2ab"}]})");
  Demographics d = demographics_of(p);
  EXPECT_EQ(d.family, "ONEILLSMITH");
  EXPECT_EQ(d.given, "MARYANN");
  EXPECT_EQ(d.birth_date, "1970-03-01");
  EXPECT_EQ(d.gender, "") << "unknown sex is no information";
  EXPECT_EQ(d.postcode, "CH12AB");
  EXPECT_EQ(demographics_of(parse("[]")), Demographics{});
}

TEST(Demographics, DisagreementsAreFamilyNameBirthDateAndSexOnly) {
  Demographics other = smith();
  other.given = "JAYNE";
  other.postcode = "CW11AA";
  EXPECT_TRUE(disagreements(smith(), other).empty()) << "given name and postcode differences never hold";
  other.birth_date = "1971-03-01";
  other.gender = "male";
  other.family = "SMYTH";
  EXPECT_EQ(disagreements(smith(), other), (std::vector<std::string>{"family name", "birth date", "sex"}));
  Demographics unknown;
  EXPECT_TRUE(disagreements(smith(), unknown).empty()) << "missing values are no contradiction";
}

TEST(MatchScore, FollowsTheDocumentedPoints) {
  EXPECT_EQ(score(smith(), smith()).total, 14);
  Demographics d = smith();
  d.given = "JOAN";       // same initial: 1 instead of 3
  d.postcode = "CH14ZZ";  // same outward code: 1 instead of 2
  EXPECT_EQ(score(smith(), d).total, 4 + 1 + 4 + 1 + 1);
  d = smith();
  d.birth_date = "1970-01-03";  // day and month transposed
  EXPECT_EQ(score(smith(), d).total, 14 - 4 + 2);
  d.gender = "male";
  EXPECT_EQ(score(smith(), d).total, 14 - 4 + 2 - 1 - 2);
  EXPECT_EQ(score(smith(), Demographics{}).total, 0);
  // Same name and birth date only: listed as a candidate, never strong enough to call strong.
  Demographics twin{"SMITH", "JANE", "1970-03-01", "", ""};
  EXPECT_GE(score(smith(), twin).total, kCandidateScore);
  EXPECT_LT(score(smith(), twin).total, kStrongScore);
}

TEST(RegionalPatientId, IsStableAndNotTheRegistrationsId) {
  EXPECT_EQ(regional_patient_id("9990000018"), regional_patient_id("9990000018"));
  EXPECT_NE(regional_patient_id("9990000018"), regional_patient_id("9990000026"));
  EXPECT_EQ(regional_patient_id("9990000018").size(), 32u);
}

Claim claim(const std::string& reg, const std::string& nhs, Demographics d = smith(), bool authoritative = true) {
  return Claim{reg, nhs, std::move(d), authoritative, {}};
}

TEST(Decide, FirstRegistrationWithAnNhsNumberJoinsItsRegionalPatient) {
  Decision d = decide(claim("r1", "9990000018"), std::nullopt, std::nullopt);
  EXPECT_TRUE(d.change);
  EXPECT_EQ(d.link.person_id, regional_patient_id("9990000018"));
  EXPECT_EQ(d.link.state, LinkState::kVerified);
  EXPECT_TRUE(d.open_conflict.empty());
}

TEST(Decide, WithoutAnNhsNumberARegistrationStandsAloneAndWaitsForAPerson) {
  Decision d = decide(claim("r1", ""), std::nullopt, std::nullopt);
  EXPECT_EQ(d.link.person_id, "r1");
  EXPECT_EQ(d.link.state, LinkState::kLocal);
  // A later message without the NHS number changes nothing about where it is read.
  Link joined{regional_patient_id("9990000018"), LinkState::kVerified, "9990000018", smith()};
  Decision later = decide(claim("r1", ""), joined, std::nullopt);
  EXPECT_FALSE(later.change);
  EXPECT_EQ(later.link.person_id, joined.person_id);
}

TEST(Decide, ARightNhsNumberWithAWrongBirthDateIsHeldNotJoined) {
  Demographics wrong = smith();
  wrong.birth_date = "1980-03-01";
  Decision d = decide(claim("r2", "9990000018", wrong), std::nullopt, smith());
  EXPECT_EQ(d.link.state, LinkState::kHeld);
  EXPECT_EQ(d.link.person_id, "r2");
  EXPECT_NE(d.open_conflict.find("birth date"), std::string::npos) << d.open_conflict;
  // Held again by the next message: no second work-list item.
  Decision again = decide(claim("r2", "9990000018", wrong), d.link, smith());
  EXPECT_EQ(again.link.state, LinkState::kHeld);
  EXPECT_TRUE(again.open_conflict.empty());
  // Corrected at source: joined, and the work-list item resolved.
  Decision fixed = decide(claim("r2", "9990000018"), d.link, smith());
  EXPECT_EQ(fixed.link.state, LinkState::kVerified);
  EXPECT_EQ(fixed.link.person_id, regional_patient_id("9990000018"));
  EXPECT_TRUE(fixed.resolve_conflict);
}

TEST(Decide, ALocalRegistrationJoinsWhenItsSourceLaterSendsTheNhsNumber) {
  Link local{"r3", LinkState::kLocal, "", smith()};
  // An extract's copy (written only when absent) may join a patient...
  Decision d = decide(claim("r3", "9990000018", smith(), false), local, smith());
  EXPECT_EQ(d.link.state, LinkState::kVerified);
  EXPECT_EQ(d.link.person_id, regional_patient_id("9990000018"));
  // ... but never moves one.
  Decision moved = decide(claim("r3", "9990000026", smith(), false), d.link, std::nullopt);
  EXPECT_FALSE(moved.change);
}

TEST(Decide, AnNhsNumberChangeMovesTheRegistrationAndSaysSo) {
  Link joined{regional_patient_id("9990000018"), LinkState::kVerified, "9990000018", smith()};
  Decision d = decide(claim("r1", "9990000026"), joined, std::nullopt);
  EXPECT_EQ(d.link.person_id, regional_patient_id("9990000026"));
  EXPECT_NE(d.history.find("changed from 9990000018 to 9990000026"), std::string::npos) << d.history;
}

TEST(Decide, APersonsLinkIsNotUndoneByTheSource) {
  Link linked{regional_patient_id("9990000018"), LinkState::kLinked, "", smith()};
  Decision d = decide(claim("r1", "9990000026"), linked, std::nullopt);
  EXPECT_EQ(d.link.person_id, linked.person_id);
  EXPECT_FALSE(d.open_conflict.empty());
  Link rejected{"r1", LinkState::kRejected, "", smith()};
  EXPECT_EQ(decide(claim("r1", "9990000018"), rejected, std::nullopt).link.person_id, "r1");
}

TEST(RegionalPatient, CarriesEveryIdentifierAndLinksEachRegistration) {
  std::string json = regional_patient_json(
      "p", "9990000018",
      {{"gp", "verified",
        R"({"resourceType":"Patient","id":"gp","meta":{"lastUpdated":"2026-01-01T00:00:00.000Z"},
            "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000018"}],
            "name":[{"family":"SMITH"}],"birthDate":"1970-03-01"})"},
       {"h", "verified",
        R"({"resourceType":"Patient","id":"h","meta":{"lastUpdated":"2026-02-01T00:00:00.000Z"},
            "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000018"},
                          {"system":"urn:mrn","value":"H1"}],"name":[{"family":"SMYTHE"}]})"},
       {"sc", "merged", ""}});
  auto d = parse(json.c_str());
  ASSERT_TRUE(d.IsObject()) << json;
  EXPECT_STREQ(d["id"].GetString(), "p");
  EXPECT_EQ(d["identifier"].Size(), 2u) << "the NHS number once, and the hospital number";
  EXPECT_STREQ(d["name"][0]["family"].GetString(), "SMITH") << "the earliest joined registration's name";
  EXPECT_EQ(d["link"].Size(), 3u);
  EXPECT_STREQ(d["link"][1]["other"]["reference"].GetString(), "Patient/h");
  EXPECT_STREQ(d["meta"]["lastUpdated"].GetString(), "2026-02-01T00:00:00.000Z");
  // The hospital spells the name differently: surfaced, naming the source.
  ASSERT_TRUE(d.HasMember("extension")) << json;
  ASSERT_EQ(d["extension"].Size(), 1u) << json;
  auto& diff = d["extension"][0];
  EXPECT_STREQ(diff["url"].GetString(), "urn:connecting-care:extension:source-demographics");
  EXPECT_STREQ(diff["extension"][0]["valueReference"]["reference"].GetString(), "Patient/h");
  EXPECT_STREQ(diff["extension"][1]["url"].GetString(), "family");
  EXPECT_STREQ(diff["extension"][1]["valueString"].GetString(), "SMYTHE");
  EXPECT_EQ(diff["extension"].Size(), 2u) << "a birth date it does not send is no difference";
}

}  // namespace
}  // namespace cc::identity
