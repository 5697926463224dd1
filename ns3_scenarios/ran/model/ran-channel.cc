// The 6G RAN's radio channel (see ran-channel.h and docs/ran-channel.md).
#include "ran/model/ran-channel.h"

#include "ns3/boolean.h"
#include "ns3/constant-position-mobility-model.h"
#include "ns3/double.h"
#include "ns3/isotropic-antenna-model.h"
#include "ns3/log.h"
#include "ns3/pointer.h"
#include "ns3/simulator.h"
#include "ns3/spectrum-model.h"
#include "ns3/string.h"
#include "ns3/three-gpp-antenna-model.h"
#include "ns3/uinteger.h"
#include "ns3/uniform-planar-array.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <iterator>
#include <limits>
#include <sstream>
#include <stdexcept>

using namespace ns3;

namespace ns6g::ran
{

NS_LOG_COMPONENT_DEFINE("Ns6gRanChannel");

namespace
{

/** A number as %g would print it (6 significant digits). */
std::string
Num(double v)
{
    std::ostringstream os;
    os << v;
    return os.str();
}

/** "4e+11 Hz (400 GHz)". */
std::string
Hz(double f)
{
    return Num(f) + " Hz (" + Num(f / 1e9) + " GHz)";
}

// ---------------------------------------------------------------------------------------------------
// Gaseous absorption table.
//
// Specific attenuation gamma_o + gamma_w (dB/km) of ITU-R P.676-12 Annex 1 (line-by-line summation over
// the 44 oxygen and 35 water-vapour lines, plus the dry continuum), at sea level in the reference
// atmosphere: dry-air pressure p = 1003.28 hPa and water-vapour partial pressure e = 9.97 hPa (total
// 1013.25 hPa), T = 288.15 K (15 degC), water-vapour density rho = 7.5 g/m^3 (e = rho T / 216.7).
// Values computed with ITU-Rpy 0.4.0 (itur.models.itu676, P.676-12, gamma_exact), rounded to 6
// significant digits. Sampled at 0.5, 0.75 GHz, every 1 GHz from 1 to 300 GHz, and at the line centres
// 22.235 (H2O), 118.75 (O2) and 183.31 GHz (H2O); between samples log(gamma) is interpolated linearly in
// frequency, which stays within 5 % of the line-by-line model over 0.5-300 GHz (99 % of the band within
// 2 %). Pairs: {frequency (GHz), attenuation (dB/km)}.
constexpr std::array<std::array<double, 2>, 305> kGaseousAttenuation{{
    {0.5, 0.00301516}, {0.75, 0.00445547}, {1, 0.00536077}, {2, 0.00679806}, {3, 0.007402},
    {4, 0.00794387}, {5, 0.00856071}, {6, 0.00929738}, {7, 0.0101803}, {8, 0.0112344},
    {9, 0.0124904}, {10, 0.0139899}, {11, 0.0157928}, {12, 0.0179877}, {13, 0.0207105},
    {14, 0.0241748}, {15, 0.0287268}, {16, 0.034946}, {17, 0.0438253}, {18, 0.0570785},
    {19, 0.07752}, {20, 0.108754}, {21, 0.150821}, {22, 0.188357}, {22.235, 0.193345},
    {23, 0.195143}, {24, 0.173262}, {25, 0.145766}, {26, 0.124285}, {27, 0.109877},
    {28, 0.100846}, {29, 0.0955534}, {30, 0.0928576}, {31, 0.0920234}, {32, 0.0925863},
    {33, 0.0942551}, {34, 0.0968504}, {35, 0.100269}, {36, 0.104462}, {37, 0.109423},
    {38, 0.115183}, {39, 0.121813}, {40, 0.129423}, {41, 0.138174}, {42, 0.148292},
    {43, 0.160097}, {44, 0.174038}, {45, 0.190762}, {46, 0.211227}, {47, 0.236911},
    {48, 0.270225}, {49, 0.315474}, {50, 0.382035}, {51, 0.496151}, {52, 0.724947},
    {53, 1.22991}, {54, 2.30666}, {55, 4.27533}, {56, 7.12226}, {57, 10.1168},
    {58, 12.3937}, {59, 13.6679}, {60, 14.6557}, {61, 15.0421}, {62, 14.0483},
    {63, 10.9049}, {64, 6.94382}, {65, 3.93842}, {66, 2.12159}, {67, 1.20684},
    {68, 0.791594}, {69, 0.602027}, {70, 0.506213}, {71, 0.450131}, {72, 0.413328},
    {73, 0.388099}, {74, 0.370489}, {75, 0.358178}, {76, 0.349706}, {77, 0.344104},
    {78, 0.340708}, {79, 0.339045}, {80, 0.338771}, {81, 0.339633}, {82, 0.341438},
    {83, 0.344038}, {84, 0.347317}, {85, 0.351186}, {86, 0.355573}, {87, 0.360422},
    {88, 0.365687}, {89, 0.371332}, {90, 0.377327}, {91, 0.383651}, {92, 0.390286},
    {93, 0.39722}, {94, 0.404444}, {95, 0.411954}, {96, 0.419752}, {97, 0.427841},
    {98, 0.43623}, {99, 0.444937}, {100, 0.453982}, {101, 0.463397}, {102, 0.473225},
    {103, 0.483526}, {104, 0.494379}, {105, 0.505897}, {106, 0.518235}, {107, 0.531617},
    {108, 0.546372}, {109, 0.562993}, {110, 0.582253}, {111, 0.605407}, {112, 0.634592},
    {113, 0.673667}, {114, 0.730061}, {115, 0.819148}, {116, 0.97459}, {117, 1.26542},
    {118, 1.73212}, {118.75, 1.94358}, {119, 1.91851}, {120, 1.50484}, {121, 1.13894},
    {122, 0.950145}, {123, 0.856982}, {124, 0.809883}, {125, 0.786252}, {126, 0.775541},
    {127, 0.772477}, {128, 0.774237}, {129, 0.779216}, {130, 0.786458}, {131, 0.795366},
    {132, 0.80556}, {133, 0.816787}, {134, 0.828879}, {135, 0.841725}, {136, 0.855248},
    {137, 0.869403}, {138, 0.884161}, {139, 0.899509}, {140, 0.915449}, {141, 0.931989},
    {142, 0.949151}, {143, 0.966962}, {144, 0.985459}, {145, 1.00469}, {146, 1.02471},
    {147, 1.04558}, {148, 1.06739}, {149, 1.09022}, {150, 1.11418}, {151, 1.13939},
    {152, 1.166}, {153, 1.19418}, {154, 1.22414}, {155, 1.2561}, {156, 1.29036},
    {157, 1.32725}, {158, 1.36717}, {159, 1.41061}, {160, 1.45817}, {161, 1.51057},
    {162, 1.56872}, {163, 1.63373}, {164, 1.70701}, {165, 1.79034}, {166, 1.88602},
    {167, 1.99701}, {168, 2.12723}, {169, 2.2819}, {170, 2.4681}, {171, 2.6956},
    {172, 2.97812}, {173, 3.33533}, {174, 3.79609}, {175, 4.40363}, {176, 5.2242},
    {177, 6.3612}, {178, 7.97701}, {179, 10.3198}, {180, 13.7248}, {181, 18.4495},
    {182, 23.9815}, {183, 27.9093}, {183.31, 28.2599}, {184, 27.2456}, {185, 22.7158},
    {186, 17.5062}, {187, 13.3238}, {188, 10.342}, {189, 8.27323}, {190, 6.82688},
    {191, 5.79574}, {192, 5.04402}, {193, 4.48408}, {194, 4.05883}, {195, 3.73031},
    {196, 3.47281}, {197, 3.26845}, {198, 3.1046}, {199, 2.97213}, {200, 2.86434},
    {201, 2.7762}, {202, 2.70393}, {203, 2.64459}, {204, 2.59592}, {205, 2.55613},
    {206, 2.52378}, {207, 2.49774}, {208, 2.47707}, {209, 2.46102}, {210, 2.44897},
    {211, 2.44039}, {212, 2.43485}, {213, 2.432}, {214, 2.43151}, {215, 2.43314},
    {216, 2.43666}, {217, 2.44187}, {218, 2.44862}, {219, 2.45676}, {220, 2.46617},
    {221, 2.47674}, {222, 2.48837}, {223, 2.50099}, {224, 2.51453}, {225, 2.52891},
    {226, 2.54409}, {227, 2.56001}, {228, 2.57662}, {229, 2.5939}, {230, 2.6118},
    {231, 2.6303}, {232, 2.64936}, {233, 2.66897}, {234, 2.6891}, {235, 2.70972},
    {236, 2.73083}, {237, 2.75241}, {238, 2.77445}, {239, 2.79692}, {240, 2.81983},
    {241, 2.84316}, {242, 2.86691}, {243, 2.89106}, {244, 2.91562}, {245, 2.94057},
    {246, 2.96591}, {247, 2.99165}, {248, 3.01777}, {249, 3.04428}, {250, 3.07117},
    {251, 3.09844}, {252, 3.1261}, {253, 3.15415}, {254, 3.18259}, {255, 3.21141},
    {256, 3.24063}, {257, 3.27024}, {258, 3.30026}, {259, 3.33068}, {260, 3.36152},
    {261, 3.39277}, {262, 3.42445}, {263, 3.45656}, {264, 3.48911}, {265, 3.52212},
    {266, 3.55559}, {267, 3.58953}, {268, 3.62396}, {269, 3.65889}, {270, 3.69434},
    {271, 3.73032}, {272, 3.76684}, {273, 3.80394}, {274, 3.84163}, {275, 3.87993},
    {276, 3.91887}, {277, 3.95848}, {278, 3.99879}, {279, 4.03983}, {280, 4.08163},
    {281, 4.12425}, {282, 4.16772}, {283, 4.2121}, {284, 4.25744}, {285, 4.3038},
    {286, 4.35125}, {287, 4.39988}, {288, 4.44977}, {289, 4.50102}, {290, 4.55374},
    {291, 4.60806}, {292, 4.66413}, {293, 4.72212}, {294, 4.78223}, {295, 4.84468},
    {296, 4.90973}, {297, 4.9777}, {298, 5.04895}, {299, 5.12392}, {300, 5.20312},
}};

// ---------------------------------------------------------------------------------------------------
// ns-3 objects per scenario

Ptr<ThreeGppPropagationLossModel>
Create3gppLossModel(Scenario scenario)
{
    switch (scenario)
    {
    case Scenario::UMi:
        return CreateObject<ThreeGppUmiStreetCanyonPropagationLossModel>();
    case Scenario::UMa:
        return CreateObject<ThreeGppUmaPropagationLossModel>();
    case Scenario::RMa:
        return CreateObject<ThreeGppRmaPropagationLossModel>();
    case Scenario::InH:
        return CreateObject<ThreeGppIndoorOfficePropagationLossModel>();
    }
    throw std::invalid_argument("unknown scenario");
}

/** A 38.901 loss model at `frequencyHz` (<= 100 GHz), building penetration off. */
Ptr<ThreeGppPropagationLossModel>
Create3gppLossModel(Scenario scenario,
                    double frequencyHz,
                    bool shadowingEnabled,
                    Ptr<ChannelConditionModel> condition)
{
    Ptr<ThreeGppPropagationLossModel> model = Create3gppLossModel(scenario);
    model->SetAttribute("ShadowingEnabled", BooleanValue(shadowingEnabled));
    model->SetAttribute("BuildingPenetrationLossesEnabled", BooleanValue(false));
    model->SetFrequency(frequencyHz);
    model->SetChannelConditionModel(condition);
    return model;
}

/**
 * ns-3 keeps ThreeGppChannelConditionModel::ComputePlos private. An explicit template instantiation may
 * name a private member ([temp.spec.general]/6 of C++20: access checking does not apply to names in
 * explicit instantiations), which gives us a pointer to it; calling it dispatches virtually to the
 * scenario's own ComputePlos, so LosProbability returns exactly the probability ns-3 draws against.
 */
using PlosMember = double (ThreeGppChannelConditionModel::*)(Ptr<const MobilityModel>,
                                                             Ptr<const MobilityModel>) const;

PlosMember GetPlosMember();

template <PlosMember Member>
struct PlosAccess
{
    friend PlosMember GetPlosMember()
    {
        return Member;
    }
};

template struct PlosAccess<&ThreeGppChannelConditionModel::ComputePlos>;

/** Reused objects of the deterministic functions (one process-wide set; never freed on purpose). */
struct DeterministicModels
{
    DeterministicModels()
    {
        ut = CreateObject<ConstantPositionMobilityModel>();
        bs = CreateObject<ConstantPositionMobilityModel>();
        alwaysLos = CreateObject<AlwaysLosChannelConditionModel>();
        neverLos = CreateObject<NeverLosChannelConditionModel>();
    }

