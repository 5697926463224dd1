// ns6g bridge, C++ side: header-only. A scenario subclasses ns6g::GymEnv, adds ns6g::Bridge's options to
// its CommandLine (Bridge::AddCommandLine), parses it and calls Bridge::Serve(env).
//
// Protocol (the Python side is ns6g/bridge.py; keep both in step with docs/bridge.md):
//  * Python creates a POSIX shared-memory segment (owner-only, name "/ns6g-<pid>-<random>") holding a
//    4 KiB header, starts the scenario with --ns6g-shm=<name>, and waits.
//  * The scenario lays out its spaces after the header (every leaf array 64-byte aligned), grows the
//    segment with ftruncate, writes a JSON descriptor of the spaces and layout into the arena, and posts
//    response sequence 1 (HELLO). Python maps the segment, builds numpy views and unlinks the name, so
//    no exit path can leave it behind.
//  * Lockstep: Python writes a request (command + action or arena payload) and posts the request
//    counter; the scenario answers and posts the response counter. Waiters spin only while spinning can
//    win, else sleep on the counter word with FUTEX_WAIT; posters call FUTEX_WAKE only when the waiter
//    count is non-zero. Both sides run the same code for this: ns6g-wait.h.
//  * Order: STEP and MESSAGE before the first successful RESET, or STEP after the episode ended, get an
//    error response (Bridge::Handle); the scenario lives on.
//  * Liveness: a watchdog thread beats a heartbeat word every 50 ms (Python raises if it stops) and exits
//    the process within about 50 ms once the Python parent is gone.
#pragma once

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

// ---------------------------------------------------------------------------------------------------
// Segment layout. Offsets in bytes; every field little-endian, as on the only platform we support.
namespace layout
{
constexpr uint64_t kMagic = 0x314D485347364E53ULL; // "SN6GSHM1" read as little-endian u64
constexpr uint32_t kVersion = 1;
constexpr uint64_t kHeaderSize = 4096;
constexpr uint64_t kMagicOff = 0;         // u64
constexpr uint64_t kVersionOff = 8;       // u32
constexpr uint64_t kPythonPidOff = 16;    // u32
constexpr uint64_t kScenarioPidOff = 20;  // u32
constexpr uint64_t kTotalSizeOff = 24;    // u64, current segment size
constexpr uint64_t kArenaOffsetOff = 32;  // u64, page-aligned start of the variable-size arena
constexpr uint64_t kRequestCtrOff = 64;   // [u32 seq, u32 waiters], posted by Python
constexpr uint64_t kPythonCpuOff = 72;    // u32, CPU Python last ran on, plus one (0: unknown)
constexpr uint64_t kResponseCtrOff = 128; // [u32 seq, u32 waiters], posted by the scenario
constexpr uint64_t kScenarioCpuOff = 136; // u32, CPU the scenario last ran on, plus one
constexpr uint64_t kHeartbeatOff = 192;   // u64, incremented by the scenario's watchdog
// Request block (written by Python).
constexpr uint64_t kReqCommandOff = 256; // u32
constexpr uint64_t kReqSeedOff = 264;    // u64 (RESET: ns-3 RngRun)
constexpr uint64_t kReqArenaLenOff = 272; // u64 bytes of payload in the arena
// Response block (written by the scenario).
constexpr uint64_t kRespStatusOff = 320;     // u32
constexpr uint64_t kRespTerminatedOff = 324; // u8
constexpr uint64_t kRespTruncatedOff = 325;  // u8
constexpr uint64_t kRespRewardOff = 328;     // f64
constexpr uint64_t kRespArenaLenOff = 336;   // u64 bytes of payload in the arena
constexpr uint64_t kRespSimTimeOff = 344;    // f64, simulated seconds at the response
constexpr uint64_t kMinArena = 65536;
} // namespace layout

enum Command : uint32_t
{
    kCmdStep = 1,
    kCmdReset = 2,
    kCmdMessage = 3,
    kCmdClose = 4,
};

