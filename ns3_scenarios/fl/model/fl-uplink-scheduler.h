// FlUplinkScheduler: fl-network's uplink share scheduler. Every cell's uplink runs RanSystem's "external"
// scheduler; each slot in which a client uploads, this gives the cell's RBGs to its uploading clients in
// proportion to their shares (weighted round robin with credits: each slot a client earns share x RBGs and
// every RBG it gets costs 1). A client's share is explicit (0 < share <= 1: that fraction of the cell's
// RBGs while it uploads) or automatic (share < 0, the default): automatic clients split what the explicit
// ones leave equally; if a cell's shares add up to more than 1 they are scaled to sum 1. A client is given
// at most the RBGs its power supports (power headroom); what it cannot use goes to the others. See
// docs/cosim.md.
#pragma once

#include "fl/model/fl-records.h"
#include "fl/model/fl-topology.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace ns6g::fl
{

/** The uplink share scheduler of fl-network (see the top of this file). */
class FlUplinkScheduler
{
  public:
    /** Starts an episode: every cell's uplink allocation empty, every share automatic, no slot ticking.
     *  `uploading(u)`: whether client u has an uplink transfer in flight and is still connected. */
    void Setup(const FlTopology& topology, std::function<bool(uint32_t)> uploading);
    /** Sets clients' shares ((0, 1], or < 0: automatic); throws FlRequestError naming a bad client or share. */
    void SetShares(const UplinkShareRecord* records, size_t count);
    /** A client started uploading: allocate from the next slot on (a no-op while slots are ticking). */
    void Wake();

  private:
    /** A client's share (< 0: automatic) and its round-robin credit (RBGs). */
    struct ClientShare
    {
        double share{-1.0};
        double credit{0.0};
    };

    /** Each slot: every cell's RBGs to its uploading clients by weighted round robin over their shares. */
    void Tick();

    uint32_t m_clients{0};
    uint32_t m_cells{0};
    uint32_t m_nRbg{0};
    double m_slotS{0.0};                             //!< slot duration (s)
    ns3::Ptr<ran::RanLink> m_link;
    ns3::Ptr<ran::RanSystem> m_system;
    ns3::Ptr<ns3::Node> m_context;                   //!< node whose context the ticks run in
    std::function<bool(uint32_t)> m_uploading;
    std::vector<ClientShare> m_shares;               //!< per client
    std::vector<ran::Allocation> m_ulAllocation;     //!< per cell, as last set
    std::vector<std::vector<uint32_t>> m_active;     //!< per cell, this slot's uploading clients (reused)
    std::vector<uint32_t> m_room;                    //!< per client, RBGs its power still supports this slot
    bool m_ticking{false};
};

} // namespace ns6g::fl
