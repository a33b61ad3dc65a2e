// MLLP frame extraction (0x0B message 0x1C 0x0D) from a byte stream, with no sockets: the part
// of the MLLP listener that reads untrusted bytes, kept apart so it can be tested and fuzzed.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace cc::hl7v2 {

// One message taken out of its frame.
struct MllpFrame {
  std::string bytes;          // the message (frame bytes removed); only the head when oversized
  bool oversized = false;     // bigger than the limit: `bytes` holds its first kMllpOversizeHead bytes
  bool unterminated = false;  // a new start block came before the end block
  uint64_t size = 0;          // the full size in bytes
};

constexpr char kMllpStart = 0x0B;
constexpr char kMllpEnd = 0x1C;
constexpr size_t kMllpOversizeHead = 64 * 1024;
// Non-whitespace bytes outside any frame tolerated before the stream is given up on.
constexpr size_t kMllpMaxUnframedBytes = 1 << 20;

// Turns the bytes of one connection, in whatever pieces they arrive, into frames. A 0x0D after
// the end block is expected but not required; bytes outside frames are skipped (whitespace
// freely, anything else up to kMllpMaxUnframedBytes in all); a start block inside a frame ends
// that frame (marked unterminated) and begins the next.
class MllpFramer {
 public:
  explicit MllpFramer(uint64_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

  // Feeds the next bytes. Calls on_frame for each frame completed by them, in order, and
  // on_ignored(n) when a start block follows n non-whitespace bytes that were outside framing.
  // Returns false, having handed out the frames before it, once more than kMllpMaxUnframedBytes
  // have been outside framing: the stream is not MLLP and should be closed.
  bool consume(std::string_view bytes, const std::function<void(MllpFrame)>& on_frame,
               const std::function<void(size_t)>& on_ignored);

  // Whether a frame has begun and not yet ended (the listener times how long it takes to arrive).
  bool in_frame() const { return in_frame_; }
  // How many frames have begun so far: a change tells the listener a new frame started.
  uint64_t frames_started() const { return frames_started_; }
  // The bytes of the frame in progress so far.
  uint64_t frame_size() const { return frame_size_; }

 private:
  void begin_frame();
  void append(const char* p, size_t n);
  MllpFrame take_frame();

  uint64_t max_message_bytes_;
  bool in_frame_ = false;
  bool after_end_block_ = false;
  bool frame_oversized_ = false;
  bool frame_unterminated_ = false;
  uint64_t frame_size_ = 0;
  uint64_t frames_started_ = 0;
  size_t unframed_ = 0;
  std::string frame_;
};

}  // namespace cc::hl7v2
