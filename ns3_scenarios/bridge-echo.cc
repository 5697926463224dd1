// bridge-echo: the bridge with no network behind it, for the bridge's tests and benchmarks.
//
//   --spaces=box  observation Box(obs-size) float32, action Box(act-size) float32;
//                 obs[i] = action[i % act-size] (the same work in both transports).
//   --spaces=all  observation and action are one Dict with every space type and several dtypes;
//                 every step copies the action into the observation, bit for bit.
//   --socket=PATH the socket transport the benchmark compares against: connect to a Unix socket and
//                 answer length-prefixed action messages with length-prefixed observations.
// Message channel: "transfer" records are answered with one "completion" record each.
// Test knobs: --exit-after=N exits with code 3 on step N; --hang-after=N stops answering on step N;
// --step-us=N makes every step take N microseconds of wall time (a slow peer, for the wait policy).
#include "bridge/ns6g-serve.h"
#include "options/bridge-echo-options.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <utility>

using namespace ns3;

namespace
{

struct Transfer
{
    uint64_t id;
    uint32_t src;
    uint32_t dst;
    uint64_t bytes;
    double startS;
};

struct Completion
{
    uint64_t id;
    double endS;
};

/**
 * out[i] = in[i % inSize] for i < outSize, by memcpy of the growing prefix (the two transports do the same
 * work; a per-element loop with a modulo costs several times a plain copy of a large observation).
 */
void
Tile(const float* in, uint32_t inSize, float* out, uint32_t outSize)
{
    uint32_t done = std::min(inSize, outSize);
    std::memcpy(out, in, done * sizeof(float));
    while (done < outSize)
    {
        uint32_t n = std::min(done, outSize - done);
        std::memcpy(out + done, out, n * sizeof(float));
        done += n;
    }
}

ns6g::Space
AllSpaces()
{
    using namespace ns6g;
    return Dict({
        {"box_f32", Box({2, 3}, -1.0, 1.0, Dtype::kFloat32)},
        {"box_f64", Box({4}, {-1e300}, {1e300}, Dtype::kFloat64)},
        {"box_i32", Box({3}, {-100, -50, 0}, {100, 50, 7}, Dtype::kInt32)},
        {"box_u8", Box({2, 2}, 0, 255, Dtype::kUInt8)},
        {"disc", Discrete(5, 2)},
        {"multi_disc", MultiDiscrete({3, 4, 5, 6}, {2, 2})},
        {"multi_bin", MultiBinary({2, 3})},
        {"nested", Dict({{"x", Box({2}, -10.0, 10.0, Dtype::kFloat32)}, {"k", Discrete(3)}})},
    });
}

class EchoEnv : public ns6g::GymEnv
{
  public:
    EchoEnv(std::string spaces,
            uint32_t obsSize,
            uint32_t actSize,
            uint32_t exitAfter,
            uint32_t hangAfter,
            uint32_t stepUs)
        : m_spaces(std::move(spaces)),
          m_obsSize(obsSize),
          m_actSize(actSize),
          m_exitAfter(exitAfter),
          m_hangAfter(hangAfter),
          m_stepUs(stepUs)
    {
    }

    ns6g::Space GetObservationSpace() override
    {
        return m_spaces == "all" ? AllSpaces() : ns6g::Box({m_obsSize}, -1e9, 1e9);
    }

    ns6g::Space GetActionSpace() override
    {
        return m_spaces == "all" ? AllSpaces() : ns6g::Box({m_actSize}, -1e9, 1e9);
    }

    void SetupEpisode() override
    {
        m_steps = 0;
        m_action = nullptr;
    }

    Time GetStepTime() override
    {
        return Time::Max(); // nothing to simulate
    }

    bool ExecuteActions(const ns6g::DataView& action) override
    {
        ++m_steps;
        if (m_exitAfter && m_steps >= m_exitAfter)
        {
            std::cerr << "bridge-echo: exiting on step " << m_steps << " as asked" << std::endl;
            std::_Exit(3);
        }
        if (m_hangAfter && m_steps >= m_hangAfter)
        {
            for (;;)
            {
                std::this_thread::sleep_for(std::chrono::seconds(1));
            }
        }
        if (m_stepUs)
        {
            std::this_thread::sleep_for(std::chrono::microseconds(m_stepUs));
        }
        m_action = &action;
        return true;
    }

    void GetObservation(const ns6g::DataView& obs) override
    {
        if (m_spaces == "all")
        {
            if (m_action)
            {
                CopyAll(*m_action, obs);
            }
            else
            {
                obs.ForEachLeaf([](const std::string&, const ns6g::DataView& leaf) {
                    std::memset(leaf.RawData(), 0, leaf.Bytes());
                });
                obs["disc"].SetDiscrete(2); // zero lies inside every other leaf
            }
            return;
        }
        float* out = obs.Data<float>();
        if (!m_action)
        {
            std::fill(out, out + m_obsSize, 0.0F);
            return;
        }
        Tile(m_action->Data<float>(), m_actSize, out, m_obsSize);
    }

