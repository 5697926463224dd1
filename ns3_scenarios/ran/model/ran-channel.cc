// The 6G RAN's radio channel (see ran-channel.h and docs/ran-channel.md).
#include "ran/model/ran-channel.h"

#include "ran/model/epoch-channel-model.h"

#include "ns3/boolean.h"
#include "ns3/double.h"
#include "ns3/isotropic-antenna-model.h"
#include "ns3/abort.h"
#include "ns3/log.h"
#include "ns3/pointer.h"
#include "ns3/simulator.h"
#include "ns3/spectrum-model.h"
#include "ns3/string.h"
#include "ns3/three-gpp-antenna-model.h"
#include "ns3/uinteger.h"
#include "ns3/uniform-planar-array.h"

#include <algorithm>
#include <immintrin.h>
#include <cmath>
#include <complex>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

using namespace ns3;

namespace ns6g::ran
{

NS_LOG_COMPONENT_DEFINE("Ns6gRanChannel");

namespace
{

/** Hash of a RanChannel fast-fading cache key. */
uint64_t
LinkKey(uint32_t a, uint32_t b)
{
    return (static_cast<uint64_t>(a) << 32) | b;
}

/** A 64-bit mixing function (SplitMix64's finaliser): distinct inputs give well-spread outputs. */
uint64_t
SplitMix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/** ns-3's 3GPP spectrum loss model with its cache of beamformed long-term components made clearable. */
class EpochSpectrumLossModel : public ThreeGppSpectrumPropagationLossModel
{
  public:
    static TypeId GetTypeId()
    {
        static TypeId tid = TypeId("ns6g::ran::EpochSpectrumLossModel")
                                .SetParent<ThreeGppSpectrumPropagationLossModel>()
                                .SetGroupName("Spectrum")
                                .AddConstructor<EpochSpectrumLossModel>();
        return tid;
    }

    void ForgetLongTerms()
    {
        m_longTermMap.clear();
    }
};

/**
 * PhasedArrayModel::GetSteeringVector (ns-3 3.44) of an array whose element locations are `elements`, into
 * `out`: exp(j phase) per element with ns-3's phase expression, term for term. ns-3 takes the sines and
 * cosines of the direction again for every element (and each location through a virtual call); they are
 * the same values, taken once here, so the vector is the same bit for bit.
 */
void
SteeringVector(const std::vector<Vector>& elements, const Angles& direction, PhasedArrayModel::ComplexVector& out)
{
    if (out.GetSize() != elements.size())
    {
        out = PhasedArrayModel::ComplexVector(elements.size());
    }
    const double sinInclination = sin(direction.GetInclination());
    const double cosAzimuth = cos(direction.GetAzimuth());
    const double sinAzimuth = sin(direction.GetAzimuth());
    const double cosInclination = cos(direction.GetInclination());
    std::complex<double>* w = &out[0];
    for (size_t i = 0; i < elements.size(); ++i)
    {
        const Vector& loc = elements[i];
        const double phase = -2 * M_PI *
                             (sinInclination * cosAzimuth * loc.x + sinInclination * sinAzimuth * loc.y +
                              cosInclination * loc.z);
        // A zero phase (the first element, at the array's origin): polar(1, +-0) is (1, +-0) without the call.
        w[i] = phase == 0.0 ? std::complex<double>(1.0, phase) : std::polar<double>(1.0, phase);
    }
}

/** `w` divided by sqrt(N), N its size, element by element (a steering vector made unit-norm). */
void
Normalise(PhasedArrayModel::ComplexVector& w)
{
    const double norm = std::sqrt(static_cast<double>(w.GetSize()));
    for (size_t i = 0; i < w.GetSize(); ++i)
    {
        w[i] /= norm;
    }
}

/**
 * Into `w`, the unit-norm beam that adds up coherently a plane wave from (or to) `direction`, for ns-3's 3GPP
 * channel matrix. ThreeGppChannelModel writes an element's response to a ray as exp(+j 2 pi k.r), with k
 * the ray's unit direction and r the element position in wavelengths, and the spectrum model combines
 * H with the weights as sum w_u H_us w_s, without conjugation; the matched weights are therefore
 * exp(-j 2 pi k.r) / sqrt(N), i.e. PhasedArrayModel::GetSteeringVector normalised.
 * (PhasedArrayModel::GetBeamformingVector(Angles) returns its conjugate, which with this channel
 * matrix is matched only at broadside; ns-3's own examples and 5G-LENA build exp(-j 2 pi k.r) / sqrt(N)
 * by hand, as here.)
 */
void
MatchedBeam(const std::vector<Vector>& elements, const Angles& direction, PhasedArrayModel::ComplexVector& w)
{
    SteeringVector(elements, direction, w);
    Normalise(w);
}

/** RanChannel::UsesAvxKernels, read once. */
bool
UseAvx()
{
    static const bool avx = [] {
        const char* forced = std::getenv("NS6G_RAN_SCALAR");
        return __builtin_cpu_supports("avx") && !(forced && std::string(forced) != "0");
    }();
    return avx;
}

/**
 * x * y as GCC computes a std::complex<double> product (real ac - bd, imaginary ad + bc), without the
 * call to __muldc3 that follows when both parts come out NaN (C99 Annex G's recovery of infinities):
 * the same bits for operands whose products neither overflow nor are NaN, as every channel coefficient,
 * beam weight and phasor here; a plain inline product lets the loops below stay tight.
 */
inline std::complex<double>
MulFinite(const std::complex<double>& x, const std::complex<double>& y)
{
    return {x.real() * y.real() - x.imag() * y.imag(), x.real() * y.imag() + x.imag() * y.real()};
}

/**
 * ns-3's long term for one port at each end: for every cluster c, sum over s (in order, from 0) of
 * sw[s] * rx[s], where rx[s] sums over u (in order, from 0) uw[u] * H(u, s, c); H's pages are
 * column-major (H(u, s) at [s * numU + u]) and `numU * numS` values apart. Every product as MulFinite forms
 * it.
 */
/** One column's term of the long term: sw * (sum over u, in order from 0, of uw[u] * column[u]). */
inline std::complex<double>
ColumnTerm(const std::complex<double>* column, const std::complex<double>* uw, size_t numU,
           const std::complex<double>& sw)
{
    std::complex<double> rxSum(0, 0);
    for (size_t u = 0; u < numU; ++u)
    {
        rxSum += MulFinite(uw[u], column[u]);
    }
    return MulFinite(sw, rxSum);
}

void
LongTermScalar(const std::complex<double>* h, size_t numClusters, const std::complex<double>* uw, size_t numU,
               const std::complex<double>* sw, size_t numS, std::complex<double>* longTerm)
{
    for (size_t c = 0; c < numClusters; ++c)
    {
        const std::complex<double>* page = h + c * numU * numS;
        std::complex<double> txSum(0, 0);
        for (size_t s = 0; s < numS; ++s)
        {
            txSum += ColumnTerm(page + s * numU, uw, numU, sw[s]);
        }
        longTerm[c] = txSum;
    }
}

/**
 * MulFinite of x = (xRe, xIm) with two complex values y (one per 128-bit half): the real part
 * xRe * yRe - xIm * yIm (ADDSUBPD subtracts in the even lanes) and the imaginary part xRe * yIm + xIm * yRe
 * (adds in the odd lanes; IEEE addition is commutative), each product rounded once, as in MulFinite.
 */
__attribute__((target("avx"))) inline __m256d
MulFiniteAvx(__m256d xRe, __m256d xIm, __m256d y)
{
    return _mm256_addsub_pd(_mm256_mul_pd(xRe, y), _mm256_mul_pd(xIm, _mm256_permute_pd(y, 0b0101)));
}

/**
 * LongTermScalar with two columns s, s + 1 per instruction (each complex value in a 128-bit half): the
 * same products, and every sum in the same order, so the same doubles. The sums over s stay one after
 * another, in 128-bit halves (real and imaginary parts side by side, as std::complex adds them).
 */
__attribute__((target("avx"))) void
LongTermAvx(const std::complex<double>* h, size_t numClusters, const std::complex<double>* uw, size_t numU,
            const std::complex<double>* sw, size_t numS, std::complex<double>* longTerm)
{
    const double* hd = reinterpret_cast<const double*>(h);
    for (size_t c = 0; c < numClusters; ++c)
    {
        const double* page = hd + 2 * c * numU * numS;
        __m128d txSum = _mm_setzero_pd();
        size_t s = 0;
        for (; s + 1 < numS; s += 2)
        {
            const double* column0 = page + 2 * s * numU;
            const double* column1 = column0 + 2 * numU;
            __m256d rxSum = _mm256_setzero_pd();
            for (size_t u = 0; u < numU; ++u)
            {
                const __m256d y = _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(column0 + 2 * u)),
                                                       _mm_loadu_pd(column1 + 2 * u), 1);
                rxSum = _mm256_add_pd(rxSum, MulFiniteAvx(_mm256_set1_pd(uw[u].real()),
                                                          _mm256_set1_pd(uw[u].imag()), y));
            }
            const __m256d product =
                MulFiniteAvx(_mm256_setr_pd(sw[s].real(), sw[s].real(), sw[s + 1].real(), sw[s + 1].real()),
                             _mm256_setr_pd(sw[s].imag(), sw[s].imag(), sw[s + 1].imag(), sw[s + 1].imag()),
                             rxSum);
            txSum = _mm_add_pd(txSum, _mm256_castpd256_pd128(product));
            txSum = _mm_add_pd(txSum, _mm256_extractf128_pd(product, 1));
        }
        if (s < numS)
        {
            // An odd column count: the last column as LongTermScalar computes it.
            const std::complex<double> product = ColumnTerm(h + c * numU * numS + s * numU, uw, numU, sw[s]);
            txSum = _mm_add_pd(txSum, _mm_setr_pd(product.real(), product.imag()));
        }
        _mm_storeu_pd(reinterpret_cast<double*>(longTerm + c), txSum);
    }
}

