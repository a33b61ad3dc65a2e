// Bearer tokens: HS256-signed JWTs for development (`carerecord token`), verified with
// OpenSSL. Claims as the design notes name them: sub, role, org, rbac_role, purpose_of_use.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/core/result.h"

namespace cc::governance {

// Who is reading: taken from a verified token.
struct Reader {
  std::string user;            // sub
  std::string role;            // our role name, e.g. ae-clinician
  std::string org;             // ODS code
  std::string rbac_role;       // national RBAC job role code (may be empty)
  std::string purpose_of_use;  // e.g. DIRECT_CARE (may be empty)
};

// Signs a token for `reader` that expires `ttl_seconds` after `now_epoch_s`
// (claims: sub, role, org, rbac_role, purpose_of_use, iat, nbf, exp, iss "carerecord-dev").
// The national RBAC job role a development token carries when `carerecord token` is given none:
// R8000 (Clinical Practitioner Access Role) for the clinical roles of the default policy; "" for
// the others (an IG officer, an integration administrator or a feed system has no clinical job role).
std::string default_rbac_role(const std::string& role);

std::string sign_dev_token(const Reader& reader, std::string_view key, int64_t now_epoch_s,
                           int64_t ttl_seconds = 8 * 3600);

// Verifies signature (HS256 only; "alg":"none" and other algorithms are refused),
// expiry and not-before with `skew_seconds` allowance, and that sub, role and org are present.
// Error codes: "token-malformed", "token-algorithm", "token-signature", "token-expired",
// "token-not-yet-valid", "token-claims". An empty key verifies nothing ("token-signature").
Result<Reader> verify_dev_token(std::string_view token, std::string_view key, int64_t now_epoch_s,
                                int64_t skew_seconds = 60);

// Reads the development signing key from DIR/dev-signing.key, creating it (32 random
// bytes from OpenSSL, file mode 0600) when absent. Returns the 32 raw bytes (the file holds
// them hex-encoded). Error code "token-key".
Result<std::string> load_or_create_dev_key(const std::string& data_dir);

}  // namespace cc::governance
