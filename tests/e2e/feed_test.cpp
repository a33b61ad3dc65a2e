// End to end over real sockets: ADT in over MLLP, Patient and Encounter out over FHIR REST;
// AA / AE / AR, idempotent resends, control-id reuse, ordering, tokens, late updates, shutdown.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <sqlite3.h>

#include <chrono>
#include <atomic>
#include <fstream>
#include <map>
#include <functional>
#include <memory>
#include <thread>

#include "tests/e2e/harness.h"
#include "tests/mapping/fhir_schema.h"

namespace cc::test {
namespace {

const std::string kNhsSystem = "https://fhir.nhs.uk/Id/nhs-number";

struct Adt {
  std::string event = "A01";
  std::string control_id = "MSG0001";
  std::string mrn = "RBT1000001";
  std::string nhs = "9990000018";
  std::string family = "SMITH";
  std::string given = "JANE";
  std::string time = "20260315101500";  // GMT
  std::string visit = "V0001";
  std::string processing_id = "P";
  std::string version = "2.4";
  std::string facility = "RBT";
  std::string text() const {
    std::string pid3 = mrn + "^^^RBT^MR";
    if (!nhs.empty()) pid3 += "~" + nhs + "^^^NHS^NH";
    return "MSH|^~\\&|PAS|" + facility + "|CARERECORD|CHESHIRE|" + time + "||ADT^" + event + "^ADT_A01|" + control_id +
           "|" + processing_id + "|" + version + "\r" + "EVN|" + event + "|" + time + "\r" + "PID|1||" + pid3 + "||" +
           family + "^" + given + "^^^MRS||19700101|F|||1 Church Lane^^CREWE^CHESHIRE^CW1 2AB^GBR^H\r" +
           "PV1|1|I|WD7^^12^RBT20||||C4123456^PATEL^RAJ^^^DR|||300|||||||||" + visit + "^^^RBT^VN|||||||||||||||||||||||||" +
           time + "\r";
  }
};

class FeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine = std::make_unique<EngineProcess>(dir.path + "/data");
    token = run_carerecord({"token", "--role", "ae-clinician", "--user", "dr.test", "--org", "RBT", "--data-dir",
                            dir.path + "/data"});
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    admin = run_carerecord({"token", "--role", "integration-admin", "--user", "it.admin", "--org", "RBT",
                            "--data-dir", dir.path + "/data"});
    admin.erase(admin.find_last_not_of("\r\n") + 1);
  }
  // The id of the one Patient with this identifier, once the record builder has mapped it.
  std::string patient_id_once_mapped(const std::string& identifier) {
    auto r = get_until(engine->http_port(), "/fhir/Patient?identifier=" + identifier, token,
                       [](const HttpResult& h) { return total_of(h) == 1; });
    if (total_of(r) != 1) {
      ADD_FAILURE() << "no single Patient with identifier " << identifier << ": " << r.body;
      return "";
    }
    // The source's own Patient (its registration, versioned), which the regional patient links to.
    auto doc = json(r.body);
    auto& patient = doc["entry"][0]["resource"];
    // The clinician records the patient's permission to view: an encounter may be over by now.
    EXPECT_EQ(record_access(engine->http_port(), token, patient["id"].GetString()), 200);
    if (patient.HasMember("link")) return std::string(patient["link"][0]["other"]["reference"].GetString()).substr(8);
    return patient["id"].GetString();
  }
  TempDir dir;
  std::unique_ptr<EngineProcess> engine;
  std::string token;  // an A&E clinician
  std::string admin;  // an integration administrator (the work-list)
};