    Ptr<ConstantPositionMobilityModel> ut;
    Ptr<ConstantPositionMobilityModel> bs;
    Ptr<ChannelConditionModel> alwaysLos;
    Ptr<ChannelConditionModel> neverLos;
    /** [scenario][los] */
    Ptr<ThreeGppPropagationLossModel> threeGpp[kNumScenarios][2];
    Ptr<SubThzPropagationLossModel> subThz[kNumScenarios][2];
    Ptr<ThreeGppChannelConditionModel> condition[kNumScenarios];
};

DeterministicModels&
Models()
{
    static auto* models = new DeterministicModels(); // outlives ns-3's own statics at exit
    return *models;
}


/** Hash of a RanChannel fast-fading cache key. */
uint64_t
LinkKey(uint32_t a, uint32_t b)
{
    return (static_cast<uint64_t>(a) << 32) | b;
}

/** A 64-bit mixing function (SplitMix64's finaliser): distinct inputs give well-spread outputs. */
uint64_t
SplitMix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/**
 * ns-3's 3GPP channel model with one addition: forgetting every channel realisation, so that the next
 * GetChannel() draws a new one. RanChannel calls it when an update period ends.
 */
class EpochChannelModel : public ThreeGppChannelModel
{
  public:
    static TypeId GetTypeId()
    {
        static TypeId tid = TypeId("ns6g::ran::EpochChannelModel")
                                .SetParent<ThreeGppChannelModel>()
                                .SetGroupName("Spectrum")
                                .AddConstructor<EpochChannelModel>();
        return tid;
    }

    void ForgetRealisations()
    {
        m_channelParamsMap.clear();
        m_channelMatrixMap.clear();
    }

