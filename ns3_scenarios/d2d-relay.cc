// d2d-relay: the D2DRelay environment. An RL agent picks, for every remote device at the cell edge, a
// UE-to-network relay (or none) and, in scheduled sidelink mode, the sidelink sub-channel of the
// remote -> relay link. Real UDP packets: remote -> relay over the D2D sidelink (RanSidelink, its own
// carrier), relay -> gNB over the relay's RAN uplink (RanSystem), gNB -> server on the backhaul.
//
// Topology (rebuilt every episode): one gNB at the origin (TR 38.901 BS height); `remotes` UEs dropped
// uniformly in the annulus remote-min-m .. remote-max-m around it (poor direct uplink), then `relays`
// UEs in relay-min-m .. relay-max-m (good uplink), all static at 1.5 m. UE indices: remotes 0..R-1,
// relays R..R+K-1. A server behind the gNB (10 Gbit/s, 1 ms).
//
// Traffic: each remote sends remote-rate-mbps of UDP (packet-bytes datagrams, CBR) to the server;
// with relay-rate-mbps > 0 every relay sends its own traffic too; with downlink-rate-mbps > 0 the server
// sends each remote that much (to its sidelink address: through its relay when it has one). In agent
// mode a remote's grant serves both directions of its sidelink (they alternate when both have data). Uplink and downlink of the RAN are
// scheduled by proportional fair.
//
// Decisions: every decision-ms. Action: MultiDiscrete; entry i < remotes is remote i's relay (0: direct
//   over its own uplink, k: relay k-1); with sidelink-mode=scheduled and sidelink-scheduler=agent, entry
//   remotes + i is the first of the link-subchannels contiguous sub-channels of remote i's sidelink
//   (0 .. subchannels - link-subchannels). Otherwise the sidelink round robin (mode 1) or the UEs
//   themselves (mode 2) pick sub-channels.
// Observation (Dict): direct_cqi (remotes) wideband uplink CQI of each remote; direct_mbps (remotes)
//   its uplink rate with the whole carrier; sidelink_mbps (remotes, relays) noise-limited sidelink rate
//   on link-subchannels sub-channels; sidelink_snr_db (remotes, relays) the SNR behind it (dB); distance_m (remotes, relays); relay_cqi (relays), relay_uplink_mbps
//   (relays) the same for relays; relay_load_kbytes (relays) the relay's queued uplink; queue_kbytes
//   (remotes) the remote's queued bytes (RAN uplink plus sidelink).
// Reward: delivered_mbps (UDP payload of the remotes' packets received at the server in the interval,
//   Mbit/s) minus energy-weight * ue_energy_mj: the transmit energy in the interval (mJ, transmit power
//   times airtime on the sidelink and on the RAN uplink) of every UE, remotes and relays alike. Counting
//   the remotes too keeps "no relay" honest: a remote sending from the cell edge over its own uplink
//   spends long airtime at full power, which a relay-only energy term would leave free.
// Info: delivered_mbps, delivered_kbytes, direct_kbytes (remotes' own RAN uplink), downlink_kbytes
//   (received by the remotes), downlink_sidelink_kbytes (relay -> remote sidelinks, decoded), sidelink_kbytes
//   (remote -> relay sidelink, decoded), relay_uplink_kbytes (relays' RAN uplink, decoded),
//   relayed_remotes, collisions, half_duplex_losses, sidelink_transmissions, sidelink_failures,
//   ue_energy_mj (the reward's), relay_energy_mj (of which the relays'), sidelink_sinr_db (mean effective SINR of the interval's sidelink receptions; NaN if
//   none), mean_delay_ms (end to end, remote packets received in the interval; NaN if none).
#include "bridge/ns6g-bridge.h"
#include "bridge/ns6g-serve.h"
#include "options/d2d-relay-options.h"
#include "ran/helper/ran-helper.h"
#include "ran/helper/sidelink-helper.h"
#include "ran/model/ran-channel.h"
#include "ran/model/ran-link.h"
#include "ran/model/ran-phy.h"
#include "ran/model/ran-sidelink.h"
#include "ran/model/ran-system.h"

#include "ns3/applications-module.h"
#include "ns3/core-module.h"
#include "ns3/internet-module.h"
#include "ns3/mobility-module.h"
#include "ns3/network-module.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

