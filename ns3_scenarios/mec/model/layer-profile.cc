#include "mec/model/layer-profile.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

namespace ns6g::mec
{

namespace
{

const std::vector<std::string> kDtypes{"fp32", "int8"};
const std::vector<std::string> kMetaKeys{"model", "dtype", "input_shape", "ns6g-profile-version"};

std::string
Join(const std::vector<std::string>& items, const std::string& sep = ", ")
{
    std::string out;
    for (const auto& s : items)
    {
        out += (out.empty() ? "" : sep) + s;
    }
    return out;
}

class LineError
{
  public:
    LineError(const std::string& path, size_t line)
        : m_where("layer profile " + path + " line " + std::to_string(line))
    {
    }

    [[noreturn]] void Fail(const std::string& column, const std::string& value, const std::string& why) const
    {
        throw std::invalid_argument(m_where + ", column '" + column + "': '" + value + "' " + why);
    }

    [[noreturn]] void Fail(const std::string& why) const
    {
        throw std::invalid_argument(m_where + ": " + why);
    }

  private:
    std::string m_where;
};

uint64_t
ParseInteger(const LineError& err, const std::string& column, const std::string& text)
{
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
    {
        err.Fail(column, text, "is not a non-negative integer (digits only)");
    }
    errno = 0;
    const unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
    // Values are kept as doubles: refuse what a double cannot hold exactly.
    if (errno == ERANGE || v > (1ULL << 53))
    {
        err.Fail(column, text, "is too large (at most 2^53)");
    }
    return v;
}

std::string
Trim(const std::string& s)
{
    const auto b = s.find_first_not_of(" \t");
    if (b == std::string::npos)
    {
        return "";
    }
    return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::vector<std::string>
SplitFields(const std::string& line)
{
    std::vector<std::string> fields;
    std::string field;
    std::stringstream ss(line);
    while (std::getline(ss, field, ','))
    {
        fields.push_back(field);
    }
    if (!line.empty() && line.back() == ',')
    {
        fields.emplace_back();
    }
    return fields;
}

} // namespace

const std::vector<std::string>&
LayerProfileColumns()
{
    static const std::vector<std::string> columns{"cut",
                                                  "layer",
                                                  "device_flops",
                                                  "server_flops",
                                                  "device_param_bytes",
                                                  "server_param_bytes",
                                                  "transfer_bytes",
                                                  "device_memory_bytes"};
    return columns;
}

LayerProfile
LoadLayerProfile(const std::string& path)
{
    std::ifstream in(path);
    if (!in)
    {
        throw std::runtime_error("layer profile: cannot open '" + path + "'");
    }
    const auto& columns = LayerProfileColumns();
    LayerProfile profile;
    std::string line;
    size_t lineNo = 0;
    size_t metaSeen = 0;
    bool header = true;
    while (std::getline(in, line))
    {
        ++lineNo;
        if (!line.empty() && line.back() == '\r')
        {
            line.pop_back();
        }
        const LineError err(path, lineNo);
        if (line.empty())
        {
            err.Fail("blank line (the format has none)");
        }
        if (line[0] == '#')
        {
            if (metaSeen == kMetaKeys.size() || !header)
            {
                err.Fail("comment after the header comments; only '# " + Join(kMetaKeys, "=', '# ") +
                         "=' may start the file, in this order");
            }
            const std::string body = line.substr(1);
            const auto eq = body.find('=');
            const std::string key = eq == std::string::npos ? body : Trim(body.substr(0, eq));
            const std::string& expected = kMetaKeys[metaSeen];
            if (eq == std::string::npos || key != expected)
            {
                err.Fail("header comment " + std::to_string(metaSeen + 1) + " must be '# " + expected +
                         "=...' (header comments: " + Join(kMetaKeys) + ", in this order), got '" + line + "'");
            }
            const std::string value = Trim(body.substr(eq + 1));
            if (expected == "model")
            {
                profile.model = value;
            }
            else if (expected == "dtype")
            {
                if (std::find(kDtypes.begin(), kDtypes.end(), value) == kDtypes.end())
                {
                    err.Fail("dtype", value, "is not a profile dtype; dtypes are " + Join(kDtypes));
                }
                profile.dtype = value;
            }
            else if (expected == "input_shape")
            {
                profile.inputShape = value;
            }
            else if (value != std::to_string(kLayerProfileVersion))
            {
                err.Fail("ns6g-profile-version", value,
                         "is not a supported profile version; this reader reads version " +
                             std::to_string(kLayerProfileVersion));
            }
            if (value.empty())
            {
                err.Fail(expected, value, "is empty");
            }
            ++metaSeen;
            continue;
        }
        if (metaSeen != kMetaKeys.size())
        {
            err.Fail("missing header comment '# " + kMetaKeys[metaSeen] + "=' (header comments: " +
                     Join(kMetaKeys) + ", in this order, before the header row)");
        }
        const std::vector<std::string> fields = SplitFields(line);
        if (header)
        {
            if (fields != columns)
            {
                err.Fail("the header row must be '" + Join(columns, ",") + "', got '" + line + "'");
            }
            header = false;
            continue;
        }
        if (line.find('"') != std::string::npos)
        {
            err.Fail("quotes are not part of the format");
        }
        if (fields.size() != columns.size())
        {
            err.Fail("expected " + std::to_string(columns.size()) + " fields (" + Join(columns, ",") + "), got " +
                     std::to_string(fields.size()));
        }
        CutProfile c;
        const uint64_t cut = ParseInteger(err, columns[0], fields[0]);
        if (cut != profile.cuts.size())
        {
            err.Fail(columns[0], fields[0],
                     "out of order: rows must give cuts 0, 1, 2, ... (expected " +
                         std::to_string(profile.cuts.size()) + ")");
        }
        c.cut = static_cast<uint32_t>(cut);
        c.layer = fields[1];
        if (c.layer.empty())
        {
            err.Fail(columns[1], c.layer, "is empty");
        }
        double* values[] = {&c.deviceFlops,      &c.serverFlops,    &c.deviceParamBytes,
                            &c.serverParamBytes, &c.transferBytes, &c.deviceMemoryBytes};
        for (size_t i = 0; i < 6; ++i)
        {
            *values[i] = static_cast<double>(ParseInteger(err, columns[i + 2], fields[i + 2]));
        }
        profile.cuts.push_back(c);
    }
    if (metaSeen != kMetaKeys.size())
    {
        LineError(path, lineNo).Fail("end of file: missing header comment '# " + kMetaKeys[metaSeen] + "='");
    }
    if (header)
    {
        LineError(path, lineNo).Fail("end of file: no header row");
    }
    if (profile.cuts.empty())
    {
        LineError(path, lineNo).Fail("end of file: no cut rows");
    }
    return profile;
}

std::string
ProfilePath(const std::string& folder, const std::string& model, const std::string& dtype)
{
    namespace fs = std::filesystem;
    if (std::find(kDtypes.begin(), kDtypes.end(), dtype) == kDtypes.end())
    {
        throw std::invalid_argument("layer profile: dtype '" + dtype + "' is unknown; dtypes are " +
                                    Join(kDtypes));
    }
    const fs::path path = fs::path(folder) / (model + "-" + dtype + ".csv");
    std::error_code ec;
    if (model.empty() || model.find('/') != std::string::npos || !fs::is_regular_file(path, ec))
    {
        std::set<std::string> models;
        for (const auto& entry : fs::directory_iterator(folder, ec))
        {
            const std::string name = entry.path().filename().string();
            for (const auto& d : kDtypes)
            {
                const std::string suffix = "-" + d + ".csv";
                if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
                {
                    models.insert(name.substr(0, name.size() - suffix.size()));
                }
            }
        }
        throw std::invalid_argument("layer profile: no profile of model '" + model + "' at " + dtype + " in '" +
                                    folder + "'; models found there: " +
                                    (models.empty() ? std::string("none")
                                                    : Join(std::vector<std::string>(models.begin(), models.end()))));
    }
    return path.string();
}

} // namespace ns6g::mec
