// Demo feed: a synthetic but realistic hospital ADT stream (A&E attendances, admissions, transfers,
// updates, discharges; test NHS numbers from the 999 range, some patients without one).
#include "engine/app/demo_feed.h"

#include <boost/asio.hpp>

#include <chrono>
#include <cstdio>
#include <deque>
#include <random>
#include <thread>

#include "engine/fhir/datetime.h"
#include "engine/identity/nhs_number.h"

namespace cc::app {

namespace {
const char* kFamily[] = {"Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
                         "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards",
                         "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke", "Patel", "Jackson", "O'Brien",
                         "Kaur", "Khan", "Wood", "Turner"};
const char* kGivenF[] = {"Olivia", "Amelia", "Isla", "Ava", "Mia", "Grace", "Sophia", "Margaret", "Joan", "Susan",
                         "Patricia", "Aisha", "Freya", "Evie", "Dorothy"};
const char* kGivenM[] = {"Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Arthur", "John", "David", "Peter",
                         "Mohammed", "Alan", "Kevin", "Thomas", "William"};
const char* kTowns[][2] = {{"CREWE", "CW1"}, {"NANTWICH", "CW5"}, {"MACCLESFIELD", "SK10"}, {"CHESTER", "CH1"},
                           {"NORTHWICH", "CW9"}, {"WARRINGTON", "WA1"}, {"WIDNES", "WA8"}, {"CONGLETON", "CW12"},
                           {"WINSFORD", "CW7"}, {"ELLESMERE PORT", "CH65"}};
const char* kStreets[] = {"Church Lane", "Station Road", "Victoria Street", "Mill Lane", "London Road",
                          "Park Avenue", "Nantwich Road", "Middlewich Road", "Chester Road", "Queens Drive"};
const char* kGp[][2] = {{"Rope Green Medical Centre", "N81062"}, {"Millcroft Medical Centre", "N81034"},
                        {"Kiltearn Medical Centre", "N81022"}, {"Hungerford Medical Centre", "N81013"},
                        {"Waters Green Medical Centre", "N81026"}};
const char* kWards[] = {"WD7", "WD9", "WD14", "AMU", "CCU", "WD21"};
const char* kConsultants[][3] = {{"C4123456", "PATEL", "RAJ"}, {"C3987654", "HUGHES", "ELEANOR"},
                                 {"C6112233", "OKONKWO", "CHIDI"}, {"C2456789", "MURRAY", "FIONA"}};

struct DemoPatient {
  std::string mrn, nhs, family, given, sex, dob, street, town, postcode, gp_name, gp_ods;
  int visit = 0;        // current visit number (0: none open)
  char klass = 'E';     // E emergency, I inpatient
  std::string ward;
  int stage = 0;        // 0 new, 1 attending/admitted, 2 transferred
};

// A segment from its fields (index = field number; trailing empty fields dropped), ended with CR.
std::string segment(const char* name, std::vector<std::string> fields) {
  while (fields.size() > 1 && fields.back().empty()) fields.pop_back();
  std::string s = name;
  for (size_t i = 1; i < fields.size(); ++i) s += "|" + fields[i];
  return s + "\r";
}

std::string hl7_time(int64_t ms) {
  int off = fhir::london_offset_minutes_at_utc(ms);
  time_t t = static_cast<time_t>(ms / 1000 + off * 60);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec);
  return buf;
}
}  // namespace

std::string demo_nhs_number(uint32_t n) {
  for (uint32_t k = n;; ++k) {
    char stem[16];
    std::snprintf(stem, sizeof stem, "999%06u", k % 1000000);
    int check = identity::NhsNumber::check_digit(stem);
    if (check >= 0) return std::string(stem) + static_cast<char>('0' + check);
  }
}

