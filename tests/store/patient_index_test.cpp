// The patient index in the record store: registrations joining one regional patient by NHS number,
// held on a disagreement, merged and unmerged by hospital merges, and resolved by a person — with
// every read by patient following the joins.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "engine/identity/matching.h"
#include "engine/store/sqlite_record_store.h"
#include "tests/store/temp_dir.h"

namespace cc::store {
namespace {

using testing::TempDir;

const std::string kNhs = "https://fhir.nhs.uk/Id/nhs-number";

struct Person {
  std::string family = "SMITH", given = "JANE", birth = "1970-03-01", gender = "female";
};

ResourceWrite patient(const std::string& id, const std::string& nhs, const std::string& local_system,
                      const std::string& local, Person p = {}, bool only_if_absent = false) {
  ResourceWrite w;
  w.type = "Patient";
  w.id = id;
  w.patient_id = id;
  rapidjson::Document& d = w.resource;
  d.SetObject();
  auto& a = d.GetAllocator();
  auto s = [&](const std::string& v) { return rapidjson::Value(v.c_str(), a); };
  d.AddMember("resourceType", "Patient", a);
  d.AddMember("id", s(id), a);
  rapidjson::Value ids(rapidjson::kArrayType);
  auto add_id = [&](const std::string& system, const std::string& value) {
    rapidjson::Value i(rapidjson::kObjectType);
    i.AddMember("system", s(system), a);
    i.AddMember("value", s(value), a);
    ids.PushBack(i, a);
    w.identifiers.emplace_back(system, value);
  };
  if (!nhs.empty()) add_id(kNhs, nhs);
  if (!local.empty()) add_id(local_system, local);
  d.AddMember("identifier", ids, a);
  rapidjson::Value name(rapidjson::kObjectType);
  name.AddMember("family", s(p.family), a);
  rapidjson::Value given(rapidjson::kArrayType);
  given.PushBack(s(p.given), a);
  name.AddMember("given", given, a);
  rapidjson::Value names(rapidjson::kArrayType);
  names.PushBack(name, a);
  d.AddMember("name", names, a);
  d.AddMember("gender", s(p.gender), a);
  d.AddMember("birthDate", s(p.birth), a);
  w.event_time_ms = 1000;
  w.only_if_absent = only_if_absent;
  return w;
}

ResourceWrite encounter(const std::string& id, const std::string& registration) {
  ResourceWrite w;
  w.type = "Encounter";
  w.id = id;
  w.patient_id = registration;
  w.resource.Parse(("{\"resourceType\":\"Encounter\",\"id\":\"" + id + "\"}").c_str());
  w.event_time_ms = 1000;
  return w;
}

// A GP Patient whose current NHS number is 9990000026 and whose superseded one (use "old") is 9990000018.
ResourceWrite gp_replacing_9990000018() {
  ResourceWrite gp = patient("gp", "9990000026", "", "");
  auto& a = gp.resource.GetAllocator();
  rapidjson::Value old(rapidjson::kObjectType);
  old.AddMember("system", rapidjson::Value(kNhs.c_str(), a), a);
  old.AddMember("value", "9990000018", a);
  old.AddMember("use", "old", a);
  gp.resource["identifier"].PushBack(old, a);
  return gp;
}

// ResourceWrite moves only (its Document), so no initializer lists.
template <typename... W>
std::vector<ResourceWrite> writes(W&&... w) {
  std::vector<ResourceWrite> out;
  (out.push_back(std::forward<W>(w)), ...);
  return out;
}

class PatientIndex : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = SqliteRecordStore::open(dir.path());
    ASSERT_TRUE(r) << r.error().message;
    store = std::move(r).value();
  }
  MappedBatchItem& add(std::vector<ResourceWrite> writes, const std::string& feed = "pas") {
    MappedBatchItem it;
    it.inbox_id = ++inbox;
    it.outcome = "mapped";
    it.provenance = Provenance{feed, "RXX", "C" + std::to_string(inbox), 1'700'000'000'000 + inbox, inbox};
    it.writes = std::move(writes);
    pending.push_back(std::move(it));
    return pending.back();
  }
  void apply() {
    Status st = store->apply(pending);
    ASSERT_TRUE(st.ok()) << st.error().message;
    pending.clear();
  }
  void write(std::vector<ResourceWrite> writes, const std::string& feed = "pas") {
    add(std::move(writes), feed);
    apply();
  }
  void merge(const std::string& surviving, const std::string& retired) {
    auto& it = add(writes());
    it.identity_events.push_back({"merge", surviving, "urn:mrn", "X", retired, "A40 test merge"});
    apply();
  }
  int64_t encounters_of(const std::string& patient) { return store->search_patient("Encounter", patient, 0, 50).total; }
  std::vector<WorklistEntry> open_items(const std::string& kind) {
    std::vector<WorklistEntry> out;
    for (auto& e : store->worklist(true, 100))
      if (e.kind == kind) out.push_back(e);
    return out;
  }

