// FlUplinkScheduler: fl-network's uplink share scheduler (see fl-uplink-scheduler.h and docs/cosim.md).
#include "fl/model/fl-uplink-scheduler.h"

#include <algorithm>
#include <map>
#include <queue>
#include <string>
#include <utility>

namespace ns6g::fl
{

using namespace ns3;
using namespace ns6g::ran;

void
FlUplinkScheduler::Setup(const FlTopology& topology, std::function<bool(uint32_t)> uploading)
{
    m_clients = topology.clients;
    m_cells = topology.cells;
    m_nRbg = topology.carrier.nRbg;
    m_slotS = topology.carrier.numerology.SlotDurationS();
    m_link = topology.link;
    m_system = topology.system;
    m_context = topology.uplinkContext;
    m_uploading = std::move(uploading);
    for (uint32_t c = 0; c < m_cells; ++c)
    {
        m_system->SetExternalAllocation(c, Direction::Uplink, Allocation(m_nRbg, -1));
    }
    m_shares.assign(m_clients, ClientShare{});
    m_ulAllocation.assign(m_cells, Allocation(m_nRbg, -1));
    m_active.assign(m_cells, {});
    m_room.assign(m_clients, 0);
    m_ticking = false;
}

void
FlUplinkScheduler::SetShares(const UplinkShareRecord* records, size_t count)
{
    for (size_t i = 0; i < count; ++i)
    {
        if (records[i].client >= m_clients)
        {
            throw FlRequestError("uplink_share: client " + std::to_string(records[i].client) +
                                       " out of range (" + std::to_string(m_clients) + " clients)");
        }
        const double s = records[i].share;
        if (!(s < 0 || (s > 0 && s <= 1)))
        {
            throw FlRequestError("uplink_share: share of client " + std::to_string(records[i].client) +
                                       " must be in (0, 1] or negative (automatic), got " + std::to_string(s));
        }
    }
    for (size_t i = 0; i < count; ++i)
    {
        m_shares[records[i].client].share = records[i].share < 0 ? -1.0 : records[i].share;
    }
}

void
FlUplinkScheduler::Wake()
{
    if (!m_ticking)
    {
        m_ticking = true;
        Simulator::ScheduleWithContext(m_context->GetId(), Seconds(0), &FlUplinkScheduler::Tick, this);
    }
}

/** Each slot: every cell's RBGs to its uploading clients by weighted round robin over their shares. */
void
FlUplinkScheduler::Tick()
{
    const uint32_t nRbg = m_nRbg;
    // Per-slot work for every uploading client: the containers are members, reused (no allocation).
    std::vector<std::vector<uint32_t>>& active = m_active;
    for (auto& members : active)
    {
        members.clear();
    }
    bool any = false;
    for (uint32_t u = 0; u < m_clients; ++u)
    {
        if (m_uploading(u))
        {
            active[m_system->ServingCell(u)].push_back(u);
            any = true;
        }
        else
        {
            m_shares[u].credit = 0.0;
        }
    }
    for (uint32_t c = 0; c < m_cells; ++c)
    {
        Allocation alloc(nRbg, -1);
        const auto& members = active[c];
        if (!members.empty())
        {
            double explicitSum = 0.0;
            uint32_t automatic = 0;
            for (uint32_t u : members)
            {
                if (m_shares[u].share > 0)
                {
                    explicitSum += m_shares[u].share;
                }
                else
                {
                    ++automatic;
                }
            }
            const double autoShare = automatic ? std::max(0.0, 1.0 - explicitSum) / automatic : 0.0;
            const double total = explicitSum + autoShare * automatic;
            const double scale = total > 1.0 ? 1.0 / total : 1.0;
            std::priority_queue<std::pair<double, int64_t>> best; // (credit, -client): ties to the lower index
            for (uint32_t u : members)
            {
                ClientShare& r = m_shares[u];
                r.credit += (r.share > 0 ? r.share : autoShare) * scale * nRbg;
                best.emplace(r.credit, -static_cast<int64_t>(u));
            }
            // A client gets at most the RBGs its power supports (power headroom); what it cannot
            // use goes to the others, and its unused credit does not pile up.
            std::vector<uint32_t>& room = m_room; // by client; only this cell's members are read
            for (uint32_t u : members)
            {
                room[u] = m_link->MaxRbgs(u, c, Direction::Uplink);
            }
            for (uint32_t rbg = 0; rbg < nRbg && !best.empty(); ++rbg)
            {
                auto [credit, negU] = best.top();
                if (credit <= 1e-9)
                {
                    break; // shares below 1 in total leave RBGs unused
                }
                best.pop();
                const auto u = static_cast<uint32_t>(-negU);
                alloc[rbg] = static_cast<int32_t>(u);
                m_shares[u].credit -= 1.0;
                if (--room[u] > 0)
                {
                    best.emplace(m_shares[u].credit, negU);
                }
            }
            for (uint32_t u : members)
            {
                if (room[u] == 0)
                {
                    m_shares[u].credit = std::min(m_shares[u].credit, 1.0);
                }
            }
        }
        if (alloc != m_ulAllocation[c])
        {
            m_ulAllocation[c] = alloc;
            m_system->SetExternalAllocation(c, Direction::Uplink, alloc);
        }
    }
    if (any)
    {
        Simulator::Schedule(Seconds(m_slotS), &FlUplinkScheduler::Tick, this);
    }
    else
    {
        m_ticking = false;
    }
}

} // namespace ns6g::fl
