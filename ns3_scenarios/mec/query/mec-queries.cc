// Queries of the MEC models (see ran/query/ran-query.h); Python's side is ns6g/compute/devices.py. Record structs
// are laid out by hand (explicit padding, offsets checked by static_assert).
//
//   processor_run  -> processor_result   one record per task of one or more cases; each case runs a fresh
//                                         ns-3 simulation of one mec::Processor (tasks submitted at their
//                                         arrival times); reply in request order.
//   device_info    -> device_row         one catalogue row per request (catalogue path in the request),
//                                         with SplitFits for the given device-part memory.
#include "mec/model/device-catalogue.h"
#include "mec/model/processor.h"
#include "ran/query/ran-query.h"

#include "ns3/simulator.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <map>
#include <numeric>
#include <sstream>

namespace ns6g::ran
{

namespace
{

constexpr size_t kNameChars = 32;
constexpr size_t kPathChars = 256;
constexpr size_t kSourceChars = 256;

struct ProcessorRunRecord
{
    uint32_t caseId;       //!< groups the tasks of one processor
    uint32_t discipline;   //!< 0: fifo, 1: ps
    uint32_t cores;        //!< >= 1
    uint32_t pad;
    double capacityFlops;  //!< FLOP/s per core
    double arrivalS;       //!< the task's arrival (submission) time, s
    double flops;          //!< the task's work, FLOPs
    double energyPerFlopJ;
    double kappaJ;
    double frequencyHz;
    double flopsPerCycle;
    double idlePowerW;
};

static_assert(offsetof(ProcessorRunRecord, capacityFlops) == 16 && offsetof(ProcessorRunRecord, flops) == 32 &&
                  offsetof(ProcessorRunRecord, idlePowerW) == 72 && sizeof(ProcessorRunRecord) == 80,
              "processor_run records must have no hidden padding");

struct ProcessorResultRecord
{
    uint32_t caseId;
    uint32_t pad;
    uint64_t task;    //!< the Processor's task id (submission order within the case)
    double arrivalS;
    double startS;    //!< first service
    double finishS;
    double energyJ;   //!< the case's processor energy at its last event (the same on every row of a case)
};

static_assert(offsetof(ProcessorResultRecord, task) == 8 && offsetof(ProcessorResultRecord, energyJ) == 40 &&
                  sizeof(ProcessorResultRecord) == 48,
              "processor_result records must have no hidden padding");

struct DeviceInfoRecord
{
    char name[kNameChars];
    char path[kPathChars];     //!< the catalogue CSV
    double deviceMemoryBytes;  //!< memory of a split's device part, to check with SplitFits
};

static_assert(offsetof(DeviceInfoRecord, deviceMemoryBytes) == 288 && sizeof(DeviceInfoRecord) == 296,
              "device_info records must have no hidden padding");

struct DeviceRowRecord
{
    char name[kNameChars];
    char deviceClass[kNameChars];
    double flops;
    uint64_t memoryBytes;
    uint64_t storageBytes;
    double txPowerDbm; //!< NaN: no radio
    double energyPerFlopJ;
    double idlePowerW;
    uint32_t splitFits; //!< 1 if deviceMemoryBytes fits the device's memory
    uint32_t pad;
    char source[kSourceChars];
};

static_assert(offsetof(DeviceRowRecord, flops) == 64 && offsetof(DeviceRowRecord, splitFits) == 112 &&
                  offsetof(DeviceRowRecord, source) == 120 && sizeof(DeviceRowRecord) == 376,
              "device_row records must have no hidden padding");

/** Upper bound on the tasks of one processor_run request. */
constexpr size_t kMaxTasks = 100000;

[[noreturn]] void
Refuse(const std::string& query, const std::string& what)
{
    throw InvalidRequest(query + ": " + what);
}

// ---------------------------------------------------------------------------------------------------
// processor_run

/** Runs one case: returns the result of each task, indexed like `tasks`. */
std::vector<ProcessorResultRecord>
RunCase(const std::vector<const ProcessorRunRecord*>& tasks)
{
    using namespace ns3;
    const ProcessorRunRecord& first = *tasks.front();
    const std::string q = "processor_run (case " + std::to_string(first.caseId) + ")";
    for (const auto* r : tasks)
    {
        // NaN equals NaN here: a bad value is then refused by the Processor, naming the parameter.
        auto same = [](double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); };
        if (r->discipline != first.discipline || r->cores != first.cores ||
            !same(r->capacityFlops, first.capacityFlops) || !same(r->energyPerFlopJ, first.energyPerFlopJ) ||
            !same(r->kappaJ, first.kappaJ) || !same(r->frequencyHz, first.frequencyHz) ||
            !same(r->flopsPerCycle, first.flopsPerCycle) || !same(r->idlePowerW, first.idlePowerW))
        {
            Refuse(q, "every task of a case must give the same discipline, cores, capacity_flops and energy "
                      "parameters");
        }
        if (!std::isfinite(r->arrivalS) || r->arrivalS < 0.0)
        {
            std::ostringstream os;
            os << "arrival_s must be finite and >= 0, got " << r->arrivalS;
            Refuse(q, os.str());
        }
    }
    if (first.discipline > 1)
    {
        Refuse(q, "discipline code " + std::to_string(first.discipline) + " is unknown: 0 (fifo) or 1 (ps)");
    }