  TempDir dir;
  std::unique_ptr<SqliteRecordStore> store;
  std::vector<MappedBatchItem> pending;
  int64_t inbox = 0;
};

TEST_F(PatientIndex, GpHospitalAndSocialCareEndAsOnePatient) {
  const std::string person = identity::regional_patient_id("9990000018");
  write(writes(patient("gp", "9990000018", "", ""), encounter("e-gp", "gp")), "gp");
  write(writes(patient("h", "9990000018", "urn:mrn", "RBT1"), encounter("e-h", "h")), "pas");
  // Social care knows the person only by its own id at first: kept apart, on the matching work-list.
  write(writes(patient("sc", "", "urn:sc", "SC1", {}, true), encounter("e-sc", "sc")), "social");
  EXPECT_EQ(store->person_of("sc"), "sc");
  EXPECT_EQ(encounters_of(person), 2);
  auto tasks = store->identity_worklist(10);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].registration_id, "sc");
  ASSERT_FALSE(tasks[0].candidates.empty());
  EXPECT_EQ(tasks[0].candidates[0].patient_id, person);
  EXPECT_EQ(tasks[0].candidates[0].nhs_number, "9990000018");
  EXPECT_EQ(store->person_of("sc"), "sc") << "a candidate is never joined automatically";
  // Its next row carries the NHS number (the Patient itself is written only when absent): joined.
  write(writes(patient("sc", "9990000018", "urn:sc", "SC1", {}, true)), "social");
  EXPECT_EQ(store->person_of("sc"), person);
  EXPECT_TRUE(store->identity_worklist(10).empty());
  EXPECT_EQ(encounters_of(person), 3);
  EXPECT_EQ(encounters_of("h"), 3) << "any registration's id reads the whole patient";

  auto read = store->read("Patient", person);
  ASSERT_TRUE(read);
  rapidjson::Document d;
  d.Parse(read->json.c_str());
  EXPECT_EQ(d["link"].Size(), 3u) << read->json;
  EXPECT_EQ(d["identifier"].Size(), 3u) << read->json;  // NHS number, hospital number, social care id
  // Any linked identifier finds the one patient.
  for (const char* value : {"9990000018", "RBT1", "SC1"}) {
    auto found = store->search_identifier("Patient", std::nullopt, value, 0, 10);
    ASSERT_EQ(found.total, 1) << value;
    EXPECT_EQ(found.items[0].id, person) << value;
  }
}

TEST_F(PatientIndex, TwoPeopleWithTheSameNameAndBirthDateDoNotMerge) {
  write(writes(patient("a", "", "urn:mrn", "A1"), encounter("e-a", "a")));
  write(writes(patient("b", "", "urn:mrn", "B1"), encounter("e-b", "b")));
  EXPECT_EQ(encounters_of("a"), 1);
  EXPECT_EQ(encounters_of("b"), 1);
  auto tasks = store->identity_worklist(10);
  ASSERT_EQ(tasks.size(), 2u);
  for (auto& t : tasks) {
    ASSERT_EQ(t.candidates.size(), 1u);
    EXPECT_EQ(t.candidates[0].patient_id, t.registration_id == "a" ? "b" : "a");
  }
  // With different NHS numbers they are two regional patients.
  write(writes(patient("c", "9990000018", "urn:mrn", "C1"), encounter("e-c", "c")));
  write(writes(patient("d", "9990000026", "urn:mrn", "D1"), encounter("e-d", "d")));
  EXPECT_NE(store->person_of("c"), store->person_of("d"));
  EXPECT_EQ(encounters_of("c"), 1);
}

