// Queries of the RAN channel model (see ran-query.h). None yet.
#include "ran/query/ran-query.h"

namespace ns6g::ran
{

void
AddChannelQueries(QueryTable& /* table */)
{
}

} // namespace ns6g::ran
