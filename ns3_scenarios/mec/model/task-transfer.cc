#include "mec/model/task-transfer.h"

#include "ns3/fatal-error.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace ns6g::mec
{

void
SendTaskTransfer(ns3::Ptr<ns3::Socket> socket, const ns3::Address& to, const TaskWireHeader& header)
{
    const uint64_t maxChunk = kMaxTaskDatagramBytes - sizeof(TaskWireHeader);
    uint64_t sent = 0;
    do
    {
        const uint64_t chunk = std::min(maxChunk, header.totalBytes - sent);
        std::vector<uint8_t> buffer(sizeof(TaskWireHeader) + chunk, 0);
        std::memcpy(buffer.data(), &header, sizeof(TaskWireHeader));
        auto packet = ns3::Create<ns3::Packet>(buffer.data(), static_cast<uint32_t>(buffer.size()));
        if (socket->SendTo(packet, 0, to) < 0)
        {
            NS_FATAL_ERROR("task transfer: SendTo failed (errno " << socket->GetErrno() << ")");
        }
        sent += chunk;
    } while (sent < header.totalBytes);
}

bool
ReadTaskHeader(ns3::Ptr<const ns3::Packet> packet, TaskWireHeader& header)
{
    if (packet->GetSize() < sizeof(TaskWireHeader))
    {
        return false;
    }
    packet->CopyData(reinterpret_cast<uint8_t*>(&header), sizeof(TaskWireHeader));
    return true;
}

} // namespace ns6g::mec
