// Split-computing layer profiles: for each cut of a model, the compute, weights, memory and bytes on the
// network on each side. The files are measured by Python's ns6g.profiles and shipped as
// ns3_scenarios/mec/profiles/<model>-<dtype>.csv (CSV format version 1, see docs/profiles.md); this reader
// is what the C++ scenarios use (docs/split.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ns6g::mec
{

/** One row of a profile: cut k runs blocks 1..k on the device and k+1..N on the server. */
struct CutProfile
{
    uint32_t cut;             //!< k, 0..N
    std::string layer;        //!< last device-side block; "input" at k = 0
    double deviceFlops;       //!< FLOPs per sample of blocks 1..k
    double serverFlops;       //!< FLOPs per sample of blocks k+1..N
    double deviceParamBytes;  //!< weight bytes of blocks 1..k
    double serverParamBytes;  //!< weight bytes of blocks k+1..N
    double transferBytes;     //!< bytes crossing the network at the cut (raw input at 0, the result at N)
    double deviceMemoryBytes; //!< device weights + the largest activation held (peak-memory estimate)
};

/** A whole profile: its header comments and one CutProfile per cut, k = 0..N in order. */
struct LayerProfile
{
    std::string model;      //!< e.g. "small_cnn"
    std::string dtype;      //!< "fp32" or "int8"
    std::string inputShape; //!< e.g. "1x1x28x28"
    std::vector<CutProfile> cuts;
};

/** The profile CSV format version this reader accepts. */
constexpr int kLayerProfileVersion = 1;

/** The columns of a profile CSV, in order (its header row). */
const std::vector<std::string>& LayerProfileColumns();

/**
 * Reads and validates a profile CSV (docs/profiles.md): the header comments "# model=", "# dtype=",
 * "# input_shape=", "# ns6g-profile-version=" in this order (version must be 1, dtype fp32 or int8), the
 * header row with LayerProfileColumns() in order, then one row per cut with cut = 0, 1, ... and every
 * numeric field a non-negative integer (digits only). Throws std::invalid_argument naming the file, line
 * and column of the first problem, or std::runtime_error if the file cannot be opened.
 */
LayerProfile LoadLayerProfile(const std::string& path);

/**
 * The path of the profile of `model` at `dtype` in `folder` ("<folder>/<model>-<dtype>.csv"). Throws
 * std::invalid_argument for a dtype other than fp32/int8, and for a model without a file there, listing
 * the models found in the folder.
 */
std::string ProfilePath(const std::string& folder, const std::string& model, const std::string& dtype);

} // namespace ns6g::mec
