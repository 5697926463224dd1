// RanSidelink, the D2D sidelink (see ran-sidelink.h and docs/d2d-sidelink.md). Longer than ~700 lines on
// purpose: one ns-3 class whose three schedulers (round robin, the agent's, mode-2 sensing) share its slot
// loop and per-link state; split across files they would have to expose that private state.
#include "ran/model/ran-sidelink.h"

#include "ran/model/ran-sidelink-net-device.h"

#include "ns3/boolean.h"
#include "ns3/buildings-helper.h"
#include "ns3/double.h"
#include "ns3/mobility-building-info.h"
#include "ns3/mobility-model.h"
#include "ns3/pointer.h"
#include "ns3/simulator.h"
#include "ns3/string.h"
#include "ns3/three-gpp-v2v-channel-condition-model.h"
#include "ns3/three-gpp-v2v-propagation-loss-model.h"
#include "ns3/uinteger.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>
#include <tuple>

namespace ns6g::ran
{

NS_OBJECT_ENSURE_REGISTERED(RanSidelink);

namespace
{

double
DbmToMw(double dbm)
{
    return std::pow(10.0, dbm / 10.0);
}

/** Whether two sub-channel lists share an entry. */
bool
Overlap(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b)
{
    for (uint32_t x : a)
    {
        if (std::find(b.begin(), b.end(), x) != b.end())
        {
            return true;
        }
    }
    return false;
}

} // namespace

ns3::TypeId
RanSidelink::GetTypeId()
{
    using namespace ns3;
    static TypeId tid =
        TypeId("ns6g::ran::RanSidelink")
            .SetParent<Object>()
            .SetGroupName("Ns6gRan")
            .AddConstructor<RanSidelink>()
            .AddAttribute("Scenario",
                          "TR 37.885 scenario of the UE-UE loss: V2V-Urban or V2V-Highway",
                          StringValue("V2V-Urban"),
                          MakeStringAccessor(&RanSidelink::m_scenario),
                          MakeStringChecker())
            .AddAttribute("Condition",
                          "LOS state of UE-UE links: 3gpp (TR 37.885 LOS/NLOSv probabilities) or los "
                          "(always line of sight: a deterministic loss for tests and studies)",
                          StringValue("3gpp"),
                          MakeStringAccessor(&RanSidelink::m_conditionMode),
                          MakeStringChecker())
            .AddAttribute("SubchannelRbs",
                          "RBs per sub-channel of the resource pool (RBs; TS 38.331 allows 10-100)",
                          UintegerValue(10),
                          MakeUintegerAccessor(&RanSidelink::m_subchannelRbs),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("Mode",
                          "resource allocation: scheduled (mode 1, by the gNB) or autonomous (mode 2, "
                          "sensing-based selection by each transmitter)",
                          StringValue("scheduled"),
                          MakeStringAccessor(&RanSidelink::m_mode),
                          MakeStringChecker())
            .AddAttribute("Scheduler",
                          "mode 1 scheduler: rr (round robin over links with data, distinct "
                          "sub-channels) or external (SetLinkSubchannels)",
                          StringValue("rr"),
                          MakeStringAccessor(&RanSidelink::m_scheduler),
                          MakeStringChecker())
            .AddAttribute("ShadowingEnabled",
                          "TR 37.885 log-normal shadowing of the UE-UE loss",
                          BooleanValue(true),
                          MakeBooleanAccessor(&RanSidelink::m_shadowing),
                          MakeBooleanChecker())
            .AddAttribute("MaxQueueBytes",
                          "queue of each link, drop-tail (bytes)",
                          UintegerValue(1'000'000),
                          MakeUintegerAccessor(&RanSidelink::m_maxQueueBytes),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("PsschSymbols",
                          "OFDM symbols of the shared channel per slot (symbols): 14 less the AGC "
                          "symbol and the guard symbol",
                          UintegerValue(12),
                          MakeUintegerAccessor(&RanSidelink::m_psschSymbols),
                          MakeUintegerChecker<uint32_t>(2, 14))
            .AddAttribute("AutonomousSubchannels",
                          "mode 2: contiguous sub-channels per reservation (sub-channels)",
                          UintegerValue(1),
                          MakeUintegerAccessor(&RanSidelink::m_autonomousSubchannels),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("ReservationPeriodSlots",
                          "mode 2: a reservation is one slot of every this many (slots): the resource "
                          "reservation period; candidates are (slot, sub-channels) pairs of one period",
                          UintegerValue(2),
                          MakeUintegerAccessor(&RanSidelink::m_reservationPeriodSlots),
                          MakeUintegerChecker<uint32_t>(1, 1000))
            .AddAttribute("ReselectionCounterMin",
                          "mode 2: least transmissions before reselection (transmissions)",
                          UintegerValue(5),
                          MakeUintegerAccessor(&RanSidelink::m_reselectionMin),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("ReselectionCounterMax",
                          "mode 2: most transmissions before reselection (transmissions)",
                          UintegerValue(15),
                          MakeUintegerAccessor(&RanSidelink::m_reselectionMax),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("ProbResourceKeep",
                          "mode 2: probability (0-1) of keeping the reservation when the counter ends",
                          DoubleValue(0.0),
                          MakeDoubleAccessor(&RanSidelink::m_probResourceKeep),
                          MakeDoubleChecker<double>(0.0, 1.0))
            .AddAttribute("RsrpThreshold",
                          "mode 2: initial RSRP exclusion threshold (dBm per RB)",
                          DoubleValue(-110.0),
                          MakeDoubleAccessor(&RanSidelink::m_rsrpThresholdDbm),
                          MakeDoubleChecker<double>())
            .AddAttribute("SensingWindow",
                          "mode 2: reservations used within this window are sensed (s)",
                          TimeValue(MilliSeconds(100)),
                          MakeTimeAccessor(&RanSidelink::m_sensingWindow),
                          MakeTimeChecker())
            .AddAttribute("MinCandidateFraction",
                          "mode 2: the threshold rises by 3 dB until this fraction (0-1) of the "
                          "candidate resources remains (TS 38.214: 0.2)",
                          DoubleValue(0.2),
                          MakeDoubleAccessor(&RanSidelink::m_minCandidateFraction),
                          MakeDoubleChecker<double>(0.0, 1.0));
    return tid;
}

RanSidelink::RanSidelink()
    : m_decode(ns3::CreateObject<ns3::UniformRandomVariable>()),
      m_select(ns3::CreateObject<ns3::UniformRandomVariable>())
{
}

RanSidelink::~RanSidelink() = default;

void
RanSidelink::DoDispose()
{
    m_slotEvent.Cancel();
    m_devices.clear();
    m_links.clear();
    m_phy = nullptr;
    m_loss = nullptr;
    m_condition = nullptr;
    m_ues = ns3::NodeContainer();
    ns3::Object::DoDispose();
}

void
RanSidelink::Setup(ns3::Ptr<RanPhy> phy, const ns3::NodeContainer& ues)
{
    using namespace ns3;
    if (m_mode != "scheduled" && m_mode != "autonomous")
    {
        throw std::invalid_argument("sidelink mode: '" + m_mode + "' is not scheduled or autonomous");
    }
    if (m_scheduler != "rr" && m_scheduler != "external")
    {
        throw std::invalid_argument("sidelink scheduler: '" + m_scheduler + "' is not rr or external");
    }
    if (m_scenario != "V2V-Urban" && m_scenario != "V2V-Highway")
    {
        throw std::invalid_argument("sidelink scenario: '" + m_scenario + "' is not V2V-Urban or V2V-Highway");
    }
    if (m_conditionMode != "3gpp" && m_conditionMode != "los")
    {
        throw std::invalid_argument("sidelink condition: '" + m_conditionMode + "' is not 3gpp or los");
    }
    if (m_reselectionMin > m_reselectionMax)
    {
        throw std::invalid_argument("sidelink ReselectionCounterMin (" + std::to_string(m_reselectionMin) +
                                    ") exceeds ReselectionCounterMax (" + std::to_string(m_reselectionMax) + ")");
    }
    m_phy = phy;
    m_carrier = phy->GetCarrier();
    const double f = m_carrier.frequencyHz;
    if (f < 0.5e9 || f > 100e9)
    {
        throw std::invalid_argument("sidelink frequency_hz = " + std::to_string(f) +
                                    " Hz is outside TR 37.885's 0.5-100 GHz");
    }
    m_nSubchannels = m_carrier.nRb / m_subchannelRbs;
    if (m_nSubchannels == 0)
    {
        throw std::invalid_argument("sidelink subchannel_rbs = " + std::to_string(m_subchannelRbs) +
                                    " exceeds the carrier's " + std::to_string(m_carrier.nRb) + " RBs");
    }
    m_autonomousSubchannels = std::min(m_autonomousSubchannels, m_nSubchannels);
    m_slotPeriod = Seconds(m_carrier.numerology.SlotDurationS());
    m_noisePerRbMw = DbmToMw(phy->GetNoisePerRbDbm(LinkDirection::kDownlink)); // a UE receives
    m_ues = ues;
    const uint32_t n = ues.GetN();
    m_devices.assign(n, nullptr);
    m_reservations.assign(n, Reservation{});
    m_txSlots.assign(n, 0);
    m_lastSubchannels.assign(n, {});
    m_nextLinkOfUe.assign(n, 0);
    // The V2V condition models ask ns-3's buildings model whether buildings block the path (none here:
    // LOS or NLOSv, vehicle blockage, from TR 37.885's probabilities); it needs this per node.
    for (uint32_t u = 0; u < n; ++u)
    {
        Ptr<MobilityModel> mobility = ues.Get(u)->GetObject<MobilityModel>();
        if (!mobility)
        {
            throw std::invalid_argument("sidelink: UE " + std::to_string(u) + " has no mobility model");
        }
        if (!mobility->GetObject<MobilityBuildingInfo>())
        {
            BuildingsHelper::Install(ues.Get(u));
        }
    }
    if (m_scenario == "V2V-Urban")
    {
        m_condition = CreateObject<ThreeGppV2vUrbanChannelConditionModel>();
        m_loss = CreateObject<ThreeGppV2vUrbanPropagationLossModel>();
    }
    else
    {
        m_condition = CreateObject<ThreeGppV2vHighwayChannelConditionModel>();
        m_loss = CreateObject<ThreeGppV2vHighwayPropagationLossModel>();
    }
    if (m_conditionMode == "los")
    {
        m_condition = CreateObject<AlwaysLosChannelConditionModel>();
    }
    m_loss->SetAttribute("Frequency", DoubleValue(f));
    m_loss->SetAttribute("ShadowingEnabled", BooleanValue(m_shadowing));
    m_loss->SetAttribute("ChannelConditionModel", PointerValue(m_condition));
    if (m_lossStream >= 0)
    {
        m_condition->AssignStreams(m_lossStream);
        m_loss->AssignStreams(m_lossStream + 10);
    }
}

int64_t
RanSidelink::AssignStreams(int64_t stream)
{
    m_decode->SetStream(stream);
    m_select->SetStream(stream + 1);
    m_lossStream = stream + 2;
    if (m_loss)
    {
        m_condition->AssignStreams(m_lossStream);
        m_loss->AssignStreams(m_lossStream + 10);
    }
    return 22;
}

void
RanSidelink::SetUeDevice(uint32_t ue, ns3::Ptr<SidelinkNetDevice> device)
{
    CheckUe("ue", ue);
    m_devices[ue] = device;
}

void
RanSidelink::MapAddress(ns3::Ipv4Address address, uint32_t ue)
{
    CheckUe("ue", ue);
    m_ueByAddress[address] = ue;
}

std::optional<uint32_t>
RanSidelink::UeOfAddress(ns3::Ipv4Address address) const
{
    auto it = m_ueByAddress.find(address);
    if (it == m_ueByAddress.end())
    {
        return std::nullopt;
    }
    return it->second;
}

void
RanSidelink::Start()
{
    if (!m_phy)
    {
        throw std::logic_error("RanSidelink::Start before Setup");
    }
    m_slotEvent = ns3::Simulator::Schedule(m_slotPeriod, &RanSidelink::Slot, this);
}

void
RanSidelink::CheckUe(const char* field, uint32_t ue) const
{
    if (ue >= m_ues.GetN())
    {
        throw std::invalid_argument(std::string("sidelink ") + field + " = " + std::to_string(ue) +
                                    " is not a UE (0.." + std::to_string(m_ues.GetN()) + ")");
    }
}

RanSidelink::Link&
RanSidelink::GetLink(uint32_t tx, uint32_t rx)
{
    return m_links[{tx, rx}];
}

bool
RanSidelink::Enqueue(uint32_t tx, uint32_t rx, ns3::Ptr<ns3::Packet> packet, uint16_t protocol)
{
    CheckUe("tx", tx);
    CheckUe("rx", rx);
    Link& link = GetLink(tx, rx);
    if (!link.queue.Push(packet, protocol, m_maxQueueBytes))
    {
        link.counters.droppedBytes += packet->GetSize();
        return false;
    }
    return true;
}

void
RanSidelink::SetLinkSubchannels(uint32_t tx, uint32_t rx, const std::vector<uint32_t>& subchannels)
{
    if (m_mode != "scheduled" || m_scheduler != "external")
    {
        throw std::invalid_argument("sidelink: sub-channels are assigned only in mode scheduled with scheduler "
                                    "external (mode " + m_mode + ", scheduler " + m_scheduler + ")");
    }
    CheckUe("tx", tx);
    CheckUe("rx", rx);
    if (tx == rx)
    {
        throw std::invalid_argument("sidelink: tx and rx are both UE " + std::to_string(tx));
    }
    std::set<uint32_t> seen;
    for (uint32_t sc : subchannels)
    {
        if (sc >= m_nSubchannels)
        {
            throw std::invalid_argument("sidelink subchannel = " + std::to_string(sc) + " is out of range 0.." +
                                        std::to_string(m_nSubchannels - 1));
        }
        if (!seen.insert(sc).second)
        {
            throw std::invalid_argument("sidelink subchannel " + std::to_string(sc) + " is given twice");
        }
    }
    GetLink(tx, rx).assigned = subchannels;
}

double
RanSidelink::LossDb(uint32_t a, uint32_t b)
{
    CheckUe("ue", a);
    CheckUe("ue", b);
    if (a == b)
    {
        throw std::invalid_argument("sidelink: no loss from UE " + std::to_string(a) + " to itself");
    }
    // ns-3's 3GPP loss models keep shadowing and LOS state per pair of nodes (symmetric), but draw the
    // NLOSv blockage loss anew on every call: the loss is cached and recomputed only when an end moved
    // 1 m. A new pair is evaluated twice, since ns-3 3.44 stores a zero displacement with a pair's first
    // shadowing draw (its second evaluation would redraw; see docs/ran-channel.md).
    auto ma = m_ues.Get(std::min(a, b))->GetObject<ns3::MobilityModel>();
    auto mb = m_ues.Get(std::max(a, b))->GetObject<ns3::MobilityModel>();
    const ns3::Vector pa = ma->GetPosition();
    const ns3::Vector pb = mb->GetPosition();
    auto [it, fresh] = m_lossCache.try_emplace({std::min(a, b), std::max(a, b)});
    CachedLoss& entry = it->second;
    if (fresh || ns3::CalculateDistance(pa, entry.a) > 1.0 || ns3::CalculateDistance(pb, entry.b) > 1.0)
    {
        if (fresh)
        {
            m_loss->CalcRxPower(0.0, ma, mb);
        }
        entry = {pa, pb, -m_loss->CalcRxPower(0.0, ma, mb)};
    }
    return entry.lossDb;
}

double
RanSidelink::TxPowerPerRbDbm(uint32_t nRb) const
{
    return m_phy->GetTxPowerPerRbDbm(LinkDirection::kUplink, std::max<uint32_t>(nRb, 1));
}

double
RanSidelink::NoiseLimitedSinrDb(uint32_t tx, uint32_t rx, uint32_t nSubchannels)
{
    const double signalDbm = TxPowerPerRbDbm(nSubchannels * m_subchannelRbs) - LossDb(tx, rx);
    return signalDbm - 10.0 * std::log10(m_noisePerRbMw);
}

double
RanSidelink::EstimateRateBps(uint32_t tx, uint32_t rx, uint32_t nSubchannels)
{
    if (nSubchannels == 0 || nSubchannels > m_nSubchannels)
    {
        throw std::invalid_argument("sidelink: " + std::to_string(nSubchannels) + " sub-channels (1.." +
                                    std::to_string(m_nSubchannels) + ")");
    }
    const double sinr = std::pow(10.0, NoiseLimitedSinrDb(tx, rx, nSubchannels) / 10.0);
    const LinkAdaptation la = m_phy->Adapt({sinr});
    if (la.mcs < 0)
    {
        return 0.0;
    }
    // The nominal rate of the link adaptation (which targets 10 % BLER): non-decreasing in the SINR.
    return m_phy->GetTbs(la.mcs, nSubchannels * m_subchannelRbs, m_psschSymbols) / m_slotPeriod.GetSeconds();
}

double
RanSidelink::ChannelUsesPerRb() const
{
    // The REs of the PSSCH symbols less the DMRS REs GetTbs assumes (TbsParams' default).
    return static_cast<double>(kSubcarriersPerRb * m_psschSymbols - TbsParams{}.dmrsRePerRb);
}

bool
RanSidelink::HasData(const Link& link) const
{
    return link.pending.has_value() || !link.queue.Empty();
}

void
RanSidelink::Slot()
{
    std::vector<Transmission> txs;
    if (m_mode == "autonomous")
    {
        txs = ScheduleAutonomous();
    }
    else
    {
        txs = m_scheduler == "rr" ? ScheduleRoundRobin() : ScheduleExternal();
    }
    std::vector<uint32_t> rbsOfUe(m_ues.GetN(), 0);
    for (auto& sc : m_lastSubchannels)
    {
        sc.clear();
    }
    for (const auto& t : txs)
    {
        if (rbsOfUe[t.tx] == 0)
        {
            ++m_txSlots[t.tx];
        }
        rbsOfUe[t.tx] += static_cast<uint32_t>(t.subchannels.size()) * m_subchannelRbs;
        auto& last = m_lastSubchannels[t.tx];
        last.insert(last.end(), t.subchannels.begin(), t.subchannels.end());
    }
    for (const auto& t : txs)
    {
        Transmit(t, txs, rbsOfUe);
    }
    ++m_slotCount;
    m_slotEvent = ns3::Simulator::Schedule(m_slotPeriod, &RanSidelink::Slot, this);
}

std::vector<RanSidelink::Transmission>
RanSidelink::ScheduleRoundRobin()
{
    std::vector<std::pair<uint32_t, uint32_t>> active;
    for (const auto& [key, link] : m_links)
    {
        if (HasData(link))
        {
            active.push_back(key);
        }
    }
    std::vector<Transmission> out;
    if (active.empty())
    {
        return out;
    }
    // Rotate the starting link every slot; a UE takes part in one link per slot (half duplex, one
    // transmission per UE), and picked links get distinct sub-channels: no collisions.
    const size_t start = m_rrOffset++ % active.size();
    std::vector<bool> busy(m_ues.GetN(), false);
    for (size_t k = 0; k < active.size() && out.size() < m_nSubchannels; ++k)
    {
        auto [tx, rx] = active[(start + k) % active.size()];
        if (busy[tx] || busy[rx])
        {
            continue;
        }
        busy[tx] = busy[rx] = true;
        out.push_back({tx, rx, {}});
    }
    const auto picked = static_cast<uint32_t>(out.size());
    uint32_t next = 0;
    for (uint32_t i = 0; i < picked; ++i)
    {
        const uint32_t count = m_nSubchannels / picked + (i < m_nSubchannels % picked ? 1 : 0);
        for (uint32_t k = 0; k < count; ++k)
        {
            out[i].subchannels.push_back(next++);
        }
    }
    return out;
}

std::vector<RanSidelink::Transmission>
RanSidelink::ScheduleExternal()
{
    std::vector<std::pair<uint32_t, uint32_t>> active;
    for (const auto& [key, link] : m_links)
    {
        if (HasData(link) && !link.assigned.empty())
        {
            active.push_back(key);
        }
    }
    std::vector<Transmission> out;
    if (active.empty())
    {
        return out;
    }
    // The grants hold; the gNB still keeps half duplex: a link whose transmitter receives, or whose
    // receiver transmits, in this slot waits (both directions of a pair alternate, in a rotating order).
    const size_t start = m_rrOffset++ % active.size();
    std::vector<bool> transmits(m_ues.GetN(), false);
    std::vector<bool> receives(m_ues.GetN(), false);
    for (size_t k = 0; k < active.size(); ++k)
    {
        auto [tx, rx] = active[(start + k) % active.size()];
        if (receives[tx] || transmits[rx])
        {
            continue;
        }
        transmits[tx] = receives[rx] = true;
        out.push_back({tx, rx, m_links.at({tx, rx}).assigned});
    }
    return out;
}

std::vector<RanSidelink::Transmission>
RanSidelink::ScheduleAutonomous()
{
    const ns3::Time now = ns3::Simulator::Now();
    // What each UE announced (its SCI) before this slot: UEs reselecting in the same slot do not see
    // each other's new choice, one source of mode-2 collisions.
    const std::vector<Reservation> announced = m_reservations;
    std::vector<Transmission> out;
    for (uint32_t ue = 0; ue < m_ues.GetN(); ++ue)
    {
        std::vector<uint32_t> receivers;
        for (auto it = m_links.lower_bound({ue, 0}); it != m_links.end() && it->first.first == ue; ++it)
        {
            if (HasData(it->second))
            {
                receivers.push_back(it->first.second);
            }
        }
        if (receivers.empty())
        {
            continue;
        }
        Reservation& r = m_reservations[ue];
        if (r.subchannels.empty() || r.counter == 0)
        {
            const bool keep = !r.subchannels.empty() && m_select->GetValue() < m_probResourceKeep;
            if (!keep)
            {
                std::tie(r.slot, r.subchannels) = SelectResources(ue, receivers, announced);
            }
            r.lastUse = now; // announced from now on
            r.counter = m_select->GetInteger(m_reselectionMin, m_reselectionMax);
        }
        if (m_slotCount % m_reservationPeriodSlots != r.slot)
        {
            continue; // not this UE's slot of the period
        }
        --r.counter;
        r.lastUse = now;
        const uint32_t rx = receivers[m_nextLinkOfUe[ue]++ % receivers.size()];
        out.push_back({ue, rx, r.subchannels});
    }
    return out;
}

std::pair<uint32_t, std::vector<uint32_t>>
RanSidelink::SelectResources(uint32_t ue, const std::vector<uint32_t>& receivers, const std::vector<Reservation>& announced)
{
    const ns3::Time now = ns3::Simulator::Now();
    const uint32_t width = m_autonomousSubchannels;
    const uint32_t period = m_reservationPeriodSlots;
    // Sensed RSRP (dBm per RB) per (slot of the period, sub-channel): the strongest reservation heard
    // within the window. Slots in which a receiver of this UE transmits are avoided (it could not
    // receive: the half-duplex part of Rel-17 inter-UE coordination), unless every slot is such.
    std::vector<std::vector<double>> rsrp(period,
                                          std::vector<double>(m_nSubchannels, -std::numeric_limits<double>::infinity()));
    std::vector<bool> receiverBusy(period, false);
    for (uint32_t j = 0; j < announced.size(); ++j)
    {
        const Reservation& r = announced[j];
        if (j == ue || r.subchannels.empty() || now - r.lastUse > m_sensingWindow)
        {
            continue;
        }
        const double power = TxPowerPerRbDbm(static_cast<uint32_t>(r.subchannels.size()) * m_subchannelRbs) -
                             LossDb(j, ue);
        for (uint32_t sc : r.subchannels)
        {
            rsrp[r.slot][sc] = std::max(rsrp[r.slot][sc], power);
        }
        if (std::find(receivers.begin(), receivers.end(), j) != receivers.end())
        {
            receiverBusy[r.slot] = true;
        }
    }
    const bool avoidBusy = std::find(receiverBusy.begin(), receiverBusy.end(), false) != receiverBusy.end();
    const uint32_t starts = m_nSubchannels - width + 1;
    const auto total = static_cast<size_t>(period) * starts; // candidate single-slot resources
    const auto needed = static_cast<size_t>(std::ceil(m_minCandidateFraction * total));
    std::vector<std::pair<uint32_t, uint32_t>> candidates; // (slot, first sub-channel)
    // TS 38.214 8.1.4: exclude resources reserved above the threshold; raise it 3 dB until enough remain.
    for (double threshold = m_rsrpThresholdDbm;; threshold += 3.0)
    {
        candidates.clear();
        for (uint32_t slot = 0; slot < period; ++slot)
        {
            if (avoidBusy && receiverBusy[slot])
            {
                continue;
            }
            for (uint32_t s = 0; s < starts; ++s)
            {
                bool free = true;
                for (uint32_t k = s; k < s + width; ++k)
                {
                    free = free && rsrp[slot][k] <= threshold;
                }
                if (free)
                {
                    candidates.emplace_back(slot, s);
                }
            }
        }
        if (candidates.size() >= std::max<size_t>(needed, 1) || threshold > 200.0)
        {
            break;
        }
    }
    const auto pick = std::min<size_t>(static_cast<size_t>(m_select->GetValue() * candidates.size()),
                                       candidates.size() - 1);
    std::vector<uint32_t> subchannels;
    for (uint32_t k = 0; k < width; ++k)
    {
        subchannels.push_back(candidates[pick].second + k);
    }
    return {candidates[pick].first, subchannels};
}

void
RanSidelink::Transmit(const Transmission& t, const std::vector<Transmission>& all, const std::vector<uint32_t>& rbsOfUe)
{
    using namespace ns3;
    Link& link = GetLink(t.tx, t.rx);
    bool halfDuplex = false;
    bool collided = false;
    for (const auto& other : all)
    {
        if (&other == &t)
        {
            continue;
        }
        halfDuplex = halfDuplex || other.tx == t.rx;
        collided = collided || Overlap(other.subchannels, t.subchannels);
    }
    // SINR per sub-channel: the UE's power spreads over all RBs it uses in the slot; every other
    // transmitter on the sub-channel interferes (its power per RB through its loss to the receiver).
    const double signalMw = DbmToMw(TxPowerPerRbDbm(rbsOfUe[t.tx]) - LossDb(t.tx, t.rx));
    std::vector<double> sinr;
    for (uint32_t sc : t.subchannels)
    {
        double interferenceMw = 0.0;
        for (const auto& other : all)
        {
            if (other.tx == t.tx || other.tx == t.rx ||
                std::find(other.subchannels.begin(), other.subchannels.end(), sc) == other.subchannels.end())
            {
                continue;
            }
            interferenceMw += DbmToMw(TxPowerPerRbDbm(rbsOfUe[other.tx]) - LossDb(other.tx, t.rx));
        }
        sinr.push_back(signalMw / (m_noisePerRbMw + interferenceMw));
    }
    const auto nRb = static_cast<uint32_t>(t.subchannels.size()) * m_subchannelRbs;
    if (!link.pending)
    {
        // The MCS follows the link's last measured SINR (the receiver's feedback); the first block uses
        // the noise-limited SINR. CQI 0 still sends at MCS 0: the transmitter has nothing better to go on.
        const double csi = link.csiSinr.value_or(signalMw / m_noisePerRbMw);
        const int mcs = std::max(m_phy->Adapt({csi}).mcs, 0);
        const uint32_t tbs = m_phy->GetTbs(mcs, nRb, m_psschSymbols);
        std::vector<Segment> segments = link.queue.Fill(tbs);
        if (segments.empty())
        {
            return;
        }
        const double uses = nRb * ChannelUsesPerRb();
        link.harq.Start(tbs, mcs, m_phy->GetMcsTable(), uses);
        link.pending = std::move(segments);
    }
    SidelinkCounters& c = link.counters;
    ++c.transmissions;
    c.subchannelSlots += t.subchannels.size();
    c.collisions += collided ? 1 : 0;
    double effective = 0.0;
    if (halfDuplex)
    {
        ++c.halfDuplexLosses;
        c.lastSinrDb = -std::numeric_limits<double>::infinity();
    }
    else
    {
        effective = EffectiveSinr(sinr);
        link.csiSinr = effective;
        c.lastSinrDb = 10.0 * std::log10(effective);
        ++c.receptions;
        c.sinrDbSum += c.lastSinrDb;
    }
    const HarqOutcome outcome = m_phy->ReceiveHarq(link.harq, effective, m_decode->GetValue());
    if (outcome.decoded)
    {
        Ptr<SidelinkNetDevice> to = m_devices[t.rx];
        for (const auto& segment : *link.pending)
        {
            c.deliveredBytes += segment.bytes;
            if (SegmentQueue::Delivered(segment) && to)
            {
                // The block arrives at the end of its slot, in the receiving node's context.
                Simulator::ScheduleWithContext(to->GetNode()->GetId(), m_slotPeriod, &RanNetDevice::DeliverUp,
                                               to, segment.sdu->packet, segment.sdu->protocol);
            }
        }
        link.pending.reset();
        return;
    }
    ++c.failedTransmissions;
    if (outcome.dropped)
    {
        link.queue.Requeue(*link.pending);
        link.pending.reset();
    }
}

uint32_t
RanSidelink::GetNUes() const
{
    return m_ues.GetN();
}

uint32_t
RanSidelink::GetNSubchannels() const
{
    return m_nSubchannels;
}

uint32_t
RanSidelink::GetSubchannelRbs() const
{
    return m_subchannelRbs;
}

ns3::Time
RanSidelink::GetSlotPeriod() const
{
    return m_slotPeriod;
}

bool
RanSidelink::IsAutonomous() const
{
    return m_mode == "autonomous";
}

ns3::Ptr<RanPhy>
RanSidelink::GetPhy() const
{
    return m_phy;
}

SidelinkCounters
RanSidelink::Counters(uint32_t tx, uint32_t rx) const
{
    auto it = m_links.find({tx, rx});
    return it == m_links.end() ? SidelinkCounters{} : it->second.counters;
}

SidelinkCounters
RanSidelink::TotalCounters() const
{
    SidelinkCounters sum;
    for (const auto& [key, link] : m_links)
    {
        const SidelinkCounters& c = link.counters;
        sum.deliveredBytes += c.deliveredBytes;
        sum.transmissions += c.transmissions;
        sum.failedTransmissions += c.failedTransmissions;
        sum.collisions += c.collisions;
        sum.halfDuplexLosses += c.halfDuplexLosses;
        sum.droppedBytes += c.droppedBytes;
        sum.subchannelSlots += c.subchannelSlots;
        sum.receptions += c.receptions;
        sum.sinrDbSum += c.sinrDbSum;
    }
    return sum;
}

uint64_t
RanSidelink::QueuedBytes(uint32_t tx, uint32_t rx) const
{
    auto it = m_links.find({tx, rx});
    return it == m_links.end() ? 0 : it->second.queue.Bytes();
}

uint64_t
RanSidelink::QueuedBytesFrom(uint32_t tx) const
{
    uint64_t sum = 0;
    for (auto it = m_links.lower_bound({tx, 0}); it != m_links.end() && it->first.first == tx; ++it)
    {
        sum += it->second.queue.Bytes();
    }
    return sum;
}

uint64_t
RanSidelink::TxSlots(uint32_t ue) const
{
    return m_txSlots.at(ue);
}

const std::vector<uint32_t>&
RanSidelink::LastSubchannels(uint32_t ue) const
{
    return m_lastSubchannels.at(ue);
}

} // namespace ns6g::ran