enum Status : uint32_t
{
    kStatusOk = 0,
    kStatusError = 1, // arena holds a UTF-8 message
    kStatusHello = 2, // arena holds the JSON descriptor
};

// ---------------------------------------------------------------------------------------------------
// Spaces

enum class Dtype
{
    kBool,
    kInt8,
    kUInt8,
    kInt16,
    kUInt16,
    kInt32,
    kUInt32,
    kInt64,
    kUInt64,
    kFloat32,
    kFloat64,
};

/** numpy dtype string and size in bytes. */
inline const char*
DtypeName(Dtype d)
{
    switch (d)
    {
    case Dtype::kBool:
        return "bool";
    case Dtype::kInt8:
        return "int8";
    case Dtype::kUInt8:
        return "uint8";
    case Dtype::kInt16:
        return "int16";
    case Dtype::kUInt16:
        return "uint16";
    case Dtype::kInt32:
        return "int32";
    case Dtype::kUInt32:
        return "uint32";
    case Dtype::kInt64:
        return "int64";
    case Dtype::kUInt64:
        return "uint64";
    case Dtype::kFloat32:
        return "float32";
    case Dtype::kFloat64:
        return "float64";
    }
    return "?";
}

inline size_t
DtypeSize(Dtype d)
{
    switch (d)
    {
    case Dtype::kBool:
    case Dtype::kInt8:
    case Dtype::kUInt8:
        return 1;
    case Dtype::kInt16:
    case Dtype::kUInt16:
        return 2;
    case Dtype::kInt32:
    case Dtype::kUInt32:
    case Dtype::kFloat32:
        return 4;
    default:
        return 8;
    }
}

template <class T>
constexpr Dtype DtypeOf();
// clang-format off
template <> constexpr Dtype DtypeOf<bool>() { return Dtype::kBool; }
template <> constexpr Dtype DtypeOf<int8_t>() { return Dtype::kInt8; }
template <> constexpr Dtype DtypeOf<uint8_t>() { return Dtype::kUInt8; }
template <> constexpr Dtype DtypeOf<int16_t>() { return Dtype::kInt16; }
template <> constexpr Dtype DtypeOf<uint16_t>() { return Dtype::kUInt16; }
template <> constexpr Dtype DtypeOf<int32_t>() { return Dtype::kInt32; }
template <> constexpr Dtype DtypeOf<uint32_t>() { return Dtype::kUInt32; }
template <> constexpr Dtype DtypeOf<int64_t>() { return Dtype::kInt64; }
template <> constexpr Dtype DtypeOf<uint64_t>() { return Dtype::kUInt64; }
template <> constexpr Dtype DtypeOf<float>() { return Dtype::kFloat32; }
template <> constexpr Dtype DtypeOf<double>() { return Dtype::kFloat64; }
// clang-format on

/**
 * A Gymnasium space as the scenario declares it. Build with Box(), Discrete(), MultiDiscrete(),
 * MultiBinary() and Dict(). Storage in shared memory: Box as its dtype; Discrete as one int64;
 * MultiDiscrete as int64 with the shape of nvec; MultiBinary as int8.
 */
struct Space
{
    enum class Kind
    {
        kBox,
        kDiscrete,
        kMultiDiscrete,
        kMultiBinary,
        kDict,
    };

    Kind kind{Kind::kBox};
    Dtype dtype{Dtype::kFloat32};
    std::vector<int64_t> shape;
    std::vector<double> low, high; // Box: one value (uniform) or one per element
    int64_t n{0}, start{0};        // Discrete
    std::vector<int64_t> nvec;     // MultiDiscrete (flattened; shape holds its shape)
    std::vector<std::pair<std::string, Space>> children; // Dict, in declaration order

    size_t NumElements() const
    {
        size_t count = 1;
        for (auto d : shape)
        {
            count *= static_cast<size_t>(d);
        }
        return count;
    }
};

