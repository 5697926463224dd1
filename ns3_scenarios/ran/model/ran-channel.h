// The 6G RAN's radio channel: TR 38.901 large-scale loss (UMi-Street Canyon, UMa, RMa, InH-Office) with
// LoS/NLoS condition and shadowing, a sub-THz extension above 100 GHz (free-space loss plus gaseous
// absorption per ITU-R P.676), and per-RB fast fading from ns-3's 3GPP channel model with antenna arrays
// and beamforming, cached per link and refreshed on a fixed update period.
//
// Every number comes from ns-3's own models (ThreeGpp*PropagationLossModel, ThreeGpp*ChannelConditionModel,
// ThreeGppChannelModel, ThreeGppSpectrumPropagationLossModel); ours are only the sub-THz loss model and the
// caching. See docs/ran-channel.md for the formulas, sources, bands, update periods and measured costs.
//
// This header holds RanChannel, the per-link channel, and includes the rest of the channel:
// ran-propagation.h (TR 38.901 scenarios, ranges, path loss and LoS probability as pure functions) and
// sub-thz-propagation-loss-model.h (the loss model above 100 GHz).
#pragma once

#include "ran/model/ran-propagation.h"
#include "ran/model/sub-thz-propagation-loss-model.h"

#include "ns3/channel-condition-model.h"
#include "ns3/mobility-model.h"
#include "ns3/node.h"
#include "ns3/nstime.h"
#include "ns3/object.h"
#include "ns3/phased-array-model.h"
#include "ns3/propagation-loss-model.h"
#include "ns3/spectrum-signal-parameters.h"
#include "ns3/spectrum-value.h"
#include "ns3/three-gpp-channel-model.h"
#include "ns3/three-gpp-propagation-loss-model.h"
#include "ns3/three-gpp-spectrum-propagation-loss-model.h"