TEST_F(PatientIndex, ARightNhsNumberWithAWrongBirthDateIsHeld) {
  write(writes(patient("gp", "9990000018", "", ""), encounter("e-gp", "gp")), "gp");
  Person wrong;
  wrong.birth = "1980-03-01";
  write(writes(patient("h", "9990000018", "urn:mrn", "RBT1", wrong), encounter("e-h", "h")));
  const std::string person = identity::regional_patient_id("9990000018");
  EXPECT_EQ(store->person_of("h"), "h");
  EXPECT_EQ(encounters_of(person), 1) << "the held registration's data are not on the regional record";
  auto conflicts = open_items("identity-conflict");
  ASSERT_EQ(conflicts.size(), 1u);
  EXPECT_EQ(conflicts[0].patient_id, "h");
  EXPECT_NE(conflicts[0].detail.find("birth date"), std::string::npos) << conflicts[0].detail;
  ASSERT_EQ(store->identity_worklist(10).size(), 1u);
  EXPECT_EQ(store->identity_worklist(10)[0].state, "held");
  // The PAS corrects the birth date: the next message joins it and the item is resolved.
  write(writes(patient("h", "9990000018", "urn:mrn", "RBT1")));
  EXPECT_EQ(store->person_of("h"), person);
  EXPECT_TRUE(open_items("identity-conflict").empty());
  EXPECT_EQ(encounters_of(person), 2);
}

TEST_F(PatientIndex, AnA40MergeMovesARegistrationWithoutAnNhsNumberAndUnmergeRestoresIt) {
  write(writes(patient("h1", "9990000018", "urn:mrn", "M1"), encounter("e1", "h1")));
  Person other;
  other.given = "J";
  write(writes(patient("h2", "", "urn:mrn", "M2", other), encounter("e2", "h2"), encounter("e3", "h2")));
  const std::string person = identity::regional_patient_id("9990000018");
  EXPECT_EQ(encounters_of(person), 1);
  merge("h1", "h2");
  EXPECT_EQ(store->person_of("h2"), person);
  EXPECT_EQ(encounters_of(person), 3);
  EXPECT_TRUE(store->identity_worklist(10).empty());

  auto undone = store->resolve_identity("unmerge", "Patient/h2", "", "user:ana", "wrong merge");
  ASSERT_TRUE(undone) << undone.error().message;
  EXPECT_EQ(undone->patient_id, "h2");
  EXPECT_EQ(undone->moved, 1);
  EXPECT_EQ(encounters_of(person), 1);
  EXPECT_EQ(encounters_of("h2"), 2);
  EXPECT_EQ(store->identity_worklist(10).size(), 1u) << "back on the work-list as it was";
  // Nothing more to undo.
  EXPECT_FALSE(store->resolve_identity("unmerge", "h2", "", "user:ana", "again"));
}

TEST_F(PatientIndex, AMergeOfTwoDifferentNhsNumbersGoesToAPerson) {
  write(writes(patient("h1", "9990000018", "urn:mrn", "M1"), encounter("e1", "h1")));
  write(writes(patient("h2", "9990000026", "urn:mrn", "M2"), encounter("e2", "h2")));
  merge("h1", "h2");
  EXPECT_NE(store->person_of("h1"), store->person_of("h2"));
  auto conflicts = open_items("merge-conflict");
  ASSERT_EQ(conflicts.size(), 1u);
  EXPECT_NE(conflicts[0].detail.find("9990000026"), std::string::npos);
}

