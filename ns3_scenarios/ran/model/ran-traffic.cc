#include "ran/model/ran-traffic.h"

#include "ns3/double.h"
#include "ns3/packet.h"
#include "ns3/seq-ts-size-header.h"
#include "ns3/simulator.h"
#include "ns3/trace-source-accessor.h"
#include "ns3/uinteger.h"
#include "ns3/udp-socket-factory.h"

#include <algorithm>

namespace ns6g::ran
{

NS_OBJECT_ENSURE_REGISTERED(BurstSource);

ns3::TypeId
BurstSource::GetTypeId()
{
    using namespace ns3;
    static TypeId tid = TypeId("ns6g::ran::BurstSource")
                            .SetParent<Application>()
                            .SetGroupName("Ns6gRan")
                            .AddConstructor<BurstSource>()
                            .AddAttribute("MeanIntervalS",
                                          "Mean time between bursts (s); exponential",
                                          DoubleValue(0.01),
                                          MakeDoubleAccessor(&BurstSource::m_meanIntervalS),
                                          MakeDoubleChecker<double>(1e-9))
                            .AddAttribute("BurstBytes",
                                          "Bytes sent per burst (one packet, or one file)",
                                          UintegerValue(1200),
                                          MakeUintegerAccessor(&BurstSource::m_burstBytes),
                                          MakeUintegerChecker<uint32_t>(1))
                            .AddAttribute("DatagramBytes",
                                          "Largest UDP payload per datagram (bytes)",
                                          UintegerValue(1200),
                                          MakeUintegerAccessor(&BurstSource::m_datagramBytes),
                                          MakeUintegerChecker<uint32_t>(32, 65'000))
                            .AddTraceSource("TxWithSeqTsSize",
                                            "A datagram sent, with its SeqTsSizeHeader (as OnOffApplication's)",
                                            MakeTraceSourceAccessor(&BurstSource::m_txTrace),
                                            "ns3::PacketSink::SeqTsSizeCallback");
    return tid;
}

BurstSource::BurstSource()
    : m_interval(ns3::CreateObject<ns3::ExponentialRandomVariable>())
{
}

void
BurstSource::SetPeer(const ns3::Address& peer)
{
    m_peer = peer;
}

int64_t
BurstSource::AssignStreams(int64_t stream)
{
    m_interval->SetStream(stream);
    return 1;
}

void
BurstSource::StartApplication()
{
    m_socket = ns3::Socket::CreateSocket(GetNode(), ns3::UdpSocketFactory::GetTypeId());
    m_socket->Bind();
    m_socket->Connect(m_peer);
    m_interval->SetAttribute("Mean", ns3::DoubleValue(m_meanIntervalS));
    m_event = ns3::Simulator::Schedule(ns3::Seconds(m_interval->GetValue()), &BurstSource::Arrival, this);
}

void
BurstSource::StopApplication()
{
    m_event.Cancel();
    if (m_socket)
    {
        m_socket->Close();
    }
}

void
BurstSource::DoDispose()
{
    m_event.Cancel();
    m_socket = nullptr;
    m_interval = nullptr;
    Application::DoDispose();
}

void
BurstSource::Arrival()
{
    ns3::SeqTsSizeHeader probe;
    const uint32_t headerBytes = probe.GetSerializedSize();
    uint32_t left = m_burstBytes;
    while (left > 0)
    {
        uint32_t size = std::max(headerBytes, std::min(left, m_datagramBytes));
        ns3::SeqTsSizeHeader header; // time stamp: now, the burst's arrival
        header.SetSeq(m_seq++);
        header.SetSize(size);
        ns3::Ptr<ns3::Packet> packet = ns3::Create<ns3::Packet>(size - headerBytes);
        packet->AddHeader(header);
        m_txTrace(packet, ns3::Address(), m_peer, header);
        m_socket->Send(packet);
        left -= std::min(left, size);
    }
    m_event = ns3::Simulator::Schedule(ns3::Seconds(m_interval->GetValue()), &BurstSource::Arrival, this);
}

} // namespace ns6g::ran