using namespace ns3;
using namespace ns6g::ran;

namespace
{

constexpr uint16_t kRemotePort = 9000;
constexpr uint16_t kRelayPort = 19000;
constexpr uint16_t kDownlinkPort = 29000;
constexpr uint16_t kMtuBytes = 65'535;
constexpr uint32_t kMaxQueueBytes = 2'000'000;

// The options (defaults, CommandLine, range checks) are generated from D2DRelayConfig, their one
// declaration (ns3_scenarios/options/d2d-relay-options.h).
// Its radio.shadowing also drives the sidelink.
using Params = ns6g::D2dRelayOptions;

/** Sub-channels of the sidelink carrier of `p` (its RBs over sub-channel RBs). */
uint32_t
SubchannelCount(const Params& p)
{
    Carrier c = MakeCarrier(p.sidelinkFrequencyHz, p.sidelinkBandwidthHz, static_cast<int>(p.sidelinkNumerology));
    return c.nRb / p.subchannelRbs;
}

double
DbmToW(double dbm)
{
    return std::pow(10.0, dbm / 10.0) / 1e3;
}

class D2dRelayEnv : public ns6g::GymEnv
{
  public:
    explicit D2dRelayEnv(Params p)
        : m_p(std::move(p)),
          m_ranCarrier(
              MakeCarrier(m_p.radio.frequencyHz, m_p.radio.bandwidthHz, static_cast<int>(m_p.radio.numerology))),
          m_nSubchannels(SubchannelCount(m_p)),
          m_agentSubchannels(m_p.sidelinkMode == "scheduled" && m_p.sidelinkScheduler == "agent")
    {
    }

    ns6g::Space GetObservationSpace() override
    {
        const auto r = static_cast<int64_t>(m_p.remotes);
        const auto k = static_cast<int64_t>(m_p.relays);
        const double maxMbps = MaxMbps();
        return ns6g::Dict({
            {"direct_cqi", ns6g::Box({r}, 0.0, 15.0)},
            {"direct_mbps", ns6g::Box({r}, 0.0, maxMbps)},
            {"sidelink_mbps", ns6g::Box({r, k}, 0.0, maxMbps)},
            {"sidelink_snr_db", ns6g::Box({r, k}, -300.0, 300.0)},
            {"distance_m", ns6g::Box({r, k}, 0.0, 1e6)},
            {"relay_cqi", ns6g::Box({k}, 0.0, 15.0)},
            {"relay_uplink_mbps", ns6g::Box({k}, 0.0, maxMbps)},
            {"relay_load_kbytes", ns6g::Box({k}, 0.0, kMaxQueueBytes / 1000.0 + 1.0)},
            {"queue_kbytes", ns6g::Box({r}, 0.0, 2 * kMaxQueueBytes / 1000.0 + 1.0)},
        });
    }

    ns6g::Space GetActionSpace() override
    {
        std::vector<int64_t> nvec(m_p.remotes, m_p.relays + 1);
        if (m_agentSubchannels)
        {
            nvec.insert(nvec.end(), m_p.remotes, m_nSubchannels - m_p.linkSubchannels + 1);
        }
        return ns6g::MultiDiscrete(nvec);
    }