TEST_F(PatientIndex, APersonLinksMarksNewAndRejects) {
  write(writes(patient("gp", "9990000018", "", ""), encounter("e-gp", "gp")), "gp");
  write(writes(patient("sc", "", "urn:sc", "SC1"), encounter("e-sc", "sc")), "social");
  const std::string person = identity::regional_patient_id("9990000018");
  EXPECT_FALSE(store->resolve_identity("link", "nobody", person, "user:ana", "x"));
  EXPECT_FALSE(store->resolve_identity("link", "sc", "nobody", "user:ana", "x"));
  EXPECT_FALSE(store->resolve_identity("merge-all", "sc", "", "user:ana", "x"));
  auto linked = store->resolve_identity("link", "sc", "Patient/" + person, "user:ana", "confirmed by phone");
  ASSERT_TRUE(linked) << linked.error().message;
  EXPECT_EQ(linked->patient_id, person);
  EXPECT_EQ(linked->state, "linked");
  EXPECT_EQ(encounters_of(person), 2);
  // A link can be undone like a merge.
  ASSERT_TRUE(store->resolve_identity("unmerge", "sc", "", "user:ana", "wrong person"));
  EXPECT_EQ(store->person_of("sc"), "sc");
  // New: off the work-list, its own patient.
  auto fresh = store->resolve_identity("new", "sc", "", "user:ana", "a different person");
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->state, "new");
  EXPECT_TRUE(store->identity_worklist(10).empty());
  // Rejected: even its source's NHS number no longer joins it.
  ASSERT_TRUE(store->resolve_identity("reject", "sc", "", "user:ana", "test record"));
  write(writes(patient("sc", "9990000018", "urn:sc", "SC1")), "social");
  EXPECT_EQ(store->person_of("sc"), "sc");
}

// What a reader keeps about a person (governance's facts) stands until a write touches that person:
// a resource filed under any of their registrations, a registration joining or leaving them. Writes
// for other patients leave it be.
TEST_F(PatientIndex, APersonsStampMovesOnlyWithWritesThatTouchThem) {
  const std::string person = identity::regional_patient_id("9990000018");
  write(writes(patient("gp", "9990000018", "", ""), encounter("e-gp", "gp")), "gp");
  write(writes(patient("other", "9990000026", "", "", Person{"JONES", "AMY", "1980-01-01", "female"}),
               encounter("e-other", "other")), "gp");
  // Two ids may share a stripe (then one's writes move the other's stamp too): these must not.
  for (const char* id : {"gp", "h", "sc"})
    ASSERT_NE(SqliteRecordStore::stripe_of(id), SqliteRecordStore::stripe_of("other")) << id;
  for (const char* id : {"gp", "h", "sc", "other"})
    ASSERT_NE(SqliteRecordStore::stripe_of(id), SqliteRecordStore::stripe_of(store->person_of("other"))) << id;
  auto stamp = store->person_stamp(person);
  ASSERT_TRUE(stamp);
  EXPECT_TRUE(store->unchanged(*stamp));

  // While a write for them is under way (inside its transaction, before the commit) nothing about
  // them may be kept: the stamp is refused and an earlier one no longer holds. Others are unaffected.
  auto other_before = store->person_stamp(store->person_of("other"));
  ASSERT_TRUE(other_before);
  bool checked = false;
  store->set_before_commit([&] {
    EXPECT_FALSE(store->person_stamp(person)) << "a write for them is under way";
    EXPECT_FALSE(store->unchanged(*stamp));
    EXPECT_TRUE(store->unchanged(*other_before));
    EXPECT_TRUE(store->person_stamp(store->person_of("other")));
    checked = true;
  });
  write(writes(encounter("e-gp-0", "gp")));
  store->set_before_commit(nullptr);
  ASSERT_TRUE(checked);
  EXPECT_FALSE(store->unchanged(*stamp)) << "and once it is committed";
  stamp = store->person_stamp(person);
  ASSERT_TRUE(stamp) << "a new stamp once the write is over";

  write(writes(encounter("e-other-2", "other")));
  EXPECT_TRUE(store->unchanged(*stamp)) << "another patient's encounter";

  write(writes(encounter("e-gp-2", "gp")));
  EXPECT_FALSE(store->unchanged(*stamp)) << "an encounter filed under their registration";

  stamp = store->person_stamp(person);
  ASSERT_TRUE(stamp);
  write(writes(patient("h", "9990000018", "urn:mrn", "RBT1")), "pas");
  ASSERT_EQ(store->person_of("h"), person);
  EXPECT_FALSE(store->unchanged(*stamp)) << "a hospital registration joining them";

  stamp = store->person_stamp(person);
  ASSERT_TRUE(stamp);
  write(writes(encounter("e-h", "h")));
  EXPECT_FALSE(store->unchanged(*stamp)) << "an encounter filed under the registration that joined";

  write(writes(patient("sc", "", "urn:sc", "SC1"), encounter("e-sc", "sc")), "social");
  ASSERT_TRUE(store->resolve_identity("link", "sc", "Patient/" + person, "user:ana", "confirmed by phone"));
  stamp = store->person_stamp(person);
  ASSERT_TRUE(stamp);
  auto other = store->person_stamp(store->person_of("other"));
  ASSERT_TRUE(other);
  ASSERT_TRUE(store->resolve_identity("unmerge", "sc", "", "user:ana", "wrong person"));
  EXPECT_FALSE(store->unchanged(*stamp)) << "a registration leaving them";
  EXPECT_TRUE(store->unchanged(*other)) << "a link that is not theirs";
}

