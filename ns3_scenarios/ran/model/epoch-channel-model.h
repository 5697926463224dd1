// ns-3's 3GPP channel model as RanChannel uses it: realisations forgotten per epoch, per-link streams, and
// the channel matrix (TR 38.901 step 11) computed with the same operations in fewer of them.
#ifndef NS6G_RAN_EPOCH_CHANNEL_MODEL_H
#define NS6G_RAN_EPOCH_CHANNEL_MODEL_H

#include "ns3/three-gpp-channel-model.h"

#include <cstdint>

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

  protected:
    ns3::Ptr<ChannelMatrix> GetNewChannel(ns3::Ptr<const ThreeGppChannelParams> channelParams,
                                          ns3::Ptr<const ParamsTable> table3gpp,
                                          const ns3::Ptr<const ns3::MobilityModel> sMob,
                                          const ns3::Ptr<const ns3::MobilityModel> uMob,
                                          ns3::Ptr<const ns3::PhasedArrayModel> sAntenna,
                                          ns3::Ptr<const ns3::PhasedArrayModel> uAntenna) const override;

  private:
    bool m_ns3Matrix{false};
    mutable uint64_t m_matrices{0};
};

} // namespace ns6g::ran

#endif