    void SetupEpisode() override
    {
        const Scenario scenario = ParseScenario(m_p.radio.scenario);
        m_gnbs = NodeContainer();
        m_ues = NodeContainer();
        m_gnbs.Create(1);
        m_ues.Create(m_p.remotes + m_p.relays);
        RanHelper::PlaceGnbs(m_gnbs, {Vector(0, 0, 0)}, DefaultBsHeightM(scenario));
        auto uniform = CreateObject<UniformRandomVariable>();
        uniform->SetStream(10);
        auto positions = CreateObject<ListPositionAllocator>();
        for (uint32_t u = 0; u < m_ues.GetN(); ++u)
        {
            const bool remote = u < m_p.remotes;
            positions->Add(RanHelper::UniformInDisk(uniform, Vector(0, 0, 0), remote ? m_p.remoteMaxM : m_p.relayMaxM,
                                                    remote ? m_p.remoteMinM : m_p.relayMinM, 1.5));
        }
        MobilityHelper mobility;
        mobility.SetPositionAllocator(positions);
        mobility.SetMobilityModel("ns3::ConstantPositionMobilityModel");
        mobility.Install(m_ues);

        m_link = RanHelper::CreateLink(m_p.radio, m_gnbs, m_ues, 1000);

        RanHelperSettings settings;
        settings.dlScheduler = "pf";
        settings.ulScheduler = "pf";
        settings.dlRbgs = m_ranCarrier.nRbg;
        settings.ulRbgs = m_ranCarrier.nRbg;
        settings.mtuBytes = kMtuBytes;
        settings.slotPeriod = Seconds(m_ranCarrier.numerology.SlotDurationS());
        settings.maxQueueBytes = kMaxQueueBytes;
        m_ran = RanHelper::Install(m_gnbs, m_ues, m_link, settings);

        SidelinkSettings sl;
        sl.scenario = m_p.sidelinkScenario;
        sl.frequencyHz = m_p.sidelinkFrequencyHz;
        sl.bandwidthHz = m_p.sidelinkBandwidthHz;
        sl.numerology = m_p.sidelinkNumerology;
        sl.subchannelRbs = m_p.subchannelRbs;
        sl.txPowerDbm = m_p.sidelinkTxPowerDbm;
        sl.mode = m_p.sidelinkMode;
        sl.scheduler = m_agentSubchannels ? "external" : "rr";
        sl.shadowing = m_p.radio.shadowing;
        sl.condition = m_p.sidelinkCondition;
        sl.autonomousSubchannels = m_p.linkSubchannels;
        sl.mtuBytes = kMtuBytes;
        sl.maxQueueBytes = kMaxQueueBytes;
        m_sidelink = SidelinkHelper::Install(m_ran, m_ues, sl, 2000);
        InstallTraffic();

        m_relayOf.assign(m_p.remotes, std::nullopt);
        m_delays.clear();
        m_intervalBytes = 0;
        m_intervalDownlinkBytes = 0;
        m_prev = Totals{};
        m_interval = Totals{};
        m_steps = 0;
    }

    Time GetStepTime() override
    {
        return MilliSeconds(m_p.decisionMs);
    }

    bool ExecuteActions(const ns6g::DataView& action) override
    {
        const int64_t* a = action.Data<int64_t>();
        for (uint32_t i = 0; i < m_p.remotes; ++i)
        {
            if (a[i] < 0 || a[i] > static_cast<int64_t>(m_p.relays))
            {
                throw ns6g::InvalidRequest("action relay[" + std::to_string(i) + "] = " + std::to_string(a[i]) +
                                           " is not 0 (direct) .. " + std::to_string(m_p.relays));
            }
            if (m_agentSubchannels)
            {
                const int64_t s = a[m_p.remotes + i];
                if (s < 0 || s > static_cast<int64_t>(m_nSubchannels - m_p.linkSubchannels))
                {
                    throw ns6g::InvalidRequest("action subchannel[" + std::to_string(i) + "] = " + std::to_string(s) +
                                               " is not 0 .. " + std::to_string(m_nSubchannels - m_p.linkSubchannels));
                }
            }
        }
        for (uint32_t i = 0; i < m_p.remotes; ++i)
        {
            std::optional<uint32_t> relay;
            if (a[i] > 0)
            {
                relay = m_p.remotes + static_cast<uint32_t>(a[i] - 1);
            }
            if (relay != m_relayOf[i])
            {
                SidelinkHelper::SetRelay(m_sidelink, m_ran, i, relay);
                m_relayOf[i] = relay;
            }
            if (m_agentSubchannels && relay)
            {
                std::vector<uint32_t> subchannels;
                for (uint32_t k = 0; k < m_p.linkSubchannels; ++k)
                {
                    subchannels.push_back(static_cast<uint32_t>(a[m_p.remotes + i]) + k);
                }
                m_sidelink.sidelink->SetLinkSubchannels(i, *relay, subchannels);
                m_sidelink.sidelink->SetLinkSubchannels(*relay, i, subchannels); // the way back
            }
        }
        m_delays.clear();
        m_intervalBytes = 0;
        m_intervalDownlinkBytes = 0;
        ++m_steps;
        return true;
    }

