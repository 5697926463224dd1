// FlOperationEngine: the operations of fl-network's co-simulated learner jobs (ns6g.learners.cosim). A
// learner submits transfers of a true byte size between two nodes and computations of a FLOP count on one
// node, with dependencies, and runs the simulation until all or any of a set of them completed; the engine
// reports per operation when it started and ended in simulated time, the energy it cost its device and
// whether it succeeded. What is the scenario's own stays there (fl-network.cc): the topology, the bridge
// messages and their record types, the channel-state query, and main(). See docs/cosim.md.
//
// Nodes are numbered clients (UEs, 0..clients-1), then edge servers, then the cloud; each has a Processor
// from its catalogue device and a UDP socket the engine creates at Setup.
//
// Operations (ids 1, 2, 3, ... in submission order; an op starts when all its dependencies completed):
//   * transfer(src, dst, bytes): a real UDP flow in task-transfer format (60 000-byte datagrams, 24-byte
//     header: op id, burst bytes, kind 0, src node) from src's socket to dst's, routed by the topology.
//     Sent in bursts of about 1 MB, at most 4 of them unreceived at once (window released by the
//     receiver's progress). Done when dst has received every payload byte. src == dst completes at once
//     with no packets. Energy: radio senders (clients) pay the transmit energy of the uplink slots they
//     transmitted in while the transfer was in flight, each slot at the power actually sent, shared
//     between the client's uplink transfers in flight in proportion to the bytes each delivered
//     meanwhile; wired senders pay 0.
//   * compute(node, flops): the node's Processor runs the FLOPs (queueing FIFO behind its other work);
//     energy flops x the device's J/FLOP. Its completion's queue_s is the time it waited for the
//     processor (start to first service), so end - start - queue_s is its service time flops / FLOP/s.
// A dropped packet (RanSystem "Drop", or NotifyDrop from the scenario's queues) ends the run with an
// error rather than a transfer that never completes.
// Uplink scheduling: FlUplinkScheduler (fl-uplink-scheduler.h) gives each cell's RBGs to its uploading
//   clients by their shares, every slot while any client uploads.
// Disconnects (ScheduleDisconnects, or the RanSystem's radio link failure, cause 2): the client's
//   operations in flight and waiting fail then, so do their dependants and every later operation that
//   involves it until it reconnects; it gets no more uplink RBGs and its transfers send no more bursts.
// Reconnects (ScheduleReconnects): a client that left by a disconnect (not a radio link failure) takes
//   part again; operations submitted from then on run (what failed stays failed).
// Sidelink (topology.sidelinkAddresses not empty): a client -> client transfer goes to the receiver's
//   sidelink address, over the D2D sidelink; it is not a RAN uplink (no RBGs, no uplink energy: it costs
//   0 here, its transmit energy is the caller's to estimate).
#pragma once

#include "fl/model/fl-records.h"
#include "fl/model/fl-uplink-scheduler.h"
#include "mec/model/device-catalogue.h"
#include "mec/model/processor.h"
#include "ran/model/ran-carrier.h"
#include "ran/model/ran-link.h"
#include "ran/model/ran-system.h"