/** LongTermAvx where the processor has AVX (and the scalar loop is not forced), else LongTermScalar. */
void
LongTerm(const std::complex<double>* h, size_t numClusters, const std::complex<double>* uw, size_t numU,
         const std::complex<double>* sw, size_t numS, std::complex<double>* longTerm)
{
    (UseAvx() ? LongTermAvx : LongTermScalar)(h, numClusters, uw, numU, sw, numS, longTerm);
}

/**
 * The band sums of ns-3's GenSpectrumChannelMatrix for one link: for every band b (`stride` of them, a
 * multiple of 4) sum over the clusters c, in order, of longTerm[c] * (delay[c][b] * doppler[c]), each
 * product as MulFinite forms it, each sum starting at 0. Bands are independent, so four are computed per
 * instruction (AVX) with every band's operations and their order unchanged: the same doubles as the
 * scalar loop, which runs where the processor lacks AVX. No fused multiply-add: the AVX kernel's
 * intrinsics do not fuse, and the scalar loop cannot, as the rest of this file's ns-3 arithmetic, because
 * the build targets baseline x86-64 (no FMA; see docs/ran-channel.md).
 */
void
BandSumsScalar(const double* delayRe, const double* delayIm, const std::complex<double>* doppler,
               const std::complex<double>* longTerm, size_t numClusters, size_t stride, double* sumRe,
               double* sumIm)
{
    for (size_t c = 0; c < numClusters; ++c)
    {
        const double pRe = doppler[c].real();
        const double pIm = doppler[c].imag();
        const double lRe = longTerm[c].real();
        const double lIm = longTerm[c].imag();
        const double* dRe = delayRe + c * stride;
        const double* dIm = delayIm + c * stride;
        for (size_t b = 0; b < stride; ++b)
        {
            const double ddRe = dRe[b] * pRe - dIm[b] * pIm;
            const double ddIm = dRe[b] * pIm + dIm[b] * pRe;
            sumRe[b] += lRe * ddRe - lIm * ddIm;
            sumIm[b] += lRe * ddIm + lIm * ddRe;
        }
    }
}

__attribute__((target("avx"))) void
BandSumsAvx(const double* delayRe, const double* delayIm, const std::complex<double>* doppler,
            const std::complex<double>* longTerm, size_t numClusters, size_t stride, double* sumRe,
            double* sumIm)
{
    for (size_t b = 0; b < stride; b += 4)
    {
        __m256d accRe = _mm256_setzero_pd();
        __m256d accIm = _mm256_setzero_pd();
        for (size_t c = 0; c < numClusters; ++c)
        {
            const __m256d pRe = _mm256_set1_pd(doppler[c].real());
            const __m256d pIm = _mm256_set1_pd(doppler[c].imag());
            const __m256d lRe = _mm256_set1_pd(longTerm[c].real());
            const __m256d lIm = _mm256_set1_pd(longTerm[c].imag());
            const __m256d dRe = _mm256_loadu_pd(delayRe + c * stride + b);
            const __m256d dIm = _mm256_loadu_pd(delayIm + c * stride + b);
            const __m256d ddRe = _mm256_sub_pd(_mm256_mul_pd(dRe, pRe), _mm256_mul_pd(dIm, pIm));
            const __m256d ddIm = _mm256_add_pd(_mm256_mul_pd(dRe, pIm), _mm256_mul_pd(dIm, pRe));
            accRe = _mm256_add_pd(accRe, _mm256_sub_pd(_mm256_mul_pd(lRe, ddRe), _mm256_mul_pd(lIm, ddIm)));
            accIm = _mm256_add_pd(accIm, _mm256_add_pd(_mm256_mul_pd(lRe, ddIm), _mm256_mul_pd(lIm, ddRe)));
        }
        _mm256_storeu_pd(sumRe + b, accRe);
        _mm256_storeu_pd(sumIm + b, accIm);
    }
}

