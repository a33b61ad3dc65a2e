// Work behind the ACK (the record builder's mapping and writing, the record's log copying) runs at
// a lower priority than the threads that acknowledge feeds, so it never delays an ACK.
#pragma once
#include <sys/resource.h>
#include <unistd.h>

namespace cc {

// Lowers the calling thread's priority to that of work behind the ACK (nice 15).
inline void yield_to_ingest() { setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 15); }

}  // namespace cc
