// What the RAN system asks of the radio link: achievable bits for scheduling, transport block sizes,
// and whether a transmission decodes. The implementation combines the channel (ran-channel) and the
// PHY abstraction (ran-phy); RanSystem stays independent of both.
#pragma once

#include "ns3/nstime.h"
#include "ns3/object.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

namespace ns6g::ran
{

/** Downlink (gNB -> UE) or uplink (UE -> gNB). */
enum class Direction : uint8_t
{
    Downlink = 0,
    Uplink = 1,
};

/** One transport block as sent: what the link model needs to decide its fate and to combine HARQ. */
struct TransportBlock
{
    uint32_t ue{0};             //!< UE index
    uint32_t cell{0};           //!< serving cell index
    Direction direction{Direction::Downlink};
    std::vector<uint32_t> rbgs; //!< RBG indices of the first transmission
    uint32_t mcs{0};            //!< MCS index chosen at the first transmission
    uint64_t sizeBits{0};       //!< transport block size (bits)
    uint32_t attempts{0};       //!< transmissions so far
    double combinedSinr{0.0};   //!< chase-combined effective SINR of the transmissions so far (linear)
    double csiSinr{0.0};        //!< effective SINR (linear) the MCS was chosen for (the CQI report's)
};

/** Per-slot measurements of one UE, kept by the link model for traces and observations. */
struct LinkMeasurement
{
    double sinrDb{std::nan("")}; //!< effective SINR of the last transmission (dB); NaN if none
    double rsrpDbm{0.0};  //!< reference signal received power from the serving cell (dBm)
    uint32_t cqi{0};      //!< last CQI report
    uint32_t mcs{0};      //!< MCS of the last transport block
};

/**
 * The radio link of every (cell, UE) pair of one RAN system.
 *
 * Call order per slot: BeginSlot, then per direction RbgBits (scheduling), SetAllocations (so that
 * interference reflects the RBGs other cells actually use), then NewTransportBlock / Transmit.
 */
class RanLinkModel : public ns3::Object
{
  public:
    static ns3::TypeId GetTypeId()
    {
        static ns3::TypeId tid =
            ns3::TypeId("ns6g::ran::RanLinkModel").SetParent<ns3::Object>().SetGroupName("Ns6gRan");
        return tid;
    }

    /** Refresh channel state that changes with time (mobility, fast fading at its update period). */
    virtual void BeginSlot(ns3::Time now) = 0;

    /** Reference signal received power (dBm) of `cell` at `ue`, for association and handover. */
    virtual double RsrpDbm(uint32_t ue, uint32_t cell) = 0;

    /** Bits that RBG `rbg` would carry for `ue` in `direction` at the MCS of its last CQI report. */
    virtual double RbgBits(uint32_t ue, uint32_t cell, uint32_t rbg, Direction direction) = 0;

    /** RbgBits for every RBG of `cell` at once (`out` holds one value per RBG); override when faster. */
    virtual void RbgBitsRow(uint32_t ue, uint32_t cell, Direction direction, double* out, uint32_t nRbgs)
    {
        for (uint32_t rbg = 0; rbg < nRbgs; ++rbg)
        {
            out[rbg] = RbgBits(ue, cell, rbg, direction);
        }
    }

    /** Tell the model which UE uses which RBG in every cell (-1: unused), for inter-cell interference. */
    virtual void SetAllocations(Direction direction, const std::vector<std::vector<int32_t>>& perCell) = 0;

    /** Size a new transport block for `ue` on `rbgs` at the MCS of its last CQI report. */
    virtual TransportBlock NewTransportBlock(uint32_t ue,
                                             uint32_t cell,
                                             const std::vector<uint32_t>& rbgs,
                                             Direction direction) = 0;

    /**
     * Transmit (or retransmit) `tb` on `rbgs` in this slot: updates its attempts and combined SINR and
     * returns whether it decoded (a draw against the block error rate).
     */
    virtual bool Transmit(TransportBlock& tb, const std::vector<uint32_t>& rbgs) = 0;

    /** The latest measurements of `ue`. */
    virtual LinkMeasurement Measure(uint32_t ue) = 0;

    /** The most RBGs `ue` can use in `direction` (uplink: what its power supports); more are unused. */
    virtual uint32_t MaxRbgs(uint32_t ue, uint32_t cell, Direction direction) = 0;

    /** Transmit power (dBm) of a transmission of `ue` on `rbgs` (uplink: the UE's; downlink: the
     *  gNB's on those RBGs). */
    virtual double TxPowerDbm(uint32_t ue, uint32_t cell, Direction direction, const std::vector<uint32_t>& rbgs) = 0;

    /** The RBGs of `rbgs` that `ue` can use: all of them, or the MaxRbgs that carry the most bits at its
     *  CQI (ties keep the lower index), in RBG order. */
    std::vector<uint32_t> UsableRbgs(uint32_t ue, uint32_t cell, Direction direction, std::vector<uint32_t> rbgs)
    {
        const uint32_t most = MaxRbgs(ue, cell, direction);
        if (rbgs.size() <= most)
        {
            return rbgs;
        }
        std::vector<double> bits(rbgs.size());
        for (size_t i = 0; i < rbgs.size(); ++i)
        {
            bits[i] = RbgBits(ue, cell, rbgs[i], direction);
        }
        std::vector<size_t> order(rbgs.size());
        std::iota(order.begin(), order.end(), size_t{0});
        std::stable_sort(order.begin(), order.end(), [&bits](size_t a, size_t b) { return bits[a] > bits[b]; });
        order.resize(most);
        std::sort(order.begin(), order.end());
        std::vector<uint32_t> kept;
        kept.reserve(most);
        for (size_t i : order)
        {
            kept.push_back(rbgs[i]);
        }
        return kept;
    }
};

} // namespace ns6g::ran