TEST_F(FeedTest, AdmissionBecomesPatientAndEncounterOverFhir) {
  MllpClient c(engine->mllp_port());
  Adt m;
  std::string ack = c.exchange(m.text());
  EXPECT_EQ(hl7_field(ack, "MSA", 1), "AA") << ack;
  EXPECT_EQ(hl7_field(ack, "MSA", 2), "MSG0001");
  // The ACK mirrors the sender: MSH-3/4 and MSH-5/6 swapped.
  EXPECT_EQ(hl7_field(ack, "MSH", 3), "CARERECORD");
  EXPECT_EQ(hl7_field(ack, "MSH", 4), "CHESHIRE");
  EXPECT_EQ(hl7_field(ack, "MSH", 5), "PAS");
  EXPECT_EQ(hl7_field(ack, "MSH", 6), "RBT");

  auto r = get_until(engine->http_port(), "/fhir/Patient?identifier=" + kNhsSystem + "|9990000018", token,
                     [](const HttpResult& h) { return total_of(h) == 1; });
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.content_type.find("application/fhir+json"), std::string::npos);
  auto bundle = json(r.body);
  ASSERT_EQ(bundle["total"].GetInt(), 1) << r.body;
  auto& patient = bundle["entry"][0]["resource"];
  std::string id = patient["id"].GetString();
  EXPECT_STREQ(patient["name"][0]["family"].GetString(), "SMITH");
  // The regional patient, made from the hospital's registration (a versioned Patient of its own).
  ASSERT_TRUE(patient.HasMember("link")) << r.body;
  ASSERT_EQ(patient["link"].Size(), 1u);
  const std::string registration = patient["link"][0]["other"]["reference"].GetString();
  auto reg = http_get(engine->http_port(), "/fhir/" + registration, token);
  ASSERT_EQ(reg.status, 200) << reg.body;
  EXPECT_STREQ(json(reg.body)["meta"]["versionId"].GetString(), "1");

  // The hospital number alone finds the same patient.
  auto by_mrn = http_get(engine->http_port(), "/fhir/Patient?identifier=RBT1000001", token);
  EXPECT_EQ(total_of(by_mrn), 1) << by_mrn.body;

  auto read = http_get(engine->http_port(), "/fhir/Patient/" + id, token);
  EXPECT_EQ(read.status, 200);
  EXPECT_EQ(json(read.body)["id"].GetString(), id);

  auto enc = get_until(engine->http_port(), "/fhir/Encounter?patient=Patient/" + id, token,
                       [](const HttpResult& h) { return total_of(h) == 1; });
  ASSERT_EQ(total_of(enc), 1) << enc.body;
  auto eb = json(enc.body);
  EXPECT_STREQ(eb["entry"][0]["resource"]["status"].GetString(), "in-progress");
  EXPECT_STREQ(eb["entry"][0]["resource"]["class"]["code"].GetString(), "IMP");
}

TEST_F(FeedTest, DischargeMakesANewVersionAndHistoryKeepsBoth) {
  MllpClient c(engine->mllp_port());
  Adt admit;
  ASSERT_EQ(hl7_field(c.exchange(admit.text()), "MSA", 1), "AA");
  Adt discharge = admit;
  discharge.event = "A03";
  discharge.control_id = "MSG0002";
  discharge.time = "20260316090000";
  ASSERT_EQ(hl7_field(c.exchange(discharge.text()), "MSA", 1), "AA");
  std::string id = patient_id_once_mapped("9990000018");
  auto enc = get_until(engine->http_port(), "/fhir/Encounter?patient=" + id, token, [](const HttpResult& h) {
    return h.body.find("\"finished\"") != std::string::npos;
  });
  auto eb = json(enc.body);
  ASSERT_EQ(eb["total"].GetInt(), 1) << enc.body;
  std::string eid = eb["entry"][0]["resource"]["id"].GetString();
  EXPECT_STREQ(eb["entry"][0]["resource"]["status"].GetString(), "finished");
  auto hist = http_get(engine->http_port(), "/fhir/Encounter/" + eid + "/_history", token);
  ASSERT_EQ(hist.status, 200);
  auto hb = json(hist.body);
  EXPECT_STREQ(hb["type"].GetString(), "history");
  EXPECT_EQ(hb["total"].GetInt(), 2);
  auto v1 = http_get(engine->http_port(), "/fhir/Encounter/" + eid + "/_history/1", token);
  EXPECT_EQ(v1.status, 200);
  EXPECT_STREQ(json(v1.body)["status"].GetString(), "in-progress");
}

TEST_F(FeedTest, LateOldUpdateIsKeptInHistoryButDoesNotOverwrite) {
  MllpClient c(engine->mllp_port());
  Adt newer;
  newer.event = "A08";
  newer.control_id = "NEW";
  newer.family = "JONES";  // married name, updated at 12:00
  newer.time = "20260601120000";
  Adt older = newer;
  older.control_id = "OLD";
  older.family = "SMITH";  // the 09:00 update, delivered late
  older.time = "20260601090000";
  ASSERT_EQ(hl7_field(c.exchange(newer.text()), "MSA", 1), "AA");
  ASSERT_EQ(hl7_field(c.exchange(older.text()), "MSA", 1), "AA");
  std::string id = patient_id_once_mapped("9990000018");
  auto hist = get_until(engine->http_port(), "/fhir/Patient/" + id + "/_history", token,
                        [](const HttpResult& h) { return total_of(h) == 2; });
  ASSERT_EQ(total_of(hist), 2) << hist.body;
  auto current = http_get(engine->http_port(), "/fhir/Patient/" + id, token);
  EXPECT_STREQ(json(current.body)["name"][0]["family"].GetString(), "JONES") << current.body;
}