inline Space
Box(std::vector<int64_t> shape, std::vector<double> low, std::vector<double> high,
    Dtype dtype = Dtype::kFloat32)
{
    Space s;
    s.kind = Space::Kind::kBox;
    s.shape = std::move(shape);
    s.dtype = dtype;
    size_t count = s.NumElements();
    if ((low.size() != 1 && low.size() != count) || (high.size() != 1 && high.size() != count))
    {
        throw std::invalid_argument("Box: low/high must hold 1 value or one per element");
    }
    s.low = std::move(low);
    s.high = std::move(high);
    return s;
}

inline Space
Box(std::vector<int64_t> shape, double low, double high, Dtype dtype = Dtype::kFloat32)
{
    return Box(std::move(shape), std::vector<double>{low}, std::vector<double>{high}, dtype);
}

inline Space
Discrete(int64_t n, int64_t start = 0)
{
    if (n <= 0)
    {
        throw std::invalid_argument("Discrete: n must be positive");
    }
    Space s;
    s.kind = Space::Kind::kDiscrete;
    s.dtype = Dtype::kInt64;
    s.n = n;
    s.start = start;
    return s;
}

inline Space
MultiDiscrete(std::vector<int64_t> nvec, std::vector<int64_t> shape = {})
{
    Space s;
    s.kind = Space::Kind::kMultiDiscrete;
    s.dtype = Dtype::kInt64;
    s.shape = shape.empty() ? std::vector<int64_t>{static_cast<int64_t>(nvec.size())} : shape;
    if (s.NumElements() != nvec.size())
    {
        throw std::invalid_argument("MultiDiscrete: shape does not match nvec");
    }
    for (auto v : nvec)
    {
        if (v <= 0)
        {
            throw std::invalid_argument("MultiDiscrete: every nvec entry must be positive");
        }
    }
    s.nvec = std::move(nvec);
    return s;
}

inline Space
MultiBinary(std::vector<int64_t> shape)
{
    Space s;
    s.kind = Space::Kind::kMultiBinary;
    s.dtype = Dtype::kInt8;
    s.shape = std::move(shape);
    return s;
}

inline Space
Dict(std::vector<std::pair<std::string, Space>> children)
{
    Space s;
    s.kind = Space::Kind::kDict;
    s.children = std::move(children);
    return s;
}

// ---------------------------------------------------------------------------------------------------
// Views over shared memory

/**
 * A typed view over one space's data in the segment (zero copy). Leaves hold an array; Dict views hold
 * named children. Write observations through it in GetObservation(), read actions in ExecuteActions().
 */
class DataView
{
  public:
    DataView() = default;

    bool IsDict() const
    {
        return m_isDict;
    }

    Dtype GetDtype() const
    {
        return m_dtype;
    }

    const std::vector<int64_t>& GetShape() const
    {
        return m_shape;
    }

    size_t Size() const
    {
        return m_count;
    }

    /** Pointer to the leaf's elements; T must match the declared dtype. */
    template <class T>
    T* Data() const
    {
        if (m_isDict)
        {
            throw std::logic_error("DataView: Data() called on a Dict view; index it by key first");
        }
        if (DtypeOf<T>() != m_dtype)
        {
            throw std::logic_error(std::string("DataView: element type does not match dtype ") +
                                   DtypeName(m_dtype));
        }
        return static_cast<T*>(m_data);
    }

    /** Untyped pointer to a leaf's elements and their size in bytes (for memcpy and friends). */
    void* RawData() const
    {
        if (m_isDict)
        {
            throw std::logic_error("DataView: RawData() called on a Dict view");
        }
        return m_data;
    }

    size_t Bytes() const
    {
        return m_count * DtypeSize(m_dtype);
    }

    /** Calls f(path, leaf) for every leaf, in declaration order; path joins Dict keys with '/'. */
    template <class F>
    void ForEachLeaf(F&& f, const std::string& path = "") const
    {
        if (!m_isDict)
        {
            f(path, *this);
            return;
        }
        for (const auto& [name, child] : m_children)
        {
            child.ForEachLeaf(f, path.empty() ? name : path + "/" + name);
        }
    }

