// ns6g bridge: the transport. ns6g::Bridge owns the scenario's end of the shared-memory segment (layout:
// ns6g-layout.h), declares the scenario's spaces and record types to Python and runs the request loop.
// Part of bridge/ns6g-bridge.h, which describes the protocol.
#pragma once

#include "ns6g-env.h"
#include "ns6g-layout.h"
#include "ns6g-wait.h"

#include "ns3/core-module.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ns6g
{

namespace detail
{
inline std::string
JsonString(const std::string& s)
{
    std::string out = "\"";
    for (char c : s)
    {
        switch (c)
        {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        default:
            if (static_cast<unsigned char>(c) < 0x20)
            {
                char buf[8];
                std::snprintf(buf, sizeof(buf), "\\u%04x", c);
                out += buf;
            }
            else
            {
                out += c;
            }
        }
    }
    return out + "\"";
}

inline std::string
JsonNumber(double v)
{
    if (std::isnan(v))
    {
        return "NaN";
    }
    if (std::isinf(v))
    {
        return v > 0 ? "Infinity" : "-Infinity";
    }
    std::ostringstream os;
    os.precision(17);
    os << v;
    return os.str();
}

template <class T>
std::string
JsonArray(const std::vector<T>& values)
{
    std::string out = "[";
    for (size_t i = 0; i < values.size(); ++i)
    {
        if (i)
        {
            out += ",";
        }
        if constexpr (std::is_floating_point_v<T>)
        {
            out += JsonNumber(values[i]);
        }
        else
        {
            out += std::to_string(values[i]);
        }
    }
    return out + "]";
}

inline uint64_t
AlignUp(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}
} // namespace detail

/**
 * Owns the scenario's end of the segment and runs the request loop. Use through Serve().
 */
class Bridge
{
  public:
    /** Adds --ns6g-shm (and --ns6g-spin-us) to a scenario's ns3::CommandLine. */
    void AddCommandLine(ns3::CommandLine& cmd)
    {
        cmd.AddValue("ns6g-shm", "shared-memory segment created by ns6g (set by Python)", m_name);
        cmd.AddValue("ns6g-spin-us", "microseconds to spin before sleeping while waiting", m_spinUs);
    }

    const std::string& GetName() const
    {
        return m_name;
    }

    /**
     * Serve `service` until Python sends CLOSE: a GymEnv with its spaces, any other MessageService with
     * none (Python's Bridge then refuses STEP). Returns the process exit code.
     */
    int Serve(MessageService& service)
    {
        if (m_name.empty())
        {
            std::cerr << "ns6g: this scenario is started by ns6g (Python), which passes --ns6g-shm\n";
            return 2;
        }
        Open();
        StartWatchdog();
        m_env = dynamic_cast<GymEnv*>(&service);
        if (m_env)
        {
            m_obsSpace = m_env->GetObservationSpace();
            m_actSpace = m_env->GetActionSpace();
        }
        m_recordTypes = service.GetRecordTypes();
        Hello();
        uint32_t seq = 0;
        ns6g_waiter waiter{};
        waiter.counter = Ctr(layout::kRequestCtrOff);
        waiter.own_cpu = Ctr(layout::kScenarioCpuOff);
        waiter.peer_cpu = Ctr(layout::kPythonCpuOff);
        waiter.spin_ns = m_spinUs * 1000;
        // Only this side moves apart (ns6g-wait.h), and only for observations up to kMoveApartMaxBytes.
        size_t obsBytes = 0;
        if (m_env)
        {
            m_obs.ForEachLeaf([&obsBytes](const std::string&, const DataView& leaf) { obsBytes += leaf.Bytes(); });
        }
        waiter.may_move = m_spinUs > 0 && obsBytes <= kMoveApartMaxBytes ? 1 : 0;
        for (;;)
        {
            ++seq;
            // No timeout of its own: the watchdog ends the process if Python dies, so the slices only
            // bound a lost wake-up.
            if (!ns6g_spin(&waiter, seq))
            {
                while (!ns6g_sleep(&waiter, seq, 100'000'000))
                {
                }
            }
            if (ns6g_keep_apart(&waiter))
            {
                Set<uint32_t>(layout::kScenarioMovesOff, static_cast<uint32_t>(waiter.moves));
            }
            uint32_t cmd = Get<uint32_t>(layout::kReqCommandOff);
            if (cmd == kCmdClose)
            {
                ns3::Simulator::Destroy();
                Set<uint32_t>(layout::kRespStatusOff, kStatusOk);
                Set<uint64_t>(layout::kRespArenaLenOff, 0);
                Post(seq + 1);
                return 0;
            }
            try
            {
                Handle(service, cmd);
            }
            catch (const std::exception& e)
            {
                WriteError(e.what());
            }
            // Response sequence is request + 1 because HELLO took response 1.
            Post(seq + 1);
        }
    }

  private:
    template <class T>
    T Get(uint64_t off) const
    {
        T v;
        std::memcpy(&v, m_base + off, sizeof(T));
        return v;
    }

    template <class T>
    void Set(uint64_t off, T v)
    {
        std::memcpy(m_base + off, &v, sizeof(T));
    }

    uint32_t* Ctr(uint64_t off)
    {
        return reinterpret_cast<uint32_t*>(m_base + off);
    }

    void Post(uint32_t seq)
    {
        ns6g_post(Ctr(layout::kResponseCtrOff), seq, Ctr(layout::kScenarioCpuOff));
    }

    void Fail(const std::string& what)
    {
        std::cerr << "ns6g bridge: " << what << " (" << std::strerror(errno) << ")\n";
        std::_Exit(3);
    }

    void Open()
    {
        m_fd = shm_open(m_name.c_str(), O_RDWR, 0);
        if (m_fd < 0)
        {
            Fail("cannot open shared-memory segment " + m_name);
        }
        void* p = mmap(nullptr, layout::kHeaderSize, PROT_READ | PROT_WRITE, MAP_SHARED, m_fd, 0);
        if (p == MAP_FAILED)
        {
            Fail("cannot map the segment header");
        }
        m_base = static_cast<uint8_t*>(p);
        if (Get<uint64_t>(layout::kMagicOff) != layout::kMagic ||
            Get<uint32_t>(layout::kVersionOff) != layout::kVersion)
        {
            errno = EPROTO;
            Fail("segment " + m_name + " is not an ns6g bridge segment of version " +
                 std::to_string(layout::kVersion));
        }
        m_pythonPid = static_cast<pid_t>(Get<uint32_t>(layout::kPythonPidOff));
        Set<uint32_t>(layout::kScenarioPidOff, static_cast<uint32_t>(getpid()));
    }

    /** Exits the process once Python is gone; beats the heartbeat Python watches. */
    void StartWatchdog()
    {
        pid_t parent = getppid();
        pid_t python = m_pythonPid;
        std::string name = m_name;
        auto* heartbeat = reinterpret_cast<uint64_t*>(m_base + layout::kHeartbeatOff);
        std::thread([parent, python, name, heartbeat] {
            for (;;)
            {
                __atomic_fetch_add(heartbeat, 1, __ATOMIC_RELAXED);
                bool orphaned = getppid() != parent || (kill(python, 0) != 0 && errno == ESRCH);
                if (orphaned)
                {
                    shm_unlink(name.c_str()); // only matters if Python died before unlinking it
                    std::_Exit(4);
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
        }).detach();
    }

    /** Lay out one space's leaves from `offset`; returns the JSON description. */
    std::string LayoutSpace(const Space& s, DataView& view, uint64_t& offset)
    {
        std::string json;
        if (s.kind == Space::Kind::kDict)
        {
            view.m_isDict = true;
            json = "{\"type\":\"Dict\",\"spaces\":[";
            for (size_t i = 0; i < s.children.size(); ++i)
            {
                DataView child;
                json += (i ? ",[" : "[") + detail::JsonString(s.children[i].first) + "," +
                        LayoutSpace(s.children[i].second, child, offset) + "]";
                view.m_children.emplace_back(s.children[i].first, std::move(child));
            }
            return json + "]}";
        }
        offset = detail::AlignUp(offset, 64);
        view.m_dtype = s.dtype;
        view.m_shape = s.shape;
        view.m_count = s.kind == Space::Kind::kDiscrete ? 1 : s.NumElements();
        view.m_data = reinterpret_cast<void*>(offset); // rebased once the segment is mapped
        std::string common = "\"dtype\":\"" + std::string(DtypeName(s.dtype)) +
                             "\",\"shape\":" + detail::JsonArray(s.shape) +
                             ",\"offset\":" + std::to_string(offset);
        offset += view.m_count * DtypeSize(s.dtype);
        switch (s.kind)
        {
        case Space::Kind::kBox:
            return "{\"type\":\"Box\"," + common + ",\"low\":" + detail::JsonArray(s.low) +
                   ",\"high\":" + detail::JsonArray(s.high) + "}";
        case Space::Kind::kDiscrete:
            return "{\"type\":\"Discrete\"," + common + ",\"n\":" + std::to_string(s.n) +
                   ",\"start\":" + std::to_string(s.start) + "}";
        case Space::Kind::kMultiDiscrete:
            return "{\"type\":\"MultiDiscrete\"," + common + ",\"nvec\":" + detail::JsonArray(s.nvec) +
                   "}";
        case Space::Kind::kMultiBinary:
            return "{\"type\":\"MultiBinary\"," + common + "}";
        default:
            return "{}";
        }
    }

    static void Rebase(DataView& view, uint8_t* base)
    {
        if (view.m_isDict)
        {
            for (auto& [name, child] : view.m_children)
            {
                Rebase(child, base);
            }
            return;
        }
        view.m_data = base + reinterpret_cast<uintptr_t>(view.m_data);
    }

    void Hello()
    {
        uint64_t offset = layout::kHeaderSize;
        // Two statements: the observation is laid out first, then the action (operand order is unspecified).
        // A message service has no spaces: "null" tells Python so.
        const std::string obsJson = m_env ? LayoutSpace(m_obsSpace, m_obs, offset) : "null";
        const std::string actJson = m_env ? LayoutSpace(m_actSpace, m_act, offset) : "null";
        std::string json = "{\"version\":" + std::to_string(layout::kVersion) +
                           ",\"observation\":" + obsJson + ",\"action\":" + actJson + ",\"records\":[";
        for (size_t i = 0; i < m_recordTypes.size(); ++i)
        {
            const auto& r = m_recordTypes[i];
            json += (i ? ",{" : "{") + std::string("\"name\":") + detail::JsonString(r.name) +
                    ",\"itemsize\":" + std::to_string(r.itemSize) + ",\"fields\":[";
            for (size_t j = 0; j < r.fields.size(); ++j)
            {
                const auto& f = r.fields[j];
                json += (j ? ",[" : "[") + detail::JsonString(f.name) + "," + detail::JsonString(f.dtype) +
                        "," + std::to_string(f.offset) + "]";
            }
            json += "]}";
        }
        json += "]}";

        m_arenaOffset = detail::AlignUp(offset, 4096);
        uint64_t total = m_arenaOffset + std::max<uint64_t>(layout::kMinArena, detail::AlignUp(json.size(), 4096));
        if (ftruncate(m_fd, static_cast<off_t>(total)) != 0)
        {
            Fail("cannot grow the segment to " + std::to_string(total) + " bytes");
        }
        // The header mapping stays: the watchdog thread's heartbeat pointer lives in it.
        void* p = mmap(nullptr, m_arenaOffset, PROT_READ | PROT_WRITE, MAP_SHARED, m_fd, 0);
        if (p == MAP_FAILED)
        {
            Fail("cannot map the segment");
        }
        m_base = static_cast<uint8_t*>(p);
        if (m_env)
        {
            Rebase(m_obs, m_base);
            Rebase(m_act, m_base);
        }
        Set<uint64_t>(layout::kTotalSizeOff, total);
        Set<uint64_t>(layout::kArenaOffsetOff, m_arenaOffset);
        MapArena();
        std::memcpy(m_arena, json.data(), json.size());
        Set<uint32_t>(layout::kRespStatusOff, kStatusHello);
        Set<uint64_t>(layout::kRespArenaLenOff, json.size());
        Post(1);
    }

    void MapArena()
    {
        if (m_arena)
        {
            munmap(m_arena, m_arenaSize);
        }
        uint64_t total = Get<uint64_t>(layout::kTotalSizeOff);
        m_arenaSize = total - m_arenaOffset;
        void* p = mmap(nullptr, m_arenaSize, PROT_READ | PROT_WRITE, MAP_SHARED, m_fd,
                       static_cast<off_t>(m_arenaOffset));
        if (p == MAP_FAILED)
        {
            Fail("cannot map the segment arena");
        }
        m_arena = static_cast<uint8_t*>(p);
    }

    /** Make the arena hold at least `bytes`, growing the segment if we must (Python remaps). */
    uint8_t* Arena(uint64_t bytes)
    {
        uint64_t total = Get<uint64_t>(layout::kTotalSizeOff);
        if (total - m_arenaOffset != m_arenaSize)
        {
            MapArena(); // Python grew it
        }
        if (bytes > m_arenaSize)
        {
            uint64_t newTotal = m_arenaOffset + detail::AlignUp(std::max(bytes, 2 * m_arenaSize), 4096);
            if (ftruncate(m_fd, static_cast<off_t>(newTotal)) != 0)
            {
                Fail("cannot grow the segment to " + std::to_string(newTotal) + " bytes");
            }
            Set<uint64_t>(layout::kTotalSizeOff, newTotal);
            MapArena();
        }
        return m_arena;
    }

    void WriteError(const std::string& what)
    {
        uint8_t* a = Arena(what.size());
        std::memcpy(a, what.data(), what.size());
        Set<uint32_t>(layout::kRespStatusOff, kStatusError);
        Set<uint64_t>(layout::kRespArenaLenOff, what.size());
    }

    /** Run the simulation to the next decision: the step time, or an earlier Simulator::Stop(). */
    void Advance()
    {
        ns3::Time dt = m_env ? m_env->GetStepTime() : ns3::Time::Max();
        ns3::EventId stop;
        if (dt != ns3::Time::Max())
        {
            stop = ns3::Simulator::Schedule(dt, [] { ns3::Simulator::Stop(); });
        }
        ns3::Simulator::Run();
        stop.Cancel();
    }

    /** Observation, reward, flags and info into the response (a message service has only the time). */
    void WriteOutcome(bool withReward)
    {
        withReward = withReward && m_env;
        if (m_env)
        {
            m_env->GetObservation(m_obs);
        }
        Set<double>(layout::kRespRewardOff, withReward ? m_env->GetReward() : 0.0);
        Set<uint8_t>(layout::kRespTerminatedOff, withReward && m_env->GetGameOver());
        Set<uint8_t>(layout::kRespTruncatedOff, withReward && m_env->GetTruncated());
        Set<double>(layout::kRespSimTimeOff, ns3::Simulator::Now().GetSeconds());
        m_info.Clear();
        if (m_env)
        {
            m_env->GetExtraInfo(m_info);
        }
        // Info: [u32 count][u32 names_len][names, '\0'-separated][pad to 8][f64 values].
        const auto& items = m_info.Items();
        uint64_t namesLen = 0;
        for (const auto& [k, v] : items)
        {
            namesLen += k.size() + 1;
        }
        uint64_t valuesOff = detail::AlignUp(8 + namesLen, 8);
        uint64_t len = items.empty() ? 0 : valuesOff + 8 * items.size();
        uint8_t* a = Arena(len);
        if (!items.empty())
        {
            uint32_t count = items.size();
            uint32_t nl = namesLen;
            std::memcpy(a, &count, 4);
            std::memcpy(a + 4, &nl, 4);
            uint8_t* p = a + 8;
            for (const auto& [k, v] : items)
            {
                std::memcpy(p, k.c_str(), k.size() + 1);
                p += k.size() + 1;
            }
            for (size_t i = 0; i < items.size(); ++i)
            {
                std::memcpy(a + valuesOff + 8 * i, &items[i].second, 8);
            }
        }
        Set<uint32_t>(layout::kRespStatusOff, kStatusOk);
        Set<uint64_t>(layout::kRespArenaLenOff, len);
    }

    /**
     * Commands out of order are refused here, once for every scenario, so that no scenario ever runs
     * ExecuteActions, GetObservation or HandleMessage without a simulation built by SetupEpisode: STEP and
     * MESSAGE need an episode (a successful RESET), STEP also one that has not ended. A STEP or RESET
     * that fails part-way leaves no episode (only a rejected action does not: it changed nothing).
     */
    void Handle(MessageService& service, uint32_t cmd)
    {
        switch (cmd)
        {
        case kCmdStep:
            if (!m_env)
            {
                throw InvalidRequest("STEP: this scenario is a message service (no spaces); use the message channel");
            }
            RequireEpisode("STEP");
            if (m_episode == Episode::kOver)
            {
                throw InvalidRequest("STEP after the episode ended (terminated or truncated): send RESET first");
            }
            if (!m_env->ExecuteActions(m_act))
            {
                throw InvalidRequest("the scenario rejected the action");
            }
            Lose("the last STEP failed");
            Advance();
            WriteOutcome(true);
            m_episode = Get<uint8_t>(layout::kRespTerminatedOff) || Get<uint8_t>(layout::kRespTruncatedOff)
                            ? Episode::kOver
                            : Episode::kRunning;
            return;
        case kCmdReset:
            Lose("the last RESET failed");
            ns3::Simulator::Destroy();
            ns3::RngSeedManager::SetRun(Get<uint64_t>(layout::kReqSeedOff));
            // A fresh process and a reset with the same seed must draw the same streams.
            ns3::RngSeedManager::ResetNextStreamIndex();
            service.SetupEpisode();
            Advance();
            WriteOutcome(false);
            m_episode = Episode::kRunning;
            return;
        case kCmdMessage:
            RequireEpisode("MESSAGE");
            HandleMessage(service);
            return;
        default:
            throw InvalidRequest("unknown command " + std::to_string(cmd));
        }
    }

    void RequireEpisode(const char* command)
    {
        if (m_episode == Episode::kNone)
        {
            throw InvalidRequest(std::string(command) + " needs an episode: send RESET first (" + m_noEpisode +
                                 ")");
        }
    }

    void Lose(const char* why)
    {
        m_episode = Episode::kNone;
        m_noEpisode = why;
    }

    /** Message payload: [u32 type index][u32 0][u64 count][records]. */
    void HandleMessage(MessageService& service)
    {
        uint64_t len = Get<uint64_t>(layout::kReqArenaLenOff);
        uint8_t* a = Arena(0);
        if (len < 16 || len > m_arenaSize)
        {
            throw InvalidRequest("malformed message");
        }
        uint32_t typeIndex;
        uint64_t count;
        std::memcpy(&typeIndex, a, 4);
        std::memcpy(&count, a + 8, 8);
        if (typeIndex >= m_recordTypes.size())
        {
            throw InvalidRequest("unknown record type index " + std::to_string(typeIndex));
        }
        Message request;
        request.type = m_recordTypes[typeIndex].name;
        request.count = count;
        if (16 + count * m_recordTypes[typeIndex].itemSize != len)
        {
            throw InvalidRequest("message length does not match its record count");
        }
        request.bytes.assign(a + 16, a + len);
        Message reply = service.HandleMessage(request);
        uint32_t replyIndex = 0;
        while (replyIndex < m_recordTypes.size() && m_recordTypes[replyIndex].name != reply.type)
        {
            ++replyIndex;
        }
        if (replyIndex == m_recordTypes.size())
        {
            throw std::logic_error("HandleMessage replied with undeclared record type '" + reply.type + "'");
        }
        if (reply.bytes.size() != reply.count * m_recordTypes[replyIndex].itemSize)
        {
            throw std::logic_error("HandleMessage reply size does not match its record count");
        }
        uint64_t outLen = 16 + reply.bytes.size();
        a = Arena(outLen);
        uint32_t zero = 0;
        uint64_t replyCount = reply.count;
        std::memcpy(a, &replyIndex, 4);
        std::memcpy(a + 4, &zero, 4);
        std::memcpy(a + 8, &replyCount, 8);
        if (!reply.bytes.empty())
        {
            std::memcpy(a + 16, reply.bytes.data(), reply.bytes.size());
        }
        Set<uint32_t>(layout::kRespStatusOff, kStatusOk);
        Set<uint64_t>(layout::kRespArenaLenOff, outLen);
    }

    std::string m_name;
    int64_t m_spinUs{50};
    int m_fd{-1};
    uint8_t* m_base{nullptr};
    uint8_t* m_arena{nullptr};
    uint64_t m_arenaOffset{0};
    uint64_t m_arenaSize{0};
    pid_t m_pythonPid{0};
    GymEnv* m_env{nullptr}; // null for a message service
    Space m_obsSpace, m_actSpace;
    DataView m_obs, m_act;
    // Moving apart pays for small observations (a round trip without context switches) but not for large
    // ones: 256 KB written on one CPU and copied out on the other took 46 us here, against 21 us with both
    // sides on one CPU (its caches hold the data); at 64 KB the two placements were level (docs/bridge.md).
    static constexpr size_t kMoveApartMaxBytes = 65536;
    std::vector<RecordType> m_recordTypes;
    Info m_info;
    enum class Episode
    {
        kNone,    // no simulation to step or query: m_noEpisode says why
        kRunning, // built by a RESET and not ended
        kOver,    // the last STEP terminated or truncated it; MESSAGE may still read it
    };
    Episode m_episode{Episode::kNone};
    const char* m_noEpisode{"no RESET has been received"};
};

} // namespace ns6g