TEST_F(PatientIndex, ASupersededNhsNumberMovesItsPatientToTheNewNumber) {
  write(writes(patient("h", "9990000018", "urn:mrn", "M1"), encounter("e-h", "h")));
  ResourceWrite gp = gp_replacing_9990000018();
  write(writes(std::move(gp), encounter("e-gp", "gp")), "gp");
  const std::string current = identity::regional_patient_id("9990000026");
  EXPECT_EQ(store->person_of("h"), current);
  EXPECT_EQ(encounters_of(current), 2);
  // The hospital still sends the old number: read as the new one, nothing moves back.
  write(writes(patient("h", "9990000018", "urn:mrn", "M1")));
  EXPECT_EQ(store->person_of("h"), current);
  EXPECT_EQ(store->search_identifier("Patient", std::nullopt, "9990000018", 0, 10).items.at(0).id, current);
}

TEST_F(PatientIndex, ASupersededNumberWhosePatientDisagreesMovesNothing) {
  Person other;
  other.birth = "1990-01-01";
  write(writes(patient("h", "9990000018", "urn:mrn", "M1", other), encounter("e-h", "h")));
  ResourceWrite gp = gp_replacing_9990000018();
  write(writes(std::move(gp)), "gp");
  EXPECT_EQ(store->person_of("h"), identity::regional_patient_id("9990000018"));
  EXPECT_EQ(open_items("identity-conflict").size(), 1u);
}

TEST_F(PatientIndex, SurvivesReopenAndAMessageMappedAgainDoesNotMergeAgain) {
  write(writes(patient("h1", "9990000018", "urn:mrn", "M1")));
  write(writes(patient("h2", "", "urn:mrn", "M2")));
  auto& it = add(writes());
  it.identity_events.push_back({"merge", "h1", "urn:mrn", "M2", "h2", "A40"});
  std::vector<MappedBatchItem> again;
  MappedBatchItem copy;
  copy.inbox_id = it.inbox_id;
  copy.outcome = "mapped";
  copy.provenance = it.provenance;
  copy.identity_events = it.identity_events;
  again.push_back(std::move(copy));
  apply();
  ASSERT_TRUE(store->resolve_identity("unmerge", "h2", "", "user:ana", "undo"));
  ASSERT_TRUE(store->apply_remap(again).ok());
  EXPECT_EQ(store->person_of("h2"), "h2") << "a re-map does not redo an undone merge";
  store.reset();
  auto r = SqliteRecordStore::open(dir.path());
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value()->person_of("h1"), identity::regional_patient_id("9990000018"));
}

}  // namespace
}  // namespace cc::store
