// ns-3's 3GPP channel model as RanChannel uses it: realisations forgotten per epoch, per-link streams, and
// the channel matrix (TR 38.901 step 11) computed with the same operations in fewer of them.
#ifndef NS6G_RAN_EPOCH_CHANNEL_MODEL_H
#define NS6G_RAN_EPOCH_CHANNEL_MODEL_H

#include "ns3/three-gpp-channel-model.h"

#include <cstdint>
#include <map>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

namespace ns6g::ran
{

/**
 * ns-3's ThreeGppChannelModel with three additions:
 * - ForgetRealisations(): the next GetChannel() draws a new realisation (RanChannel calls it when a
 *   realisation period ends);
 * - Reseed(): draw from given streams from now on (one stream set per link and realisation);
 * - GetNewChannel() computes the matrix H(u, s, n) bit for bit as ns-3 3.44 does, but with each ray's
 *   receive phasor computed once per receive element and its transmit phasor once per transmit element,
 *   instead of both once per (receive, transmit) element pair: (U + S) sin/cos pairs per ray instead of
 *   2 U S. Every product and sum is the one ns-3 makes, in ns-3's order, so the coefficients are the
 *   same doubles (checked against ns-3's own GetNewChannel by the ran-query `fading_path_check`, and
 *   by SetNs3Matrix(true) in RanChannel's FastFadingPath "ns3").
 *   ns-3 asks for a link's matrix anew with unchanged parameters when it finds an array "out of date"
 *   (it does so at every link's second evaluation, for arrays never asked before). Only the LoS term
 *   depends on the positions; the scattered clusters depend on the parameters, element positions and
 *   field patterns alone. An array pair's first matrix keeps them per (parameters, arrays, direction)
 *   and the next request reuses them when all of those are bit for bit the same (until
 *   ForgetRealisations()); otherwise they are computed.
 */
class EpochChannelModel : public ns3::ThreeGppChannelModel
{
  public:
    static ns3::TypeId GetTypeId();

    /** Forget every channel realisation: the next GetChannel() draws a new one. */
    void ForgetRealisations();

    /** Draw from streams `stream`.. from now on, with fresh variables: a normal variable keeps the
     *  spare value of its last pair, which would carry one link's draws into the next. */
    void Reseed(int64_t stream);

    /** true: compute channel matrices with ns-3's own GetNewChannel (for comparisons). */
    void SetNs3Matrix(bool ns3Matrix);

    /** Matrices computed since construction (either way). */
    uint64_t GetMatricesComputed() const;

    /** Of those, matrices whose scattered clusters were reused (only the LoS term recomputed). */
    uint64_t GetMatricesReused() const;

  protected:
    ns3::Ptr<ChannelMatrix> GetNewChannel(ns3::Ptr<const ThreeGppChannelParams> channelParams,
                                          ns3::Ptr<const ParamsTable> table3gpp,
                                          const ns3::Ptr<const ns3::MobilityModel> sMob,
                                          const ns3::Ptr<const ns3::MobilityModel> uMob,
                                          ns3::Ptr<const ns3::PhasedArrayModel> sAntenna,
                                          ns3::Ptr<const ns3::PhasedArrayModel> uAntenna) const override;

  private:
    /** The scattered clusters of a matrix and every input they were computed from. */
    struct ScatteredPart
    {
        ns3::Ptr<const ThreeGppChannelParams> params; // held: the key's address stays this object's
        std::vector<ns3::Vector> sLoc;
        std::vector<ns3::Vector> uLoc;
        std::vector<uint8_t> sPol;
        std::vector<uint8_t> uPol;
        std::vector<std::pair<double, double>> fields; // the field patterns, in the order they are taken
        Complex3DVector hUsn;                          // H(u, s, n) before the LoS term
    };

    /** ns-3's step 11 for every cluster but the LoS term: H(u, s, n) from the parameters, the element
     *  positions and polarisations, and the rays' field patterns (`fields`, in ns-3's order). */
    static void ScatteredClusters(const ThreeGppChannelParams& p,
                                  const ParamsTable& table3gpp,
                                  bool isSameDirection,
                                  const std::vector<ns3::Vector>& sLoc,
                                  const std::vector<ns3::Vector>& uLoc,
                                  const std::vector<uint8_t>& sPol,
                                  const std::vector<uint8_t>& uPol,
                                  size_t numPolS,
                                  size_t numPolU,
                                  const std::vector<std::pair<double, double>>& fields,
                                  Complex3DVector& hUsn);

    using ScatteredKey = std::tuple<const ThreeGppChannelParams*, const ns3::PhasedArrayModel*,
                                    const ns3::PhasedArrayModel*, bool>;

    bool m_ns3Matrix{false};
    mutable uint64_t m_matrices{0};
    mutable uint64_t m_reused{0};
    mutable std::map<ScatteredKey, ScatteredPart> m_scattered;
    mutable std::set<std::pair<const ns3::PhasedArrayModel*, const ns3::PhasedArrayModel*>> m_pairsSeen;
};

} // namespace ns6g::ran

#endif
