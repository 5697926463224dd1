// The slot loop of a multi-cell 6G RAN: per-UE queues, per-cell schedulers, transport blocks with
// segmentation and HARQ, association by strongest RSRP and A3 handover. Radio details come from a
// RanLinkModel; packets enter and leave through RanNetDevices.
#pragma once

#include "ran/model/ran-link-model.h"
#include "ran/model/ran-scheduler.h"

#include "ns3/event-id.h"
#include "ns3/ipv4-address.h"
#include "ns3/nstime.h"
#include "ns3/object.h"
#include "ns3/packet.h"
#include "ns3/traced-callback.h"

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace ns6g::ran
{

class RanNetDevice;

/** Counters of one UE since the start of the episode (cumulative; difference them per interval). */
struct UeCounters
{
    uint64_t deliveredBits[2]{0, 0};    //!< bits decoded at the receiver (packet bytes carried by
                                        //!< transport blocks that decoded), per direction (DL, UL)
    uint64_t allocatedRbgSlots[2]{0, 0}; //!< RBGs allocated, summed over slots, per direction
    uint64_t transportBlocks[2]{0, 0};  //!< transmissions (first and retransmissions), per direction
    uint64_t failedTransmissions[2]{0, 0}; //!< transmissions that did not decode, per direction
    uint64_t droppedBytes[2]{0, 0};     //!< bytes refused by a full queue, per direction
    uint64_t lostBytes[2]{0, 0};        //!< bytes discarded by a radio link failure or offered after it
    double txEnergyJ[2]{0.0, 0.0};      //!< transmit energy of the UE's transmissions (J): power x slot;
                                        //!< uplink: the UE's, downlink: the gNB's on the UE's RBs
};

/**
 * A RAN of `cells` gNBs and `ues` UEs sharing one link model. Create it, Configure() it, attach the
 * devices (RanHelper does all of this), then Start().
 */
class RanSystem : public ns3::Object
{
  public:
    static ns3::TypeId GetTypeId();
    RanSystem();
    ~RanSystem() override;

    /**
     * Size the system: `dlRbgs`/`ulRbgs` RBGs per cell in each direction; `dlScheduler` and
     * `ulScheduler` are policy names of MakeScheduler ("rr", "pf", "mr", "external").
     */
    void Configure(uint32_t cells,
                   uint32_t ues,
                   uint32_t dlRbgs,
                   uint32_t ulRbgs,
                   ns3::Ptr<RanLinkModel> link,
                   const std::string& dlScheduler,
                   const std::string& ulScheduler);

    void SetGnbDevice(uint32_t cell, ns3::Ptr<RanNetDevice> device);
    void SetUeDevice(uint32_t ue, ns3::Ptr<RanNetDevice> device);
    /** Downlink packets to `address` go to `ue`. */
    void MapAddress(ns3::Ipv4Address address, uint32_t ue);

    /** Associate every UE with its strongest cell and start the slot loop. */
    void Start();

    /** Queue a packet from a gNB device for the UE owning its destination address. */
    bool EnqueueDownlink(ns3::Ptr<ns3::Packet> packet, uint16_t protocol);
    /** Queue a packet a UE device sends towards its serving gNB. */
    bool EnqueueUplink(uint32_t ue, ns3::Ptr<ns3::Packet> packet, uint16_t protocol);

    /**
     * The agent's allocation for `cell` (per RBG the UE index or -1), applied by "external" schedulers
     * from the next slot on. An RBG naming a UE this cell does not serve stays unused; a UE index out of
     * range or a wrong length is refused (InvalidAllocation).
     */
    void SetExternalAllocation(uint32_t cell, Direction direction, const Allocation& allocation);

    uint32_t GetNCells() const;
    uint32_t GetNUes() const;
    uint32_t GetNRbgs(Direction direction) const;
    uint32_t ServingCell(uint32_t ue) const;
    const UeCounters& Counters(uint32_t ue) const;
    /** Whether `ue` suffered a radio link failure (it is then out of service for good). */
    bool LinkFailed(uint32_t ue) const;
    /** Radio link failures since Start(), all UEs. */
    uint64_t GetRadioLinkFailures() const;
    /** Bytes waiting (not yet sent once) in `ue`'s queue of `direction`. */
    uint64_t QueuedBytes(uint32_t ue, Direction direction) const;
    /** EWMA throughput (bit/s) of `ue` in `direction`, the proportional-fair denominator. */
    double AverageThroughputBps(uint32_t ue, Direction direction) const;
    /** The allocation of the last slot in `cell` (per RBG the UE index or -1). */
    const Allocation& LastAllocation(uint32_t cell, Direction direction) const;
    ns3::Ptr<RanLinkModel> GetLinkModel() const;
    ns3::Time GetSlotPeriod() const;

  protected:
    void DoDispose() override;

  private:
    /** A packet in a queue: bytes not yet sent and bytes not yet delivered (for segmentation). */
    struct Sdu
    {
        ns3::Ptr<ns3::Packet> packet;
        uint16_t protocol{0};
        uint32_t unsent{0};
        uint32_t undelivered{0};
    };

    struct Segment
    {
        std::shared_ptr<Sdu> sdu;
        uint32_t bytes{0};
    };

    /** A transport block waiting for a HARQ retransmission, with the segments it carries. */
    struct PendingBlock
    {
        TransportBlock tb;
        std::vector<Segment> segments;
    };

    struct UeState
    {
        uint32_t cell{0};
        std::deque<std::shared_ptr<Sdu>> queue[2];
        uint64_t queuedBytes[2]{0, 0};
        std::optional<PendingBlock> harq[2];
        double averageBps[2]{0.0, 0.0};
        UeCounters counters;
        // A3 handover: the candidate cell and since when it has been better by the hysteresis.
        int64_t candidateCell{-1};
        ns3::Time candidateSince;
        // Radio link failure: since when no transport block decoded, per direction (unset after a success).
        std::optional<ns3::Time> failingSince[2];
        bool linkFailed{false};
        // Handover interruption: the UE is not scheduled in either direction before this time.
        ns3::Time interruptedUntil;
    };

    void Slot();
    void ScheduleDirection(Direction direction);
    void Deliver(Direction direction, uint32_t ue, std::vector<Segment> segments);
    void Requeue(UeState& state, Direction direction, const std::vector<Segment>& segments);
    std::vector<Segment> Fill(UeState& state, Direction direction, uint64_t bits);
    /** Uplink: keep at most the RBGs each UE's power supports (the best ones); the rest stay unused. */
    void FitToPower(uint32_t cell, Allocation& allocation);
    void DeclareRadioLinkFailure(uint32_t ue, Direction direction);
    void CheckHandovers();
    void HandOver(uint32_t ue, uint32_t target);
    bool Enqueue(uint32_t ue, Direction direction, ns3::Ptr<ns3::Packet> packet, uint16_t protocol);

    // Attributes
    ns3::Time m_slotPeriod;
    uint32_t m_maxQueueBytes;
    ns3::Time m_handoverInterruption;
    uint32_t m_harqMaxTransmissions;
    ns3::Time m_averagingTimeConstant;
    ns3::Time m_measurementPeriod;
    double m_handoverHysteresisDb;
    ns3::Time m_timeToTrigger;
    ns3::Time m_radioLinkFailureTime;

    uint32_t m_nCells{0};
    uint32_t m_nRbgs[2]{0, 0};
    ns3::Ptr<RanLinkModel> m_link;
    std::vector<std::unique_ptr<Scheduler>> m_schedulers[2]; // per cell
    std::vector<Allocation> m_lastAllocation[2];               // per cell
    std::vector<Allocation> m_external[2];                     // per cell: the agent's (global UE indices)
    std::vector<UeState> m_ues;
    std::vector<ns3::Ptr<RanNetDevice>> m_gnbDevices;
    std::vector<ns3::Ptr<RanNetDevice>> m_ueDevices;
    std::map<ns3::Ipv4Address, uint32_t> m_ueByAddress;
    ns3::Time m_lastMeasurement;
    ns3::EventId m_slotEvent;
    /** ScheduleDirection's per-slot containers, kept between slots so that a slot allocates nothing
     *  of its own: every one is refilled before it is read. */
    struct SlotScratch
    {
        std::vector<std::vector<int32_t>> allocations;    //!< per cell: UE of each RBG
        std::vector<std::vector<uint32_t>> members;       //!< per cell: UEs with data
        SchedulerInput input;                             //!< one cell's scheduler input
        std::vector<std::pair<uint32_t, uint32_t>> byUe; //!< one cell's (UE, RBG) pairs
        std::vector<uint32_t> rbgs;                       //!< one UE's RBGs
        std::vector<uint64_t> deliveredBits;              //!< per UE
    };
    SlotScratch m_scratch;

    ns3::TracedCallback<uint32_t, uint32_t, uint32_t> m_handoverTrace; //!< (ue, from cell, to cell)
  public:
    /** Handovers since Start(), all UEs. */
    uint64_t GetHandovers() const;

  private:
    uint64_t m_handovers{0};
    uint64_t m_radioLinkFailures{0};
    ns3::TracedCallback<uint32_t, uint32_t, uint32_t> m_rlfTrace; //!< (ue, cell, direction 0 DL / 1 UL)
    ns3::TracedCallback<ns3::Ptr<const ns3::Packet>> m_dropTrace;      //!< packet refused by a full queue
};

} // namespace ns6g::ran
