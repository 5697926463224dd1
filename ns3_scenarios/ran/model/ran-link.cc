#include "ran/model/ran-link.h"

#include "ns3/log.h"
#include "ns3/mobility-model.h"
#include "ns3/simulator.h"
#include "ns3/uinteger.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace ns6g::ran
{

NS_LOG_COMPONENT_DEFINE("Ns6gRanLink");
NS_OBJECT_ENSURE_REGISTERED(RanLink);

namespace
{
constexpr double kSinrGridMinDb = -30.0;
constexpr double kSinrGridMaxDb = 60.0;
constexpr double kSinrGridStepDb = 0.01;
constexpr uint32_t kDmrsRePerRb = 12; // one DMRS symbol per slot, as TbsParams assumes
constexpr double kLargeScaleRefreshM = 1.0; // see RefreshLosses

double
DbmToMw(double dbm)
{
    return std::pow(10.0, dbm / 10.0);
}

double
ToDb(double linear)
{
    return 10.0 * std::log10(linear);
}

LinkDirection
PhyDirection(Direction d)
{
    return d == Direction::Downlink ? LinkDirection::kDownlink : LinkDirection::kUplink;
}
} // namespace

ns3::TypeId
RanLink::GetTypeId()
{
    using namespace ns3;
    static TypeId tid = TypeId("ns6g::ran::RanLink")
                            .SetParent<RanLinkModel>()
                            .SetGroupName("Ns6gRan")
                            .AddConstructor<RanLink>()
                            .AddAttribute("UlCqiRbgs",
                                          "RBGs over which uplink CQI assumes the UE spreads its power",
                                          UintegerValue(4),
                                          MakeUintegerAccessor(&RanLink::m_ulCqiRbgs),
                                          MakeUintegerChecker<uint32_t>(1));
    return tid;
}

RanLink::RanLink()
    : m_uniform(ns3::CreateObject<ns3::UniformRandomVariable>())
{
}

void
RanLink::DoDispose()
{
    m_channel = nullptr;
    m_phy = nullptr;
    m_uniform = nullptr;
    m_gnbs = ns3::NodeContainer();
    m_ues = ns3::NodeContainer();
    RanLinkModel::DoDispose();
}

void
RanLink::Setup(ns3::Ptr<RanChannel> channel,
               ns3::Ptr<RanPhy> phy,
               const ns3::NodeContainer& gnbs,
               const ns3::NodeContainer& ues)
{
    m_channel = channel;
    m_phy = phy;
    m_gnbs = gnbs;
    m_ues = ues;
    m_carrier = phy->GetCarrier();
    if (channel->GetNumRbs() != m_carrier.nRb)
    {
        throw std::invalid_argument("RanLink: the channel has " + std::to_string(channel->GetNumRbs()) +
                                    " RBs, the carrier " + std::to_string(m_carrier.nRb));
    }
    m_table = phy->GetMcsTable();
    m_noiseMw[0] = DbmToMw(phy->GetNoisePerRbDbm(LinkDirection::kDownlink));
    m_noiseMw[1] = DbmToMw(phy->GetNoisePerRbDbm(LinkDirection::kUplink));
    m_dlTxPerRbDbm = phy->GetTxPowerPerRbDbm(LinkDirection::kDownlink, m_carrier.nRb);
    m_dlTxPerRbMw = DbmToMw(m_dlTxPerRbDbm);
    m_channelUsesPerRb = kSubcarriersPerRb * kSymbolsPerSlot - kDmrsRePerRb;

    // CQI is a step function of SINR: find its steps once (on a 0.01 dB grid) instead of evaluating BLER
    // curves for every UE and RBG of every slot. m_cqiThreshold[c] is the lowest SINR (linear) of CQI c.
    m_cqiThreshold.assign(16, std::numeric_limits<double>::infinity());
    m_cqiThreshold[0] = 0.0;
    int previous = SinrToCqi(std::pow(10.0, kSinrGridMinDb / 10.0), m_table);
    for (int c = 0; c <= previous; ++c)
    {
        m_cqiThreshold[c] = 0.0;
    }
    const auto points = static_cast<size_t>((kSinrGridMaxDb - kSinrGridMinDb) / kSinrGridStepDb) + 1;
    for (size_t i = 1; i < points; ++i)
    {
        double linear = std::pow(10.0, (kSinrGridMinDb + i * kSinrGridStepDb) / 10.0);
        int cqi = SinrToCqi(linear, m_table);
        for (int c = previous + 1; c <= cqi; ++c)
        {
            m_cqiThreshold[c] = linear;
        }
        previous = std::max(previous, cqi);
    }
    if (!std::is_sorted(m_cqiThreshold.begin(), m_cqiThreshold.end()))
    {
        throw std::logic_error("RanLink: CQI thresholds must not decrease (CqiOf searches them)");
    }
    m_mcsByCqi.resize(16);
    for (int cqi = 0; cqi < 16; ++cqi)
    {
        m_mcsByCqi[cqi] = CqiToMcs(cqi, m_table);
    }
    m_rbgRbs.resize(m_carrier.nRbg);
    for (uint32_t rbg = 0; rbg < m_carrier.nRbg; ++rbg)
    {
        m_rbgRbs[rbg] = m_carrier.RbgRbCount(rbg);
    }
    m_rbgTbs.assign(MaxMcs(m_table) + 1, std::vector<uint32_t>(m_carrier.rbgSize + 1, 0));
    for (int mcs = 0; mcs <= MaxMcs(m_table); ++mcs)
    {
        for (uint32_t n = 1; n <= m_carrier.rbgSize; ++n)
        {
            m_rbgTbs[mcs][n] = phy->GetTbs(mcs, n);
        }
    }

    const uint32_t nCells = gnbs.GetN();
    const uint32_t nUes = ues.GetN();
    m_nUes = nUes;
    m_lossDb.assign(static_cast<size_t>(nCells) * nUes, 0.0);
    m_lossGain.assign(static_cast<size_t>(nCells) * nUes, 0.0);
    m_rsrpGainDb.assign(static_cast<size_t>(nCells) * nUes, 0.0);
    m_ulRefPerRbMw.assign(static_cast<size_t>(nCells) * nUes, 0.0);
    m_gains.assign(nUes, ServingGains{});
    m_maxRbgs.assign(nUes, MaxRbgsEntry{});
    m_lastPosition.assign(nUes, std::nullopt);
    m_lossVersion.assign(nUes, 0);
    m_bitsRows.assign(nUes, BitsRow{});
    m_cqiRows.assign(nUes, CqiRow{});
    m_measurements.assign(nUes, LinkMeasurement{});
    for (size_t d = 0; d < 2; ++d)
    {
        m_current[d].assign(nCells, std::vector<int32_t>(m_carrier.nRbg, -1));
        m_previous[d] = m_current[d];
    }
    m_previousUsers.assign(m_carrier.nRbg, 0);
    m_currentUsers.assign(m_carrier.nRbg, 0); // the masks of m_current's empty allocations
    m_lossEpoch = UINT64_MAX;
}

ns3::Ptr<RanPhy>
RanLink::GetPhy() const
{
    return m_phy;
}

ns3::Ptr<RanChannel>
RanLink::GetChannel() const
{
    return m_channel;
}

int64_t
RanLink::AssignStreams(int64_t stream)
{
    m_uniform->SetStream(stream);
    return 1 + m_channel->AssignStreams(stream + 1);
}

size_t
RanLink::Pair(uint32_t cell, uint32_t ue) const
{
    return static_cast<size_t>(cell) * m_nUes + ue;
}

void
RanLink::BeginSlot(ns3::Time /* now */)
{
    for (size_t d = 0; d < 2; ++d)
    {
        m_previous[d] = m_current[d];
    }
    // Which cells used each RBG in the last slot, as a bit mask: RbgBitsRow sums the interference of
    // the same set of cells only once per run of RBGs that share it. They are the masks SetAllocations
    // made of the allocations that just became the previous ones.
    if (m_currentUsers != m_previousUsers)
    {
        m_previousUsers = m_currentUsers;
        ++m_usersVersion;
    }
    m_epoch = m_channel->GetEpoch();
    RefreshLosses();
}

void
RanLink::RefreshLosses()
{
    // Large-scale loss and the reference-signal beam gain change with geometry: recompute a UE's
    // values once it has moved kLargeScaleRefreshM (and on the first call), checked once per update period.
    if (m_channel->GetEpoch() == m_lossEpoch)
    {
        return;
    }
    m_lossEpoch = m_channel->GetEpoch();
    for (uint32_t u = 0; u < m_ues.GetN(); ++u)
    {
        ns3::Vector position = m_ues.Get(u)->GetObject<ns3::MobilityModel>()->GetPosition();
        if (m_lastPosition[u].has_value() &&
            ns3::CalculateDistance(position, *m_lastPosition[u]) < kLargeScaleRefreshM)
        {
            continue;
        }
        m_lastPosition[u] = position;
        ++m_lossVersion[u];
        for (uint32_t c = 0; c < m_gnbs.GetN(); ++c)
        {
            m_lossDb[Pair(c, u)] = m_channel->GetLargeScaleLossDb(m_gnbs.Get(c), m_ues.Get(u));
            m_lossGain[Pair(c, u)] = std::pow(10.0, -m_lossDb[Pair(c, u)] / 10.0);
            m_rsrpGainDb[Pair(c, u)] = m_channel->GetLosArrayGainDb(m_gnbs.Get(c), m_ues.Get(u));
            // Uplink power control follows the path loss the UE measures on the reference signal.
            const double pl = PathlossDb(u, c);
            const uint32_t refRbs = m_ulCqiRbgs * m_carrier.rbgSize;
            m_ulRefPerRbMw[Pair(c, u)] = DbmToMw(m_phy->GetUlTxPowerDbm(refRbs, pl) - ToDb(refRbs));
        }
    }
}

double
RanLink::RsrpDbm(uint32_t ue, uint32_t cell)
{
    RefreshLosses();
    // Power per resource element of a beamformed reference signal.
    return m_dlTxPerRbDbm - ToDb(kSubcarriersPerRb) - m_lossDb[Pair(cell, ue)] + m_rsrpGainDb[Pair(cell, ue)];
}

double
RanLink::PathlossDb(uint32_t ue, uint32_t cell) const
{
    // Reference-signal power less RSRP: the coupling loss with the beam gain the UE sees.
    return m_lossDb[Pair(cell, ue)] - m_rsrpGainDb[Pair(cell, ue)];
}

uint32_t
RanLink::MaxRbgs(uint32_t ue, uint32_t cell, Direction direction)
{
    if (direction == Direction::Downlink)
    {
        return m_carrier.nRbg;
    }
    RefreshLosses();
    // Power headroom: spread over n RBs, the UE's power per RB is min(P_max / n, its power-controlled
    // target). It is given at most the RBs on which that still reaches the lowest CQI's SINR (noise-
    // limited, at its wideband gain), at least one RBG: more would leave every RB undecodable.
    RbgGains(ue, cell);
    // Its inputs (the serving gains, the losses) change only with the epochs: once per UE and update
    // period, not once per slot (the uplink scheduler asks for every uploading UE every slot).
    MaxRbgsEntry& cached = m_maxRbgs[ue];
    if (cached.epoch == m_epoch && cached.lossEpoch == m_lossEpoch && cached.cell == cell)
    {
        return cached.rbgs;
    }
    cached.rbgs = UplinkRbgsOfPower(ue, cell);
    cached.epoch = m_epoch;
    cached.lossEpoch = m_lossEpoch;
    cached.cell = cell;
    return cached.rbgs;
}

uint32_t
RanLink::UplinkRbgsOfPower(uint32_t ue, uint32_t cell)
{
    double meanGain = 0.0;
    for (double g : m_gains[ue].rbgGain)
    {
        meanGain += g;
    }
    const double gainOverNoise = m_lossGain[Pair(cell, ue)] * meanGain / m_carrier.nRbg / m_noiseMw[1];
    const double needed = m_cqiThreshold[1];
    const double targetMw = DbmToMw(m_phy->GetUlTxPowerDbm(1, PathlossDb(ue, cell)));
    if (targetMw * gainOverNoise < needed)
    {
        return 1;
    }
    const double rbs = DbmToMw(m_phy->GetLinkParams(LinkDirection::kUplink).txPowerDbm) * gainOverNoise / needed;
    const double rbgs = std::floor(rbs / m_carrier.rbgSize);
    return rbgs >= m_carrier.nRbg ? m_carrier.nRbg : std::max(1U, static_cast<uint32_t>(rbgs));
}

double
RanLink::TxPowerDbm(uint32_t ue, uint32_t cell, Direction direction, const std::vector<uint32_t>& rbgs)
{
    const uint32_t nRb = RbsOf(rbgs);
    if (direction == Direction::Downlink)
    {
        return m_dlTxPerRbDbm + ToDb(nRb); // the gNB's power on these RBs (constant PSD)
    }
    RefreshLosses();
    return m_phy->GetUlTxPowerDbm(nRb, PathlossDb(ue, cell));
}

const std::vector<double>&
RanLink::RbgGains(uint32_t ue, uint32_t cell)
{
    ServingGains& g = m_gains[ue];
    const uint64_t epoch = m_epoch; // set by BeginSlot
    if (g.epoch != epoch || g.cell != cell || g.rbgGain.empty())
    {
        const std::vector<double>& rb = m_channel->GetRbGainsDb(m_gnbs.Get(cell), m_ues.Get(ue));
        // The RB gains are equal within each band of `group` RBs: a band's first value stands for all.
        const uint32_t group = m_channel->GetRbGroupSize();
        const size_t nBands = (rb.size() + group - 1) / group;
        bool same = g.cell == cell && g.rbgGain.size() == m_carrier.nRbg && g.bandDb.size() == nBands;
        for (size_t b = 0; same && b < nBands; ++b)
        {
            same = rb[b * group] == g.bandDb[b];
        }
        if (same)
        {
            g.epoch = epoch; // the channel kept its values (a static link): so do the RBGs
            return g.rbgGain;
        }
        g.bandDb.resize(nBands);
        g.bandLinear.resize(nBands);
        for (size_t b = 0; b < nBands; ++b)
        {
            // One pow per band, not per RB.
            g.bandDb[b] = rb[b * group];
            g.bandLinear[b] = std::pow(10.0, g.bandDb[b] / 10.0);
        }
        g.rbgGain.assign(m_carrier.nRbg, 0.0);
        for (uint32_t rbg = 0; rbg < m_carrier.nRbg; ++rbg)
        {
            const uint32_t first = m_carrier.RbgFirstRb(rbg);
            const uint32_t n = m_carrier.RbgRbCount(rbg);
            // The RBG's mean linear gain, its RBs added one by one in order.
            double sum = 0.0;
            size_t band = first / group;
            uint32_t leftInBand = group - first % group;
            for (uint32_t i = 0; i < n; ++i)
            {
                sum += g.bandLinear[band];
                if (--leftInBand == 0)
                {
                    ++band;
                    leftInBand = group;
                }
            }
            g.rbgGain[rbg] = sum / n;
        }
        g.epoch = epoch;
        g.cell = cell;
        g.version = ++m_gainsVersions;
    }
    return g.rbgGain;
}

double
RanLink::RbgSinr(uint32_t ue,
                 uint32_t cell,
                 uint32_t rbg,
                 Direction direction,
                 uint32_t nRbTx,
                 const std::vector<std::vector<int32_t>>& allocations)
{
    // Linear units throughout: this runs for every UE and RBG of every slot.
    const size_t d = static_cast<size_t>(direction);
    RbgGains(ue, cell);
    const double gain = m_gains[ue].rbgGain[rbg];
    double interferenceMw = 0.0;
    double signalMw;
    if (direction == Direction::Downlink)
    {
        signalMw = m_dlTxPerRbMw * m_lossGain[Pair(cell, ue)] * gain;
        for (uint32_t other = 0; other < allocations.size(); ++other)
        {
            if (other != cell && allocations[other][rbg] >= 0)
            {
                interferenceMw += m_dlTxPerRbMw * m_lossGain[Pair(other, ue)];
            }
        }
    }
    else
    {
        const double txPerRbDbm = m_phy->GetUlTxPowerDbm(nRbTx, PathlossDb(ue, cell)) - ToDb(nRbTx);
        signalMw = DbmToMw(txPerRbDbm) * m_lossGain[Pair(cell, ue)] * gain;
        // Other cells' UEs at their power-controlled power as if each used UlCqiRbgs RBGs: their
        // allocation sizes are not tracked per RBG.
        for (uint32_t other = 0; other < allocations.size(); ++other)
        {
            int32_t interferer = allocations[other][rbg];
            if (other != cell && interferer >= 0)
            {
                const auto i = static_cast<uint32_t>(interferer);
                interferenceMw += m_ulRefPerRbMw[Pair(other, i)] * m_lossGain[Pair(cell, i)];
            }
        }
    }
    return signalMw / (m_noiseMw[d] + interferenceMw);
}

int
RanLink::CqiOf(double sinrLinear) const
{
    // The highest CQI whose threshold the SINR reaches: thresholds do not decrease (Setup), so a binary
    // search finds it; NaN reaches none.
    if (std::isnan(sinrLinear))
    {
        return 0;
    }
    return static_cast<int>(std::upper_bound(m_cqiThreshold.begin() + 1, m_cqiThreshold.end(), sinrLinear) -
                            (m_cqiThreshold.begin() + 1));
}

int
RanLink::RbgCqi(uint32_t ue, uint32_t cell, uint32_t rbg, Direction direction)
{
    uint32_t nRbTx = direction == Direction::Uplink ? m_ulCqiRbgs * m_carrier.rbgSize : m_carrier.nRb;
    return CqiOf(RbgSinr(ue, cell, rbg, direction, nRbTx, m_previous[static_cast<size_t>(direction)]));
}

void
RanLink::RbgCqiRow(uint32_t ue, uint32_t cell, Direction direction, int* out, uint32_t nRbgs)
{
    const auto& previous = m_previous[0];
    if (direction != Direction::Downlink || previous.size() > 64) // BeginSlot's masks cover at most 64 cells
    {
        for (uint32_t rbg = 0; rbg < nRbgs; ++rbg)
        {
            out[rbg] = RbgCqi(ue, cell, rbg, direction);
        }
        return;
    }
    RbgGains(ue, cell);
    // The row is a function of the same inputs as RbgBitsRow's: reuse it while none of them changed (an
    // observation every 10 slots with a 10 ms update period asks twice per period).
    CqiRow& row = m_cqiRows[ue];
    if (row.gains == m_gains[ue].version && row.losses == m_lossVersion[ue] && row.users == m_usersVersion &&
        row.cell == cell && row.cqi.size() == nRbgs)
    {
        std::copy(row.cqi.begin(), row.cqi.end(), out);
        return;
    }
    // RbgCqi of every RBG: RbgSinrs against the last slot's allocations and their masks (the same bits).
    if (m_allRbgs.size() != nRbgs)
    {
        m_allRbgs.resize(nRbgs);
        std::iota(m_allRbgs.begin(), m_allRbgs.end(), 0U);
    }
    RbgSinrs(ue, cell, direction, m_carrier.nRb, previous, m_previousUsers, m_allRbgs, m_sinrScratch);
    for (uint32_t rbg = 0; rbg < nRbgs; ++rbg)
    {
        out[rbg] = CqiOf(m_sinrScratch[rbg]);
    }
    row.cqi.assign(out, out + nRbgs);
    row.gains = m_gains[ue].version;
    row.losses = m_lossVersion[ue];
    row.users = m_usersVersion;
    row.cell = cell;
}

double
RanLink::RbgBits(uint32_t ue, uint32_t cell, uint32_t rbg, Direction direction)
{
    int cqi = RbgCqi(ue, cell, rbg, direction);
    if (direction == Direction::Downlink)
    {
        m_measurements[ue].cqi = static_cast<uint32_t>(cqi);
    }
    int mcs = m_mcsByCqi[cqi];
    return mcs < 0 ? 0.0 : m_rbgTbs[mcs][m_carrier.RbgRbCount(rbg)];
}

void
RanLink::RbgBitsRow(uint32_t ue, uint32_t cell, Direction direction, double* out, uint32_t nRbgs)
{
    if (direction != Direction::Downlink)
    {
        RanLinkModel::RbgBitsRow(ue, cell, direction, out, nRbgs);
        return;
    }
    // The downlink row in one pass: the serving gains once, then per RBG the cells that used it in
    // the last slot (what the UE's CQI report saw).
    RbgGains(ue, cell);
    const std::vector<double>& gain = m_gains[ue].rbgGain;
    const auto& previous = m_previous[0];
    const double signalBase = m_dlTxPerRbMw * m_lossGain[Pair(cell, ue)];
    const bool masked = previous.size() <= 64; // BeginSlot's masks cover at most 64 cells
    // The row is a function of the serving gains, the UE's losses and the masks: reuse it while none
    // of them changed (the masks say which cells' interference each RBG's sum holds).
    BitsRow& row = m_bitsRows[ue];
    if (masked && row.gains == m_gains[ue].version && row.losses == m_lossVersion[ue] &&
        row.users == m_usersVersion && row.cell == cell && row.bits.size() == nRbgs)
    {
        std::copy(row.bits.begin(), row.bits.end(), out);
        m_measurements[ue].cqi = row.cqi;
        return;
    }
    const uint64_t others = masked ? ~(uint64_t{1} << cell) : 0;
    uint64_t lastUsers = 0;
    double interference = 0.0;
    int cqiSum = 0;
    for (uint32_t rbg = 0; rbg < nRbgs; ++rbg)
    {
        const uint64_t users = masked ? m_previousUsers[rbg] & others : 0;
        if (!masked || rbg == 0 || users != lastUsers)
        {
            // Summed in cell order whatever the path, so that the result does not depend on caching.
            interference = 0.0;
            for (uint32_t other = 0; other < previous.size(); ++other)
            {
                if (other != cell && previous[other][rbg] >= 0)
                {
                    interference += m_lossGain[static_cast<size_t>(other) * m_nUes + ue];
                }
            }
            lastUsers = users;
        }
        const double sinr = signalBase * gain[rbg] / (m_noiseMw[0] + m_dlTxPerRbMw * interference);
        const int cqi = CqiOf(sinr);
        cqiSum += cqi;
        const int mcs = m_mcsByCqi[cqi];
        out[rbg] = mcs < 0 ? 0.0 : m_rbgTbs[mcs][m_rbgRbs[rbg]];
    }
    m_measurements[ue].cqi = static_cast<uint32_t>(std::lround(static_cast<double>(cqiSum) / nRbgs));
    if (masked)
    {
        row.bits.assign(out, out + nRbgs);
        row.cqi = m_measurements[ue].cqi;
        row.gains = m_gains[ue].version;
        row.losses = m_lossVersion[ue];
        row.users = m_usersVersion;
        row.cell = cell;
    }
}

void
RanLink::SetAllocations(Direction direction, const std::vector<std::vector<int32_t>>& perCell)
{
    m_current[static_cast<size_t>(direction)] = perCell;
    if (direction == Direction::Downlink)
    {
        // Which cells use each RBG in this slot: Transmit sums a UE's interference once per run of its
        // RBGs with the same users, and from the next slot on they are BeginSlot's masks of the last one.
        m_currentUsers.assign(m_carrier.nRbg, 0);
        for (uint32_t c = 0; c < perCell.size() && perCell.size() <= 64; ++c)
        {
            for (uint32_t rbg = 0; rbg < m_carrier.nRbg && rbg < perCell[c].size(); ++rbg)
            {
                if (perCell[c][rbg] >= 0)
                {
                    m_currentUsers[rbg] |= uint64_t{1} << c;
                }
            }
        }
    }
}

void
RanLink::RbgSinrs(uint32_t ue,
                  uint32_t cell,
                  Direction direction,
                  uint32_t nRbTx,
                  const std::vector<std::vector<int32_t>>& allocations,
                  const std::vector<uint64_t>& users,
                  const std::vector<uint32_t>& rbgs,
                  std::vector<double>& sinr)
{
    sinr.clear();
    if (direction != Direction::Downlink || allocations.size() > 64 || users.size() != m_carrier.nRbg)
    {
        for (uint32_t rbg : rbgs)
        {
            sinr.push_back(RbgSinr(ue, cell, rbg, direction, nRbTx, allocations));
        }
        return;
    }
    // RbgSinr's downlink arithmetic term for term (the same bits); the interference sum, in cell order,
    // is taken again only when the set of other cells using the RBG changes (`users`: the bit masks of
    // `allocations`).
    RbgGains(ue, cell);
    const std::vector<double>& gain = m_gains[ue].rbgGain;
    const uint64_t others = ~(uint64_t{1} << cell);
    uint64_t lastUsers = 0;
    double interferenceMw = 0.0;
    bool first = true;
    for (uint32_t rbg : rbgs)
    {
        const uint64_t rbgUsers = users[rbg] & others;
        if (first || rbgUsers != lastUsers)
        {
            interferenceMw = 0.0;
            for (uint32_t other = 0; other < allocations.size(); ++other)
            {
                if (other != cell && allocations[other][rbg] >= 0)
                {
                    interferenceMw += m_dlTxPerRbMw * m_lossGain[Pair(other, ue)];
                }
            }
            lastUsers = rbgUsers;
            first = false;
        }
        const double signalMw = m_dlTxPerRbMw * m_lossGain[Pair(cell, ue)] * gain[rbg];
        sinr.push_back(signalMw / (m_noiseMw[0] + interferenceMw));
    }
}

uint32_t
RanLink::RbsOf(const std::vector<uint32_t>& rbgs) const
{
    uint32_t n = 0;
    for (uint32_t rbg : rbgs)
    {
        n += m_carrier.RbgRbCount(rbg);
    }
    return n;
}

TransportBlock
RanLink::NewTransportBlock(uint32_t ue, uint32_t cell, const std::vector<uint32_t>& rbgs, Direction direction)
{
    TransportBlock tb;
    tb.ue = ue;
    tb.cell = cell;
    tb.direction = direction;
    tb.rbgs = rbgs;
    const uint32_t nRb = RbsOf(rbgs);
    // The MCS follows the CQI report: the previous slot's interference, this allocation's power split.
    std::vector<double>& sinr = m_sinrScratch;
    RbgSinrs(ue, cell, direction, nRb, m_previous[static_cast<size_t>(direction)], m_previousUsers, rbgs, sinr);
    // CQI 0 still sends, at the lowest MCS: NR never leaves a granted slot silent; HARQ combining,
    // RLC retransmission and, failing those, radio link failure (RanSystem) take it from there.
    tb.csiSinr = EffectiveSinr(sinr);
    const int mcs = std::max(m_mcsByCqi[CqiOf(tb.csiSinr)], 0);
    tb.mcs = static_cast<uint32_t>(mcs);
    tb.sizeBits = m_phy->GetTbs(mcs, nRb);
    return tb;
}

bool
RanLink::Transmit(TransportBlock& tb, const std::vector<uint32_t>& rbgs)
{
    const uint32_t nRb = RbsOf(rbgs);
    std::vector<double>& sinr = m_sinrScratch;
    RbgSinrs(tb.ue, tb.cell, tb.direction, nRb, m_current[static_cast<size_t>(tb.direction)], m_currentUsers, rbgs,
             sinr);
    const double effective = EffectiveSinr(sinr);
    tb.attempts += 1;
    tb.combinedSinr += effective; // chase combining: SINRs add in linear scale
    const double bler = tb.sizeBits == 0 ? 1.0
                                         : m_phy->GetBler(tb.combinedSinr,
                                                          static_cast<int>(tb.mcs),
                                                          static_cast<uint32_t>(tb.sizeBits),
                                                          m_channelUsesPerRb * RbsOf(tb.rbgs));
    LinkMeasurement& m = m_measurements[tb.ue];
    m.sinrDb = ToDb(effective);
    m.mcs = tb.mcs;
    m.rsrpDbm = RsrpDbm(tb.ue, tb.cell);
    return m_uniform->GetValue() >= bler;
}

double
RanLink::ExpectedBitsPerTransmission(const TransportBlock& tb) const
{
    const HarqStatistics h = ExpectedHarq(tb.csiSinr, GetMcs(m_table, static_cast<int>(tb.mcs)),
                                          static_cast<uint32_t>(tb.sizeBits), m_phy->GetMaxHarqTransmissions(),
                                          m_channelUsesPerRb * RbsOf(tb.rbgs), m_phy->GetBlerModel());
    // Each HARQ round of the block takes expectedTransmissions slots and delivers it with probability
    // 1 - residualBler (otherwise RLC sends the data again in a new block).
    return static_cast<double>(tb.sizeBits) * (1.0 - h.residualBler) / h.expectedTransmissions;
}

LinkMeasurement
RanLink::Measure(uint32_t ue)
{
    return m_measurements.at(ue);
}

} // namespace ns6g::ran