namespace {
// The demo population, drawn from `rng`.
std::vector<DemoPatient> demo_patients(std::mt19937& rng, const DemoOptions& o) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
  std::vector<DemoPatient> patients;
  patients.reserve(static_cast<size_t>(o.patients));
  for (int i = 0; i < o.patients; ++i) {
    DemoPatient p;
    char mrn[16];
    std::snprintf(mrn, sizeof mrn, "M%07d", 1000000 + i);
    p.mrn = mrn;
    // About one patient in twelve arrives without an NHS number (unknown patient in A&E).
    if (pick(12) != 0) p.nhs = demo_nhs_number(static_cast<uint32_t>(i * 7 + 11));
    p.sex = pick(2) ? "F" : "M";
    p.family = kFamily[pick(30)];
    p.given = p.sex == "F" ? kGivenF[pick(15)] : kGivenM[pick(15)];
    char dob[16];
    std::snprintf(dob, sizeof dob, "%04d%02d%02d", 1930 + pick(90), 1 + pick(12), 1 + pick(28));
    p.dob = dob;
    auto& town = kTowns[pick(10)];
    p.street = std::to_string(1 + pick(120)) + " " + kStreets[pick(10)];
    p.town = town[0];
    p.postcode = std::string(town[1]) + " " + std::to_string(1 + pick(9)) + static_cast<char>('A' + pick(26)) +
                 static_cast<char>('A' + pick(26));
    auto& gp = kGp[pick(5)];
    p.gp_name = gp[0];
    p.gp_ods = gp[1];
    patients.push_back(p);
  }
  return patients;
}

// PID-3, PID-5, ... for a patient: the PID segment shared by every demo message.
std::string demo_pid(const DemoPatient& p, const DemoOptions& o, const std::string& phone) {
  std::vector<std::string> pid(33);
  pid[1] = "1";
  pid[3] = p.mrn + "^^^" + o.facility + "^MR" + (p.nhs.empty() ? "" : "~" + p.nhs + "^^^NHS^NH");
  pid[5] = p.family + "^" + p.given + "^^^" + (p.sex == "F" ? "Mrs" : "Mr") + "^^L";
  pid[7] = p.dob;
  pid[8] = p.sex;
  pid[11] = p.street + "^^" + p.town + "^CHESHIRE^" + p.postcode + "^GBR^H";
  pid[13] = phone;
  if (!p.nhs.empty()) pid[32] = "01";
  return segment("PID", pid);
}
}  // namespace

