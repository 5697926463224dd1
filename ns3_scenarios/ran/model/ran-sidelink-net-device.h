// The sidelink network interface of a UE: IP hands it packets, it queues them on the RanSidelink link to
// the UE that owns the packet's IPv4 destination (a neighbour's sidelink address), or else to its
// default peer (the relay of a remote UE); they come out of the peer's device when the sidelink
// transport blocks carrying them decode. Reception, addresses and MTU are RanNetDevice's.
#pragma once

#include "ran/model/ran-net-device.h"

#include <cstdint>
#include <optional>

namespace ns6g::ran
{

class RanSidelink;

class SidelinkNetDevice : public RanNetDevice
{
  public:
    static ns3::TypeId GetTypeId();

    /** Join `sidelink` as UE `ue`. */
    void AttachSidelink(ns3::Ptr<RanSidelink> sidelink, uint32_t ue);
    /** Where packets for addresses no UE owns go (the relay); nullopt: such packets are refused. */
    void SetDefaultPeer(std::optional<uint32_t> ue);
    std::optional<uint32_t> GetDefaultPeer() const;
    uint32_t GetUe() const;

    // ns3::NetDevice
    bool Send(ns3::Ptr<ns3::Packet> packet, const ns3::Address& dest, uint16_t protocolNumber) override;
    bool SendFrom(ns3::Ptr<ns3::Packet> packet,
                  const ns3::Address& source,
                  const ns3::Address& dest,
                  uint16_t protocolNumber) override;

  protected:
    void DoDispose() override;

  private:
    ns3::Ptr<RanSidelink> m_sidelink;
    uint32_t m_ue{0};
    std::optional<uint32_t> m_defaultPeer;
};

} // namespace ns6g::ran
