// The 6G RAN's carriers: numerologies (TS 38.211), channel bandwidths and RB counts (TS 38.101),
// RB groups (TS 38.214), and the error type of the PHY abstraction. Part of the PHY abstraction
// (ran-phy.h); see docs/ran-phy.md. Units are in every name or comment: Hz, s.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

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

/** A number for the PHY's error messages (up to 10 significant digits, printf's %.10g). */
std::string FormatNumber(double v);

} // namespace ns6g::ran
