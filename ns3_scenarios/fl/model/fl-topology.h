// What fl-network's model classes (FlOperationEngine, FlUplinkScheduler) run on, and the error they raise
// for a request they refuse. See fl-operation-engine.h and docs/cosim.md.
#pragma once

#include "mec/model/device-catalogue.h"
#include "ran/model/ran-carrier.h"
#include "ran/model/ran-link.h"
#include "ran/model/ran-system.h"

#include "ns3/internet-module.h"
#include "ns3/network-module.h"

#include <cstdint>
#include <stdexcept>
#include <vector>

namespace ns6g::fl
{

/** A request the engine refuses (bad ids, nodes, shares, times) or a run that cannot finish; what() says
 *  why. fl-network answers it as the bridge's InvalidRequest. */
class FlRequestError : public std::invalid_argument
{
  public:
    using std::invalid_argument::invalid_argument;
};

/** What the engine runs on, built by the scenario for each episode. */
struct FlTopology
{
    uint32_t clients{0};                           //!< node indices 0..clients-1 are the clients (UEs)
    uint32_t cells{0};                             //!< cells of the RAN
    std::vector<ns3::Ptr<ns3::Node>> nodes;        //!< per node index: clients, edge servers, the cloud
    std::vector<ns3::Ipv4Address> addresses;       //!< per node index: where transfers to it are sent
    /** per client: its D2D sidelink address; client -> client transfers go there (over the sidelink, not
     *  the RAN). Empty: no sidelink (client -> client goes up to the gNB and down again). */
    std::vector<ns3::Ipv4Address> sidelinkAddresses;
    std::vector<mec::Device> devices;              //!< per node index: the catalogue device of its Processor
    ns3::Ptr<ran::RanLink> link;                   //!< the clients' radio link (power headroom)
    ns3::Ptr<ran::RanSystem> system;               //!< the RAN (uplink allocation, energy, serving cells)
    ns3::Ptr<ns3::Node> uplinkContext;             //!< node whose context runs the uplink scheduler (a gNB)
    ran::Carrier carrier;                          //!< RBGs and slot duration
    double runLimitS{1e6};                         //!< a Run not satisfied after this much simulated time fails
};

} // namespace ns6g::fl