#include <complex>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace ns6g::ran
{

// ---------------------------------------------------------------------------------------------------
// The per-link channel of a RAN scenario

/**
 * The radio channel of a RAN scenario: for each gNB-UE link, the large-scale loss (dB; 38.901 path loss
 * with the link's LoS/NLoS state and shadowing) and the per-RB fast-fading gain (dB) that includes the
 * antenna-array and beamforming gains.
 *
 * Fast fading is ns-3's ThreeGppChannelModel seen through ThreeGppSpectrumPropagationLossModel (by
 * default its arithmetic is done here, bit for bit the same: attribute FastFadingPath): the gNB
 * (UniformPlanarArray of ThreeGppAntennaModel elements) and the UE (UniformPlanarArray, isotropic or 3GPP
 * elements) point DFT beams (the weights matched to ns-3's channel matrix, exp(-j 2 pi k.r) / sqrt(N)) at
 * each other's line-of-sight direction, or
 * the gNB at another UE (`beamTarget`, for interference), and the model's received PSD over one band per
 * RB group divided by a flat transmitted PSD is the gain. Carriers above 100 GHz use the 38.901 fast
 * fading with its carrier clamped at 100 GHz (see docs/ran-channel.md).
 *
 * Time, on two global grids (values are computed lazily, on the first request in a period, and cached):
 *  - UpdatePeriod (default 10 ms): a link's RB gains are re-evaluated at most once per period, with
 *    ns-3's Doppler term at that time (terminal velocities, plus ScattererSpeedMps for moving
 *    scatterers), so moving links fade continuously. A link whose ends did not move, whose LoS state did
 *    not change and which has no Doppler keeps its cached values at no cost. Large-scale loss follows the
 *    same rule (shadowing is correlated over the distance moved, by ns-3).
 *  - RealizationPeriod (default 1 s): every link's small-scale parameters (clusters, rays, phases) are
 *    drawn anew, independently (ns-3 3.44 has no spatially consistent update). This is the expensive part
 *    (0.7-1 ms per link with 4x4 gNB and 1x2 UE arrays: see docs/ran-channel.md).
 * A link's LoS state is kept for LosUpdatePeriod (default: for good, as in ns-3).
 *
 * Nodes: register every gNB with AddGnb and every UE with AddUe (each with a MobilityModel) after the
 * attributes are set; later attribute changes are ignored. Positions and velocities are read when a
 * value is computed.
 */
class RanChannel : public ns3::Object
{
  public:
    /** The TypeId ("ns6g::ran::RanChannel"). */
    static ns3::TypeId GetTypeId();
    RanChannel();
    ~RanChannel() override;

    RanChannel(const RanChannel&) = delete;
    RanChannel& operator=(const RanChannel&) = delete;

    /**
     * Registers a gNB and gives it its antenna array (GnbArrayRows x GnbArrayColumns).
     *
     * @param gnb the node (with a MobilityModel)
     * @param bearingRad azimuth (rad) the array's broadside faces (0 = +x)
     * @param downtiltRad mechanical downtilt (rad, positive down)
     */
    void AddGnb(ns3::Ptr<ns3::Node> gnb, double bearingRad = 0.0, double downtiltRad = 0.0);

    /**
     * Registers a UE and gives it its antenna array (UeArrayRows x UeArrayColumns).
     *
     * @param ue the node (with a MobilityModel)
     * @param bearingRad azimuth (rad) the array's broadside faces
     */
    void AddUe(ns3::Ptr<ns3::Node> ue, double bearingRad = 0.0);

    /** Large-scale loss (dB, positive) of the gNB-UE link now: path loss + shadowing. */
    double GetLargeScaleLossDb(ns3::Ptr<ns3::Node> gnb, ns3::Ptr<ns3::Node> ue);

    /** Whether the gNB-UE link is in LoS now (the condition model's state). */
    bool IsLos(ns3::Ptr<ns3::Node> gnb, ns3::Ptr<ns3::Node> ue);

    /**
     * Per-RB gain (dB) of the link now: fast fading, array and beamforming gains (0 dB is the average of
     * one isotropic antenna at each end). With FastFadingEnabled false: GetLosArrayGainDb on every RB.
     *
     * @param gnb the gNB
     * @param ue the UE at the other end (its beam points at `gnb`)
     * @param beamTarget the UE the gNB's beam points at (null: `ue` itself; another UE: interference)
     * @return NumRbs gains (dB), equal within each band of GetRbGroupSize RBs (the last band may be
     *         shorter); the reference stays valid until the next call on this RanChannel.
     *         Entries are cached per (gNB, UE, beam target) and dropped at each new realisation.
     */
    const std::vector<double>& GetRbGainsDb(ns3::Ptr<ns3::Node> gnb,
                                            ns3::Ptr<ns3::Node> ue,
                                            ns3::Ptr<ns3::Node> beamTarget = nullptr);

    /**
     * Beamforming gain (dB) of the geometric line-of-sight path alone, without fading: |w^T a|^2 times the
     * element gain at each end, the gNB beam pointing at `beamTarget` (null: `ue`) and the UE beam at the
     * gNB. Costs microseconds: meant for interference links whose fading does not matter.
     */
    double GetLosArrayGainDb(ns3::Ptr<ns3::Node> gnb,
                             ns3::Ptr<ns3::Node> ue,
                             ns3::Ptr<ns3::Node> beamTarget = nullptr);

    /**
     * Whether the band sums and long terms run per AVX instruction: the processor has AVX and the
     * environment variable NS6G_RAN_SCALAR is unset or "0" (read once per process). Either way the results
     * are the same doubles; the variable lets a test run the scalar loops.
     */
    static bool UsesAvxKernels();

    /** Number of RBs (attribute NumRbs). */
    uint32_t GetNumRbs() const;
    /** RBs per fast-fading band (attribute RbGroupSize): GetRbGainsDb is constant across each band. */
    uint32_t GetRbGroupSize() const;
    /** Centre frequency (Hz) of RB `rb` (RBs are centred on the carrier). */
    double GetRbCentreFrequencyHz(uint32_t rb) const;
    /** Index of the current update period (floor(now / UpdatePeriod)). */
    uint64_t GetEpoch() const;
    /** Index of the current realization period (floor(now / RealizationPeriod)). */
    uint64_t GetRealization() const;
    /** Number of fast-fading link evaluations (channel draws or updates of a link's RB gains) since creation. */
    uint64_t GetFastFadingEvaluations() const;
    /** Number of channel matrices (38.901 step 11) computed since creation, by either FastFadingPath. */
    uint64_t GetChannelMatricesComputed() const;
    /** Of those, matrices asked for again with unchanged parameters whose scattered clusters were reused. */
    uint64_t GetChannelMatricesReused() const;
    /**
     * Per-band received PSD (linear, for a flat unit transmitted PSD) of the last fast-fading
     * evaluation (one value per RB group; GetRbGainsDb's dB values are 10 log10 of these). For checks
     * of one FastFadingPath against the other.
     */
    const std::vector<double>& GetLastBandPsd() const;
    /** The antenna array of a registered node (null if not registered). */
    ns3::Ptr<ns3::PhasedArrayModel> GetArray(ns3::Ptr<ns3::Node> node) const;
    /** The channel-condition model (shared by path loss and fast fading). */
    ns3::Ptr<ns3::ChannelConditionModel> GetChannelConditionModel();
    /** The large-scale loss model. */
    ns3::Ptr<ns3::PropagationLossModel> GetPathLossModel();

    /**
     * Fixes the random streams of every model; returns the number of streams used.
     *
     * @param stream the first stream index
     */
    int64_t AssignStreams(int64_t stream);

  protected:
    void DoDispose() override;

  private:
    /** A registered node and its array. */
    struct Terminal
    {
        ns3::Ptr<ns3::Node> node;
        ns3::Ptr<ns3::MobilityModel> mobility;
        ns3::Ptr<ns3::PhasedArrayModel> array;
        std::vector<ns3::Vector> elements; //!< the array's element locations (fixed once it is set up)
        bool isGnb{false};
    };

    /** Cached large-scale numbers of one gNB-UE link. */
    struct LargeScale
    {
        uint64_t epoch{0};     //!< update period of the last check
        uint64_t losEpoch{0};  //!< LoS period of the computation
        ns3::Vector gnbPos;    //!< positions at the computation (m)
        ns3::Vector uePos;
        double lossDb{0.0};    //!< path loss + shadowing (dB)
        bool los{false};
    };

    struct LinkFading;

    /** Cached RB gains of one (gNB, UE, beam target) triple. */
    struct Gains
    {
        uint64_t epoch{0};       //!< update period of the last check
        uint64_t realization{0}; //!< realization period of the computation
        bool fading{false};      //!< computed with fast fading (else: positions alone, any realisation)
        uint64_t losEpoch{0};    //!< LoS period of the computation
        ns3::Vector gnbPos;      //!< positions at the computation (m)
        ns3::Vector uePos;
        ns3::Vector targetPos;
        std::vector<double> gainsDb; //!< NumRbs values (dB)
        LinkFading* link{nullptr};   //!< the (gNB, UE) entry of m_linkFading in realisation linkRealization
        uint64_t linkRealization{0};
    };

    /** Builds the models on first use, once the attributes are final. */
    void EnsureModels();
    /** Forgets ns-3's realisations when the realization period changed. */
    void UpdateRealization();
    /** Index of the LoS-state period now (0 when LosUpdatePeriod is 0). */
    uint64_t GetLosEpoch() const;
    /** The registered terminal of `node`; throws std::invalid_argument if it is not registered. */
    /** AddGnb and AddUe: the node's array from the gNB or UE attributes. */
    void AddTerminal(ns3::Ptr<ns3::Node> node, bool isGnb, double bearingRad, double downtiltRad);
    Terminal& Find(ns3::Ptr<ns3::Node> node, bool gnb);
    /** The cached (or freshly computed) large-scale entry. */
    const LargeScale& GetLargeScale(ns3::Ptr<ns3::Node> gnb, ns3::Ptr<ns3::Node> ue);
    /** Fills `gains` (NumRbs dB values) for the link. */
    void ComputeRbGains(Terminal& gnb, Terminal& ue, Terminal& target, Gains& entry);
    /** The beamforming gain (linear) of the LoS path. */
    double LosArrayGain(const Terminal& gnb, const Terminal& ue, const Terminal& target) const;
    /** Whether the link's ends or the scatterers move (a non-zero Doppler). */
    bool HasDoppler(const Terminal& gnb, const Terminal& ue) const;

    /** A beam and the direction it was matched to (MatchedBeam is a function of the direction alone). */
    struct Beam
    {
        bool valid{false};
        double azimuth{0.0};
        double inclination{0.0};
        ns3::PhasedArrayModel::ComplexVector weights;
    };

    /**
     * What the "ns6g" fast-fading path keeps of one gNB-UE link within a realisation: the delay phasors of
     * the channel parameters at the band centres, and the beamformed long-term component of a channel
     * matrix for a pair of beams (the same inputs as ns-3's own caches, so reusing them is exact).
     */
    struct LinkFading
    {
        ns3::Ptr<const ns3::MatrixBasedChannelModel::ChannelParams> params; //!< of the delay phasors
        /** exp(-j 2 pi fc_band delay_c), cluster-major with real and imaginary parts apart: cluster c's
         *  bands at [c * delayStride, c * delayStride + bands) of each (the band sums run 4 bands at a time). */
        std::vector<double> delayRe;
        std::vector<double> delayIm;
        size_t delayClusters{0}; //!< clusters in `delayRe` / `delayIm`
        size_t delayStride{0};   //!< bands per cluster row, rounded up to a multiple of 4
        ns3::Ptr<const ns3::MatrixBasedChannelModel::ChannelMatrix> channel; //!< of the long term
        ns3::Time channelTime;                                               //!< its m_generatedTime
        /** GetChannel returned `channel` (and GetParams `params`) again, unchanged: ns-3 found the
         *  matrix and the arrays up to date, so while nothing can change them (m_drawsSettle) it would
         *  return them again without drawing; CalcBandPsd then asks neither. */
        bool settled{false};
        bool reverse{false};                                                 //!< IsReverse of it
        ns3::PhasedArrayModel::ComplexVector sW; //!< beams of the long term (s and u ends)
        ns3::PhasedArrayModel::ComplexVector uW;
        std::vector<std::complex<double>> longTerm; //!< one value per cluster
        std::vector<std::complex<double>> doppler;  //!< scratch: one value per cluster
        Beam gnbBeam;                               //!< last gNB beam of the link (any beam target)
        Beam ueBeam;                                //!< last UE beam of the link
    };

    /** The matched beam of `terminal`'s array towards `direction`, from `cache` when the direction is
     *  unchanged. */
    static const ns3::PhasedArrayModel::ComplexVector& CachedBeam(Beam& cache,
                                                                  const Terminal& terminal,
                                                                  const ns3::Angles& direction);
    /**
     * Per-band received PSD of the link for a flat unit transmitted PSD, computed here with the
     * operations of ns-3 3.44's ThreeGppSpectrumPropagationLossModel::CalcRxPowerSpectralDensity in
     * the same order (bit for bit the same values), with ns-3 drawing the channel (GetChannel, GetParams).
     * The arrays' beamforming vectors must be set.
     */
    void CalcBandPsd(Terminal& gnb, Terminal& ue, LinkFading& link, std::vector<double>& psd);
    /** The same through ns-3's ThreeGppSpectrumPropagationLossModel. */
    void CalcBandPsdNs3(Terminal& gnb, Terminal& ue, std::vector<double>& psd);

    // Attributes
    std::string m_scenarioName{"UMi-StreetCanyon"}; //!< the 38.901 scenario
    double m_carrierFrequencyHz{3.5e9};             //!< carrier frequency (Hz)
    double m_bandwidthHz{100e6};                    //!< channel bandwidth (Hz)
    uint32_t m_numRbs{273};                         //!< number of RBs
    double m_rbBandwidthHz{360e3};                  //!< RB bandwidth (Hz): 12 subcarriers
    uint32_t m_rbGroupSize{4};                      //!< RBs per fast-fading evaluation band
    bool m_shadowingEnabled{true};                  //!< log-normal shadowing on/off
    bool m_fastFadingEnabled{true};                 //!< 3GPP fast fading on/off
    bool m_linkFadingStreams{false};                //!< each link's fading from a stream of its own
    int64_t m_fadingStream{0};                      //!< the channel model's first assigned stream
    std::string m_losMode{"3gpp"};                  //!< "3gpp" (random, Table 7.4.2-1), "los", "nlos"
    ns3::Time m_updatePeriod;                       //!< RB-gain / large-scale re-evaluation period
    ns3::Time m_realizationPeriod;                  //!< small-scale redraw period
    ns3::Time m_losUpdatePeriod;                    //!< LoS state refresh period (0: never)
    double m_scattererSpeedMps{0.0};                //!< ns-3's vScatt (m/s)
    uint32_t m_gnbRows{4};                          //!< gNB array rows
    uint32_t m_gnbColumns{4};                       //!< gNB array columns
    uint32_t m_ueRows{1};                           //!< UE array rows
    uint32_t m_ueColumns{2};                        //!< UE array columns
    bool m_ueIsotropicElements{true};               //!< UE elements isotropic (else 3GPP)
    bool m_gnbIsotropicElements{false};             //!< gNB elements isotropic (else 3GPP)
    std::string m_fastFadingPath{"ns6g"};           //!< "ns6g" (own arithmetic) or "ns3" (ns-3's model)

    // Models
    bool m_built{false};
    Scenario m_scenario{Scenario::UMi};
    ns3::Ptr<ns3::ChannelConditionModel> m_condition;
    ns3::Ptr<ns3::PropagationLossModel> m_pathLoss;
    ns3::Ptr<ns3::ThreeGppChannelModel> m_channelModel;
    ns3::Ptr<ns3::ThreeGppSpectrumPropagationLossModel> m_spectrumLoss;
    ns3::Ptr<ns3::SpectrumSignalParameters> m_txParams; //!< flat PSD, one band per RB group
    bool m_ns3Path{false};                              //!< FastFadingPath is "ns3"
    /** Neither LoS states nor ns-3's channel parameters change with time (no LosUpdatePeriod with 3gpp
     *  LoS, no UpdatePeriod on the channel model): within a realisation a settled link's channel stays. */
    bool m_drawsSettle{false};
    double m_channelFrequencyHz{0.0};                   //!< the channel model's Frequency attribute
    std::vector<double> m_bandCentresHz;                //!< fc of m_txParams' bands
    std::vector<double> m_txPsd;                        //!< m_txParams' values
    std::vector<double> m_bandSumRe;                    //!< scratch of CalcBandPsd: per-band sums (real)
    std::vector<double> m_bandSumIm;                    //!< ... (imaginary)
    std::unordered_map<uint64_t, LinkFading> m_linkFading; //!< by (gnb, ue) key; dropped per realisation
    std::vector<double> m_bandPsd;                      //!< scratch: one value per band

    std::vector<std::unique_ptr<Terminal>> m_terminals; //!< by node id (null: not registered)
    uint64_t m_realization{0};
    bool m_realizationValid{false};
    std::unordered_map<uint64_t, LargeScale> m_largeScale; //!< by (gnb, ue) key
    std::unordered_set<uint64_t> m_primed; //!< links whose shadowing state has been initialised
    std::unordered_map<uint64_t, Gains> m_gains; //!< by (gnb, ue, target) key
    uint64_t m_fastFadingEvaluations{0};
};

} // namespace ns6g::ran