    void GetObservation(const ns6g::DataView& obs) override
    {
        CloseInterval();
        float* directCqi = obs["direct_cqi"].Data<float>();
        float* directMbps = obs["direct_mbps"].Data<float>();
        float* sidelinkMbps = obs["sidelink_mbps"].Data<float>();
        float* sidelinkSnr = obs["sidelink_snr_db"].Data<float>();
        float* distance = obs["distance_m"].Data<float>();
        float* relayCqi = obs["relay_cqi"].Data<float>();
        float* relayMbps = obs["relay_uplink_mbps"].Data<float>();
        float* relayLoad = obs["relay_load_kbytes"].Data<float>();
        float* queue = obs["queue_kbytes"].Data<float>();
        const double maxMbps = MaxMbps();
        auto clip = [maxMbps](double mbps) { return static_cast<float>(std::clamp(mbps, 0.0, maxMbps)); };
        for (uint32_t i = 0; i < m_p.remotes; ++i)
        {
            auto [cqi, mbps] = Uplink(i);
            directCqi[i] = static_cast<float>(cqi);
            directMbps[i] = clip(mbps);
            const double queued = m_ran.system->QueuedBytes(i, Direction::Uplink) +
                                  m_sidelink.sidelink->QueuedBytesFrom(i);
            queue[i] = static_cast<float>(std::min(queued / 1000.0, 2 * kMaxQueueBytes / 1000.0 + 1.0));
            for (uint32_t k = 0; k < m_p.relays; ++k)
            {
                const uint32_t relay = m_p.remotes + k;
                const size_t at = static_cast<size_t>(i) * m_p.relays + k;
                sidelinkMbps[at] = clip(m_sidelink.sidelink->EstimateRateBps(i, relay, m_p.linkSubchannels) / 1e6);
                sidelinkSnr[at] = static_cast<float>(
                    std::clamp(m_sidelink.sidelink->NoiseLimitedSinrDb(i, relay, m_p.linkSubchannels), -300.0, 300.0));
                distance[at] = static_cast<float>(std::min(1e6, CalculateDistance(Position(i), Position(relay))));
            }
        }
        for (uint32_t k = 0; k < m_p.relays; ++k)
        {
            const uint32_t relay = m_p.remotes + k;
            auto [cqi, mbps] = Uplink(relay);
            relayCqi[k] = static_cast<float>(cqi);
            relayMbps[k] = clip(mbps);
            relayLoad[k] = static_cast<float>(
                std::min(m_ran.system->QueuedBytes(relay, Direction::Uplink) / 1000.0, kMaxQueueBytes / 1000.0 + 1.0));
        }
    }

    double GetReward() override
    {
        if (m_steps == 0)
        {
            return 0.0;
        }
        return DeliveredMbps() - m_p.energyWeight * TransmitEnergyMj(true);
    }

    bool GetGameOver() override
    {
        return false;
    }

    bool GetTruncated() override
    {
        return m_steps >= m_p.episodeSteps;
    }

    void GetExtraInfo(ns6g::Info& info) override
    {
        info.Set("delivered_mbps", DeliveredMbps());
        info.Set("delivered_kbytes", m_intervalBytes / 1000.0);
        info.Set("direct_kbytes", m_interval.directBytes / 1000.0);
        info.Set("downlink_kbytes", m_intervalDownlinkBytes / 1000.0);
        info.Set("downlink_sidelink_kbytes", m_interval.downlinkSidelinkBytes / 1000.0);
        info.Set("sidelink_kbytes", m_interval.sidelinkBytes / 1000.0);
        info.Set("relay_uplink_kbytes", m_interval.relayUplinkBytes / 1000.0);
        info.Set("relayed_remotes",
                 static_cast<double>(std::count_if(m_relayOf.begin(), m_relayOf.end(), [](auto& r) { return r; })));
        info.Set("collisions", m_interval.collisions);
        info.Set("half_duplex_losses", m_interval.halfDuplexLosses);
        info.Set("sidelink_transmissions", m_interval.sidelinkTransmissions);
        info.Set("sidelink_failures", m_interval.sidelinkFailures);
        info.Set("ue_energy_mj", TransmitEnergyMj(true));
        info.Set("relay_energy_mj", TransmitEnergyMj(false));
        info.Set("sidelink_sinr_db", m_interval.sidelinkReceptions > 0
                                         ? m_interval.sidelinkSinrDbSum / m_interval.sidelinkReceptions
                                         : std::nan(""));
        double sum = std::accumulate(m_delays.begin(), m_delays.end(), 0.0);
        info.Set("mean_delay_ms", m_delays.empty() ? std::nan("") : sum / m_delays.size() * 1e3);
    }