std::vector<std::string> demo_messages(const DemoOptions& o) {
  std::mt19937 rng(o.patient_seed ? o.patient_seed : o.seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
  std::vector<DemoPatient> patients = demo_patients(rng, o);
  // With a patient seed of its own, the events come from `seed` (without one, the same generator
  // carries on, as it always has).
  if (o.patient_seed && o.patient_seed != o.seed) rng.seed(o.seed);
  int64_t clock = fhir::now_epoch_ms() - static_cast<int64_t>(o.messages) * 60000;
  int next_visit = 500000;
  std::vector<std::string> out;
  out.reserve(o.messages);
  for (int i = 0; i < o.messages; ++i) {
    clock += 20000 + pick(60000);
    auto& p = patients[pick(o.patients)];
    std::string event;
    if (p.stage == 0) {
      event = pick(3) ? "A04" : "A01";
      p.visit = next_visit++;
      p.klass = event == "A04" ? 'E' : 'I';
      p.ward = event == "A04" ? "ED" : kWards[pick(6)];
      p.stage = 1;
    } else {
      int r = pick(10);
      if (r < 3) {
        event = "A08";
      } else if (r < 5 && p.klass == 'E') {
        event = "A01";  // admitted from A&E
        p.klass = 'I';
        p.ward = kWards[pick(6)];
      } else if (r < 6 && p.klass == 'I') {
        event = "A02";
        p.ward = kWards[pick(6)];
      } else {
        event = "A03";
        p.stage = 0;
      }
    }
    if (event == "A08" && pick(4) == 0 && p.nhs.empty()) p.nhs = demo_nhs_number(900000 + i);  // traced later
    std::string now = hl7_time(clock);
    auto& cons = kConsultants[pick(4)];
    std::string ctl = "DEMO" + std::to_string(o.seed) + "-" + std::to_string(i + 1);
    std::string m;
    m += "MSH|^~\\&|PAS|" + o.facility + "|CARERECORD|CHESHIRE|" + now + "||ADT^" + event + "^ADT_A01|" + ctl +
         "|P|2.4|||AL|NE|GBR|UNICODE UTF-8\r";
    m += "EVN|" + event + "|" + now + "\r";
    m += demo_pid(p, o, "01270 " + std::to_string(100000 + pick(899999)) + "^PRN^PH");
    m += "PD1|||" + p.gp_name + "^^" + p.gp_ods + "\r";
    std::vector<std::string> pv1(46);
    pv1[1] = "1";
    pv1[2] = std::string(1, p.klass);
    pv1[3] = p.ward == "ED" ? "ED^MAJ^" + std::to_string(1 + pick(20)) + "^RBT20"
                            : p.ward + "^^" + std::to_string(1 + pick(28)) + "^RBT20";
    pv1[7] = std::string(cons[0]) + "^" + cons[1] + "^" + cons[2] + "^^^DR";
    pv1[10] = p.klass == 'E' ? "180" : "300";
    pv1[19] = std::to_string(p.visit) + "^^^" + o.facility + "^VN";
    pv1[44] = hl7_time(clock - 3600000 * (event == "A04" ? 0 : 3));
    if (event == "A03") pv1[45] = now;
    m += segment("PV1", pv1);
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<std::string> demo_oru_messages(const DemoOptions& o) {
  std::mt19937 rng(o.patient_seed ? o.patient_seed : o.seed);
  std::vector<DemoPatient> patients = demo_patients(rng, o);
  if (o.patient_seed && o.patient_seed != o.seed) rng.seed(o.seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
  struct Analyte {
    const char* code;
    const char* name;
    const char* unit;
    double low, high;
    int decimals;
  };
  static const Analyte kUe[] = {{"NA", "Sodium", "mmol/L", 133, 146, 0},     {"K", "Potassium", "mmol/L", 3.5, 5.3, 1},
                                {"UREA", "Urea", "mmol/L", 2.5, 7.8, 1},     {"CREA", "Creatinine", "umol/L", 45, 84, 0},
                                {"EGFR", "eGFR", "mL/min/1.73m2", 90, 120, 0}, {"ALB", "Albumin", "g/L", 35, 50, 0},
                                {"ALP", "Alkaline phosphatase", "IU/L", 30, 130, 0},
                                {"BILI", "Bilirubin", "umol/L", 0, 21, 0},   {"ALT", "Alanine transaminase", "IU/L", 0, 41, 0},
                                {"CRP", "C-reactive protein", "mg/L", 0, 5, 0}};
  static const Analyte kFbc[] = {{"HB", "Haemoglobin", "g/L", 115, 165, 0},   {"WBC", "White cell count", "x10^9/L", 4, 11, 1},
                                 {"PLT", "Platelets", "x10^9/L", 150, 400, 0}, {"RBC", "Red cell count", "x10^12/L", 3.8, 5.8, 2},
                                 {"HCT", "Haematocrit", "L/L", 0.37, 0.47, 3}, {"MCV", "Mean cell volume", "fL", 80, 100, 0},
                                 {"MCH", "Mean cell haemoglobin", "pg", 27, 32, 1}, {"NEUT", "Neutrophils", "x10^9/L", 2, 7.5, 1},
                                 {"LYMPH", "Lymphocytes", "x10^9/L", 1, 4, 1}, {"MONO", "Monocytes", "x10^9/L", 0.2, 1, 2}};
  int64_t clock = fhir::now_epoch_ms() - static_cast<int64_t>(o.messages) * 1000;
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(o.messages));
  for (int i = 0; i < o.messages; ++i) {
    clock += 1000;
    auto& p = patients[static_cast<size_t>(pick(o.patients))];
    const bool ue = pick(2) == 0;
    const Analyte* panel = ue ? kUe : kFbc;
    const std::string status = pick(5) == 0 ? "P" : "F";
    const std::string reported = hl7_time(clock);
    const std::string collected = hl7_time(clock - 3600000);
    char order[32];
    std::snprintf(order, sizeof order, "%02dL%06d", 24 + o.seed % 3, i % 1000000);
    std::string m;
    m += "MSH|^~\\&|WINPATH|" + o.facility + "|CARERECORD|CHESHIRE|" + reported + "||ORU^R01^ORU_R01|LAB" +
         std::to_string(o.seed) + "-" + std::to_string(i + 1) + "|P|2.4|||AL|NE|GBR|UNICODE UTF-8\r";
    m += demo_pid(p, o, "");
    std::vector<std::string> obr(26);
    obr[1] = "1";
    obr[2] = "ICE" + std::to_string(o.seed) + "-" + std::to_string(i + 1) + "^ICE";
    obr[3] = std::string(order) + "^WINPATH";
    obr[4] = ue ? "UE^Urea and electrolytes^WINPATH" : "FBC^Full blood count^WINPATH";
    obr[7] = collected;
    obr[22] = reported;
    obr[24] = ue ? "CH" : "HM";
    obr[25] = status;
    m += segment("OBR", obr);
    for (int k = 0; k < 10; ++k) {
      const Analyte& a = panel[k];
      const double span = a.high - a.low;
      const double value = a.low - span * 0.2 + span * 1.4 * (pick(1000) / 1000.0);
      char v[32], range[48];
      std::snprintf(v, sizeof v, "%.*f", a.decimals, value);
      std::snprintf(range, sizeof range, "%.*f-%.*f", a.decimals, a.low, a.decimals, a.high);
      std::vector<std::string> obx(15);
      obx[1] = std::to_string(k + 1);
      obx[2] = "NM";
      obx[3] = std::string(a.code) + "^" + a.name + "^WINPATH";
      obx[5] = v;
      obx[6] = a.unit;
      obx[7] = range;
      obx[8] = value < a.low ? "L" : value > a.high ? "H" : "N";
      obx[11] = status;
      obx[14] = collected;
      m += segment("OBX", obx);
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<std::string> demo_preload_messages(const DemoOptions& o) {
  std::mt19937 rng(o.patient_seed ? o.patient_seed : o.seed);
  std::vector<DemoPatient> patients = demo_patients(rng, o);
  // Registered about fifteen years ago, one a second, so any later demo event is newer.
  int64_t clock = fhir::now_epoch_ms() - int64_t{15} * 365 * 24 * 3600 * 1000;
  std::vector<std::string> out;
  out.reserve(patients.size());
  for (size_t i = 0; i < patients.size(); ++i) {
    auto& p = patients[i];
    clock += 1000;
    std::string now = hl7_time(clock);
    std::string ctl = "PRELOAD" + std::to_string(o.seed) + "-" + std::to_string(i + 1);
    std::string m;
    m += "MSH|^~\\&|PAS|" + o.facility + "|CARERECORD|CHESHIRE|" + now + "||ADT^A28^ADT_A05|" + ctl +
         "|P|2.4|||AL|NE|GBR|UNICODE UTF-8\r";
    m += "EVN|A28|" + now + "\r";
    m += demo_pid(p, o, "01270 " + std::to_string(100000 + static_cast<int>(i % 899999)) + "^PRN^PH");
    m += "PD1|||" + p.gp_name + "^^" + p.gp_ods + "\r";
    m += "PV1|1|N\r";
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::string> send_over_mllp(const std::string& host, uint16_t port, const std::vector<std::string>& messages,
                                   int window, double per_second) {
  namespace asio = boost::asio;
  using tcp = asio::ip::tcp;
  try {
    asio::io_context io;
    tcp::socket sock(io);
    sock.connect(tcp::endpoint(asio::ip::make_address(host), port));
    size_t sent = 0, answered = 0;
    int aa = 0, ae = 0, ar = 0;
    std::string inbuf;
    std::deque<std::string> expected;
    auto start = std::chrono::steady_clock::now();
    char buf[65536];
    while (answered < messages.size()) {
      while (sent < messages.size() && static_cast<int>(sent - answered) < window) {
        if (per_second > 0) {
          auto due = start + std::chrono::microseconds(static_cast<int64_t>(sent * 1e6 / per_second));
          if (sent > answered && std::chrono::steady_clock::now() < due) break;
          std::this_thread::sleep_until(due);
        }
        std::string frame = "\x0b" + messages[sent] + "\x1c\r";
        asio::write(sock, asio::buffer(frame));
        auto& m = messages[sent];
        auto f10 = m.find('|');
        for (int k = 0; k < 8 && f10 != std::string::npos; ++k) f10 = m.find('|', f10 + 1);
        expected.push_back(f10 == std::string::npos ? "" : m.substr(f10 + 1, m.find('|', f10 + 1) - f10 - 1));
        ++sent;
      }
      size_t n = sock.read_some(asio::buffer(buf));
      inbuf.append(buf, n);
      size_t end;
      while ((end = inbuf.find("\x1c\r")) != std::string::npos) {
        std::string ack = inbuf.substr(1, end - 1);
        inbuf.erase(0, end + 2);
        auto msa = ack.find("MSA|");
        std::string code = msa == std::string::npos ? "" : ack.substr(msa + 4, 2);
        std::string ctl = msa == std::string::npos ? "" : ack.substr(msa + 7, ack.find_first_of("|\r", msa + 7) - msa - 7);
        if (ctl != expected.front())
          return make_error("demo-ack", "ACK for " + ctl + " arrived where " + expected.front() + " was expected");
        expected.pop_front();
        ++answered;
        (code == "AA" ? aa : code == "AE" ? ae : ar)++;
      }
    }
    return std::to_string(aa) + " " + std::to_string(ae) + " " + std::to_string(ar);
  } catch (const std::exception& e) {
    return make_error("demo-send", "Could not send to " + host + ":" + std::to_string(port) + ": " + e.what());
  }
}

}  // namespace cc::app
