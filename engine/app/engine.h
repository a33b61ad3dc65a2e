// Engine: wires the rooms together for `carerecord serve` — stores, record builder, MLLP and HTTP
// listeners on an io_context thread pool — and shuts them down in order on SIGINT / SIGTERM.
#pragma once
#include <memory>
#include <string>

#include "engine/core/config.h"
#include "engine/core/result.h"

namespace cc::app {

// Runs until SIGINT or SIGTERM; returns the process exit code.
int serve(Config config);

}  // namespace cc::app