    // Tasks are submitted in arrival order, ties in request order.
    std::vector<size_t> order(tasks.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return tasks[a]->arrivalS < tasks[b]->arrivalS; });

    std::vector<ProcessorResultRecord> results(tasks.size());
    std::vector<size_t> byId(tasks.size());
    Simulator::Destroy();
    try
    {
        Ptr<mec::Processor> p = CreateObject<mec::Processor>();
        p->SetCores(first.cores);
        p->SetDiscipline(first.discipline == 0 ? "fifo" : "ps");
        p->SetCapacityFlops(first.capacityFlops);
        p->SetEnergyPerFlopJ(first.energyPerFlopJ);
        p->SetKappaJ(first.kappaJ);
        p->SetFrequencyHz(first.frequencyHz);
        p->SetFlopsPerCycle(first.flopsPerCycle);
        p->SetIdlePowerW(first.idlePowerW);
        p->GetEnergyPerFlopInForceJ(); // refuses a conflicting energy model now
        for (const auto* r : tasks)
        {
            mec::Processor::CheckFlops(r->flops);
        }
        p->TraceConnectWithoutContext(
            "TaskStart", MakeCallback(+[](std::vector<ProcessorResultRecord>* res, std::vector<size_t>* ids,
                                          uint64_t id, Time t) { (*res)[(*ids)[id]].startS = t.GetSeconds(); })
                             .Bind(&results, &byId));
        auto done = MakeCallback(+[](std::vector<ProcessorResultRecord>* res, std::vector<size_t>* ids,
                                     uint64_t id, Time t) { (*res)[(*ids)[id]].finishS = t.GetSeconds(); })
                        .Bind(&results, &byId);
        // Ids are 0, 1, ... in submission order, and events of one time run in the order scheduled: task
        // k of `order` gets id k (known before Submit fires its start and, for 0 FLOPs, finish).
        for (size_t k = 0; k < order.size(); ++k)
        {
            const size_t i = order[k];
            const ProcessorRunRecord* r = tasks[i];
            byId[k] = i;
            results[i] = ProcessorResultRecord{r->caseId, 0, k, r->arrivalS, NAN, NAN, 0.0};
            Simulator::Schedule(Seconds(r->arrivalS), [p, r, k, done]() {
                const uint64_t id = p->Submit(r->flops, done);
                NS_ASSERT_MSG(id == k, "processor_run: task ids out of step");
                (void)id;
            });
        }
        Simulator::Run();
        const double energy = p->GetEnergyJ();
        for (auto& res : results)
        {
            res.energyJ = energy;
        }
        p->Dispose();
    }
    catch (const std::invalid_argument& e)
    {
        Simulator::Destroy();
        Refuse(q, e.what());
    }
    Simulator::Destroy();
    return results;
}

Message
AnswerProcessorRun(const Message& request)
{
    if (request.count > kMaxTasks)
    {
        Refuse("processor_run", std::to_string(request.count) + " tasks; the limit of one request is " +
                                    std::to_string(kMaxTasks));
    }
    const auto* records = request.Records<ProcessorRunRecord>();
    std::map<uint32_t, std::vector<size_t>> cases;
    for (size_t i = 0; i < request.count; ++i)
    {
        cases[records[i].caseId].push_back(i);
    }
    std::vector<ProcessorResultRecord> reply(request.count);
    for (const auto& [caseId, indices] : cases)
    {
        std::vector<const ProcessorRunRecord*> tasks;
        for (size_t i : indices)
        {
            tasks.push_back(&records[i]);
        }
        auto results = RunCase(tasks);
        for (size_t k = 0; k < indices.size(); ++k)
        {
            reply[indices[k]] = results[k];
        }
    }
    return Message::From("processor_result", reply);
}

// ---------------------------------------------------------------------------------------------------
// device_info

