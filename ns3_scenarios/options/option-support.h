// What every generated options header (ns3_scenarios/options/<scenario>-options.h) shares; hand-written.
#pragma once

#include <sstream>
#include <string>

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

} // namespace ns6g
