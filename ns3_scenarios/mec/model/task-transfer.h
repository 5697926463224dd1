// Task data on the wire: the bytes a MEC task sends (cut activations, inputs, results) as UDP datagrams
// of at most kMaxTaskDatagramBytes, each starting with a TaskWireHeader so the receiver can reassemble.
#pragma once

#include "ns3/address.h"
#include "ns3/packet.h"
#include "ns3/socket.h"

#include <cstdint>

namespace ns6g::mec
{

/** Largest UDP datagram of a transfer (bytes, header included); the RAN and backhaul MTU is 65 535. */
constexpr uint32_t kMaxTaskDatagramBytes = 60'000;

/** The header at the start of every task datagram (24 bytes, little-endian as on our only platform). */
struct TaskWireHeader
{
    uint64_t taskId;
    uint64_t totalBytes; //!< payload bytes of the whole transfer (headers not counted)
    uint32_t kind;       //!< the scenario's meaning, e.g. 0: uplink data, 1: result
    uint32_t device;     //!< the device the task belongs to
};
static_assert(sizeof(TaskWireHeader) == 24);

/**
 * Sends header.totalBytes payload bytes to `to` in datagrams of at most kMaxTaskDatagramBytes, each
 * with `header` in front (at least one datagram, even for 0 bytes). Aborts the simulation if the
 * socket refuses a datagram (a programming error: UDP sockets queue or drop, they do not refuse).
 */
void SendTaskTransfer(ns3::Ptr<ns3::Socket> socket, const ns3::Address& to, const TaskWireHeader& header);

/** Reads the header at the start of `packet`; false if the packet is shorter than a header. */
bool ReadTaskHeader(ns3::Ptr<const ns3::Packet> packet, TaskWireHeader& header);

} // namespace ns6g::mec
