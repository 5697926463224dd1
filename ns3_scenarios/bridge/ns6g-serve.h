// ns6g::ServeScenario: the parse-validate-serve skeleton every scenario's main() shares.
//
//   int main(int argc, char* argv[])
//   {
//       return ns6g::ServeScenario<LinkControlEnv>(argc, argv, ns6g::LinkControlOptions{});
//   }
//
// It registers the scenario's options (the generated ns3_scenarios/options/<scenario>-options.h, from the
// pydantic config: their one declaration) and the bridge's on an ns3::CommandLine, parses, collects every
// range problem, the radio carrier's (for radio scenarios) and those of the scenario's own cross-field check, prints each as "<scenario>: <problem>"
// on stderr and returns 2; else it constructs the env from the options and serves it.
#pragma once

#include "bridge/ns6g-bridge.h"

#include "ns3/command-line.h"

#include <functional>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace ns6g
{

/** Options of a scenario that has none (ran-query): Register and Problems do nothing. */
struct NoOptions
{
    void Register(ns3::CommandLine&)
    {
    }

    std::vector<std::string> Problems() const
    {
        return {};
    }
};

/** What a scenario adds to the skeleton; all optional. */
template <typename Options>
struct ScenarioHooks
{
    //! registers options that are not config fields (data files the environment adds: --catalogue, ...)
    std::function<void(ns3::CommandLine&)> addOptions;
    //! the scenario's cross-field rules its safety needs (the config's model_validator holds them all)
    std::function<std::vector<std::string>(const Options&)> check;
};

/**
 * Registers `options`, the hooks' and the bridge's options, parses the command line and validates.
 * Returns 0 when every option is valid, else prints "<scenario>: <problem>" per problem on stderr and
 * returns 2 (the exit code docs/bridge.md gives invalid options).
 */
template <typename Options>
int
ParseOptions(const char* scenario,
              int argc,
              char* argv[],
              Options& options,
              Bridge& bridge,
              const ScenarioHooks<Options>& hooks = {})
{
    ns3::CommandLine cmd(scenario);
    options.Register(cmd);
    if (hooks.addOptions)
    {
        hooks.addOptions(cmd);
    }
    bridge.AddCommandLine(cmd);
    cmd.Parse(argc, argv);
    std::vector<std::string> problems = options.Problems();
    // Rules across options assume each option in range. Radio options (a generated Derive() and
    // RadioProblems()) fill RanRadioSettings and check the carrier and the scenario name.
    if constexpr (requires { options.Derive(); })
    {
        if (problems.empty())
        {
            options.Derive();
            problems = options.RadioProblems();
        }
    }
    if (hooks.check && problems.empty())
    {
        problems = hooks.check(options);
    }
    for (const auto& what : problems)
    {
        std::cerr << scenario << ": " << what << "\n";
    }
    return problems.empty() ? 0 : 2;
}

/** ParseOptions, then constructs Env from the options (or by default, if it takes none) and serves it; an
 * exception from the constructor is an invalid option (exit 2). */
template <typename Env, typename Options>
int
ServeScenario(const char* scenario,
              int argc,
              char* argv[],
              Options options,
              const ScenarioHooks<Options>& hooks = {})
{
    Bridge bridge;
    if (int rc = ParseOptions(scenario, argc, argv, options, bridge, hooks))
    {
        return rc;
    }
    // Constructing the env may still refuse the options (an unknown catalogue device, an unreadable file):
    // that is an invalid option too, reported the same way.
    std::unique_ptr<Env> env;
    try
    {
        if constexpr (std::is_constructible_v<Env, const Options&>)
        {
            env = std::make_unique<Env>(options);
        }
        else
        {
            env = std::make_unique<Env>();
        }
    }
    catch (const std::exception& e)
    {
        std::cerr << scenario << ": " << e.what() << "\n";
        return 2;
    }
    return bridge.Serve(*env);
}

/** As above, with the scenario's name from the generated Options::kScenario. */
template <typename Env, typename Options>
int
ServeScenario(int argc, char* argv[], Options options, const ScenarioHooks<Options>& hooks = {})
{
    return ServeScenario<Env>(Options::kScenario, argc, argv, options, hooks);
}

} // namespace ns6g
