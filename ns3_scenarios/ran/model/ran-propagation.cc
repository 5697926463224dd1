// TR 38.901 large-scale propagation as pure functions (see ran-propagation.h and docs/ran-channel.md).
#include "ran/model/ran-propagation.h"

#include "ran/model/sub-thz-propagation-loss-model.h"

#include "ns3/boolean.h"
#include "ns3/constant-position-mobility-model.h"
#include "ns3/double.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <iterator>
#include <limits>
#include <sstream>
#include <stdexcept>

using namespace ns3;

namespace ns6g::ran
{

std::string
FormatShortNumber(double v)
{
    std::ostringstream os;
    os << v;
    return os.str();
}

std::string
FormatFrequencyGHz(double hz)
{
    return FormatShortNumber(hz) + " Hz (" + FormatShortNumber(hz / 1e9) + " GHz)";
}

namespace
{

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

} // namespace

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
        throw std::invalid_argument("frequency_hz = " + FormatFrequencyGHz(frequencyHz) +
                                    " is outside the supported range 0.5-300 GHz (TR 38.901 covers "
                                    "0.5-100 GHz, the sub-THz model 100-300 GHz)");
    }
    if (scenario == Scenario::RMa && frequencyHz > kRmaMaxFrequencyHz)
    {
        throw std::invalid_argument("frequency_hz = " + FormatFrequencyGHz(frequencyHz) +
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
        fail("d2d_m = " + FormatShortNumber(distance2dM) + " m: the 2D distance must be finite and >= 0");
    }
    if (!std::isfinite(hBsM) || hBsM <= 0.0)
    {
        fail("h_bs_m = " + FormatShortNumber(hBsM) + " m: the BS height must be finite and > 0");
    }
    if (!std::isfinite(hUtM) || hUtM <= 0.0)
    {
        fail("h_ut_m = " + FormatShortNumber(hUtM) + " m: the UT height must be finite and > 0");
    }
    const double d3 = std::hypot(distance2dM, hBsM - hUtM);
    if (d3 < 1.0)
    {
        fail("d2d_m = " + FormatShortNumber(distance2dM) + " m with h_bs_m = " + FormatShortNumber(hBsM) +
             " m and h_ut_m = " + FormatShortNumber(hUtM) + " m gives a 3D distance of " + FormatShortNumber(d3) +
             " m; TR 38.901's formulas need at least 1 m");
    }
    switch (scenario)
    {
    case Scenario::UMi:
    case Scenario::UMa:
        if (hUtM < 1.5 || hUtM > 22.5)
        {
            fail("h_ut_m = " + FormatShortNumber(hUtM) + " m is outside " + ScenarioName(scenario) +
                 "'s UT height range 1.5-22.5 m (TR 38.901 Table 7.4.1-1)");
        }
        break;
    case Scenario::RMa:
        if (hUtM < 1.0 || hUtM > 10.0)
        {
            fail("h_ut_m = " + FormatShortNumber(hUtM) + " m is outside RMa's UT height range 1-10 m (TR 38.901 "
                 "Table 7.4.1-1)");
        }
        if (hBsM < 10.0 || hBsM > 150.0)
        {
            fail("h_bs_m = " + FormatShortNumber(hBsM) + " m is outside RMa's BS height range 10-150 m (TR 38.901 "
                 "Table 7.4.1-1)");
        }
        break;
    case Scenario::InH:
        break;
    }
    if (scenario == Scenario::UMi && hUtM == 10.0 && hBsM != 10.0)
    {
        fail("h_ut_m = 10 m with h_bs_m = " + FormatShortNumber(hBsM) +
             " m: ns-3's UMi model takes the 10 m end as the BS, so this link is ambiguous");
    }
    if (scenario != Scenario::UMi && hUtM > hBsM)
    {
        fail("h_ut_m = " + FormatShortNumber(hUtM) + " m is above h_bs_m = " + FormatShortNumber(hBsM) +
             " m; ns-3's " + ScenarioName(scenario) + " model takes the higher end as the BS");
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
        throw std::invalid_argument("frequency_hz = " + FormatFrequencyGHz(frequencyHz) +
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
        throw std::invalid_argument("d2d_m = " + FormatShortNumber(distance2dM) +
                                    " m: the 2D distance must be finite and >= 0");
    }
    if (!std::isfinite(hUtM) || hUtM <= 0.0)
    {
        throw std::invalid_argument("h_ut_m = " + FormatShortNumber(hUtM) +
                                    " m: the UT height must be finite and > 0");
    }
    if (scenario == Scenario::UMa && hUtM > 23.0)
    {
        throw std::invalid_argument("h_ut_m = " + FormatShortNumber(hUtM) +
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

} // namespace ns6g::ran
