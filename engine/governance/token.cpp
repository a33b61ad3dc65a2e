// HS256 JWTs for development bearer tokens: compact form, base64url without padding,
// HMAC-SHA256 and key generation from OpenSSL, claims JSON through RapidJSON.
#include "engine/governance/token.h"

#include "engine/core/json_input.h"
#include "engine/core/tls.h"
#include "engine/governance/base64url.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace cc::governance {
namespace {

constexpr std::string_view kIssuer = "carerecord-dev";
constexpr std::string_view kKeyFileName = "dev-signing.key";
constexpr size_t kKeyBytes = 32;
constexpr size_t kSignatureBytes = 32;  // SHA-256
constexpr std::string_view kReissueHint = "ask for a new token with `carerecord token`";

// Empty when OpenSSL fails, which no signature can match.
std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest,
           &digest_len) == nullptr)
    return {};
  return std::string(reinterpret_cast<const char*>(digest), digest_len);
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char byte : bytes) {
    out.push_back(kDigits[byte >> 4]);
    out.push_back(kDigits[byte & 0x0F]);
  }
  return out;
}

bool from_hex(std::string_view hex, std::string& out) {
  auto nibble = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return false;
  out.clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int high = nibble(hex[i]), low = nibble(hex[i + 1]);
    if (high < 0 || low < 0) return false;
    out.push_back(static_cast<char>(high * 16 + low));
  }
  return true;
}

// later - earlier as text, for two times a token may put anywhere in int64: the gap can exceed
// int64 (exp near INT64_MIN), which signed subtraction would overflow (UB; seen while writing
// the JWT fuzz target, which reproduces it under UBSan).
std::string seconds_between(int64_t earlier, int64_t later) {
  return std::to_string(static_cast<uint64_t>(later) - static_cast<uint64_t>(earlier));
}

Error malformed(const std::string& problem) {
  return make_error("token-malformed", "The bearer token is malformed: " + problem +
                                           "; send the token exactly as `carerecord token` "
                                           "printed it.");
}

Error bad_claims(const std::string& problem) {
  return make_error("token-claims",
                    "The bearer token " + problem + "; " + std::string(kReissueHint) + ".");
}

// Decodes one base64url token part holding a JSON object.
Result<rapidjson::Document> decode_json_part(std::string_view part, const std::string& name) {
  std::string json;
  if (!base64url_decode(part, json)) return malformed("its " + name + " is not base64url text");
  rapidjson::Document doc;
  if (!parse_json(json, JsonLimits{json.size(), 16}, doc).ok() || !doc.IsObject())
    return malformed("its " + name + " is not a JSON object");
  return doc;
}

// Reads an optional time claim in whole seconds; false when present but not a whole number.
bool read_time_claim(const rapidjson::Document& claims, const char* name, int64_t& value,
                     bool& present) {
  const auto it = claims.FindMember(name);
  present = it != claims.MemberEnd();
  if (!present) return true;
  if (!it->value.IsInt64()) return false;
  value = it->value.GetInt64();
  return true;
}

// Reads a string claim into `value`; false when present but not a string.
bool read_text_claim(const rapidjson::Document& claims, const char* name, std::string& value) {
  const auto it = claims.FindMember(name);
  if (it == claims.MemberEnd()) return true;
  if (!it->value.IsString()) return false;
  value.assign(it->value.GetString(), it->value.GetStringLength());
  return true;
}

Error key_error(const std::string& problem) {
  return make_error("token-key", problem);
}

// Reads DIR/dev-signing.key: 64 hex digits, optionally followed by a newline.
Result<std::string> read_key_file(const std::filesystem::path& path) {
  if (auto st = check_private_key_file(path.string()); !st) return key_error(st.error().message);
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open())
    return key_error("Could not read the development signing key " + path.string() +
                     "; check that the engine's user can read it.");
  std::ostringstream text;
  text << in.rdbuf();
  std::string hex = text.str();
  if (!hex.empty() && hex.back() == '\n') hex.pop_back();
  std::string key;
  if (hex.size() != kKeyBytes * 2 || !from_hex(hex, key))
    return key_error("The development signing key " + path.string() +
                     " is not 64 hexadecimal digits; delete it to have a new key made (tokens "
                     "signed with the old key will then be refused).");
  return key;
}

// Writes a new random key to a private temporary file and links it into place. link()
// never replaces an existing file, so when two processes race the first key wins and
// both read it back.
Status create_key_file(const std::filesystem::path& path) {
  unsigned char key[kKeyBytes];
  unsigned char suffix[8];
  if (RAND_bytes(key, sizeof key) != 1 || RAND_bytes(suffix, sizeof suffix) != 1)
    return key_error("OpenSSL could not produce random bytes for the development signing key; "
                     "check the system's entropy source and try again.");
  const std::string contents =
      to_hex(std::string_view(reinterpret_cast<const char*>(key), sizeof key)) + "\n";
  const std::string temp = path.string() + ".tmp-" + std::to_string(getpid()) + "-" +
                           to_hex(std::string_view(reinterpret_cast<const char*>(suffix), 8));

  const int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return key_error("Could not create " + temp + " (" + std::strerror(errno) +
                     "); check that the engine's user can write to the data directory.");
  const bool written = fchmod(fd, 0600) == 0 &&
                       write(fd, contents.data(), contents.size()) ==
                           static_cast<ssize_t>(contents.size()) &&
                       fsync(fd) == 0;
  const int write_errno = errno;
  close(fd);
  if (!written) {
    unlink(temp.c_str());
    return key_error("Could not write " + temp + " (" + std::strerror(write_errno) +
                     "); check free space and permissions in the data directory.");
  }
  const bool linked = link(temp.c_str(), path.c_str()) == 0 || errno == EEXIST;
  const int link_errno = errno;
  unlink(temp.c_str());
  if (!linked)
    return key_error("Could not put the development signing key in place at " + path.string() +
                     " (" + std::strerror(link_errno) +
                     "); the data directory must be on a filesystem that supports hard links.");
  return {};
}

}  // namespace