    double GetReward() override
    {
        return static_cast<double>(m_steps);
    }

    bool GetGameOver() override
    {
        return false;
    }

    void GetExtraInfo(ns6g::Info& info) override
    {
        if (m_spaces == "all")
        {
            info.Set("steps", m_steps);
            info.Set("sim_time_s", Simulator::Now().GetSeconds());
        }
    }

    std::vector<ns6g::RecordType> GetRecordTypes() override
    {
        return {
            {"transfer",
             sizeof(Transfer),
             {NS6G_FIELD(Transfer, id, "id"),
              NS6G_FIELD(Transfer, src, "src"),
              NS6G_FIELD(Transfer, dst, "dst"),
              NS6G_FIELD(Transfer, bytes, "bytes"),
              NS6G_FIELD(Transfer, startS, "start_s")}},
            {"completion",
             sizeof(Completion),
             {NS6G_FIELD(Completion, id, "id"), NS6G_FIELD(Completion, endS, "end_s")}},
        };
    }

    ns6g::Message HandleMessage(const ns6g::Message& request) override
    {
        if (request.type != "transfer")
        {
            throw ns6g::InvalidRequest("bridge-echo takes 'transfer' records, got '" + request.type + "'");
        }
        std::vector<Completion> done;
        const auto* t = request.Records<Transfer>();
        for (size_t i = 0; i < request.count; ++i)
        {
            done.push_back({t[i].id, t[i].startS + t[i].bytes * 8.0 / 1e9}); // 1 Gb/s
        }
        return ns6g::Message::From("completion", done);
    }

  private:
    /** Copies the action into the observation leaf by leaf (both declare the same Dict). */
    static void CopyAll(const ns6g::DataView& from, const ns6g::DataView& to)
    {
        std::vector<const ns6g::DataView*> out;
        to.ForEachLeaf([&out](const std::string&, const ns6g::DataView& leaf) { out.push_back(&leaf); });
        size_t i = 0;
        from.ForEachLeaf([&out, &i](const std::string&, const ns6g::DataView& leaf) {
            std::memcpy(out[i++]->RawData(), leaf.RawData(), leaf.Bytes());
        });
    }

    std::string m_spaces;
    uint32_t m_obsSize, m_actSize, m_exitAfter, m_hangAfter, m_stepUs;
    uint32_t m_steps{0};
    const ns6g::DataView* m_action{nullptr};
};

/** The socket transport: [u32 length][payload] both ways, as socket-based bridges frame messages. */
int
ServeSocket(const std::string& path, uint32_t obsSize, uint32_t actSize)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    {
        std::cerr << "bridge-echo: cannot connect to " << path << ": " << std::strerror(errno) << "\n";
        return 2;
    }
    auto readAll = [fd](void* buf, size_t n) {
        auto* p = static_cast<uint8_t*>(buf);
        while (n)
        {
            ssize_t r = read(fd, p, n);
            if (r <= 0)
            {
                return false;
            }
            p += r;
            n -= static_cast<size_t>(r);
        }
        return true;
    };
    std::vector<float> action(actSize);
    std::vector<uint8_t> out(4 + obsSize * sizeof(float));
    uint32_t outLen = obsSize * sizeof(float);
    std::memcpy(out.data(), &outLen, 4);
    auto* obs = reinterpret_cast<float*>(out.data() + 4);
    for (;;)
    {
        uint32_t len;
        if (!readAll(&len, 4) || len != actSize * sizeof(float) || !readAll(action.data(), len))
        {
            return 0; // Python closed the socket
        }
        Tile(action.data(), actSize, obs, obsSize);
        size_t sent = 0;
        while (sent < out.size())
        {
            ssize_t w = write(fd, out.data() + sent, out.size() - sent);
            if (w <= 0)
            {
                return 0;
            }
            sent += static_cast<size_t>(w);
        }
    }
}

} // namespace

int
main(int argc, char* argv[])
{
    ns6g::BridgeEchoOptions p; // from BridgeEchoConfig (generated: ranges up to 2^32 - 1 for the step knobs)
    std::string socketPath;
    ns6g::Bridge bridge;
    ns6g::ScenarioHooks<ns6g::BridgeEchoOptions> hooks{
        .addOptions =
            [&](CommandLine& cmd) {
                // Not a config field: the benchmark's socket transport.
                cmd.AddValue("socket", "serve the socket transport on this Unix socket instead of the bridge", socketPath);
            }};
    if (int rc = ns6g::ParseOptions(p.kScenario, argc, argv, p, bridge, hooks))
    {
        return rc;
    }
    if (!socketPath.empty())
    {
        return ServeSocket(socketPath, p.obsSize, p.actSize);
    }
    EchoEnv env(p.spaces, p.obsSize, p.actSize, p.exitAfter, p.hangAfter, p.stepUs);
    return bridge.Serve(env);
}
