// The network interface of a gNB (one per cell) or a UE on ns6g's 6G RAN. It carries real ns-3
// packets: Send() hands them to the RanSystem's per-UE queue of the right direction; they come out of
// the peer's device once the transport blocks carrying them decode.
#pragma once

#include "ns3/mac48-address.h"
#include "ns3/net-device.h"
#include "ns3/node.h"
#include "ns3/packet.h"
#include "ns3/traced-callback.h"

#include <cstdint>

namespace ns6g::ran
{

class RanSystem;

class RanNetDevice : public ns3::NetDevice
{
  public:
    enum class Role
    {
        Gnb,
        Ue,
    };

    static ns3::TypeId GetTypeId();
    RanNetDevice();

    /** Join `system` as the gNB of cell `index` or as UE `index`. */
    void Attach(ns3::Ptr<RanSystem> system, Role role, uint32_t index);
    Role GetRole() const;
    uint32_t GetIndex() const;

    /** A packet that crossed the radio link arrives here (called by RanSystem). */
    void DeliverUp(ns3::Ptr<ns3::Packet> packet, uint16_t protocol);

    // ns3::NetDevice
    void SetIfIndex(const uint32_t index) override;
    uint32_t GetIfIndex() const override;
    ns3::Ptr<ns3::Channel> GetChannel() const override;
    void SetAddress(ns3::Address address) override;
    ns3::Address GetAddress() const override;
    bool SetMtu(const uint16_t mtu) override;
    uint16_t GetMtu() const override;
    bool IsLinkUp() const override;
    void AddLinkChangeCallback(ns3::Callback<void> callback) override;
    bool IsBroadcast() const override;
    ns3::Address GetBroadcast() const override;
    bool IsMulticast() const override;
    ns3::Address GetMulticast(ns3::Ipv4Address multicastGroup) const override;
    ns3::Address GetMulticast(ns3::Ipv6Address addr) const override;
    bool IsBridge() const override;
    bool IsPointToPoint() const override;
    bool Send(ns3::Ptr<ns3::Packet> packet, const ns3::Address& dest, uint16_t protocolNumber) override;
    bool SendFrom(ns3::Ptr<ns3::Packet> packet,
                  const ns3::Address& source,
                  const ns3::Address& dest,
                  uint16_t protocolNumber) override;
    ns3::Ptr<ns3::Node> GetNode() const override;
    void SetNode(ns3::Ptr<ns3::Node> node) override;
    bool NeedsArp() const override;
    void SetReceiveCallback(ReceiveCallback cb) override;
    void SetPromiscReceiveCallback(PromiscReceiveCallback cb) override;
    bool SupportsSendFrom() const override;

  protected:
    void DoDispose() override;

  private:
    ns3::Ptr<RanSystem> m_system;
    Role m_role{Role::Ue};
    uint32_t m_index{0};
    ns3::Ptr<ns3::Node> m_node;
    uint32_t m_ifIndex{0};
    ns3::Mac48Address m_address;
    uint16_t m_mtu{1500};
    ReceiveCallback m_rxCallback;
    PromiscReceiveCallback m_promiscCallback;
    ns3::TracedCallback<ns3::Ptr<const ns3::Packet>> m_txTrace;
    ns3::TracedCallback<ns3::Ptr<const ns3::Packet>> m_rxTrace;
};

} // namespace ns6g::ran
