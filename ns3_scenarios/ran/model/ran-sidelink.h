// The D2D sidelink of ns6g's 6G RAN: UE-to-UE links on a resource pool of their own (a sidelink carrier
// divided into sub-channels), TR 37.885 V2V large-scale loss from ns-3, per-slot SINR with co-channel
// sidelink interference and half duplex, link adaptation, TBS, BLER and HARQ from the RAN's one PHY
// (RanPhy), and two resource-allocation modes: "scheduled" (mode 1: the gNB - the agent or a round robin
// - assigns sub-channels) and "autonomous" (mode 2: sensing-based semi-persistent selection by each
// transmitter, TS 38.214 8.1.4 simplified). Packets enter through SidelinkNetDevice. See
// docs/d2d-sidelink.md.
#pragma once

#include "ran/model/ran-phy.h"
#include "ran/model/ran-segment-queue.h"

#include "ns3/channel-condition-model.h"
#include "ns3/event-id.h"
#include "ns3/ipv4-address.h"
#include "ns3/node-container.h"
#include "ns3/nstime.h"
#include "ns3/object.h"
#include "ns3/propagation-loss-model.h"
#include "ns3/random-variable-stream.h"
#include "ns3/vector.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ns6g::ran
{

class SidelinkNetDevice;

/** Counters of one sidelink (transmitter -> receiver) since the start of the episode (cumulative). */
struct SidelinkCounters
{
    uint64_t deliveredBytes{0};      //!< packet bytes carried by transport blocks that decoded
    uint64_t transmissions{0};       //!< transmissions (first and HARQ retransmissions)
    uint64_t failedTransmissions{0}; //!< transmissions that did not decode
    uint64_t collisions{0};          //!< transmissions that shared a sub-channel with another transmitter
    uint64_t halfDuplexLosses{0};    //!< transmissions lost because the receiver was transmitting
    uint64_t droppedBytes{0};        //!< bytes refused by a full queue
    uint64_t subchannelSlots{0};     //!< sub-channels used, summed over slots
    uint64_t receptions{0};          //!< transmissions the receiver heard (not lost to half duplex)
    double sinrDbSum{0.0};           //!< sum of their effective SINRs (dB), for means over intervals
    double lastSinrDb{0.0};          //!< effective SINR of the last transmission (dB; -inf: half duplex)
};

/**
 * The sidelink of a group of UEs. Setup() it with its PHY (the sidelink carrier: CenterFrequency,
 * Bandwidth, Numerology of a RanPhy; UlTxPower is the UE's sidelink power, UeNoiseFigure its receiver's)
 * and the UE nodes (with mobility), attach the devices (SidelinkHelper does all of this), then Start().
 *
 * Per slot (1 ms / 2^mu): the transmissions are decided (mode 1: the external assignment or the round
 * robin; mode 2: each transmitter's semi-persistent reservation); each transmission's SINR per
 * sub-channel counts every other transmitter on that sub-channel; a receiver that transmits in the slot
 * receives nothing (half duplex). The MCS comes from the link's last measured SINR (the first time: the
 * noise-limited SINR); block errors and HARQ chase combining from the PHY.
 */
class RanSidelink : public ns3::Object
{
  public:
    static ns3::TypeId GetTypeId();
    RanSidelink();
    ~RanSidelink() override;

    /** Attach the PHY of the sidelink carrier and the UEs (UE i = node i, with a MobilityModel). */
    void Setup(ns3::Ptr<RanPhy> phy, const ns3::NodeContainer& ues);
    void SetUeDevice(uint32_t ue, ns3::Ptr<SidelinkNetDevice> device);
    /** Packets to `address` over the sidelink go to `ue`. */
    void MapAddress(ns3::Ipv4Address address, uint32_t ue);
    /** The UE that owns sidelink address `address`, if any. */
    std::optional<uint32_t> UeOfAddress(ns3::Ipv4Address address) const;

    /** Build the loss models and start the slot loop. */
    void Start();

    /** Queue a packet from `tx` to `rx`; false (and counted) when the link's queue is full. */
    bool Enqueue(uint32_t tx, uint32_t rx, ns3::Ptr<ns3::Packet> packet, uint16_t protocol);

    /**
     * Mode 1 with Scheduler "external": the sub-channels of link tx -> rx from the next slot on (empty:
     * none), used in every slot the link has data unless half duplex forbids it (then the pair's
     * directions alternate). Throws std::invalid_argument naming the field for UEs or sub-channels out of range, a
     * repeated sub-channel, tx == rx, or another mode/scheduler.
     */
    void SetLinkSubchannels(uint32_t tx, uint32_t rx, const std::vector<uint32_t>& subchannels);

    /** Large-scale loss (dB) between two UEs now: TR 37.885 path loss with LOS/NLOSv and shadowing. */
    double LossDb(uint32_t a, uint32_t b);
    /** Noise-limited SINR (dB) of tx -> rx on `nSubchannels` sub-channels (the UE's power over them). */
    double NoiseLimitedSinrDb(uint32_t tx, uint32_t rx, uint32_t nSubchannels);
    /**
     * Noise-limited rate estimate (bit/s) of tx -> rx on `nSubchannels` sub-channels: the TBS at the MCS
     * of the link adaptation for NoiseLimitedSinrDb (10 % target BLER), per slot; 0 at CQI 0.
     */
    double EstimateRateBps(uint32_t tx, uint32_t rx, uint32_t nSubchannels);

    uint32_t GetNUes() const;
    uint32_t GetNSubchannels() const;
    uint32_t GetSubchannelRbs() const;
    ns3::Time GetSlotPeriod() const;
    bool IsAutonomous() const;
    ns3::Ptr<RanPhy> GetPhy() const;
    /** Counters of link tx -> rx (zeros if it never carried anything). */
    SidelinkCounters Counters(uint32_t tx, uint32_t rx) const;
    /** Sum of the counters of every link. */
    SidelinkCounters TotalCounters() const;
    /** Bytes waiting (not yet sent once) on link tx -> rx. */
    uint64_t QueuedBytes(uint32_t tx, uint32_t rx) const;
    /** Bytes waiting on every link from `tx`. */
    uint64_t QueuedBytesFrom(uint32_t tx) const;
    /** Slots in which `ue` transmitted on the sidelink. */
    uint64_t TxSlots(uint32_t ue) const;
    /** The sub-channels `ue` transmitted on in the last slot (empty: none). */
    const std::vector<uint32_t>& LastSubchannels(uint32_t ue) const;

    /** Fix the random streams (decoding, mode-2 selection, loss models); returns how many were used. */
    int64_t AssignStreams(int64_t stream);

  protected:
    void DoDispose() override;

  private:
    /** One directed link and its queue, HARQ process and channel knowledge. */
    struct Link
    {
        SegmentQueue queue;
        std::optional<std::vector<Segment>> pending; //!< segments of the block awaiting retransmission
        HarqProcess harq;
        std::optional<double> csiSinr; //!< effective SINR (linear) of the last reception
        std::vector<uint32_t> assigned; //!< mode 1 external: the agent's sub-channels
        SidelinkCounters counters;
    };

    /** A transmission of one slot. */
    struct Transmission
    {
        uint32_t tx{0};
        uint32_t rx{0};
        std::vector<uint32_t> subchannels;
    };

    /** Mode 2: a transmitter's semi-persistent reservation. */
    struct Reservation
    {
        uint32_t slot{0};                  //!< slot within the reservation period
        std::vector<uint32_t> subchannels; //!< empty: none yet
        uint32_t counter{0};               //!< transmissions left before reselection
        ns3::Time lastUse;                 //!< last slot the reservation was used (for sensing)
    };

    void Slot();
    std::vector<Transmission> ScheduleRoundRobin();
    std::vector<Transmission> ScheduleExternal();
    std::vector<Transmission> ScheduleAutonomous();
    /** Mode 2 selection for `ue` against the reservations others announced (TS 38.214 8.1.4, simplified). */
    std::pair<uint32_t, std::vector<uint32_t>> SelectResources(uint32_t ue,
                                                               const std::vector<uint32_t>& receivers,
                                                               const std::vector<Reservation>& announced);
    bool HasData(const Link& link) const;
    void Transmit(const Transmission& t, const std::vector<Transmission>& all, const std::vector<uint32_t>& rbsOfUe);
    double TxPowerPerRbDbm(uint32_t nRb) const;
    /** Channel uses (REs) per RB of a transport block: the BLER model's block length. */
    double ChannelUsesPerRb() const;
    Link& GetLink(uint32_t tx, uint32_t rx);
    void CheckUe(const char* field, uint32_t ue) const;

    // Attributes
    std::string m_scenario;             //!< "V2V-Urban" or "V2V-Highway" (TR 37.885)
    std::string m_conditionMode;        //!< "3gpp" (TR 37.885 LOS/NLOSv draws) or "los" (always LOS)
    uint32_t m_subchannelRbs;           //!< RBs per sub-channel
    std::string m_mode;                 //!< "scheduled" (mode 1) or "autonomous" (mode 2)
    std::string m_scheduler;            //!< mode 1: "rr" or "external"
    bool m_shadowing;                   //!< TR 37.885 shadowing on/off
    uint32_t m_maxQueueBytes;           //!< per link (bytes)
    uint32_t m_psschSymbols;            //!< OFDM symbols of the shared channel per slot
    uint32_t m_autonomousSubchannels;   //!< mode 2: sub-channels per reservation
    uint32_t m_reservationPeriodSlots;  //!< mode 2: a reservation is one slot of every this many
    uint32_t m_reselectionMin;          //!< mode 2: reselection counter range (transmissions)
    uint32_t m_reselectionMax;
    double m_probResourceKeep;          //!< mode 2: probability of keeping the resource at reselection
    double m_rsrpThresholdDbm;          //!< mode 2: initial exclusion threshold (dBm per RB)
    ns3::Time m_sensingWindow;          //!< mode 2: reservations heard within this window count
    double m_minCandidateFraction;      //!< mode 2: raise the threshold 3 dB until this share remains

    ns3::Ptr<RanPhy> m_phy;
    Carrier m_carrier;
    ns3::Time m_slotPeriod;
    uint32_t m_nSubchannels{0};
    double m_noisePerRbMw{0.0};
    ns3::NodeContainer m_ues;
    std::vector<ns3::Ptr<SidelinkNetDevice>> m_devices;
    std::map<ns3::Ipv4Address, uint32_t> m_ueByAddress;
    std::map<std::pair<uint32_t, uint32_t>, Link> m_links; //!< ordered: deterministic iteration
    std::vector<Reservation> m_reservations;                //!< mode 2, per UE
    std::vector<uint64_t> m_txSlots;                        //!< per UE
    std::vector<std::vector<uint32_t>> m_lastSubchannels;   //!< per UE, last slot
    std::vector<size_t> m_nextLinkOfUe;                     //!< mode 2: round robin over a UE's links
    size_t m_rrOffset{0};
    uint64_t m_slotCount{0};
    /** A pair's loss and where its ends were when it was computed. */
    struct CachedLoss
    {
        ns3::Vector a;
        ns3::Vector b;
        double lossDb{0.0};
    };

    std::map<std::pair<uint32_t, uint32_t>, CachedLoss> m_lossCache; //!< by (lower, higher) UE index
    ns3::Ptr<ns3::ChannelConditionModel> m_condition;
    ns3::Ptr<ns3::PropagationLossModel> m_loss;
    ns3::Ptr<ns3::UniformRandomVariable> m_decode;
    ns3::Ptr<ns3::UniformRandomVariable> m_select;
    ns3::EventId m_slotEvent;
    int64_t m_lossStream{-1};
};

} // namespace ns6g::ran