    /** Element i (flat, row-major). */
    template <class T>
    T& At(size_t i) const
    {
        if (i >= m_count)
        {
            throw std::out_of_range("DataView: index out of range");
        }
        return Data<T>()[i];
    }

    /** The value of a Discrete leaf. */
    int64_t GetDiscrete() const
    {
        return At<int64_t>(0);
    }

    void SetDiscrete(int64_t v) const
    {
        At<int64_t>(0) = v;
    }

    /** Child of a Dict view. */
    const DataView& operator[](const std::string& key) const
    {
        for (const auto& [name, child] : m_children)
        {
            if (name == key)
            {
                return child;
            }
        }
        throw std::out_of_range("DataView: no key '" + key + "'");
    }

  private:
    friend class Bridge;
    bool m_isDict{false};
    void* m_data{nullptr};
    Dtype m_dtype{Dtype::kFloat32};
    std::vector<int64_t> m_shape;
    size_t m_count{0};
    std::vector<std::pair<std::string, DataView>> m_children;
};

/** Named numbers returned with every step (Python's `info` dict). */
class Info
{
  public:
    void Set(const std::string& name, double value)
    {
        for (auto& [k, v] : m_items)
        {
            if (k == name)
            {
                v = value;
                return;
            }
        }
        m_items.emplace_back(name, value);
    }

    void Clear()
    {
        m_items.clear();
    }

    const std::vector<std::pair<std::string, double>>& Items() const
    {
        return m_items;
    }

  private:
    std::vector<std::pair<std::string, double>> m_items;
};

/** One field of a record type: numpy dtype (e.g. "<u8", "<f8") at a byte offset. */
struct RecordField
{
    std::string name;
    std::string dtype;
    size_t offset;
};

/**
 * A record type for the message channel: a C++ struct of plain fields, described so that Python
 * builds the matching numpy structured dtype. Example:
 *   struct Transfer { uint64_t id; uint32_t src, dst; uint64_t bytes; };
 *   RecordType{"transfer", sizeof(Transfer), {{"id", "<u8", offsetof(Transfer, id)}, ...}}
 */
struct RecordType
{
    std::string name;
    size_t itemSize;
    std::vector<RecordField> fields;
};

/** A message: an array of `count` records of one declared type. */
struct Message
{
    std::string type;
    size_t count{0};
    std::vector<uint8_t> bytes; // count * itemSize

    template <class T>
    const T* Records() const
    {
        return reinterpret_cast<const T*>(bytes.data());
    }

    template <class T>
    static Message From(const std::string& type, const std::vector<T>& records)
    {
        Message m;
        m.type = type;
        m.count = records.size();
        m.bytes.resize(records.size() * sizeof(T));
        if (!records.empty())
        {
            std::memcpy(m.bytes.data(), records.data(), m.bytes.size());
        }
        return m;
    }
};

/** Throw from ExecuteActions() or HandleMessage() to send Python a clear error; the scenario lives on. */
class InvalidRequest : public std::runtime_error
{
  public:
    using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------------------------------------------
// The environment interface: the names ns3-gym and ns3-ai users know.

class GymEnv
{
  public:
    virtual ~GymEnv() = default;

    /** Declared once at start-up. */
    virtual Space GetObservationSpace() = 0;
    virtual Space GetActionSpace() = 0;

    /**
     * Build the simulation of a new episode: nodes, devices, applications, first events. Called with
     * a fresh simulator (after Simulator::Destroy) and RngRun already set to the episode's seed.
     */
    virtual void SetupEpisode() = 0;

    /**
     * Simulated time between decisions. The simulation also pauses early wherever the scenario calls
     * Simulator::Stop() (event-driven decisions); return ns3::Time::Max() to rely on that alone.
     */
    virtual ns3::Time GetStepTime() = 0;

    virtual void GetObservation(const DataView& obs) = 0;
    virtual double GetReward() = 0;
    /** Episode terminated (a terminal state of the task). */
    virtual bool GetGameOver() = 0;

