// MLLP frame extraction (0x0B message 0x1C 0x0D) from a byte stream, with no sockets: the part
// of the MLLP listener that reads untrusted bytes, kept apart so it can be tested and fuzzed.
#include "adapters/hl7v2/mllp_framer.h"

#include <algorithm>
#include <cstring>

namespace cc::hl7v2 {

namespace {
constexpr char kCR = 0x0D;
}  // namespace

bool MllpFramer::consume(std::string_view bytes, const std::function<void(MllpFrame)>& on_frame,
                         const std::function<void(size_t)>& on_ignored) {
  const char* p = bytes.data();
  const char* end = p + bytes.size();
  while (p < end) {
    if (after_end_block_) {
      after_end_block_ = false;
      if (*p == kCR) ++p;  // the expected 0x0D; tolerate its absence
      continue;
    }
    if (!in_frame_) {
      const char* s = static_cast<const char*>(std::memchr(p, kMllpStart, end - p));
      size_t skipped = (s ? s : end) - p;
      for (const char* q = p; q < p + skipped; ++q)
        if (*q != '\r' && *q != '\n' && *q != ' ' && *q != '\t') ++unframed_;
      if (unframed_ > kMllpMaxUnframedBytes) return false;
      if (!s) return true;
      if (unframed_ > 0) {
        on_ignored(unframed_);
        unframed_ = 0;
      }
      p = s + 1;
      begin_frame();
      continue;
    }
    const char* e = static_cast<const char*>(std::memchr(p, kMllpEnd, end - p));
    const char* stop = e ? e : end;
    const char* restart = static_cast<const char*>(std::memchr(p, kMllpStart, stop - p));
    if (restart) {
      append(p, restart - p);
      frame_unterminated_ = true;
      on_frame(take_frame());
      p = restart + 1;
      begin_frame();
      continue;
    }
    append(p, stop - p);
    if (!e) return true;
    on_frame(take_frame());
    after_end_block_ = true;
    p = e + 1;
  }
  return true;
}

void MllpFramer::begin_frame() {
  in_frame_ = true;
  ++frames_started_;
  frame_.clear();
  frame_size_ = 0;
  frame_oversized_ = false;
  frame_unterminated_ = false;
}

void MllpFramer::append(const char* p, size_t n) {
  frame_size_ += n;
  if (frame_oversized_) return;
  if (frame_size_ > max_message_bytes_) {
    frame_oversized_ = true;
    // Keep only the head (enough to read the MSH for the AR) and let the rest go.
    if (frame_.size() > kMllpOversizeHead) frame_.resize(kMllpOversizeHead);
    size_t room = kMllpOversizeHead - frame_.size();
    frame_.append(p, std::min(room, n));
    frame_.shrink_to_fit();
    return;
  }
  frame_.append(p, n);
}

MllpFrame MllpFramer::take_frame() {
  in_frame_ = false;
  MllpFrame f;
  f.bytes = std::move(frame_);
  frame_.clear();
  f.oversized = frame_oversized_;
  f.unterminated = frame_unterminated_;
  f.size = frame_size_;
  return f;
}

}  // namespace cc::hl7v2
