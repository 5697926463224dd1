// The 6G RAN's PHY abstraction: one ns-3 Object, RanPhy, that holds a cell's configuration (carrier,
// powers, noise figures, MCS table, HARQ and BLER parameters) as attributes and binds the model's free
// functions to them. Nothing here simulates; the scheduler and the net device call it once per slot.
//
// This header includes the whole PHY abstraction: ran-carrier.h (numerology, carrier) and
// ran-link-adaptation.h (SINR, MCS/CQI, TBS, BLER, link adaptation, HARQ). See docs/ran-phy.md.
#pragma once

#include "ran/model/ran-carrier.h"
#include "ran/model/ran-link-adaptation.h"

#include "ns3/object.h"

#include <cstdint>
#include <vector>

namespace ns6g::ran
{

// ---------------------------------------------------------------------------------------------------
// Downlink and uplink

/** Direction of a link. */
enum class LinkDirection : uint8_t
{
    kDownlink = 0,
    kUplink = 1,
};

/** The transmitter's power and the receiver's noise figure of one direction. */
struct LinkPhyParams
{
    /** Total transmit power in dBm. Downlink: the gNB's, spread evenly over all RBs of the carrier
     *  (constant PSD). Uplink: the UE's, spread evenly over the RBs it is given. */
    double txPowerDbm{0.0};
    /** Receiver noise figure in dB (downlink: the UE's; uplink: the gNB's). */
    double noiseFigureDb{0.0};
};

/**
 * The PHY of one cell as an ns-3 Object: carrier, powers, noise figures, MCS table, HARQ and BLER
 * parameters as attributes, and the model's functions bound to them. Invalid attribute combinations are
 * reported (InvalidPhyConfig) by GetCarrier() and every method that needs the carrier.
 */
class RanPhy : public ns3::Object
{
  public:
    static ns3::TypeId GetTypeId();

    /** The carrier of the attributes CenterFrequency, Bandwidth, Numerology and RbgSize. */
    Carrier GetCarrier() const;
    /** Transmit power and noise figure of a direction. */
    LinkPhyParams GetLinkParams(LinkDirection direction) const;
    /** Thermal noise per RB in dBm at the receiver of a direction. */
    double GetNoisePerRbDbm(LinkDirection direction) const;
    /**
     * Transmit power per RB in dBm. Downlink: DlTxPower over all N_RB of the carrier, whatever is
     * allocated. Uplink: UlTxPower over the nRbAllocated RBs the UE transmits on (>= 1).
     */
    double GetTxPowerPerRbDbm(LinkDirection direction, uint32_t nRbAllocated) const;
    /**
     * Uplink transmit power (dBm) of a UE on nRb RBs at path loss pathlossDb (dB): PuschPowerDbm with
     * UlTxPower as P_max, UlP0 and UlAlpha when UlPowerControl is on, else UlTxPower.
     */
    double GetUlTxPowerDbm(uint32_t nRb, double pathlossDb) const;
    /** PerRbSinr() with this direction's noise per RB. */
    std::vector<double> GetPerRbSinr(LinkDirection direction, const std::vector<double>& signalDbm,
                                     const std::vector<std::vector<double>>& interferenceMw) const;
    /** Link adaptation for per-RB SINRs (linear): EffectiveSinr, then AdaptLink with the McsTable. */
    LinkAdaptation Adapt(const std::vector<double>& sinrPerRbLinear) const;
    /** TBS in bits of an MCS of the McsTable on nRb RBs, nSymbols symbols and nLayers layers. */
    uint32_t GetTbs(int mcs, uint32_t nRb, uint32_t nSymbols = kSymbolsPerSlot, uint32_t nLayers = 1) const;
    /** BLER of a transport block of the McsTable at effective SINR sinrLinear (linear), sent on
     *  channelUses REs x layers (0: unknown). */
    double GetBler(double sinrLinear, int mcs, uint32_t tbsBits, double channelUses = 0.0) const;
    /** HarqProcess::Receive with MaxHarqTransmissions and this PHY's BLER model. */
    HarqOutcome ReceiveHarq(HarqProcess& process, double effectiveSinr, double uniform01) const;

    McsTable GetMcsTable() const;
    uint32_t GetMaxHarqTransmissions() const;
    const BlerModel& GetBlerModel() const;

  private:
    void SetCodingGap(double gapDb);
    double GetCodingGap() const;

    double m_frequencyHz{3.5e9};
    double m_bandwidthHz{100e6};
    uint32_t m_numerology{1};
    uint32_t m_rbgSize{0};
    McsTable m_mcsTable{McsTable::kQam256};
    /** GetTbs of a whole slot and one layer (what RanLink asks for every new transport block), by
     *  mcs * 276 + nRb (GetTbs), computed once each (UINT32_MAX: not yet), for m_tbsCacheTable. */
    mutable std::vector<uint32_t> m_tbsCache;
    mutable McsTable m_tbsCacheTable{McsTable::kQam256};
    double m_dlTxPowerDbm{46.0};
    double m_ulTxPowerDbm{23.0};
    bool m_ulPowerControl{true};
    double m_ulP0Dbm{-80.0};
    double m_ulAlpha{1.0};
    double m_ueNoiseFigureDb{9.0};
    double m_gnbNoiseFigureDb{5.0};
    uint32_t m_maxHarqTransmissions{kDefaultMaxHarqTransmissions};
    uint32_t m_referenceTbsBits{kReferenceTbsBits};
    double m_targetBler{kTargetBler};
    BlerModel m_blerModel;
};

} // namespace ns6g::ran