    /** Episode cut short by a limit outside the task (time limit); kept apart from GetGameOver(). */
    virtual bool GetTruncated()
    {
        return false;
    }

    virtual void GetExtraInfo(Info& /*info*/)
    {
    }

    /** Apply the agent's action. Return false (or throw InvalidRequest) to reject it. */
    virtual bool ExecuteActions(const DataView& action) = 0;

    /** Record types of the message channel (learner transfers and completions, for instance). */
    virtual std::vector<RecordType> GetRecordTypes()
    {
        return {};
    }

    /** Answer one request of the message channel. */
    virtual Message HandleMessage(const Message& request)
    {
        throw InvalidRequest("this scenario takes no messages (got type '" + request.type + "')");
    }
};

// ---------------------------------------------------------------------------------------------------
// The bridge

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

    /** Serve env until Python sends CLOSE. Returns the process exit code. */
    int Serve(GymEnv& env)
    {
        if (m_name.empty())
        {
            std::cerr << "ns6g: this scenario is started by ns6g (Python), which passes --ns6g-shm\n";
            return 2;
        }
        Open();
        StartWatchdog();
        m_obsSpace = env.GetObservationSpace();
        m_actSpace = env.GetActionSpace();
        m_recordTypes = env.GetRecordTypes();
        Hello();
        uint32_t seq = 0;
        ns6g_waiter waiter{};
        waiter.counter = Ctr(layout::kRequestCtrOff);
        waiter.own_cpu = Ctr(layout::kScenarioCpuOff);
        waiter.peer_cpu = Ctr(layout::kPythonCpuOff);
        waiter.spin_ns = m_spinUs * 1000;
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
                Handle(env, cmd);
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
        const std::string obsJson = LayoutSpace(m_obsSpace, m_obs, offset);
        const std::string actJson = LayoutSpace(m_actSpace, m_act, offset);
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
        Rebase(m_obs, m_base);
        Rebase(m_act, m_base);
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
    void Advance(GymEnv& env)
    {
        ns3::Time dt = env.GetStepTime();
        ns3::EventId stop;
        if (dt != ns3::Time::Max())
        {
            stop = ns3::Simulator::Schedule(dt, [] { ns3::Simulator::Stop(); });
        }
        ns3::Simulator::Run();
        stop.Cancel();
    }

    /** Observation, reward, flags and info into the response. */
    void WriteOutcome(GymEnv& env, bool withReward)
    {
        env.GetObservation(m_obs);
        Set<double>(layout::kRespRewardOff, withReward ? env.GetReward() : 0.0);
        Set<uint8_t>(layout::kRespTerminatedOff, withReward && env.GetGameOver());
        Set<uint8_t>(layout::kRespTruncatedOff, withReward && env.GetTruncated());
        Set<double>(layout::kRespSimTimeOff, ns3::Simulator::Now().GetSeconds());
        m_info.Clear();
        env.GetExtraInfo(m_info);
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
    void Handle(GymEnv& env, uint32_t cmd)
    {
        switch (cmd)
        {
        case kCmdStep:
            RequireEpisode("STEP");
            if (m_episode == Episode::kOver)
            {
                throw InvalidRequest("STEP after the episode ended (terminated or truncated): send RESET first");
            }
            if (!env.ExecuteActions(m_act))
            {
                throw InvalidRequest("the scenario rejected the action");
            }
            Lose("the last STEP failed");
            Advance(env);
            WriteOutcome(env, true);
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
            env.SetupEpisode();
            Advance(env);
            WriteOutcome(env, false);
            m_episode = Episode::kRunning;
            return;
        case kCmdMessage:
            RequireEpisode("MESSAGE");
            HandleMessage(env);
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
    void HandleMessage(GymEnv& env)
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
        Message reply = env.HandleMessage(request);
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
    Space m_obsSpace, m_actSpace;
    DataView m_obs, m_act;
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