#include "ns3/core-module.h"
#include "ns3/internet-module.h"
#include "ns3/network-module.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace ns6g::fl
{

/** Where an op is. */
enum class OpState : uint8_t
{
    kUnknown = 0, //!< id not submitted yet
    kWaiting,     //!< dependencies not complete
    kRunning,
    kDone,
    kFailed,
};

struct Op
{
    uint64_t id{0};
    OpKind kind{kTransfer};
    uint32_t node{0};
    uint32_t dst{0};
    uint64_t bytes{0};
    double flops{0.0};
    uint32_t waitingFor{0};            //!< dependencies not yet complete
    std::vector<uint64_t> dependants;  //!< ops that wait for this one
    ns3::Time start;
    std::optional<ns3::Time> serviceStart;  //!< computations: when the processor began serving it
    uint64_t sent{0};                  //!< payload bytes handed to the socket
    uint64_t received{0};
    bool sendScheduled{false};         //!< a SendBursts event is pending
    double txEnergyJ{0.0};             //!< uplink transmit energy charged to this transfer (J)
    uint64_t chargedBytes{0};          //!< `received` when transmit energy was last shared out
};

/** Per client: its uplink transfers in flight, the transmit energy already charged, whether it left. */
struct ClientRadio
{
    std::vector<uint64_t> uplinks;
    double chargedEnergyJ{0.0};
    bool connected{true};
    FailureCause leftFor{kNoFailure}; //!< why it left, once disconnected
};

/**
 * The operation engine of fl-network (see the top of this file). One engine serves every episode of a
 * scenario process: Setup starts an episode on a freshly built topology.
 */
class FlOperationEngine
{
  public:
    /** Starts an episode on `topology`: processors, sockets, uplink allocation; no operations, shares or
     *  disconnects. Connects the RanSystem's Drop and RadioLinkFailure traces. */
    void Setup(FlTopology topology);

    /** Dependency edges (op, after) of operations about to be submitted; throws FlRequestError. */
    void AddDependencies(const DependencyRecord* records, size_t count);
    /** Submits operations (ids must continue the sequence); throws FlRequestError. */
    void Submit(const OpRecord* records, size_t count);
    /** Runs the simulation until all (any_of 0) or any (any_of 1) of the listed ops completed or failed;
     *  throws FlRequestError after a drop or past runLimitS. */
    void Run(const RunRecord* records, size_t count);
    /** Every op that completed or failed since the last call, in completion order. */
    std::vector<CompletionRecord> TakeCompletions();
    /** Sets clients' uplink shares (FlUplinkScheduler::SetShares); throws FlRequestError. */
    void SetShares(const UplinkShareRecord* records, size_t count);
    /** Schedules clients' disconnects at at_s (>= now); throws FlRequestError. */
    void ScheduleDisconnects(const DisconnectRecord* records, size_t count);
    /** Schedules reconnects at at_s (>= now) of clients that left by a disconnect; throws FlRequestError. */
    void ScheduleReconnects(const DisconnectRecord* records, size_t count);
    /** This episode's radio link failures, in order. */
    const std::vector<LinkFailureRecord>& LinkFailures() const;
    /** A queue dropped a packet: the current run stops and fails (queues are meant never to drop). */
    void NotifyDrop(ns3::Ptr<const ns3::Packet> packet);

  private:
    uint32_t NodeCount() const;
    ns3::Ptr<ns3::Node> NodeOf(uint32_t index) const;
    void OnRadioLinkFailure(uint32_t ue, uint32_t cell, uint32_t direction);
    OpState StateOf(uint64_t id) const;
    void CheckOp(const OpRecord& r, uint64_t expectedId) const;
    std::vector<uint32_t> Disconnected() const;
    FailureCause CauseOf(const Op& op) const;
    bool Involves(const Op& op, const std::vector<uint32_t>& clients) const;
    void ScheduleStart(uint64_t id);
    void Start(uint64_t id);
    void SendBursts(uint64_t id);
    void OnReceive(ns3::Ptr<ns3::Socket> socket);
    void OnServiceStart(uint32_t node, uint64_t task);
    void ChargeAirTime(uint32_t client, bool final = false);
    double Settle(Op& op);
    void Complete(uint64_t id);
    void Fail(uint64_t id, FailureCause cause);
    void Record(const Op& op, ns3::Time start, double energyJ, FailureCause cause);
    void Disconnect(uint32_t client, FailureCause cause);
    void Reconnect(uint32_t client);
    /** A client -> client transfer when the clients have a sidelink. */
    bool OverSidelink(const Op& op) const;
    /** Where the transfer's datagrams go: the receiver's sidelink address over a sidelink, else its address. */
    ns3::Ipv4Address DestinationOf(const Op& op) const;
    /** Checks at_s of disconnect / reconnect records (what names the request in the error). */
    void CheckClientTimes(const DisconnectRecord* records, size_t count, const char* what) const;

    FlTopology m_topology;
    std::vector<ns3::Ptr<mec::Processor>> m_processors; //!< per node index
    std::vector<std::unordered_map<uint64_t, uint64_t>> m_taskOps; //!< per node: task id -> op, until served
    std::vector<uint64_t> m_tasksSubmitted;      //!< per node: tasks submitted to its processor
    std::vector<ns3::Ptr<ns3::Socket>> m_sockets; //!< per node index
    FlUplinkScheduler m_uplink;                  //!< the clients' uplink RBGs

    std::unordered_map<uint64_t, Op> m_ops;      //!< waiting and running ops
    std::vector<OpState> m_state;                //!< per id (index 0 unused)
    std::unordered_map<uint64_t, std::vector<uint64_t>> m_pendingDeps; //!< op not yet submitted -> its deps
    std::vector<CompletionRecord> m_done;        //!< since the last run reply, in completion order
    std::vector<ClientRadio> m_radio;            //!< per client
    std::set<uint64_t> m_waitFor;
    bool m_waitAny{false};
    int m_waitLeft{0};
    uint64_t m_dropped{0};
    uint32_t m_disconnected{0}; //!< clients that left
    std::vector<LinkFailureRecord> m_linkFailures; //!< this episode's radio link failures, in order
};

} // namespace ns6g::fl