void
BandSums(const double* delayRe, const double* delayIm, const std::complex<double>* doppler,
         const std::complex<double>* longTerm, size_t numClusters, size_t stride, double* sumRe, double* sumIm)
{
    (UseAvx() ? BandSumsAvx : BandSumsScalar)(delayRe, delayIm, doppler, longTerm, numClusters, stride, sumRe, sumIm);
}

NS_OBJECT_ENSURE_REGISTERED(EpochSpectrumLossModel);

} // namespace

// ---------------------------------------------------------------------------------------------------
// RanChannel

NS_OBJECT_ENSURE_REGISTERED(RanChannel);

TypeId
RanChannel::GetTypeId()
{
    static TypeId tid =
        TypeId("ns6g::ran::RanChannel")
            .SetParent<Object>()
            .SetGroupName("Ns6g")
            .AddConstructor<RanChannel>()
            .AddAttribute("Scenario",
                          "TR 38.901 scenario: UMi-StreetCanyon (UMi), UMa, RMa, InH-OfficeMixed (InH).",
                          StringValue("UMi-StreetCanyon"),
                          MakeStringAccessor(&RanChannel::m_scenarioName),
                          MakeStringChecker())
            .AddAttribute("CarrierFrequencyHz",
                          "Carrier frequency (Hz), 0.5-300 GHz (RMa: 0.5-30 GHz).",
                          DoubleValue(3.5e9),
                          MakeDoubleAccessor(&RanChannel::m_carrierFrequencyHz),
                          MakeDoubleChecker<double>(kMinFrequencyHz, kMaxFrequencyHz))
            .AddAttribute("BandwidthHz",
                          "Channel bandwidth (Hz); NumRbs * RbBandwidthHz must fit in it.",
                          DoubleValue(100e6),
                          MakeDoubleAccessor(&RanChannel::m_bandwidthHz),
                          MakeDoubleChecker<double>(0.0))
            .AddAttribute("NumRbs",
                          "Number of resource blocks, centred on the carrier.",
                          UintegerValue(273),
                          MakeUintegerAccessor(&RanChannel::m_numRbs),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("RbBandwidthHz",
                          "Bandwidth of one RB (Hz): 12 subcarriers (360 kHz at 30 kHz spacing).",
                          DoubleValue(360e3),
                          MakeDoubleAccessor(&RanChannel::m_rbBandwidthHz),
                          MakeDoubleChecker<double>(0.0))
            .AddAttribute("RbGroupSize",
                          "RBs per fast-fading evaluation band; every RB of a group gets the gain "
                          "computed at the group's centre (4 RBs = 1.44 MHz at 30 kHz spacing).",
                          UintegerValue(4),
                          MakeUintegerAccessor(&RanChannel::m_rbGroupSize),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("ShadowingEnabled",
                          "Add 38.901 log-normal shadowing to the large-scale loss.",
                          BooleanValue(true),
                          MakeBooleanAccessor(&RanChannel::m_shadowingEnabled),
                          MakeBooleanChecker())
            .AddAttribute("FastFadingEnabled",
                          "Per-RB gains from ns-3's 3GPP channel model; false: the LoS array gain only.",
                          BooleanValue(true),
                          MakeBooleanAccessor(&RanChannel::m_fastFadingEnabled),
                          MakeBooleanChecker())
            .AddAttribute("LosCondition",
                          "LoS state of links: 3gpp (drawn with the scenario's 38.901 probability), "
                          "los (always) or nlos (never).",
                          StringValue("3gpp"),
                          MakeStringAccessor(&RanChannel::m_losMode),
                          MakeStringChecker())
            .AddAttribute("UpdatePeriod",
                          "Re-evaluation period of cached per-link values (a Time): RB gains with the "
                          "Doppler phases of that time, large-scale loss of moved links.",
                          TimeValue(MilliSeconds(10)),
                          MakeTimeAccessor(&RanChannel::m_updatePeriod),
                          MakeTimeChecker())
            .AddAttribute("RealizationPeriod",
                          "Period (a Time) after which every link's small-scale fading is drawn anew.",
                          TimeValue(Seconds(1)),
                          MakeTimeAccessor(&RanChannel::m_realizationPeriod),
                          MakeTimeChecker())
            .AddAttribute("LinkFadingStreams",
                          "Draw each link's fast fading, in each realisation, from a random stream of "
                          "its own (a function of the assigned streams, the gNB and UE node ids and "
                          "the realisation) instead of one stream shared in the order links are "
                          "evaluated: then evaluating a link (a query, another UE's scheduling) changes "
                          "no other link's fading.",
                          BooleanValue(false),
                          MakeBooleanAccessor(&RanChannel::m_linkFadingStreams),
                          MakeBooleanChecker())
            .AddAttribute("LosUpdatePeriod",
                          "Period (a Time) after which a link's LoS state is drawn again (0: kept for "
                          "good, ns-3's default; about decorrelation distance / speed for moving UEs).",
                          TimeValue(Seconds(0)),
                          MakeTimeAccessor(&RanChannel::m_losUpdatePeriod),
                          MakeTimeChecker())
            .AddAttribute("ScattererSpeedMps",
                          "Speed (m/s) of moving scatterers, ns-3's vScatt (TR 37.885 6.2.3): adds a "
                          "random Doppler to the non-LoS clusters, so that static links fade too.",
                          DoubleValue(0.0),
                          MakeDoubleAccessor(&RanChannel::m_scattererSpeedMps),
                          MakeDoubleChecker<double>(0.0))
            .AddAttribute("GnbArrayRows",
                          "Rows of each gNB's uniform planar array.",
                          UintegerValue(4),
                          MakeUintegerAccessor(&RanChannel::m_gnbRows),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("GnbArrayColumns",
                          "Columns of each gNB's uniform planar array.",
                          UintegerValue(4),
                          MakeUintegerAccessor(&RanChannel::m_gnbColumns),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("UeArrayRows",
                          "Rows of each UE's uniform planar array.",
                          UintegerValue(1),
                          MakeUintegerAccessor(&RanChannel::m_ueRows),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("UeArrayColumns",
                          "Columns of each UE's uniform planar array.",
                          UintegerValue(2),
                          MakeUintegerAccessor(&RanChannel::m_ueColumns),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("GnbIsotropicElements",
                          "gNB array elements isotropic (0 dBi) instead of 3GPP (8 dBi, 65 deg).",
                          BooleanValue(false),
                          MakeBooleanAccessor(&RanChannel::m_gnbIsotropicElements),
                          MakeBooleanChecker())
            .AddAttribute("UeIsotropicElements",
                          "UE array elements isotropic (0 dBi) instead of 3GPP (8 dBi, 65 deg).",
                          BooleanValue(true),
                          MakeBooleanAccessor(&RanChannel::m_ueIsotropicElements),
                          MakeBooleanChecker())
            .AddAttribute("FastFadingPath",
                          "Who computes a link's per-RB gains from ns-3's channel draw: ns6g (RanChannel "
                          "itself, with ns-3's operations in ns-3's order and caches of what did not "
                          "change: bit for bit ns-3's values, faster) or ns3 "
                          "(ThreeGppSpectrumPropagationLossModel::CalcRxPowerSpectralDensity, and "
                          "ThreeGppChannelModel's own channel matrices). Both draw the channel through "
                          "ThreeGppChannelModel in the same order; ns6g computes each channel matrix with "
                          "ns-3's operations, once per element instead of once per element pair.",
                          StringValue("ns6g"),
                          MakeStringAccessor(&RanChannel::m_fastFadingPath),
                          MakeStringChecker());
    return tid;
}

RanChannel::RanChannel() = default;

RanChannel::~RanChannel() = default;

void
RanChannel::DoDispose()
{
    m_terminals.clear();
    m_primed.clear();
    m_largeScale.clear();
    m_gains.clear();
    m_linkFading.clear();
    m_condition = nullptr;
    m_pathLoss = nullptr;
    m_channelModel = nullptr;
    m_spectrumLoss = nullptr;
    m_txParams = nullptr;
    Object::DoDispose();
}

void
RanChannel::EnsureModels()
{
    if (m_built)
    {
        return;
    }
    m_scenario = ParseScenario(m_scenarioName);
    CheckFrequency(m_scenario, m_carrierFrequencyHz);
    if (!(m_rbBandwidthHz > 0.0) || m_numRbs == 0 || m_rbGroupSize == 0)
    {
        throw std::invalid_argument("RanChannel: NumRbs, RbBandwidthHz and RbGroupSize must be positive");
    }
    if (m_numRbs * m_rbBandwidthHz > m_bandwidthHz * (1.0 + 1e-9))
    {
        throw std::invalid_argument("RanChannel: NumRbs (" + std::to_string(m_numRbs) + ") x RbBandwidthHz (" +
                                    FormatShortNumber(m_rbBandwidthHz) + " Hz) exceeds BandwidthHz (" +
                                    FormatShortNumber(m_bandwidthHz) + " Hz)");
    }
    if (!m_updatePeriod.IsStrictlyPositive() || !m_realizationPeriod.IsStrictlyPositive() ||
        m_losUpdatePeriod.IsStrictlyNegative())
    {
        throw std::invalid_argument("RanChannel: UpdatePeriod and RealizationPeriod must be positive, "
                                    "LosUpdatePeriod >= 0");
    }
    if (m_fastFadingPath != "ns6g" && m_fastFadingPath != "ns3")
    {
        throw std::invalid_argument("RanChannel: FastFadingPath '" + m_fastFadingPath +
                                    "' is not one of ns6g, ns3");
    }
    m_ns3Path = m_fastFadingPath == "ns3";
    if (m_losMode == "3gpp")
    {
        Ptr<ThreeGppChannelConditionModel> condition = CreateChannelConditionModel(m_scenario);
        condition->SetAttribute("UpdatePeriod", TimeValue(m_losUpdatePeriod));
        m_condition = condition;
    }
    else if (m_losMode == "los")
    {
        m_condition = CreateObject<AlwaysLosChannelConditionModel>();
    }
    else if (m_losMode == "nlos")
    {
        m_condition = CreateObject<NeverLosChannelConditionModel>();
    }
    else
    {
        throw std::invalid_argument("RanChannel: LosCondition '" + m_losMode +
                                    "' is not one of 3gpp, los, nlos");
    }
    m_pathLoss = CreatePathLossModel(m_scenario, m_carrierFrequencyHz, m_shadowingEnabled, m_condition);

    Ptr<EpochChannelModel> channel = CreateObject<EpochChannelModel>();
    channel->SetScenario(ScenarioName(m_scenario));
    // ns-3's 3GPP channel model is specified up to 100 GHz: above, its parameters at 100 GHz are used.
    channel->SetFrequency(std::min(m_carrierFrequencyHz, kMax3gppFrequencyHz));
    channel->SetChannelConditionModel(m_condition);
    channel->SetAttribute("vScatt", DoubleValue(m_scattererSpeedMps));
    channel->SetNs3Matrix(m_ns3Path);
    m_channelModel = channel;
    Ptr<EpochSpectrumLossModel> spectrum = CreateObject<EpochSpectrumLossModel>();
    spectrum->SetChannelModel(m_channelModel);
    m_spectrumLoss = spectrum;

    // One band per RB group; RB i is centred at fc + (i - (N - 1) / 2) * rbBw.
    Bands bands;
    for (uint32_t first = 0; first < m_numRbs; first += m_rbGroupSize)
    {
        const uint32_t last = std::min(first + m_rbGroupSize, m_numRbs) - 1;
        BandInfo band;
        band.fl = GetRbCentreFrequencyHz(first) - m_rbBandwidthHz / 2.0;
        band.fh = GetRbCentreFrequencyHz(last) + m_rbBandwidthHz / 2.0;
        band.fc = (band.fl + band.fh) / 2.0;
        bands.push_back(band);
    }
    Ptr<SpectrumModel> model = Create<SpectrumModel>(bands);
    Ptr<SpectrumValue> psd = Create<SpectrumValue>(model);
    *psd = 1.0;
    m_txParams = Create<SpectrumSignalParameters>();
    m_txParams->psd = psd;
    // What ThreeGppSpectrumPropagationLossModel reads on every call (GetFrequency() through the
    // attribute system, the band centres, the transmitted PSD), read once.
    m_channelFrequencyHz = channel->GetFrequency();
    m_bandCentresHz.clear();
    for (auto band = psd->ConstBandsBegin(); band != psd->ConstBandsEnd(); ++band)
    {
        m_bandCentresHz.push_back(band->fc);
    }
    m_txPsd.assign(psd->ConstValuesBegin(), psd->ConstValuesEnd());
    // GetChannel of a link whose matrix ns-3 holds, with the arrays up to date, draws again only when the
    // link's channel condition changes (ThreeGppChannelConditionModel redraws it after its UpdatePeriod)
    // or the parameters age past the channel model's UpdatePeriod; with neither, it returns what it
    // returned before.
    TimeValue channelUpdatePeriod;
    channel->GetAttribute("UpdatePeriod", channelUpdatePeriod);
    m_drawsSettle = channelUpdatePeriod.Get().IsZero() &&
                    (m_losMode != "3gpp" || m_losUpdatePeriod.IsZero());
    m_built = true;
}

void
RanChannel::AddGnb(Ptr<Node> gnb, double bearingRad, double downtiltRad)
{
    AddTerminal(gnb, true, bearingRad, downtiltRad);
}

void
RanChannel::AddUe(Ptr<Node> ue, double bearingRad)
{
    AddTerminal(ue, false, bearingRad, 0.0);
}

void
RanChannel::AddTerminal(Ptr<Node> node, bool isGnb, double bearingRad, double downtiltRad)
{
    EnsureModels();
    Terminal t;
    t.node = node;
    t.mobility = node->GetObject<MobilityModel>();
    if (!t.mobility)
    {
        throw std::invalid_argument(std::string("RanChannel::") + (isGnb ? "AddGnb" : "AddUe") + ": node " +
                                    std::to_string(node->GetId()) + " has no MobilityModel");
    }
    Ptr<UniformPlanarArray> array = CreateObject<UniformPlanarArray>();
    array->SetNumRows(isGnb ? m_gnbRows : m_ueRows);
    array->SetNumColumns(isGnb ? m_gnbColumns : m_ueColumns);
    array->SetAlpha(bearingRad);
    if (isGnb)
    {
        array->SetBeta(downtiltRad);
    }
    Ptr<AntennaModel> element;
    if (isGnb ? m_gnbIsotropicElements : m_ueIsotropicElements)
    {
        element = CreateObject<IsotropicAntennaModel>();
    }
    else
    {
        element = CreateObject<ThreeGppAntennaModel>();
    }
    element->Initialize();
    array->SetAntennaElement(element);
    t.array = array;
    t.elements.reserve(array->GetNumElems());
    for (size_t i = 0; i < array->GetNumElems(); ++i)
    {
        t.elements.push_back(array->GetElementLocation(i));
    }
    t.isGnb = isGnb;
    if (m_terminals.size() <= node->GetId())
    {
        m_terminals.resize(node->GetId() + 1);
    }
    m_terminals[node->GetId()] = std::make_unique<Terminal>(std::move(t));
}

RanChannel::Terminal&
RanChannel::Find(Ptr<Node> node, bool gnb)
{
    if (!node)
    {
        throw std::invalid_argument("RanChannel: null node");
    }
    const uint32_t id = node->GetId();
    Terminal* t = id < m_terminals.size() ? m_terminals[id].get() : nullptr;
    if (!t || t->isGnb != gnb)
    {
        throw std::invalid_argument("RanChannel: node " + std::to_string(node->GetId()) +
                                    " is not a registered " + (gnb ? "gNB (AddGnb)" : "UE (AddUe)"));
    }
    return *t;
}

uint64_t
RanChannel::GetEpoch() const
{
    return static_cast<uint64_t>(Simulator::Now().GetTimeStep() / m_updatePeriod.GetTimeStep());
}

uint64_t
RanChannel::GetRealization() const
{
    return static_cast<uint64_t>(Simulator::Now().GetTimeStep() / m_realizationPeriod.GetTimeStep());
}

uint64_t
RanChannel::GetLosEpoch() const
{
    if (m_losMode != "3gpp" || !m_losUpdatePeriod.IsStrictlyPositive())
    {
        return 0;
    }
    return static_cast<uint64_t>(Simulator::Now().GetTimeStep() / m_losUpdatePeriod.GetTimeStep());
}

void
RanChannel::UpdateRealization()
{
    EnsureModels();
    const uint64_t realization = GetRealization();
    if (m_realizationValid && realization == m_realization)
    {
        return;
    }
    if (m_realizationValid)
    {
        DynamicCast<EpochChannelModel>(m_channelModel)->ForgetRealisations();
        DynamicCast<EpochSpectrumLossModel>(m_spectrumLoss)->ForgetLongTerms();
    }
    // Every cached gain belongs to the old realisation; dropping them also bounds the cache to the
    // (gNB, UE, beam target) triples asked for within one realisation period. Without fast fading a
    // gain is the line-of-sight array gain, a function of the three positions alone (no realisation,
    // no Doppler): the entries stay, and GetRbGainsDb recomputes one only when a position moved.
    if (m_fastFadingEnabled)
    {
        m_gains.clear();
    }
    m_linkFading.clear();
    m_realization = realization;
    m_realizationValid = true;
}

bool
RanChannel::HasDoppler(const Terminal& gnb, const Terminal& ue) const
{
    return m_scattererSpeedMps > 0.0 || gnb.mobility->GetVelocity().GetLength() > 0.0 ||
           ue.mobility->GetVelocity().GetLength() > 0.0;
}

const RanChannel::LargeScale&
RanChannel::GetLargeScale(Ptr<Node> gnb, Ptr<Node> ue)
{
    UpdateRealization();
    Terminal& g = Find(gnb, true);
    Terminal& u = Find(ue, false);
    const uint64_t key = LinkKey(gnb->GetId(), ue->GetId());
    const uint64_t epoch = GetEpoch();
    const uint64_t losEpoch = GetLosEpoch();
    LargeScale& entry = m_largeScale[key];
    if (m_primed.count(key))
    {
        if (entry.epoch == epoch)
        {
            return entry;
        }
        const Vector gnbPos = g.mobility->GetPosition();
        const Vector uePos = u.mobility->GetPosition();
        if (entry.losEpoch == losEpoch && gnbPos == entry.gnbPos && uePos == entry.uePos)
        {
            entry.epoch = epoch; // nothing that the loss depends on changed
            return entry;
        }
    }
    else
    {
        // ns-3 3.44 stores a zero displacement with a link's first shadowing draw, so its second call
        // sees the whole BS-UT vector as displacement and draws an almost independent value even for
        // a static UE. One extra call here makes the stored displacement the real one: from then on
        // a static link keeps its shadowing and a moving one gets 38.901's distance-correlated update.
        m_primed.insert(key);
        m_pathLoss->CalcRxPower(0.0, u.mobility, g.mobility);
    }
    // The UE is `a`, the gNB `b` (ns-3's UMi model identifies the BS that way; the rest are symmetric).
    entry.lossDb = -m_pathLoss->CalcRxPower(0.0, u.mobility, g.mobility);
    entry.los = m_condition->GetChannelCondition(u.mobility, g.mobility)->IsLos();
    entry.epoch = epoch;
    entry.losEpoch = losEpoch;
    entry.gnbPos = g.mobility->GetPosition();
    entry.uePos = u.mobility->GetPosition();
    return entry;
}

double
RanChannel::GetLargeScaleLossDb(Ptr<Node> gnb, Ptr<Node> ue)
{
    return GetLargeScale(gnb, ue).lossDb;
}

bool
RanChannel::IsLos(Ptr<Node> gnb, Ptr<Node> ue)
{
    return GetLargeScale(gnb, ue).los;
}

const std::vector<double>&
RanChannel::GetRbGainsDb(Ptr<Node> gnb, Ptr<Node> ue, Ptr<Node> beamTarget)
{
    UpdateRealization();
    Terminal& g = Find(gnb, true);
    Terminal& u = Find(ue, false);
    Terminal& target = beamTarget ? Find(beamTarget, false) : u;
    const uint32_t targetId = target.node->GetId();
    // Key: gNB, UE and target ids, 21 bits each.
    if (gnb->GetId() >= (1U << 21) || ue->GetId() >= (1U << 21) || targetId >= (1U << 21))
    {
        throw std::invalid_argument("RanChannel: node ids of 2^21 and above are not supported");
    }
    const uint64_t key = (static_cast<uint64_t>(gnb->GetId()) << 42) |
                         (static_cast<uint64_t>(ue->GetId()) << 21) | targetId;
    const uint64_t epoch = GetEpoch();
    const uint64_t losEpoch = GetLosEpoch();
    auto [it, inserted] = m_gains.try_emplace(key);
    Gains& entry = it->second;
    const Vector gnbPos = g.mobility->GetPosition();
    const Vector uePos = u.mobility->GetPosition();
    const Vector targetPos = target.mobility->GetPosition();
    // Without fast fading the gains depend on the positions alone (ComputeRbGains: LosArrayGain), so
    // neither a new realisation nor Doppler changes them.
    const bool fading = m_fastFadingEnabled;
    if (!inserted && entry.fading == fading && (!fading || entry.realization == m_realization))
    {
        if (entry.epoch == epoch)
        {
            return entry.gainsDb;
        }
        if (entry.losEpoch == losEpoch && entry.gnbPos == gnbPos && entry.uePos == uePos &&
            entry.targetPos == targetPos && (!fading || !HasDoppler(g, u)))
        {
            entry.epoch = epoch; // a static link without Doppler: the same channel
            return entry.gainsDb;
        }
    }
    entry.gainsDb.resize(m_numRbs);
    ComputeRbGains(g, u, target, entry);
    entry.epoch = epoch;
    entry.realization = m_realization;
    entry.fading = fading;
    entry.losEpoch = losEpoch;
    entry.gnbPos = gnbPos;
    entry.uePos = uePos;
    entry.targetPos = targetPos;
    return entry.gainsDb;
}

double
RanChannel::GetLosArrayGainDb(Ptr<Node> gnb, Ptr<Node> ue, Ptr<Node> beamTarget)
{
    EnsureModels();
    Terminal& g = Find(gnb, true);
    Terminal& u = Find(ue, false);
    Terminal& target = beamTarget ? Find(beamTarget, false) : u;
    return 10.0 * std::log10(LosArrayGain(g, u, target));
}

void
RanChannel::ComputeRbGains(Terminal& gnb, Terminal& ue, Terminal& target, Gains& entry)
{
    std::vector<double>& gains = entry.gainsDb;
    if (!m_fastFadingEnabled)
    {
        std::fill(gains.begin(), gains.end(), 10.0 * std::log10(LosArrayGain(gnb, ue, target)));
        return;
    }
    const Vector gnbPos = gnb.mobility->GetPosition();
    const Vector uePos = ue.mobility->GetPosition();
    const Vector targetPos = target.mobility->GetPosition();
    // The link's entry, found once per realisation (m_linkFading is cleared only when a new one begins;
    // its elements do not move).
    if (!entry.link || entry.linkRealization != m_realization)
    {
        entry.link = &m_linkFading[LinkKey(gnb.node->GetId(), ue.node->GetId())];
        entry.linkRealization = m_realization;
    }
    LinkFading& link = *entry.link;
    gnb.array->SetBeamformingVector(CachedBeam(link.gnbBeam, gnb, Angles(targetPos, gnbPos)));
    ue.array->SetBeamformingVector(CachedBeam(link.ueBeam, ue, Angles(gnbPos, uePos)));
    if (m_linkFadingStreams)
    {
        // The channel model draws a link's channel when it is first asked for in a realisation: from
        // the stream of (link, realisation), that draw does not depend on which links came before.
        uint64_t h = static_cast<uint64_t>(m_fadingStream);
        for (uint64_t part : {static_cast<uint64_t>(gnb.node->GetId()), static_cast<uint64_t>(ue.node->GetId()),
                              m_realization})
        {
            h = SplitMix64(h ^ SplitMix64(part));
        }
        // 8 streams per key (the channel model uses 4), above the streams helpers assign (< 2^40).
        DynamicCast<EpochChannelModel>(m_channelModel)->Reseed(static_cast<int64_t>((1ULL << 40) + (h >> 8) * 8));
    }
    m_bandPsd.resize(m_bandCentresHz.size());
    if (m_ns3Path || gnb.array->GetNumPorts() != 1 || ue.array->GetNumPorts() != 1)
    {
        CalcBandPsdNs3(gnb, ue, m_bandPsd);
    }
    else
    {
        CalcBandPsd(gnb, ue, link, m_bandPsd);
    }
    ++m_fastFadingEvaluations;
    // One value per band (RB group): its logarithm once, copied to the band's RBs.
    for (uint32_t first = 0; first < m_numRbs; first += m_rbGroupSize)
    {
        const double db = 10.0 * std::log10(std::max(m_bandPsd[first / m_rbGroupSize], 1e-30));
        std::fill(gains.begin() + first, gains.begin() + std::min(first + m_rbGroupSize, m_numRbs), db);
    }
}

const PhasedArrayModel::ComplexVector&
RanChannel::CachedBeam(Beam& cache, const Terminal& terminal, const Angles& direction)
{
    if (!cache.valid || cache.azimuth != direction.GetAzimuth() || cache.inclination != direction.GetInclination())
    {
        MatchedBeam(terminal.elements, direction, cache.weights);
        cache.azimuth = direction.GetAzimuth();
        cache.inclination = direction.GetInclination();
        cache.valid = true;
    }
    return cache.weights;
}

void
RanChannel::CalcBandPsdNs3(Terminal& gnb, Terminal& ue, std::vector<double>& psd)
{
    Ptr<SpectrumSignalParameters> rx =
        m_spectrumLoss->CalcRxPowerSpectralDensity(m_txParams, gnb.mobility, ue.mobility, gnb.array, ue.array);
    for (size_t i = 0; i < psd.size(); ++i)
    {
        psd[i] = (*rx->psd)[i];
    }
}

void
RanChannel::CalcBandPsd(Terminal& gnb, Terminal& ue, LinkFading& link, std::vector<double>& psd)
{
    // ThreeGppSpectrumPropagationLossModel::DoCalcRxPowerSpectralDensity(txParams, a = gNB, b = UE):
    // the channel draw and its parameters, in ns-3's order (GetChannel draws; GetParams only reads).
    using MBCM = MatrixBasedChannelModel;
    Ptr<const MBCM::ChannelMatrix> channel;
    Ptr<const MBCM::ChannelParams> params;
    if (link.settled && m_drawsSettle)
    {
        // ns-3 would find the same condition, parameters and matrix, the arrays up to date (they were at
        // the last call, and only a change of the arrays' setup marks them out of date), and return them.
        channel = link.channel;
        params = link.params;
    }
    else
    {
        channel = m_channelModel->GetChannel(gnb.mobility, ue.mobility, gnb.array, ue.array);
        params = m_channelModel->GetParams(gnb.mobility, ue.mobility);
        // The same matrix as the last call (link holds it, so a new draw cannot reuse its address): the
        // first call of a link draws it, and ns-3 3.44 draws it again on the second (its arrays had not
        // been asked about each other yet); from the call that returns it unchanged on, it stays.
        link.settled = link.channel && link.channel == channel && link.channelTime == channel->m_generatedTime &&
                       link.params == params;
    }
    const MBCM::Complex3DVector& h = channel->m_channel;
    const size_t numClusters = h.GetNumPages();
    const size_t numBands = m_bandCentresHz.size();

    // GetLongTerm / CalculateLongTermComponent for one port at each end (the port's elements are the
    // whole array, in order): per cluster sum_s sW[s] * (sum_u uW[u] * H(u, s, c)). Recomputed when the
    // channel matrix or either beam changed (ns-3's own cache test). Computed after the Doppler terms,
    // which do not depend on it.
    const bool reverse = channel->IsReverse(gnb.array->GetId(), ue.array->GetId());
    const PhasedArrayModel::ComplexVector& sW =
        (reverse ? ue.array : gnb.array)->GetBeamformingVectorRef();
    const PhasedArrayModel::ComplexVector& uW =
        (reverse ? gnb.array : ue.array)->GetBeamformingVectorRef();
    const bool longTermStale = link.channel != channel || link.channelTime != channel->m_generatedTime ||
                               link.reverse != reverse || link.longTerm.size() != numClusters || link.sW != sW ||
                               link.uW != uW;
    if (longTermStale)
    {
        // A thousand links' matrices (about 12 KB each) outgrow the caches: ask for this one now, so that
        // it arrives while the Doppler terms below are computed (their sines and cosines take longer).
        const char* bytes = reinterpret_cast<const char*>(h.GetPagePtr(0));
        for (size_t offset = 0; offset < numClusters * h.GetNumRows() * h.GetNumCols() * sizeof(h(0, 0, 0));
             offset += 64)
        {
            __builtin_prefetch(bytes + offset);
        }
    }

    // CalcBeamformingGain: the Doppler term of each cluster at this time. a's velocity is sSpeed and
    // b's uSpeed, whatever the channel's direction, as in ns-3.
    const Vector sSpeed = gnb.mobility->GetVelocity();
    const Vector uSpeed = ue.mobility->GetVelocity();
    const double slotTime = Simulator::Now().GetSeconds();
    const double factor = 2 * M_PI * slotTime * m_channelFrequencyHz / 3e8;
    NS_ABORT_MSG_UNLESS(numClusters <= params->m_alpha.size() && numClusters <= params->m_D.size() &&
                            numClusters <= params->m_delay.size(),
                        "RanChannel: channel parameters have fewer clusters than the channel matrix");
    const bool isSameDir = (params->m_nodeIds == channel->m_nodeIds);
    const auto& cachedAngleSincos = params->m_cachedAngleSincos;
    const auto& zoa = cachedAngleSincos[isSameDir ? MBCM::ZOA_INDEX : MBCM::ZOD_INDEX];
    const auto& zod = cachedAngleSincos[isSameDir ? MBCM::ZOD_INDEX : MBCM::ZOA_INDEX];
    const auto& aoa = cachedAngleSincos[isSameDir ? MBCM::AOA_INDEX : MBCM::AOD_INDEX];
    const auto& aod = cachedAngleSincos[isSameDir ? MBCM::AOD_INDEX : MBCM::AOA_INDEX];
    link.doppler.resize(numClusters);
    for (size_t c = 0; c < numClusters; ++c)
    {
        const double alpha = params->m_alpha[c];
        const double D = params->m_D[c];
        // The expression as ns-3 writes it: the same operations in the same order.
        const double tempDoppler =
            factor * ((zoa[c].first * aoa[c].second * uSpeed.x + zoa[c].first * aoa[c].first * uSpeed.y +
                       zoa[c].second * uSpeed.z) +
                      (zod[c].first * aod[c].second * sSpeed.x + zod[c].first * aod[c].first * sSpeed.y +
                       zod[c].second * sSpeed.z) +
                      2 * alpha * D);
        link.doppler[c] = std::complex<double>(cos(tempDoppler), sin(tempDoppler));
    }

    if (longTermStale)
    {
        const size_t numS = sW.GetSize();
        const size_t numU = uW.GetSize();
        NS_ABORT_MSG_UNLESS(numU == h.GetNumRows() && numS == h.GetNumCols(),
                            "RanChannel: beam sizes do not match the channel matrix");
        NS_ABORT_MSG_UNLESS(numClusters == 0 || h.GetPagePtr(numClusters - 1) ==
                                                      h.GetPagePtr(0) + (numClusters - 1) * numU * numS,
                            "RanChannel: the channel matrix's pages are not contiguous");
        link.longTerm.resize(numClusters);
        LongTerm(h.GetPagePtr(0), numClusters, &uW[0], numU, &sW[0], numS, link.longTerm.data());
        link.channel = channel;
        link.channelTime = channel->m_generatedTime;
        link.reverse = reverse;
        link.sW = sW;
        link.uW = uW;
    }

    // GenSpectrumChannelMatrix: the delay phasors at the band centres (cached per parameter draw, as
    // ns-3 caches them in the parameters), times the Doppler term, summed over the clusters with the
    // long term; times sqrt(PSD).
    const size_t stride = (numBands + 3) / 4 * 4;
    if (link.params != params || link.delayClusters != numClusters || link.delayStride != stride)
    {
        link.delayRe.assign(numClusters * stride, 0.0);
        link.delayIm.assign(numClusters * stride, 0.0);
        for (size_t i = 0; i < numBands; ++i)
        {
            const double fsb = m_bandCentresHz[i];
            for (size_t c = 0; c < numClusters; ++c)
            {
                double delay = -2 * M_PI * fsb * (params->m_delay[c]);
                const std::complex<double> phasor(cos(delay), sin(delay));
                link.delayRe[c * stride + i] = phasor.real();
                link.delayIm[c * stride + i] = phasor.imag();
            }
        }
        link.params = params;
        link.delayClusters = numClusters;
        link.delayStride = stride;
    }
    m_bandSumRe.assign(stride, 0.0);
    m_bandSumIm.assign(stride, 0.0);
    BandSums(link.delayRe.data(), link.delayIm.data(), link.doppler.data(), link.longTerm.data(), numClusters,
             stride, m_bandSumRe.data(), m_bandSumIm.data());
    // With one port at each end the long term is 1x1 per cluster, its transpose itself; ns-3's default
    // precoding is 1 / sqrt(1) and the PSD the squared magnitude of H x P.
    const std::complex<double> precoding(1.0 / std::sqrt(1.0), 0.0);
    for (size_t i = 0; i < numBands; ++i)
    {
        const double txPsd = m_txPsd[i];
        std::complex<double> chanSpct(0.0, 0.0);
        if (txPsd != 0.00)
        {
            const double sqrtVit = sqrt(txPsd);
            const std::complex<double> subsbandGain(m_bandSumRe[i], m_bandSumIm[i]);
            chanSpct = sqrtVit * subsbandGain;
        }
        std::complex<double> hP(0.0, 0.0);
        hP += chanSpct * precoding;
        double value = 0.0;
        value += std::real(std::conj(hP) * hP);
        psd[i] = value;
    }
}

double
RanChannel::LosArrayGain(const Terminal& gnb, const Terminal& ue, const Terminal& target) const
{
    const Vector gnbPos = gnb.mobility->GetPosition();
    const Vector uePos = ue.mobility->GetPosition();
    const Vector targetPos = target.mobility->GetPosition();
    // |w^T r(direction)|^2 times the element's power pattern in that direction, at each end, where
    // r = conj(steering vector) is the array response of ns-3's channel matrix.
    auto endGain = [](const Terminal& t, const Angles& beam, const Angles& direction) {
        PhasedArrayModel::ComplexVector a;
        SteeringVector(t.elements, direction, a);
        PhasedArrayModel::ComplexVector w;
        if (beam.GetAzimuth() == direction.GetAzimuth() && beam.GetInclination() == direction.GetInclination())
        {
            // The beam points along `direction` (always at the UE, and at the gNB without a beam target):
            // the matched beam is this steering vector divided by sqrt(N), as MatchedBeam computes it.
            w = a;
            Normalise(w);
        }
        else
        {
            MatchedBeam(t.elements, beam, w);
        }
        const Ptr<PhasedArrayModel>& array = t.array;
        std::complex<double> af(0.0, 0.0);
        for (size_t i = 0; i < w.GetSize(); ++i)
        {
            af += w[i] * std::conj(a[i]);
        }
        auto [fTheta, fPhi] = array->GetElementFieldPattern(direction, 0);
        return std::norm(af) * (fTheta * fTheta + fPhi * fPhi);
    };
    return endGain(gnb, Angles(targetPos, gnbPos), Angles(uePos, gnbPos)) *
           endGain(ue, Angles(gnbPos, uePos), Angles(gnbPos, uePos));
}

uint32_t
RanChannel::GetNumRbs() const
{
    return m_numRbs;
}

bool
RanChannel::UsesAvxKernels()
{
    return UseAvx();
}

uint32_t
RanChannel::GetRbGroupSize() const
{
    return m_rbGroupSize;
}

double
RanChannel::GetRbCentreFrequencyHz(uint32_t rb) const
{
    return m_carrierFrequencyHz + (static_cast<double>(rb) - (m_numRbs - 1) / 2.0) * m_rbBandwidthHz;
}

uint64_t
RanChannel::GetFastFadingEvaluations() const
{
    return m_fastFadingEvaluations;
}

uint64_t
RanChannel::GetChannelMatricesComputed() const
{
    auto model = DynamicCast<EpochChannelModel>(m_channelModel);
    return model ? model->GetMatricesComputed() : 0;
}

uint64_t
RanChannel::GetChannelMatricesReused() const
{
    auto model = DynamicCast<EpochChannelModel>(m_channelModel);
    return model ? model->GetMatricesReused() : 0;
}

const std::vector<double>&
RanChannel::GetLastBandPsd() const
{
    return m_bandPsd;
}

Ptr<PhasedArrayModel>
RanChannel::GetArray(Ptr<Node> node) const
{
    const uint32_t id = node->GetId();
    return id < m_terminals.size() && m_terminals[id] ? m_terminals[id]->array : nullptr;
}

Ptr<ChannelConditionModel>
RanChannel::GetChannelConditionModel()
{
    EnsureModels();
    return m_condition;
}

Ptr<PropagationLossModel>
RanChannel::GetPathLossModel()
{
    EnsureModels();
    return m_pathLoss;
}

int64_t
RanChannel::AssignStreams(int64_t stream)
{
    EnsureModels();
    int64_t used = m_condition->AssignStreams(stream);
    used += m_pathLoss->AssignStreams(stream + used);
    m_fadingStream = stream + used;
    used += m_channelModel->AssignStreams(stream + used);
    used += m_spectrumLoss->AssignStreams(stream + used);
    return used;
}

} // namespace ns6g::ran
