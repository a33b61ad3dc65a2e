// Ingest: what happens to a framed HL7 v2 message before its ACK — parse the MSH, pick the feed,
// decide AA / AE / AR, commit the raw message to the inbox, and only then answer.
#include "engine/app/ingest.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>

#include "adapters/hl7v2/ack.h"
#include "engine/fhir/datetime.h"

namespace cc::app {

std::string hl7_now() {
  int64_t ms = fhir::now_epoch_ms();
  int offset = fhir::london_offset_minutes_at_utc(ms);
  time_t local = static_cast<time_t>(ms / 1000 + offset * 60);
  std::tm tm{};
  gmtime_r(&local, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02d+%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, offset / 60, offset % 60);
  return buf;
}

std::string next_ack_control_id() {
  // "CC" + the start time and a counter in hexadecimal: at most 2 + 8 + 1 + 9 = 20 characters,
  // and never the letters of a segment name (load clients find MSA by searching for it).
  auto hex = [](uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%llX", static_cast<unsigned long long>(v));
    return std::string(buf);
  };
  static const std::string start = hex(static_cast<uint64_t>(fhir::now_epoch_ms() / 1000) & 0xFFFFFFFFULL);
  static std::atomic<uint64_t> counter{0};
  return "CC" + start + "." + hex(++counter & 0xFFFFFFFFFULL);
}

Ingest::Ingest(const Config& config, const mapping::MappingRegistry& mappings, store::Inbox& inbox, Metrics& metrics,
               std::function<void()> on_committed)
    : config_(config),
      mappings_(mappings),
      inbox_(inbox),
      on_committed_(std::move(on_committed)),
      received_(metrics.counter("carerecord_mllp_messages_total", "HL7 v2 messages received over MLLP")),
      aa_(metrics.counter("carerecord_mllp_ack_aa_total", "messages answered AA")),
      ae_(metrics.counter("carerecord_mllp_ack_ae_total", "messages answered AE (stored, held for a person)")),
      ar_(metrics.counter("carerecord_mllp_ack_ar_total", "messages answered AR (not stored)")),
      duplicates_(metrics.counter("carerecord_mllp_duplicates_total", "resent messages answered with their first ACK")),
      key_reused_(metrics.counter("carerecord_mllp_control_id_reused_total",
                                  "messages whose control id was seen before with other content")) {
  for (auto& f : config_.feeds) largest_message_bytes_ = std::max(largest_message_bytes_, f.max_message_bytes);
}

std::string Ingest::reject(const hl7v2::AckHeader& header, int hl7_code, const std::string& why,
                           const std::string& segment, int field) {
  ar_.inc();
  hl7v2::AckError e;
  e.hl7_code = hl7_code;
  e.message = why;
  e.where.segment = segment;
  e.where.field = field;
  return hl7v2::build_ack(header, "AR", {e}, next_ack_control_id(), hl7_now());
}

std::string Ingest::reject(std::string_view bytes, int hl7_code, const std::string& why, const std::string& segment,
                           int field) {
  return reject(hl7v2::ack_header_from_bytes(bytes), hl7_code, why, segment, field);
}

void Ingest::on_frame(hl7v2::InboundFrame frame, std::function<void(std::string)> reply) {
  received_.inc();
  ++in_flight_;
  auto answer = [this, reply](std::string ack) {
    reply(std::move(ack));
    --in_flight_;
  };
  if (shutting_down_) {
    answer(reject(frame.bytes, 207, "The engine is shutting down; this message was not stored. Send it again."));
    return;
  }
  if (frame.unterminated) {
    answer(reject(frame.bytes, 207,
                  "The message ended without the MLLP end block (0x1C 0x0D) before the next one began; it was not "
                  "stored. Send it again."));
    return;
  }
  if (frame.oversized) {
    answer(reject(frame.bytes, 207,
                  "The message is " + std::to_string(frame.size) + " bytes, over this engine's limit of " +
                      std::to_string(largest_message_bytes_) + " bytes; it was not stored."));
    return;
  }

  // Keep the first segment: if the message does not parse, the ACK still mirrors what MSH we can read.
  std::string first_segment = frame.bytes.substr(0, std::min(frame.bytes.find_first_of("\r\n"), size_t{4096}));
  auto parsed = hl7v2::Message::parse_detailed(std::move(frame.bytes));
  if (auto* problem = std::get_if<hl7v2::ParseProblem>(&parsed)) {
    answer(reject(first_segment, problem->hl7_code, problem->message, problem->where.segment, problem->where.field));
    return;
  }
  auto& msg = std::get<hl7v2::Message>(parsed);
  std::string facility = msg.sending_facility();
  const FeedConfig* feed = config_.feed_for(facility);
  auto header = hl7v2::ack_header_from(msg);
  auto ar = [&](int code, const std::string& why, const std::string& seg, int field) {
    answer(reject(header, code, why, seg, field));
  };
  if (!feed) {
    ar(207, "No feed is configured for sending facility \"" + facility +
                "\" (MSH-4); the message was not stored. Ask the engine's administrators to add the facility to a feed.",
       "MSH", 4);
    return;
  }
  if (!feed->client_certificate_subject.empty() && frame.client_subject != feed->client_certificate_subject) {
    spdlog::warn("mllp {}: a message for feed {} (MSH-4 \"{}\") came under certificate subject \"{}\", but the feed "
                 "is bound to \"{}\"; refused, not stored",
                 frame.peer, feed->name, facility, frame.client_subject, feed->client_certificate_subject);
    ar(207, "Sending facility \"" + facility + "\" belongs to feed " + feed->name +
                ", which accepts messages only from its own organisation's TLS client certificate; this connection "
                "presented another. The message was not stored.",
       "MSH", 4);
    return;
  }
  if (msg.raw().size() > feed->max_message_bytes) {
    ar(207, "The message is " + std::to_string(msg.raw().size()) + " bytes, over feed " + feed->name +
                "'s limit of " + std::to_string(feed->max_message_bytes) + " bytes; it was not stored.",
       "", 0);
    return;
  }
  std::string pid = msg.processing_id();
  if (!feed->accepts_processing_id(pid)) {
    ar(202, "Processing ID \"" + pid + "\" (MSH-11) is not accepted by feed " + feed->name +
                "; it was not stored. Send production messages (P) to this feed, or ask for a test feed.",
       "MSH", 11);
    return;
  }
  std::string version = msg.version();
  if (version.size() < 3 || version.substr(0, 2) != "2.") {
    ar(203, "HL7 version \"" + version + "\" (MSH-12) is not supported; send an HL7 v2 message (version 2.x).", "MSH", 12);
    return;
  }

  mapping::FeedContext ctx{feed->name, feed->authorities};
  std::vector<hl7v2::AckError> errors;
  std::string code = "AA";
  auto assessment = mappings_.current()->assess(msg, ctx);
  if (!assessment.supported) {
    code = feed->unmapped_ack;
    // HL7 table 0357: 201 when other events of the type are mapped (ADT^A17, say), 200 when none is.
    if (code == "AE")
      errors.push_back({assessment.type_mapped ? 201 : 200,
                        (assessment.type_mapped ? "Event " : "Message type ") + msg.message_code() + "^" +
                            msg.trigger_event() + " has no mapping on feed " + feed->name +
                            "; the message is stored and held for review.",
                        {"MSH", 1, 9}, 'E'});
  }
  for (auto& issue : assessment.issues) {
    // Warnings travel only where the ERR layout can say they are warnings (ERR-4, from 2.5).
    if (!issue.error && !hl7v2::uses_v25_err_layout(version)) continue;
    errors.push_back({issue.hl7_code, issue.message, issue.where, issue.error ? 'E' : 'W'});
    if (issue.error) code = "AE";
  }

  store::InboxMessage m;
  m.feed = feed->name;
  m.peer = frame.peer;
  m.received_ms = fhir::now_epoch_ms();
  m.sending_app = msg.sending_application();
  m.sending_facility = facility;
  m.control_id = msg.control_id();
  m.message_type = msg.message_code() + "^" + msg.trigger_event();
  m.ack_code = code;
  m.ack = hl7v2::build_ack(header, code, errors, next_ack_control_id(), hl7_now());
  m.raw = msg.raw();
  auto header_copy = std::make_shared<hl7v2::AckHeader>(std::move(header));
  inbox_.submit(std::move(m), [this, answer, header_copy](Result<store::Receipt> r) {
    if (!r) {
      ar_.inc();
      hl7v2::AckError e{207, "The engine could not store the message (" + r.error().message + "); send it again.",
                        {}, 'E'};
      answer(hl7v2::build_ack(*header_copy, "AR", {e}, next_ack_control_id(), hl7_now()));
      return;
    }
    if (r->duplicate) duplicates_.inc();
    if (r->key_reused) key_reused_.inc();
    (r->ack_code == "AE" ? ae_ : aa_).inc();
    answer(std::move(r->ack));
    if (!r->duplicate && on_committed_) on_committed_();
  });
}

}  // namespace cc::app
