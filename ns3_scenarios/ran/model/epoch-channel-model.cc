// ns-3's 3GPP channel model as RanChannel uses it (see epoch-channel-model.h).
//
// GetNewChannel below must produce ns-3 3.44's doubles exactly: every expression that reaches a coefficient
// is written as ns-3 writes it (same operands, same order, std::complex operators), only evaluated once
// where ns-3 evaluates it once per element pair. Contracting a*b + c into one fused multiply-add would
// round differently, so this file is compiled without contraction whatever flags the build passes.
#pragma GCC optimize("fp-contract=off")

#include "ran/model/epoch-channel-model.h"

#include "ns3/angles.h"
#include "ns3/mobility-model.h"
#include "ns3/node.h"
#include "ns3/phased-array-model.h"
#include "ns3/random-variable-stream.h"
#include "ns3/simulator.h"

#include <cmath>
#include <complex>
#include <cstring>
#include <vector>

using namespace ns3;

namespace ns6g::ran
{

NS_OBJECT_ENSURE_REGISTERED(EpochChannelModel);

namespace
{

/** exp(j 2 pi (a x + b y + c z)) of the element at `loc`: ns-3's phase of a ray (direction cosines a, b,
 *  c) at an element, term for term. A zero phase (the array's first element, at its origin) skips the
 *  call: cos(+-0) is 1 and sin(+-0) the same signed zero, exactly. */
std::complex<double>
ElementPhasor(double a, double b, double c, const Vector& loc)
{
    double phaseDiff = 2 * M_PI * (a * loc.x + b * loc.y + c * loc.z);
    if (phaseDiff == 0.0)
    {
        return {1.0, phaseDiff};
    }
    return {cos(phaseDiff), sin(phaseDiff)};
}

/** A ray's direction cosines as ns-3 caches them: sin(zenith) cos(azimuth), sin(zenith) sin(azimuth),
 *  cos(zenith), one value per ray in each. */
struct DirectionCosines
{
    explicit DirectionCosines(size_t rays)
        : sinCos(rays),
          sinSin(rays),
          cosZenith(rays)
    {
    }

    void Set(size_t i, double zenith, double azimuth)
    {
        double sinZenith = sin(zenith);
        double sinAzimuth = sin(azimuth);
        double cosAzimuth = cos(azimuth);
        sinCos[i] = sinZenith * cosAzimuth;
        sinSin[i] = sinZenith * sinAzimuth;
        cosZenith[i] = cos(zenith);
    }

    std::complex<double> Phasor(size_t i, const Vector& loc) const
    {
        return ElementPhasor(sinCos[i], sinSin[i], cosZenith[i], loc);
    }

