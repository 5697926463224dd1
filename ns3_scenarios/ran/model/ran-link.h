// The radio link of a RAN system built from the channel (RanChannel) and the PHY abstraction (RanPhy):
// per-RBG SINR with the interference of the RBGs other cells actually use, CQI and MCS from the PHY's
// link adaptation, transport block sizes, and block errors with HARQ chase combining.
#pragma once

#include "ran/model/ran-channel.h"
#include "ran/model/ran-link-model.h"
#include "ran/model/ran-phy.h"

#include "ns3/node-container.h"
#include "ns3/vector.h"
#include "ns3/random-variable-stream.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace ns6g::ran
{

/**
 * RanLinkModel on a RanChannel and one RanPhy shared by every cell (same carrier everywhere).
 *
 * Choices, documented in docs/ran-system.md:
 *  - Fast fading is evaluated on serving links only (RanChannel's cost is ~0.7 ms per link per
 *    realization); interfering links use large-scale loss with an isotropic (0 dB) antenna gain, the
 *    average of a beam that points elsewhere.
 *  - CQI reports see the interference of the previous slot (one slot of reporting delay); a transport
 *    block's fate uses the interference of its own slot.
 *  - Uplink power follows TS 38.213 open-loop power control (RanPhy's UlPowerControl) with the path
 *    loss the UE measures (reference-signal power less RSRP); a UE is given at most the RBGs on which
 *    its maximum power still reaches the lowest CQI (MaxRbgs: power headroom). Uplink CQI assumes
 *    UlCqiRbgs RBGs; a transmission uses the RBGs allocated.
 *  - CQI 0 (nothing decodes at the target BLER) still sends, at MCS 0, when RBGs are granted.
 *  - Large-scale losses and reference-signal beam gains of a UE's (cell, UE) pairs are refreshed when
 *    it has moved 1 m since they were computed (checked once per RanChannel update period).
 */
class RanLink : public RanLinkModel
{
  public:
    static ns3::TypeId GetTypeId();
    RanLink();

    /** Attach the link to its channel, PHY and nodes (gNB i serves cell i; UE j is UE j). */
    void Setup(ns3::Ptr<RanChannel> channel,
               ns3::Ptr<RanPhy> phy,
               const ns3::NodeContainer& gnbs,
               const ns3::NodeContainer& ues);

    ns3::Ptr<RanPhy> GetPhy() const;
    ns3::Ptr<RanChannel> GetChannel() const;

    /** The CQI `ue` reports for RBG `rbg` of `cell` (interference of the previous slot). */
    int RbgCqi(uint32_t ue, uint32_t cell, uint32_t rbg, Direction direction);

    /** RbgCqi of RBGs 0..nRbgs-1 into `out`, the same values, with the downlink's interference summed once
     *  per run of RBGs that the same cells used (an observation asks this of every UE each step). */
    void RbgCqiRow(uint32_t ue, uint32_t cell, Direction direction, int* out, uint32_t nRbgs);

    /** Assign the random streams of the decode draws and of the channel; returns how many were used. */
    int64_t AssignStreams(int64_t stream);

    // RanLinkModel
    void BeginSlot(ns3::Time now) override;
    double RsrpDbm(uint32_t ue, uint32_t cell) override;
    double RbgBits(uint32_t ue, uint32_t cell, uint32_t rbg, Direction direction) override;
    void RbgBitsRow(uint32_t ue, uint32_t cell, Direction direction, double* out, uint32_t nRbgs) override;
    void SetAllocations(Direction direction, const std::vector<std::vector<int32_t>>& perCell) override;
    TransportBlock NewTransportBlock(uint32_t ue,
                                     uint32_t cell,
                                     const std::vector<uint32_t>& rbgs,
                                     Direction direction) override;
    bool Transmit(TransportBlock& tb, const std::vector<uint32_t>& rbgs) override;
    LinkMeasurement Measure(uint32_t ue) override;
    uint32_t MaxRbgs(uint32_t ue, uint32_t cell, Direction direction) override;
    double TxPowerDbm(uint32_t ue, uint32_t cell, Direction direction, const std::vector<uint32_t>& rbgs) override;

    /** Bits a new block `tb` delivers per transmission on average, at the SINR of its CQI report, with
     *  HARQ chase combining and RLC retransmission: the goodput it rates. */
    double ExpectedBitsPerTransmission(const TransportBlock& tb) const;

    /** The path loss (dB) `ue` measures to `cell`: reference-signal power less RSRP. */
    double PathlossDb(uint32_t ue, uint32_t cell) const;

  protected:
    void DoDispose() override;

  private:
    size_t Pair(uint32_t cell, uint32_t ue) const;
    /** Recompute the losses of UEs that moved; a no-op when already done in this update period. */
    void RefreshLosses();
    /** MaxRbgs' uplink computation (after RefreshLosses and RbgGains of the UE and cell). */
    uint32_t UplinkRbgsOfPower(uint32_t ue, uint32_t cell);
    /** The UE's per-RBG serving gains (linear) from `cell`, recomputed once per update period. */
    const std::vector<double>& RbgGains(uint32_t ue, uint32_t cell);
    /** SINR (linear) of `ue` on RBG `rbg`, with the interference of `allocations` (per cell). */
    double RbgSinr(uint32_t ue,
                   uint32_t cell,
                   uint32_t rbg,
                   Direction direction,
                   uint32_t nRbTx,
                   const std::vector<std::vector<int32_t>>& allocations);
    /** RbgSinr of each of `rbgs` into `sinr` (the same values); `users` are the per-RBG bit masks of the
     *  cells using each RBG in `allocations` (downlink). */
    void RbgSinrs(uint32_t ue,
                  uint32_t cell,
                  Direction direction,
                  uint32_t nRbTx,
                  const std::vector<std::vector<int32_t>>& allocations,
                  const std::vector<uint64_t>& users,
                  const std::vector<uint32_t>& rbgs,
                  std::vector<double>& sinr);
    int CqiOf(double sinrLinear) const;
    uint32_t RbsOf(const std::vector<uint32_t>& rbgs) const;

    uint32_t m_ulCqiRbgs;

    ns3::Ptr<RanChannel> m_channel;
    ns3::Ptr<RanPhy> m_phy;
    ns3::NodeContainer m_gnbs;
    ns3::NodeContainer m_ues;
    ns3::Ptr<ns3::UniformRandomVariable> m_uniform;
    Carrier m_carrier;
    McsTable m_table{McsTable::kQam256};
    double m_noiseMw[2]{0.0, 0.0};       //!< noise per RB (mW), per direction
    double m_dlTxPerRbDbm{0.0};          //!< gNB power per RB (dBm)
    double m_dlTxPerRbMw{0.0};           //!< gNB power per RB (mW)
    double m_channelUsesPerRb{0.0};      //!< REs per RB and slot that carry data
    // CQI from SINR: the lowest SINR (linear) of each CQI, found on a 0.01 dB grid.
    std::vector<double> m_cqiThreshold;
    std::vector<int> m_mcsByCqi;
    // TBS of each MCS on each possible number of RBs of one RBG (index: mcs, RBs).
    std::vector<std::vector<uint32_t>> m_rbgTbs;
    std::vector<uint32_t> m_rbgRbs;      //!< RBs of each RBG

    uint64_t m_lossEpoch{UINT64_MAX};
    uint64_t m_epoch{0};                 //!< the channel's update period of this slot
    uint32_t m_nUes{0};
    std::vector<double> m_lossDb;        //!< large-scale loss (dB) per (cell, UE)
    std::vector<double> m_lossGain;      //!< the same as a linear gain (10^(-loss/10))
    std::vector<double> m_rsrpGainDb;    //!< beam gain (dB) toward the UE per (cell, UE), for RSRP
    std::vector<double> m_ulRefPerRbMw;  //!< per (cell, UE): uplink power per RB (mW) on UlCqiRbgs RBGs
    std::vector<std::optional<ns3::Vector>> m_lastPosition; //!< per UE, where losses were last computed
    struct ServingGains
    {
        uint64_t epoch{UINT64_MAX};
        uint32_t cell{0};
        std::vector<double> rbgGain;   //!< per RBG (linear)
        std::vector<double> bandDb;     //!< the channel's per-band gains they were computed from (dB)
        std::vector<double> bandLinear; //!< the same, linear
        uint64_t version{0};           //!< a new number whenever the RBG gains are recomputed
    };
    std::vector<ServingGains> m_gains;   //!< per UE
    /** MaxRbgs of one UE as last computed: its inputs (serving gains, losses) change only with the epochs. */
    struct MaxRbgsEntry
    {
        uint64_t epoch{UINT64_MAX};
        uint64_t lossEpoch{UINT64_MAX};
        uint32_t cell{UINT32_MAX};
        uint32_t rbgs{0};
    };
    std::vector<MaxRbgsEntry> m_maxRbgs; //!< per UE (uplink)
    std::vector<std::vector<int32_t>> m_current[2];  //!< this slot's allocations, per direction
    std::vector<std::vector<int32_t>> m_previous[2]; //!< last slot's (what CQI reports saw)
    std::vector<uint64_t> m_previousUsers; //!< per RBG: bit c set if cell c used it last slot (downlink)
    std::vector<uint64_t> m_currentUsers;  //!< per RBG: bit c set if cell c uses it this slot (downlink)
    std::vector<double> m_sinrScratch;     //!< NewTransportBlock's, Transmit's and RbgCqiRow's per-RBG SINRs
    std::vector<uint32_t> m_allRbgs;       //!< 0, 1, ..., n - 1: RbgCqiRow's RBGs
    uint64_t m_usersVersion{0};            //!< bumped when m_previousUsers changes
    uint64_t m_gainsVersions{0};           //!< the last ServingGains::version handed out
    std::vector<uint64_t> m_lossVersion;   //!< per UE: bumped when RefreshLosses recomputes its losses
    /** A UE's downlink RbgBitsRow and its wideband CQI, with what they were computed from: under full
     *  buffer every cell uses every RBG, so the row stays the same for a whole update period. */
    struct BitsRow
    {
        uint64_t gains{UINT64_MAX};
        uint64_t losses{UINT64_MAX};
        uint64_t users{UINT64_MAX};
        uint32_t cell{UINT32_MAX};
        uint32_t cqi{0};
        std::vector<double> bits;
    };
    std::vector<BitsRow> m_bitsRows;       //!< per UE
    /** A UE's downlink RbgCqiRow, with what it was computed from (as BitsRow). */
    struct CqiRow
    {
        uint64_t gains{UINT64_MAX};
        uint64_t losses{UINT64_MAX};
        uint64_t users{UINT64_MAX};
        uint32_t cell{UINT32_MAX};
        std::vector<int> cqi;
    };
    std::vector<CqiRow> m_cqiRows;         //!< per UE
    std::vector<LinkMeasurement> m_measurements;
};

} // namespace ns6g::ran
