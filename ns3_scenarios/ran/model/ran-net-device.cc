#include "ran/model/ran-net-device.h"

#include "ran/model/ran-system.h"

#include "ns3/channel.h"
#include "ns3/log.h"
#include "ns3/uinteger.h"

namespace ns6g::ran
{

NS_LOG_COMPONENT_DEFINE("Ns6gRanNetDevice");
NS_OBJECT_ENSURE_REGISTERED(RanNetDevice);

ns3::TypeId
RanNetDevice::GetTypeId()
{
    using namespace ns3;
    static TypeId tid = TypeId("ns6g::ran::RanNetDevice")
                            .SetParent<NetDevice>()
                            .SetGroupName("Ns6gRan")
                            .AddConstructor<RanNetDevice>()
                            .AddAttribute("Mtu",
                                          "Largest packet the device takes (bytes)",
                                          UintegerValue(1500),
                                          MakeUintegerAccessor(&RanNetDevice::m_mtu),
                                          MakeUintegerChecker<uint16_t>(68))
                            .AddTraceSource("Tx",
                                            "A packet was handed to the RAN queue",
                                            MakeTraceSourceAccessor(&RanNetDevice::m_txTrace),
                                            "ns3::Packet::TracedCallback")
                            .AddTraceSource("Rx",
                                            "A packet arrived over the radio link",
                                            MakeTraceSourceAccessor(&RanNetDevice::m_rxTrace),
                                            "ns3::Packet::TracedCallback");
    return tid;
}

RanNetDevice::RanNetDevice()
    : m_address(ns3::Mac48Address::Allocate())
{
}

void
RanNetDevice::DoDispose()
{
    m_system = nullptr;
    m_node = nullptr;
    m_rxCallback = ReceiveCallback();
    m_promiscCallback = PromiscReceiveCallback();
    NetDevice::DoDispose();
}

void
RanNetDevice::Attach(ns3::Ptr<RanSystem> system, Role role, uint32_t index)
{
    m_system = system;
    m_role = role;
    m_index = index;
}

RanNetDevice::Role
RanNetDevice::GetRole() const
{
    return m_role;
}

uint32_t
RanNetDevice::GetIndex() const
{
    return m_index;
}

void
RanNetDevice::DeliverUp(ns3::Ptr<ns3::Packet> packet, uint16_t protocol)
{
    m_rxTrace(packet);
    if (!m_promiscCallback.IsNull())
    {
        m_promiscCallback(this, packet, protocol, m_address, m_address, NetDevice::PACKET_HOST);
    }
    if (!m_rxCallback.IsNull())
    {
        m_rxCallback(this, packet, protocol, m_address);
    }
}

bool
RanNetDevice::Send(ns3::Ptr<ns3::Packet> packet, const ns3::Address& /* dest */, uint16_t protocolNumber)
{
    if (!m_system || packet->GetSize() > m_mtu)
    {
        return false;
    }
    m_txTrace(packet);
    // A UE sends everything to its serving gNB; a gNB finds the UE by the packet's IPv4 destination.
    return m_role == Role::Ue ? m_system->EnqueueUplink(m_index, packet, protocolNumber)
                              : m_system->EnqueueDownlink(packet, protocolNumber);
}

bool
RanNetDevice::SendFrom(ns3::Ptr<ns3::Packet> packet,
                       const ns3::Address& /* source */,
                       const ns3::Address& dest,
                       uint16_t protocolNumber)
{
    return Send(packet, dest, protocolNumber);
}

void
RanNetDevice::SetIfIndex(const uint32_t index)
{
    m_ifIndex = index;
}

uint32_t
RanNetDevice::GetIfIndex() const
{
    return m_ifIndex;
}

ns3::Ptr<ns3::Channel>
RanNetDevice::GetChannel() const
{
    return nullptr; // the radio channel is the RanSystem's link model, not an ns3::Channel
}

void
RanNetDevice::SetAddress(ns3::Address address)
{
    m_address = ns3::Mac48Address::ConvertFrom(address);
}

ns3::Address
RanNetDevice::GetAddress() const
{
    return m_address;
}

bool
RanNetDevice::SetMtu(const uint16_t mtu)
{
    m_mtu = mtu;
    return true;
}

uint16_t
RanNetDevice::GetMtu() const
{
    return m_mtu;
}

bool
RanNetDevice::IsLinkUp() const
{
    return m_system != nullptr;
}

void
RanNetDevice::AddLinkChangeCallback(ns3::Callback<void> /* callback */)
{
}

bool
RanNetDevice::IsBroadcast() const
{
    return false;
}

ns3::Address
RanNetDevice::GetBroadcast() const
{
    return ns3::Mac48Address::GetBroadcast();
}

bool
RanNetDevice::IsMulticast() const
{
    return false;
}

ns3::Address
RanNetDevice::GetMulticast(ns3::Ipv4Address multicastGroup) const
{
    return ns3::Mac48Address::GetMulticast(multicastGroup);
}

ns3::Address
RanNetDevice::GetMulticast(ns3::Ipv6Address addr) const
{
    return ns3::Mac48Address::GetMulticast(addr);
}

bool
RanNetDevice::IsBridge() const
{
    return false;
}

bool
RanNetDevice::IsPointToPoint() const
{
    return true; // like LTE/NR devices: no ARP, one peer (the serving gNB) as seen from IP
}

ns3::Ptr<ns3::Node>
RanNetDevice::GetNode() const
{
    return m_node;
}

void
RanNetDevice::SetNode(ns3::Ptr<ns3::Node> node)
{
    m_node = node;
}

bool
RanNetDevice::NeedsArp() const
{
    return false;
}

void
RanNetDevice::SetReceiveCallback(ReceiveCallback cb)
{
    m_rxCallback = cb;
}

void
RanNetDevice::SetPromiscReceiveCallback(PromiscReceiveCallback cb)
{
    m_promiscCallback = cb;
}

bool
RanNetDevice::SupportsSendFrom() const
{
    return false;
}

} // namespace ns6g::ran
