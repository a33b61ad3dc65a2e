// FeedContext::system_for: the identifier system URI for an assigning authority (and identifier
// type), from the feed's configuration or the documented default
// urn:connecting-care:id:<feed>:<authority>.
#include <cstdio>

#include "engine/mapping/types.h"

namespace cc::mapping {

namespace {

// RFC 3986 percent-encoding of everything but the unreserved characters, so that any
// authority (spaces, colons, slashes) makes a URI without white space.
std::string percent_encoded(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

}  // namespace

std::string FeedContext::system_for(const std::string& authority) const {
  if (auto it = authority_systems.find(authority); it != authority_systems.end()) {
    return it->second;
  }
  return "urn:connecting-care:id:" + percent_encoded(feed) + ":" +
         (authority.empty() ? std::string("local") : percent_encoded(authority));
}

std::string FeedContext::system_for(const std::string& authority, const std::string& type) const {
  if (!type.empty()) {
    if (auto it = authority_systems.find(authority + "^" + type); it != authority_systems.end()) {
      return it->second;
    }
  }
  return system_for(authority);
}

std::string FeedContext::code_system_for(const std::string& coding_system) const {
  return "urn:connecting-care:code:" + percent_encoded(feed) + ":" +
         (coding_system.empty() ? std::string("local") : percent_encoded(coding_system));
}

bool FeedContext::declares(const std::string& authority, const std::string& type) const {
  return authority_systems.count(authority) ||
         (!type.empty() && authority_systems.count(authority + "^" + type));
}

}  // namespace cc::mapping