TEST_F(FeedTest, BadNhsNumberIsAEWithErrNamingPid3AndListedOnWorklist) {
  MllpClient c(engine->mllp_port());
  Adt m;
  m.nhs = "9990000019";  // check digit wrong
  m.version = "2.5";
  std::string ack = c.exchange(m.text());
  EXPECT_EQ(hl7_field(ack, "MSA", 1), "AE") << ack;
  std::string err_location = hl7_field(ack, "ERR", 2);
  EXPECT_EQ(err_location.substr(0, 8), "PID^1^3^") << ack;
  EXPECT_EQ(hl7_field(ack, "ERR", 3).substr(0, 3), "102") << ack;
  EXPECT_NE(hl7_field(ack, "ERR", 8).find("9990000019"), std::string::npos) << ack;

  // Kept under the local identifier only, never under the NHS number system.
  auto by_mrn = get_until(engine->http_port(), "/fhir/Patient?identifier=RBT1000001", token,
                          [](const HttpResult& h) { return total_of(h) == 1; });
  ASSERT_EQ(total_of(by_mrn), 1);
  auto by_nhs = http_get(engine->http_port(), "/fhir/Patient?identifier=" + kNhsSystem + "|9990000019", token);
  EXPECT_EQ(total_of(by_nhs), 0) << by_nhs.body;

  auto wl = http_get(engine->http_port(), "/admin/worklist", admin);
  EXPECT_EQ(wl.status, 200);
  EXPECT_NE(wl.body.find("invalid-nhs-number"), std::string::npos) << wl.body;
  // A clinician's token does not open the work-list.
  EXPECT_EQ(http_get(engine->http_port(), "/admin/worklist", token).status, 403);
}

TEST_F(FeedTest, Version23ErrUsesErr1Layout) {
  MllpClient c(engine->mllp_port());
  Adt m;
  m.nhs = "9990000019";
  m.version = "2.3";
  std::string ack = c.exchange(m.text());
  EXPECT_EQ(hl7_field(ack, "MSA", 1), "AE");
  EXPECT_EQ(hl7_field(ack, "ERR", 1).substr(0, 10), "PID^1^3^10") << ack;
}

TEST_F(FeedTest, MissingNhsNumberIsAAThenResolvedWhenANumberArrives) {
  MllpClient c(engine->mllp_port());
  Adt m;
  m.nhs = "";
  m.event = "A04";
  ASSERT_EQ(hl7_field(c.exchange(m.text()), "MSA", 1), "AA");
  auto wl = get_until(engine->http_port(), "/admin/worklist", admin, [](const HttpResult& h) {
    return h.body.find("no-nhs-number") != std::string::npos;
  });
  EXPECT_NE(wl.body.find("no-nhs-number"), std::string::npos) << wl.body;
  Adt traced = m;
  traced.event = "A08";
  traced.control_id = "MSG0002";
  traced.nhs = "9990000018";
  traced.time = "20260315111500";
  ASSERT_EQ(hl7_field(c.exchange(traced.text()), "MSA", 1), "AA");
  auto open = get_until(engine->http_port(), "/admin/worklist", admin, [](const HttpResult& h) {
    return h.body.find("no-nhs-number") == std::string::npos;
  });
  EXPECT_EQ(open.body.find("no-nhs-number"), std::string::npos) << open.body;
  auto cli = run_carerecord({"worklist", "--all", "--data-dir", dir.path + "/data"});
  EXPECT_NE(cli.find("no-nhs-number"), std::string::npos) << cli;
  EXPECT_NE(cli.find("resolved"), std::string::npos) << cli;
  // The command printed patient data, so it is on the trail (the local operator, the command), and
  // the chain holds with the running engine writing beside it.
  auto trail = run_carerecord({"audit", "list", "--data-dir", dir.path + "/data"});
  EXPECT_NE(trail.find("action=cli-worklist"), std::string::npos) << trail;
  EXPECT_NE(trail.find("role=local-operator"), std::string::npos) << trail;
  ASSERT_EQ(http_get(engine->http_port(), "/admin/worklist", admin).status, 200);
  EXPECT_NE(run_carerecord({"audit", "verify", "--data-dir", dir.path + "/data"}).find("verified"), std::string::npos);
}

TEST_F(FeedTest, SameKeySameContentGetsTheFirstAckAndIsNotProcessedAgain) {
  MllpClient c(engine->mllp_port());
  Adt m;
  std::string first = c.exchange(m.text());
  std::string second = c.exchange(m.text());
  EXPECT_EQ(first, second);  // byte for byte: the ACK it got the first time
  std::string id = patient_id_once_mapped("9990000018");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto hist = http_get(engine->http_port(), "/fhir/Patient/" + id + "/_history", token);
  EXPECT_EQ(total_of(hist), 1) << hist.body;
}