    std::vector<double> sinCos;
    std::vector<double> sinSin;
    std::vector<double> cosZenith;
};

} // namespace

TypeId
EpochChannelModel::GetTypeId()
{
    static TypeId tid = TypeId("ns6g::ran::EpochChannelModel")
                            .SetParent<ThreeGppChannelModel>()
                            .SetGroupName("Spectrum")
                            .AddConstructor<EpochChannelModel>();
    return tid;
}

void
EpochChannelModel::ForgetRealisations()
{
    m_channelParamsMap.clear();
    m_channelMatrixMap.clear();
    m_scattered.clear();
}

void
EpochChannelModel::Reseed(int64_t stream)
{
    m_normalRv = CreateObject<NormalRandomVariable>(); // mean 0, variance 1, as ns-3 sets it up
    AssignStreams(stream);
}

void
EpochChannelModel::SetNs3Matrix(bool ns3Matrix)
{
    m_ns3Matrix = ns3Matrix;
}

uint64_t
EpochChannelModel::GetMatricesComputed() const
{
    return m_matrices;
}

uint64_t
EpochChannelModel::GetMatricesReused() const
{
    return m_reused;
}

void
EpochChannelModel::ScatteredClusters(const ThreeGppChannelParams& p,
                                     const ParamsTable& table3gpp,
                                     bool isSameDirection,
                                     const std::vector<Vector>& sLoc,
                                     const std::vector<Vector>& uLoc,
                                     const std::vector<uint8_t>& sPol,
                                     const std::vector<uint8_t>& uPol,
                                     size_t numPolS,
                                     size_t numPolU,
                                     const std::vector<std::pair<double, double>>& fields,
                                     Complex3DVector& hUsn)
{
    const Double2DVector& rayAodRadian = isSameDirection ? p.m_rayAodRadian : p.m_rayAoaRadian;
    const Double2DVector& rayAoaRadian = isSameDirection ? p.m_rayAoaRadian : p.m_rayAodRadian;
    const Double2DVector& rayZodRadian = isSameDirection ? p.m_rayZodRadian : p.m_rayZoaRadian;
    const Double2DVector& rayZoaRadian = isSameDirection ? p.m_rayZoaRadian : p.m_rayZodRadian;
    const size_t uSize = uLoc.size();
    const size_t sSize = sLoc.size();
    const size_t numClusters = p.m_reducedClusterNumber;
    const size_t numRays = table3gpp.m_raysPerCluster;

    // ns-3's per-ray terms that depend on neither u nor s: the polarisation term per (s pol, u pol) and
    // the direction cosines of arrival and departure.
    const std::pair<double, double>* field = fields.data();
    std::vector<std::complex<double>> raysPreComp(numPolS * numPolU * numClusters * numRays);
    auto pre = [&](size_t polS, size_t polU, size_t n, size_t m) -> std::complex<double>& {
        return raysPreComp[((polS * numPolU + polU) * numClusters + n) * numRays + m];
    };
    DirectionCosines arrival(numClusters * numRays);
    DirectionCosines departure(numClusters * numRays);
    for (size_t nIndex = 0; nIndex < numClusters; nIndex++)
    {
        for (size_t mIndex = 0; mIndex < numRays; mIndex++)
        {
            const DoubleVector& initialPhase = p.m_clusterPhase[nIndex][mIndex];
            NS_ASSERT(4 <= initialPhase.size());
            double k = p.m_crossPolarizationPowerRatios[nIndex][mIndex];
            for (uint8_t polUa = 0; polUa < numPolU; ++polUa)
            {
                auto [rxFieldPatternPhi, rxFieldPatternTheta] = *field++;
                for (uint8_t polSa = 0; polSa < numPolS; ++polSa)
                {
                    auto [txFieldPatternPhi, txFieldPatternTheta] = *field++;
                    pre(polSa, polUa, nIndex, mIndex) =
                        std::complex<double>(cos(initialPhase[0]), sin(initialPhase[0])) * rxFieldPatternTheta *
                            txFieldPatternTheta +
                        std::complex<double>(cos(initialPhase[1]), sin(initialPhase[1])) * std::sqrt(1.0 / k) *
                            rxFieldPatternTheta * txFieldPatternPhi +
                        std::complex<double>(cos(initialPhase[2]), sin(initialPhase[2])) * std::sqrt(1.0 / k) *
                            rxFieldPatternPhi * txFieldPatternTheta +
                        std::complex<double>(cos(initialPhase[3]), sin(initialPhase[3])) * rxFieldPatternPhi *
                            txFieldPatternPhi;
                }
            }
            const size_t i = nIndex * numRays + mIndex;
            arrival.Set(i, rayZoaRadian[nIndex][mIndex], rayAoaRadian[nIndex][mIndex]);
            departure.Set(i, rayZodRadian[nIndex][mIndex], rayAodRadian[nIndex][mIndex]);
        }
    }

    // Per cluster: the receive phasor of every (u, ray) and the transmit phasor of every (s, ray), once
    // each; ns-3's ray term pre * rx * tx is then (pre * rx) * tx, with pre * rx formed once per (s pol,
    // u, ray) and summed over the rays in ns-3's order for every (u, s).
    std::vector<std::complex<double>> txPhasor(sSize * numRays);
    std::vector<std::complex<double>> preRx(numPolS * uSize * numRays);
    uint8_t numSubClustersAdded = 0;
    for (size_t nIndex = 0; nIndex < numClusters; nIndex++)
    {
        for (size_t u = 0; u < uSize; ++u)
        {
            for (size_t mIndex = 0; mIndex < numRays; mIndex++)
            {
                const std::complex<double> rx = arrival.Phasor(nIndex * numRays + mIndex, uLoc[u]);
                for (size_t polS = 0; polS < numPolS; ++polS)
                {
                    preRx[(polS * uSize + u) * numRays + mIndex] = pre(polS, uPol[u], nIndex, mIndex) * rx;
                }
            }
        }
        for (size_t s = 0; s < sSize; ++s)
        {
            for (size_t mIndex = 0; mIndex < numRays; mIndex++)
            {
                txPhasor[s * numRays + mIndex] = departure.Phasor(nIndex * numRays + mIndex, sLoc[s]);
            }
        }
        const bool strongest = nIndex == p.m_cluster1st || nIndex == p.m_cluster2nd;
        const double scale = sqrt(p.m_clusterPower[nIndex] / table3gpp.m_raysPerCluster);
        for (size_t u = 0; u < uSize; ++u)
        {
            for (size_t s = 0; s < sSize; ++s)
            {
                const std::complex<double>* a = &preRx[(sPol[s] * uSize + u) * numRays];
                const std::complex<double>* t = &txPhasor[s * numRays];
                if (!strongest)
                {
                    std::complex<double> rays(0, 0);
                    for (size_t mIndex = 0; mIndex < numRays; mIndex++)
                    {
                        rays += a[mIndex] * t[mIndex];
                    }
                    rays *= scale;
                    hUsn(u, s, nIndex) = rays;
                }
                else // (7.5-28): the rays of the two strongest clusters split into three sub-clusters
                {
                    std::complex<double> raysSub1(0, 0);
                    std::complex<double> raysSub2(0, 0);
                    std::complex<double> raysSub3(0, 0);
                    for (size_t mIndex = 0; mIndex < numRays; mIndex++)
                    {
                        std::complex<double> raySub = a[mIndex] * t[mIndex];
                        switch (mIndex)
                        {
                        case 9:
                        case 10:
                        case 11:
                        case 12:
                        case 17:
                        case 18:
                            raysSub2 += raySub;
                            break;
                        case 13:
                        case 14:
                        case 15:
                        case 16:
                            raysSub3 += raySub;
                            break;
                        default:
                            raysSub1 += raySub;
                            break;
                        }
                    }
                    raysSub1 *= scale;
                    raysSub2 *= scale;
                    raysSub3 *= scale;
                    hUsn(u, s, nIndex) = raysSub1;
                    hUsn(u, s, p.m_reducedClusterNumber + numSubClustersAdded) = raysSub2;
                    hUsn(u, s, p.m_reducedClusterNumber + numSubClustersAdded + 1) = raysSub3;
                }
            }
        }
        if (strongest)
        {
            numSubClustersAdded += 2;
        }
    }
}

Ptr<MatrixBasedChannelModel::ChannelMatrix>
EpochChannelModel::GetNewChannel(Ptr<const ThreeGppChannelParams> channelParams,
                                 Ptr<const ParamsTable> table3gpp,
                                 const Ptr<const MobilityModel> sMob,
                                 const Ptr<const MobilityModel> uMob,
                                 Ptr<const PhasedArrayModel> sAntenna,
                                 Ptr<const PhasedArrayModel> uAntenna) const
{
    ++m_matrices;
    if (m_ns3Matrix)
    {
        return ThreeGppChannelModel::GetNewChannel(channelParams, table3gpp, sMob, uMob, sAntenna, uAntenna);
    }
    NS_ASSERT_MSG(m_frequency > 0.0, "Set the operating frequency first!");
    const ThreeGppChannelParams& p = *channelParams;

    Ptr<ChannelMatrix> channelMatrix = Create<ChannelMatrix>();
    channelMatrix->m_generatedTime = Simulator::Now();
    channelMatrix->m_nodeIds = std::make_pair(sMob->GetObject<Node>()->GetId(), uMob->GetObject<Node>()->GetId());
    // The parameters may have been drawn in the other direction: departure and arrival swap.
    const bool isSameDirection = (p.m_nodeIds == channelMatrix->m_nodeIds);

    const size_t uSize = uAntenna->GetNumElems();
    const size_t sSize = sAntenna->GetNumElems();
    const size_t numClusters = p.m_reducedClusterNumber;
    const size_t numRays = table3gpp->m_raysPerCluster;
    const uint16_t numOverallCluster =
        (p.m_cluster1st != p.m_cluster2nd) ? p.m_reducedClusterNumber + 4 : p.m_reducedClusterNumber + 2;
    Complex3DVector hUsn(uSize, sSize, numOverallCluster);
    NS_ASSERT(numClusters <= p.m_clusterPhase.size() && numClusters <= p.m_clusterPower.size() &&
              numClusters <= p.m_crossPolarizationPowerRatios.size() && numClusters <= p.m_rayZoaRadian.size());
    NS_ASSERT(numRays <= p.m_clusterPhase[0].size() && numRays <= p.m_rayZoaRadian[0].size());

    const Vector sPos = sMob->GetPosition();
    const Vector uPos = uMob->GetPosition();
    double x = sPos.x - uPos.x;
    double y = sPos.y - uPos.y;
    double distance2D = sqrt(x * x + y * y);
    double hUt = std::min(sPos.z, uPos.z);
    double hBs = std::max(sPos.z, uPos.z);
    double distance3D = std::sqrt(distance2D * distance2D + (hBs - hUt) * (hBs - hUt));
    Angles sAngle(uPos, sPos);
    Angles uAngle(sPos, uPos);

    // Each element's location and polarisation, asked of the array once.
    auto elements = [](const Ptr<const PhasedArrayModel>& array, std::vector<Vector>& loc, std::vector<uint8_t>& pol) {
        loc.resize(array->GetNumElems());
        pol.resize(array->GetNumElems());
        for (size_t e = 0; e < loc.size(); ++e)
        {
            loc[e] = array->GetElementLocation(e);
            pol[e] = array->GetElemPol(e);
        }
    };
    std::vector<Vector> uLoc;
    std::vector<uint8_t> uPol;
    elements(uAntenna, uLoc, uPol);
    std::vector<Vector> sLoc;
    std::vector<uint8_t> sPol;
    elements(sAntenna, sLoc, sPol);

    // The field patterns of every ray, in the order ns-3 takes them (for each ray: receive pattern per
    // receive polarisation, then the transmit pattern per transmit polarisation). ns-3 takes them at
    // the parameters' own angles, unswapped.
    const size_t numPolS = sAntenna->GetNumPols();
    const size_t numPolU = uAntenna->GetNumPols();
    std::vector<std::pair<double, double>> fields;
    fields.reserve(numClusters * numRays * numPolU * (1 + numPolS));
    for (size_t nIndex = 0; nIndex < numClusters; nIndex++)
    {
        for (size_t mIndex = 0; mIndex < numRays; mIndex++)
        {
            for (uint8_t polUa = 0; polUa < numPolU; ++polUa)
            {
                fields.push_back(uAntenna->GetElementFieldPattern(
                    Angles(p.m_rayAoaRadian[nIndex][mIndex], p.m_rayZoaRadian[nIndex][mIndex]), polUa));
                for (uint8_t polSa = 0; polSa < numPolS; ++polSa)
                {
                    fields.push_back(sAntenna->GetElementFieldPattern(
                        Angles(p.m_rayAodRadian[nIndex][mIndex], p.m_rayZodRadian[nIndex][mIndex]), polSa));
                }
            }
        }
    }

    const ScatteredKey key{PeekPointer(channelParams), PeekPointer(sAntenna), PeekPointer(uAntenna), isSameDirection};
    auto same = [](const auto& a, const auto& b) {
        return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(a[0])) == 0;
    };
    auto kept = m_scattered.find(key);
    if (kept != m_scattered.end() && kept->second.params == channelParams && same(kept->second.sLoc, sLoc) &&
        same(kept->second.uLoc, uLoc) && same(kept->second.sPol, sPol) && same(kept->second.uPol, uPol) &&
        same(kept->second.fields, fields))
    {
        hUsn = std::move(kept->second.hUsn);
        m_scattered.erase(kept);
        ++m_reused;
    }
    else
    {
        ScatteredClusters(p, *table3gpp, isSameDirection, sLoc, uLoc, sPol, uPol, numPolS, numPolU, fields, hUsn);
        // Kept for the redraw ns-3 makes of an array pair's first matrix only: later matrices are not
        // asked for again while their parameters last, and keeping them would double the matrices' memory.
        if (m_pairsSeen.emplace(PeekPointer(sAntenna), PeekPointer(uAntenna)).second)
        {
            m_scattered[key] = ScatteredPart{channelParams, sLoc, uLoc, sPol, uPol, std::move(fields), hUsn};
        }
    }

