// Small text helpers shared by the SVG writers.
#pragma once

#include <string>

namespace mvae {

// `s` with <, > and & escaped, for XML/SVG text.
inline std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else
      out += c;
  }
  return out;
}

}  // namespace mvae
