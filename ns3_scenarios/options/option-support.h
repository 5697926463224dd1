// What every generated options header (ns3_scenarios/options/<scenario>-options.h) shares; hand-written.
#pragma once

#include <sstream>
#include <string>
#include <vector>

namespace ns6g
{

/** `value` as an option problem quotes it ("got ..."). */
template <typename T>
std::string
OptionText(const T& value)
{
    std::ostringstream out;
    out << value;
    return out.str();
}

/** Adds "<what>, got <value>" to `problems` unless `valid`: one line per option in a generated header. */
template <typename T>
void
Require(std::vector<std::string>& problems, bool valid, const char* what, const T& value)
{
    if (!valid)
    {
        problems.push_back(std::string(what) + ", got " + OptionText(value));
    }
}

} // namespace ns6g
