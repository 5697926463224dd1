// The records of fl-network's message channel (ns6g.learners.cosim.CoSimNetwork reads and writes them by
// the field names and dtypes fl-network registers; docs/cosim.md). Plain structs: their layout is the wire
// format, so keep every field, its type and its order.
#pragma once

#include <cstdint>

namespace ns6g::fl
{

struct DependencyRecord
{
    uint64_t op;
    uint64_t after;
};

enum OpKind : uint32_t
{
    kTransfer = 0,
    kCompute = 1,
};

struct OpRecord
{
    uint64_t id;
    uint32_t kind;  //!< OpKind
    uint32_t node;  //!< transfer: source node; compute: the node
    uint32_t dst;   //!< transfer: destination node; compute: unused
    uint32_t pad;
    uint64_t bytes; //!< transfer payload bytes
    double flops;   //!< compute FLOPs
};

struct RunRecord
{
    uint64_t op;
    uint32_t anyOf; //!< 0: all of the listed ops, 1: any of them (the same in every record)
    uint32_t pad;
};

struct UplinkShareRecord
{
    uint32_t client;
    uint32_t pad;
    double share; //!< (0, 1]; < 0: automatic
};

struct DisconnectRecord
{
    uint32_t client;
    uint32_t pad;
    double atS;
};

/** A D2D sidelink (tx -> rx, client indices) whose state is asked for (fl-network with --sidelink). */
struct SidelinkQueryRecord
{
    uint32_t tx;
    uint32_t rx;
};

struct SidelinkStateRecord
{
    uint32_t tx;
    uint32_t rx;
    double rateBps;           //!< noise-limited rate estimate on all sub-channels (RanSidelink::EstimateRateBps)
    uint64_t deliveredBytes;  //!< packet bytes decoded on the link since the reset (IP/UDP/task headers included)
    uint64_t transmissions;   //!< transmissions (first and HARQ) since the reset
    uint64_t failedTransmissions; //!< of which did not decode
    uint64_t droppedBytes;    //!< bytes a full sidelink queue refused
};

struct ChannelQueryRecord
{
    uint32_t client; //!< client index whose channel state is asked for
    uint32_t pad;
};

struct ChannelStateRecord
{
    uint32_t client;
    uint32_t cell;         //!< serving cell index
    double rsrpDbm;        //!< reference signal received power from the serving cell (dBm)
    double uplinkRateBps;  //!< uplink goodput (bit/s) alone in the cell, on the RBGs its power supports
    uint32_t cqi;          //!< wideband uplink CQI: the mean over the cell's RBGs, rounded
    uint32_t linkFailed;   //!< 1 after a radio link failure
    uint32_t ulRbgs;       //!< RBGs the client's power supports (power headroom): its most alone
    uint32_t pad;
};

struct LinkFailureQueryRecord
{
    uint32_t pad;
};

struct LinkFailureRecord
{
    uint32_t client;
    uint32_t pad;
    double atS; //!< simulated time of the radio link failure (s)
};

/** Why an op failed (CompletionRecord::cause). */
enum FailureCause : uint32_t
{
    kNoFailure = 0,
    kDisconnected = 1,      //!< its node was disconnected (`disconnect` record)
    kRadioLinkFailure = 2,  //!< its node's radio link failed
    kDependencyFailed = 3,  //!< an op it waited for failed
};

struct CompletionRecord
{
    uint64_t op;
    double startS;
    double endS;
    double energyJ;
    double queueS; //!< computations: time waiting for the processor (start to first service); else 0
    uint32_t ok;
    uint32_t cause; //!< FailureCause
};

} // namespace ns6g::fl