TEST_F(FeedTest, SameKeyDifferentContentIsProcessedAndFlagged) {
  MllpClient c(engine->mllp_port());
  Adt m;
  ASSERT_EQ(hl7_field(c.exchange(m.text()), "MSA", 1), "AA");
  Adt corrected = m;
  corrected.given = "JANET";
  corrected.time = "20260315101600";
  ASSERT_EQ(hl7_field(c.exchange(corrected.text()), "MSA", 1), "AA");
  auto p = get_until(engine->http_port(), "/fhir/Patient?identifier=9990000018", token, [](const HttpResult& h) {
    return h.body.find("JANET") != std::string::npos;
  });
  EXPECT_NE(p.body.find("JANET"), std::string::npos) << p.body;
  auto wl = get_until(engine->http_port(), "/admin/worklist", admin, [](const HttpResult& h) {
    return h.body.find("control-id-reused") != std::string::npos;
  });
  EXPECT_NE(wl.body.find("control-id-reused"), std::string::npos) << wl.body;
}

TEST_F(FeedTest, ManyInFlightOnOneConnectionAreAnsweredInOrder) {
  MllpClient c(engine->mllp_port());
  std::string burst;
  for (int i = 0; i < 200; ++i) {
    Adt m;
    m.control_id = "BURST" + std::to_string(i);
    m.mrn = "RBT2" + std::to_string(100000 + i);
    m.nhs = "";
    burst += "\x0b" + m.text() + "\x1c\x0d";
  }
  c.send_raw(burst);  // all 200 before reading any ACK
  for (int i = 0; i < 200; ++i) {
    std::string ack = c.receive();
    ASSERT_EQ(hl7_field(ack, "MSA", 2), "BURST" + std::to_string(i));
    EXPECT_EQ(hl7_field(ack, "MSA", 1), "AA");
  }
}

TEST_F(FeedTest, ConcurrentConnectionsAllGetTheirAcks) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      MllpClient c(engine->mllp_port());
      for (int i = 0; i < 25; ++i) {
        Adt m;
        m.control_id = "C" + std::to_string(t) + "-" + std::to_string(i);
        m.mrn = "RBT3" + std::to_string(t * 1000 + i);
        m.nhs = "";
        auto ack = c.exchange(m.text());
        if (hl7_field(ack, "MSA", 1) == "AA" && hl7_field(ack, "MSA", 2) == m.control_id) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 200);
}

TEST_F(FeedTest, GarbageInsideAFrameIsARAndTheConnectionSurvives) {
  MllpClient c(engine->mllp_port());
  std::string ack = c.exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(hl7_field(ack, "MSA", 1), "AR") << ack;
  EXPECT_FALSE(hl7_field(ack, "ERR", 8).empty()) << ack;
  Adt m;
  EXPECT_EQ(hl7_field(c.exchange(m.text()), "MSA", 1), "AA");
}

TEST_F(FeedTest, BytesOutsideFramingAreIgnoredAndFramedMessagesStillAnswered) {
  MllpClient c(engine->mllp_port());
  Adt m;
  c.send_raw("hello there\r\n");
  EXPECT_EQ(hl7_field(c.exchange(m.text()), "MSA", 1), "AA");
}

TEST_F(FeedTest, ProcessingIdNotAcceptedIsAR) {
  MllpClient c(engine->mllp_port());
  Adt m;
  m.processing_id = "D";  // the development feed accepts P and T
  m.version = "2.5";
  std::string ack = c.exchange(m.text());
  EXPECT_EQ(hl7_field(ack, "MSA", 1), "AR") << ack;
  EXPECT_EQ(hl7_field(ack, "ERR", 3).substr(0, 3), "202") << ack;
  // Not stored: a resend with an accepted processing id is processed normally.
  m.processing_id = "P";
  EXPECT_EQ(hl7_field(c.exchange(m.text()), "MSA", 1), "AA");
}

TEST_F(FeedTest, RequestsWithoutAValidTokenGet401) {
  auto none = http_get(engine->http_port(), "/fhir/Patient?identifier=9990000018", "");
  EXPECT_EQ(none.status, 401);
  EXPECT_NE(none.body.find("OperationOutcome"), std::string::npos);
  auto bad = http_get(engine->http_port(), "/fhir/Patient?identifier=9990000018", token + "x");
  EXPECT_EQ(bad.status, 401);
  auto health = http_get(engine->http_port(), "/healthz", "");
  EXPECT_EQ(health.status, 200);
  auto meta = http_get(engine->http_port(), "/fhir/metadata", "");
  EXPECT_EQ(meta.status, 200);
  EXPECT_NE(meta.body.find("CapabilityStatement"), std::string::npos);
}