  private:
    /** Cumulative counters whose differences make an interval's numbers. */
    struct Totals
    {
        double directBytes{0};          //!< remotes' RAN uplink, decoded
        double sidelinkBytes{0};        //!< remote -> relay sidelinks, decoded
        double relayUplinkBytes{0};     //!< relays' RAN uplink, decoded
        double collisions{0};
        double halfDuplexLosses{0};
        double sidelinkTransmissions{0};
        double sidelinkFailures{0};
        double relaySidelinkSlots{0};   //!< sidelink slots in which relays transmitted
        double relayUplinkBlocks{0};    //!< RAN uplink transmissions of relays
        double sidelinkReceptions{0};   //!< sidelink transmissions heard by their receivers
        double sidelinkSinrDbSum{0};    //!< sum of their effective SINRs (dB)
        double downlinkSidelinkBytes{0}; //!< relay -> remote sidelinks, decoded
        double remoteSidelinkSlots{0};  //!< sidelink slots in which remotes transmitted
        double remoteUplinkBlocks{0};   //!< RAN uplink transmissions of remotes (first and retransmissions)
    };

    double MaxMbps() const
    {
        return 12.0 * std::max(m_p.radio.bandwidthHz, m_p.sidelinkBandwidthHz) / 1e6;
    }

    Vector Position(uint32_t ue) const
    {
        return m_ues.Get(ue)->GetObject<MobilityModel>()->GetPosition();
    }

    /** Wideband uplink CQI and rate (Mbit/s) of `ue` given the whole uplink of its cell. */
    std::pair<double, double> Uplink(uint32_t ue)
    {
        const uint32_t cell = m_ran.system->ServingCell(ue);
        double cqi = 0.0;
        double bits = 0.0;
        for (uint32_t rbg = 0; rbg < m_ranCarrier.nRbg; ++rbg)
        {
            cqi += m_link->RbgCqi(ue, cell, rbg, Direction::Uplink);
            bits += m_link->RbgBits(ue, cell, rbg, Direction::Uplink);
        }
        return {cqi / m_ranCarrier.nRbg, bits / m_ranCarrier.numerology.SlotDurationS() / 1e6};
    }

    Totals ReadTotals() const
    {
        Totals t;
        const auto& sidelink = m_sidelink.sidelink;
        for (uint32_t i = 0; i < m_p.remotes; ++i)
        {
            t.directBytes += m_ran.system->Counters(i).deliveredBits[1] / 8.0;
            t.remoteSidelinkSlots += static_cast<double>(sidelink->TxSlots(i));
            t.remoteUplinkBlocks += static_cast<double>(m_ran.system->Counters(i).transportBlocks[1]);
            for (uint32_t k = 0; k < m_p.relays; ++k)
            {
                t.sidelinkBytes += static_cast<double>(sidelink->Counters(i, m_p.remotes + k).deliveredBytes);
                t.downlinkSidelinkBytes += static_cast<double>(sidelink->Counters(m_p.remotes + k, i).deliveredBytes);
            }
        }
        for (uint32_t k = 0; k < m_p.relays; ++k)
        {
            const uint32_t relay = m_p.remotes + k;
            t.relayUplinkBytes += m_ran.system->Counters(relay).deliveredBits[1] / 8.0;
            t.relaySidelinkSlots += static_cast<double>(sidelink->TxSlots(relay));
            t.relayUplinkBlocks += static_cast<double>(m_ran.system->Counters(relay).transportBlocks[1]);
        }
        const SidelinkCounters all = sidelink->TotalCounters();
        t.collisions = static_cast<double>(all.collisions);
        t.halfDuplexLosses = static_cast<double>(all.halfDuplexLosses);
        t.sidelinkTransmissions = static_cast<double>(all.transmissions);
        t.sidelinkFailures = static_cast<double>(all.failedTransmissions);
        t.sidelinkReceptions = static_cast<double>(all.receptions);
        t.sidelinkSinrDbSum = all.sinrDbSum;
        return t;
    }

