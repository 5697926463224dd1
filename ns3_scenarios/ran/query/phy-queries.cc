// Queries of the RAN PHY model (see ran-query.h and ran/model/ran-phy.h), read by ns6g/radio/phy.py:
//   carrier          frequency, bandwidth, numerology, RBG size -> RBs, RBGs, SCS, slot (or the reason)
//   link_adaptation  SINR, table -> CQI, MCS, Q_m, code rate, spectral efficiency, BLER
//   mcs              table, MCS -> the table row, the SINR it needs for 10% BLER, the table's top MCS
//   tbs              MCS, table, RBs, symbols, layers, DMRS and overhead REs -> TBS (38.214 5.1.3.2)
//   bler             SINR, MCS, table, TBS, channel uses, transmissions -> BLER (chase-combined SINR)
//   harq             SINR, MCS, table, TBS, channel uses, max transmissions -> expected and simulated
//                    (HarqProcess) HARQ figures
//   rb_sinr          signal, noise, interference of one RB -> its SINR
//   effective_sinr   per-RB SINRs with a group id -> the group's MIESM effective SINR
//   noise            RB bandwidth, noise figure -> thermal noise in dBm
//
// Every record is a plain struct of naturally aligned fields with explicit padding; its size is fixed
// by static_assert and its fields are declared to Python by offsetof, so both sides agree exactly.
#include "ran/model/ran-link-adaptation.h"
#include "ran/query/ran-query.h"