    /** Draw from streams `stream`.. from now on, with fresh variables: a normal variable keeps the
     *  spare value of its last pair, which would carry one link's draws into the next. */
    void Reseed(int64_t stream)
    {
        m_normalRv = CreateObject<NormalRandomVariable>(); // mean 0, variance 1, as ns-3 sets it up
        AssignStreams(stream);
    }
};

/** ns-3's 3GPP spectrum loss model with its cache of beamformed long-term components made clearable. */
class EpochSpectrumLossModel : public ThreeGppSpectrumPropagationLossModel
{
  public:
    static TypeId GetTypeId()
    {
        static TypeId tid = TypeId("ns6g::ran::EpochSpectrumLossModel")
                                .SetParent<ThreeGppSpectrumPropagationLossModel>()
                                .SetGroupName("Spectrum")
                                .AddConstructor<EpochSpectrumLossModel>();
        return tid;
    }

    void ForgetLongTerms()
    {
        m_longTermMap.clear();
    }
};

/**
 * The unit-norm beam that adds up coherently a plane wave from (or to) `direction`, for ns-3's 3GPP
 * channel matrix. ThreeGppChannelModel writes an element's response to a ray as exp(+j 2 pi k.r), with k
 * the ray's unit direction and r the element position in wavelengths, and the spectrum model combines
 * H with the weights as sum w_u H_us w_s, without conjugation; the matched weights are therefore
 * exp(-j 2 pi k.r) / sqrt(N), i.e. PhasedArrayModel::GetSteeringVector normalised.
 * (PhasedArrayModel::GetBeamformingVector(Angles) returns its conjugate, which with this channel
 * matrix is matched only at broadside; ns-3's own examples and 5G-LENA build exp(-j 2 pi k.r) / sqrt(N)
 * by hand, as here.)
 */
PhasedArrayModel::ComplexVector
MatchedBeam(Ptr<const PhasedArrayModel> array, const Angles& direction)
{
    PhasedArrayModel::ComplexVector w = array->GetSteeringVector(direction);
    const double norm = std::sqrt(static_cast<double>(w.GetSize()));
    for (size_t i = 0; i < w.GetSize(); ++i)
    {
        w[i] /= norm;
    }
    return w;
}

NS_OBJECT_ENSURE_REGISTERED(EpochChannelModel);
NS_OBJECT_ENSURE_REGISTERED(EpochSpectrumLossModel);

} // namespace

double
DefaultBsHeightM(Scenario scenario)
{
    switch (scenario)
    {
    case Scenario::UMi:
        return 10.0;
    case Scenario::UMa:
        return 25.0;
    case Scenario::RMa:
        return 35.0;
    case Scenario::InH:
        return 3.0;
    }
    return 10.0;
}

// ---------------------------------------------------------------------------------------------------
// Scenarios and checks

Scenario
ParseScenario(const std::string& name)
{
    if (name == "UMi-StreetCanyon" || name == "UMi")
    {
        return Scenario::UMi;
    }
    if (name == "UMa")
    {
        return Scenario::UMa;
    }
    if (name == "RMa")
    {
        return Scenario::RMa;
    }
    if (name == "InH-OfficeMixed" || name == "InH")
    {
        return Scenario::InH;
    }
    throw std::invalid_argument("unknown scenario '" + name + "'; valid names: " + ValidScenarioNames());
}

std::string
ScenarioName(Scenario scenario)
{
    switch (scenario)
    {
    case Scenario::UMi:
        return "UMi-StreetCanyon";
    case Scenario::UMa:
        return "UMa";
    case Scenario::RMa:
        return "RMa";
    case Scenario::InH:
        return "InH-OfficeMixed";
    }
    return "?";
}

Scenario
ScenarioFromCode(uint32_t code)
{
    if (code >= kNumScenarios)
    {
        throw std::invalid_argument("scenario = " + std::to_string(code) +
                                    " is not a scenario code; codes: 0 UMi-StreetCanyon, 1 UMa, 2 RMa, "
                                    "3 InH-OfficeMixed");
    }
    return static_cast<Scenario>(code);
}

std::string
ValidScenarioNames()
{
    return "UMi-StreetCanyon (or UMi), UMa, RMa, InH-OfficeMixed (or InH)";
}

void
CheckFrequency(Scenario scenario, double frequencyHz)
{
    if (!std::isfinite(frequencyHz) || frequencyHz < kMinFrequencyHz || frequencyHz > kMaxFrequencyHz)
    {
        throw std::invalid_argument("frequency_hz = " + Hz(frequencyHz) +
                                    " is outside the supported range 0.5-300 GHz (TR 38.901 covers "
                                    "0.5-100 GHz, the sub-THz model 100-300 GHz)");
    }
    if (scenario == Scenario::RMa && frequencyHz > kRmaMaxFrequencyHz)
    {
        throw std::invalid_argument("frequency_hz = " + Hz(frequencyHz) +
                                    " is outside RMa's range 0.5-30 GHz (TR 38.901 Table 7.4.1-1 "
                                    "specifies RMa path loss up to 30 GHz)");
    }
}

void
CheckLinkGeometry(Scenario scenario, double distance2dM, double hBsM, double hUtM)
{
    auto fail = [](const std::string& what) { throw std::invalid_argument(what); };
    if (!std::isfinite(distance2dM) || distance2dM < 0.0)
    {
        fail("d2d_m = " + Num(distance2dM) + " m: the 2D distance must be finite and >= 0");
    }
    if (!std::isfinite(hBsM) || hBsM <= 0.0)
    {
        fail("h_bs_m = " + Num(hBsM) + " m: the BS height must be finite and > 0");
    }
    if (!std::isfinite(hUtM) || hUtM <= 0.0)
    {
        fail("h_ut_m = " + Num(hUtM) + " m: the UT height must be finite and > 0");
    }
    const double d3 = std::hypot(distance2dM, hBsM - hUtM);
    if (d3 < 1.0)
    {
        fail("d2d_m = " + Num(distance2dM) + " m with h_bs_m = " + Num(hBsM) + " m and h_ut_m = " +
             Num(hUtM) + " m gives a 3D distance of " + Num(d3) +
             " m; TR 38.901's formulas need at least 1 m");
    }
    switch (scenario)
    {
    case Scenario::UMi:
    case Scenario::UMa:
        if (hUtM < 1.5 || hUtM > 22.5)
        {
            fail("h_ut_m = " + Num(hUtM) + " m is outside " + ScenarioName(scenario) +
                 "'s UT height range 1.5-22.5 m (TR 38.901 Table 7.4.1-1)");
        }
        break;
    case Scenario::RMa:
        if (hUtM < 1.0 || hUtM > 10.0)
        {
            fail("h_ut_m = " + Num(hUtM) + " m is outside RMa's UT height range 1-10 m (TR 38.901 "
                 "Table 7.4.1-1)");
        }
        if (hBsM < 10.0 || hBsM > 150.0)
        {
            fail("h_bs_m = " + Num(hBsM) + " m is outside RMa's BS height range 10-150 m (TR 38.901 "
                 "Table 7.4.1-1)");
        }
        break;
    case Scenario::InH:
        break;
    }
    if (scenario == Scenario::UMi && hUtM == 10.0 && hBsM != 10.0)
    {
        fail("h_ut_m = 10 m with h_bs_m = " + Num(hBsM) +
             " m: ns-3's UMi model takes the 10 m end as the BS, so this link is ambiguous");
    }
    if (scenario != Scenario::UMi && hUtM > hBsM)
    {
        fail("h_ut_m = " + Num(hUtM) + " m is above h_bs_m = " + Num(hBsM) + " m; ns-3's " +
             ScenarioName(scenario) + " model takes the higher end as the BS");
    }
}

// ---------------------------------------------------------------------------------------------------
// Deterministic numbers

double
FreeSpacePathLossDb(double frequencyHz, double distance3dM)
{
    return 20.0 * std::log10(4.0 * M_PI * distance3dM * frequencyHz / kSpeedOfLightMPerS);
}

double
GaseousAbsorptionDbPerKm(double frequencyHz)
{
    if (!std::isfinite(frequencyHz) || frequencyHz < kMinFrequencyHz || frequencyHz > kMaxFrequencyHz)
    {
        throw std::invalid_argument("frequency_hz = " + Hz(frequencyHz) +
                                    " is outside the absorption table's range 0.5-300 GHz");
    }
    const double fGhz = frequencyHz / 1e9;
    auto upper = std::upper_bound(kGaseousAttenuation.begin(),
                                  kGaseousAttenuation.end(),
                                  fGhz,
                                  [](double f, const std::array<double, 2>& row) { return f < row[0]; });
    if (upper == kGaseousAttenuation.end())
    {
        return kGaseousAttenuation.back()[1]; // exactly 300 GHz
    }
    auto lower = std::prev(upper); // fGhz >= 0.5 = the first row
    const double t = (fGhz - (*lower)[0]) / ((*upper)[0] - (*lower)[0]);
    return std::exp((1.0 - t) * std::log((*lower)[1]) + t * std::log((*upper)[1]));
}

double
PathLossDb(Scenario scenario, double frequencyHz, double distance2dM, double hBsM, double hUtM, bool los)
{
    CheckFrequency(scenario, frequencyHz);
    CheckLinkGeometry(scenario, distance2dM, hBsM, hUtM);
    DeterministicModels& m = Models();
    const auto s = static_cast<uint32_t>(scenario);
    // The UT is `a` and the BS `b`: ns-3's UMi model takes b as the BS unless a is at 10 m.
    m.ut->SetPosition(Vector(0.0, 0.0, hUtM));
    m.bs->SetPosition(Vector(distance2dM, 0.0, hBsM));
    Ptr<ChannelConditionModel> condition = los ? m.alwaysLos : m.neverLos;
    if (frequencyHz <= kMax3gppFrequencyHz)
    {
        Ptr<ThreeGppPropagationLossModel>& model = m.threeGpp[s][los ? 1 : 0];
        if (!model)
        {
            model = Create3gppLossModel(scenario, frequencyHz, false, condition);
        }
        model->SetFrequency(frequencyHz);
        return -model->CalcRxPower(0.0, m.ut, m.bs);
    }
    Ptr<SubThzPropagationLossModel>& model = m.subThz[s][los ? 1 : 0];
    if (!model)
    {
        model = CreateObject<SubThzPropagationLossModel>();
        model->SetScenario(scenario);
        model->SetAttribute("ShadowingEnabled", BooleanValue(false));
        model->SetChannelConditionModel(condition);
    }
    model->SetFrequencyHz(frequencyHz);
    return model->GetLossDb(m.ut, m.bs);
}

double
LosProbability(Scenario scenario, double distance2dM, double hUtM)
{
    if (!std::isfinite(distance2dM) || distance2dM < 0.0)
    {
        throw std::invalid_argument("d2d_m = " + Num(distance2dM) +
                                    " m: the 2D distance must be finite and >= 0");
    }
    if (!std::isfinite(hUtM) || hUtM <= 0.0)
    {
        throw std::invalid_argument("h_ut_m = " + Num(hUtM) + " m: the UT height must be finite and > 0");
    }
    if (scenario == Scenario::UMa && hUtM > 23.0)
    {
        throw std::invalid_argument("h_ut_m = " + Num(hUtM) +
                                    " m is above 23 m, where TR 38.901 Table 7.4.2-1 defines UMa's "
                                    "LoS probability");
    }
    DeterministicModels& m = Models();
    const auto s = static_cast<uint32_t>(scenario);
    if (!m.condition[s])
    {
        m.condition[s] = CreateChannelConditionModel(scenario);
    }
    m.ut->SetPosition(Vector(0.0, 0.0, hUtM));
    m.bs->SetPosition(Vector(distance2dM, 0.0, std::max(DefaultBsHeightM(scenario), hUtM + 1.0)));
    const PlosMember plos = GetPlosMember();
    Ptr<const MobilityModel> a = m.ut;
    Ptr<const MobilityModel> b = m.bs;
    return (PeekPointer(m.condition[s])->*plos)(a, b);
}

// ---------------------------------------------------------------------------------------------------
// Model objects

Ptr<ThreeGppChannelConditionModel>
CreateChannelConditionModel(Scenario scenario)
{
    switch (scenario)
    {
    case Scenario::UMi:
        return CreateObject<ThreeGppUmiStreetCanyonChannelConditionModel>();
    case Scenario::UMa:
        return CreateObject<ThreeGppUmaChannelConditionModel>();
    case Scenario::RMa:
        return CreateObject<ThreeGppRmaChannelConditionModel>();
    case Scenario::InH:
        return CreateObject<ThreeGppIndoorMixedOfficeChannelConditionModel>();
    }
    throw std::invalid_argument("unknown scenario");
}

Ptr<PropagationLossModel>
CreatePathLossModel(Scenario scenario,
                    double frequencyHz,
                    bool shadowingEnabled,
                    Ptr<ChannelConditionModel> condition)
{
    CheckFrequency(scenario, frequencyHz);
    if (frequencyHz <= kMax3gppFrequencyHz)
    {
        return Create3gppLossModel(scenario, frequencyHz, shadowingEnabled, condition);
    }
    Ptr<SubThzPropagationLossModel> model = CreateObject<SubThzPropagationLossModel>();
    model->SetScenario(scenario);
    model->SetFrequencyHz(frequencyHz);
    model->SetAttribute("ShadowingEnabled", BooleanValue(shadowingEnabled));
    model->SetChannelConditionModel(condition);
    return model;
}

// ---------------------------------------------------------------------------------------------------
// SubThzPropagationLossModel

NS_OBJECT_ENSURE_REGISTERED(SubThzPropagationLossModel);

TypeId
SubThzPropagationLossModel::GetTypeId()
{
    static TypeId tid =
        TypeId("ns6g::ran::SubThzPropagationLossModel")
            .SetParent<PropagationLossModel>()
            .SetGroupName("Propagation")
            .AddConstructor<SubThzPropagationLossModel>()
            .AddAttribute("FrequencyHz",
                          "Carrier frequency (Hz), 0.5-300 GHz.",
                          DoubleValue(140e9),
                          MakeDoubleAccessor(&SubThzPropagationLossModel::SetFrequencyHz,
                                             &SubThzPropagationLossModel::GetFrequencyHz),
                          MakeDoubleChecker<double>(kMinFrequencyHz, kMaxFrequencyHz))
            .AddAttribute("Scenario",
                          "TR 38.901 scenario whose NLoS excess and shadowing are used: "
                          "UMi-StreetCanyon, UMa, RMa (<= 30 GHz) or InH-OfficeMixed.",
                          StringValue("UMi-StreetCanyon"),
                          MakeStringAccessor(&SubThzPropagationLossModel::SetScenarioName,
                                             &SubThzPropagationLossModel::GetScenarioName),
                          MakeStringChecker())
            .AddAttribute("ShadowingEnabled",
                          "Add the scenario's 38.901 log-normal shadowing (dB).",
                          BooleanValue(true),
                          MakeBooleanAccessor(&SubThzPropagationLossModel::m_shadowingEnabled),
                          MakeBooleanChecker())
            .AddAttribute("ChannelConditionModel",
                          "The model deciding the LoS/NLoS state of each link.",
                          PointerValue(),
                          MakePointerAccessor(&SubThzPropagationLossModel::SetChannelConditionModel,
                                              &SubThzPropagationLossModel::GetChannelConditionModel),
                          MakePointerChecker<ChannelConditionModel>());
    return tid;
}

SubThzPropagationLossModel::SubThzPropagationLossModel() = default;

SubThzPropagationLossModel::~SubThzPropagationLossModel() = default;

void
SubThzPropagationLossModel::DoDispose()
{
    m_condition = nullptr;
    m_reference = nullptr;
    m_referenceShadowed = nullptr;
    PropagationLossModel::DoDispose();
}

void
SubThzPropagationLossModel::SetFrequencyHz(double frequencyHz)
{
    if (!std::isfinite(frequencyHz) || frequencyHz < kMinFrequencyHz || frequencyHz > kMaxFrequencyHz)
    {
        throw std::invalid_argument("SubThzPropagationLossModel: frequency_hz = " + Hz(frequencyHz) +
                                    " is outside 0.5-300 GHz");
    }
    const double oldReference = std::min(m_frequencyHz, kMax3gppFrequencyHz);
    m_frequencyHz = frequencyHz;
    if (std::min(frequencyHz, kMax3gppFrequencyHz) != oldReference)
    {
        m_referencesValid = false;
    }
}

double
SubThzPropagationLossModel::GetFrequencyHz() const
{
    return m_frequencyHz;
}

void
SubThzPropagationLossModel::SetScenarioName(const std::string& name)
{
    SetScenario(ParseScenario(name));
}

std::string
SubThzPropagationLossModel::GetScenarioName() const
{
    return ScenarioName(m_scenario);
}

void
SubThzPropagationLossModel::SetScenario(Scenario scenario)
{
    m_scenario = scenario;
    m_referencesValid = false;
}

Scenario
SubThzPropagationLossModel::GetScenario() const
{
    return m_scenario;
}

void
SubThzPropagationLossModel::SetChannelConditionModel(Ptr<ChannelConditionModel> model)
{
    m_condition = model;
    m_referencesValid = false;
}

Ptr<ChannelConditionModel>
SubThzPropagationLossModel::GetChannelConditionModel() const
{
    return m_condition;
}

void
SubThzPropagationLossModel::EnsureReferences() const
{
    if (m_referencesValid)
    {
        return;
    }
    if (!m_condition)
    {
        throw std::logic_error("SubThzPropagationLossModel: set the ChannelConditionModel attribute "
                               "before computing a loss");
    }
    CheckFrequency(m_scenario, m_frequencyHz);
    const double reference = std::min(m_frequencyHz, kMax3gppFrequencyHz);
    m_reference = Create3gppLossModel(m_scenario, reference, false, m_condition);
    m_referenceShadowed = Create3gppLossModel(m_scenario, reference, true, m_condition);
    if (m_stream >= 0)
    {
        m_reference->AssignStreams(m_stream);
        m_referenceShadowed->AssignStreams(m_stream + 8);
    }
    m_referencesValid = true;
}

double
SubThzPropagationLossModel::GetLossDb(Ptr<MobilityModel> a, Ptr<MobilityModel> b) const
{
    EnsureReferences();
    const double reference = std::min(m_frequencyHz, kMax3gppFrequencyHz);
    const double d3 = CalculateDistance(a->GetPosition(), b->GetPosition());
    double loss =
        FreeSpacePathLossDb(m_frequencyHz, d3) + GaseousAbsorptionDbPerKm(m_frequencyHz) * d3 / 1000.0;
    const bool los = m_condition->GetChannelCondition(a, b)->IsLos();
    const double referenceLoss = -m_reference->CalcRxPower(0.0, a, b);
    if (!los)
    {
        loss += std::max(0.0, referenceLoss - FreeSpacePathLossDb(reference, d3));
    }
    if (m_shadowingEnabled)
    {
        loss += -m_referenceShadowed->CalcRxPower(0.0, a, b) - referenceLoss;
    }
    return loss;
}

double
SubThzPropagationLossModel::DoCalcRxPower(double txPowerDbm,
                                          Ptr<MobilityModel> a,
                                          Ptr<MobilityModel> b) const
{
    return txPowerDbm - GetLossDb(a, b);
}

int64_t
SubThzPropagationLossModel::DoAssignStreams(int64_t stream)
{
    m_stream = stream;
    if (m_referencesValid)
    {
        m_reference->AssignStreams(stream);
        m_referenceShadowed->AssignStreams(stream + 8);
    }
    return 16;
}

// ---------------------------------------------------------------------------------------------------
// RanChannel

NS_OBJECT_ENSURE_REGISTERED(RanChannel);

TypeId
RanChannel::GetTypeId()
{
    static TypeId tid =
        TypeId("ns6g::ran::RanChannel")
            .SetParent<Object>()
            .SetGroupName("Ns6g")
            .AddConstructor<RanChannel>()
            .AddAttribute("Scenario",
                          "TR 38.901 scenario: UMi-StreetCanyon (UMi), UMa, RMa, InH-OfficeMixed (InH).",
                          StringValue("UMi-StreetCanyon"),
                          MakeStringAccessor(&RanChannel::m_scenarioName),
                          MakeStringChecker())
            .AddAttribute("CarrierFrequencyHz",
                          "Carrier frequency (Hz), 0.5-300 GHz (RMa: 0.5-30 GHz).",
                          DoubleValue(3.5e9),
                          MakeDoubleAccessor(&RanChannel::m_carrierFrequencyHz),
                          MakeDoubleChecker<double>(kMinFrequencyHz, kMaxFrequencyHz))
            .AddAttribute("BandwidthHz",
                          "Channel bandwidth (Hz); NumRbs * RbBandwidthHz must fit in it.",
                          DoubleValue(100e6),
                          MakeDoubleAccessor(&RanChannel::m_bandwidthHz),
                          MakeDoubleChecker<double>(0.0))
            .AddAttribute("NumRbs",
                          "Number of resource blocks, centred on the carrier.",
                          UintegerValue(273),
                          MakeUintegerAccessor(&RanChannel::m_numRbs),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("RbBandwidthHz",
                          "Bandwidth of one RB (Hz): 12 subcarriers (360 kHz at 30 kHz spacing).",
                          DoubleValue(360e3),
                          MakeDoubleAccessor(&RanChannel::m_rbBandwidthHz),
                          MakeDoubleChecker<double>(0.0))
            .AddAttribute("RbGroupSize",
                          "RBs per fast-fading evaluation band; every RB of a group gets the gain "
                          "computed at the group's centre (4 RBs = 1.44 MHz at 30 kHz spacing).",
                          UintegerValue(4),
                          MakeUintegerAccessor(&RanChannel::m_rbGroupSize),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("ShadowingEnabled",
                          "Add 38.901 log-normal shadowing to the large-scale loss.",
                          BooleanValue(true),
                          MakeBooleanAccessor(&RanChannel::m_shadowingEnabled),
                          MakeBooleanChecker())
            .AddAttribute("FastFadingEnabled",
                          "Per-RB gains from ns-3's 3GPP channel model; false: the LoS array gain only.",
                          BooleanValue(true),
                          MakeBooleanAccessor(&RanChannel::m_fastFadingEnabled),
                          MakeBooleanChecker())
            .AddAttribute("LosCondition",
                          "LoS state of links: 3gpp (drawn with the scenario's 38.901 probability), "
                          "los (always) or nlos (never).",
                          StringValue("3gpp"),
                          MakeStringAccessor(&RanChannel::m_losMode),
                          MakeStringChecker())
            .AddAttribute("UpdatePeriod",
                          "Re-evaluation period of cached per-link values (a Time): RB gains with the "
                          "Doppler phases of that time, large-scale loss of moved links.",
                          TimeValue(MilliSeconds(10)),
                          MakeTimeAccessor(&RanChannel::m_updatePeriod),
                          MakeTimeChecker())
            .AddAttribute("RealizationPeriod",
                          "Period (a Time) after which every link's small-scale fading is drawn anew.",
                          TimeValue(Seconds(1)),
                          MakeTimeAccessor(&RanChannel::m_realizationPeriod),
                          MakeTimeChecker())
            .AddAttribute("LinkFadingStreams",
                          "Draw each link's fast fading, in each realisation, from a random stream of "
                          "its own (a function of the assigned streams, the gNB and UE node ids and "
                          "the realisation) instead of one stream shared in the order links are "
                          "evaluated: then evaluating a link (a query, another UE's scheduling) changes "
                          "no other link's fading.",
                          BooleanValue(false),
                          MakeBooleanAccessor(&RanChannel::m_linkFadingStreams),
                          MakeBooleanChecker())
            .AddAttribute("LosUpdatePeriod",
                          "Period (a Time) after which a link's LoS state is drawn again (0: kept for "
                          "good, ns-3's default; about decorrelation distance / speed for moving UEs).",
                          TimeValue(Seconds(0)),
                          MakeTimeAccessor(&RanChannel::m_losUpdatePeriod),
                          MakeTimeChecker())
            .AddAttribute("ScattererSpeedMps",
                          "Speed (m/s) of moving scatterers, ns-3's vScatt (TR 37.885 6.2.3): adds a "
                          "random Doppler to the non-LoS clusters, so that static links fade too.",
                          DoubleValue(0.0),
                          MakeDoubleAccessor(&RanChannel::m_scattererSpeedMps),
                          MakeDoubleChecker<double>(0.0))
            .AddAttribute("GnbArrayRows",
                          "Rows of each gNB's uniform planar array.",
                          UintegerValue(4),
                          MakeUintegerAccessor(&RanChannel::m_gnbRows),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("GnbArrayColumns",
                          "Columns of each gNB's uniform planar array.",
                          UintegerValue(4),
                          MakeUintegerAccessor(&RanChannel::m_gnbColumns),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("UeArrayRows",
                          "Rows of each UE's uniform planar array.",
                          UintegerValue(1),
                          MakeUintegerAccessor(&RanChannel::m_ueRows),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("UeArrayColumns",
                          "Columns of each UE's uniform planar array.",
                          UintegerValue(2),
                          MakeUintegerAccessor(&RanChannel::m_ueColumns),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("GnbIsotropicElements",
                          "gNB array elements isotropic (0 dBi) instead of 3GPP (8 dBi, 65 deg).",
                          BooleanValue(false),
                          MakeBooleanAccessor(&RanChannel::m_gnbIsotropicElements),
                          MakeBooleanChecker())
            .AddAttribute("UeIsotropicElements",
                          "UE array elements isotropic (0 dBi) instead of 3GPP (8 dBi, 65 deg).",
                          BooleanValue(true),
                          MakeBooleanAccessor(&RanChannel::m_ueIsotropicElements),
                          MakeBooleanChecker());
    return tid;
}

RanChannel::RanChannel() = default;

RanChannel::~RanChannel() = default;

void
RanChannel::DoDispose()
{
    m_terminals.clear();
    m_primed.clear();
    m_largeScale.clear();
    m_gains.clear();
    m_condition = nullptr;
    m_pathLoss = nullptr;
    m_channelModel = nullptr;
    m_spectrumLoss = nullptr;
    m_txParams = nullptr;
    Object::DoDispose();
}

void
RanChannel::EnsureModels()
{
    if (m_built)
    {
        return;
    }
    m_scenario = ParseScenario(m_scenarioName);
    CheckFrequency(m_scenario, m_carrierFrequencyHz);
    if (!(m_rbBandwidthHz > 0.0) || m_numRbs == 0 || m_rbGroupSize == 0)
    {
        throw std::invalid_argument("RanChannel: NumRbs, RbBandwidthHz and RbGroupSize must be positive");
    }
    if (m_numRbs * m_rbBandwidthHz > m_bandwidthHz * (1.0 + 1e-9))
    {
        throw std::invalid_argument("RanChannel: NumRbs (" + std::to_string(m_numRbs) + ") x RbBandwidthHz (" +
                                    Num(m_rbBandwidthHz) + " Hz) exceeds BandwidthHz (" +
                                    Num(m_bandwidthHz) + " Hz)");
    }
    if (!m_updatePeriod.IsStrictlyPositive() || !m_realizationPeriod.IsStrictlyPositive() ||
        m_losUpdatePeriod.IsStrictlyNegative())
    {
        throw std::invalid_argument("RanChannel: UpdatePeriod and RealizationPeriod must be positive, "
                                    "LosUpdatePeriod >= 0");
    }
    if (m_losMode == "3gpp")
    {
        Ptr<ThreeGppChannelConditionModel> condition = CreateChannelConditionModel(m_scenario);
        condition->SetAttribute("UpdatePeriod", TimeValue(m_losUpdatePeriod));
        m_condition = condition;
    }
    else if (m_losMode == "los")
    {
        m_condition = CreateObject<AlwaysLosChannelConditionModel>();
    }
    else if (m_losMode == "nlos")
    {
        m_condition = CreateObject<NeverLosChannelConditionModel>();
    }
    else
    {
        throw std::invalid_argument("RanChannel: LosCondition '" + m_losMode +
                                    "' is not one of 3gpp, los, nlos");
    }
    m_pathLoss = CreatePathLossModel(m_scenario, m_carrierFrequencyHz, m_shadowingEnabled, m_condition);

    Ptr<EpochChannelModel> channel = CreateObject<EpochChannelModel>();
    channel->SetScenario(ScenarioName(m_scenario));
    // ns-3's 3GPP channel model is specified up to 100 GHz: above, its parameters at 100 GHz are used.
    channel->SetFrequency(std::min(m_carrierFrequencyHz, kMax3gppFrequencyHz));
    channel->SetChannelConditionModel(m_condition);
    channel->SetAttribute("vScatt", DoubleValue(m_scattererSpeedMps));
    m_channelModel = channel;
    Ptr<EpochSpectrumLossModel> spectrum = CreateObject<EpochSpectrumLossModel>();
    spectrum->SetChannelModel(m_channelModel);
    m_spectrumLoss = spectrum;

    // One band per RB group; RB i is centred at fc + (i - (N - 1) / 2) * rbBw.
    Bands bands;
    for (uint32_t first = 0; first < m_numRbs; first += m_rbGroupSize)
    {
        const uint32_t last = std::min(first + m_rbGroupSize, m_numRbs) - 1;
        BandInfo band;
        band.fl = GetRbCentreFrequencyHz(first) - m_rbBandwidthHz / 2.0;
        band.fh = GetRbCentreFrequencyHz(last) + m_rbBandwidthHz / 2.0;
        band.fc = (band.fl + band.fh) / 2.0;
        bands.push_back(band);
    }
    Ptr<SpectrumModel> model = Create<SpectrumModel>(bands);
    Ptr<SpectrumValue> psd = Create<SpectrumValue>(model);
    *psd = 1.0;
    m_txParams = Create<SpectrumSignalParameters>();
    m_txParams->psd = psd;
    m_built = true;
}

void
RanChannel::AddGnb(Ptr<Node> gnb, double bearingRad, double downtiltRad)
{
    AddTerminal(gnb, true, bearingRad, downtiltRad);
}

void
RanChannel::AddUe(Ptr<Node> ue, double bearingRad)
{
    AddTerminal(ue, false, bearingRad, 0.0);
}

void
RanChannel::AddTerminal(Ptr<Node> node, bool isGnb, double bearingRad, double downtiltRad)
{
    EnsureModels();
    Terminal t;
    t.node = node;
    t.mobility = node->GetObject<MobilityModel>();
    if (!t.mobility)
    {
        throw std::invalid_argument(std::string("RanChannel::") + (isGnb ? "AddGnb" : "AddUe") + ": node " +
                                    std::to_string(node->GetId()) + " has no MobilityModel");
    }
    Ptr<UniformPlanarArray> array = CreateObject<UniformPlanarArray>();
    array->SetNumRows(isGnb ? m_gnbRows : m_ueRows);
    array->SetNumColumns(isGnb ? m_gnbColumns : m_ueColumns);
    array->SetAlpha(bearingRad);
    if (isGnb)
    {
        array->SetBeta(downtiltRad);
    }
    Ptr<AntennaModel> element;
    if (isGnb ? m_gnbIsotropicElements : m_ueIsotropicElements)
    {
        element = CreateObject<IsotropicAntennaModel>();
    }
    else
    {
        element = CreateObject<ThreeGppAntennaModel>();
    }
    element->Initialize();
    array->SetAntennaElement(element);
    t.array = array;
    t.isGnb = isGnb;
    m_terminals[node->GetId()] = t;
}

RanChannel::Terminal&
RanChannel::Find(Ptr<Node> node, bool gnb)
{
    if (!node)
    {
        throw std::invalid_argument("RanChannel: null node");
    }
    auto it = m_terminals.find(node->GetId());
    if (it == m_terminals.end() || it->second.isGnb != gnb)
    {
        throw std::invalid_argument("RanChannel: node " + std::to_string(node->GetId()) +
                                    " is not a registered " + (gnb ? "gNB (AddGnb)" : "UE (AddUe)"));
    }
    return it->second;
}

uint64_t
RanChannel::GetEpoch() const
{
    return static_cast<uint64_t>(Simulator::Now().GetTimeStep() / m_updatePeriod.GetTimeStep());
}

uint64_t
RanChannel::GetRealization() const
{
    return static_cast<uint64_t>(Simulator::Now().GetTimeStep() / m_realizationPeriod.GetTimeStep());
}

uint64_t
RanChannel::GetLosEpoch() const
{
    if (m_losMode != "3gpp" || !m_losUpdatePeriod.IsStrictlyPositive())
    {
        return 0;
    }
    return static_cast<uint64_t>(Simulator::Now().GetTimeStep() / m_losUpdatePeriod.GetTimeStep());
}

void
RanChannel::UpdateRealization()
{
    EnsureModels();
    const uint64_t realization = GetRealization();
    if (m_realizationValid && realization == m_realization)
    {
        return;
    }
    if (m_realizationValid)
    {
        DynamicCast<EpochChannelModel>(m_channelModel)->ForgetRealisations();
        DynamicCast<EpochSpectrumLossModel>(m_spectrumLoss)->ForgetLongTerms();
    }
    // Every cached gain belongs to the old realisation; dropping them also bounds the cache to the
    // (gNB, UE, beam target) triples asked for within one realisation period.
    m_gains.clear();
    m_realization = realization;
    m_realizationValid = true;
}

bool
RanChannel::HasDoppler(const Terminal& gnb, const Terminal& ue) const
{
    return m_scattererSpeedMps > 0.0 || gnb.mobility->GetVelocity().GetLength() > 0.0 ||
           ue.mobility->GetVelocity().GetLength() > 0.0;
}

const RanChannel::LargeScale&
RanChannel::GetLargeScale(Ptr<Node> gnb, Ptr<Node> ue)
{
    UpdateRealization();
    Terminal& g = Find(gnb, true);
    Terminal& u = Find(ue, false);
    const uint64_t key = LinkKey(gnb->GetId(), ue->GetId());
    const uint64_t epoch = GetEpoch();
    const uint64_t losEpoch = GetLosEpoch();
    LargeScale& entry = m_largeScale[key];
    if (m_primed.count(key))
    {
        if (entry.epoch == epoch)
        {
            return entry;
        }
        const Vector gnbPos = g.mobility->GetPosition();
        const Vector uePos = u.mobility->GetPosition();
        if (entry.losEpoch == losEpoch && gnbPos == entry.gnbPos && uePos == entry.uePos)
        {
            entry.epoch = epoch; // nothing that the loss depends on changed
            return entry;
        }
    }
    else
    {
        // ns-3 3.44 stores a zero displacement with a link's first shadowing draw, so its second call
        // sees the whole BS-UT vector as displacement and draws an almost independent value even for
        // a static UE. One extra call here makes the stored displacement the real one: from then on
        // a static link keeps its shadowing and a moving one gets 38.901's distance-correlated update.
        m_primed.insert(key);
        m_pathLoss->CalcRxPower(0.0, u.mobility, g.mobility);
    }
    // The UE is `a`, the gNB `b` (ns-3's UMi model identifies the BS that way; the rest are symmetric).
    entry.lossDb = -m_pathLoss->CalcRxPower(0.0, u.mobility, g.mobility);
    entry.los = m_condition->GetChannelCondition(u.mobility, g.mobility)->IsLos();
    entry.epoch = epoch;
    entry.losEpoch = losEpoch;
    entry.gnbPos = g.mobility->GetPosition();
    entry.uePos = u.mobility->GetPosition();
    return entry;
}

double
RanChannel::GetLargeScaleLossDb(Ptr<Node> gnb, Ptr<Node> ue)
{
    return GetLargeScale(gnb, ue).lossDb;
}

bool
RanChannel::IsLos(Ptr<Node> gnb, Ptr<Node> ue)
{
    return GetLargeScale(gnb, ue).los;
}

const std::vector<double>&
RanChannel::GetRbGainsDb(Ptr<Node> gnb, Ptr<Node> ue, Ptr<Node> beamTarget)
{
    UpdateRealization();
    Terminal& g = Find(gnb, true);
    Terminal& u = Find(ue, false);
    Terminal& target = beamTarget ? Find(beamTarget, false) : u;
    const uint32_t targetId = target.node->GetId();
    // Key: gNB, UE and target ids, 21 bits each.
    if (gnb->GetId() >= (1U << 21) || ue->GetId() >= (1U << 21) || targetId >= (1U << 21))
    {
        throw std::invalid_argument("RanChannel: node ids of 2^21 and above are not supported");
    }
    const uint64_t key = (static_cast<uint64_t>(gnb->GetId()) << 42) |
                         (static_cast<uint64_t>(ue->GetId()) << 21) | targetId;
    const uint64_t epoch = GetEpoch();
    const uint64_t losEpoch = GetLosEpoch();
    auto [it, inserted] = m_gains.try_emplace(key);
    Gains& entry = it->second;
    const Vector gnbPos = g.mobility->GetPosition();
    const Vector uePos = u.mobility->GetPosition();
    const Vector targetPos = target.mobility->GetPosition();
    if (!inserted && entry.realization == m_realization)
    {
        if (entry.epoch == epoch)
        {
            return entry.gainsDb;
        }
        if (entry.losEpoch == losEpoch && entry.gnbPos == gnbPos && entry.uePos == uePos &&
            entry.targetPos == targetPos && !HasDoppler(g, u))
        {
            entry.epoch = epoch; // a static link without Doppler: the same channel
            return entry.gainsDb;
        }
    }
    entry.gainsDb.resize(m_numRbs);
    ComputeRbGains(g, u, target, entry.gainsDb);
    entry.epoch = epoch;
    entry.realization = m_realization;
    entry.losEpoch = losEpoch;
    entry.gnbPos = gnbPos;
    entry.uePos = uePos;
    entry.targetPos = targetPos;
    return entry.gainsDb;
}

double
RanChannel::GetLosArrayGainDb(Ptr<Node> gnb, Ptr<Node> ue, Ptr<Node> beamTarget)
{
    EnsureModels();
    Terminal& g = Find(gnb, true);
    Terminal& u = Find(ue, false);
    Terminal& target = beamTarget ? Find(beamTarget, false) : u;
    return 10.0 * std::log10(LosArrayGain(g, u, target));
}

void
RanChannel::ComputeRbGains(Terminal& gnb, Terminal& ue, Terminal& target, std::vector<double>& gains)
{
    if (!m_fastFadingEnabled)
    {
        std::fill(gains.begin(), gains.end(), 10.0 * std::log10(LosArrayGain(gnb, ue, target)));
        return;
    }
    const Vector gnbPos = gnb.mobility->GetPosition();
    const Vector uePos = ue.mobility->GetPosition();
    const Vector targetPos = target.mobility->GetPosition();
    gnb.array->SetBeamformingVector(MatchedBeam(gnb.array, Angles(targetPos, gnbPos)));
    ue.array->SetBeamformingVector(MatchedBeam(ue.array, Angles(gnbPos, uePos)));
    if (m_linkFadingStreams)
    {
        // The channel model draws a link's channel when it is first asked for in a realisation: from
        // the stream of (link, realisation), that draw does not depend on which links came before.
        uint64_t h = static_cast<uint64_t>(m_fadingStream);
        for (uint64_t part : {static_cast<uint64_t>(gnb.node->GetId()), static_cast<uint64_t>(ue.node->GetId()),
                              m_realization})
        {
            h = SplitMix64(h ^ SplitMix64(part));
        }
        // 8 streams per key (the channel model uses 4), above the streams helpers assign (< 2^40).
        DynamicCast<EpochChannelModel>(m_channelModel)->Reseed(static_cast<int64_t>((1ULL << 40) + (h >> 8) * 8));
    }
    Ptr<SpectrumSignalParameters> rx =
        m_spectrumLoss->CalcRxPowerSpectralDensity(m_txParams, gnb.mobility, ue.mobility, gnb.array, ue.array);
    ++m_fastFadingEvaluations;
    const SpectrumValue& psd = *rx->psd;
    for (uint32_t rb = 0; rb < m_numRbs; ++rb)
    {
        const double linear = psd[rb / m_rbGroupSize];
        gains[rb] = 10.0 * std::log10(std::max(linear, 1e-30));
    }
}

double
RanChannel::LosArrayGain(const Terminal& gnb, const Terminal& ue, const Terminal& target) const
{
    const Vector gnbPos = gnb.mobility->GetPosition();
    const Vector uePos = ue.mobility->GetPosition();
    const Vector targetPos = target.mobility->GetPosition();
    // |w^T r(direction)|^2 times the element's power pattern in that direction, at each end, where
    // r = conj(steering vector) is the array response of ns-3's channel matrix.
    auto endGain = [](Ptr<PhasedArrayModel> array, const Angles& beam, const Angles& direction) {
        PhasedArrayModel::ComplexVector w = MatchedBeam(array, beam);
        PhasedArrayModel::ComplexVector a = array->GetSteeringVector(direction);
        std::complex<double> af(0.0, 0.0);
        for (size_t i = 0; i < w.GetSize(); ++i)
        {
            af += w[i] * std::conj(a[i]);
        }
        auto [fTheta, fPhi] = array->GetElementFieldPattern(direction, 0);
        return std::norm(af) * (fTheta * fTheta + fPhi * fPhi);
    };
    return endGain(gnb.array, Angles(targetPos, gnbPos), Angles(uePos, gnbPos)) *
           endGain(ue.array, Angles(gnbPos, uePos), Angles(gnbPos, uePos));
}

uint32_t
RanChannel::GetNumRbs() const
{
    return m_numRbs;
}

double
RanChannel::GetRbCentreFrequencyHz(uint32_t rb) const
{
    return m_carrierFrequencyHz + (static_cast<double>(rb) - (m_numRbs - 1) / 2.0) * m_rbBandwidthHz;
}

uint64_t
RanChannel::GetFastFadingEvaluations() const
{
    return m_fastFadingEvaluations;
}

Ptr<PhasedArrayModel>
RanChannel::GetArray(Ptr<Node> node) const
{
    auto it = m_terminals.find(node->GetId());
    return it == m_terminals.end() ? nullptr : it->second.array;
}

Ptr<ChannelConditionModel>
RanChannel::GetChannelConditionModel()
{
    EnsureModels();
    return m_condition;
}

Ptr<PropagationLossModel>
RanChannel::GetPathLossModel()
{
    EnsureModels();
    return m_pathLoss;
}

int64_t
RanChannel::AssignStreams(int64_t stream)
{
    EnsureModels();
    int64_t used = m_condition->AssignStreams(stream);
    used += m_pathLoss->AssignStreams(stream + used);
    m_fadingStream = stream + used;
    used += m_channelModel->AssignStreams(stream + used);
    used += m_spectrumLoss->AssignStreams(stream + used);
    return used;
}

} // namespace ns6g::ran
