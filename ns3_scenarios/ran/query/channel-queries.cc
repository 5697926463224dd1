// Queries of the RAN channel model (see ran-query.h and ran/model/ran-channel.h):
//
//   pathloss            -> pathloss_result            PathLossDb (ns-3's 38.901 models; sub-THz above 100 GHz)
//   los_probability     -> los_probability_result     LosProbability (ns-3's condition models)
//   gaseous_absorption  -> gaseous_absorption_result  GaseousAbsorptionDbPerKm (ITU-R P.676 table)
//   fast_fading         -> fast_fading_result         one gNB-UE link of a RanChannel at a given time
//   channel_refresh_cost -> channel_refresh_cost_result wall-clock cost of refreshing a 7-cell layout
//   fading_path_check   -> fading_path_check_result   RanChannel's FastFadingPath ns6g against ns3, value by value
//
// Records are plain structs: 8-byte fields first, then narrower ones, with explicit padding to a multiple
// of 8 bytes, so that the C++ layout is the one the offsets below declare (static_asserts check it).
// A bad value throws ns6g::InvalidRequest naming the record, the field and the value; the scenario lives on.
#include "ran/model/ran-channel.h"
#include "ran/query/ran-query.h"

#include "ns3/boolean.h"
#include "ns3/constant-velocity-mobility-model.h"
#include "ns3/double.h"
#include "ns3/node.h"
#include "ns3/random-variable-stream.h"
#include "ns3/simulator.h"
#include "ns3/string.h"
#include "ns3/uinteger.h"

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using namespace ns3;

