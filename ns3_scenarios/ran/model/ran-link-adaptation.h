// The 6G RAN's link abstraction: noise, transmit power and per-RB SINR, MCS and CQI tables, transport
// block size, block error rate, link adaptation (CQI -> MCS) and HARQ with chase combining, as free
// functions and small structs. Part of the PHY abstraction (ran-phy.h); see docs/ran-phy.md.
//
// Units are in every name or comment: Hz, s, dB, dBm, mW, bits. "Linear" SINR is a power ratio.
#pragma once

#include "ran/model/ran-carrier.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace ns6g::ran
{

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

} // namespace ns6g::ran
