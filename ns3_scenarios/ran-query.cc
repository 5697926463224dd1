// ran-query: answers queries of the compiled 6G RAN model (path loss, LoS probability, link
// adaptation, schedulers...) over the bridge's message channel. It simulates nothing; Python's
// ns6g.radio keeps one running per process. See ran/query/ran-query.h.
#include "bridge/ns6g-bridge.h"
#include "bridge/ns6g-serve.h"
#include "ran/query/ran-query.h"

#include "ns3/core-module.h"

#include <set>
#include <stdexcept>
#include <string>

using namespace ns3;

namespace
{

class RanQuery : public ns6g::MessageService
{
  public:
    RanQuery()
    {
        ns6g::ran::AddChannelQueries(m_queries);
        ns6g::ran::AddPhyQueries(m_queries);
        ns6g::ran::AddSchedulerQueries(m_queries);
        ns6g::ran::AddMecQueries(m_queries);
        ns6g::ran::AddProfileQueries(m_queries);
        // Record types are found by name on both sides: two with one name would shift the indices.
        std::set<std::string> names;
        for (const auto& q : m_queries)
        {
            for (const auto* type : {&q.request, &q.reply})
            {
                if (!names.insert(type->name).second)
                {
                    throw std::logic_error("ran-query: record type '" + type->name + "' is declared twice");
                }
            }
        }
    }

    std::vector<ns6g::RecordType> GetRecordTypes() override
    {
        std::vector<ns6g::RecordType> types;
        for (const auto& q : m_queries)
        {
            types.push_back(q.request);
            types.push_back(q.reply);
        }
        return types;
    }

    ns6g::Message HandleMessage(const ns6g::Message& request) override
    {
        for (const auto& q : m_queries)
        {
            if (q.request.name == request.type)
            {
                return q.answer(request);
            }
        }
        throw ns6g::InvalidRequest("ran-query: '" + request.type + "' is not a query's request type");
    }

  private:
    ns6g::ran::QueryTable m_queries;
};

} // namespace

int
main(int argc, char* argv[])
{
    return ns6g::ServeScenario<RanQuery>("ran-query", argc, argv, ns6g::NoOptions{});
}
