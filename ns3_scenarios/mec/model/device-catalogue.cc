#include "mec/model/device-catalogue.h"

#include "ns3/object.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>

namespace ns6g::mec
{

namespace
{

std::string
Join(const std::vector<std::string>& items)
{
    std::string out;
    for (const auto& s : items)
    {
        out += (out.empty() ? "" : ", ") + s;
    }
    return out;
}

std::string
Trim(const std::string& s)
{
    const auto b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos)
    {
        return "";
    }
    const auto e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

class RowError
{
  public:
    RowError(const std::string& path, size_t line)
        : m_where(path + " line " + std::to_string(line))
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

double
ParseDouble(const RowError& err, const std::string& column, const std::string& text, bool positive)
{
    const char* begin = text.c_str();
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(begin, &end);
    if (text.empty() || end != begin + text.size() || errno == ERANGE || !std::isfinite(v))
    {
        err.Fail(column, text, "is not a finite number");
    }
    if (positive ? !(v > 0.0) : !(v >= 0.0))
    {
        err.Fail(column, text, positive ? "must be > 0" : "must be >= 0");
    }
    return v;
}

uint64_t
ParseBytes(const RowError& err, const std::string& column, const std::string& text, bool positive)
{
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
    {
        err.Fail(column, text, "is not a whole number of bytes (digits only)");
    }
    errno = 0;
    const unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
    if (errno == ERANGE)
    {
        err.Fail(column, text, "is too large");
    }
    if (positive && v == 0)
    {
        err.Fail(column, text, "must be > 0");
    }
    return v;
}

} // namespace

const std::vector<std::string>&
DeviceClasses()
{
    static const std::vector<std::string> classes{
        "microcontroller", "single-board-computer", "embedded-gpu", "smartphone", "edge-server", "cloud"};
    return classes;
}

const std::vector<std::string>&
DeviceCatalogueColumns()
{
    static const std::vector<std::string> columns{"name",           "class",         "flops",
                                                  "memory_bytes",   "storage_bytes", "tx_power_dbm",
                                                  "energy_per_flop_j", "idle_power_w", "load_power_w",
                                                  "source"};
    return columns;
}

std::vector<Device>
LoadDeviceCatalogue(const std::string& path)
{
    std::ifstream in(path);
    if (!in)
    {
        throw std::runtime_error("device catalogue: cannot open '" + path + "'");
    }
    const auto& columns = DeviceCatalogueColumns();
    std::vector<Device> devices;
    std::set<std::string> names;
    std::string raw;
    size_t lineNo = 0;
    bool header = true;
    while (std::getline(in, raw))
    {
        ++lineNo;
        const std::string line = Trim(raw);
        if (line.empty() || line[0] == '#')
        {
            continue;
        }
        const RowError err(path, lineNo);
        if (line.find('"') != std::string::npos)
        {
            err.Fail("quotes are not supported; keep commas and quotes out of fields (use ';')");
        }
        std::vector<std::string> fields;
        std::stringstream ss(line);
        std::string field;
        while (std::getline(ss, field, ','))
        {
            fields.push_back(Trim(field));
        }
        if (line.back() == ',')
        {
            fields.emplace_back();
        }
        if (header)
        {
            if (fields != columns)
            {
                err.Fail("the header must be '" + Join(columns) + "' (comma-separated), got '" + line + "'");
            }
            header = false;
            continue;
        }
        if (fields.size() != columns.size())
        {
            err.Fail("expected " + std::to_string(columns.size()) + " fields (" + Join(columns) + "), got " +
                     std::to_string(fields.size()) + "; fields may not contain commas");
        }
        Device d;
        d.name = fields[0];
        if (d.name.empty() || d.name.size() > 31)
        {
            err.Fail("name", d.name, "must hold 1 to 31 characters");
        }
        if (!names.insert(d.name).second)
        {
            err.Fail("name", d.name, "is given twice");
        }
        d.deviceClass = fields[1];
        const auto& classes = DeviceClasses();
        if (std::find(classes.begin(), classes.end(), d.deviceClass) == classes.end())
        {
            err.Fail("class", d.deviceClass, "is not a device class; classes are " + Join(classes));
        }
        d.flops = ParseDouble(err, "flops", fields[2], true);
        d.memoryBytes = ParseBytes(err, "memory_bytes", fields[3], true);
        d.storageBytes = ParseBytes(err, "storage_bytes", fields[4], false);
        if (fields[5].empty())
        {
            d.txPowerDbm = std::numeric_limits<double>::quiet_NaN();
        }
        else
        {
            const char* begin = fields[5].c_str();
            char* end = nullptr;
            d.txPowerDbm = std::strtod(begin, &end);
            if (end != begin + fields[5].size() || !std::isfinite(d.txPowerDbm) || d.txPowerDbm < -50.0 ||
                d.txPowerDbm > 60.0)
            {
                err.Fail("tx_power_dbm", fields[5], "is not a transmit power in -50..60 dBm (empty: no radio)");
            }
        }
        d.energyPerFlopJ = ParseDouble(err, "energy_per_flop_j", fields[6], false);
        d.idlePowerW = ParseDouble(err, "idle_power_w", fields[7], false);
        d.loadPowerW = ParseDouble(err, "load_power_w", fields[8], false);
        d.source = fields[9];
        if (d.source.empty() || d.source.size() > 255)
        {
            err.Fail("source", d.source, "must hold 1 to 255 characters");
        }
        devices.push_back(d);
    }
    if (header)
    {
        throw std::invalid_argument(path + ": no header line (" + Join(columns) + ")");
    }
    if (devices.empty())
    {
        throw std::invalid_argument(path + ": no devices");
    }
    return devices;
}

const Device&
FindDevice(const std::vector<Device>& catalogue, const std::string& name)
{
    for (const auto& d : catalogue)
    {
        if (d.name == name)
        {
            return d;
        }
    }
    std::vector<std::string> names;
    for (const auto& d : catalogue)
    {
        names.push_back(d.name);
    }
    throw std::invalid_argument("unknown device '" + name + "'; devices are " + Join(names));
}

bool
SplitFits(const Device& device, double deviceMemoryBytes)
{
    if (!std::isfinite(deviceMemoryBytes) || deviceMemoryBytes < 0.0)
    {
        std::ostringstream os;
        os << "SplitFits: the device part's memory must be finite and >= 0 bytes, got " << deviceMemoryBytes;
        throw std::invalid_argument(os.str());
    }
    return deviceMemoryBytes <= static_cast<double>(device.memoryBytes);
}

std::string
SplitInfeasibility(const Device& device, double deviceMemoryBytes)
{
    if (SplitFits(device, deviceMemoryBytes))
    {
        return "";
    }
    std::ostringstream os;
    os.precision(15);
    os << "infeasible split: the device part needs " << deviceMemoryBytes << " bytes of memory but "
       << device.name << " (" << device.deviceClass << ") has " << device.memoryBytes << " bytes";
    return os.str();
}

ns3::Ptr<Processor>
CreateDeviceProcessor(const Device& device, uint32_t cores, const std::string& discipline)
{
    if (cores < 1)
    {
        throw std::invalid_argument("CreateDeviceProcessor: cores must be >= 1");
    }
    auto p = ns3::CreateObject<Processor>();
    p->SetCores(cores);
    p->SetDiscipline(discipline);
    p->SetCapacityFlops(device.flops / cores);
    p->SetEnergyPerFlopJ(device.energyPerFlopJ);
    p->SetIdlePowerW(device.idlePowerW);
    return p;
}

} // namespace ns6g::mec
