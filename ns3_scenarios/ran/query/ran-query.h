// Queries of the compiled 6G RAN model, answered by the ran-query scenario over the bridge's message
// channel, so that Python reads the numbers the C++ model uses (ns6g.radio), never a re-implementation.
//
// A query is a pair of record types: Python sends an array of request records, the handler answers
// with one reply record per request. Each model area adds its queries in its own file
// (channel-queries.cc, phy-queries.cc, scheduler-queries.cc); ran-query.cc calls the Add* functions
// explicitly, so that the linker keeps them although they live in a static library.
#pragma once

#include "bridge/ns6g-bridge.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace ns6g::ran
{

/** One query: its request and reply record types and the function that answers a request array. */
struct Query
{
    RecordType request;
    RecordType reply;
    std::function<Message(const Message& request)> answer;
};

using QueryTable = std::vector<Query>;

/** The text of a fixed-size, NUL-padded string field (numpy "S<N>"). */
template <size_t N>
std::string
ReadFixedString(const char (&src)[N])
{
    return std::string(src, strnlen(src, N));
}

/** Writes `s` into a fixed-size string field, NUL-padded, cut at N bytes. */
template <size_t N>
void
WriteFixedString(char (&dst)[N], const std::string& s)
{
    std::memset(dst, 0, N);
    std::memcpy(dst, s.data(), std::min(N, s.size()));
}

void AddChannelQueries(QueryTable& table);   // ran/query/channel-queries.cc
void AddPhyQueries(QueryTable& table);       // ran/query/phy-queries.cc
void AddSchedulerQueries(QueryTable& table); // ran/query/scheduler-queries.cc
void AddMecQueries(QueryTable& table);       // mec/query/mec-queries.cc
void AddProfileQueries(QueryTable& table);   // mec/query/profile-queries.cc

} // namespace ns6g::ran