    void CloseInterval()
    {
        const Totals now = ReadTotals();
        m_interval = Totals{now.directBytes - m_prev.directBytes,
                            now.sidelinkBytes - m_prev.sidelinkBytes,
                            now.relayUplinkBytes - m_prev.relayUplinkBytes,
                            now.collisions - m_prev.collisions,
                            now.halfDuplexLosses - m_prev.halfDuplexLosses,
                            now.sidelinkTransmissions - m_prev.sidelinkTransmissions,
                            now.sidelinkFailures - m_prev.sidelinkFailures,
                            now.relaySidelinkSlots - m_prev.relaySidelinkSlots,
                            now.relayUplinkBlocks - m_prev.relayUplinkBlocks,
                            now.sidelinkReceptions - m_prev.sidelinkReceptions,
                            now.sidelinkSinrDbSum - m_prev.sidelinkSinrDbSum,
                            now.downlinkSidelinkBytes - m_prev.downlinkSidelinkBytes,
                            now.remoteSidelinkSlots - m_prev.remoteSidelinkSlots,
                            now.remoteUplinkBlocks - m_prev.remoteUplinkBlocks};
        m_prev = now;
    }

    double DeliveredMbps() const
    {
        return m_intervalBytes * 8.0 / (m_p.decisionMs / 1e3) / 1e6;
    }

    /**
     * Transmit energy in the interval (mJ): power times airtime, sidelink slots and RAN uplink transport
     * blocks (one slot each), of the relays, and of the remotes too when withRemotes.
     */
    double TransmitEnergyMj(bool withRemotes) const
    {
        const double sidelinkSlots = m_interval.relaySidelinkSlots + (withRemotes ? m_interval.remoteSidelinkSlots : 0.0);
        const double uplinkBlocks = m_interval.relayUplinkBlocks + (withRemotes ? m_interval.remoteUplinkBlocks : 0.0);
        const double sidelinkJ =
            sidelinkSlots * m_sidelink.sidelink->GetSlotPeriod().GetSeconds() * DbmToW(m_p.sidelinkTxPowerDbm);
        const double uplinkJ = uplinkBlocks * m_ranCarrier.numerology.SlotDurationS() *
                               DbmToW(m_link->GetPhy()->GetLinkParams(LinkDirection::kUplink).txPowerDbm);
        return (sidelinkJ + uplinkJ) * 1e3;
    }

