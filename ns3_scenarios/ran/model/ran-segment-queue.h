// A drop-tail queue of packets that transport blocks take bytes from (segmentation), that gets the bytes
// of a failed block back at its head, and that says when a packet's last byte has been delivered
// (RLC-like). Used by the sidelink; the same logic as RanSystem's per-UE queues.
#pragma once

#include "ns3/packet.h"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

namespace ns6g::ran
{

/** A packet in a queue: bytes not yet sent and bytes not yet delivered. */
struct QueuedSdu
{
    ns3::Ptr<ns3::Packet> packet;
    uint16_t protocol{0};
    uint32_t unsent{0};
    uint32_t undelivered{0};
};

/** The bytes of one packet that one transport block carries. */
struct Segment
{
    std::shared_ptr<QueuedSdu> sdu;
    uint32_t bytes{0};
};

class SegmentQueue
{
  public:
    /** Append a packet unless that would exceed maxBytes queued (then false). */
    bool Push(ns3::Ptr<ns3::Packet> packet, uint16_t protocol, uint64_t maxBytes)
    {
        const uint32_t size = packet->GetSize();
        if (m_bytes + size > maxBytes)
        {
            return false;
        }
        m_queue.push_back(std::make_shared<QueuedSdu>(QueuedSdu{packet, protocol, size, size}));
        m_bytes += size;
        return true;
    }

    /** Take up to bits / 8 bytes from the head, splitting packets. */
    std::vector<Segment> Fill(uint64_t bits)
    {
        uint64_t room = bits / 8;
        std::vector<Segment> segments;
        while (room > 0 && !m_queue.empty())
        {
            auto& sdu = m_queue.front();
            const auto take = static_cast<uint32_t>(std::min<uint64_t>(room, sdu->unsent));
            sdu->unsent -= take;
            m_bytes -= take;
            room -= take;
            segments.push_back({sdu, take});
            if (sdu->unsent == 0)
            {
                m_queue.pop_front();
            }
        }
        return segments;
    }

    /** Put the segments of a block that HARQ gave up on back at the head, in order. */
    void Requeue(const std::vector<Segment>& segments)
    {
        for (auto it = segments.rbegin(); it != segments.rend(); ++it)
        {
            const bool queued = it->sdu->unsent > 0; // still at the head of the queue
            it->sdu->unsent += it->bytes;
            m_bytes += it->bytes;
            if (!queued)
            {
                m_queue.push_front(it->sdu);
            }
        }
    }

    /** Mark a decoded segment delivered; true when it completed its packet. */
    static bool Delivered(const Segment& segment)
    {
        segment.sdu->undelivered -= segment.bytes;
        return segment.sdu->undelivered == 0;
    }

    /** Bytes not yet sent once. */
    uint64_t Bytes() const
    {
        return m_bytes;
    }

    bool Empty() const
    {
        return m_queue.empty();
    }

  private:
    std::deque<std::shared_ptr<QueuedSdu>> m_queue;
    uint64_t m_bytes{0};
};

} // namespace ns6g::ran