TEST_F(FeedTest, ErrorsAreOperationOutcomesWithTheRightStatus) {
  EXPECT_EQ(http_get(engine->http_port(), "/fhir/Patient/does-not-exist", token).status, 404);
  EXPECT_EQ(http_get(engine->http_port(), "/fhir/Observation/x", token).status, 404);
  auto bad_param = http_get(engine->http_port(), "/fhir/Patient?name=SMITH", token);
  EXPECT_EQ(bad_param.status, 400);
  EXPECT_NE(bad_param.body.find("OperationOutcome"), std::string::npos);
  EXPECT_EQ(http_get(engine->http_port(), "/fhir/Patient", token).status, 400);
  EXPECT_EQ(http_get(engine->http_port(), "/fhir/Patient/bad$id", token).status, 400);
  EXPECT_EQ(http_get(engine->http_port(), "/fhir/Patient?identifier=x&_count=0", token).status, 400);
}

TEST_F(FeedTest, SearchPagesWithLinks) {
  MllpClient c(engine->mllp_port());
  for (int i = 0; i < 5; ++i) {
    Adt m;
    m.control_id = "PG" + std::to_string(i);
    m.visit = "V" + std::to_string(i);
    m.time = "2026031510" + std::to_string(10 + i) + "00";
    ASSERT_EQ(hl7_field(c.exchange(m.text()), "MSA", 1), "AA");
  }
  std::string id = patient_id_once_mapped("9990000018");
  auto page = get_until(engine->http_port(), "/fhir/Encounter?patient=Patient/" + id + "&_count=2", token,
                        [](const HttpResult& h) { return total_of(h) == 5; });
  auto b = json(page.body);
  ASSERT_EQ(b["total"].GetInt(), 5) << page.body;
  EXPECT_EQ(b["entry"].Size(), 2u);
  bool has_next = false;
  for (auto& l : b["link"].GetArray())
    if (std::string(l["relation"].GetString()) == "next") {
      has_next = true;
      EXPECT_NE(std::string(l["url"].GetString()).find("_offset=2"), std::string::npos);
    }
  EXPECT_TRUE(has_next) << page.body;
}

TEST_F(FeedTest, EveryReadOfPatientDataIsAuditedBeforeTheResponse) {
  MllpClient c(engine->mllp_port());
  Adt m;
  ASSERT_EQ(hl7_field(c.exchange(m.text()), "MSA", 1), "AA");
  std::string id = patient_id_once_mapped("9990000018");
  ASSERT_EQ(http_get(engine->http_port(), "/fhir/Patient/" + id, token).status, 200);
  // The audit row is durable by the time the response arrived: read it straight from the file.
  auto out = run_carerecord({"audit", "list", "--data-dir", dir.path + "/data"});
  EXPECT_NE(out.find("dr.test"), std::string::npos) << out;
  EXPECT_NE(out.find("Patient/" + id), std::string::npos) << out;
}

TEST_F(FeedTest, SigtermShutsDownCleanly) {
  MllpClient c(engine->mllp_port());
  Adt m;
  ASSERT_EQ(hl7_field(c.exchange(m.text()), "MSA", 1), "AA");
  EXPECT_EQ(engine->terminate(), 0);
  EXPECT_TRUE(c.closed_by_peer());
}


// A configured feed: only facility RBT, production messages only, a small size limit, a short idle timeout.
class ConfiguredFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string config = dir.path + "/config.json";
    FILE* f = std::fopen(config.c_str(), "w");
    std::fputs(R"({"feeds": [{"name": "mcht-pas", "owner_ods": "RBT", "sending_facilities": ["RBT"],
                 "processing_ids": ["P"], "max_message_bytes": 2048, "idle_timeout_seconds": 1,
                 "authorities": {"RBT": "https://fhir.example-trust.nhs.uk/Id/hospital-number"}}]})",
               f);
    std::fclose(f);
    engine = std::make_unique<EngineProcess>(dir.path + "/data", std::vector<std::string>{"--config", config});
    token = run_carerecord({"token", "--role", "ae-clinician", "--user", "dr.test", "--org", "RBT",
                            "--data-dir", dir.path + "/data"});
    token.erase(token.find_last_not_of("\r\n") + 1);
  }
  TempDir dir;
  std::unique_ptr<EngineProcess> engine;
  std::string token;  // a clinician: patient searches are for clinical roles
};

std::string small_adt(const std::string& facility, const std::string& control_id, const std::string& pid_extra = "") {
  return "MSH|^~\\&|PAS|" + facility + "|CARERECORD|CHESHIRE|20260315101500||ADT^A28^ADT_A05|" + control_id +
         "|P|2.5\rEVN|A28|20260315101500\rPID|1||RBT7000001^^^RBT^MR~9990000018^^^NHS^NH||DOE^JOHN" + pid_extra +
         "||19600101|M\r";
}

TEST_F(ConfiguredFeedTest, OversizedMessageIsARAndNotStoredAndTheConnectionSurvives) {
  MllpClient c(engine->mllp_port());
  std::string big = small_adt("RBT", "BIG1", std::string(4000, 'X'));
  std::string ack = c.exchange(big);
  EXPECT_EQ(hl7_field(ack, "MSA", 1), "AR") << ack;
  EXPECT_EQ(hl7_field(ack, "MSA", 2), "BIG1") << ack;
  EXPECT_NE(hl7_field(ack, "ERR", 8).find("2048"), std::string::npos) << ack;
  EXPECT_EQ(hl7_field(c.exchange(small_adt("RBT", "SMALL1")), "MSA", 1), "AA");
}