    void InstallTraffic()
    {
        auto addFlow = [this](uint32_t ue, uint16_t port, double rateMbps, bool measured) {
            PacketSinkHelper sinkHelper("ns3::UdpSocketFactory", InetSocketAddress(Ipv4Address::GetAny(), port));
            sinkHelper.SetAttribute("EnableSeqTsSizeHeader", BooleanValue(true));
            ApplicationContainer sink = sinkHelper.Install(m_ran.server);
            sink.Start(Seconds(0));
            if (measured)
            {
                sink.Get(0)->TraceConnectWithoutContext("RxWithSeqTsSize",
                                                        MakeCallback(&D2dRelayEnv::OnReceive, this));
            }
            OnOffHelper source("ns3::UdpSocketFactory", InetSocketAddress(m_ran.serverAddress, port));
            source.SetAttribute("OnTime", StringValue("ns3::ConstantRandomVariable[Constant=1e9]"));
            source.SetAttribute("OffTime", StringValue("ns3::ConstantRandomVariable[Constant=0]"));
            source.SetAttribute("DataRate", DataRateValue(DataRate(static_cast<uint64_t>(rateMbps * 1e6))));
            source.SetAttribute("PacketSize", UintegerValue(m_p.packetBytes));
            source.SetAttribute("EnableSeqTsSizeHeader", BooleanValue(true));
            ApplicationContainer app = source.Install(m_ues.Get(ue));
            // Staggered starts within the first millisecond, so sources do not fire in lockstep.
            app.Start(MicroSeconds(1000.0 * ue / m_ues.GetN()));
        };
        for (uint32_t i = 0; i < m_p.remotes; ++i)
        {
            addFlow(i, kRemotePort + i, m_p.remoteRateMbps, true);
        }
        for (uint32_t k = 0; m_p.relayRateMbps > 0 && k < m_p.relays; ++k)
        {
            addFlow(m_p.remotes + k, kRelayPort + k, m_p.relayRateMbps, false);
        }
        // The way back: the server sends each remote's sidelink address, which reaches it directly or
        // through its relay (RAN downlink, then the relay -> remote sidelink).
        for (uint32_t i = 0; m_p.downlinkRateMbps > 0 && i < m_p.remotes; ++i)
        {
            PacketSinkHelper sinkHelper("ns3::UdpSocketFactory",
                                        InetSocketAddress(Ipv4Address::GetAny(), kDownlinkPort));
            ApplicationContainer sink = sinkHelper.Install(m_ues.Get(i));
            sink.Start(Seconds(0));
            sink.Get(0)->TraceConnectWithoutContext("Rx", MakeCallback(&D2dRelayEnv::OnDownlink, this));
            OnOffHelper source("ns3::UdpSocketFactory", InetSocketAddress(m_sidelink.addresses[i], kDownlinkPort));
            source.SetAttribute("OnTime", StringValue("ns3::ConstantRandomVariable[Constant=1e9]"));
            source.SetAttribute("OffTime", StringValue("ns3::ConstantRandomVariable[Constant=0]"));
            source.SetAttribute("DataRate", DataRateValue(DataRate(static_cast<uint64_t>(m_p.downlinkRateMbps * 1e6))));
            source.SetAttribute("PacketSize", UintegerValue(m_p.packetBytes));
            source.Install(m_ran.server).Start(MicroSeconds(1000.0 * i / m_p.remotes));
        }
    }

    void OnDownlink(Ptr<const Packet> packet, const Address&)
    {
        m_intervalDownlinkBytes += packet->GetSize();
    }

    void OnReceive(Ptr<const Packet> packet, const Address&, const Address&, const SeqTsSizeHeader& header)
    {
        m_intervalBytes += packet->GetSize();
        m_delays.push_back((Simulator::Now() - header.GetTs()).GetSeconds());
    }

    Params m_p;
    Carrier m_ranCarrier;
    uint32_t m_nSubchannels;
    bool m_agentSubchannels;
    NodeContainer m_gnbs;
    NodeContainer m_ues;
    Ptr<RanLink> m_link;
    RanDeployment m_ran;
    SidelinkDeployment m_sidelink;
    std::vector<std::optional<uint32_t>> m_relayOf; //!< per remote: its relay's UE index, or direct
    std::vector<double> m_delays;                   //!< end-to-end delays (s) of the interval
    double m_intervalBytes{0};                      //!< remote bytes received at the server
    double m_intervalDownlinkBytes{0};              //!< server bytes received at the remotes
    Totals m_prev;
    Totals m_interval;
    uint32_t m_steps{0};
};

/** The first problem with `p`, or empty. */
/** The rules across options this scenario needs (D2DRelayConfig's validators hold them too); every option
 * is in its range and the RAN carrier valid here. */
std::vector<std::string>
CrossFieldProblems(const Params& p)
{
    if (!(p.remoteMinM < p.remoteMaxM) || !(p.relayMinM < p.relayMaxM))
    {
        return {"--remote-min-m < --remote-max-m and --relay-min-m < --relay-max-m"};
    }
    try
    {
        const std::string problem =
            ValidateCarrier(p.sidelinkFrequencyHz, p.sidelinkBandwidthHz, static_cast<int>(p.sidelinkNumerology));
        if (!problem.empty())
        {
            return {"sidelink carrier: " + problem};
        }
        const uint32_t n = SubchannelCount(p);
        if (n < p.linkSubchannels)
        {
            return {"--link-subchannels = " + std::to_string(p.linkSubchannels) + " exceeds the " +
                    std::to_string(n) + " sub-channels of the sidelink carrier"};
        }
    }
    catch (const std::exception& e)
    {
        return {e.what()};
    }
    return {};
}

} // namespace

int
main(int argc, char* argv[])
{
    return ns6g::ServeScenario<D2dRelayEnv>(argc, argv, Params{}, {.check = CrossFieldProblems});
}
