// Queries of the RAN phy model (see ran-query.h). None yet.
#include "ran/query/ran-query.h"

namespace ns6g::ran
{

void
AddPhyQueries(QueryTable& /* table */)
{
}

} // namespace ns6g::ran
