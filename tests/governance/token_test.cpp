// Tests for development bearer tokens (HS256 JWT signing and every refusal) and the
// development signing key file (created once, mode 0600, shared by racing callers).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "engine/governance/token.h"

namespace {

using cc::governance::load_or_create_dev_key;
using cc::governance::Reader;
using cc::governance::sign_dev_token;
using cc::governance::verify_dev_token;

std::string to_hex_for_test(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

const std::string kKey = "0123456789abcdef0123456789abcdef";
constexpr int64_t kNow = 1795332836;  // 2026-11-22T07:33:56Z
constexpr const char* kMinimalClaims =
    R"({"sub":"x","role":"admin","org":"RXX01","exp":9999999999})";

Reader clinician() {
  return Reader{"dr.jones", "ae-clinician", "RXX01", "R8000", "DIRECT_CARE"};
}

// Base64url written independently of the engine (OpenSSL's encoder, then URL alphabet).
std::string b64url(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(n);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

// A token with arbitrary header and payload text, correctly signed with `key`.
std::string craft(std::string_view header_b64, std::string_view payload_b64,
                  const std::string& key = kKey) {
  const std::string input = std::string(header_b64) + "." + std::string(payload_b64);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." + b64url(std::string_view(reinterpret_cast<const char*>(mac), len));
}

std::string hs256_header() { return b64url(R"({"alg":"HS256","typ":"JWT"})"); }

std::string error_code(std::string_view token, int64_t now = kNow, const std::string& key = kKey) {
  auto verified = verify_dev_token(token, key, now);
  return verified.ok() ? "ok" : verified.error().code;
}

TEST(DevToken, RoundTrip) {
  const std::string token = sign_dev_token(clinician(), kKey, kNow);
  EXPECT_EQ(std::count(token.begin(), token.end(), '.'), 2);
  EXPECT_EQ(token.find('='), std::string::npos);
  EXPECT_EQ(token.substr(0, token.find('.')), hs256_header());
  auto verified = verify_dev_token(token, kKey, kNow);
  ASSERT_TRUE(verified.ok()) << verified.error().message;
  EXPECT_EQ(verified->user, "dr.jones");
  EXPECT_EQ(verified->role, "ae-clinician");
  EXPECT_EQ(verified->org, "RXX01");
  EXPECT_EQ(verified->rbac_role, "R8000");
  EXPECT_EQ(verified->purpose_of_use, "DIRECT_CARE");
}

TEST(DevToken, MatchesAnIndependentlyComputedSignature) {
  const std::string token = sign_dev_token(clinician(), kKey, kNow);
  const size_t dot = token.find('.', token.find('.') + 1);
  const size_t first = token.find('.');
  EXPECT_EQ(token, craft(token.substr(0, first), token.substr(first + 1, dot - first - 1)));
}

TEST(DevToken, TamperedPayloadFailsSignature) {
  const std::string token = sign_dev_token(clinician(), kKey, kNow);
  const size_t first = token.find('.');
  const size_t second = token.find('.', first + 1);
  const std::string other =
      sign_dev_token(Reader{"dr.jones", "admin", "RXX01", "", ""}, kKey, kNow);
  const size_t other_first = other.find('.');
  const size_t other_second = other.find('.', other_first + 1);
  const std::string swapped = token.substr(0, first) +
                              other.substr(other_first, other_second - other_first) +
                              token.substr(second);
  auto verified = verify_dev_token(swapped, kKey, kNow);
  ASSERT_FALSE(verified.ok());
  EXPECT_EQ(verified.error().code, "token-signature");
  EXPECT_NE(verified.error().message.find("carerecord token"), std::string::npos);

  std::string flipped = token;
  flipped[first + 5] = flipped[first + 5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(error_code(flipped), "token-signature");
  std::string bad_signature = token;
  bad_signature.back() = bad_signature.back() == 'A' ? 'Q' : 'A';
  EXPECT_EQ(error_code(bad_signature), "token-signature");
}

TEST(DevToken, WrongKeyFailsSignature) {
  const std::string token = sign_dev_token(clinician(), kKey, kNow);
  EXPECT_EQ(error_code(token, kNow, "another key entirely, 32 bytes.."), "token-signature");
}

TEST(DevToken, EmptyKeyVerifiesNothing) {
  const std::string token = sign_dev_token(clinician(), "", kNow);
  EXPECT_EQ(error_code(token, kNow, ""), "token-signature");
}

TEST(DevToken, ExpiredAfterTtlPlusSkew) {
  const std::string token = sign_dev_token(clinician(), kKey, kNow, 3600);
  EXPECT_EQ(error_code(token, kNow + 3600 + 59), "ok");  // within the 60 s skew
  EXPECT_EQ(error_code(token, kNow + 3600 + 60), "token-expired");
  auto verified = verify_dev_token(token, kKey, kNow + 8 * 3600);
  ASSERT_FALSE(verified.ok());
  EXPECT_EQ(verified.error().code, "token-expired");
  EXPECT_EQ(error_code(token, kNow + 3600, kKey), "ok");
  EXPECT_EQ(verify_dev_token(token, kKey, kNow + 3600, 0).error().code, "token-expired");
}

TEST(DevToken, NotYetValidBeyondSkew) {
  const std::string token = sign_dev_token(clinician(), kKey, kNow);
  EXPECT_EQ(error_code(token, kNow - 60), "ok");  // issuer's clock a minute ahead
  EXPECT_EQ(error_code(token, kNow - 61), "token-not-yet-valid");
  EXPECT_EQ(verify_dev_token(token, kKey, kNow - 1, 0).error().code, "token-not-yet-valid");
  EXPECT_TRUE(verify_dev_token(token, kKey, kNow - 300, 300).ok());
}

TEST(DevToken, RefusesAlgNone) {
  const std::string payload = b64url(kMinimalClaims);
  const std::string header = b64url(R"({"alg":"none","typ":"JWT"})");
  auto unsigned_token = verify_dev_token(header + "." + payload + ".", kKey, kNow);
  ASSERT_FALSE(unsigned_token.ok());
  EXPECT_EQ(unsigned_token.error().code, "token-algorithm");
  EXPECT_NE(unsigned_token.error().message.find("'none'"), std::string::npos);
  EXPECT_EQ(error_code(craft(header, payload)), "token-algorithm");
}

TEST(DevToken, RefusesOtherAlgorithms) {
  const std::string payload = b64url(kMinimalClaims);
  for (const char* header : {R"({"alg":"RS256","typ":"JWT"})", R"({"alg":"HS512"})",
                             R"({"alg":"hs256"})", R"({"typ":"JWT"})", R"({"alg":256})"})
    EXPECT_EQ(error_code(craft(b64url(header), payload)), "token-algorithm") << header;
}

TEST(DevToken, RefusesMalformedTokens) {
  const std::string token = sign_dev_token(clinician(), kKey, kNow);
  const size_t second = token.find('.', token.find('.') + 1);
  auto two_parts = verify_dev_token(token.substr(0, second), kKey, kNow);
  ASSERT_FALSE(two_parts.ok());
  EXPECT_EQ(two_parts.error().code, "token-malformed");
  EXPECT_NE(two_parts.error().message.find("has 2 parts"), std::string::npos);
  EXPECT_EQ(error_code(""), "token-malformed");
  EXPECT_EQ(error_code(token + ".extra"), "token-malformed");
  EXPECT_EQ(error_code("!!!." + token.substr(token.find('.') + 1)), "token-malformed");
  EXPECT_EQ(error_code(token.substr(0, second) + ".abc$"), "token-malformed");
  EXPECT_EQ(error_code(token.substr(0, second) + ".A"), "token-malformed");  // impossible length
  EXPECT_EQ(error_code(b64url("not json") + "." + token.substr(token.find('.') + 1)),
            "token-malformed");
}

TEST(DevToken, RefusesSignedPayloadThatIsNotJson) {
  EXPECT_EQ(error_code(craft(hs256_header(), b64url("not json"))), "token-malformed");
  EXPECT_EQ(error_code(craft(hs256_header(), b64url("[1,2,3]"))), "token-malformed");
  EXPECT_EQ(error_code(craft(hs256_header(), "@@@@")), "token-malformed");
  EXPECT_EQ(error_code(craft(hs256_header(), b64url(R"({"sub":"x"} trailing)"))),
            "token-malformed");
}

TEST(DevToken, RefusesMissingOrWrongTypedClaims) {
  const char* payloads[] = {
      R"({"role":"admin","org":"RXX01","exp":9999999999})",
      R"({"sub":"x","org":"RXX01","exp":9999999999})",
      R"({"sub":"x","role":"admin","exp":9999999999})",
      R"({"sub":"","role":"admin","org":"RXX01","exp":9999999999})",
      R"({"sub":"x","role":"admin","org":"RXX01"})",
      R"({"sub":"x","role":"admin","org":"RXX01","exp":"tomorrow"})",
      R"({"sub":"x","role":"admin","org":"RXX01","exp":9999999999,"nbf":"now"})",
      R"({"sub":7,"role":"admin","org":"RXX01","exp":9999999999})",
      R"({"sub":"x","role":"admin","org":"RXX01","exp":9999999999,"purpose_of_use":1})"};
  for (const char* payload : payloads)
    EXPECT_EQ(error_code(craft(hs256_header(), b64url(payload))), "token-claims") << payload;
  auto no_org = verify_dev_token(craft(hs256_header(), b64url(payloads[2])), kKey, kNow);
  EXPECT_NE(no_org.error().message.find("no org claim"), std::string::npos);
  // Optional claims may be absent.
  EXPECT_EQ(error_code(craft(hs256_header(), b64url(kMinimalClaims))), "ok");
}

// Times at the ends of int64 in a correctly signed token: the refusal's sentence once computed
// now - exp with signed overflow (undefined behaviour; UBSan stops the fuzz build on it).
TEST(DevToken, ExtremeTimesAreRefusedWithoutOverflow) {
  auto expired = verify_dev_token(
      craft(hs256_header(), b64url(R"({"sub":"a","role":"r","org":"o","exp":-9223372036854775808})")), kKey, kNow);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code, "token-expired");
  EXPECT_NE(expired.error().message.find("expired 9223372038650108644 seconds ago"), std::string::npos)
      << expired.error().message;
  auto early = verify_dev_token(
      craft(hs256_header(), b64url(R"({"sub":"a","role":"r","org":"o","exp":9223372036854775807,"nbf":9223372036854775807})")),
      kKey, kNow);
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().code, "token-not-yet-valid");
}

class DevKeyFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cc-governance-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(DevKeyFile, CreatedWithMode0600AndReused) {
  const std::string data_dir = (dir_ / "nested" / "data").string();
  auto first = load_or_create_dev_key(data_dir);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->size(), 32u);

  const std::string key_path = data_dir + "/dev-signing.key";
  struct stat info {};
  ASSERT_EQ(stat(key_path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  std::ifstream in(key_path);
  std::string hex;
  in >> hex;
  EXPECT_EQ(hex.size(), 64u);
  EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos);

  auto second = load_or_create_dev_key(data_dir);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(*second, *first);

  const std::string token = sign_dev_token(clinician(), *first, kNow);
  EXPECT_TRUE(verify_dev_token(token, *second, kNow).ok());
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(data_dir),
                          std::filesystem::directory_iterator()),
            1);  // no temporary files left behind
}

