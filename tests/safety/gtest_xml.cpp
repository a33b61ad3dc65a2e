// Reads GoogleTest's XML result files: a small tokenizer for the XML gtest writes (declaration,
// comments, CDATA, attributes with entities) and the outcome rules of gtest 1.10 to 1.14.
#include "tests/safety/gtest_xml.h"

#include <cstdint>
#include <map>

namespace cc::safety {

std::string_view outcome_name(Outcome o) {
  switch (o) {
    case Outcome::passed: return "passed";
    case Outcome::failed: return "failed";
    case Outcome::skipped: return "skipped";
    case Outcome::not_run: return "not run";
  }
  return "?";
}

namespace {

using Attributes = std::map<std::string, std::string>;

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Attribute text with the five named entities and numeric character references decoded;
// an unknown entity is kept as written.
std::string decode_entities(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    const size_t semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) {
      out += s[i];
      continue;
    }
    const std::string_view name = s.substr(i + 1, semi - i - 1);
    if (name == "lt") out += '<';
    else if (name == "gt") out += '>';
    else if (name == "amp") out += '&';
    else if (name == "quot") out += '"';
    else if (name == "apos") out += '\'';
    else if (name.size() > 1 && name[0] == '#') {
      uint32_t cp = 0;
      const bool hex = name[1] == 'x' || name[1] == 'X';
      bool ok = name.size() > (hex ? 2u : 1u);
      for (size_t k = hex ? 2 : 1; ok && k < name.size(); ++k) {
        const char c = name[k];
        int digit = -1;
        if (c >= '0' && c <= '9') digit = c - '0';
        else if (hex && c >= 'a' && c <= 'f') digit = c - 'a' + 10;
        else if (hex && c >= 'A' && c <= 'F') digit = c - 'A' + 10;
        if (digit < 0 || cp > 0x10FFFF) ok = false;
        else cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(digit);
      }
      if (!ok || cp > 0x10FFFF) {
        out.append(s.substr(i, semi - i + 1));
      } else {
        append_utf8(out, cp);
      }
    } else {
      out.append(s.substr(i, semi - i + 1));
    }
    i = semi;
  }
  return out;
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.' || c == ':';
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// "file.cpp:12\nExpected equality..." -> "file.cpp:12: Expected equality..." (two lines at most).
std::string summarise(const std::string& message) {
  std::string out;
  size_t start = 0;
  for (int line = 0; line < 2 && start <= message.size(); ++line) {
    size_t end = message.find('\n', start);
    if (end == std::string::npos) end = message.size();
    std::string text = message.substr(start, end - start);
    while (!text.empty() && is_space(text.back())) text.pop_back();
    if (!text.empty()) out += (out.empty() ? "" : ": ") + text;
    start = end + 1;
  }
  if (out.size() > 240) out = out.substr(0, 237) + "...";
  return out;
}

struct OpenCase {
  Attributes attributes;
  int failures = 0;
  std::string first_failure;
  bool skipped_element = false;
  std::string skip_message;
};

TestResult finish(const OpenCase& c, const std::string& binary) {
  TestResult r;
  auto attr = [&](const char* key) {
    auto it = c.attributes.find(key);
    return it == c.attributes.end() ? std::string() : it->second;
  };
  r.full_name = attr("classname") + "." + attr("name");
  r.binary = binary;
  const std::string status = attr("status"), result = attr("result");
  if (c.failures > 0) {
    r.outcome = Outcome::failed;
    r.detail = (c.failures > 1 ? std::to_string(c.failures) + " failures; first: " : std::string()) +
               summarise(c.first_failure);
  } else if (c.skipped_element || result == "skipped") {
    r.outcome = Outcome::skipped;
    r.detail = summarise(c.skip_message);
  } else if (status == "notrun" || result == "suppressed") {
    r.outcome = Outcome::not_run;
    r.detail = "disabled";
  } else if (status == "run" && (result.empty() || result == "completed")) {
    r.outcome = Outcome::passed;
  } else {
    r.outcome = Outcome::not_run;
    r.detail = "status \"" + status + "\", result \"" + result + "\"";
  }
  return r;
}

}  // namespace

