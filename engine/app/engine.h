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

// Holds DIR/engine.lock (an exclusive advisory lock) for the life of the process, so that two
// engines — or an engine and an offline `carerecord remap` — never write one data directory.
// False, with the reason, when another process holds it.
bool lock_data_dir(const std::string& data_dir, std::string& why);

// `carerecord remap`: re-maps stored messages of `feed` (every feed when empty) received at or
// after `since_ms` with the mappings in force, with no engine running. Returns the exit code.
int remap_offline(Config config, const std::string& feed, int64_t since_ms);

// Writes one audit entry for something done or read outside the engine (a command): user
// local:$USER, role local-operator, with `patients` (space separated) and `resources`; waits until
// it is durable. False, with the problem printed, when it could not be written: do nothing then.
// Safe beside a running engine: the chain link is read inside the write.
bool audit_local(const std::string& data_dir, const std::string& action, const std::string& command,
                 const std::string& patients, const std::string& resources, const std::string& outcome);

// `carerecord identity worklist|link|new|reject|unmerge`: the identity work-list, or one decision
// on it (`registration`, `patient` for link, a `reason`), with no engine running (the data
// directory's lock; while it runs, the same decisions go through POST /admin/identity/...).
// Audited before anything is shown or changed. Returns the exit code.
int identity_offline(const std::string& data_dir, const std::string& action, const std::string& registration,
                     const std::string& patient, const std::string& reason);

}  // namespace cc::app