Message
AnswerDeviceInfo(const Message& request)
{
    const auto* records = request.Records<DeviceInfoRecord>();
    std::map<std::string, std::vector<mec::Device>> catalogues;
    std::vector<DeviceRowRecord> reply;
    for (size_t i = 0; i < request.count; ++i)
    {
        const auto& r = records[i];
        const std::string name = ReadFixedString(r.name);
        const std::string path = ReadFixedString(r.path);
        try
        {
            auto it = catalogues.find(path);
            if (it == catalogues.end())
            {
                it = catalogues.emplace(path, mec::LoadDeviceCatalogue(path)).first;
            }
            const mec::Device& d = mec::FindDevice(it->second, name);
            DeviceRowRecord row{};
            WriteFixedString(row.name, d.name);
            WriteFixedString(row.deviceClass, d.deviceClass);
            row.flops = d.flops;
            row.memoryBytes = d.memoryBytes;
            row.storageBytes = d.storageBytes;
            row.txPowerDbm = d.txPowerDbm;
            row.energyPerFlopJ = d.energyPerFlopJ;
            row.idlePowerW = d.idlePowerW;
            row.splitFits = mec::SplitFits(d, r.deviceMemoryBytes) ? 1 : 0;
            WriteFixedString(row.source, d.source);
            reply.push_back(row);
        }
        catch (const std::exception& e)
        {
            Refuse("device_info", e.what());
        }
    }
    return Message::From("device_row", reply);
}

} // namespace

void
AddMecQueries(QueryTable& table)
{
    table.push_back(Query{
        RecordType{"processor_run",
                   sizeof(ProcessorRunRecord),
                   {NS6G_FIELD(ProcessorRunRecord, caseId, "case"),
                    NS6G_FIELD(ProcessorRunRecord, discipline, "discipline"),
                    NS6G_FIELD(ProcessorRunRecord, cores, "cores"),
                    NS6G_FIELD(ProcessorRunRecord, capacityFlops, "capacity_flops"),
                    NS6G_FIELD(ProcessorRunRecord, arrivalS, "arrival_s"),
                    NS6G_FIELD(ProcessorRunRecord, flops, "flops"),
                    NS6G_FIELD(ProcessorRunRecord, energyPerFlopJ, "energy_per_flop_j"),
                    NS6G_FIELD(ProcessorRunRecord, kappaJ, "kappa_j"),
                    NS6G_FIELD(ProcessorRunRecord, frequencyHz, "frequency_hz"),
                    NS6G_FIELD(ProcessorRunRecord, flopsPerCycle, "flops_per_cycle"),
                    NS6G_FIELD(ProcessorRunRecord, idlePowerW, "idle_power_w")}},
        RecordType{"processor_result",
                   sizeof(ProcessorResultRecord),
                   {NS6G_FIELD(ProcessorResultRecord, caseId, "case"),
                    NS6G_FIELD(ProcessorResultRecord, task, "task"),
                    NS6G_FIELD(ProcessorResultRecord, arrivalS, "arrival_s"),
                    NS6G_FIELD(ProcessorResultRecord, startS, "start_s"),
                    NS6G_FIELD(ProcessorResultRecord, finishS, "finish_s"),
                    NS6G_FIELD(ProcessorResultRecord, energyJ, "energy_j")}},
        AnswerProcessorRun});
    table.push_back(Query{
        RecordType{"device_info",
                   sizeof(DeviceInfoRecord),
                   {NS6G_FIELD(DeviceInfoRecord, name, "name"),
                    NS6G_FIELD(DeviceInfoRecord, path, "path"),
                    NS6G_FIELD(DeviceInfoRecord, deviceMemoryBytes, "device_memory_bytes")}},
        RecordType{"device_row",
                   sizeof(DeviceRowRecord),
                   {NS6G_FIELD(DeviceRowRecord, name, "name"),
                    NS6G_FIELD(DeviceRowRecord, deviceClass, "class"),
                    NS6G_FIELD(DeviceRowRecord, flops, "flops"),
                    NS6G_FIELD(DeviceRowRecord, memoryBytes, "memory_bytes"),
                    NS6G_FIELD(DeviceRowRecord, storageBytes, "storage_bytes"),
                    NS6G_FIELD(DeviceRowRecord, txPowerDbm, "tx_power_dbm"),
                    NS6G_FIELD(DeviceRowRecord, energyPerFlopJ, "energy_per_flop_j"),
                    NS6G_FIELD(DeviceRowRecord, idlePowerW, "idle_power_w"),
                    NS6G_FIELD(DeviceRowRecord, splitFits, "split_fits"),
                    NS6G_FIELD(DeviceRowRecord, source, "source")}},
        AnswerDeviceInfo});
}

} // namespace ns6g::ran