std::string read_gtest_xml(std::string_view xml, const std::string& binary, std::vector<TestResult>& out) {
  std::vector<std::string> stack;
  std::vector<TestResult> found;
  OpenCase current;
  bool in_case = false, saw_root = false;
  size_t i = 0;
  auto line_of = [&](size_t at) {
    size_t line = 1;
    for (size_t k = 0; k < at && k < xml.size(); ++k) line += xml[k] == '\n';
    return std::to_string(line);
  };
  auto skip_past = [&](std::string_view end) -> bool {
    const size_t at = xml.find(end, i);
    if (at == std::string_view::npos) return false;
    i = at + end.size();
    return true;
  };

  while (i < xml.size()) {
    if (xml[i] != '<') {
      const size_t next = xml.find('<', i);
      i = next == std::string_view::npos ? xml.size() : next;
      continue;
    }
    const size_t tag_at = i;
    if (xml.substr(i, 4) == "<!--") {
      if (!skip_past("-->")) return "unterminated comment at line " + line_of(tag_at);
      continue;
    }
    if (xml.substr(i, 9) == "<![CDATA[") {
      if (!skip_past("]]>")) return "unterminated CDATA section at line " + line_of(tag_at);
      continue;
    }
    if (xml.substr(i, 2) == "<?" ) {
      if (!skip_past("?>")) return "unterminated declaration at line " + line_of(tag_at);
      continue;
    }
    if (xml.substr(i, 2) == "<!") {
      if (!skip_past(">")) return "unterminated declaration at line " + line_of(tag_at);
      continue;
    }
    const bool closing = xml.substr(i, 2) == "</";
    i += closing ? 2 : 1;
    const size_t name_start = i;
    while (i < xml.size() && is_name_char(xml[i])) ++i;
    const std::string name(xml.substr(name_start, i - name_start));
    if (name.empty()) return "malformed tag at line " + line_of(tag_at);

    if (closing) {
      while (i < xml.size() && is_space(xml[i])) ++i;
      if (i >= xml.size() || xml[i] != '>') return "malformed end tag </" + name + "> at line " + line_of(tag_at);
      ++i;
      if (stack.empty() || stack.back() != name)
        return "end tag </" + name + "> at line " + line_of(tag_at) + " does not match " +
               (stack.empty() ? std::string("any open element") : "<" + stack.back() + ">");
      stack.pop_back();
      if (name == "testcase" && in_case) {
        found.push_back(finish(current, binary));
        in_case = false;
      }
      continue;
    }

    Attributes attributes;
    bool self_closing = false;
    for (;;) {
      while (i < xml.size() && is_space(xml[i])) ++i;
      if (i >= xml.size()) return "truncated inside <" + name + "> at line " + line_of(tag_at);
      if (xml[i] == '>') {
        ++i;
        break;
      }
      if (xml.substr(i, 2) == "/>") {
        i += 2;
        self_closing = true;
        break;
      }
      const size_t key_start = i;
      while (i < xml.size() && is_name_char(xml[i])) ++i;
      const std::string key(xml.substr(key_start, i - key_start));
      while (i < xml.size() && is_space(xml[i])) ++i;
      if (key.empty() || i >= xml.size() || xml[i] != '=')
        return "malformed attribute in <" + name + "> at line " + line_of(tag_at);
      ++i;
      while (i < xml.size() && is_space(xml[i])) ++i;
      if (i >= xml.size() || (xml[i] != '"' && xml[i] != '\''))
        return "unquoted attribute " + key + " in <" + name + "> at line " + line_of(tag_at);
      const char quote = xml[i++];
      const size_t end = xml.find(quote, i);
      if (end == std::string_view::npos) return "truncated attribute " + key + " at line " + line_of(tag_at);
      attributes[key] = decode_entities(xml.substr(i, end - i));
      i = end + 1;
    }

    if (stack.empty()) {
      if (saw_root) return "a second root element <" + name + "> at line " + line_of(tag_at);
      if (name != "testsuites") return "the root element is <" + name + ">, not gtest's <testsuites>";
      saw_root = true;
    }
    if (name == "testcase") {
      if (in_case) return "<testcase> inside <testcase> at line " + line_of(tag_at);
      current = OpenCase();
      current.attributes = std::move(attributes);
      in_case = true;
      if (!current.attributes.count("name") || !current.attributes.count("classname"))
        return "<testcase> without name or classname at line " + line_of(tag_at);
    } else if (in_case && (name == "failure" || name == "error")) {
      if (current.failures++ == 0) current.first_failure = attributes["message"];
    } else if (in_case && name == "skipped") {
      current.skipped_element = true;
      current.skip_message = attributes["message"];
    }
    if (self_closing) {
      if (name == "testcase") {
        found.push_back(finish(current, binary));
        in_case = false;
      }
    } else {
      stack.push_back(name);
    }
  }
  if (!saw_root) return "no <testsuites> element (empty or not a gtest result file)";
  if (!stack.empty()) return "truncated: <" + stack.back() + "> is never closed";
  out.insert(out.end(), std::make_move_iterator(found.begin()), std::make_move_iterator(found.end()));
  return "";
}

}  // namespace cc::safety
