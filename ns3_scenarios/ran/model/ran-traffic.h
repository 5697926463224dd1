// Traffic sources for RAN scenarios: bursts of UDP datagrams arriving as a Poisson process. One packet per
// arrival gives Poisson packet traffic; a file per arrival, sent at once, gives 3GPP FTP model 1
// (TR 36.814 Annex A.2.1.3.1: files of fixed size with exponential inter-arrival times).
#pragma once

#include "ns3/address.h"
#include "ns3/application.h"
#include "ns3/event-id.h"
#include "ns3/random-variable-stream.h"
#include "ns3/seq-ts-size-header.h"
#include "ns3/socket.h"
#include "ns3/traced-callback.h"

#include <cstdint>

namespace ns6g::ran
{

/**
 * Every exponential interval (mean MeanIntervalS), sends BurstBytes bytes to the peer as UDP datagrams of
 * at most DatagramBytes bytes, each starting with a SeqTsSizeHeader for the receiver's PacketSink.
 * Trace "TxWithSeqTsSize": every datagram as it is sent (the signature of OnOffApplication's).
 */
class BurstSource : public ns3::Application
{
  public:
    static ns3::TypeId GetTypeId();
    BurstSource();

    void SetPeer(const ns3::Address& peer);
    /** Assign the random stream of the inter-arrival times; returns 1. */
    int64_t AssignStreams(int64_t stream);

  private:
    void StartApplication() override;
    void StopApplication() override;
    void DoDispose() override;
    void Arrival();

    ns3::Address m_peer;
    double m_meanIntervalS;
    uint32_t m_burstBytes;
    uint32_t m_datagramBytes;
    ns3::Ptr<ns3::Socket> m_socket;
    ns3::Ptr<ns3::ExponentialRandomVariable> m_interval;
    ns3::EventId m_event;
    uint32_t m_seq{0};
    ns3::TracedCallback<ns3::Ptr<const ns3::Packet>, const ns3::Address&, const ns3::Address&,
                        const ns3::SeqTsSizeHeader&>
        m_txTrace;
};

} // namespace ns6g::ran
