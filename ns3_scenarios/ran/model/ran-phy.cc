// The 6G RAN's PHY object (see ran-phy.h and docs/ran-phy.md).
#include "ran/model/ran-phy.h"

#include "ns3/boolean.h"
#include "ns3/double.h"
#include "ns3/enum.h"
#include "ns3/uinteger.h"

namespace ns6g::ran
{

// ---------------------------------------------------------------------------------------------------
// RanPhy

ns3::TypeId
RanPhy::GetTypeId()
{
    using namespace ns3;
    static TypeId tid =
        TypeId("ns6g::ran::RanPhy")
            .SetParent<Object>()
            .SetGroupName("ns6g")
            .AddConstructor<RanPhy>()
            .AddAttribute("CenterFrequency",
                          "Center frequency of the carrier (Hz).",
                          DoubleValue(3.5e9),
                          MakeDoubleAccessor(&RanPhy::m_frequencyHz),
                          MakeDoubleChecker<double>())
            .AddAttribute("Bandwidth",
                          "Channel bandwidth of the carrier (Hz): a TS 38.101 channel bandwidth for the "
                          "subcarrier spacing, or a whole number of RBs.",
                          DoubleValue(100e6),
                          MakeDoubleAccessor(&RanPhy::m_bandwidthHz),
                          MakeDoubleChecker<double>())
            .AddAttribute("Numerology",
                          "Numerology mu, 0..6 (subcarrier spacing 15 kHz * 2^mu).",
                          UintegerValue(1),
                          MakeUintegerAccessor(&RanPhy::m_numerology),
                          MakeUintegerChecker<uint32_t>())
            .AddAttribute("RbgSize",
                          "RBG size in RBs; 0 for TS 38.214 Table 5.1.2.2.1-1 configuration 1.",
                          UintegerValue(0),
                          MakeUintegerAccessor(&RanPhy::m_rbgSize),
                          MakeUintegerChecker<uint32_t>())
            .AddAttribute("McsTable",
                          "MCS/CQI table pair: 256-QAM (TS 38.214 Tables 5.1.3.1-2, 5.2.2.1-3) or "
                          "1024-QAM (Tables 5.1.3.1-4, 5.2.2.1-5).",
                          EnumValue<McsTable>(McsTable::kQam256),
                          MakeEnumAccessor<McsTable>(&RanPhy::m_mcsTable),
                          MakeEnumChecker(McsTable::kQam256, "256QAM", McsTable::kQam1024, "1024QAM"))
            .AddAttribute("DlTxPower",
                          "gNB transmit power (dBm), spread evenly over all RBs of the carrier.",
                          DoubleValue(46.0),
                          MakeDoubleAccessor(&RanPhy::m_dlTxPowerDbm),
                          MakeDoubleChecker<double>())
            .AddAttribute("UlTxPower",
                          "UE transmit power (dBm), spread evenly over the RBs the UE is given.",
                          DoubleValue(23.0),
                          MakeDoubleAccessor(&RanPhy::m_ulTxPowerDbm),
                          MakeDoubleChecker<double>())
            .AddAttribute("UlPowerControl",
                          "TS 38.213 open-loop PUSCH power control: a UE transmits "
                          "min(UlTxPower, UlP0 + 10 log10(2^mu M_RB) + UlAlpha PL); false: UlTxPower over "
                          "whatever it is given.",
                          BooleanValue(true),
                          MakeBooleanAccessor(&RanPhy::m_ulPowerControl),
                          MakeBooleanChecker())
            .AddAttribute("UlP0",
                          "PUSCH P0: target received power per RB at 15 kHz spacing (dBm).",
                          DoubleValue(-80.0),
                          MakeDoubleAccessor(&RanPhy::m_ulP0Dbm),
                          MakeDoubleChecker<double>(-202.0, 24.0))
            .AddAttribute("UlAlpha",
                          "PUSCH path loss compensation factor alpha (0..1; 1: full compensation).",
                          DoubleValue(1.0),
                          MakeDoubleAccessor(&RanPhy::m_ulAlpha),
                          MakeDoubleChecker<double>(0.0, 1.0))
            .AddAttribute("UeNoiseFigure",
                          "Noise figure of the UE receiver (dB), used on the downlink.",
                          DoubleValue(9.0),
                          MakeDoubleAccessor(&RanPhy::m_ueNoiseFigureDb),
                          MakeDoubleChecker<double>())
            .AddAttribute("GnbNoiseFigure",
                          "Noise figure of the gNB receiver (dB), used on the uplink.",
                          DoubleValue(5.0),
                          MakeDoubleAccessor(&RanPhy::m_gnbNoiseFigureDb),
                          MakeDoubleChecker<double>())
            .AddAttribute("MaxHarqTransmissions",
                          "Transmissions of one transport block, the first included (chase combining).",
                          UintegerValue(kDefaultMaxHarqTransmissions),
                          MakeUintegerAccessor(&RanPhy::m_maxHarqTransmissions),
                          MakeUintegerChecker<uint32_t>(1, 32))
            .AddAttribute("ReferenceTbs",
                          "Transport block size (bits) that CQI selection assumes.",
                          UintegerValue(kReferenceTbsBits),
                          MakeUintegerAccessor(&RanPhy::m_referenceTbsBits),
                          MakeUintegerChecker<uint32_t>(24))
            .AddAttribute("TargetBler",
                          "BLER that CQI selection targets (0..1).",
                          DoubleValue(kTargetBler),
                          MakeDoubleAccessor(&RanPhy::m_targetBler),
                          MakeDoubleChecker<double>(1e-9, 1.0))
            .AddAttribute("CodingGap",
                          "Loss of practical LDPC decoding against the normal approximation (dB); the "
                          "per-modulation gaps of BlerModel add to it.",
                          DoubleValue(BlerModel{}.codingGapDb),
                          MakeDoubleAccessor(&RanPhy::SetCodingGap, &RanPhy::GetCodingGap),
                          MakeDoubleChecker<double>(0.0));
    return tid;
}

Carrier
RanPhy::GetCarrier() const
{
    return MakeCarrier(m_frequencyHz, m_bandwidthHz, static_cast<int>(m_numerology),
                       static_cast<int>(m_rbgSize));
}

LinkPhyParams
RanPhy::GetLinkParams(LinkDirection direction) const
{
    if (direction == LinkDirection::kDownlink)
    {
        return {m_dlTxPowerDbm, m_ueNoiseFigureDb};
    }
    return {m_ulTxPowerDbm, m_gnbNoiseFigureDb};
}

double
RanPhy::GetNoisePerRbDbm(LinkDirection direction) const
{
    return ThermalNoiseDbm(GetCarrier().numerology.RbBandwidthHz(), GetLinkParams(direction).noiseFigureDb);
}

double
RanPhy::GetTxPowerPerRbDbm(LinkDirection direction, uint32_t nRbAllocated) const
{
    if (direction == LinkDirection::kDownlink)
    {
        return TxPowerPerRbDbm(m_dlTxPowerDbm, GetCarrier().nRb);
    }
    return TxPowerPerRbDbm(m_ulTxPowerDbm, nRbAllocated);
}

double
RanPhy::GetUlTxPowerDbm(uint32_t nRb, double pathlossDb) const
{
    if (!m_ulPowerControl)
    {
        return m_ulTxPowerDbm;
    }
    return PuschPowerDbm(m_ulTxPowerDbm, m_ulP0Dbm, m_ulAlpha, m_numerology, nRb, pathlossDb);
}

std::vector<double>
RanPhy::GetPerRbSinr(LinkDirection direction, const std::vector<double>& signalDbm,
                     const std::vector<std::vector<double>>& interferenceMw) const
{
    return PerRbSinr(signalDbm, GetNoisePerRbDbm(direction), interferenceMw);
}

LinkAdaptation
RanPhy::Adapt(const std::vector<double>& sinrPerRbLinear) const
{
    return AdaptLink(EffectiveSinr(sinrPerRbLinear), m_mcsTable, m_referenceTbsBits, m_targetBler,
                     m_blerModel);
}

uint32_t
RanPhy::GetTbs(int mcs, uint32_t nRb, uint32_t nSymbols, uint32_t nLayers) const
{
    TbsParams p;
    p.nRb = nRb;
    p.nSymbols = nSymbols;
    p.nLayers = nLayers;
    // A pure function of its arguments and the MCS table: a whole slot's values are kept once computed.
    constexpr uint32_t kTbsCacheRbs = 276; // 275 RBs, NR's largest carrier, and 0
    const bool cacheable = nSymbols == kSymbolsPerSlot && nLayers == 1 && mcs >= 0 && mcs < 64 && nRb < kTbsCacheRbs;
    if (!cacheable)
    {
        return TransportBlockSize(m_mcsTable, mcs, p);
    }
    if (m_tbsCache.empty() || m_tbsCacheTable != m_mcsTable)
    {
        m_tbsCache.assign(64 * kTbsCacheRbs, UINT32_MAX);
        m_tbsCacheTable = m_mcsTable;
    }
    uint32_t& cached = m_tbsCache[static_cast<size_t>(mcs) * kTbsCacheRbs + nRb];
    if (cached == UINT32_MAX)
    {
        cached = TransportBlockSize(m_mcsTable, mcs, p);
    }
    return cached;
}

double
RanPhy::GetBler(double sinrLinear, int mcs, uint32_t tbsBits, double channelUses) const
{
    return TransportBlockBler(sinrLinear, GetMcs(m_mcsTable, mcs), tbsBits, channelUses, m_blerModel);
}

HarqOutcome
RanPhy::ReceiveHarq(HarqProcess& process, double effectiveSinr, double uniform01) const
{
    return process.Receive(effectiveSinr, uniform01, m_maxHarqTransmissions, m_blerModel);
}

McsTable
RanPhy::GetMcsTable() const
{
    return m_mcsTable;
}

uint32_t
RanPhy::GetMaxHarqTransmissions() const
{
    return m_maxHarqTransmissions;
}

const BlerModel&
RanPhy::GetBlerModel() const
{
    return m_blerModel;
}

void
RanPhy::SetCodingGap(double gapDb)
{
    m_blerModel.codingGapDb = gapDb;
}

double
RanPhy::GetCodingGap() const
{
    return m_blerModel.codingGapDb;
}

} // namespace ns6g::ran
