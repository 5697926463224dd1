// Queries of the split-computing layer-profile reader (see ran/query/ran-query.h); Python's side is
// ns6g/compute/split.py and tests/test_split.py. Record structs are laid out by hand (offsets checked by
// static_assert).
//
//   profile_load -> profile_cut   every cut of the profile named by each request, as
//                                 mec::LoadLayerProfile reads it, requests in order (`request` gives the
//                                 request's index). A request names a CSV file by `path` when `model` is
//                                 empty, else `path` is a folder and the file is
//                                 mec::ProfilePath(path, model, dtype) (dtype empty: fp32).
#include "mec/model/layer-profile.h"
#include "ran/query/ran-query.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace ns6g::ran
{

namespace
{

constexpr size_t kPathChars = 256;
constexpr size_t kModelChars = 64;
constexpr size_t kDtypeChars = 8;
constexpr size_t kLayerChars = 32;

struct ProfileLoadRecord
{
    char path[kPathChars];   //!< the profile CSV, or the folder when model is given
    char model[kModelChars]; //!< empty: path is the file
    char dtype[kDtypeChars]; //!< with model; empty: fp32
};

static_assert(offsetof(ProfileLoadRecord, model) == 256 && offsetof(ProfileLoadRecord, dtype) == 320 &&
                  sizeof(ProfileLoadRecord) == 328,
              "profile_load records must have no hidden padding");

struct ProfileCutRecord
{
    uint32_t request; //!< index of the request this cut belongs to
    uint32_t cut;
    char layer[kLayerChars];
    double deviceFlops;
    double serverFlops;
    double deviceParamBytes;
    double serverParamBytes;
    double transferBytes;
    double deviceMemoryBytes;
};

static_assert(offsetof(ProfileCutRecord, layer) == 8 && offsetof(ProfileCutRecord, deviceFlops) == 40 &&
                  offsetof(ProfileCutRecord, deviceMemoryBytes) == 80 && sizeof(ProfileCutRecord) == 88,
              "profile_cut records must have no hidden padding");

Message
AnswerProfileLoad(const Message& request)
{
    const auto* records = request.Records<ProfileLoadRecord>();
    std::vector<ProfileCutRecord> reply;
    for (size_t i = 0; i < request.count; ++i)
    {
        const auto& r = records[i];
        std::string path = ReadFixedString(r.path);
        const std::string model = ReadFixedString(r.model);
        const std::string dtype = ReadFixedString(r.dtype);
        try
        {
            if (!model.empty())
            {
                path = mec::ProfilePath(path, model, dtype.empty() ? "fp32" : dtype);
            }
            const mec::LayerProfile profile = mec::LoadLayerProfile(path);
            for (const auto& c : profile.cuts)
            {
                if (c.layer.size() >= kLayerChars)
                {
                    throw std::invalid_argument("layer profile " + path + ": layer name '" + c.layer +
                                                "' is longer than the query's " +
                                                std::to_string(kLayerChars - 1) + " bytes");
                }
                ProfileCutRecord out{};
                out.request = static_cast<uint32_t>(i);
                out.cut = c.cut;
                std::memcpy(out.layer, c.layer.data(), c.layer.size());
                out.deviceFlops = c.deviceFlops;
                out.serverFlops = c.serverFlops;
                out.deviceParamBytes = c.deviceParamBytes;
                out.serverParamBytes = c.serverParamBytes;
                out.transferBytes = c.transferBytes;
                out.deviceMemoryBytes = c.deviceMemoryBytes;
                reply.push_back(out);
            }
        }
        catch (const std::exception& e)
        {
            throw InvalidRequest(std::string("profile_load: ") + e.what());
        }
    }
    return Message::From("profile_cut", reply);
}

} // namespace

void
AddProfileQueries(QueryTable& table)
{
    table.push_back(Query{
        RecordType{"profile_load",
                   sizeof(ProfileLoadRecord),
                   {NS6G_FIELD(ProfileLoadRecord, path, "path"),
                    NS6G_FIELD(ProfileLoadRecord, model, "model"),
                    NS6G_FIELD(ProfileLoadRecord, dtype, "dtype")}},
        RecordType{"profile_cut",
                   sizeof(ProfileCutRecord),
                   {NS6G_FIELD(ProfileCutRecord, request, "request"),
                    NS6G_FIELD(ProfileCutRecord, cut, "cut"),
                    NS6G_FIELD(ProfileCutRecord, layer, "layer"),
                    NS6G_FIELD(ProfileCutRecord, deviceFlops, "device_flops"),
                    NS6G_FIELD(ProfileCutRecord, serverFlops, "server_flops"),
                    NS6G_FIELD(ProfileCutRecord, deviceParamBytes, "device_param_bytes"),
                    NS6G_FIELD(ProfileCutRecord, serverParamBytes, "server_param_bytes"),
                    NS6G_FIELD(ProfileCutRecord, transferBytes, "transfer_bytes"),
                    NS6G_FIELD(ProfileCutRecord, deviceMemoryBytes, "device_memory_bytes")}},
        AnswerProfileLoad});
}

} // namespace ns6g::ran
