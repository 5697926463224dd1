// speed-reference: a fixed ns-3 program, the reference workload of the suite's speed gate
// (`ns6g bench suite`, speed cases; ns6g.apps.bench.ran_speed). The gate times it in the same run as the
// RAN scenario, alternating with it, and divides the RAN's simulated seconds per wall second by this
// program's: a machine that is slower, or loaded, slows both alike, and the ratio keeps only what the
// RAN model's code changed.
//
// It uses ns-3 alone (no ns6g code: a change to ns6g's models cannot change it), and follows the mix of
// the RAN scenario's profile (docs/performance.md): event-queue churn, large UDP datagrams through
// UDP/IP/point-to-point into packet sinks (allocation, zero fill, routing, delivery), and per-slot
// trigonometric work on random draws (the fast-fading kernel's sincos, log10 and allocation pattern).
// Do not change the workload: the recorded baselines are ratios against it.
//
// Protocol: each line on stdin is a simulated duration in seconds; the program simulates that much more
// (continuing where it stopped) and prints one line "<simulated s> <wall s> <events>" of that window.
// It exits at the end of its input.
#include "ns3/applications-module.h"
#include "ns3/core-module.h"
#include "ns3/internet-module.h"
#include "ns3/network-module.h"
#include "ns3/point-to-point-module.h"

#include <chrono>
#include <cmath>
#include <complex>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

using namespace ns3;

namespace
{

constexpr uint32_t kLinks = 7;        // one per cell of the RAN workload
constexpr uint32_t kBands = 17;       // fast-fading bands of a 100 MHz carrier
constexpr uint32_t kClusters = 20;    // 3GPP clusters per link
constexpr double kSlotS = 0.5e-3;     // numerology 1
constexpr uint32_t kDatagram = 60000; // bytes, as the full-buffer sources send

/// The per-slot kernel of one link: a sum of cluster phasors per band, its power in dB.
class FadingKernel
{
  public:
    explicit FadingKernel(uint32_t link)
        : m_link(link),
          m_rng(CreateObject<UniformRandomVariable>())
    {
        m_rng->SetStream(1000 + link);
    }

    void Slot()
    {
        std::vector<double> delay(kClusters);
        std::vector<double> power(kClusters);
        for (uint32_t c = 0; c < kClusters; ++c)
        {
            delay[c] = m_rng->GetValue(0.0, 1e-6);
            power[c] = m_rng->GetValue(0.0, 1.0);
        }
        const double t = Simulator::Now().GetSeconds();
        std::vector<double> gainDb(kBands);
        for (uint32_t b = 0; b < kBands; ++b)
        {
            const double f = 7e9 + b * 6e6;
            std::complex<double> sum{0.0, 0.0};
            for (uint32_t c = 0; c < kClusters; ++c)
            {
                sum += std::polar(std::sqrt(power[c]), -2 * M_PI * (f * delay[c] + 10.0 * c * t));
            }
            gainDb[b] = 10 * std::log10(std::norm(sum) + 1e-12);
        }
        m_checksum += gainDb[m_link % kBands];
        Simulator::Schedule(Seconds(kSlotS), &FadingKernel::Slot, this);
    }

    double m_checksum{0.0};

  private:
    uint32_t m_link;
    Ptr<UniformRandomVariable> m_rng;
};

} // namespace

int
main(int argc, char** argv)
{
    CommandLine cmd(__FILE__);
    cmd.Usage("The fixed reference workload of the speed gate; reads simulated durations on stdin.");
    cmd.Parse(argc, argv);
    RngSeedManager::SetSeed(1);
    RngSeedManager::SetRun(1);

    // A server feeding kLinks sinks over point-to-point links, full buffer at 1 Gbit/s each.
    NodeContainer server;
    server.Create(1);
    NodeContainer sinks;
    sinks.Create(kLinks);
    InternetStackHelper internet;
    internet.Install(server);
    internet.Install(sinks);
    PointToPointHelper p2p;
    p2p.SetDeviceAttribute("DataRate", StringValue("10Gbps"));
    p2p.SetDeviceAttribute("Mtu", UintegerValue(65535));
    p2p.SetChannelAttribute("Delay", StringValue("1ms"));
    Ipv4AddressHelper addresses;
    ApplicationContainer apps;
    for (uint32_t i = 0; i < kLinks; ++i)
    {
        NetDeviceContainer devices = p2p.Install(server.Get(0), sinks.Get(i));
        addresses.SetBase(Ipv4Address(("10.1." + std::to_string(i + 1) + ".0").c_str()), "255.255.255.0");
        Ipv4InterfaceContainer ifaces = addresses.Assign(devices);
        InetSocketAddress to(ifaces.GetAddress(1), 9000);
        OnOffHelper source("ns3::UdpSocketFactory", to);
        source.SetConstantRate(DataRate("1Gbps"), kDatagram);
        apps.Add(source.Install(server.Get(0)));
        PacketSinkHelper sink("ns3::UdpSocketFactory", InetSocketAddress(Ipv4Address::GetAny(), 9000));
        apps.Add(sink.Install(sinks.Get(i)));
    }
    Ipv4GlobalRoutingHelper::PopulateRoutingTables();
    apps.Start(Seconds(0));

    std::vector<FadingKernel> kernels;
    kernels.reserve(kLinks);
    for (uint32_t i = 0; i < kLinks; ++i)
    {
        kernels.emplace_back(i);
        Simulator::Schedule(Seconds(0), &FadingKernel::Slot, &kernels.back());
    }

    std::string line;
    while (std::getline(std::cin, line))
    {
        double window = 0;
        try
        {
            window = std::stod(line);
        }
        catch (const std::exception&)
        {
            std::cerr << "speed-reference: not a duration in seconds: '" << line << "'\n";
            return 2;
        }
        if (!(window > 0))
        {
            std::cerr << "speed-reference: the duration must be > 0 s (got " << line << ")\n";
            return 2;
        }
        const double sim0 = Simulator::Now().GetSeconds();
        const uint64_t events0 = Simulator::GetEventCount();
        const auto t0 = std::chrono::steady_clock::now();
        Simulator::Stop(Seconds(window));
        Simulator::Run();
        const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("%.9f %.9f %llu\n", Simulator::Now().GetSeconds() - sim0, wall,
                    static_cast<unsigned long long>(Simulator::GetEventCount() - events0));
        std::fflush(stdout);
    }
    Simulator::Destroy();
    return 0;
}
