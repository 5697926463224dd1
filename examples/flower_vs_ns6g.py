"""FedAvg through Flower against ns6g's own FedAvg: the same job, seed and network; prints, per round, the
test accuracy and the simulated end time of each (docs/flower.md shows the output).

    python examples/flower_vs_ns6g.py --network cosim --rounds 3 --clients 4
"""

from __future__ import annotations

import argparse

from flwr.server.strategy import FedAvg

from ns6g.flower import FlowerSimulation
from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig
from ns6g.learners.engine import FlJob


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="cosim", choices=["cosim", "none"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    job = {"clients": args.clients, "rounds": args.rounds, "seed": args.seed}

    sim = FlowerSimulation(job, network=args.network)
    strategy = FedAvg(fraction_evaluate=0.0,  # ns6g's FedAvg evaluates on the server only
                      min_fit_clients=args.clients, min_available_clients=args.clients,
                      initial_parameters=sim.initial_parameters())  # the model ns6g's FedAvg starts from
    sim.run(strategy)
    flower = sim.result()

    if args.network == "cosim":  # the same network, built as FlowerSimulation and `ns6g fl` build it
        with CoSimNetwork(FlNetworkConfig(clients=args.clients), seed=args.seed + 1) as net:
            own = FlJob({**job, "protocol": "fedavg"}, network=net).run()
    else:
        own = FlJob({**job, "protocol": "fedavg"}).run()

    print(f"{'round':>5} {'accuracy flower':>16} {'accuracy ns6g':>14} {'end_s flower':>13} {'end_s ns6g':>11}")
    for f, o in zip(flower.rounds, own.rounds):
        print(f"{f.round:>5} {f.test_accuracy:>16.4f} {o.test_accuracy:>14.4f} {f.end_s:>13.6f} {o.end_s:>11.6f}")
    print(f"bytes up/down per run: flower {flower.uplink_bytes}/{flower.downlink_bytes}, "
          f"ns6g {own.uplink_bytes}/{own.downlink_bytes}")
    compute = [(f.devices[n].compute_s, o.devices[n].compute_s) for f, o in zip(flower.rounds, own.rounds)
               for n in o.devices]
    print(f"client compute seconds equal in every round: {all(a == b for a, b in compute)}")


if __name__ == "__main__":
    main()
