// The 6G RAN's link abstraction (see ran-link-adaptation.h and docs/ran-phy.md).
#include "ran/model/ran-link-adaptation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace ns6g::ran
{

namespace
{

constexpr double kLog2e = 1.4426950408889634; // log2(e)

double
DbToLinear(double db)
{
    return std::pow(10.0, db / 10.0);
}

// TS 38.214 V17 Table 5.1.3.1-2: MCS index table 2 for PDSCH (256-QAM). Columns: Q_m, target code
// rate R x 1024, spectral efficiency. MCS 28..31 (retransmissions only) left out.
const std::vector<ModulationCoding> kMcsTable2 = {
    {2, 120, 0.2344},   {2, 193, 0.3770},   {2, 308, 0.6016},   {2, 449, 0.8770},
    {2, 602, 1.1758},   {4, 378, 1.4766},   {4, 434, 1.6953},   {4, 490, 1.9141},
    {4, 553, 2.1602},   {4, 616, 2.4063},   {4, 658, 2.5703},   {6, 466, 2.7305},
    {6, 517, 3.0293},   {6, 567, 3.3223},   {6, 616, 3.6094},   {6, 666, 3.9023},
    {6, 719, 4.2129},   {6, 772, 4.5234},   {6, 822, 4.8164},   {6, 873, 5.1152},
    {8, 682.5, 5.3320}, {8, 711, 5.5547},   {8, 754, 5.8906},   {8, 797, 6.2266},
    {8, 841, 6.5703},   {8, 885, 6.9141},   {8, 916.5, 7.1602}, {8, 948, 7.4063},
};

// TS 38.214 V17 Table 5.1.3.1-4: MCS index table 4 for PDSCH (1024-QAM). MCS 27..31 left out.
const std::vector<ModulationCoding> kMcsTable4 = {
    {2, 120, 0.2344},    {2, 193, 0.3770},   {2, 449, 0.8770},    {4, 378, 1.4766},
    {4, 490, 1.9141},    {4, 616, 2.4063},   {6, 466, 2.7305},    {6, 517, 3.0293},
    {6, 567, 3.3223},    {6, 616, 3.6094},   {6, 666, 3.9023},    {6, 719, 4.2129},
    {6, 772, 4.5234},    {6, 822, 4.8164},   {6, 873, 5.1152},    {8, 682.5, 5.3320},
    {8, 711, 5.5547},    {8, 754, 5.8906},   {8, 797, 6.2266},    {8, 841, 6.5703},
    {8, 885, 6.9141},    {8, 916.5, 7.1602}, {8, 948, 7.4063},    {10, 805.5, 7.8662},
    {10, 853, 8.3301},   {10, 900.5, 8.7939}, {10, 948, 9.2578},
};

// TS 38.214 V17 Table 5.2.2.1-3: 4-bit CQI table 2 (256-QAM). CQI 0 is "out of range".
const std::vector<ModulationCoding> kCqiTable2 = {
    {0, 0, 0.0},      {2, 78, 0.1523},  {2, 193, 0.3770}, {2, 449, 0.8770},
    {4, 378, 1.4766}, {4, 490, 1.9141}, {4, 616, 2.4063}, {6, 466, 2.7305},
    {6, 567, 3.3223}, {6, 666, 3.9023}, {6, 772, 4.5234}, {6, 873, 5.1152},
    {8, 711, 5.5547}, {8, 797, 6.2266}, {8, 885, 6.9141}, {8, 948, 7.4063},
};

// TS 38.214 V17 Table 5.2.2.1-5: 4-bit CQI table 4 (1024-QAM). CQI 0 is "out of range".
const std::vector<ModulationCoding> kCqiTable4 = {
    {0, 0, 0.0},       {2, 78, 0.1523},  {2, 193, 0.3770}, {2, 449, 0.8770},
    {4, 378, 1.4766},  {4, 616, 2.4063}, {6, 567, 3.3223}, {6, 666, 3.9023},
    {6, 772, 4.5234},  {6, 873, 5.1152}, {8, 711, 5.5547}, {8, 797, 6.2266},
    {8, 885, 6.9141},  {8, 948, 7.4063}, {10, 853, 8.3301}, {10, 948, 9.2578},
};

// TS 38.214 V17 Table 5.1.3.2-1: TBS for N_info <= 3824.
const std::array<uint32_t, 93> kTbsTable = {
    24,   32,   40,   48,   56,   64,   72,   80,   88,   96,   104,  112,  120,  128,  136,  144,
    152,  160,  168,  176,  184,  192,  208,  224,  240,  256,  272,  288,  304,  320,  336,  352,
    368,  384,  408,  432,  456,  480,  504,  528,  552,  576,  608,  640,  672,  704,  736,  768,
    808,  848,  888,  928,  984,  1032, 1064, 1128, 1160, 1192, 1224, 1256, 1288, 1320, 1352, 1416,
    1480, 1544, 1608, 1672, 1736, 1800, 1864, 1928, 2024, 2088, 2152, 2216, 2280, 2408, 2472, 2536,
    2600, 2664, 2728, 2792, 2856, 2976, 3104, 3240, 3368, 3496, 3624, 3752, 3824,
};

/** Upper bound on scheduled RBs in a TBS request (keeps the TBS within 32 bits). */
constexpr uint32_t kMaxTbsRbs = 100000;

} // namespace

// ---------------------------------------------------------------------------------------------------
// Noise, power, SINR

double
ThermalNoiseDbm(double bandwidthHz, double noiseFigureDb)
{
    if (!(bandwidthHz > 0.0))
    {
        throw InvalidPhyConfig("noise bandwidth " + FormatNumber(bandwidthHz) + " Hz must be positive");
    }
    return kThermalNoiseDbmPerHz + 10.0 * std::log10(bandwidthHz) + noiseFigureDb;
}

double
PuschPowerDbm(double pMaxDbm, double p0Dbm, double alpha, uint32_t mu, uint32_t nRb, double pathlossDb)
{
    if (nRb == 0)
    {
        throw InvalidPhyConfig("PUSCH power on 0 RBs");
    }
    const double wanted = p0Dbm + 10.0 * std::log10(std::ldexp(static_cast<double>(nRb), static_cast<int>(mu))) +
                          alpha * pathlossDb;
    return std::min(pMaxDbm, wanted);
}

double
TxPowerPerRbDbm(double totalPowerDbm, uint32_t nRb)
{
    if (nRb == 0)
    {
        throw InvalidPhyConfig("transmit power cannot be split over 0 RBs");
    }
    return totalPowerDbm - 10.0 * std::log10(static_cast<double>(nRb));
}

double
RbSinr(double signalMw, double noiseMw, double interferenceMw)
{
    return signalMw / (noiseMw + interferenceMw);
}

std::vector<double>
PerRbSinr(const std::vector<double>& signalDbm,
          double noiseDbm,
          const std::vector<std::vector<double>>& interferenceMw)
{
    for (size_t c = 0; c < interferenceMw.size(); ++c)
    {
        if (interferenceMw[c].size() != signalDbm.size())
        {
            throw InvalidPhyConfig("interferer " + std::to_string(c) + " gives " +
                                   std::to_string(interferenceMw[c].size()) + " RB powers for " +
                                   std::to_string(signalDbm.size()) + " RBs");
        }
    }
    double noiseMw = DbToLinear(noiseDbm);
    std::vector<double> sinr(signalDbm.size());
    for (size_t rb = 0; rb < signalDbm.size(); ++rb)
    {
        double interference = 0.0;
        for (const auto& cell : interferenceMw)
        {
            interference += cell[rb];
        }
        sinr[rb] = RbSinr(DbToLinear(signalDbm[rb]), noiseMw, interference);
    }
    return sinr;
}

double
EffectiveSinr(const std::vector<double>& sinrLinear)
{
    if (sinrLinear.empty())
    {
        return 0.0;
    }
    double sum = 0.0;
    for (double s : sinrLinear)
    {
        sum += std::log2(1.0 + std::max(0.0, s));
    }
    return std::exp2(sum / sinrLinear.size()) - 1.0;
}

// ---------------------------------------------------------------------------------------------------
// Tables

std::string
McsTableName(McsTable table)
{
    return table == McsTable::kQam256 ? "256-QAM" : "1024-QAM";
}

McsTable
McsTableFromIndex(int index)
{
    if (index == 0)
    {
        return McsTable::kQam256;
    }
    if (index == 1)
    {
        return McsTable::kQam1024;
    }
    throw InvalidPhyConfig("MCS table " + std::to_string(index) +
                           " is not 0 (256-QAM, TS 38.214 Tables 5.1.3.1-2 and 5.2.2.1-3) or 1 "
                           "(1024-QAM, Tables 5.1.3.1-4 and 5.2.2.1-5)");
}

const std::vector<ModulationCoding>&
McsEntries(McsTable table)
{
    return table == McsTable::kQam256 ? kMcsTable2 : kMcsTable4;
}

const std::vector<ModulationCoding>&
CqiEntries(McsTable table)
{
    return table == McsTable::kQam256 ? kCqiTable2 : kCqiTable4;
}

int
MaxMcs(McsTable table)
{
    return static_cast<int>(McsEntries(table).size()) - 1;
}

const ModulationCoding&
GetMcs(McsTable table, int mcs)
{
    if (mcs < 0 || mcs > MaxMcs(table))
    {
        throw InvalidPhyConfig("MCS " + std::to_string(mcs) + " is out of range 0.." +
                               std::to_string(MaxMcs(table)) + " of the " + McsTableName(table) +
                               " table (" +
                               (table == McsTable::kQam256 ? "TS 38.214 Table 5.1.3.1-2"
                                                           : "TS 38.214 Table 5.1.3.1-4") +
                               "; higher indices are reserved for retransmissions)");
    }
    return McsEntries(table)[mcs];
}

// ---------------------------------------------------------------------------------------------------
// TBS (TS 38.214 Section 5.1.3.2)

TbsDetails
TransportBlockSizeDetails(McsTable table, int mcs, const TbsParams& p)
{
    const ModulationCoding& mc = GetMcs(table, mcs);
    if (p.nRb < 1 || p.nRb > kMaxTbsRbs)
    {
        throw InvalidPhyConfig("number of RBs " + std::to_string(p.nRb) + " is out of range 1.." +
                               std::to_string(kMaxTbsRbs));
    }
    if (p.nSymbols < 1 || p.nSymbols > kSymbolsPerSlot)
    {
        throw InvalidPhyConfig("number of symbols " + std::to_string(p.nSymbols) + " is out of range 1..14");
    }
    if (p.nLayers < 1 || p.nLayers > 4)
    {
        throw InvalidPhyConfig("number of layers " + std::to_string(p.nLayers) +
                               " is out of range 1..4 (one codeword)");
    }
    int64_t nRePrime = static_cast<int64_t>(kSubcarriersPerRb) * p.nSymbols - p.dmrsRePerRb - p.overheadRePerRb;
    if (nRePrime <= 0)
    {
        throw InvalidPhyConfig("no resource elements left for data: 12 x " + std::to_string(p.nSymbols) +
                               " symbols - " + std::to_string(p.dmrsRePerRb) + " DMRS - " +
                               std::to_string(p.overheadRePerRb) + " overhead REs per RB <= 0");
    }
    TbsDetails d;
    // Step 1: N_RE = min(156, N_RE') * n_PRB.
    d.nRe = static_cast<uint32_t>(std::min<int64_t>(156, nRePrime)) * p.nRb;
    // Step 2: N_info = N_RE * R * Q_m * v. R x 1024 is a multiple of 0.5, so this is exact in double.
    d.nInfo = d.nRe * (mc.rateX1024 / 1024.0) * mc.qm * p.nLayers;
    if (d.nInfo <= 3824.0)
    {
        // Step 3: n = max(3, floor(log2 N_info) - 6), N_info' = max(24, 2^n floor(N_info / 2^n)), then
        // the smallest TBS of Table 5.1.3.2-1 not less than N_info'.
        int n = std::max(3, static_cast<int>(std::floor(std::log2(d.nInfo))) - 6);
        double step = std::ldexp(1.0, n);
        d.nInfoQuantized = std::max(24.0, step * std::floor(d.nInfo / step));
        for (uint32_t tbs : kTbsTable)
        {
            if (tbs >= d.nInfoQuantized)
            {
                d.tbsBits = tbs;
                break;
            }
        }
        return d;
    }
    // Step 4: n = floor(log2(N_info - 24)) - 5, N_info' = max(3840, 2^n round((N_info - 24) / 2^n)),
    // ties rounded up.
    int n = static_cast<int>(std::floor(std::log2(d.nInfo - 24.0))) - 5;
    double step = std::ldexp(1.0, n);
    d.nInfoQuantized = std::max(3840.0, step * std::floor((d.nInfo - 24.0) / step + 0.5));
    auto ni = static_cast<uint64_t>(d.nInfoQuantized);
    auto ceilDiv = [](uint64_t a, uint64_t b) { return (a + b - 1) / b; };
    uint64_t tbs;
    if (mc.rateX1024 <= 256.0) // R <= 1/4
    {
        uint64_t c = ceilDiv(ni + 24, 3816);
        tbs = 8 * c * ceilDiv(ni + 24, 8 * c) - 24;
    }
    else if (ni > 8424)
    {
        uint64_t c = ceilDiv(ni + 24, 8424);
        tbs = 8 * c * ceilDiv(ni + 24, 8 * c) - 24;
    }
    else
    {
        tbs = 8 * ceilDiv(ni + 24, 8) - 24;
    }
    d.tbsBits = static_cast<uint32_t>(tbs);
    return d;
}

uint32_t
TransportBlockSize(McsTable table, int mcs, const TbsParams& params)
{
    return TransportBlockSizeDetails(table, mcs, params).tbsBits;
}

CodeBlockSegmentation
SegmentTransportBlock(uint32_t tbsBits, double codeRate)
{
    CodeBlockSegmentation s;
    // TS 38.212 Section 7.2.2: base graph 2 for A <= 292, or A <= 3824 and R <= 0.67, or R <= 0.25.
    bool bg2 = tbsBits <= 292 || (tbsBits <= 3824 && codeRate <= 0.67) || codeRate <= 0.25;
    s.baseGraph = bg2 ? 2 : 1;
    // TS 38.212 Section 7.2.1: 24-bit TB CRC, 16-bit for A <= 3824.
    s.tbCrcBits = tbsBits > 3824 ? 24 : 16;
    // TS 38.212 Section 5.2.2: maximum code block size 8448 (BG1) or 3840 (BG2); 24-bit CB CRC.
    double b = tbsBits + static_cast<double>(s.tbCrcBits);
    double kcb = bg2 ? 3840.0 : 8448.0;
    if (b <= kcb)
    {
        s.nCodeBlocks = 1;
        s.codeBlockBits = b;
    }
    else
    {
        s.nCodeBlocks = static_cast<uint32_t>(std::ceil(b / (kcb - 24.0)));
        s.codeBlockBits = (b + 24.0 * s.nCodeBlocks) / s.nCodeBlocks;
    }
    return s;
}

// ---------------------------------------------------------------------------------------------------
// BLER

double
BlerModel::GapDb(uint8_t qm) const
{
    int i = std::clamp(qm / 2 - 1, 0, static_cast<int>(modulationGapDb.size()) - 1);
    return codingGapDb + modulationGapDb[i];
}

double
CodeBlockErrorRate(double sinrLinear, double spectralEfficiency, double codeBlockBits, double gapDb)
{
    if (!(sinrLinear > 0.0))
    {
        return 1.0;
    }
    if (std::isinf(sinrLinear))
    {
        return 0.0;
    }
    double g = sinrLinear / DbToLinear(gapDb);
    double capacity = std::log2(1.0 + g);
    double dispersion = g * (g + 2.0) / ((g + 1.0) * (g + 1.0)) * kLog2e * kLog2e;
    double n = codeBlockBits / spectralEfficiency; // resource elements (channel uses) per code block
    if (!(dispersion > 0.0))
    {
        return 1.0;
    }
    double z = (n * capacity + 0.5 * std::log2(n) - codeBlockBits) / std::sqrt(n * dispersion);
    return 0.5 * std::erfc(z / std::sqrt(2.0));
}

double
TransportBlockBler(double sinrLinear, const ModulationCoding& mc, uint32_t tbsBits, double channelUses,
                   const BlerModel& model)
{
    if (mc.qm == 0)
    {
        throw InvalidPhyConfig("BLER of CQI 0 ('out of range') is undefined");
    }
    if (tbsBits == 0)
    {
        throw InvalidPhyConfig("a transport block needs at least one bit");
    }
    if (channelUses < 0.0 || std::isnan(channelUses))
    {
        throw InvalidPhyConfig("channel uses " + FormatNumber(channelUses) + " must be >= 0 (0: unknown)");
    }
    if (!(sinrLinear > 0.0))
    {
        return 1.0;
    }
    CodeBlockSegmentation seg = SegmentTransportBlock(tbsBits, mc.CodeRate());
    // Bits per channel use the code runs at: the MCS's, or more where the block's resources are known
    // and quantisation or a short allocation packs the bits (CRCs included) tighter.
    double efficiency = mc.BitsPerRe();
    if (channelUses > 0.0)
    {
        efficiency = std::max(efficiency, seg.nCodeBlocks * seg.codeBlockBits / channelUses);
    }
    // Nothing decodes above capacity (the tabulated efficiency, rounded, must fit as well).
    if (std::log2(1.0 + sinrLinear) <= std::max(efficiency, mc.spectralEfficiency))
    {
        return 1.0;
    }
    double p = CodeBlockErrorRate(sinrLinear, efficiency, seg.codeBlockBits, model.GapDb(mc.qm));
    if (p >= 1.0)
    {
        return 1.0;
    }
    // 1 - (1 - p)^C, accurate for small p.
    return -std::expm1(seg.nCodeBlocks * std::log1p(-p));
}

double
RequiredSinrDb(const ModulationCoding& mc, uint32_t tbsBits, double targetBler, const BlerModel& model)
{
    double lo = -40.0;
    double hi = 80.0;
    while (hi - lo > 1e-4)
    {
        double mid = 0.5 * (lo + hi);
        if (TransportBlockBler(DbToLinear(mid), mc, tbsBits, 0.0, model) <= targetBler)
        {
            hi = mid;
        }
        else
        {
            lo = mid;
        }
    }
    return hi;
}

// ---------------------------------------------------------------------------------------------------
// Link adaptation

int
SinrToCqi(double sinrLinear, McsTable table, uint32_t referenceTbsBits, double targetBler,
          const BlerModel& model)
{
    uint32_t tbs = referenceTbsBits ? referenceTbsBits : kReferenceTbsBits;
    const auto& cqis = CqiEntries(table);
    for (int cqi = static_cast<int>(cqis.size()) - 1; cqi >= 1; --cqi)
    {
        if (TransportBlockBler(sinrLinear, cqis[cqi], tbs, 0.0, model) <= targetBler)
        {
            return cqi;
        }
    }
    return 0;
}

int
CqiToMcs(int cqi, McsTable table)
{
    const auto& cqis = CqiEntries(table);
    if (cqi < 0 || cqi >= static_cast<int>(cqis.size()))
    {
        throw InvalidPhyConfig("CQI " + std::to_string(cqi) + " is out of range 0..15");
    }
    if (cqi == 0)
    {
        return -1;
    }
    const auto& mcs = McsEntries(table);
    int best = 0;
    for (int m = 0; m < static_cast<int>(mcs.size()); ++m)
    {
        if (mcs[m].spectralEfficiency <= cqis[cqi].spectralEfficiency + 1e-9)
        {
            best = m;
        }
    }
    return best;
}

LinkAdaptation
AdaptLink(double sinrLinear, McsTable table, uint32_t referenceTbsBits, double targetBler,
          const BlerModel& model)
{
    uint32_t tbs = referenceTbsBits ? referenceTbsBits : kReferenceTbsBits;
    LinkAdaptation la;
    la.cqi = SinrToCqi(sinrLinear, table, tbs, targetBler, model);
    la.mcs = CqiToMcs(la.cqi, table);
    if (la.mcs >= 0)
    {
        la.modulationCoding = GetMcs(table, la.mcs);
        la.bler = TransportBlockBler(sinrLinear, la.modulationCoding, tbs, 0.0, model);
    }
    return la;
}

// ---------------------------------------------------------------------------------------------------
// HARQ

void
HarqProcess::Start(uint32_t tbs, int mcsIndex, McsTable mcsTable, double uses)
{
    GetMcs(mcsTable, mcsIndex); // range check
    if (tbs == 0)
    {
        throw InvalidPhyConfig("a transport block needs at least one bit");
    }
    if (uses < 0.0 || std::isnan(uses))
    {
        throw InvalidPhyConfig("channel uses " + FormatNumber(uses) + " must be >= 0 (0: unknown)");
    }
    channelUses = uses;
    active = true;
    ndi = !ndi;
    tbsBits = tbs;
    mcs = mcsIndex;
    table = mcsTable;
    transmissions = 0;
    combinedSinr = 0.0;
}

HarqOutcome
HarqProcess::Receive(double effectiveSinr, double uniform01, uint32_t maxTransmissions,
                     const BlerModel& model)
{
    if (!active)
    {
        throw std::logic_error("HARQ process has no transport block to receive (call Start first)");
    }
    if (maxTransmissions == 0)
    {
        throw InvalidPhyConfig("HARQ needs at least one transmission");
    }
    ++transmissions;
    combinedSinr += std::max(0.0, effectiveSinr);
    HarqOutcome out;
    out.transmission = transmissions;
    out.combinedSinr = combinedSinr;
    out.bler = TransportBlockBler(combinedSinr, GetMcs(table, mcs), tbsBits, channelUses, model);
    out.decoded = uniform01 >= out.bler;
    out.dropped = !out.decoded && transmissions >= maxTransmissions;
    if (out.decoded || out.dropped)
    {
        active = false;
    }
    return out;
}

HarqStatistics
ExpectedHarq(double sinrLinear, const ModulationCoding& mc, uint32_t tbsBits, uint32_t maxTransmissions,
             double channelUses, const BlerModel& model)
{
    if (maxTransmissions == 0)
    {
        throw InvalidPhyConfig("HARQ needs at least one transmission");
    }
    HarqStatistics s;
    s.residualBler = 1.0;
    s.expectedTransmissions = 0.0;
    double sinr = std::max(0.0, sinrLinear);
    for (uint32_t k = 1; k <= maxTransmissions; ++k)
    {
        s.expectedTransmissions += s.residualBler; // transmission k happens if all before failed
        double bler = TransportBlockBler(k * sinr, mc, tbsBits, channelUses, model);
        if (k == 1)
        {
            s.firstBler = bler;
        }
        s.residualBler *= bler;
    }
    return s;
}

} // namespace ns6g::ran