std::string sign_dev_token(const Reader& reader, std::string_view key, int64_t now_epoch_s,
                           int64_t ttl_seconds) {
  rapidjson::StringBuffer payload;
  rapidjson::Writer<rapidjson::StringBuffer> json(payload);
  auto text = [&json](const char* name, std::string_view value) {
    json.Key(name);
    json.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  };
  json.StartObject();
  text("iss", kIssuer);
  text("sub", reader.user);
  text("role", reader.role);
  text("org", reader.org);
  text("rbac_role", reader.rbac_role);
  text("purpose_of_use", reader.purpose_of_use);
  json.Key("iat");
  json.Int64(now_epoch_s);
  json.Key("nbf");
  json.Int64(now_epoch_s);
  json.Key("exp");
  json.Int64(now_epoch_s + ttl_seconds);
  json.EndObject();

  const std::string signing_input = base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." +
                                    base64url_encode({payload.GetString(), payload.GetSize()});
  return signing_input + "." + base64url_encode(hmac_sha256(key, signing_input));
}

Result<Reader> verify_dev_token(std::string_view token, std::string_view key, int64_t now_epoch_s,
                                int64_t skew_seconds) {
  const size_t first_dot = token.find('.');
  const size_t second_dot =
      first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos || token.find('.', second_dot + 1) != token.npos) {
    const auto dots = std::count(token.begin(), token.end(), '.');
    return malformed("it has " + std::to_string(dots + 1) +
                     " parts separated by dots, but a JWT has 3 (header.payload.signature)");
  }
  const std::string_view signing_input = token.substr(0, second_dot);
  const std::string_view payload_part = token.substr(first_dot + 1, second_dot - first_dot - 1);
  const std::string_view signature_part = token.substr(second_dot + 1);

  auto header = decode_json_part(token.substr(0, first_dot), "header");
  if (!header) return header.error();
  const auto alg = header->FindMember("alg");
  const std::string alg_name =
      alg != header->MemberEnd() && alg->value.IsString() ? alg->value.GetString() : "";
  if (alg_name != "HS256")
    return make_error("token-algorithm",
                      "The bearer token is signed with algorithm '" + alg_name +
                          "', but only HS256 is accepted; " + std::string(kReissueHint) + ".");

  std::string signature;
  if (!base64url_decode(signature_part, signature))
    return malformed("its signature is not base64url text");
  if (key.empty())
    return make_error("token-signature",
                      "This server has no token signing key, so it accepts no bearer tokens; "
                      "the IT team must configure the signing key.");
  const std::string expected = hmac_sha256(key, signing_input);
  if (signature.size() != kSignatureBytes || expected.size() != kSignatureBytes ||
      CRYPTO_memcmp(signature.data(), expected.data(), kSignatureBytes) != 0)
    return make_error("token-signature",
                      "The bearer token's signature does not match: it was changed after "
                      "signing or signed with another key; " + std::string(kReissueHint) + ".");

  auto claims = decode_json_part(payload_part, "payload");
  if (!claims) return claims.error();

  int64_t exp = 0, nbf = 0;
  bool has_exp = false, has_nbf = false;
  if (!read_time_claim(*claims, "exp", exp, has_exp) || !has_exp)
    return bad_claims("has no expiry time (exp) in whole seconds");
  if (!read_time_claim(*claims, "nbf", nbf, has_nbf))
    return bad_claims("has a start time (nbf) that is not in whole seconds");
  if (now_epoch_s - skew_seconds >= exp)
    return make_error("token-expired", "The bearer token expired " +
                                           seconds_between(exp, now_epoch_s) +
                                           " seconds ago; " + std::string(kReissueHint) + ".");
  if (has_nbf && now_epoch_s + skew_seconds < nbf)
    return make_error("token-not-yet-valid",
                      "The bearer token is not valid for another " +
                          seconds_between(now_epoch_s, nbf) +
                          " seconds; check that this server's clock and the issuer's agree.");

  struct TextClaim {
    const char* name;
    std::string* value;
    bool required;
  };
  Reader reader;
  const TextClaim text_claims[] = {{"sub", &reader.user, true},
                                   {"role", &reader.role, true},
                                   {"org", &reader.org, true},
                                   {"rbac_role", &reader.rbac_role, false},
                                   {"purpose_of_use", &reader.purpose_of_use, false}};
  for (const TextClaim& claim : text_claims) {
    if (!read_text_claim(*claims, claim.name, *claim.value))
      return bad_claims("has a " + std::string(claim.name) + " claim that is not text");
    if (claim.required && claim.value->empty())
      return bad_claims("has no " + std::string(claim.name) + " claim");
  }
  return reader;
}

Result<std::string> load_or_create_dev_key(const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec)
    return key_error("Could not create the data directory " + data_dir + " (" + ec.message() +
                     "); create it or choose a directory the engine's user can write.");
  const std::filesystem::path path = std::filesystem::path(data_dir) / kKeyFileName;
  if (!std::filesystem::exists(path, ec)) {
    if (auto created = create_key_file(path); !created) return created.error();
  }
  return read_key_file(path);
}

std::string default_rbac_role(const std::string& role) {
  for (const char* clinical : {"ae-clinician", "gp", "mental-health-clinician", "ambulance-clinician", "social-worker"})
    if (role == clinical) return "R8000";
  return "";
}

}  // namespace cc::governance
