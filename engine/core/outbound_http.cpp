// Outbound HTTP(S) GETs through libcurl for the engine's own fetches (the OIDC provider's JWKS):
// peers always verified, https required except to a loopback address, size and time bounded.
#include "engine/core/outbound_http.h"

#include <curl/curl.h>

#include <mutex>

namespace cc {
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The host of an http(s) URL: between "://" (after any userinfo) and the port, path or end.
std::string url_host(const std::string& url) {
  auto start = url.find("://");
  if (start == std::string::npos) return {};
  start += 3;
  auto end = url.find_first_of("/?#", start);
  std::string authority = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  auto at = authority.rfind('@');
  if (at != std::string::npos) authority = authority.substr(at + 1);
  if (!authority.empty() && authority[0] == '[') {
    auto close = authority.find(']');
    return close == std::string::npos ? std::string{} : authority.substr(1, close - 1);
  }
  return authority.substr(0, authority.find(':'));
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  // 127.0.0.0/8 written as a dotted quad.
  if (host.rfind("127.", 0) != 0) return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.') ++dots;
    else if (c < '0' || c > '9') return false;
  }
  return dots == 3;
}

size_t collect(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::pair<std::string*, uint64_t>*>(user);
  if (out->first->size() + size * n > out->second) return 0;  // aborts the transfer
  out->first->append(data, size * n);
  return size * n;
}

}  // namespace

Status check_outbound_url(const std::string& url) {
  std::string scheme = lower(url.substr(0, url.find("://")));
  std::string host = lower(url_host(url));
  if (host.empty()) return make_error("url-refused", "\"" + url + "\" is not an http(s) URL with a host.");
  if (scheme == "https") return {};
  if (scheme == "http") {
    if (is_loopback_host(host)) return {};
    return make_error("url-refused", "\"" + url + "\" is plain http to a host that is not loopback; use https so "
                                     "the keys cannot be replaced on the way.");
  }
  return make_error("url-refused", "\"" + url + "\" is not an http(s) URL.");
}

Result<std::string> fetch_url(const std::string& url, const FetchOptions& options) {
  if (auto st = check_outbound_url(url); !st) return st.error();
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* curl = curl_easy_init();
  if (!curl) return make_error("fetch-failed", "libcurl could not start a transfer.");
  std::string body;
  std::pair<std::string*, uint64_t> sink{&body, options.max_bytes};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(curl, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2);
  if (!options.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options.ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(options.timeout_seconds));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options.timeout_seconds));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  if (rc == CURLE_WRITE_ERROR)
    return make_error("fetch-too-large", url + " sent more than " + std::to_string(options.max_bytes) + " bytes.");
  if (rc != CURLE_OK)
    return make_error("fetch-failed", "Could not fetch " + url + ": " + (errbuf[0] ? errbuf : curl_easy_strerror(rc)));
  if (status != 200)
    return make_error("fetch-status", url + " answered HTTP " + std::to_string(status) + ", not 200.");
  return body;
}

}  // namespace cc