TEST_F(ConfiguredFeedTest, MessageFromAFacilityNoFeedAcceptsIsAR) {
  MllpClient c(engine->mllp_port());
  std::string ack = c.exchange(small_adt("RJR", "OTHER1"));
  EXPECT_EQ(hl7_field(ack, "MSA", 1), "AR") << ack;
  EXPECT_NE(hl7_field(ack, "ERR", 8).find("RJR"), std::string::npos) << ack;
  auto metrics = http_get(engine->http_port(), "/metrics", "");
  EXPECT_NE(metrics.body.find("carerecord_inbox_messages 0"), std::string::npos) << "an AR'd message is never stored";
}

TEST_F(ConfiguredFeedTest, ConfiguredAuthorityBecomesTheIdentifierSystem) {
  MllpClient c(engine->mllp_port());
  ASSERT_EQ(hl7_field(c.exchange(small_adt("RBT", "AUTH1")), "MSA", 1), "AA");
  HttpResult r;
  for (int i = 0; i < 200; ++i) {
    r = http_get(engine->http_port(),
                 "/fhir/Patient?identifier=https://fhir.example-trust.nhs.uk/Id/hospital-number|RBT7000001", token);
    if (r.body.find("\"total\":1") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_NE(r.body.find("\"total\":1"), std::string::npos) << r.body;
}

TEST_F(ConfiguredFeedTest, IdleConnectionIsClosedAfterTheTimeout) {
  MllpClient c(engine->mllp_port());
  EXPECT_TRUE(c.closed_by_peer(5000));
}

TEST_F(ConfiguredFeedTest, UnparseableMshIsARMirroringWhatCanBeRead) {
  MllpClient c(engine->mllp_port());
  // MSH-10 present but MSH-9 missing: the ACK still names the control id.
  std::string ack = c.exchange("MSH|^~\\&|PAS|RBT|CARERECORD|CHESHIRE|20260315101500|||CTL77|P|2.5\r");
  EXPECT_EQ(hl7_field(ack, "MSA", 1), "AR") << ack;
  EXPECT_EQ(hl7_field(ack, "MSA", 2), "CTL77") << ack;
  EXPECT_EQ(hl7_field(ack, "MSH", 5), "PAS") << ack;
  EXPECT_EQ(hl7_field(ack, "ERR", 3).substr(0, 3), "101") << ack;
}


class RecordTest : public FeedTest {};

TEST_F(RecordTest, MessageThatCannotBeMappedIsListedAsMappingFailed) {
  MllpClient c(engine->mllp_port());
  // Only an NHS number, and it fails the check: AE, and nothing can key the patient.
  std::string m = "MSH|^~\\&|PAS|RBT|CARERECORD|CHESHIRE|20260315101500||ADT^A28^ADT_A05|NOKEY1|P|2.5\r"
                  "EVN|A28|20260315101500\rPID|1||9990000019^^^NHS^NH||DOE^JOHN||19600101|M\r";
  EXPECT_EQ(hl7_field(c.exchange(m), "MSA", 1), "AE");
  auto wl = get_until(engine->http_port(), "/admin/worklist", admin, [](const HttpResult& h) {
    return h.body.find("mapping-failed") != std::string::npos;
  });
  EXPECT_NE(wl.body.find("mapping-failed"), std::string::npos) << wl.body;
  EXPECT_NE(wl.body.find("NOKEY1"), std::string::npos) << wl.body;
}

TEST_F(RecordTest, UnmappedMessageTypeIsKeptAcknowledgedAndCounted) {
  MllpClient c(engine->mllp_port());
  std::string dft = "MSH|^~\\&|LAB|RBT|CARERECORD|CHESHIRE|20260315101500||DFT^P03^DFT_P03|LAB1|P|2.5\r"
                    "PID|1||RBT1000001^^^RBT^MR||SMITH^JANE||19700101|F\r"
                    "FT1|1|||20260315|20260315|CG|99213^Consultation\r";
  EXPECT_EQ(hl7_field(c.exchange(dft), "MSA", 1), "AA");  // the development feed's unmapped_ack
  auto metrics = get_until(engine->http_port(), "/metrics", "", [](const HttpResult& h) {
    return h.body.find("carerecord_messages_unmapped_total 1") != std::string::npos;
  });
  EXPECT_NE(metrics.body.find("carerecord_messages_unmapped_total 1"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("carerecord_inbox_messages 1"), std::string::npos) << metrics.body;
  // ... and reported to the integration team by type, not only counted.
  auto report = http_get(engine->http_port(), "/admin/unmapped-codes", admin);
  EXPECT_EQ(report.status, 200);
  EXPECT_NE(report.body.find("No mapping takes DFT^P03 messages (feed dev-adt)"), std::string::npos) << report.body;
}

TEST_F(RecordTest, EveryVersionCarriesItsSourceAndReceivedTime) {
  MllpClient c(engine->mllp_port());
  Adt m;
  m.control_id = "PROV1";
  ASSERT_EQ(hl7_field(c.exchange(m.text()), "MSA", 1), "AA");
  auto p = get_until(engine->http_port(), "/fhir/Patient?identifier=9990000018", token,
                     [](const HttpResult& h) { return total_of(h) == 1; });
  // The hospital's registration, which the regional patient found links to.
  auto found = json(p.body);
  ASSERT_TRUE(found["entry"][0]["resource"].HasMember("link")) << p.body;
  auto reg = http_get(engine->http_port(), std::string("/fhir/") +
                                               found["entry"][0]["resource"]["link"][0]["other"]["reference"].GetString(),
                      token);
  auto b = json(reg.body);
  auto& meta = b["meta"];
  EXPECT_STREQ(meta["source"].GetString(), "urn:connecting-care:feed:dev-adt#PROV1");
  std::map<std::string, std::string> prov;
  for (auto& e : meta["extension"][0]["extension"].GetArray()) {
    for (auto& m2 : e.GetObject())
      if (std::string(m2.name.GetString()) != "url") prov[e["url"].GetString()] = m2.value.GetString();
  }
  EXPECT_EQ(prov["feed"], "dev-adt");
  EXPECT_EQ(prov["sendingFacility"], "RBT");
  EXPECT_EQ(prov["messageControlId"], "PROV1");
  EXPECT_EQ(prov["received"].size(), 24u) << prov["received"];  // an instant in UTC with milliseconds
  EXPECT_FALSE(std::string(meta["lastUpdated"].GetString()).empty());
}

TEST_F(RecordTest, SearchesAndHistoryAreAuditedToo) {
  MllpClient c(engine->mllp_port());
  Adt m;
  ASSERT_EQ(hl7_field(c.exchange(m.text()), "MSA", 1), "AA");
  std::string id = patient_id_once_mapped("9990000018");
  ASSERT_EQ(http_get(engine->http_port(), "/fhir/Patient/" + id + "/_history", token).status, 200);
  auto out = run_carerecord({"audit", "list", "--data-dir", dir.path + "/data"});
  EXPECT_NE(out.find("action=search"), std::string::npos) << out;
  EXPECT_NE(out.find("action=history"), std::string::npos) << out;
  EXPECT_NE(out.find("patient=" + id), std::string::npos) << out;
}

TEST_F(RecordTest, EncounterSearchByPatientReturnsOnlyThatPatientsEncounters) {
  MllpClient c(engine->mllp_port());
  Adt first;
  Adt second;
  second.control_id = "MSG0002";
  second.mrn = "RBT1000002";
  second.nhs = "9990000026";
  second.family = "JONES";
  second.visit = "V0002";
  ASSERT_EQ(hl7_field(c.exchange(first.text()), "MSA", 1), "AA");
  ASSERT_EQ(hl7_field(c.exchange(second.text()), "MSA", 1), "AA");
  std::string id = patient_id_once_mapped("9990000026");
  auto enc = get_until(engine->http_port(), "/fhir/Encounter?patient=Patient/" + id, token,
                       [](const HttpResult& h) { return total_of(h) >= 1; });
  auto b = json(enc.body);
  ASSERT_EQ(b["total"].GetInt(), 1) << enc.body;
  EXPECT_EQ(std::string(b["entry"][0]["resource"]["subject"]["reference"].GetString()), "Patient/" + id);
  EXPECT_EQ(enc.body.find("V0001"), std::string::npos) << "the other patient's visit leaked: " << enc.body;
}


class IdentityKeptTest : public FeedTest {};

TEST_F(IdentityKeptTest, LaterMessageWithABadNhsNumberDoesNotDropTheVerifiedOne) {
  MllpClient c(engine->mllp_port());
  Adt admit;
  ASSERT_EQ(hl7_field(c.exchange(admit.text()), "MSA", 1), "AA");
  Adt update = admit;
  update.event = "A08";
  update.control_id = "MSG0002";
  update.nhs = "9990000019";  // mistyped at source
  update.family = "SMYTH";
  update.time = "20260315121500";
  ASSERT_EQ(hl7_field(c.exchange(update.text()), "MSA", 1), "AE");
  auto p = get_until(engine->http_port(), "/fhir/Patient?identifier=RBT1000001", token, [](const HttpResult& h) {
    return h.body.find("SMYTH") != std::string::npos;
  });
  ASSERT_NE(p.body.find("SMYTH"), std::string::npos) << p.body;
  // The update is current, and it still carries the verified number; the bad one is nowhere.
  EXPECT_NE(p.body.find("9990000018"), std::string::npos) << p.body;
  EXPECT_EQ(p.body.find("9990000019"), std::string::npos) << p.body;
  auto by_nhs = http_get(engine->http_port(), "/fhir/Patient?identifier=" + kNhsSystem + "|9990000018", token);
  EXPECT_EQ(total_of(by_nhs), 1) << by_nhs.body;
}

TEST_F(IdentityKeptTest, EveryAEMessageIsOnTheWorklist) {
  MllpClient c(engine->mllp_port());
  Adt m;
  m.event = "A08";
  m.version = "2.5";
  std::string text = m.text();
  text.replace(text.find("19700101"), 8, "19701399");  // no such birth date
  std::string ack = c.exchange(text);
  ASSERT_EQ(hl7_field(ack, "MSA", 1), "AE") << ack;
  auto wl = get_until(engine->http_port(), "/admin/worklist", admin, [](const HttpResult& h) {
    return h.body.find("message-held") != std::string::npos;
  });
  EXPECT_NE(wl.body.find("message-held"), std::string::npos) << wl.body;
  EXPECT_NE(wl.body.find("MSG0001"), std::string::npos) << wl.body;
}


class FhirOutputTest : public FeedTest {};

// Every kind of FHIR response the API gives is valid R4: the capability statement, a searchset,
// a history bundle, a read, and an OperationOutcome.
TEST_F(FhirOutputTest, ResponsesValidateAgainstTheR4Schema) {
  auto* schema = cc::testing::FhirSchema::shared();
  if (!schema) GTEST_SKIP() << "FHIR R4 schema not found at " << cc::testing::FhirSchema::path();
  MllpClient c(engine->mllp_port());
  Adt m;
  ASSERT_EQ(hl7_field(c.exchange(m.text()), "MSA", 1), "AA");
  auto search = get_until(engine->http_port(), "/fhir/Patient?identifier=9990000018", token,
                          [](const HttpResult& h) { return total_of(h) == 1; });
  std::string id = json(search.body)["entry"][0]["resource"]["id"].GetString();
  auto enc = get_until(engine->http_port(), "/fhir/Encounter?patient=" + id, token,
                       [](const HttpResult& h) { return total_of(h) == 1; });
  std::vector<std::pair<std::string, HttpResult>> responses{
      {"metadata", http_get(engine->http_port(), "/fhir/metadata", "")},
      {"search", search},
      {"encounter search", enc},
      {"read", http_get(engine->http_port(), "/fhir/Patient/" + id, token)},
      {"history", http_get(engine->http_port(), "/fhir/Patient/" + id + "/_history", token)},
      {"not found", http_get(engine->http_port(), "/fhir/Patient/nobody", token)},
      {"unauthorised", http_get(engine->http_port(), "/fhir/Patient/" + id, "")},
  };
  for (auto& [what, r] : responses) {
    auto d = json(r.body);
    ASSERT_TRUE(d.IsObject()) << what << ": " << r.body;
    auto problems = schema->validate(d);
    EXPECT_TRUE(problems.empty()) << what << ": " << (problems.empty() ? "" : problems.front()) << "\n" << r.body;
  }
}


class FaultTest : public FeedTest {};

// A store that cannot be read answers 503 with an OperationOutcome and nothing else: the engine
// stays up and the feeds keep being acknowledged (they only need the inbox).
TEST_F(FaultTest, UnreadableRecordGives503AndTheFeedsCarryOn) {
  MllpClient c(engine->mllp_port());
  Adt m;
  ASSERT_EQ(hl7_field(c.exchange(m.text()), "MSA", 1), "AA");
  auto p = get_until(engine->http_port(), "/fhir/Patient?identifier=9990000018", token,
                     [](const HttpResult& h) { return total_of(h) == 1; });
  ASSERT_EQ(total_of(p), 1);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path + "/data/record.db").c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  ASSERT_EQ(sqlite3_exec(db, "ALTER TABLE resource_current RENAME TO resource_current_broken", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto broken = http_get(engine->http_port(), "/fhir/Patient?identifier=9990000018", token);
  EXPECT_EQ(broken.status, 503) << broken.body;
  EXPECT_NE(broken.body.find("OperationOutcome"), std::string::npos) << broken.body;
  EXPECT_EQ(broken.body.find("SMITH"), std::string::npos) << broken.body;
  Adt next = m;
  next.control_id = "MSG0002";
  EXPECT_EQ(hl7_field(c.exchange(next.text()), "MSA", 1), "AA");
  EXPECT_EQ(http_get(engine->http_port(), "/healthz", "").status, 200);
}

}  // namespace
}  // namespace cc::test
