// Demo feed: a synthetic but realistic hospital ADT stream (A&E attendances, admissions, transfers,
// updates, discharges; test NHS numbers from the 999 range, some patients without one).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/result.h"

namespace cc::app {

struct DemoOptions {
  int patients = 200;
  int messages = 1000;
  uint32_t seed = 1;
  std::string facility = "RBT";  // sending facility (a trust's ODS code)
  // Seed for the patients' demographics (names, NHS numbers, addresses); 0: the same as `seed`.
  // Giving the same patient seed to a preload and to later feeds makes them describe the same people
  // while `seed` alone changes the events and control ids.
  uint32_t patient_seed = 0;
};

// The messages in sending order; segments end with CR.
std::vector<std::string> demo_messages(const DemoOptions& options);

// One A28 (add person information) per patient, M1000000 upwards, with event times years in the
// past so later demo messages are newer; control ids PRELOAD<seed>-<n>. For preloading a store.
std::vector<std::string> demo_preload_messages(const DemoOptions& options);

// Laboratory results for the demo patients: one ORU^R01 a message, a urea and electrolytes or full
// blood count report (OBR) with ten results (OBX: numeric, units, reference ranges, abnormal flags),
// some preliminary and later final; control ids LAB<seed>-<n>. Laboratory code NA, K, ALB, ALP, HB,
// PLT and WBC are in the shipped pathology-tests table; the others are reported as unmapped.
std::vector<std::string> demo_oru_messages(const DemoOptions& options);

// A valid NHS number from the 999 test range for `n` (deterministic).
std::string demo_nhs_number(uint32_t n);

// Sends each message over MLLP to host:port with up to `window` in flight and checks every ACK's
// MSA-2; returns counts of AA / AE / AR as "aa ae ar".
Result<std::string> send_over_mllp(const std::string& host, uint16_t port, const std::vector<std::string>& messages,
                                   int window, double per_second);

}  // namespace cc::app
