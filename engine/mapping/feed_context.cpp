// FeedContext::system_for: the identifier system URI for an assigning authority, from the
// feed's configuration or the documented default urn:connecting-care:id:<feed>:<authority>.
#include <cstdio>

#include "engine/mapping/adt_mapping.h"

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

}  // namespace cc::mapping
