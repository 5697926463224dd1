// Queries of the RAN scheduler model (see ran-query.h). None yet.
#include "ran/query/ran-query.h"

namespace ns6g::ran
{

void
AddSchedulerQueries(QueryTable& /* table */)
{
}

} // namespace ns6g::ran
