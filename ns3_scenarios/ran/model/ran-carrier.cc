// The 6G RAN's carriers (see ran-carrier.h and docs/ran-phy.md).
#include "ran/model/ran-carrier.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace ns6g::ran
{

std::string
FormatNumber(double v)
{
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.10g", v);
    return buf;
}

namespace
{

/** A frequency or bandwidth in the unit that reads best: "100 MHz", "360 kHz", "28 GHz". */
std::string
FormatHz(double hz)
{
    const char* unit = "Hz";
    double v = hz;
    double a = std::fabs(hz);
    if (a >= 1e9)
    {
        v = hz / 1e9;
        unit = "GHz";
    }
    else if (a >= 1e6)
    {
        v = hz / 1e6;
        unit = "MHz";
    }
    else if (a >= 1e3)
    {
        v = hz / 1e3;
        unit = "kHz";
    }
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.10g %s", v, unit);
    return buf;
}

/** One row of a TS 38.101 N_RB table: channel bandwidth (MHz) and N_RB. */
struct BandwidthRow
{
    int bandwidthMhz;
    uint32_t nRb;
};

/** The rows of a TS 38.101 N_RB table for one subcarrier spacing (kHz). */
struct ScsRows
{
    int scsKhz;
    std::vector<BandwidthRow> rows;
};

// TS 38.101-1 V17 Table 5.3.2-1: maximum transmission bandwidth configuration N_RB, FR1.
const std::vector<ScsRows> kFr1NrbTable = {
    {15, {{5, 25}, {10, 52}, {15, 79}, {20, 106}, {25, 133}, {30, 160}, {35, 188}, {40, 216},
          {45, 242}, {50, 270}}},
    {30, {{5, 11}, {10, 24}, {15, 38}, {20, 51}, {25, 65}, {30, 78}, {35, 92}, {40, 106},
          {45, 119}, {50, 133}, {60, 162}, {70, 189}, {80, 217}, {90, 245}, {100, 273}}},
    {60, {{10, 11}, {15, 18}, {20, 24}, {25, 31}, {30, 38}, {35, 44}, {40, 51}, {45, 58},
          {50, 65}, {60, 79}, {70, 93}, {80, 107}, {90, 121}, {100, 135}}},
};

// TS 38.101-2 V17 Table 5.3.2-1: maximum transmission bandwidth configuration N_RB, FR2-1 (60 and
// 120 kHz, 50 to 400 MHz) and FR2-2 (120, 480 and 960 kHz, 100 MHz to 2 GHz).
const std::vector<ScsRows> kFr2NrbTable = {
    {60, {{50, 66}, {100, 132}, {200, 264}}},
    {120, {{50, 32}, {100, 66}, {200, 132}, {400, 264}}},
    {480, {{400, 66}, {800, 124}, {1600, 248}}},
    {960, {{400, 33}, {800, 62}, {1600, 124}, {2000, 148}}},
};

uint32_t
LookUpNrb(const std::vector<ScsRows>& table, int scsKhz, double bandwidthHz)
{
    for (const auto& s : table)
    {
        if (s.scsKhz != scsKhz)
        {
            continue;
        }
        for (const auto& r : s.rows)
        {
            if (std::fabs(bandwidthHz - r.bandwidthMhz * 1e6) <= 1.0)
            {
                return r.nRb;
            }
        }
    }
    return 0;
}

std::string
ListStandardBandwidths(const std::vector<ScsRows>& table, int scsKhz)
{
    for (const auto& s : table)
    {
        if (s.scsKhz == scsKhz)
        {
            std::string out;
            for (const auto& r : s.rows)
            {
                out += (out.empty() ? "" : ", ") + std::to_string(r.bandwidthMhz);
            }
            return out + " MHz";
        }
    }
    return "";
}

} // namespace

// ---------------------------------------------------------------------------------------------------
// Numerology

double
Numerology::SubcarrierSpacingHz() const
{
    return 15e3 * std::ldexp(1.0, mu);
}

double
Numerology::RbBandwidthHz() const
{
    return kSubcarriersPerRb * SubcarrierSpacingHz();
}

double
Numerology::SlotDurationS() const
{
    return 1e-3 / std::ldexp(1.0, mu);
}

uint32_t
Numerology::SlotsPerSubframe() const
{
    return 1U << mu;
}

double
Numerology::SymbolDurationS() const
{
    return SlotDurationS() / kSymbolsPerSlot;
}

Numerology
MakeNumerology(int mu)
{
    if (mu < 0 || mu > kMaxNumerology)
    {
        throw InvalidPhyConfig("numerology mu=" + std::to_string(mu) + " is out of range 0.." +
                               std::to_string(kMaxNumerology) +
                               " (subcarrier spacing 15 kHz * 2^mu, 15 kHz to 960 kHz)");
    }
    return Numerology{mu};
}

// ---------------------------------------------------------------------------------------------------
// Carrier

double
MaxCarrierBandwidthHz(double frequencyHz)
{
    if (frequencyHz <= kFr1MaxFrequencyHz)
    {
        return kFr1MaxBandwidthHz;
    }
    if (frequencyHz <= kSubThzMinFrequencyHz)
    {
        return kFr2MaxBandwidthHz;
    }
    return kSubThzMaxBandwidthHz;
}

uint32_t
StandardRbCount(double frequencyHz, double bandwidthHz, int mu)
{
    if (mu < 0 || mu > kMaxNumerology)
    {
        return 0;
    }
    int scsKhz = 15 << mu;
    bool fr1 = frequencyHz <= kFr1MaxFrequencyHz;
    const auto& first = fr1 ? kFr1NrbTable : kFr2NrbTable;
    const auto& second = fr1 ? kFr2NrbTable : kFr1NrbTable;
    uint32_t n = LookUpNrb(first, scsKhz, bandwidthHz);
    return n ? n : LookUpNrb(second, scsKhz, bandwidthHz);
}

uint32_t
RbgSizeForBwp(uint32_t nRb, int configuration)
{
    if (configuration != 1 && configuration != 2)
    {
        throw InvalidPhyConfig("RBG configuration " + std::to_string(configuration) +
                               " is not 1 or 2 (TS 38.214 Table 5.1.2.2.1-1)");
    }
    if (nRb == 0)
    {
        throw InvalidPhyConfig("a bandwidth part needs at least one RB");
    }
    if (nRb <= 36)
    {
        return configuration == 1 ? 2 : 4;
    }
    if (nRb <= 72)
    {
        return configuration == 1 ? 4 : 8;
    }
    if (nRb <= 144)
    {
        return configuration == 1 ? 8 : 16;
    }
    return 16;
}

double
Carrier::TransmissionBandwidthHz() const
{
    return nRb * numerology.RbBandwidthHz();
}

double
Carrier::GuardBandHz() const
{
    if (!standardBandwidth)
    {
        return 0.0;
    }
    return (bandwidthHz - TransmissionBandwidthHz()) / 2.0 - numerology.SubcarrierSpacingHz() / 2.0;
}

uint32_t
Carrier::RbgFirstRb(uint32_t rbg) const
{
    if (rbg >= nRbg)
    {
        throw std::out_of_range("RBG " + std::to_string(rbg) + " does not exist (the carrier has " +
                                std::to_string(nRbg) + " RBGs)");
    }
    return rbg * rbgSize;
}

uint32_t
Carrier::RbgRbCount(uint32_t rbg) const
{
    RbgFirstRb(rbg); // range check
    return rbg + 1 == nRbg ? lastRbgSize : rbgSize;
}

std::string
ValidateCarrier(double frequencyHz, double bandwidthHz, int mu, int rbgSize)
{
    if (mu < 0 || mu > kMaxNumerology)
    {
        return "numerology mu=" + std::to_string(mu) + " is out of range 0.." +
               std::to_string(kMaxNumerology) + " (subcarrier spacing 15 kHz * 2^mu, 15 kHz to 960 kHz)";
    }
    if (!(frequencyHz > 0.0) || !std::isfinite(frequencyHz))
    {
        return "center frequency " + FormatNumber(frequencyHz) + " Hz must be positive and finite";
    }
    if (!(bandwidthHz > 0.0) || !std::isfinite(bandwidthHz))
    {
        return "bandwidth " + FormatNumber(bandwidthHz) + " Hz must be positive and finite";
    }
    double limit = MaxCarrierBandwidthHz(frequencyHz);
    if (bandwidthHz > limit + 1.0)
    {
        return "bandwidth " + FormatHz(bandwidthHz) + " is above the band's limit of " + FormatHz(limit) +
               " for a carrier at " + FormatHz(frequencyHz) +
               " (limits: 100 MHz up to 7.125 GHz, 400 MHz up to 100 GHz, 2 GHz above 100 GHz)";
    }
    Numerology num{mu};
    uint32_t nRb = StandardRbCount(frequencyHz, bandwidthHz, mu);
    if (nRb == 0)
    {
        double rb = num.RbBandwidthHz();
        double k = bandwidthHz / rb;
        double whole = std::round(k);
        if (std::fabs(k - whole) > 1e-6 || whole < 1.0)
        {
            int scsKhz = 15 << mu;
            std::string standard = ListStandardBandwidths(
                frequencyHz <= kFr1MaxFrequencyHz ? kFr1NrbTable : kFr2NrbTable, scsKhz);
            if (standard.empty())
            {
                standard = ListStandardBandwidths(
                    frequencyHz <= kFr1MaxFrequencyHz ? kFr2NrbTable : kFr1NrbTable, scsKhz);
            }
            double below = std::floor(k);
            double above = std::ceil(k);
            std::string hint;
            if (below >= 1.0)
            {
                hint = FormatHz(below * rb) + " (" + FormatNumber(below) + " RBs)";
            }
            if (above * rb <= limit + 1.0)
            {
                hint += (hint.empty() ? "" : " or ") + FormatHz(above * rb) + " (" + FormatNumber(above) +
                        " RBs)";
            }
            return "bandwidth " + FormatHz(bandwidthHz) + " is not a multiple of the RB bandwidth " +
                   FormatHz(rb) + " (12 x " + FormatHz(num.SubcarrierSpacingHz()) +
                   " at numerology mu=" + std::to_string(mu) + ") and not a TS 38.101 channel bandwidth" +
                   (standard.empty() ? " (TS 38.101 lists none for this subcarrier spacing)"
                                     : " for this subcarrier spacing (" + standard + ")") +
                   (hint.empty() ? "" : "; nearest whole-RB bandwidths: " + hint);
        }
        nRb = static_cast<uint32_t>(whole);
    }
    if (rbgSize < 0)
    {
        return "RBG size " + std::to_string(rbgSize) +
               " must be 0 (TS 38.214 Table 5.1.2.2.1-1 configuration 1) or a positive number of RBs";
    }
    if (static_cast<uint32_t>(rbgSize) > nRb)
    {
        return "RBG size " + std::to_string(rbgSize) + " is larger than the carrier's " +
               std::to_string(nRb) + " RBs";
    }
    return "";
}

Carrier
MakeCarrier(double frequencyHz, double bandwidthHz, int mu, int rbgSize)
{
    std::string reason = ValidateCarrier(frequencyHz, bandwidthHz, mu, rbgSize);
    if (!reason.empty())
    {
        throw InvalidPhyConfig(reason);
    }
    Carrier c;
    c.frequencyHz = frequencyHz;
    c.bandwidthHz = bandwidthHz;
    c.numerology = Numerology{mu};
    c.nRb = StandardRbCount(frequencyHz, bandwidthHz, mu);
    c.standardBandwidth = c.nRb > 0;
    if (!c.standardBandwidth)
    {
        c.nRb = static_cast<uint32_t>(std::round(bandwidthHz / c.numerology.RbBandwidthHz()));
    }
    c.rbgSize = rbgSize > 0 ? static_cast<uint32_t>(rbgSize) : RbgSizeForBwp(c.nRb, 1);
    c.nRbg = (c.nRb + c.rbgSize - 1) / c.rbgSize;
    c.lastRbgSize = c.nRb - (c.nRbg - 1) * c.rbgSize;
    return c;
}

} // namespace ns6g::ran