    if (p.m_losCondition == ChannelCondition::LOS) // (7.5-29) and (7.5-30)
    {
        double lambda = 3.0e8 / m_frequency;
        std::complex<double> phaseDiffDueToDistance(cos(-2 * M_PI * distance3D / lambda),
                                                    sin(-2 * M_PI * distance3D / lambda));
        // Each end's LoS phasor and field pattern per element (ns-3 evaluates them per element pair:
        // the same values), with the direction's sines and cosines taken as ns-3 takes them.
        auto losEnd = [](const Angles& angle,
                         const std::vector<Vector>& loc,
                         const std::vector<uint8_t>& pol,
                         const Ptr<const PhasedArrayModel>& antenna,
                         std::vector<std::complex<double>>& phasor,
                         std::vector<std::pair<double, double>>& field) {
            const double sinIncl = sin(angle.GetInclination());
            const double cosIncl = cos(angle.GetInclination());
            const double sinAz = sin(angle.GetAzimuth());
            const double cosAz = cos(angle.GetAzimuth());
            phasor.resize(loc.size());
            field.resize(loc.size());
            for (size_t e = 0; e < loc.size(); ++e)
            {
                phasor[e] = ElementPhasor(sinIncl * cosAz, sinIncl * sinAz, cosIncl, loc[e]);
                field[e] = antenna->GetElementFieldPattern(Angles(angle.GetAzimuth(), angle.GetInclination()), pol[e]);
            }
        };
        std::vector<std::complex<double>> rxLos;
        std::vector<std::pair<double, double>> rxField;
        losEnd(uAngle, uLoc, uPol, uAntenna, rxLos, rxField);
        std::vector<std::complex<double>> txLos;
        std::vector<std::pair<double, double>> txField;
        losEnd(sAngle, sLoc, sPol, sAntenna, txLos, txField);
        const double kLinear = pow(10, p.m_K_factor / 10.0);
        for (size_t u = 0; u < uSize; ++u)
        {
            auto [rxFieldPatternPhi, rxFieldPatternTheta] = rxField[u];
            for (size_t s = 0; s < sSize; ++s)
            {
                auto [txFieldPatternPhi, txFieldPatternTheta] = txField[s];
                std::complex<double> ray =
                    (rxFieldPatternTheta * txFieldPatternTheta - rxFieldPatternPhi * txFieldPatternPhi) *
                    phaseDiffDueToDistance * rxLos[u] * txLos[s];
                hUsn(u, s, 0) = sqrt(1.0 / (kLinear + 1)) * hUsn(u, s, 0) +
                                sqrt(kLinear / (1 + kLinear)) * ray / pow(10, p.m_attenuation_dB[0] / 10.0);
                for (size_t nIndex = 1; nIndex < hUsn.GetNumPages(); nIndex++)
                {
                    hUsn(u, s, nIndex) *= sqrt(1.0 / (kLinear + 1));
                }
            }
        }
    }
    channelMatrix->m_channel = hUsn;
    return channelMatrix;
}

} // namespace ns6g::ran