#include <cmath>
#include <cstddef>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace ns6g::ran
{

namespace
{

// ---------------------------------------------------------------------------------------------------
// Records

struct CarrierRequest
{
    double frequencyHz;
    double bandwidthHz;
    int32_t mu;
    int32_t rbgSize;  // 0: TS 38.214 configuration 1
    uint8_t lenient;  // 0: refuse an invalid row (InvalidRequest); 1: answer it with valid = 0
    uint8_t pad[7];
};
static_assert(sizeof(CarrierRequest) == 32);

constexpr size_t kReasonBytes = 320;

struct CarrierReply
{
    double frequencyHz;
    double bandwidthHz;
    double scsHz;
    double rbBandwidthHz;
    double slotS;
    double transmissionBandwidthHz;
    double guardBandHz;
    int32_t mu;
    uint32_t nRb;
    uint32_t nRbg;
    uint32_t rbgSize;
    uint32_t lastRbgSize;
    uint8_t valid;
    uint8_t standardBandwidth;
    uint8_t pad[2];
    char reason[kReasonBytes]; // NUL-padded UTF-8; empty when valid
};
static_assert(sizeof(CarrierReply) == 80 + kReasonBytes);

struct LinkAdaptationRequest
{
    double sinrDb;
    int32_t table;    // 0: 256-QAM, 1: 1024-QAM
    uint32_t tbsBits; // reference transport block (bits); 0: kReferenceTbsBits
};
static_assert(sizeof(LinkAdaptationRequest) == 16);

struct LinkAdaptationReply
{
    double sinrDb;
    double codeRate;
    double spectralEfficiency;
    double bler;
    double cqiSpectralEfficiency;
    int32_t cqi;
    int32_t mcs;
    int32_t qm;
    int32_t table;
    uint32_t tbsBits;
    uint32_t pad;
};
static_assert(sizeof(LinkAdaptationReply) == 64);

struct McsRequest
{
    int32_t table;
    int32_t mcs;
    uint32_t tbsBits; // 0: kReferenceTbsBits
    uint32_t pad;
};
static_assert(sizeof(McsRequest) == 16);

struct McsReply
{
    double codeRateX1024;
    double codeRate;
    double spectralEfficiency;
    double requiredSinrDb; // lowest SINR with BLER <= 10% for tbsBits
    int32_t table;
    int32_t mcs;
    int32_t qm;
    uint32_t tbsBits;
    int32_t maxMcs; // highest MCS index of the table
    uint32_t pad;
};
static_assert(sizeof(McsReply) == 56);

struct TbsRequest
{
    int32_t mcs;
    int32_t table;
    uint32_t nRb;
    uint32_t nSymbols;
    uint32_t nLayers;
    uint32_t dmrsRePerRb;
    uint32_t overheadRePerRb;
    uint32_t pad;
};
static_assert(sizeof(TbsRequest) == 32);

struct TbsReply
{
    double nInfo;
    double nInfoQuantized;
    uint32_t tbsBits;
    uint32_t nRe;
    uint32_t nCodeBlocks;
    uint32_t baseGraph;
};
static_assert(sizeof(TbsReply) == 32);

struct BlerRequest
{
    double sinrDb;          // effective SINR of each transmission
    double channelUses;     // REs x layers carrying the block; 0: unknown (nominal efficiency)
    int32_t mcs;
    int32_t table;
    uint32_t tbsBits;       // 0: kReferenceTbsBits
    uint32_t transmissions; // chase-combined transmissions (0 or 1: the first)
};
static_assert(sizeof(BlerRequest) == 32);

struct BlerReply
{
    double bler;
    double combinedSinrDb;
};
static_assert(sizeof(BlerReply) == 16);

struct HarqRequest
{
    double sinrDb;      // effective SINR of every transmission
    double channelUses; // REs x layers carrying the block; 0: unknown (nominal efficiency)
    int32_t mcs;
    int32_t table;
    uint32_t tbsBits;           // 0: kReferenceTbsBits
    uint32_t maxTransmissions;  // 0: kDefaultMaxHarqTransmissions
    uint64_t nTrials;           // transport blocks to simulate with HarqProcess; 0: none
    uint64_t seed;
};
static_assert(sizeof(HarqRequest) == 48);

struct HarqReply
{
    double firstBler;
    double residualBler;
    double expectedTransmissions;
    double simulatedResidualBler;         // NaN without trials
    double simulatedMeanTransmissions;    // NaN without trials
};
static_assert(sizeof(HarqReply) == 40);

struct RbSinrRequest
{
    double signalDbm;      // received signal power on the RB
    double noiseDbm;       // thermal noise power on the RB
    double interferenceMw; // power other cells put on the RB (0 where they leave it unused)
};
static_assert(sizeof(RbSinrRequest) == 24);

struct RbSinrReply
{
    double sinrDb;
};
static_assert(sizeof(RbSinrReply) == 8);

struct EffectiveSinrRequest
{
    double sinrDb;  // SINR of one RB
    uint64_t group; // RBs of one transport block share a group
};
static_assert(sizeof(EffectiveSinrRequest) == 16);

struct EffectiveSinrReply
{
    double effectiveSinrDb; // MIESM effective SINR of the row's group
    uint64_t groupSize;
};
static_assert(sizeof(EffectiveSinrReply) == 16);

struct NoiseRequest
{
    double rbBandwidthHz;
    double noiseFigureDb;
};
static_assert(sizeof(NoiseRequest) == 16);

struct NoiseReply
{
    double noiseDbm;
};
static_assert(sizeof(NoiseReply) == 8);

// ---------------------------------------------------------------------------------------------------
// Helpers

/** "query row 3: " when the request holds several rows, "query: " otherwise. */
std::string
Where(const char* query, size_t row, size_t count)
{
    return std::string(query) + (count > 1 ? " row " + std::to_string(row) : std::string()) + ": ";
}

/** Runs f(row), turning InvalidPhyConfig into InvalidRequest naming the query and the row. */
template <class F>
auto
Checked(const char* query, size_t row, size_t count, F&& f)
{
    try
    {
        return f();
    }
    catch (const InvalidPhyConfig& e)
    {
        throw InvalidRequest(Where(query, row, count) + e.what());
    }
}

void
RequireNotNan(const char* query, size_t row, size_t count, const char* field, double v)
{
    if (std::isnan(v))
    {
        throw InvalidRequest(Where(query, row, count) + field + " is NaN");
    }
}

uint32_t
TbsOrReference(uint32_t tbsBits)
{
    return tbsBits ? tbsBits : kReferenceTbsBits;
}

double
DbToLinear(double db)
{
    return std::pow(10.0, db / 10.0);
}

double
LinearToDb(double linear)
{
    return 10.0 * std::log10(linear);
}

// ---------------------------------------------------------------------------------------------------
// Answers

Message
AnswerCarrier(const Message& request)
{
    const auto* rq = request.Records<CarrierRequest>();
    std::vector<CarrierReply> out(request.count);
    for (size_t i = 0; i < request.count; ++i)
    {
        const CarrierRequest& r = rq[i];
        CarrierReply& a = out[i];
        std::memset(&a, 0, sizeof(a));
        a.frequencyHz = r.frequencyHz;
        a.bandwidthHz = r.bandwidthHz;
        a.mu = r.mu;
        std::string reason = ValidateCarrier(r.frequencyHz, r.bandwidthHz, r.mu, r.rbgSize);
        if (!reason.empty())
        {
            if (!r.lenient)
            {
                throw InvalidRequest(Where("carrier", i, request.count) + reason);
            }
            std::strncpy(a.reason, reason.c_str(), kReasonBytes - 1);
            continue;
        }
        Carrier c = MakeCarrier(r.frequencyHz, r.bandwidthHz, r.mu, r.rbgSize);
        a.scsHz = c.numerology.SubcarrierSpacingHz();
        a.rbBandwidthHz = c.numerology.RbBandwidthHz();
        a.slotS = c.numerology.SlotDurationS();
        a.transmissionBandwidthHz = c.TransmissionBandwidthHz();
        a.guardBandHz = c.GuardBandHz();
        a.nRb = c.nRb;
        a.nRbg = c.nRbg;
        a.rbgSize = c.rbgSize;
        a.lastRbgSize = c.lastRbgSize;
        a.valid = 1;
        a.standardBandwidth = c.standardBandwidth ? 1 : 0;
    }
    return Message::From("carrier_result", out);
}

Message
AnswerLinkAdaptation(const Message& request)
{
    const auto* rq = request.Records<LinkAdaptationRequest>();
    std::vector<LinkAdaptationReply> out(request.count);
    for (size_t i = 0; i < request.count; ++i)
    {
        const auto& r = rq[i];
        RequireNotNan("link_adaptation", i, request.count, "sinr_db", r.sinrDb);
        LinkAdaptationReply& a = out[i];
        std::memset(&a, 0, sizeof(a));
        McsTable table = Checked("link_adaptation", i, request.count, [&] { return McsTableFromIndex(r.table); });
        uint32_t tbs = TbsOrReference(r.tbsBits);
        LinkAdaptation la = AdaptLink(DbToLinear(r.sinrDb), table, tbs);
        a.sinrDb = r.sinrDb;
        a.cqi = la.cqi;
        a.mcs = la.mcs;
        a.qm = la.modulationCoding.qm;
        a.codeRate = la.modulationCoding.CodeRate();
        a.spectralEfficiency = la.modulationCoding.spectralEfficiency;
        a.bler = la.bler;
        a.cqiSpectralEfficiency = CqiEntries(table)[la.cqi].spectralEfficiency;
        a.table = r.table;
        a.tbsBits = tbs;
    }
    return Message::From("link_adaptation_result", out);
}

Message
AnswerMcs(const Message& request)
{
    const auto* rq = request.Records<McsRequest>();
    std::vector<McsReply> out(request.count);
    for (size_t i = 0; i < request.count; ++i)
    {
        const auto& r = rq[i];
        McsReply& a = out[i];
        std::memset(&a, 0, sizeof(a));
        const ModulationCoding& mc = Checked("mcs", i, request.count, [&] {
            return GetMcs(McsTableFromIndex(r.table), r.mcs);
        });
        uint32_t tbs = TbsOrReference(r.tbsBits);
        a.codeRateX1024 = mc.rateX1024;
        a.codeRate = mc.CodeRate();
        a.spectralEfficiency = mc.spectralEfficiency;
        a.requiredSinrDb = RequiredSinrDb(mc, tbs);
        a.table = r.table;
        a.mcs = r.mcs;
        a.qm = mc.qm;
        a.tbsBits = tbs;
        a.maxMcs = MaxMcs(McsTableFromIndex(r.table));
    }
    return Message::From("mcs_result", out);
}

Message
AnswerTbs(const Message& request)
{
    const auto* rq = request.Records<TbsRequest>();
    std::vector<TbsReply> out(request.count);
    for (size_t i = 0; i < request.count; ++i)
    {
        const auto& r = rq[i];
        TbsReply& a = out[i];
        std::memset(&a, 0, sizeof(a));
        TbsDetails d = Checked("tbs", i, request.count, [&] {
            McsTable table = McsTableFromIndex(r.table);
            TbsParams p;
            p.nRb = r.nRb;
            p.nSymbols = r.nSymbols;
            p.nLayers = r.nLayers;
            p.dmrsRePerRb = r.dmrsRePerRb;
            p.overheadRePerRb = r.overheadRePerRb;
            return TransportBlockSizeDetails(table, r.mcs, p);
        });
        const ModulationCoding& mc = GetMcs(McsTableFromIndex(r.table), r.mcs);
        CodeBlockSegmentation seg = SegmentTransportBlock(d.tbsBits, mc.CodeRate());
        a.nInfo = d.nInfo;
        a.nInfoQuantized = d.nInfoQuantized;
        a.tbsBits = d.tbsBits;
        a.nRe = d.nRe;
        a.nCodeBlocks = seg.nCodeBlocks;
        a.baseGraph = static_cast<uint32_t>(seg.baseGraph);
    }
    return Message::From("tbs_result", out);
}

Message
AnswerBler(const Message& request)
{
    const auto* rq = request.Records<BlerRequest>();
    std::vector<BlerReply> out(request.count);
    for (size_t i = 0; i < request.count; ++i)
    {
        const auto& r = rq[i];
        RequireNotNan("bler", i, request.count, "sinr_db", r.sinrDb);
        const ModulationCoding& mc = Checked("bler", i, request.count, [&] {
            return GetMcs(McsTableFromIndex(r.table), r.mcs);
        });
        uint32_t k = r.transmissions ? r.transmissions : 1;
        double combined = k * DbToLinear(r.sinrDb);
        out[i].bler = Checked("bler", i, request.count,
                              [&] { return TransportBlockBler(combined, mc, TbsOrReference(r.tbsBits), r.channelUses); });
        out[i].combinedSinrDb = LinearToDb(combined);
    }
    return Message::From("bler_result", out);
}

Message
AnswerHarq(const Message& request)
{
    const auto* rq = request.Records<HarqRequest>();
    std::vector<HarqReply> out(request.count);
    for (size_t i = 0; i < request.count; ++i)
    {
        const auto& r = rq[i];
        RequireNotNan("harq", i, request.count, "sinr_db", r.sinrDb);
        McsTable table = Checked("harq", i, request.count, [&] { return McsTableFromIndex(r.table); });
        const ModulationCoding& mc =
            Checked("harq", i, request.count, [&] { return GetMcs(table, r.mcs); });
        uint32_t maxTx = r.maxTransmissions ? r.maxTransmissions : kDefaultMaxHarqTransmissions;
        if (maxTx > 32)
        {
            throw InvalidRequest(Where("harq", i, request.count) + "max_transmissions " +
                                 std::to_string(maxTx) + " is out of range 1..32");
        }
        if (r.nTrials > 10'000'000)
        {
            throw InvalidRequest(Where("harq", i, request.count) + "n_trials " + std::to_string(r.nTrials) +
                                 " is above 10000000");
        }
        uint32_t tbs = TbsOrReference(r.tbsBits);
        double sinr = DbToLinear(r.sinrDb);
        HarqStatistics s =
            Checked("harq", i, request.count, [&] { return ExpectedHarq(sinr, mc, tbs, maxTx, r.channelUses); });
        HarqReply& a = out[i];
        a.firstBler = s.firstBler;
        a.residualBler = s.residualBler;
        a.expectedTransmissions = s.expectedTransmissions;
        a.simulatedResidualBler = std::nan("");
        a.simulatedMeanTransmissions = std::nan("");
        if (r.nTrials > 0)
        {
            std::mt19937_64 rng(r.seed);
            std::uniform_real_distribution<double> uniform(0.0, 1.0);
            HarqProcess process;
            uint64_t lost = 0;
            uint64_t transmissions = 0;
            for (uint64_t t = 0; t < r.nTrials; ++t)
            {
                process.Start(tbs, r.mcs, table, r.channelUses);
                HarqOutcome o;
                do
                {
                    o = process.Receive(sinr, uniform(rng), maxTx);
                } while (process.active);
                lost += o.dropped ? 1 : 0;
                transmissions += o.transmission;
            }
            a.simulatedResidualBler = static_cast<double>(lost) / r.nTrials;
            a.simulatedMeanTransmissions = static_cast<double>(transmissions) / r.nTrials;
        }
    }
    return Message::From("harq_result", out);
}

Message
AnswerRbSinr(const Message& request)
{
    const auto* rq = request.Records<RbSinrRequest>();
    std::vector<RbSinrReply> out(request.count);
    for (size_t i = 0; i < request.count; ++i)
    {
        const auto& r = rq[i];
        RequireNotNan("rb_sinr", i, request.count, "signal_dbm", r.signalDbm);
        RequireNotNan("rb_sinr", i, request.count, "noise_dbm", r.noiseDbm);
        if (!(r.interferenceMw >= 0.0))
        {
            throw InvalidRequest(Where("rb_sinr", i, request.count) + "interference_mw must be >= 0");
        }
        out[i].sinrDb = LinearToDb(PerRbSinr({r.signalDbm}, r.noiseDbm, {{r.interferenceMw}})[0]);
    }
    return Message::From("rb_sinr_result", out);
}

Message
AnswerEffectiveSinr(const Message& request)
{
    const auto* rq = request.Records<EffectiveSinrRequest>();
    std::map<uint64_t, std::vector<double>> groups;
    for (size_t i = 0; i < request.count; ++i)
    {
        RequireNotNan("effective_sinr", i, request.count, "sinr_db", rq[i].sinrDb);
        groups[rq[i].group].push_back(DbToLinear(rq[i].sinrDb));
    }
    std::map<uint64_t, double> effective;
    for (const auto& [g, sinrs] : groups)
    {
        effective[g] = LinearToDb(EffectiveSinr(sinrs));
    }
    std::vector<EffectiveSinrReply> out(request.count);
    for (size_t i = 0; i < request.count; ++i)
    {
        out[i].effectiveSinrDb = effective[rq[i].group];
        out[i].groupSize = groups[rq[i].group].size();
    }
    return Message::From("effective_sinr_result", out);
}

Message
AnswerNoise(const Message& request)
{
    const auto* rq = request.Records<NoiseRequest>();
    std::vector<NoiseReply> out(request.count);
    for (size_t i = 0; i < request.count; ++i)
    {
        const auto& r = rq[i];
        RequireNotNan("noise", i, request.count, "noise_figure_db", r.noiseFigureDb);
        out[i].noiseDbm =
            Checked("noise", i, request.count, [&] { return ThermalNoiseDbm(r.rbBandwidthHz, r.noiseFigureDb); });
    }
    return Message::From("noise_result", out);
}

} // namespace

void
AddPhyQueries(QueryTable& table)
{
    table.push_back(
        {{"carrier",
          sizeof(CarrierRequest),
          {NS6G_FIELD(CarrierRequest, frequencyHz, "frequency_hz"),
           NS6G_FIELD(CarrierRequest, bandwidthHz, "bandwidth_hz"),
           NS6G_FIELD(CarrierRequest, mu, "mu"),
           NS6G_FIELD(CarrierRequest, rbgSize, "rbg_size"),
           NS6G_FIELD(CarrierRequest, lenient, "lenient")}},
         {"carrier_result",
          sizeof(CarrierReply),
          {NS6G_FIELD(CarrierReply, frequencyHz, "frequency_hz"),
           NS6G_FIELD(CarrierReply, bandwidthHz, "bandwidth_hz"),
           NS6G_FIELD(CarrierReply, scsHz, "scs_hz"),
           NS6G_FIELD(CarrierReply, rbBandwidthHz, "rb_bandwidth_hz"),
           NS6G_FIELD(CarrierReply, slotS, "slot_s"),
           NS6G_FIELD(CarrierReply, transmissionBandwidthHz, "transmission_bandwidth_hz"),
           NS6G_FIELD(CarrierReply, guardBandHz, "guard_band_hz"),
           NS6G_FIELD(CarrierReply, mu, "mu"),
           NS6G_FIELD(CarrierReply, nRb, "n_rb"),
           NS6G_FIELD(CarrierReply, nRbg, "n_rbg"),
           NS6G_FIELD(CarrierReply, rbgSize, "rbg_size"),
           NS6G_FIELD(CarrierReply, lastRbgSize, "last_rbg_size"),
           NS6G_FIELD(CarrierReply, valid, "valid"),
           NS6G_FIELD(CarrierReply, standardBandwidth, "standard_bandwidth"),
           {"reason", "S" + std::to_string(kReasonBytes), offsetof(CarrierReply, reason)}}},
         AnswerCarrier});

    table.push_back(
        {{"link_adaptation",
          sizeof(LinkAdaptationRequest),
          {NS6G_FIELD(LinkAdaptationRequest, sinrDb, "sinr_db"),
           NS6G_FIELD(LinkAdaptationRequest, table, "table"),
           NS6G_FIELD(LinkAdaptationRequest, tbsBits, "tbs_bits")}},
         {"link_adaptation_result",
          sizeof(LinkAdaptationReply),
          {NS6G_FIELD(LinkAdaptationReply, sinrDb, "sinr_db"),
           NS6G_FIELD(LinkAdaptationReply, codeRate, "code_rate"),
           NS6G_FIELD(LinkAdaptationReply, spectralEfficiency, "spectral_efficiency"),
           NS6G_FIELD(LinkAdaptationReply, bler, "bler"),
           NS6G_FIELD(LinkAdaptationReply, cqiSpectralEfficiency, "cqi_spectral_efficiency"),
           NS6G_FIELD(LinkAdaptationReply, cqi, "cqi"),
           NS6G_FIELD(LinkAdaptationReply, mcs, "mcs"),
           NS6G_FIELD(LinkAdaptationReply, qm, "qm"),
           NS6G_FIELD(LinkAdaptationReply, table, "table"),
           NS6G_FIELD(LinkAdaptationReply, tbsBits, "tbs_bits")}},
         AnswerLinkAdaptation});

    table.push_back({{"mcs",
                      sizeof(McsRequest),
                      {NS6G_FIELD(McsRequest, table, "table"),
                       NS6G_FIELD(McsRequest, mcs, "mcs"),
                       NS6G_FIELD(McsRequest, tbsBits, "tbs_bits")}},
                     {"mcs_result",
                      sizeof(McsReply),
                      {NS6G_FIELD(McsReply, codeRateX1024, "code_rate_x1024"),
                       NS6G_FIELD(McsReply, codeRate, "code_rate"),
                       NS6G_FIELD(McsReply, spectralEfficiency, "spectral_efficiency"),
                       NS6G_FIELD(McsReply, requiredSinrDb, "required_sinr_db"),
                       NS6G_FIELD(McsReply, table, "table"),
                       NS6G_FIELD(McsReply, mcs, "mcs"),
                       NS6G_FIELD(McsReply, qm, "qm"),
                       NS6G_FIELD(McsReply, tbsBits, "tbs_bits"),
                       NS6G_FIELD(McsReply, maxMcs, "max_mcs")}},
                     AnswerMcs});

    table.push_back({{"tbs",
                      sizeof(TbsRequest),
                      {NS6G_FIELD(TbsRequest, mcs, "mcs"),
                       NS6G_FIELD(TbsRequest, table, "table"),
                       NS6G_FIELD(TbsRequest, nRb, "n_rb"),
                       NS6G_FIELD(TbsRequest, nSymbols, "n_symbols"),
                       NS6G_FIELD(TbsRequest, nLayers, "n_layers"),
                       NS6G_FIELD(TbsRequest, dmrsRePerRb, "dmrs_re_per_rb"),
                       NS6G_FIELD(TbsRequest, overheadRePerRb, "overhead_re_per_rb")}},
                     {"tbs_result",
                      sizeof(TbsReply),
                      {NS6G_FIELD(TbsReply, nInfo, "n_info"),
                       NS6G_FIELD(TbsReply, nInfoQuantized, "n_info_quantized"),
                       NS6G_FIELD(TbsReply, tbsBits, "tbs_bits"),
                       NS6G_FIELD(TbsReply, nRe, "n_re"),
                       NS6G_FIELD(TbsReply, nCodeBlocks, "n_code_blocks"),
                       NS6G_FIELD(TbsReply, baseGraph, "base_graph")}},
                     AnswerTbs});

    table.push_back({{"bler",
                      sizeof(BlerRequest),
                      {NS6G_FIELD(BlerRequest, sinrDb, "sinr_db"),
                       NS6G_FIELD(BlerRequest, channelUses, "channel_uses"),
                       NS6G_FIELD(BlerRequest, mcs, "mcs"),
                       NS6G_FIELD(BlerRequest, table, "table"),
                       NS6G_FIELD(BlerRequest, tbsBits, "tbs_bits"),
                       NS6G_FIELD(BlerRequest, transmissions, "transmissions")}},
                     {"bler_result",
                      sizeof(BlerReply),
                      {NS6G_FIELD(BlerReply, bler, "bler"),
                       NS6G_FIELD(BlerReply, combinedSinrDb, "combined_sinr_db")}},
                     AnswerBler});

    table.push_back({{"harq",
                      sizeof(HarqRequest),
                      {NS6G_FIELD(HarqRequest, sinrDb, "sinr_db"),
                       NS6G_FIELD(HarqRequest, channelUses, "channel_uses"),
                       NS6G_FIELD(HarqRequest, mcs, "mcs"),
                       NS6G_FIELD(HarqRequest, table, "table"),
                       NS6G_FIELD(HarqRequest, tbsBits, "tbs_bits"),
                       NS6G_FIELD(HarqRequest, maxTransmissions, "max_transmissions"),
                       NS6G_FIELD(HarqRequest, nTrials, "n_trials"),
                       NS6G_FIELD(HarqRequest, seed, "seed")}},
                     {"harq_result",
                      sizeof(HarqReply),
                      {NS6G_FIELD(HarqReply, firstBler, "first_bler"),
                       NS6G_FIELD(HarqReply, residualBler, "residual_bler"),
                       NS6G_FIELD(HarqReply, expectedTransmissions, "expected_transmissions"),
                       NS6G_FIELD(HarqReply, simulatedResidualBler, "simulated_residual_bler"),
                       NS6G_FIELD(HarqReply, simulatedMeanTransmissions, "simulated_mean_transmissions")}},
                     AnswerHarq});

    table.push_back({{"rb_sinr",
                      sizeof(RbSinrRequest),
                      {NS6G_FIELD(RbSinrRequest, signalDbm, "signal_dbm"),
                       NS6G_FIELD(RbSinrRequest, noiseDbm, "noise_dbm"),
                       NS6G_FIELD(RbSinrRequest, interferenceMw, "interference_mw")}},
                     {"rb_sinr_result", sizeof(RbSinrReply), {NS6G_FIELD(RbSinrReply, sinrDb, "sinr_db")}},
                     AnswerRbSinr});

    table.push_back({{"effective_sinr",
                      sizeof(EffectiveSinrRequest),
                      {NS6G_FIELD(EffectiveSinrRequest, sinrDb, "sinr_db"),
                       NS6G_FIELD(EffectiveSinrRequest, group, "group")}},
                     {"effective_sinr_result",
                      sizeof(EffectiveSinrReply),
                      {NS6G_FIELD(EffectiveSinrReply, effectiveSinrDb, "effective_sinr_db"),
                       NS6G_FIELD(EffectiveSinrReply, groupSize, "group_size")}},
                     AnswerEffectiveSinr});

    table.push_back({{"noise",
                      sizeof(NoiseRequest),
                      {NS6G_FIELD(NoiseRequest, rbBandwidthHz, "rb_bandwidth_hz"),
                       NS6G_FIELD(NoiseRequest, noiseFigureDb, "noise_figure_db")}},
                     {"noise_result", sizeof(NoiseReply), {NS6G_FIELD(NoiseReply, noiseDbm, "noise_dbm")}},
                     AnswerNoise});
}

} // namespace ns6g::ran