namespace ns6g::ran
{

namespace
{

struct PathLossRequest
{
    double frequencyHz;
    double d2dM;
    double hBsM;
    double hUtM;
    uint32_t scenario;
    uint8_t los;
    uint8_t pad[3];
};

static_assert(sizeof(PathLossRequest) == 40 && offsetof(PathLossRequest, scenario) == 32 &&
              offsetof(PathLossRequest, los) == 36);

struct PathLossResult
{
    double pathlossDb;
};

struct LosProbabilityRequest
{
    double d2dM;
    double hUtM;
    uint32_t scenario;
    uint32_t pad;
};

static_assert(sizeof(LosProbabilityRequest) == 24 && offsetof(LosProbabilityRequest, scenario) == 16);

struct LosProbabilityResult
{
    double probability;
};

struct GaseousAbsorptionRequest
{
    double frequencyHz;
};

struct GaseousAbsorptionResult
{
    double dbPerKm;
};

struct FastFadingRequest
{
    double frequencyHz;
    double d2dM;
    double hBsM;
    double hUtM;
    double timeS;         // simulated time of the evaluation, from the link's creation
    double updatePeriodS;      // RanChannel UpdatePeriod (s); 0: the attribute's default
    double realizationPeriodS; // RanChannel RealizationPeriod (s); 0: the attribute's default
    double scattererSpeedMps;  // RanChannel ScattererSpeedMps (m/s)
    double ueSpeedMps;         // UE speed (m/s) along +y (perpendicular to the link)
    double rbBandwidthHz;      // 0: 360 kHz
    uint32_t scenario;
    uint32_t numRbs;      // 0: 52
    uint32_t rbGroupSize; // 0: 1
    uint16_t gnbRows;     // 0: 1
    uint16_t gnbColumns;  // 0: 1
    uint16_t ueRows;      // 0: 1
    uint16_t ueColumns;   // 0: 1
    uint8_t los;          // 0 NLoS, 1 LoS, 2 drawn by the 38.901 condition model
    uint8_t isotropic;    // 1: isotropic elements at both ends; 0: 3GPP gNB elements, isotropic UE
    uint8_t fastFading;   // 1: fast fading on (the query's purpose); 0: LoS array gain only
    uint8_t pad[5];
};

static_assert(sizeof(FastFadingRequest) == 112 && offsetof(FastFadingRequest, scenario) == 80 &&
              offsetof(FastFadingRequest, gnbRows) == 92 && offsetof(FastFadingRequest, los) == 100);

struct FastFadingResult
{
    double meanGainDb;     // 10 log10 of the mean linear gain over the RBs
    double minGainDb;      // smallest RB gain
    double maxGainDb;      // largest RB gain
    double firstRbGainDb;  // gain of RB 0
    double largeScaleLossDb; // the link's large-scale loss (path loss + shadowing) in the same epoch
    uint64_t epoch;        // index of the update period the evaluation fell in
    uint64_t realization;  // index of the realization period the evaluation fell in
    uint8_t los;           // the link's LoS state
    uint8_t pad[7];
};

static_assert(sizeof(FastFadingResult) == 64);

struct RefreshCostRequest
{
    double frequencyHz;
    double bandwidthHz;
    double rbBandwidthHz;
    double isdM;               // inter-site distance (m)
    double updatePeriodS;      // 0: RanChannel's default
    double realizationPeriodS; // 0: RanChannel's default
    double ueSpeedMps;         // UE speed (m/s), random direction
    double scattererSpeedMps;  // RanChannel ScattererSpeedMps (m/s)
    uint32_t scenario;
    uint32_t uesPerCell;
    uint32_t numRbs;
    uint32_t rbGroupSize; // 0: RanChannel's default
    uint32_t updates;     // update periods to time (the first is not counted)
    uint16_t gnbRows;
    uint16_t gnbColumns;
    uint16_t ueRows;
    uint16_t ueColumns;
    uint8_t allLinks; // 1: every gNB-UE pair (interference included); 0: serving links only
    uint8_t pad[3];
};

static_assert(sizeof(RefreshCostRequest) == 96 && offsetof(RefreshCostRequest, gnbRows) == 84 &&
              offsetof(RefreshCostRequest, allLinks) == 92);

struct RefreshCostResult
{
    double realizationRefreshS; // mean wall-clock time (s) of a refresh that draws new realizations
    double updateRefreshS;      // mean wall-clock time (s) of a refresh within a realization (NaN: none)
    double largeScaleRefreshS;  // mean wall-clock time (s) of a large-scale refresh of every link
    double perLinkRealizationUs; // realizationRefreshS per link (us)
    double firstRefreshS;       // the first (uncounted) refresh, with one-time set-up (s)
    uint64_t links;             // links refreshed each time
    uint64_t evaluations;       // ns-3 fast-fading evaluations over the counted refreshes
};

static_assert(sizeof(RefreshCostResult) == 56);

struct FadingPathCheckRequest
{
    double frequencyHz;
    double rbBandwidthHz;      // 0: 360 kHz
    double maxDistanceM;       // UEs at 2D distances in [maxDistanceM / 10, maxDistanceM] from gNB 0
    double ueSpeedMps;         // every UE moves at this speed, each in a direction of its own
    double scattererSpeedMps;  // RanChannel ScattererSpeedMps (m/s)
    double updatePeriodS;      // 0: RanChannel's default
    double realizationPeriodS; // 0: RanChannel's default
    uint32_t scenario;
    uint32_t numRbs;      // 0: 52
    uint32_t rbGroupSize; // 0: RanChannel's default
    uint32_t ues;         // UEs (each linked to both gNBs)
    uint32_t updates;     // update periods evaluated (the first starts a realisation period)
    uint32_t stream;      // random stream of both channels (AssignStreams)
    uint16_t gnbRows;
    uint16_t gnbColumns;
    uint16_t ueRows;
    uint16_t ueColumns;
    uint8_t los;               // 0 NLoS, 1 LoS, 2 drawn by the 38.901 condition model
    uint8_t gnbIsotropic;      // 1: isotropic gNB elements; 0: 3GPP
    uint8_t ueIsotropic;       // 1: isotropic UE elements; 0: 3GPP
    uint8_t interference;      // 1: also the gNB beam pointed at another UE (interference links)
    uint8_t linkFadingStreams; // RanChannel LinkFadingStreams
    uint8_t pad[3];
};

static_assert(sizeof(FadingPathCheckRequest) == 96 && offsetof(FadingPathCheckRequest, scenario) == 56 &&
              offsetof(FadingPathCheckRequest, gnbRows) == 80 && offsetof(FadingPathCheckRequest, los) == 88);

struct FadingPathCheckResult
{
    double maxAbsDiffDb;    // largest |ns6g - ns3| over the RB gains (dB)
    double maxAbsDiffPsd;   // largest |ns6g - ns3| over the per-band linear PSDs
    uint64_t unequalGains;  // RB gains whose bits differ
    uint64_t unequalPsd;    // band PSDs whose bits differ
    uint64_t gainsCompared; // RB gains compared
    uint64_t psdCompared;   // band PSDs compared
    uint64_t evaluations;   // fast-fading evaluations of the ns6g channel
    uint64_t evaluationsNs3; // ... and of the ns3 channel (the same when both cache alike)
    uint64_t realizations;  // distinct realisation periods evaluated
    uint64_t losLinks;      // gNB-UE links in LoS at the last update (the ns3 channel)
    uint64_t nlosLinks;     // ... in NLoS
    uint64_t unequalLos;    // link states that differ between the two channels
    uint64_t matrices;      // channel matrices computed by the ns6g channel (EpochChannelModel's own)
    uint64_t matricesNs3;   // ... and by the ns3 channel (ns-3's GetNewChannel)
    uint64_t matricesReused; // ns6g matrices asked for again whose scattered clusters were reused
    uint64_t avxKernels;     // 1: the ns6g channel's band sums and long terms ran per AVX instruction
};

static_assert(sizeof(FadingPathCheckResult) == 128);

/** Runs `f`, turning a std::invalid_argument into an InvalidRequest naming the query and the record. */
template <class F>
auto
Checked(const std::string& query, size_t index, F&& f)
{
    try
    {
        return f();
    }
    catch (const std::invalid_argument& e)
    {
        throw InvalidRequest(query + " record " + std::to_string(index) + ": " + e.what());
    }
}

Scenario
CheckedScenario(const std::string& query, size_t index, uint32_t code)
{
    return Checked(query, index, [code] { return ScenarioFromCode(code); });
}

void
CheckFlag(const std::string& query, size_t index, const char* field, uint8_t value, uint8_t max = 1)
{
    if (value > max)
    {
        throw InvalidRequest(query + " record " + std::to_string(index) + ": " + field + " = " +
                             std::to_string(value) + " must be 0.." + std::to_string(max));
    }
}

Message
AnswerPathLoss(const Message& request)
{
    const auto* r = request.Records<PathLossRequest>();
    std::vector<PathLossResult> out(request.count);
    for (size_t i = 0; i < request.count; ++i)
    {
        Scenario s = CheckedScenario("pathloss", i, r[i].scenario);
        CheckFlag("pathloss", i, "los", r[i].los);
        out[i].pathlossDb = Checked("pathloss", i, [&] {
            return PathLossDb(s, r[i].frequencyHz, r[i].d2dM, r[i].hBsM, r[i].hUtM, r[i].los != 0);
        });
    }
    return Message::From("pathloss_result", out);
}

Message
AnswerLosProbability(const Message& request)
{
    const auto* r = request.Records<LosProbabilityRequest>();
    std::vector<LosProbabilityResult> out(request.count);
    for (size_t i = 0; i < request.count; ++i)
    {
        Scenario s = CheckedScenario("los_probability", i, r[i].scenario);
        out[i].probability =
            Checked("los_probability", i, [&] { return LosProbability(s, r[i].d2dM, r[i].hUtM); });
    }
    return Message::From("los_probability_result", out);
}

Message
AnswerGaseousAbsorption(const Message& request)
{
    const auto* r = request.Records<GaseousAbsorptionRequest>();
    std::vector<GaseousAbsorptionResult> out(request.count);
    for (size_t i = 0; i < request.count; ++i)
    {
        out[i].dbPerKm =
            Checked("gaseous_absorption", i, [&] { return GaseousAbsorptionDbPerKm(r[i].frequencyHz); });
    }
    return Message::From("gaseous_absorption_result", out);
}

/** A node at `position` (m) moving at `velocity` (m/s). */
Ptr<Node>
MakeNode(const Vector& position, const Vector& velocity = Vector(0.0, 0.0, 0.0))
{
    Ptr<Node> node = CreateObject<Node>();
    Ptr<ConstantVelocityMobilityModel> mobility = CreateObject<ConstantVelocityMobilityModel>();
    mobility->SetPosition(position);
    mobility->SetVelocity(velocity);
    node->AggregateObject(mobility);
    return node;
}

/** The first epoch boundary strictly after now, so that a query's times start on a fresh epoch. */
Time
NextEpochStart(Time period)
{
    const int64_t now = Simulator::Now().GetTimeStep();
    const int64_t p = period.GetTimeStep();
    return TimeStep((now / p + 1) * p);
}

/** One link of the fast_fading query: its channel and the two nodes. */
struct FastFadingLink
{
    Ptr<RanChannel> channel;
    Ptr<Node> gnb;
    Ptr<Node> ue;
    Time start;
};

Message
AnswerFastFading(const Message& request)
{
    const std::string q = "fast_fading";
    const auto* r = request.Records<FastFadingRequest>();
    std::vector<FastFadingResult> out(request.count);
    // Records that differ only in time_s share one link, so that they see one channel's evolution.
    std::map<std::string, FastFadingLink> links;
    std::vector<FastFadingLink*> linkOf(request.count);
    for (size_t i = 0; i < request.count; ++i)
    {
        const FastFadingRequest& x = r[i];
        Scenario s = CheckedScenario(q, i, x.scenario);
        CheckFlag(q, i, "los", x.los, 2);
        CheckFlag(q, i, "isotropic", x.isotropic);
        CheckFlag(q, i, "fast_fading", x.fastFading);
        Checked(q, i, [&] {
            CheckFrequency(s, x.frequencyHz);
            CheckLinkGeometry(s, x.d2dM, x.hBsM, x.hUtM);
            return 0;
        });
        auto bad = [&](const std::string& what) {
            throw InvalidRequest(q + " record " + std::to_string(i) + ": " + what);
        };
        if (!std::isfinite(x.timeS) || x.timeS < 0.0 || x.timeS > 1e6)
        {
            bad("time_s = " + std::to_string(x.timeS) + " must be in [0, 1e6] s");
        }
        for (auto [field, value] : {std::pair{"update_period_s", x.updatePeriodS},
                                    std::pair{"realization_period_s", x.realizationPeriodS}})
        {
            if (!std::isfinite(value) || value < 0.0 || value > 1e3 || (value > 0.0 && value < 1e-6))
            {
                bad(std::string(field) + " = " + std::to_string(value) +
                    " must be 0 (default) or in [1e-6, 1e3] s");
            }
        }
        for (auto [field, value] : {std::pair{"scatterer_speed_mps", x.scattererSpeedMps},
                                    std::pair{"ue_speed_mps", x.ueSpeedMps}})
        {
            if (!std::isfinite(value) || value < 0.0 || value > 1000.0)
            {
                bad(std::string(field) + " = " + std::to_string(value) + " must be in [0, 1000] m/s");
            }
        }
        if (!std::isfinite(x.rbBandwidthHz) || x.rbBandwidthHz < 0.0 || x.rbBandwidthHz > 1e9)
        {
            bad("rb_bandwidth_hz = " + std::to_string(x.rbBandwidthHz) + " must be in [0, 1e9] Hz");
        }
        if (x.numRbs > 3300 || x.gnbRows > 64 || x.gnbColumns > 64 || x.ueRows > 16 || x.ueColumns > 16)
        {
            bad("num_rbs <= 3300, gnb_rows/gnb_columns <= 64 and ue_rows/ue_columns <= 16 are required");
        }
        FastFadingRequest key = x;
        key.timeS = 0.0;
        std::string keyBytes(reinterpret_cast<const char*>(&key), sizeof(key));
        auto it = links.find(keyBytes);
        if (it == links.end())
        {
            const uint32_t numRbs = x.numRbs ? x.numRbs : 52;
            const double rbBw = x.rbBandwidthHz > 0.0 ? x.rbBandwidthHz : 360e3;
            FastFadingLink link;
            link.channel = CreateObject<RanChannel>();
            link.channel->SetAttribute("Scenario", StringValue(ScenarioName(s)));
            link.channel->SetAttribute("CarrierFrequencyHz", DoubleValue(x.frequencyHz));
            link.channel->SetAttribute("NumRbs", UintegerValue(numRbs));
            link.channel->SetAttribute("RbBandwidthHz", DoubleValue(rbBw));
            link.channel->SetAttribute("BandwidthHz", DoubleValue(numRbs * rbBw));
            link.channel->SetAttribute("RbGroupSize", UintegerValue(x.rbGroupSize ? x.rbGroupSize : 1));
            link.channel->SetAttribute("LosCondition",
                                       StringValue(x.los == 0 ? "nlos" : (x.los == 1 ? "los" : "3gpp")));
            link.channel->SetAttribute("FastFadingEnabled", BooleanValue(x.fastFading != 0));
            link.channel->SetAttribute("GnbArrayRows", UintegerValue(x.gnbRows ? x.gnbRows : 1));
            link.channel->SetAttribute("GnbArrayColumns", UintegerValue(x.gnbColumns ? x.gnbColumns : 1));
            link.channel->SetAttribute("UeArrayRows", UintegerValue(x.ueRows ? x.ueRows : 1));
            link.channel->SetAttribute("UeArrayColumns", UintegerValue(x.ueColumns ? x.ueColumns : 1));
            link.channel->SetAttribute("GnbIsotropicElements", BooleanValue(x.isotropic != 0));
            link.channel->SetAttribute("UeIsotropicElements", BooleanValue(true));
            if (x.updatePeriodS > 0.0)
            {
                link.channel->SetAttribute("UpdatePeriod", TimeValue(Seconds(x.updatePeriodS)));
            }
            if (x.realizationPeriodS > 0.0)
            {
                link.channel->SetAttribute("RealizationPeriod", TimeValue(Seconds(x.realizationPeriodS)));
            }
            link.channel->SetAttribute("ScattererSpeedMps", DoubleValue(x.scattererSpeedMps));
            // The UE lies on the gNB array's broadside (+x); a moving UE goes along +y.
            link.gnb = MakeNode(Vector(0.0, 0.0, x.hBsM));
            link.ue = MakeNode(Vector(x.d2dM, 0.0, x.hUtM), Vector(0.0, x.ueSpeedMps, 0.0));
            Checked(q, i, [&] {
                link.channel->AddGnb(link.gnb);
                link.channel->AddUe(link.ue);
                return 0;
            });
            TimeValue update;
            TimeValue realization;
            link.channel->GetAttribute("UpdatePeriod", update);
            link.channel->GetAttribute("RealizationPeriod", realization);
            // Start on a boundary of both grids, so that time_s = 0 opens both periods.
            const int64_t a = update.Get().GetTimeStep();
            const int64_t b = realization.Get().GetTimeStep();
            const __int128 both = static_cast<__int128>(a / std::gcd(a, b)) * b;
            if (both > Seconds(1e6).GetTimeStep())
            {
                bad("update_period_s and realization_period_s have no common multiple below 1e6 s");
            }
            link.start = NextEpochStart(TimeStep(static_cast<int64_t>(both)));
            it = links.emplace(keyBytes, link).first;
        }
        linkOf[i] = &it->second;
    }
    // Evaluate every record at its time, in time order, by running the simulator to it.
    for (size_t i = 0; i < request.count; ++i)
    {
        FastFadingLink* link = linkOf[i];
        FastFadingResult* result = &out[i];
        Simulator::Schedule(link->start + Seconds(r[i].timeS) - Simulator::Now(), [link, result] {
            const std::vector<double>& gains = link->channel->GetRbGainsDb(link->gnb, link->ue);
            double sum = 0.0;
            result->minGainDb = gains[0];
            result->maxGainDb = gains[0];
            for (double g : gains)
            {
                sum += std::pow(10.0, g / 10.0);
                result->minGainDb = std::min(result->minGainDb, g);
                result->maxGainDb = std::max(result->maxGainDb, g);
            }
            result->meanGainDb = 10.0 * std::log10(sum / gains.size());
            result->firstRbGainDb = gains[0];
            result->largeScaleLossDb = link->channel->GetLargeScaleLossDb(link->gnb, link->ue);
            result->los = link->channel->IsLos(link->gnb, link->ue) ? 1 : 0;
            result->epoch = link->channel->GetEpoch();
            result->realization = link->channel->GetRealization();
        });
    }
    Simulator::Run();
    for (auto& [key, link] : links)
    {
        link.channel->Dispose();
    }
    return Message::From("fast_fading_result", out);
}

Message
AnswerRefreshCost(const Message& request)
{
    const std::string q = "channel_refresh_cost";
    using Clock = std::chrono::steady_clock;
    const auto* r = request.Records<RefreshCostRequest>();
    std::vector<RefreshCostResult> out(request.count);
    for (size_t i = 0; i < request.count; ++i)
    {
        const RefreshCostRequest& x = r[i];
        Scenario s = CheckedScenario(q, i, x.scenario);
        CheckFlag(q, i, "all_links", x.allLinks);
        Checked(q, i, [&] {
            CheckFrequency(s, x.frequencyHz);
            return 0;
        });
        auto positiveOrDefault = [](double v) { return std::isfinite(v) && v >= 0.0 && v <= 1e3; };
        if (x.uesPerCell == 0 || x.uesPerCell > 1000 || x.updates == 0 || x.updates > 1000 ||
            !(x.isdM >= 50.0 && x.isdM <= 1e4) || x.numRbs == 0 || x.numRbs > 3300 ||
            !(x.rbBandwidthHz > 0.0) || x.gnbRows == 0 || x.gnbColumns == 0 || x.ueRows == 0 ||
            x.ueColumns == 0 || !positiveOrDefault(x.updatePeriodS) ||
            !positiveOrDefault(x.realizationPeriodS) || !positiveOrDefault(x.ueSpeedMps) ||
            !positiveOrDefault(x.scattererSpeedMps))
        {
            throw InvalidRequest(q + " record " + std::to_string(i) +
                                 ": ues_per_cell 1..1000, updates 1..1000, isd_m 50..1e4, num_rbs "
                                 "1..3300, rb_bandwidth_hz > 0, array sizes >= 1, and periods and "
                                 "speeds in [0, 1e3] are required");
        }
        Ptr<RanChannel> channel = CreateObject<RanChannel>();
        channel->SetAttribute("Scenario", StringValue(ScenarioName(s)));
        channel->SetAttribute("CarrierFrequencyHz", DoubleValue(x.frequencyHz));
        channel->SetAttribute("BandwidthHz", DoubleValue(x.bandwidthHz));
        channel->SetAttribute("NumRbs", UintegerValue(x.numRbs));
        channel->SetAttribute("RbBandwidthHz", DoubleValue(x.rbBandwidthHz));
        if (x.rbGroupSize)
        {
            channel->SetAttribute("RbGroupSize", UintegerValue(x.rbGroupSize));
        }
        if (x.updatePeriodS > 0.0)
        {
            channel->SetAttribute("UpdatePeriod", TimeValue(Seconds(x.updatePeriodS)));
        }
        if (x.realizationPeriodS > 0.0)
        {
            channel->SetAttribute("RealizationPeriod", TimeValue(Seconds(x.realizationPeriodS)));
        }
        channel->SetAttribute("ScattererSpeedMps", DoubleValue(x.scattererSpeedMps));
        channel->SetAttribute("GnbArrayRows", UintegerValue(x.gnbRows));
        channel->SetAttribute("GnbArrayColumns", UintegerValue(x.gnbColumns));
        channel->SetAttribute("UeArrayRows", UintegerValue(x.ueRows));
        channel->SetAttribute("UeArrayColumns", UintegerValue(x.ueColumns));
        // Seven sites on a hexagonal grid; UEs uniform in a disc of radius ISD/2 around their site, at
        // least 10 m away, 1.5 m high (InH: 1 m). One array per site, facing +x (the cost does not
        // depend on it).
        const double hBs = DefaultBsHeightM(s);
        const double hUt = s == Scenario::InH ? 1.0 : 1.5;
        std::vector<Ptr<Node>> gnbs;
        std::vector<Ptr<Node>> ues;
        std::vector<size_t> servingOf;
        Ptr<UniformRandomVariable> u = CreateObject<UniformRandomVariable>();
        Checked(q, i, [&] {
            for (int site = 0; site < 7; ++site)
            {
                const double angle = M_PI / 6.0 + (site - 1) * M_PI / 3.0;
                const double x0 = site == 0 ? 0.0 : x.isdM * std::cos(angle);
                const double y0 = site == 0 ? 0.0 : x.isdM * std::sin(angle);
                gnbs.push_back(MakeNode(Vector(x0, y0, hBs)));
                channel->AddGnb(gnbs.back());
                for (uint32_t k = 0; k < x.uesPerCell; ++k)
                {
                    const double radius = std::sqrt(u->GetValue(100.0, x.isdM * x.isdM / 4.0));
                    const double phi = u->GetValue(0.0, 2.0 * M_PI);
                    const double heading = u->GetValue(0.0, 2.0 * M_PI);
                    ues.push_back(MakeNode(
                        Vector(x0 + radius * std::cos(phi), y0 + radius * std::sin(phi), hUt),
                        Vector(x.ueSpeedMps * std::cos(heading), x.ueSpeedMps * std::sin(heading), 0.0)));
                    channel->AddUe(ues.back());
                    servingOf.push_back(gnbs.size() - 1);
                }
            }
            return 0;
        });
        std::vector<std::pair<Ptr<Node>, Ptr<Node>>> links;
        for (size_t k = 0; k < ues.size(); ++k)
        {
            for (size_t g = 0; g < gnbs.size(); ++g)
            {
                if (x.allLinks || g == servingOf[k])
                {
                    links.emplace_back(gnbs[g], ues[k]);
                }
            }
        }
        TimeValue update;
        channel->GetAttribute("UpdatePeriod", update);
        const Time period = update.Get();
        const Time start = NextEpochStart(period);
        struct Sample
        {
            double fastS;
            double largeS;
            uint64_t realization;
            uint64_t evaluations;
        };

        std::vector<Sample> samples;
        for (uint32_t k = 0; k <= x.updates; ++k)
        {
            // One refresh in the middle of each update period: every link is asked for its values.
            Simulator::Schedule(start + period * k + period / 2 - Simulator::Now(),
                                [&channel, &links, &samples] {
                                    const uint64_t before = channel->GetFastFadingEvaluations();
                                    auto t0 = Clock::now();
                                    for (auto& [g, ue] : links)
                                    {
                                        channel->GetLargeScaleLossDb(g, ue);
                                    }
                                    auto t1 = Clock::now();
                                    for (auto& [g, ue] : links)
                                    {
                                        channel->GetRbGainsDb(g, ue);
                                    }
                                    auto t2 = Clock::now();
                                    samples.push_back({std::chrono::duration<double>(t2 - t1).count(),
                                                       std::chrono::duration<double>(t1 - t0).count(),
                                                       channel->GetRealization(),
                                                       channel->GetFastFadingEvaluations() - before});
                                });
        }
        Simulator::Run();
        // Refresh 0 includes one-time costs and is not counted.
        double realizationSum = 0.0;
        double updateSum = 0.0;
        double largeSum = 0.0;
        uint32_t realizationCount = 0;
        uint32_t updateCount = 0;
        uint64_t evaluations = 0;
        for (size_t k = 1; k < samples.size(); ++k)
        {
            largeSum += samples[k].largeS;
            evaluations += samples[k].evaluations;
            if (samples[k].realization != samples[k - 1].realization)
            {
                realizationSum += samples[k].fastS;
                ++realizationCount;
            }
            else
            {
                updateSum += samples[k].fastS;
                ++updateCount;
            }
        }
        const double nan = std::numeric_limits<double>::quiet_NaN();
        out[i].firstRefreshS = samples[0].fastS + samples[0].largeS;
        out[i].realizationRefreshS = realizationCount ? realizationSum / realizationCount : nan;
        out[i].updateRefreshS = updateCount ? updateSum / updateCount : nan;
        out[i].largeScaleRefreshS = largeSum / x.updates;
        out[i].links = links.size();
        out[i].perLinkRealizationUs = out[i].realizationRefreshS / links.size() * 1e6;
        out[i].evaluations = evaluations;
        channel->Dispose();
    }
    return Message::From("channel_refresh_cost_result", out);
}

Message
AnswerFadingPathCheck(const Message& request)
{
    const std::string q = "fading_path_check";
    const auto* r = request.Records<FadingPathCheckRequest>();
    std::vector<FadingPathCheckResult> out(request.count);
    for (size_t i = 0; i < request.count; ++i)
    {
        const FadingPathCheckRequest& x = r[i];
        Scenario s = CheckedScenario(q, i, x.scenario);
        CheckFlag(q, i, "los", x.los, 2);
        CheckFlag(q, i, "gnb_isotropic", x.gnbIsotropic);
        CheckFlag(q, i, "ue_isotropic", x.ueIsotropic);
        CheckFlag(q, i, "interference", x.interference);
        CheckFlag(q, i, "link_fading_streams", x.linkFadingStreams);
        Checked(q, i, [&] {
            CheckFrequency(s, x.frequencyHz);
            return 0;
        });
        auto inRange = [](double v, double lo, double hi) { return std::isfinite(v) && v >= lo && v <= hi; };
        if (x.ues == 0 || x.ues > 200 || x.updates == 0 || x.updates > 1000 || x.numRbs > 3300 ||
            !inRange(x.rbBandwidthHz, 0.0, 1e9) || !inRange(x.maxDistanceM, 10.0, 1e4) ||
            !inRange(x.ueSpeedMps, 0.0, 1e3) || !inRange(x.scattererSpeedMps, 0.0, 1e3) ||
            !inRange(x.updatePeriodS, 0.0, 1e3) || !inRange(x.realizationPeriodS, 0.0, 1e3) ||
            (x.updatePeriodS > 0.0 && x.updatePeriodS < 1e-6) ||
            (x.realizationPeriodS > 0.0 && x.realizationPeriodS < 1e-6) || x.gnbRows == 0 ||
            x.gnbColumns == 0 || x.ueRows == 0 || x.ueColumns == 0 || x.gnbRows > 64 || x.gnbColumns > 64 ||
            x.ueRows > 16 || x.ueColumns > 16)
        {
            throw InvalidRequest(q + " record " + std::to_string(i) +
                                 ": ues 1..200, updates 1..1000, num_rbs <= 3300, rb_bandwidth_hz in [0, 1e9], "
                                 "max_distance_m in [10, 1e4], speeds and periods in [0, 1e3] (periods 0 or "
                                 ">= 1e-6 s), array sizes 1..64 (gNB) and 1..16 (UE) are required");
        }
        const uint32_t numRbs = x.numRbs ? x.numRbs : 52;
        const double rbBw = x.rbBandwidthHz > 0.0 ? x.rbBandwidthHz : 360e3;
        // Two channels alike but for the path, on the same random streams: they draw the same channels.
        Ptr<RanChannel> channels[2];
        for (int k = 0; k < 2; ++k)
        {
            Ptr<RanChannel> channel = CreateObject<RanChannel>();
            channel->SetAttribute("FastFadingPath", StringValue(k == 0 ? "ns3" : "ns6g"));
            channel->SetAttribute("Scenario", StringValue(ScenarioName(s)));
            channel->SetAttribute("CarrierFrequencyHz", DoubleValue(x.frequencyHz));
            channel->SetAttribute("NumRbs", UintegerValue(numRbs));
            channel->SetAttribute("RbBandwidthHz", DoubleValue(rbBw));
            channel->SetAttribute("BandwidthHz", DoubleValue(numRbs * rbBw));
            if (x.rbGroupSize)
            {
                channel->SetAttribute("RbGroupSize", UintegerValue(x.rbGroupSize));
            }
            channel->SetAttribute("LosCondition", StringValue(x.los == 0 ? "nlos" : (x.los == 1 ? "los" : "3gpp")));
            if (x.updatePeriodS > 0.0)
            {
                channel->SetAttribute("UpdatePeriod", TimeValue(Seconds(x.updatePeriodS)));
            }
            if (x.realizationPeriodS > 0.0)
            {
                channel->SetAttribute("RealizationPeriod", TimeValue(Seconds(x.realizationPeriodS)));
            }
            channel->SetAttribute("ScattererSpeedMps", DoubleValue(x.scattererSpeedMps));
            channel->SetAttribute("LinkFadingStreams", BooleanValue(x.linkFadingStreams != 0));
            channel->SetAttribute("GnbArrayRows", UintegerValue(x.gnbRows));
            channel->SetAttribute("GnbArrayColumns", UintegerValue(x.gnbColumns));
            channel->SetAttribute("UeArrayRows", UintegerValue(x.ueRows));
            channel->SetAttribute("UeArrayColumns", UintegerValue(x.ueColumns));
            channel->SetAttribute("GnbIsotropicElements", BooleanValue(x.gnbIsotropic != 0));
            channel->SetAttribute("UeIsotropicElements", BooleanValue(x.ueIsotropic != 0));
            channels[k] = channel;
        }
        const double hBs = DefaultBsHeightM(s);
        const double hUt = s == Scenario::InH ? 1.0 : 1.5;
        // gNB 0 at the origin facing +x, gNB 1 at (maxDistance, 0) facing -x, tilted 10 degrees down;
        // UEs spread over a disc around gNB 0 on a fixed (golden-angle) pattern, each moving its own way.
        std::vector<Ptr<Node>> gnbs{MakeNode(Vector(0.0, 0.0, hBs)), MakeNode(Vector(x.maxDistanceM, 0.0, hBs))};
        std::vector<Ptr<Node>> ues;
        for (uint32_t k = 0; k < x.ues; ++k)
        {
            const double frac = std::fmod(0.5 + k * 0.6180339887498949, 1.0);
            const double radius = x.maxDistanceM * (0.1 + 0.9 * frac);
            const double phi = k * 2.399963229728653;
            const double heading = k * 1.3;
            ues.push_back(MakeNode(Vector(radius * std::cos(phi), radius * std::sin(phi), hUt),
                                   Vector(x.ueSpeedMps * std::cos(heading), x.ueSpeedMps * std::sin(heading), 0.0)));
        }
        Checked(q, i, [&] {
            for (auto& channel : channels)
            {
                channel->AddGnb(gnbs[0], 0.0, 10.0 * M_PI / 180.0);
                channel->AddGnb(gnbs[1], M_PI, 10.0 * M_PI / 180.0);
                for (auto& ue : ues)
                {
                    channel->AddUe(ue);
                }
                channel->AssignStreams(x.stream);
            }
            return 0;
        });
        TimeValue update;
        TimeValue realization;
        channels[0]->GetAttribute("UpdatePeriod", update);
        channels[0]->GetAttribute("RealizationPeriod", realization);
        const Time period = update.Get();
        const Time start = NextEpochStart(realization.Get());
        FadingPathCheckResult& result = out[i];
        result = FadingPathCheckResult{};
        std::set<uint64_t> realizations;
        auto compare = [&result](double a, double b, uint64_t& unequal, double& maxDiff) {
            if (std::memcmp(&a, &b, sizeof(double)) != 0)
            {
                ++unequal;
                maxDiff = std::max(maxDiff, std::isfinite(a - b) ? std::abs(a - b)
                                                                  : std::numeric_limits<double>::infinity());
            }
        };
        auto evaluate = [&](Ptr<Node> g, Ptr<Node> ue, Ptr<Node> target) {
            std::vector<double> gains[2];
            std::vector<double> psd[2];
            bool evaluated[2];
            for (int k = 0; k < 2; ++k)
            {
                const uint64_t before = channels[k]->GetFastFadingEvaluations();
                gains[k] = channels[k]->GetRbGainsDb(g, ue, target);
                evaluated[k] = channels[k]->GetFastFadingEvaluations() != before;
                psd[k] = channels[k]->GetLastBandPsd();
            }
            for (size_t n = 0; n < gains[0].size(); ++n)
            {
                compare(gains[1][n], gains[0][n], result.unequalGains, result.maxAbsDiffDb);
            }
            result.gainsCompared += gains[0].size();
            if (evaluated[0] && evaluated[1])
            {
                for (size_t n = 0; n < psd[0].size(); ++n)
                {
                    compare(psd[1][n], psd[0][n], result.unequalPsd, result.maxAbsDiffPsd);
                }
                result.psdCompared += psd[0].size();
            }
        };
        for (uint32_t k = 0; k < x.updates; ++k)
        {
            Simulator::Schedule(start + period * k + period / 2 - Simulator::Now(), [&, k] {
                realizations.insert(channels[0]->GetRealization());
                const bool last = k + 1 == x.updates;
                for (size_t u = 0; u < ues.size(); ++u)
                {
                    for (auto& g : gnbs)
                    {
                        const bool los0 = channels[0]->IsLos(g, ues[u]);
                        const bool los1 = channels[1]->IsLos(g, ues[u]);
                        result.unequalLos += los0 != los1 ? 1 : 0;
                        if (last)
                        {
                            ++(los0 ? result.losLinks : result.nlosLinks);
                        }
                        evaluate(g, ues[u], nullptr);
                        if (x.interference && ues.size() > 1)
                        {
                            evaluate(g, ues[u], ues[(u + 1) % ues.size()]);
                        }
                    }
                }
            });
        }
        Simulator::Run();
        result.evaluationsNs3 = channels[0]->GetFastFadingEvaluations();
        result.evaluations = channels[1]->GetFastFadingEvaluations();
        result.realizations = realizations.size();
        result.matricesNs3 = channels[0]->GetChannelMatricesComputed();
        result.matrices = channels[1]->GetChannelMatricesComputed();
        result.matricesReused = channels[1]->GetChannelMatricesReused();
        result.avxKernels = RanChannel::UsesAvxKernels() ? 1 : 0;
        for (auto& channel : channels)
        {
            channel->Dispose();
        }
    }
    return Message::From("fading_path_check_result", out);
}

} // namespace

void
AddChannelQueries(QueryTable& table)
{
    table.push_back({{"pathloss",
                      sizeof(PathLossRequest),
                      {NS6G_FIELD(PathLossRequest, frequencyHz, "frequency_hz"),
                       NS6G_FIELD(PathLossRequest, d2dM, "d2d_m"),
                       NS6G_FIELD(PathLossRequest, hBsM, "h_bs_m"),
                       NS6G_FIELD(PathLossRequest, hUtM, "h_ut_m"),
                       NS6G_FIELD(PathLossRequest, scenario, "scenario"),
                       NS6G_FIELD(PathLossRequest, los, "los")}},
                     {"pathloss_result",
                      sizeof(PathLossResult),
                      {NS6G_FIELD(PathLossResult, pathlossDb, "pathloss_db")}},
                     AnswerPathLoss});
    table.push_back({{"los_probability",
                      sizeof(LosProbabilityRequest),
                      {NS6G_FIELD(LosProbabilityRequest, d2dM, "d2d_m"),
                       NS6G_FIELD(LosProbabilityRequest, hUtM, "h_ut_m"),
                       NS6G_FIELD(LosProbabilityRequest, scenario, "scenario")}},
                     {"los_probability_result",
                      sizeof(LosProbabilityResult),
                      {NS6G_FIELD(LosProbabilityResult, probability, "probability")}},
                     AnswerLosProbability});
    table.push_back({{"gaseous_absorption",
                      sizeof(GaseousAbsorptionRequest),
                      {NS6G_FIELD(GaseousAbsorptionRequest, frequencyHz, "frequency_hz")}},
                     {"gaseous_absorption_result",
                      sizeof(GaseousAbsorptionResult),
                      {NS6G_FIELD(GaseousAbsorptionResult, dbPerKm, "db_per_km")}},
                     AnswerGaseousAbsorption});
    table.push_back({{"fast_fading",
                      sizeof(FastFadingRequest),
                      {NS6G_FIELD(FastFadingRequest, frequencyHz, "frequency_hz"),
                       NS6G_FIELD(FastFadingRequest, d2dM, "d2d_m"),
                       NS6G_FIELD(FastFadingRequest, hBsM, "h_bs_m"),
                       NS6G_FIELD(FastFadingRequest, hUtM, "h_ut_m"),
                       NS6G_FIELD(FastFadingRequest, timeS, "time_s"),
                       NS6G_FIELD(FastFadingRequest, updatePeriodS, "update_period_s"),
                       NS6G_FIELD(FastFadingRequest, realizationPeriodS, "realization_period_s"),
                       NS6G_FIELD(FastFadingRequest, scattererSpeedMps, "scatterer_speed_mps"),
                       NS6G_FIELD(FastFadingRequest, ueSpeedMps, "ue_speed_mps"),
                       NS6G_FIELD(FastFadingRequest, rbBandwidthHz, "rb_bandwidth_hz"),
                       NS6G_FIELD(FastFadingRequest, scenario, "scenario"),
                       NS6G_FIELD(FastFadingRequest, numRbs, "num_rbs"),
                       NS6G_FIELD(FastFadingRequest, rbGroupSize, "rb_group_size"),
                       NS6G_FIELD(FastFadingRequest, gnbRows, "gnb_rows"),
                       NS6G_FIELD(FastFadingRequest, gnbColumns, "gnb_columns"),
                       NS6G_FIELD(FastFadingRequest, ueRows, "ue_rows"),
                       NS6G_FIELD(FastFadingRequest, ueColumns, "ue_columns"),
                       NS6G_FIELD(FastFadingRequest, los, "los"),
                       NS6G_FIELD(FastFadingRequest, isotropic, "isotropic"),
                       NS6G_FIELD(FastFadingRequest, fastFading, "fast_fading")}},
                     {"fast_fading_result",
                      sizeof(FastFadingResult),
                      {NS6G_FIELD(FastFadingResult, meanGainDb, "mean_gain_db"),
                       NS6G_FIELD(FastFadingResult, minGainDb, "min_gain_db"),
                       NS6G_FIELD(FastFadingResult, maxGainDb, "max_gain_db"),
                       NS6G_FIELD(FastFadingResult, firstRbGainDb, "first_rb_gain_db"),
                       NS6G_FIELD(FastFadingResult, largeScaleLossDb, "large_scale_loss_db"),
                       NS6G_FIELD(FastFadingResult, epoch, "epoch"),
                       NS6G_FIELD(FastFadingResult, realization, "realization"),
                       NS6G_FIELD(FastFadingResult, los, "los")}},
                     AnswerFastFading});
    table.push_back({{"channel_refresh_cost",
                      sizeof(RefreshCostRequest),
                      {NS6G_FIELD(RefreshCostRequest, frequencyHz, "frequency_hz"),
                       NS6G_FIELD(RefreshCostRequest, bandwidthHz, "bandwidth_hz"),
                       NS6G_FIELD(RefreshCostRequest, rbBandwidthHz, "rb_bandwidth_hz"),
                       NS6G_FIELD(RefreshCostRequest, isdM, "isd_m"),
                       NS6G_FIELD(RefreshCostRequest, updatePeriodS, "update_period_s"),
                       NS6G_FIELD(RefreshCostRequest, realizationPeriodS, "realization_period_s"),
                       NS6G_FIELD(RefreshCostRequest, ueSpeedMps, "ue_speed_mps"),
                       NS6G_FIELD(RefreshCostRequest, scattererSpeedMps, "scatterer_speed_mps"),
                       NS6G_FIELD(RefreshCostRequest, scenario, "scenario"),
                       NS6G_FIELD(RefreshCostRequest, uesPerCell, "ues_per_cell"),
                       NS6G_FIELD(RefreshCostRequest, numRbs, "num_rbs"),
                       NS6G_FIELD(RefreshCostRequest, rbGroupSize, "rb_group_size"),
                       NS6G_FIELD(RefreshCostRequest, updates, "updates"),
                       NS6G_FIELD(RefreshCostRequest, gnbRows, "gnb_rows"),
                       NS6G_FIELD(RefreshCostRequest, gnbColumns, "gnb_columns"),
                       NS6G_FIELD(RefreshCostRequest, ueRows, "ue_rows"),
                       NS6G_FIELD(RefreshCostRequest, ueColumns, "ue_columns"),
                       NS6G_FIELD(RefreshCostRequest, allLinks, "all_links")}},
                     {"channel_refresh_cost_result",
                      sizeof(RefreshCostResult),
                      {NS6G_FIELD(RefreshCostResult, realizationRefreshS, "realization_refresh_s"),
                       NS6G_FIELD(RefreshCostResult, updateRefreshS, "update_refresh_s"),
                       NS6G_FIELD(RefreshCostResult, largeScaleRefreshS, "large_scale_refresh_s"),
                       NS6G_FIELD(RefreshCostResult, perLinkRealizationUs, "per_link_realization_us"),
                       NS6G_FIELD(RefreshCostResult, firstRefreshS, "first_refresh_s"),
                       NS6G_FIELD(RefreshCostResult, links, "links"),
                       NS6G_FIELD(RefreshCostResult, evaluations, "evaluations")}},
                     AnswerRefreshCost});
    table.push_back({{"fading_path_check",
                      sizeof(FadingPathCheckRequest),
                      {NS6G_FIELD(FadingPathCheckRequest, frequencyHz, "frequency_hz"),
                       NS6G_FIELD(FadingPathCheckRequest, rbBandwidthHz, "rb_bandwidth_hz"),
                       NS6G_FIELD(FadingPathCheckRequest, maxDistanceM, "max_distance_m"),
                       NS6G_FIELD(FadingPathCheckRequest, ueSpeedMps, "ue_speed_mps"),
                       NS6G_FIELD(FadingPathCheckRequest, scattererSpeedMps, "scatterer_speed_mps"),
                       NS6G_FIELD(FadingPathCheckRequest, updatePeriodS, "update_period_s"),
                       NS6G_FIELD(FadingPathCheckRequest, realizationPeriodS, "realization_period_s"),
                       NS6G_FIELD(FadingPathCheckRequest, scenario, "scenario"),
                       NS6G_FIELD(FadingPathCheckRequest, numRbs, "num_rbs"),
                       NS6G_FIELD(FadingPathCheckRequest, rbGroupSize, "rb_group_size"),
                       NS6G_FIELD(FadingPathCheckRequest, ues, "ues"),
                       NS6G_FIELD(FadingPathCheckRequest, updates, "updates"),
                       NS6G_FIELD(FadingPathCheckRequest, stream, "stream"),
                       NS6G_FIELD(FadingPathCheckRequest, gnbRows, "gnb_rows"),
                       NS6G_FIELD(FadingPathCheckRequest, gnbColumns, "gnb_columns"),
                       NS6G_FIELD(FadingPathCheckRequest, ueRows, "ue_rows"),
                       NS6G_FIELD(FadingPathCheckRequest, ueColumns, "ue_columns"),
                       NS6G_FIELD(FadingPathCheckRequest, los, "los"),
                       NS6G_FIELD(FadingPathCheckRequest, gnbIsotropic, "gnb_isotropic"),
                       NS6G_FIELD(FadingPathCheckRequest, ueIsotropic, "ue_isotropic"),
                       NS6G_FIELD(FadingPathCheckRequest, interference, "interference"),
                       NS6G_FIELD(FadingPathCheckRequest, linkFadingStreams, "link_fading_streams")}},
                     {"fading_path_check_result",
                      sizeof(FadingPathCheckResult),
                      {NS6G_FIELD(FadingPathCheckResult, maxAbsDiffDb, "max_abs_diff_db"),
                       NS6G_FIELD(FadingPathCheckResult, maxAbsDiffPsd, "max_abs_diff_psd"),
                       NS6G_FIELD(FadingPathCheckResult, unequalGains, "unequal_gains"),
                       NS6G_FIELD(FadingPathCheckResult, unequalPsd, "unequal_psd"),
                       NS6G_FIELD(FadingPathCheckResult, gainsCompared, "gains_compared"),
                       NS6G_FIELD(FadingPathCheckResult, psdCompared, "psd_compared"),
                       NS6G_FIELD(FadingPathCheckResult, evaluations, "evaluations"),
                       NS6G_FIELD(FadingPathCheckResult, evaluationsNs3, "evaluations_ns3"),
                       NS6G_FIELD(FadingPathCheckResult, realizations, "realizations"),
                       NS6G_FIELD(FadingPathCheckResult, losLinks, "los_links"),
                       NS6G_FIELD(FadingPathCheckResult, nlosLinks, "nlos_links"),
                       NS6G_FIELD(FadingPathCheckResult, unequalLos, "unequal_los"),
                       NS6G_FIELD(FadingPathCheckResult, matrices, "matrices"),
                       NS6G_FIELD(FadingPathCheckResult, matricesNs3, "matrices_ns3"),
                       NS6G_FIELD(FadingPathCheckResult, matricesReused, "matrices_reused"),
                       NS6G_FIELD(FadingPathCheckResult, avxKernels, "avx_kernels")}},
                     AnswerFadingPathCheck});
}

} // namespace ns6g::ran
