// Queries of the MEC models (compute, device catalogue, layer profiles), answered by ran-query (see
// ran/query/ran-query.h). None yet.
#include "ran/query/ran-query.h"

namespace ns6g::ran
{

void
AddMecQueries(QueryTable& /* table */)
{
}

} // namespace ns6g::ran
