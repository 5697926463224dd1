#include "ran/model/ran-sidelink-net-device.h"

#include "ran/model/ran-sidelink.h"
#include "ran/model/ran-system.h"

#include "ns3/ipv4-header.h"

namespace ns6g::ran
{

NS_OBJECT_ENSURE_REGISTERED(SidelinkNetDevice);

ns3::TypeId
SidelinkNetDevice::GetTypeId()
{
    static ns3::TypeId tid = ns3::TypeId("ns6g::ran::SidelinkNetDevice")
                                 .SetParent<RanNetDevice>()
                                 .SetGroupName("Ns6gRan")
                                 .AddConstructor<SidelinkNetDevice>();
    return tid;
}

void
SidelinkNetDevice::DoDispose()
{
    m_sidelink = nullptr;
    RanNetDevice::DoDispose();
}

void
SidelinkNetDevice::AttachSidelink(ns3::Ptr<RanSidelink> sidelink, uint32_t ue)
{
    m_sidelink = sidelink;
    m_ue = ue;
}

void
SidelinkNetDevice::SetDefaultPeer(std::optional<uint32_t> ue)
{
    m_defaultPeer = ue;
}

std::optional<uint32_t>
SidelinkNetDevice::GetDefaultPeer() const
{
    return m_defaultPeer;
}

uint32_t
SidelinkNetDevice::GetUe() const
{
    return m_ue;
}

bool
SidelinkNetDevice::Send(ns3::Ptr<ns3::Packet> packet, const ns3::Address& /* dest */, uint16_t protocolNumber)
{
    if (!m_sidelink || packet->GetSize() > GetMtu())
    {
        return false;
    }
    // No ARP: the next hop is the owner of the IPv4 destination when it is a sidelink neighbour, else
    // the default peer (a remote UE's relay).
    std::optional<uint32_t> peer = m_defaultPeer;
    ns3::Ipv4Header header;
    if (protocolNumber == 0x0800 && packet->PeekHeader(header) > 0)
    {
        if (auto owner = m_sidelink->UeOfAddress(header.GetDestination()))
        {
            peer = owner;
        }
    }
    if (!peer || *peer == m_ue)
    {
        return false;
    }
    return m_sidelink->Enqueue(m_ue, *peer, packet, protocolNumber);
}

bool
SidelinkNetDevice::SendFrom(ns3::Ptr<ns3::Packet> packet,
                            const ns3::Address& /* source */,
                            const ns3::Address& dest,
                            uint16_t protocolNumber)
{
    return Send(packet, dest, protocolNumber);
}

} // namespace ns6g::ran
