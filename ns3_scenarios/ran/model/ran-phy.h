// The 6G RAN's PHY abstraction: numerologies and carriers, per-RB SINR, link adaptation (CQI -> MCS),
// transport block size, block error rate and HARQ, for downlink and uplink alike.
//
// Pure model code (free functions and small structs) plus one ns-3 Object, RanPhy, that holds the
// per-cell configuration as attributes. Nothing here simulates; the scheduler and the net device call it
// once per slot. See docs/ran-phy.md for the model, its sources and its parameters.
//
// Units are in every name or comment: Hz, s, dB, dBm, mW, bits. "Linear" SINR is a power ratio.
#pragma once

#include "ns3/object.h"

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace ns6g::ran
{

/** A configuration the PHY refuses (numerology, carrier, MCS, allocation); what() says why. */
class InvalidPhyConfig : public std::invalid_argument
{
  public:
    using std::invalid_argument::invalid_argument;
};

// ---------------------------------------------------------------------------------------------------
// Numerology (TS 38.211 Section 4.2 and 4.3.2, normal cyclic prefix)

/** Highest numerology: mu = 6 is 960 kHz subcarrier spacing (TS 38.211 Table 4.2-1, FR2-2). */
constexpr int kMaxNumerology = 6;
/** Subcarriers per resource block (TS 38.211 Section 4.4.4.1). */
constexpr uint32_t kSubcarriersPerRb = 12;
/** OFDM symbols per slot with the normal cyclic prefix (TS 38.211 Table 4.3.2-1). */
constexpr uint32_t kSymbolsPerSlot = 14;

/** A numerology mu = 0 .. 6. Build with MakeNumerology(), which checks the range. */
struct Numerology
{
    /** Numerology index mu, 0 .. kMaxNumerology. */
    int mu{0};

    /** Subcarrier spacing in Hz: 15 kHz * 2^mu (15 kHz .. 960 kHz). */
    double SubcarrierSpacingHz() const;
    /** Bandwidth of one resource block in Hz: 12 subcarriers * spacing. */
    double RbBandwidthHz() const;
    /** Slot duration in s: 1 ms / 2^mu (1 ms .. 15.625 us). */
    double SlotDurationS() const;
    /** Slots per 1 ms subframe: 2^mu. */
    uint32_t SlotsPerSubframe() const;
    /** Mean OFDM symbol duration in s, cyclic prefix included: slot / 14. */
    double SymbolDurationS() const;
};

/** The numerology mu; throws InvalidPhyConfig when mu is outside 0 .. 6. */
Numerology MakeNumerology(int mu);

// ---------------------------------------------------------------------------------------------------
// Carrier

/** Upper edge of FR1 in Hz (TS 38.101-1: 410 MHz .. 7.125 GHz). */
constexpr double kFr1MaxFrequencyHz = 7.125e9;
/** Carriers above this frequency (Hz) count as sub-THz. */
constexpr double kSubThzMinFrequencyHz = 100e9;
/** Widest carrier in FR1 in Hz (TS 38.101-1 Table 5.3.2-1). */
constexpr double kFr1MaxBandwidthHz = 100e6;
/** Widest carrier from 7.125 GHz up to 100 GHz in Hz (FR3 and FR2; TS 38.101-2 FR2-1's 400 MHz). */
constexpr double kFr2MaxBandwidthHz = 400e6;
/** Widest carrier above 100 GHz (sub-THz) in Hz. */
constexpr double kSubThzMaxBandwidthHz = 2e9;

/**
 * Widest carrier allowed at a center frequency, in Hz: 100 MHz up to 7.125 GHz (FR1), 400 MHz up to
 * 100 GHz (FR3, FR2), 2 GHz above 100 GHz (sub-THz). Any numerology may be used in any range.
 */
double MaxCarrierBandwidthHz(double frequencyHz);

/**
 * N_RB of TS 38.101-1 Table 5.3.2-1 (FR1) or TS 38.101-2 Table 5.3.2-1 (FR2-1 and FR2-2) for a channel
 * bandwidth (Hz) and subcarrier spacing, or 0 where neither table lists the pair. The table of the
 * carrier's range is searched first (FR1 up to 7.125 GHz, FR2 above), then the other one.
 */
uint32_t StandardRbCount(double frequencyHz, double bandwidthHz, int mu);

/**
 * RBG size P of TS 38.214 Table 5.1.2.2.1-1 for a bandwidth part of nRb RBs: configuration 1 gives
 * 2 / 4 / 8 / 16 for 1-36 / 37-72 / 73-144 / 145-275 RBs, configuration 2 gives 4 / 8 / 16 / 16. Wider
 * carriers (beyond NR's 275 RBs) keep the last row's 16. Throws InvalidPhyConfig for configuration
 * other than 1 or 2, or nRb = 0.
 */
uint32_t RbgSizeForBwp(uint32_t nRb, int configuration = 1);

/**
 * One carrier (one bandwidth part covering it): center frequency, channel bandwidth, numerology, its RBs
 * and RBGs. Build with MakeCarrier(), which applies the rules of ValidateCarrier().
 *
 * RB count: a channel bandwidth listed in TS 38.101 for the subcarrier spacing gets that table's N_RB
 * (its guard bands); any other bandwidth is read as a transmission bandwidth with no guard band, so it
 * must be a whole number of RBs (N_RB = bandwidth / (12 * SCS)).
 */
struct Carrier
{
    /** Center frequency in Hz. */
    double frequencyHz{0.0};
    /** Channel bandwidth in Hz, as configured. */
    double bandwidthHz{0.0};
    /** Numerology. */
    Numerology numerology;
    /** Number of resource blocks, N_RB. */
    uint32_t nRb{0};
    /** RBG size P in RBs (TS 38.214 Table 5.1.2.2.1-1 configuration 1, or as configured). */
    uint32_t rbgSize{0};
    /** Number of RBGs: ceil(nRb / rbgSize). */
    uint32_t nRbg{0};
    /** RBs in the last RBG: nRb - (nRbg - 1) * rbgSize, between 1 and rbgSize (BWP start at RB 0). */
    uint32_t lastRbgSize{0};
    /** Whether nRb comes from a TS 38.101 table (true) or from a whole-RB bandwidth (false). */
    bool standardBandwidth{false};

    /** Bandwidth the RBs occupy in Hz: nRb * 12 * SCS (<= bandwidthHz). */
    double TransmissionBandwidthHz() const;
    /**
     * Guard band on each side in Hz, as TS 38.101 defines it:
     * (bandwidth - transmission bandwidth) / 2 - SCS / 2; 0 for a whole-RB (non-table) bandwidth.
     */
    double GuardBandHz() const;
    /** Index of the first RB of RBG rbg; throws std::out_of_range past the last RBG. */
    uint32_t RbgFirstRb(uint32_t rbg) const;
    /** Number of RBs in RBG rbg (rbgSize, or lastRbgSize for the last); throws std::out_of_range. */
    uint32_t RbgRbCount(uint32_t rbg) const;
};

/**
 * Checks a carrier configuration; returns "" if valid, otherwise the reason (one sentence naming the
 * value and the rule). Rules, in order:
 *  1. mu in 0 .. 6 ("numerology mu=7 is out of range 0..6");
 *  2. center frequency > 0 Hz, bandwidth > 0 Hz, both finite;
 *  3. bandwidth <= MaxCarrierBandwidthHz(frequency) ("above the band's limit");
 *  4. bandwidth is a TS 38.101 channel bandwidth for that SCS (StandardRbCount > 0) or a whole number of
 *     RBs, bandwidth / (12 * SCS) an integer to within 1e-6 ("not a multiple of the RB bandwidth");
 *  5. rbgSize 0 (TS 38.214 configuration 1) or 1 .. nRb.
 */
std::string ValidateCarrier(double frequencyHz, double bandwidthHz, int mu, int rbgSize = 0);

/** The carrier; throws InvalidPhyConfig with ValidateCarrier()'s reason when invalid. */
Carrier MakeCarrier(double frequencyHz, double bandwidthHz, int mu, int rbgSize = 0);

// ---------------------------------------------------------------------------------------------------
// Noise, transmit power and SINR

/** Thermal noise power spectral density at 290 K in dBm/Hz. */
constexpr double kThermalNoiseDbmPerHz = -174.0;

/** Thermal noise power in dBm in bandwidthHz at a receiver of noise figure noiseFigureDb (dB):
 *  -174 dBm/Hz + 10 log10(bandwidth) + NF. */
double ThermalNoiseDbm(double bandwidthHz, double noiseFigureDb);

/** Power per RB in dBm when totalPowerDbm (dBm) is split evenly over nRb RBs; throws for nRb = 0. */
double TxPowerPerRbDbm(double totalPowerDbm, uint32_t nRb);

/**
 * TS 38.213 7.1.1 open-loop PUSCH power (dBm) on nRb RBs of numerology mu at path loss pathlossDb (dB):
 * min(pMaxDbm, p0Dbm + 10 log10(2^mu nRb) + alpha pathlossDb); the MCS and closed-loop terms are 0.
 * p0Dbm is the target received power per RB at 15 kHz spacing; throws for nRb = 0.
 */
double PuschPowerDbm(double pMaxDbm, double p0Dbm, double alpha, uint32_t mu, uint32_t nRb, double pathlossDb);

/** SINR (linear) of one RB: signal / (noise + interference), all in mW. */
double RbSinr(double signalMw, double noiseMw, double interferenceMw);

/**
 * SINR (linear) of each RB.
 * @param signalDbm received signal power per RB in dBm (one value per RB)
 * @param noiseDbm thermal noise power per RB in dBm (ThermalNoiseDbm of one RB's bandwidth)
 * @param interferenceMw per interfering cell, the power it puts on each RB in mW: zero on the RBs that
 *        cell does not use in this slot (each inner vector is as long as signalDbm)
 * Throws InvalidPhyConfig when an inner vector's length differs from signalDbm's.
 */
std::vector<double> PerRbSinr(const std::vector<double>& signalDbm,
                              double noiseDbm,
                              const std::vector<std::vector<double>>& interferenceMw);

/**
 * Effective SINR (linear) of a transport block spread over RBs of SINRs sinrLinear (linear), by
 * mutual-information averaging (MIESM) with the Gaussian-input information measure log2(1 + SINR):
 * 2^(mean log2(1 + SINR_i)) - 1. Its Shannon capacity equals the mean capacity of the RBs, so a
 * transport block decodable at the effective SINR never beats Shannon on its allocation.
 * Returns 0 for an empty list.
 */
double EffectiveSinr(const std::vector<double>& sinrLinear);

// ---------------------------------------------------------------------------------------------------
// MCS and CQI tables (TS 38.214 Section 5.1.3.1 and 5.2.2.1)

/** Which MCS / CQI table pair link adaptation uses. */
enum class McsTable : uint8_t
{
    /** 256-QAM: MCS Table 5.1.3.1-2 (MCS 0..27) with CQI Table 5.2.2.1-3 (CQI table 2). */
    kQam256 = 0,
    /** 1024-QAM: MCS Table 5.1.3.1-4 (MCS 0..26) with CQI Table 5.2.2.1-5 (CQI table 4). */
    kQam1024 = 1,
};

/** "256-QAM" or "1024-QAM". */
std::string McsTableName(McsTable table);

/** The table for index 0 (256-QAM) or 1 (1024-QAM); throws InvalidPhyConfig for any other. */
McsTable McsTableFromIndex(int index);

/** One row of an MCS or CQI table. */
struct ModulationCoding
{
    /** Modulation order Q_m in bits per symbol (2 QPSK, 4, 6, 8, 10 1024-QAM); 0: CQI "out of range". */
    uint8_t qm{0};
    /** Target code rate R x 1024, as the standard tabulates it (e.g. 682.5). */
    double rateX1024{0.0};
    /** Spectral efficiency in bit/s/Hz per layer, as tabulated (Q_m * R rounded to 4 decimals). */
    double spectralEfficiency{0.0};

    /** Target code rate R (0 .. 1). */
    double CodeRate() const
    {
        return rateX1024 / 1024.0;
    }

    /** Exact Q_m * R in bits per resource element per layer. */
    double BitsPerRe() const
    {
        return qm * rateX1024 / 1024.0;
    }
};

/** The MCS rows of a table, index = MCS (reserved retransmission-only rows left out). */
const std::vector<ModulationCoding>& McsEntries(McsTable table);
/** The CQI rows of a table, index = CQI 0 .. 15; CQI 0 ("out of range") has qm = 0. */
const std::vector<ModulationCoding>& CqiEntries(McsTable table);
/** Highest MCS index of a table: 27 (256-QAM) or 26 (1024-QAM). */
int MaxMcs(McsTable table);
/** Row mcs of a table; throws InvalidPhyConfig when mcs is out of range or reserved. */
const ModulationCoding& GetMcs(McsTable table, int mcs);

// ---------------------------------------------------------------------------------------------------
// Transport block size (TS 38.214 Section 5.1.3.2) and code block segmentation (TS 38.212 5.2.2, 7.2.2)

/** Resources of one transport block; the defaults are a full slot with one DMRS symbol. */
struct TbsParams
{
    /** Scheduled RBs, n_PRB >= 1. */
    uint32_t nRb{1};
    /** OFDM symbols of the shared channel, N_symb^sh, 1 .. 14. */
    uint32_t nSymbols{kSymbolsPerSlot};
    /** MIMO layers of the codeword, v, 1 .. 4. */
    uint32_t nLayers{1};
    /** DMRS REs per RB over the scheduled symbols, N_DMRS^PRB (12: one type-1 DMRS symbol, CDM groups
     *  without data included). */
    uint32_t dmrsRePerRb{12};
    /** Higher-layer overhead REs per RB, N_oh^PRB (0, 6, 12 or 18 in the standard). */
    uint32_t overheadRePerRb{0};
};

/** The steps of a TBS determination, for checks and plots. */
struct TbsDetails
{
    /** Transport block size in bits. */
    uint32_t tbsBits{0};
    /** Resource elements for data, N_RE = min(156, N_RE') * n_PRB. */
    uint32_t nRe{0};
    /** Intermediate number of information bits, N_info = N_RE * R * Q_m * v. */
    double nInfo{0.0};
    /** Quantised intermediate number of information bits, N_info'. */
    double nInfoQuantized{0.0};
};

/** TBS of an MCS on an allocation per TS 38.214 5.1.3.2; throws InvalidPhyConfig for bad inputs. */
TbsDetails TransportBlockSizeDetails(McsTable table, int mcs, const TbsParams& params);
/** TBS in bits; see TransportBlockSizeDetails(). */
uint32_t TransportBlockSize(McsTable table, int mcs, const TbsParams& params);

/** LDPC code block segmentation of a transport block. */
struct CodeBlockSegmentation
{
    /** LDPC base graph, 1 or 2 (TS 38.212 Section 7.2.2). */
    int baseGraph{1};
    /** Transport block CRC length L in bits: 24, or 16 for TBS <= 3824. */
    uint32_t tbCrcBits{24};
    /** Number of code blocks C. */
    uint32_t nCodeBlocks{1};
    /** Bits per code block K' = B' / C (information bits plus CRCs). */
    double codeBlockBits{0.0};
};

/** Segmentation of a TBS-bit transport block sent at code rate codeRate (0..1). */
CodeBlockSegmentation SegmentTransportBlock(uint32_t tbsBits, double codeRate);

// ---------------------------------------------------------------------------------------------------
// Block error rate: an SNR-gap model on top of the finite-blocklength normal approximation

/**
 * Parameters of the BLER abstraction (docs/ran-phy.md). A code block of K bits sent at Q_m * R bits per
 * resource element occupies n = K / (Q_m R) resource elements; its error probability is the normal
 * approximation of Polyanskiy, Poor and Verdu (2010) for the complex AWGN channel at the SINR reduced by
 * a gap: P = Q((n C + log2(n) / 2 - K) / sqrt(n V)), C = log2(1 + g), V = g (g + 2) / (g + 1)^2 log2(e)^2,
 * g = SINR / gap. The gap (dB) is codingGapDb plus modulationGapDb for the modulation order. A transport
 * block of C code blocks fails if any fails. Where the spectral efficiency exceeds the Shannon capacity
 * log2(1 + SINR) at the ungapped SINR, BLER is 1.
 */
struct BlerModel
{
    /** Loss of practical LDPC decoding against the normal approximation, in dB. */
    double codingGapDb{1.0};
    /** Loss of square QAM (bit-interleaved coded modulation) against Gaussian inputs, in dB, for
     *  Q_m = 2, 4, 6, 8, 10. Non-decreasing in Q_m so that BLER rises with the MCS index. */
    std::array<double, 5> modulationGapDb{0.0, 0.5, 1.0, 1.5, 2.0};

    /** Total gap in dB for modulation order qm (2, 4, 6, 8 or 10). */
    double GapDb(uint8_t qm) const;
};

/** Target BLER of CQI selection (TS 38.214 Section 5.2.2.1, CQI tables 2 and 4). */
constexpr double kTargetBler = 0.1;
/**
 * Transport block size in bits that CQI selection assumes when none is given: 8424 bits, one maximum
 * LDPC base-graph-1 code block (8448 bits with its CRC).
 */
constexpr uint32_t kReferenceTbsBits = 8424;

/** Error probability (0..1) of one code block of codeBlockBits bits at spectralEfficiency bits per RE
 *  and gapDb (dB), at SINR sinrLinear (linear). */
double CodeBlockErrorRate(double sinrLinear, double spectralEfficiency, double codeBlockBits, double gapDb);

/**
 * BLER (0..1) of a transport block of tbsBits bits sent with mc, received at effective SINR sinrLinear
 * (linear). channelUses: the resource elements times layers that carry the block (TbsDetails::nRe *
 * layers), or 0 if unknown; when given, the code runs at the larger of the MCS's nominal efficiency and
 * the block's actual bits (CRCs included) per channel use, so that TBS quantisation and short
 * allocations cannot beat Shannon. Non-increasing in the SINR.
 */
double TransportBlockBler(double sinrLinear, const ModulationCoding& mc, uint32_t tbsBits,
                          double channelUses = 0.0, const BlerModel& model = {});

/** Lowest SINR in dB at which TransportBlockBler() <= targetBler (bisection to 1e-4 dB). */
double RequiredSinrDb(const ModulationCoding& mc, uint32_t tbsBits, double targetBler = kTargetBler,
                      const BlerModel& model = {});

// ---------------------------------------------------------------------------------------------------
// Link adaptation

/** Outcome of link adaptation for one UE. */
struct LinkAdaptation
{
    /** CQI 0 .. 15 (0: out of range, nothing decodable at the target BLER). */
    int cqi{0};
    /** MCS index, or -1 for CQI 0 (do not schedule). */
    int mcs{-1};
    /** The MCS row (qm = 0 for mcs = -1). */
    ModulationCoding modulationCoding;
    /** BLER of the MCS at the SINR for the reference transport block (1 for mcs = -1). */
    double bler{1.0};
};

/**
 * CQI for effective SINR sinrLinear (linear): the highest CQI of the table whose (Q_m, R) has BLER <=
 * targetBler at that SINR for a transport block of referenceTbsBits bits (0: kReferenceTbsBits);
 * 0 if none.
 */
int SinrToCqi(double sinrLinear, McsTable table, uint32_t referenceTbsBits = kReferenceTbsBits,
              double targetBler = kTargetBler, const BlerModel& model = {});

/**
 * MCS for a CQI: the highest MCS whose spectral efficiency is <= the CQI's; CQI 1 (below every MCS)
 * maps to MCS 0; CQI 0 maps to -1. Throws InvalidPhyConfig for CQI outside 0 .. 15.
 */
int CqiToMcs(int cqi, McsTable table);

/** SINR -> CQI -> MCS for effective SINR sinrLinear (linear). */
LinkAdaptation AdaptLink(double sinrLinear, McsTable table, uint32_t referenceTbsBits = kReferenceTbsBits,
                         double targetBler = kTargetBler, const BlerModel& model = {});

// ---------------------------------------------------------------------------------------------------
// HARQ with chase combining

/** Default number of HARQ transmissions of one transport block (first transmission included). */
constexpr uint32_t kDefaultMaxHarqTransmissions = 4;
/** HARQ processes per UE and direction (TS 38.321 allows up to 16). */
constexpr uint32_t kDefaultHarqProcesses = 16;

/** What one (re)transmission of a transport block came to. */
struct HarqOutcome
{
    /** The transport block was decoded. */
    bool decoded{false};
    /** Not decoded, and this was the last allowed transmission: the block is lost to HARQ. */
    bool dropped{false};
    /** Which transmission this was, 1 = first. */
    uint32_t transmission{0};
    /** Chase-combined SINR (linear) the decoder saw: the sum of all transmissions' SINRs so far. */
    double combinedSinr{0.0};
    /** BLER of this decoding attempt at combinedSinr. */
    double bler{1.0};
};

/**
 * One HARQ process. Chase combining: every retransmission repeats the same coded bits, and the decoder
 * adds their effective SINRs (linear) before decoding.
 */
struct HarqProcess
{
    /** A transport block is waiting for a retransmission. */
    bool active{false};
    /** New data indicator, toggled by every new transport block. */
    bool ndi{false};
    /** Size of the transport block in bits. */
    uint32_t tbsBits{0};
    /** MCS of the transport block (retransmissions keep it). */
    int mcs{-1};
    /** Table of the MCS. */
    McsTable table{McsTable::kQam256};
    /** Transmissions of the current block so far. */
    uint32_t transmissions{0};
    /** Sum of the effective SINRs (linear) of those transmissions. */
    double combinedSinr{0.0};

    /** Channel uses (REs x layers) of each transmission, or 0 if unknown (see TransportBlockBler). */
    double channelUses{0.0};

    /**
     * Starts a new transport block (toggles the NDI) of tbsBits bits with an MCS of a table, sent on
     * channelUses REs x layers per transmission (0: unknown); throws InvalidPhyConfig for a bad MCS.
     */
    void Start(uint32_t tbsBits, int mcs, McsTable table, double channelUses = 0.0);

    /**
     * Receives one transmission of the current block at effective SINR effectiveSinr (linear), decoding
     * with the combined SINR: decoded when uniform01 >= BLER, with uniform01 a draw in [0, 1) from the
     * caller's random stream. The process becomes inactive once the block is decoded or after
     * maxTransmissions transmissions. Throws std::logic_error when no block is active.
     */
    HarqOutcome Receive(double effectiveSinr, double uniform01,
                        uint32_t maxTransmissions = kDefaultMaxHarqTransmissions,
                        const BlerModel& model = {});
};

/** Expected HARQ figures when every transmission of a block sees the same effective SINR. */
struct HarqStatistics
{
    /** BLER of the first transmission. */
    double firstBler{1.0};
    /** Probability that the block is still not decoded after maxTransmissions transmissions. */
    double residualBler{1.0};
    /** Expected number of transmissions per block (1 .. maxTransmissions). */
    double expectedTransmissions{1.0};
};

/** HarqStatistics of blocks of tbsBits bits with mc at per-transmission SINR sinrLinear (linear). */
HarqStatistics ExpectedHarq(double sinrLinear, const ModulationCoding& mc, uint32_t tbsBits,
                            uint32_t maxTransmissions = kDefaultMaxHarqTransmissions,
                            double channelUses = 0.0, const BlerModel& model = {});

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
