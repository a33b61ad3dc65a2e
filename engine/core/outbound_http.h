// Outbound HTTP(S) GETs through libcurl for the engine's own fetches (the OIDC provider's JWKS):
// peers always verified, https required except to a loopback address, size and time bounded.
#pragma once
#include <cstdint>
#include <string>

#include "engine/core/result.h"

namespace cc {

struct FetchOptions {
  int64_t timeout_seconds = 10;
  uint64_t max_bytes = 1u << 20;
  std::string ca_file;  // extra trust anchors (PEM); empty: the system's
};

// https:// to anywhere, or http:// to 127.0.0.0/8, ::1 or "localhost"; everything else refused
// (error code "url-refused") with a sentence saying why.
Status check_outbound_url(const std::string& url);

// GETs `url` (after check_outbound_url) verifying the server's certificate and host name, following
// no redirects. Errors: "url-refused", "fetch-failed" (with libcurl's reason), "fetch-status"
// (not 200), "fetch-too-large".
Result<std::string> fetch_url(const std::string& url, const FetchOptions& options = {});

}  // namespace cc