TEST_F(DevKeyFile, RacingCallersAgreeOnOneKey) {
  for (int round = 0; round < 20; ++round) {
    const std::string data_dir = (dir_ / std::to_string(round)).string();
    std::vector<std::string> keys(8);
    std::vector<std::thread> threads;
    for (auto& key : keys)
      threads.emplace_back([&key, &data_dir] {
        auto loaded = load_or_create_dev_key(data_dir);
        key = loaded.ok() ? loaded.value() : "error: " + loaded.error().message;
      });
    for (auto& thread : threads) thread.join();
    for (const auto& key : keys) EXPECT_EQ(key, keys[0]) << "round " << round;
    EXPECT_EQ(keys[0].size(), 32u) << keys[0];
  }
}

TEST_F(DevKeyFile, CorruptKeyFileIsReported) {
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ / "dev-signing.key") << "not a key\n";
  std::filesystem::permissions(dir_ / "dev-signing.key", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto loaded = load_or_create_dev_key(dir_.string());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code, "token-key");
  EXPECT_NE(loaded.error().message.find("delete it"), std::string::npos);
}

TEST_F(DevKeyFile, GroupOrWorldReadableKeyIsRefused) {
  auto made = load_or_create_dev_key(dir_.string());
  ASSERT_TRUE(made.ok()) << made.error().message;
  std::filesystem::permissions(dir_ / "dev-signing.key", std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  auto loaded = load_or_create_dev_key(dir_.string());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code, "token-key");
  EXPECT_NE(loaded.error().message.find("chmod 600"), std::string::npos) << loaded.error().message;
  EXPECT_EQ(loaded.error().message.find(to_hex_for_test(*made)), std::string::npos) << "no key material in the message";
}

TEST_F(DevKeyFile, UncreatableDirectoryIsReported) {
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ / "plain-file") << "x";
  auto loaded = load_or_create_dev_key((dir_ / "plain-file" / "data").string());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code, "token-key");
  EXPECT_NE(loaded.error().message.find("plain-file"), std::string::npos);
}

TEST(DevToken, ClinicalRolesCarryAClinicalJobRoleByDefault) {
  EXPECT_EQ(cc::governance::default_rbac_role("ae-clinician"), "R8000");
  EXPECT_EQ(cc::governance::default_rbac_role("social-worker"), "R8000");
  EXPECT_EQ(cc::governance::default_rbac_role("ig-officer"), "");
  EXPECT_EQ(cc::governance::default_rbac_role("feed-system"), "");
}

}  // namespace
